//! Domain lifecycle from Dom0's console: the hypervisor's `domctl` checks
//! through `selftest domain`, and DomUs built by the toolstack with `xl`.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, Error, Machine, PROMPT, lines};

/// Time `selftest domain` may take for its 20 cycles under TCG.
const SELFTEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads `free_memory` (MiB) from `xl info` output.
fn free_memory(machine: &mut Machine) -> Result<u64, Error> {
    let info = machine.run("xl info")?;
    lines(&info)
        .iter()
        .find_map(|line| line.strip_prefix("free_memory")?.split(':').nth(1)?.trim().parse().ok())
        .ok_or_else(|| machine.error(&format!("xl info printed no free_memory line: {info:?}")))
}

#[test]
fn selftest_domain_lifecycle() -> Result<(), Error> {
    let mut machine = Machine::boot("selftest-domain", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = free_memory(&mut machine)?;
    machine.send("selftest domain")?;
    let output = machine.expect(PROMPT, SELFTEST_TIMEOUT)?;
    let failures: Vec<&str> = lines(&output).into_iter().filter(|line| line.ends_with(": FAIL")).collect();
    assert!(failures.is_empty(), "selftest domain failures: {failures:?}");
    assert!(output.contains("20 create/populate/destroy cycles leak no frame: PASS"), "{output}");
    assert!(output.contains("destroy of Dom0 gives EINVAL: PASS"), "{output}");
    assert!(output.contains(", 0 failed"), "{output}");
    assert_eq!(free_memory(&mut machine)?, before, "free memory after the selftest");
    Ok(())
}
