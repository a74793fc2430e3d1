//! Runs Dom0's hostile self tests against the hypervisor in QEMU: `selftest
//! attack`, whose cases must all pass with the machine still responding
//! afterwards, and `selftest iret`, whose correct outcome is a crashed Dom0.
//! Both use the direct boot path, because the boot path does not change
//! how the hypervisor handles a guest.

use std::time::Duration;

use boot::{BootPath, Outcome};
use tests::{BOOT_TIMEOUT, EXIT_TIMEOUT, Error, Machine, PROMPT, lines};

/// Maximum time for `selftest attack` to print its summary and the prompt.
/// It runs a few hundred cases, each a handful of hypercalls or faults; the
/// limit only catches a hang.
const ATTACK_TIMEOUT: Duration = Duration::from_secs(300);

/// Case classes the suite must contain, so a table that went missing
/// cannot pass unnoticed.
const REQUIRED_CLASSES: [&str; 7] = ["A01", "A04", "A13", "A14", "A17", "A41", "A42"];

/// The hypervisor's log line when it crashes Dom0 for the hostile `iret`.
const IRET_CRASH_LOG: &str = "d0: domain crashed: iret to invalid rip 0x8000000000000000";

#[test]
fn direct_selftest_attack_all_pass() -> Result<(), Error> {
    let mut machine = Machine::boot("direct-attack", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;

    machine.send("selftest attack")?;
    let output = machine.expect(PROMPT, ATTACK_TIMEOUT)?;
    if let Err(problem) = check_attack_output(&output) {
        return Err(machine.error(&format!("selftest attack: {problem}")));
    }

    let info = machine.run("xl info")?;
    assert!(
        lines(&info)
            .iter()
            .any(|line| line.starts_with("xen_version") && line.contains(':')),
        "xl info after selftest attack printed no xen_version line:\n{info}"
    );

    machine.send("poweroff")?;
    let status = machine.wait_exit(EXIT_TIMEOUT)?;
    let outcome = Outcome::from_status(status);
    if !outcome.is_clean_poweroff() {
        return Err(machine.error(&format!("after selftest attack and poweroff, QEMU exited with {outcome}")));
    }
    Ok(())
}

#[test]
fn direct_selftest_iret_crashes_dom0() -> Result<(), Error> {
    let mut machine = Machine::boot("direct-iret", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;

    machine.expect_dom0_crash("selftest iret")?;

    let transcript = machine.transcript();
    let crash_logged = lines(&transcript)
        .iter()
        .any(|line| line.starts_with("(hospes) ") && line.contains(IRET_CRASH_LOG));
    if !crash_logged {
        return Err(machine.error(&format!("no hypervisor log line contains {IRET_CRASH_LOG:?}")));
    }
    if transcript.contains("selftest iret: FAIL") {
        return Err(machine.error("Dom0 survived the hostile iret and reported FAIL"));
    }
    Ok(())
}

/// Checks the output of `selftest attack`: a `running N cases` line, N case
/// lines that all end in `: PASS`, every class of [`REQUIRED_CLASSES`], and
/// the summary `N passed, 0 failed`. Returns the number of cases.
fn check_attack_output(output: &str) -> Result<usize, String> {
    let lines = lines(output);
    let announced = lines
        .iter()
        .find_map(|line| line.strip_prefix("selftest attack: running "))
        .and_then(|rest| rest.strip_suffix(" cases"))
        .ok_or_else(|| format!("no \"selftest attack: running N cases\" line:\n{output}"))?;
    let count: usize = announced
        .parse()
        .map_err(|_| format!("case count {announced:?} is not a number:\n{output}"))?;

    let cases: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("attack "))
        .collect();
    let failures: Vec<&str> = cases
        .iter()
        .copied()
        .filter(|line| !line.ends_with(": PASS"))
        .collect();
    if !failures.is_empty() {
        return Err(format!("{} cases did not pass:\n{}", failures.len(), failures.join("\n")));
    }
    if cases.len() != count {
        return Err(format!("announced {count} cases but printed {} case lines:\n{output}", cases.len()));
    }
    for class in REQUIRED_CLASSES {
        if !cases.iter().any(|line| line.starts_with(&format!("attack {class} "))) {
            return Err(format!("no case of class {class} ran:\n{output}"));
        }
    }

    let summary = format!("selftest attack: {count} passed, 0 failed");
    if !lines.contains(&summary.as_str()) {
        return Err(format!("no summary line {summary:?}:\n{output}"));
    }
    Ok(count)
}

#[cfg(test)]
mod checks {
    use super::*;

    fn output_with(cases: &[&str], summary: &str) -> String {
        let mut text = format!("selftest attack\r\nselftest attack: running {} cases\r\n", cases.len());
        for case in cases {
            text.push_str(case);
            text.push_str("\r\n");
        }
        text.push_str(summary);
        text.push_str("\r\ndom0> ");
        text
    }

    fn one_case_per_class() -> Vec<String> {
        REQUIRED_CLASSES
            .iter()
            .map(|class| format!("attack {class} some case: PASS"))
            .collect()
    }

    #[test]
    fn attack_output_all_passed() {
        let cases = one_case_per_class();
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let output = output_with(&cases, "selftest attack: 7 passed, 0 failed");
        assert_eq!(check_attack_output(&output), Ok(7));
    }

    #[test]
    fn attack_output_with_failure() {
        let mut cases = one_case_per_class();
        cases[2] = String::from("attack A13 int3 in ring 1: FAIL: raised #GP[0x1a], expected #BP[0x0]");
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let output = output_with(&cases, "selftest attack: 6 passed, 1 failed");
        let problem = check_attack_output(&output).expect_err("a FAIL line must fail the check");
        assert!(problem.contains("1 cases did not pass"), "{problem}");
        assert!(problem.contains("attack A13 int3 in ring 1: FAIL"), "{problem}");
    }

    #[test]
    fn attack_output_missing_class() {
        let cases = ["attack A42 hypercall 11 through the page: PASS"];
        let output = output_with(&cases, "selftest attack: 1 passed, 0 failed");
        let problem = check_attack_output(&output).expect_err("a missing class must fail the check");
        assert!(problem.contains("no case of class A01"), "{problem}");
    }

    #[test]
    fn attack_output_count_mismatch() {
        let cases = one_case_per_class();
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let output = output_with(&cases, "selftest attack: 7 passed, 0 failed");
        let truncated = output.replacen("attack A42 some case: PASS\r\n", "", 1);
        let problem = check_attack_output(&truncated).expect_err("a missing case line must fail the check");
        assert!(problem.contains("announced 7 cases but printed 6"), "{problem}");
    }

    #[test]
    fn attack_output_missing_summary() {
        let cases = one_case_per_class();
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let output = output_with(&cases, "selftest attack: 6 passed, 0 failed");
        let problem = check_attack_output(&output).expect_err("a wrong summary must fail the check");
        assert!(problem.contains("no summary line"), "{problem}");
    }
}
