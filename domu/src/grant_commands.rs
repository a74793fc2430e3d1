//! The DomU shell's grant commands, for testing grant tables between two
//! DomUs by hand or from the harness:
//!
//! - `grant-offer DOM` grants a fresh page filled with [`pattern_byte`] to
//!   domain DOM, writable, and prints `gref=N checksum=0x…`.
//! - `grant-map DOM GREF [ro|rw]` maps grant GREF of domain DOM and prints
//!   `handle=H checksum=0x…` of the page read through the mapping.
//! - `grant-read HANDLE` prints the checksum of a mapped page again.
//! - `grant-unmap HANDLE` removes a mapping.
//! - `grant-flags GREF` prints the flags of one of this domain's entries,
//!   where the hypervisor sets `GTF_reading`/`GTF_writing` while it is mapped.
//! - `grant-revoke GREF` ends the grant as a Linux frontend does: a
//!   compare-exchange of the flags from `GTF_permit_access` to 0, which fails
//!   while a peer maps the grant because the in-use flags are then set.

use crate::shell::Platform;
use crate::terminal::Text;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use hypercalls::grant::{GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING, GrantHandle, GrantRef};
use hypercalls::{DOMID_FIRST_RESERVED, DomId};

/// Outcome of `grant-revoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    /// The flags were `GTF_permit_access` and are now 0.
    Revoked,
    /// The compare-exchange failed; the entry keeps these flags.
    InUse(u16),
}

/// Returns byte `index` of the page offered as `gref`. The pattern depends
/// on the ref so that a mapping of the wrong page shows a different checksum.
pub fn pattern_byte(gref: GrantRef, index: usize) -> u8 {
    (index as u32).wrapping_mul(7).wrapping_add(gref.wrapping_mul(13)).wrapping_add(3) as u8
}

/// Computes the 32-bit FNV-1a hash of `bytes`, used as a page checksum.
pub fn checksum(bytes: impl IntoIterator<Item = u8>) -> u32 {
    bytes.into_iter().fold(0x811C_9DC5, |hash, byte| (hash ^ byte as u32).wrapping_mul(0x0100_0193))
}

/// Formats grant flags as hex followed by the names of the set bits.
pub fn describe_flags(flags: u16) -> String {
    let mut text = alloc::format!("flags={flags:#x}");
    for (bit, name) in [
        (GTF_PERMIT_ACCESS, "permit_access"),
        (GTF_READONLY, "readonly"),
        (GTF_READING, "reading"),
        (GTF_WRITING, "writing"),
    ] {
        if flags & bit != 0 {
            text.push(' ');
            text.push_str(name);
        }
    }
    text
}

/// Runs the grant command `command` with the rest of the line. Returns false
/// when `command` is no grant command.
pub fn run(command: &str, argument: &str, platform: &mut impl Platform) -> bool {
    let usage = match command {
        "grant-offer" => "grant-offer DOM",
        "grant-map" => "grant-map DOM GREF [ro|rw]",
        "grant-read" => "grant-read HANDLE",
        "grant-unmap" => "grant-unmap HANDLE",
        "grant-flags" => "grant-flags GREF",
        "grant-revoke" => "grant-revoke GREF",
        _ => return false,
    };
    let words: Vec<&str> = argument.split(' ').filter(|word| !word.is_empty()).collect();
    let result = execute(command, &words, platform);
    if let Err(message) = result {
        let _ = writeln!(Text(platform), "{command}: {message}; usage: {usage}");
    }
    true
}

fn execute(command: &str, words: &[&str], platform: &mut impl Platform) -> Result<(), String> {
    match (command, words) {
        ("grant-offer", [dom]) => {
            let peer = parse_domid(dom)?;
            let (gref, sum) = platform.grant_offer(peer)?;
            let _ = writeln!(Text(platform), "gref={gref} checksum={sum:#010x}");
        }
        ("grant-map", [dom, gref, access @ ..]) if access.len() <= 1 => {
            let granter = parse_domid(dom)?;
            let gref = parse_number("GREF", gref)?;
            let writable = match access.first() {
                None | Some(&"rw") => true,
                Some(&"ro") => false,
                Some(other) => return Err(alloc::format!("invalid access '{other}', expected ro or rw")),
            };
            let (handle, sum) = platform.grant_map(granter, gref, writable)?;
            let _ = writeln!(Text(platform), "handle={handle} checksum={sum:#010x}");
        }
        ("grant-read", [handle]) => {
            let sum = platform.grant_read(parse_number("HANDLE", handle)?)?;
            let _ = writeln!(Text(platform), "checksum={sum:#010x}");
        }
        ("grant-unmap", [handle]) => {
            let handle = parse_number("HANDLE", handle)?;
            platform.grant_unmap(handle)?;
            let _ = writeln!(Text(platform), "unmapped handle={handle}");
        }
        ("grant-flags", [gref]) => {
            let flags = platform.grant_flags(parse_number("GREF", gref)?)?;
            let _ = writeln!(Text(platform), "{}", describe_flags(flags));
        }
        ("grant-revoke", [gref]) => {
            let gref = parse_number("GREF", gref)?;
            match platform.grant_revoke(gref)? {
                Revoke::Revoked => {
                    let _ = writeln!(Text(platform), "revoked gref={gref}");
                }
                Revoke::InUse(flags) => {
                    let _ = writeln!(Text(platform), "not revoked gref={gref}: in use, {}", describe_flags(flags));
                }
            }
        }
        _ => return Err(String::from("wrong number of arguments")),
    }
    Ok(())
}

/// Parses a domain id below `DOMID_FIRST_RESERVED`.
fn parse_domid(word: &str) -> Result<DomId, String> {
    match word.parse::<DomId>() {
        Ok(id) if id < DOMID_FIRST_RESERVED => Ok(id),
        _ => Err(alloc::format!("invalid DOM '{word}', expected a domain id below {DOMID_FIRST_RESERVED}")),
    }
}

/// Parses a grant ref or handle: a decimal `u32`.
fn parse_number(name: &str, word: &str) -> Result<u32, String> {
    word.parse::<GrantHandle>().map_err(|_| alloc::format!("invalid {name} '{word}', expected a decimal number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, Shell};
    use dom0::line::Output;
    use hypercalls::Errno;
    use hypercalls::sched::ShutdownReason;

    /// Records grant calls and returns fixed results: ref 8 is in use with
    /// `GTF_reading | GTF_writing`, every other ref can be revoked.
    #[derive(Default)]
    struct FakeGrants {
        output: Vec<u8>,
        calls: Vec<String>,
    }

    impl Output for FakeGrants {
        fn write(&mut self, bytes: &[u8]) {
            self.output.extend_from_slice(bytes);
        }
    }

    impl Platform for FakeGrants {
        fn system_time_ns(&mut self) -> Option<u64> {
            None
        }

        fn ring(&self) -> u8 {
            1
        }

        fn shutdown(&mut self, _: ShutdownReason) -> Errno {
            Errno::EPERM
        }

        fn crash(&mut self) -> &'static str {
            "not crashed"
        }

        fn xenstore_request(&mut self, _: u32, _: &[u8]) -> Result<Vec<u8>, hypercalls::xenstore::StoreError> {
            Err(hypercalls::xenstore::StoreError::Acces)
        }

        fn grant_offer(&mut self, peer: DomId) -> Result<(u32, u32), String> {
            self.calls.push(alloc::format!("offer {peer}"));
            Ok((8, 0xABCD))
        }

        fn grant_map(&mut self, granter: DomId, gref: u32, writable: bool) -> Result<(u32, u32), String> {
            self.calls.push(alloc::format!("map {granter} {gref} {writable}"));
            if gref == 99 {
                return Err(String::from("map of gref 99 failed: status -3 (bad_gntref)"));
            }
            Ok((1, 0x1234_5678))
        }

        fn grant_read(&mut self, handle: u32) -> Result<u32, String> {
            self.calls.push(alloc::format!("read {handle}"));
            Ok(0x1234_5678)
        }

        fn grant_unmap(&mut self, handle: u32) -> Result<(), String> {
            self.calls.push(alloc::format!("unmap {handle}"));
            Ok(())
        }

        fn grant_flags(&mut self, gref: u32) -> Result<u16, String> {
            self.calls.push(alloc::format!("flags {gref}"));
            Ok(GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING)
        }

        fn grant_revoke(&mut self, gref: u32) -> Result<Revoke, String> {
            self.calls.push(alloc::format!("revoke {gref}"));
            Ok(if gref == 8 { Revoke::InUse(GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING) } else { Revoke::Revoked })
        }
    }

    fn run_line(platform: &mut FakeGrants, line: &str) -> String {
        let mut shell = Shell::new(Identity { name: "guest1".into(), domid: Some(1) }, 256);
        shell.execute(line, platform);
        String::from_utf8(core::mem::take(&mut platform.output)).unwrap()
    }

    #[test]
    fn commands_print_values() {
        let mut platform = FakeGrants::default();
        assert_eq!(run_line(&mut platform, "grant-offer 2"), "gref=8 checksum=0x0000abcd\r\n");
        assert_eq!(run_line(&mut platform, "grant-map 1 8"), "handle=1 checksum=0x12345678\r\n");
        assert_eq!(run_line(&mut platform, "grant-map 1 8 ro"), "handle=1 checksum=0x12345678\r\n");
        assert_eq!(run_line(&mut platform, "grant-read 1"), "checksum=0x12345678\r\n");
        assert_eq!(run_line(&mut platform, "grant-unmap 1"), "unmapped handle=1\r\n");
        assert_eq!(run_line(&mut platform, "grant-flags 8"), "flags=0x19 permit_access reading writing\r\n");
        assert_eq!(
            platform.calls,
            ["offer 2", "map 1 8 true", "map 1 8 false", "read 1", "unmap 1", "flags 8"]
        );
    }

    #[test]
    fn revoke_reports_both_outcomes() {
        let mut platform = FakeGrants::default();
        assert_eq!(
            run_line(&mut platform, "grant-revoke 8"),
            "not revoked gref=8: in use, flags=0x19 permit_access reading writing\r\n"
        );
        assert_eq!(run_line(&mut platform, "grant-revoke 9"), "revoked gref=9\r\n");
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let mut platform = FakeGrants::default();
        assert_eq!(
            run_line(&mut platform, "grant-offer"),
            "grant-offer: wrong number of arguments; usage: grant-offer DOM\r\n"
        );
        assert_eq!(
            run_line(&mut platform, "grant-offer 32752"),
            "grant-offer: invalid DOM '32752', expected a domain id below 32752; usage: grant-offer DOM\r\n"
        );
        assert_eq!(
            run_line(&mut platform, "grant-map 1 8 rx"),
            "grant-map: invalid access 'rx', expected ro or rw; usage: grant-map DOM GREF [ro|rw]\r\n"
        );
        assert_eq!(
            run_line(&mut platform, "grant-map 1 8 ro extra"),
            "grant-map: wrong number of arguments; usage: grant-map DOM GREF [ro|rw]\r\n"
        );
        assert_eq!(
            run_line(&mut platform, "grant-unmap -1"),
            "grant-unmap: invalid HANDLE '-1', expected a decimal number; usage: grant-unmap HANDLE\r\n"
        );
        assert!(platform.calls.is_empty(), "{:?}", platform.calls);
    }

    #[test]
    fn platform_errors_are_printed() {
        let mut platform = FakeGrants::default();
        assert_eq!(
            run_line(&mut platform, "grant-map 1 99"),
            "grant-map: map of gref 99 failed: status -3 (bad_gntref); usage: grant-map DOM GREF [ro|rw]\r\n"
        );
    }

    #[test]
    fn pattern_and_checksum() {
        assert_eq!(checksum([]), 0x811C_9DC5);
        assert_eq!(checksum(*b"a"), 0xE40C_292C, "FNV-1a of \"a\"");
        let page = |gref| checksum((0..4096).map(|index| pattern_byte(gref, index)));
        assert_ne!(page(8), page(9), "pages of two refs differ");
        assert_ne!(pattern_byte(8, 0), pattern_byte(8, 1));
    }
}
