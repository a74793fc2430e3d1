//! The domain's name and id, from the command line the builder passes.
//!
//! The command line is a list of words separated by spaces. The words
//! `name=NAME` and `domid=ID` set the identity. The builder writes them
//! before the words of the user's `extra` setting, so the first valid word
//! for a key wins and `extra` cannot change the identity that the toolstack
//! assigned. Other words, such as the kernel's file name when the command
//! line comes from a boot loader, are ignored.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hypercalls::{DOMID_FIRST_RESERVED, DomId};

/// Name used when the command line names no valid one.
pub const DEFAULT_NAME: &str = "domu";

/// Maximum length of a name in bytes. A longer name would push the prompt
/// past the width that the line editor's cursor movement assumes.
pub const MAX_NAME_LENGTH: usize = 64;

/// The domain's name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The domain's name, printable ASCII without spaces.
    pub name: String,
    /// The domain's id, `None` when the command line gives no valid one.
    pub domid: Option<DomId>,
}

/// An [`Identity`] with the problems found while parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedIdentity {
    pub identity: Identity,
    /// One message for each `name=` or `domid=` word that was rejected.
    pub warnings: Vec<String>,
}

impl Identity {
    /// Parses `name=` and `domid=` from a command line. Missing or invalid
    /// values leave the name [`DEFAULT_NAME`] and the id unknown.
    pub fn parse(command_line: &[u8]) -> ParsedIdentity {
        let mut name = None;
        let mut domid = None;
        let mut warnings = Vec::new();

        for word in command_line.split(|byte| byte.is_ascii_whitespace()) {
            if let Some(value) = word.strip_prefix(b"name=") {
                match parse_name(value) {
                    Some(valid) => {
                        name.get_or_insert(valid);
                    }
                    None => warnings.push(format!(
                        "ignoring name={}: a name is 1 to {MAX_NAME_LENGTH} printable ASCII characters",
                        String::from_utf8_lossy(value)
                    )),
                }
            } else if let Some(value) = word.strip_prefix(b"domid=") {
                match parse_domid(value) {
                    Some(valid) => {
                        domid.get_or_insert(valid);
                    }
                    None => warnings.push(format!(
                        "ignoring domid={}: a domain id is a decimal number below {DOMID_FIRST_RESERVED}",
                        String::from_utf8_lossy(value)
                    )),
                }
            }
        }

        let identity = Identity {
            name: name.unwrap_or_else(|| DEFAULT_NAME.to_string()),
            domid,
        };
        ParsedIdentity { identity, warnings }
    }

    /// Returns the domain id as text, `?` when it is unknown.
    pub fn domid_text(&self) -> String {
        match self.domid {
            Some(domid) => domid.to_string(),
            None => "?".to_string(),
        }
    }
}

fn parse_name(value: &[u8]) -> Option<String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_LENGTH
        && value.iter().all(u8::is_ascii_graphic);
    // The bytes are printable ASCII, so the lossy conversion copies them unchanged.
    valid.then(|| String::from_utf8_lossy(value).into_owned())
}

fn parse_domid(value: &[u8]) -> Option<DomId> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let text = core::str::from_utf8(value).ok()?;
    text.parse::<DomId>()
        .ok()
        .filter(|&domid| domid < DOMID_FIRST_RESERVED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(command_line: &str) -> ParsedIdentity {
        Identity::parse(command_line.as_bytes())
    }

    #[test]
    fn name_and_domid_are_read() {
        let parsed = parse("name=guest1 domid=7");
        assert_eq!(parsed.identity.name, "guest1");
        assert_eq!(parsed.identity.domid, Some(7));
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn other_words_are_ignored() {
        let parsed = parse("target/release/domu  quiet domid=12\tname=web console=hvc0");
        assert_eq!(parsed.identity.name, "web");
        assert_eq!(parsed.identity.domid, Some(12));
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn empty_command_line_gives_defaults() {
        let parsed = parse("");
        assert_eq!(parsed.identity.name, DEFAULT_NAME);
        assert_eq!(parsed.identity.domid, None);
        assert_eq!(parsed.identity.domid_text(), "?");
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn missing_domid_is_unknown() {
        let parsed = parse("name=alpha");
        assert_eq!(parsed.identity.name, "alpha");
        assert_eq!(parsed.identity.domid_text(), "?");
    }

    #[test]
    fn first_word_for_a_key_wins() {
        let parsed = parse("name=first domid=1 name=second domid=2");
        assert_eq!(parsed.identity.name, "first");
        assert_eq!(parsed.identity.domid, Some(1));
    }

    #[test]
    fn invalid_first_word_leaves_the_key_open() {
        let parsed = parse("name= domid=x name=second domid=2");
        assert_eq!(parsed.identity.name, "second");
        assert_eq!(parsed.identity.domid, Some(2));
        assert_eq!(parsed.warnings.len(), 2);
    }

    #[test]
    fn key_must_start_the_word() {
        let parsed = parse("hostname=x mydomid=3");
        assert_eq!(parsed.identity.name, DEFAULT_NAME);
        assert_eq!(parsed.identity.domid, None);
    }

    #[test]
    fn invalid_names_are_rejected() {
        let long_name = format!("name={}", "n".repeat(MAX_NAME_LENGTH + 1));
        for command_line in ["name=", long_name.as_str()] {
            let parsed = parse(command_line);
            assert_eq!(parsed.identity.name, DEFAULT_NAME, "for {command_line:?}");
            assert_eq!(parsed.warnings.len(), 1, "for {command_line:?}");
        }
        let parsed = Identity::parse(b"name=bad\x1bname");
        assert_eq!(parsed.identity.name, DEFAULT_NAME);
        assert_eq!(parsed.warnings.len(), 1);
    }

    #[test]
    fn longest_name_is_accepted() {
        let name = "n".repeat(MAX_NAME_LENGTH);
        let parsed = parse(&format!("name={name}"));
        assert_eq!(parsed.identity.name, name);
    }

    #[test]
    fn invalid_domids_are_rejected() {
        for value in ["", "x", "-1", "+7", "65536", "32752", "7a"] {
            let parsed = parse(&format!("domid={value}"));
            assert_eq!(parsed.identity.domid, None, "for domid={value}");
            assert_eq!(parsed.warnings.len(), 1, "for domid={value}");
        }
    }

    #[test]
    fn largest_domid_is_accepted() {
        let parsed = parse("domid=32751");
        assert_eq!(parsed.identity.domid, Some(32751));
    }

    #[test]
    fn warning_names_the_value() {
        let parsed = parse("domid=abc");
        assert_eq!(
            parsed.warnings,
            ["ignoring domid=abc: a domain id is a decimal number below 32752"]
        );
    }
}
