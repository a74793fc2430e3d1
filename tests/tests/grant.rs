//! Grant tables from a DomU: Dom0 starts a DomU whose kernel runs the
//! `grant` suite at boot (`selftest=grant`), which grants pages to its own
//! domain and maps, unmaps and copies them, and checks the refusals of bad
//! references, handles, domains and copy ranges.
//!
//! The test requires SUCCESS and a PASS line per case, then destroys the
//! DomU, whose grant table frame and the self-grant mapping the last case
//! leaves must all return:
//! free memory is back to its value before the DomU existed, and the
//! hypervisor log reports no frame kept for another domain's mapping.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, DETACH, Error, Machine, PROMPT, lines};

/// Time from `xl create -c` to the final result line under TCG: booting a
/// DomU and a few dozen hypercalls.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn grant_suite_and_cleanup() -> Result<(), Error> {
    let mut machine = Machine::boot("grant", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;

    machine.send("xl create -c /etc/xen/test/grant.cfg")?;
    let output = machine.expect("Test result: ", SUITE_TIMEOUT)?;
    let verdict = machine.expect("\r\n", COMMAND_TIMEOUT)?;
    let report = lines(&output);
    let failures: Vec<&&str> = report.iter().filter(|line| line.contains(": FAIL")).collect();
    assert!(failures.is_empty(), "grant suite has failing cases: {failures:#?}");
    assert_eq!(verdict.trim(), "SUCCESS", "grant suite result; its output:\n{output}");
    let passed = report.iter().filter(|line| line.starts_with("case ") && line.ends_with(": PASS")).count();
    assert!(passed >= 20, "grant suite: {passed} PASS lines, expected at least 20:\n{output}");

    machine.expect("grant> ", COMMAND_TIMEOUT)?;
    machine.send_bytes(DETACH)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    let sharing = machine.run("xl sharing")?;
    let sharing_lines = lines(&sharing);
    assert!(
        sharing_lines.iter().any(|line| line.trim_start().starts_with("Domain-0 (0) port") && line.contains("<-> grant (1) port")),
        "xl sharing shows the console and store channels to Dom0:\n{sharing}"
    );
    assert!(
        sharing_lines.iter().any(|line| line.trim_start().starts_with("grant (1) ref") && line.contains("-> grant (1) read-write") && line.ends_with("mapped 1 time(s)")),
        "xl sharing shows the self-grant the suite leaves mapped:\n{sharing}"
    );
    let destroyed = machine.run("xl destroy grant")?;
    assert!(!destroyed.contains("xl"), "xl destroy grant: {destroyed}");
    assert_eq!(machine.free_memory()?, before, "free memory after destroying the grant DomU");
    // 16 MiB of memory (4096 frames), shared_info and the one grant table
    // frame, less the page the suite gave back with decrease_reservation,
    // which the hypervisor freed while the DomU ran. The suite's last case
    // leaves a self-grant mapped, which destroy releases.
    let log = machine.run("xl dmesg")?;
    assert!(!log.contains("still mapped by other domains"), "a frame stayed allocated after destroy:\n{log}");
    assert!(log.contains("destroyed, 4097 frames returned"), "xl dmesg shows no destroy line with 4097 frames:\n{log}");
    Ok(())
}
