//! The xenstore between Dom0 and two DomUs: per-domain keys, permissions,
//! writes from a guest, watches and cleanup on destroy.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};

/// Time a DomU may take from `xl create -w` to its ready signal under TCG.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// Ctrl-]: leaves a guest console.
const DETACH: &[u8] = b"\x1d";

/// Reads `free_memory` (MiB) from `xl info` output.
fn free_memory(machine: &mut Machine) -> Result<u64, Error> {
    let info = machine.run("xl info")?;
    lines(&info)
        .iter()
        .find_map(|line| line.strip_prefix("free_memory")?.split(':').nth(1)?.trim().parse().ok())
        .ok_or_else(|| machine.error(&format!("xl info printed no free_memory line: {info:?}")))
}

fn create(machine: &mut Machine, name: &str) -> Result<(), Error> {
    machine.send(&format!("xl create -w /etc/xen/{name}.cfg"))?;
    let output = machine.expect(PROMPT, CREATE_TIMEOUT)?;
    assert!(!output.contains("xl create:"), "xl create {name} failed: {output}");
    Ok(())
}

/// Runs `line` in a guest's console and returns what it printed up to the
/// next prompt. The terminal stays attached.
fn in_guest(machine: &mut Machine, name: &str, line: &str) -> Result<String, Error> {
    machine.send(line)?;
    machine.expect(&format!("{line}\r\n"), COMMAND_TIMEOUT)?;
    machine.expect(&format!("{name}> "), COMMAND_TIMEOUT)
}

fn attach(machine: &mut Machine, name: &str) -> Result<(), Error> {
    machine.send(&format!("xl console {name}"))?;
    machine.expect(&format!("{name}> "), COMMAND_TIMEOUT)?;
    Ok(())
}

fn detach(machine: &mut Machine) -> Result<(), Error> {
    machine.send_bytes(DETACH)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    Ok(())
}

#[test]
fn xenstore_between_dom0_and_two_guests() -> Result<(), Error> {
    let mut machine = Machine::boot("xenstore", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = free_memory(&mut machine)?;
    create(&mut machine, "guest1")?;
    create(&mut machine, "guest2")?;

    attach(&mut machine, "guest1")?;
    let name = in_guest(&mut machine, "guest1", "xs-read /local/domain/1/name")?;
    assert!(lines(&name).contains(&"guest1"), "{name}");
    let other = in_guest(&mut machine, "guest1", "xs-read /local/domain/2/name")?;
    assert!(other.contains("xs-read: /local/domain/2/name: failed: EACCES"), "{other}");
    let written = in_guest(&mut machine, "guest1", "xs-write data/greeting hello")?;
    assert!(!written.contains("failed"), "{written}");
    let watch = in_guest(&mut machine, "guest1", "xs-watch /local/domain/1/data")?;
    assert!(watch.contains("xs-watch: watching /local/domain/1/data"), "{watch}");
    detach(&mut machine)?;

    let read = machine.run("xenstore-read /local/domain/1/data/greeting")?;
    assert_eq!(lines(&read), ["hello"], "Dom0 sees the guest's write");
    let write = machine.run("xenstore-write /local/domain/1/data/from-dom0 ping")?;
    assert!(write.trim().is_empty(), "{write}");

    // The attach replays the console history, so the event shows up there.
    attach(&mut machine, "guest1")?;
    machine.expect("xs-watch: event /local/domain/1/data/from-dom0 (token xs-watch)", COMMAND_TIMEOUT)?;
    detach(&mut machine)?;

    let listing = machine.run("xenstore-ls /local/domain")?;
    let listed = lines(&listing);
    assert!(listed.contains(&"1 = \"\""), "{listing}");
    assert!(listed.contains(&"2 = \"\""), "{listing}");
    assert!(listed.contains(&" name = \"guest2\""), "{listing}");

    let destroy = machine.run("xl destroy guest2")?;
    assert!(!destroy.contains("xl"), "{destroy}");
    let gone = machine.run("xenstore-read /local/domain/2/name")?;
    assert!(gone.contains("xenstore-read: /local/domain/2/name: failed: ENOENT"), "{gone}");
    let listing = machine.run("xenstore-ls /local/domain")?;
    assert!(!lines(&listing).contains(&"2 = \"\""), "{listing}");

    let destroy = machine.run("xl destroy guest1")?;
    assert!(!destroy.contains("xl"), "{destroy}");
    assert_eq!(free_memory(&mut machine)?, before, "free memory after destroying both guests");
    Ok(())
}
