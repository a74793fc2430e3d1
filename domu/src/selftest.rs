//! The DomU test mode: with `selftest=NAME` on its command line the kernel
//! runs the hostile-case suite NAME at boot, before its shell, and reports
//! each case and a final result in the format of Xen's test framework (XTF).
//!
//! The console shows one line per case, `case ID NAME: PASS` or
//! `case ID NAME: FAIL: WHAT HAPPENED`, then `Test result: SUCCESS` when
//! every case passed, `Test result: FAILURE` when one failed, or
//! `Test result: ERROR` when the suite name is unknown.

use alloc::format;
use alloc::string::String;

/// Returns the suite that the first `selftest=` word of `command_line`
/// names, or `None` when there is no such word. An empty or non-UTF-8 name
/// is returned as it is, so the caller reports it as unknown.
pub fn requested_suite(command_line: &[u8]) -> Option<String> {
    command_line
        .split(|byte| byte.is_ascii_whitespace())
        .find_map(|word| word.strip_prefix(b"selftest="))
        .map(|name| String::from_utf8_lossy(name).into_owned())
}

/// Formats the console line of one finished case.
pub fn case_line(id: &str, name: &str, result: &Result<(), String>) -> String {
    match result {
        Ok(()) => format!("case {id} {name}: PASS"),
        Err(reason) => format!("case {id} {name}: FAIL: {reason}"),
    }
}

/// Returns the final XTF line of a suite run with `failed` failed cases.
pub fn result_line(failed: usize) -> &'static str {
    if failed == 0 { "Test result: SUCCESS" } else { "Test result: FAILURE" }
}

/// The final line for a suite name the kernel does not know.
pub const UNKNOWN_SUITE_RESULT: &str = "Test result: ERROR";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_found_among_other_words() {
        let line = b"name=mmu domid=3 selftest=mmu quiet";
        assert_eq!(requested_suite(line).as_deref(), Some("mmu"));
    }

    #[test]
    fn first_selftest_word_wins() {
        assert_eq!(requested_suite(b"selftest=timer selftest=mmu").as_deref(), Some("timer"));
    }

    #[test]
    fn no_selftest_word() {
        assert_eq!(requested_suite(b"name=guest1 domid=1"), None);
        assert_eq!(requested_suite(b""), None);
        assert_eq!(requested_suite(b"xselftest=mmu"), None);
    }

    #[test]
    fn empty_name_is_returned() {
        assert_eq!(requested_suite(b"selftest= name=a").as_deref(), Some(""));
    }

    #[test]
    fn case_lines() {
        assert_eq!(case_line("A01", "pin", &Ok(())), "case A01 pin: PASS");
        assert_eq!(
            case_line("A07", "done", &Err(String::from("done reads 2, expected 1"))),
            "case A07 done: FAIL: done reads 2, expected 1"
        );
    }

    #[test]
    fn result_depends_on_failures() {
        assert_eq!(result_line(0), "Test result: SUCCESS");
        assert_eq!(result_line(1), "Test result: FAILURE");
    }
}
