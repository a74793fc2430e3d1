//! Domain names for `xl`: resolving a `DOM` argument, which is a name or a
//! numeric id, and formatting hypercall failures with the domain's name.
//!
//! The toolstack keeps the names of the domains it created in a table of
//! `(id, name)` pairs. Dom0 is not in that table: it always exists, with id 0
//! and the name [`DOM0_NAME`].

use alloc::string::String;
use core::fmt;

use hypercalls::{DOMID_FIRST_RESERVED, DomId, Errno};

/// Name of Dom0, as Xen's toolstack calls it.
pub const DOM0_NAME: &str = "Domain-0";

/// Returns true when `text` is a domain id rather than a name: one or more
/// ASCII digits, as Xen's `xl` decides.
pub fn looks_like_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// Returns the name of domain `id`: [`DOM0_NAME`] for id 0, otherwise its name
/// in `names`, or `None` when the table has no name for it. An empty name in
/// the table means "no name".
pub fn name_of<S: AsRef<str>>(names: &[(DomId, S)], id: DomId) -> Option<&str> {
    if id == 0 {
        return Some(DOM0_NAME);
    }
    names
        .iter()
        .find(|(entry_id, _)| *entry_id == id)
        .map(|(_, name)| name.as_ref())
        .filter(|name| !name.is_empty())
}

/// Error from [`resolve`]. It prints as the line `xl` shows after the
/// command's own `xl: ` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No domain has this name or id.
    NotFound(String),
    /// The argument is all digits, so it is an id, but no domain can have it:
    /// it is at or above `DOMID_FIRST_RESERVED`.
    InvalidId(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound(argument) => write!(
                formatter,
                "domain '{argument}' not found; run 'xl list' to see the domains"
            ),
            LookupError::InvalidId(argument) => write!(
                formatter,
                "invalid domain id '{argument}': domain ids run from 0 to {}; \
                 run 'xl list' to see the domains",
                DOMID_FIRST_RESERVED - 1
            ),
        }
    }
}

/// Resolves a `DOM` argument to a domain id. An argument of only digits is an
/// id, as in Xen's `xl`, and any other argument is a name. `domains` lists the
/// DomUs that exist, with an empty name for one whose name is unknown, so that
/// it can be found by id. Dom0 is found as `0` or [`DOM0_NAME`] whether or
/// not the table has it. When two entries have the same name, the first wins.
pub fn resolve<S: AsRef<str>>(
    argument: &str,
    domains: &[(DomId, S)],
) -> Result<DomId, LookupError> {
    if looks_like_id(argument) {
        // Leading zeros are allowed, as Xen's atoi allows them. Any id too
        // large for u16 is also at or above DOMID_FIRST_RESERVED.
        let id = argument
            .parse::<u32>()
            .ok()
            .filter(|&id| id < u32::from(DOMID_FIRST_RESERVED))
            .ok_or_else(|| LookupError::InvalidId(String::from(argument)))?;
        let id = id as DomId;
        if id == 0 || domains.iter().any(|(entry_id, _)| *entry_id == id) {
            return Ok(id);
        }
        return Err(LookupError::NotFound(String::from(argument)));
    }

    if argument == DOM0_NAME {
        return Ok(0);
    }
    domains
        .iter()
        .find(|(_, name)| !argument.is_empty() && name.as_ref() == argument)
        .map(|(id, _)| *id)
        .ok_or_else(|| LookupError::NotFound(String::from(argument)))
}

/// A failed hypercall of an `xl` subcommand, printed as one line:
/// `xl SUBCOMMAND: cannot ACTION DOMAIN[ DETAIL]: ERRNO[, REASON]`, such as
/// `xl create: cannot set memory of guest1 to 4096 MiB: ENOMEM, 900 MiB free`.
/// The error is always printed by name, never as a bare number.
#[derive(Clone, Copy, Debug)]
pub struct HypercallFailure<'a> {
    /// The `xl` subcommand, such as `create`.
    pub subcommand: &'a str,
    /// The failed operation, as the words before the domain name, with the
    /// preposition the phrase needs: `set memory of`, `unpause`.
    pub action: &'a str,
    /// The domain's name, or its id as text when it has no name.
    pub domain: &'a str,
    /// Words after the domain name, such as `to 4096 MiB`, or `""`.
    pub detail: &'a str,
    pub errno: Errno,
    /// Explanation from the hypervisor or the toolstack, such as
    /// `900 MiB free`.
    pub reason: Option<&'a str>,
}

impl fmt::Display for HypercallFailure<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "xl {}: cannot {} {}",
            self.subcommand, self.action, self.domain
        )?;
        if !self.detail.is_empty() {
            write!(formatter, " {}", self.detail)?;
        }
        write!(formatter, ": {}", self.errno.name())?;
        if let Some(reason) = self.reason {
            write!(formatter, ", {reason}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::ToString;

    use super::*;

    const DOMAINS: [(DomId, &str); 3] = [(1, "guest1"), (7, "web"), (12, "")];

    fn not_found(argument: &str) -> Result<DomId, LookupError> {
        Err(LookupError::NotFound(argument.to_string()))
    }

    #[test]
    fn resolve_by_name() {
        assert_eq!(resolve("guest1", &DOMAINS), Ok(1));
        assert_eq!(resolve("web", &DOMAINS), Ok(7));
    }

    #[test]
    fn resolve_by_id() {
        assert_eq!(resolve("7", &DOMAINS), Ok(7));
        assert_eq!(resolve("007", &DOMAINS), Ok(7));
    }

    #[test]
    fn resolve_unnamed_domain_by_id() {
        assert_eq!(resolve("12", &DOMAINS), Ok(12));
        assert_eq!(resolve("", &DOMAINS), not_found(""));
    }

    #[test]
    fn resolve_dom0_without_table_entry() {
        assert_eq!(resolve("0", &DOMAINS), Ok(0));
        assert_eq!(resolve("Domain-0", &DOMAINS), Ok(0));
        assert_eq!(resolve::<&str>("0", &[]), Ok(0));
    }

    #[test]
    fn resolve_works_with_owned_names() {
        let domains = [(3, String::from("owned"))];
        assert_eq!(resolve("owned", &domains), Ok(3));
    }

    #[test]
    fn resolve_names_are_case_sensitive() {
        assert_eq!(resolve("Guest1", &DOMAINS), not_found("Guest1"));
        assert_eq!(resolve("domain-0", &DOMAINS), not_found("domain-0"));
    }

    #[test]
    fn resolve_unknown_name() {
        let error = resolve("x", &DOMAINS).unwrap_err();
        assert_eq!(
            error.to_string(),
            "domain 'x' not found; run 'xl list' to see the domains"
        );
    }

    #[test]
    fn resolve_unknown_id() {
        let error = resolve("5", &DOMAINS).unwrap_err();
        assert_eq!(
            error.to_string(),
            "domain '5' not found; run 'xl list' to see the domains"
        );
    }

    #[test]
    fn resolve_signed_and_hex_are_names() {
        assert_eq!(resolve("-1", &DOMAINS), not_found("-1"));
        assert_eq!(resolve("+7", &DOMAINS), not_found("+7"));
        assert_eq!(resolve("0x7", &DOMAINS), not_found("0x7"));
    }

    #[test]
    fn resolve_reserved_id() {
        let error = resolve("32752", &DOMAINS).unwrap_err();
        assert_eq!(error, LookupError::InvalidId("32752".to_string()));
        assert_eq!(
            error.to_string(),
            "invalid domain id '32752': domain ids run from 0 to 32751; \
             run 'xl list' to see the domains"
        );
    }

    #[test]
    fn resolve_highest_valid_id() {
        assert_eq!(resolve("32751", &[(32751, "last")]), Ok(32751));
    }

    #[test]
    fn resolve_id_beyond_u32() {
        let huge = "99999999999999999999999";
        assert_eq!(
            resolve(huge, &DOMAINS),
            Err(LookupError::InvalidId(huge.to_string()))
        );
    }

    #[test]
    fn resolve_first_of_duplicate_names() {
        assert_eq!(resolve("twin", &[(4, "twin"), (5, "twin")]), Ok(4));
    }

    #[test]
    fn looks_like_id_cases() {
        assert!(looks_like_id("0"));
        assert!(looks_like_id("0123"));
        assert!(!looks_like_id(""));
        assert!(!looks_like_id("1a"));
        assert!(!looks_like_id("-1"));
        assert!(!looks_like_id("\u{0663}"));
    }

    #[test]
    fn name_of_cases() {
        assert_eq!(name_of(&DOMAINS, 0), Some("Domain-0"));
        assert_eq!(name_of(&DOMAINS, 7), Some("web"));
        assert_eq!(name_of(&DOMAINS, 12), None);
        assert_eq!(name_of(&DOMAINS, 99), None);
    }

    #[test]
    fn failure_with_detail_and_reason() {
        let failure = HypercallFailure {
            subcommand: "create",
            action: "set memory of",
            domain: "guest1",
            detail: "to 4096 MiB",
            errno: Errno::ENOMEM,
            reason: Some("900 MiB free"),
        };
        assert_eq!(
            failure.to_string(),
            "xl create: cannot set memory of guest1 to 4096 MiB: ENOMEM, 900 MiB free"
        );
    }

    #[test]
    fn failure_without_detail_or_reason() {
        let failure = HypercallFailure {
            subcommand: "unpause",
            action: "unpause",
            domain: "web",
            detail: "",
            errno: Errno::ESRCH,
            reason: None,
        };
        assert_eq!(failure.to_string(), "xl unpause: cannot unpause web: ESRCH");
    }

    #[test]
    fn failure_names_every_errno() {
        for value in 1..=200 {
            let Some(errno) = Errno::from_return(-value) else {
                continue;
            };
            let failure = HypercallFailure {
                subcommand: "destroy",
                action: "destroy",
                domain: "guest1",
                detail: "",
                errno,
                reason: None,
            };
            let line = failure.to_string();
            assert!(
                line.ends_with(&format!(": {}", errno.name())),
                "no errno name at the end of {line:?}"
            );
            let number = value.to_string();
            assert!(
                !line
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|word| word == number),
                "errno number {value} in {line:?}"
            );
        }
    }
}
