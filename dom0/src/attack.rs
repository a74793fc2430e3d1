//! `selftest attack` and `selftest iret`: hostile cases run from Dom0 against
//! the hypervisor. The cases themselves live in the guest runtime; this
//! module prints one line per case and the summary.

use alloc::format;
use alloc::string::String;

use crate::commands::{Platform, write_line};

/// The outcome of one hostile case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttackReport {
    /// Case class, such as `A41`.
    pub id: String,
    pub name: String,
    /// `None` when the case passed, else what happened and what was expected.
    pub failure: Option<String>,
}

/// `selftest attack`: runs every case, printing
/// `attack ID NAME: PASS` or `attack ID NAME: FAIL: WHY` as each one ends,
/// then `selftest attack: N passed, M failed`.
pub fn selftest_attack(platform: &mut impl Platform) {
    let count = platform.attack_case_count();
    write_line(platform, &format!("selftest attack: running {count} cases"));
    let mut failed = 0;
    for index in 0..count {
        let report = platform.run_attack_case(index);
        let line = match &report.failure {
            None => format!("attack {} {}: PASS", report.id, report.name),
            Some(reason) => {
                failed += 1;
                format!("attack {} {}: FAIL: {reason}", report.id, report.name)
            }
        };
        write_line(platform, &line);
    }
    write_line(
        platform,
        &format!("selftest attack: {} passed, {failed} failed", count - failed),
    );
}

/// `selftest iret`: returns through the `iret` hypercall to a non-canonical
/// RIP. The hypervisor should crash Dom0, which stops the machine, so the
/// second line appears only when it did not.
pub fn selftest_iret(platform: &mut impl Platform) {
    write_line(
        platform,
        "selftest iret: returning to a non-canonical rip; the hypervisor should crash Dom0 and stop the machine",
    );
    let reason = platform.selftest_iret();
    write_line(platform, &format!("selftest iret: FAIL: {reason}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MockPlatform, run_on};
    use alloc::vec;

    fn report(id: &str, name: &str, failure: Option<&str>) -> AttackReport {
        AttackReport {
            id: String::from(id),
            name: String::from(name),
            failure: failure.map(String::from),
        }
    }


    #[test]
    fn attack_prints_each_case_and_summary() {
        let mut platform = MockPlatform::new();
        platform.attacks = vec![
            report("A42", "hypercall 11 through the page", None),
            report(
                "A41",
                "console_io read with buffer NULL",
                Some("returned 0, expected -EFAULT (-14)"),
            ),
            report("A17", "cli in ring 1", None),
        ];
        assert_eq!(
            run_on(&mut platform, "selftest attack"),
            [
                "selftest attack: running 3 cases",
                "attack A42 hypercall 11 through the page: PASS",
                "attack A41 console_io read with buffer NULL: FAIL: returned 0, expected -EFAULT (-14)",
                "attack A17 cli in ring 1: PASS",
                "selftest attack: 2 passed, 1 failed",
            ]
        );
        assert_eq!(platform.attack_runs, [0, 1, 2]);
    }

    #[test]
    fn attack_with_no_cases() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "selftest attack"),
            [
                "selftest attack: running 0 cases",
                "selftest attack: 0 passed, 0 failed",
            ]
        );
        assert!(platform.attack_runs.is_empty());
    }

    #[test]
    fn attack_rejects_arguments() {
        let mut platform = MockPlatform::new();
        platform.attacks = vec![report("A42", "hypercall 11 through the page", None)];
        assert_eq!(
            run_on(&mut platform, "selftest attack now"),
            ["selftest: unexpected argument 'now'; usage: selftest trap|crash|domain|attack|iret"]
        );
        assert!(platform.attack_runs.is_empty());
    }

    #[test]
    fn iret_reports_survival() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "selftest iret"),
            [
                "selftest iret: returning to a non-canonical rip; the hypervisor should crash Dom0 and stop the machine",
                "selftest iret: FAIL: the mock does not crash",
            ]
        );
        assert_eq!(platform.iret_calls, 1);
    }
}
