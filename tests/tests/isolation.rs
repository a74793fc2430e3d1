//! Isolation from an unprivileged DomU: Dom0 starts test DomUs whose kernel
//! runs a suite of hostile cases at boot (`selftest=NAME` in the config's
//! `extra`), in the style of Xen's test framework (XTF).
//!
//! For each suite the test creates the DomU with its console attached,
//! waits for the final `Test result:` line, requires SUCCESS, a PASS line
//! for every case and no FAIL line, detaches, checks that Dom0 still runs
//! `xl info`, destroys the DomU and checks that free memory is back to its
//! value before the DomU existed.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, DETACH, Error, Machine, PROMPT, lines};

/// Time from `xl create -c` to the final result line under TCG. The mmu
/// suite makes a few hundred hypercalls, each with two CR3 switches, and the
/// timer suite waits about a second in total.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Returns N from the suite's `selftest NAME: running N cases` line.
fn announced_cases(output: &str, suite: &str) -> Option<usize> {
    let prefix = format!("selftest {suite}: running ");
    lines(output).iter().find_map(|line| line.strip_prefix(&prefix)?.strip_suffix(" cases")?.parse().ok())
}

/// Runs suite `name` in a fresh DomU and checks its report and the host afterwards.
fn run_suite(machine: &mut Machine, name: &str) -> Result<(), Error> {
    let before = machine.free_memory()?;
    machine.send(&format!("xl create -c /etc/xen/test/{name}.cfg"))?;
    let output = machine.expect("Test result: ", SUITE_TIMEOUT)?;
    let verdict = machine.expect("\r\n", COMMAND_TIMEOUT)?;
    let report = lines(&output);

    let failures: Vec<&&str> = report.iter().filter(|line| line.contains(": FAIL")).collect();
    assert!(failures.is_empty(), "suite {name} has failing cases: {failures:#?}");
    assert_eq!(verdict.trim(), "SUCCESS", "suite {name} result; its output:\n{output}");
    let announced = announced_cases(&output, name).unwrap_or_else(|| panic!("suite {name} printed no case count:\n{output}"));
    let passed = report.iter().filter(|line| line.starts_with("case ") && line.ends_with(": PASS")).count();
    assert!(announced > 0, "suite {name} ran no case");
    assert_eq!(passed, announced, "suite {name}: PASS lines against the announced case count:\n{output}");

    // The DomU stays at its prompt after the suite.
    machine.expect(&format!("{name}> "), COMMAND_TIMEOUT)?;
    machine.send_bytes(DETACH)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    let info = machine.run("xl info")?;
    assert!(info.contains("free_memory"), "Dom0 does not answer xl info after suite {name}: {info}");

    let destroyed = machine.run(&format!("xl destroy {name}"))?;
    assert!(!destroyed.contains("xl"), "xl destroy {name}: {destroyed}");
    assert_eq!(machine.free_memory()?, before, "free memory after destroying the {name} DomU");
    Ok(())
}

#[test]
fn domu_isolation_suites() -> Result<(), Error> {
    let mut machine = Machine::boot("isolation", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    for suite in ["mmu", "privilege", "timer", "evtchn"] {
        run_suite(&mut machine, suite)?;
    }
    Ok(())
}

/// The mmu suite on the `bootloader` crate's images, whose hypervisor runs
/// on frames and page tables the loader chose: its sweep of every RAM frame
/// must find none of them (nor the boot archive) mappable by a DomU.
#[test]
fn domu_mmu_suite_on_bios_image() -> Result<(), Error> {
    let mut machine = Machine::boot("isolation-bios", BootPath::Bios)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    run_suite(&mut machine, "mmu")
}

/// As [`domu_mmu_suite_on_bios_image`], booted by OVMF from the UEFI image.
#[test]
fn domu_mmu_suite_on_uefi_image() -> Result<(), Error> {
    let mut machine = Machine::boot("isolation-uefi", BootPath::Uefi)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    run_suite(&mut machine, "mmu")
}
