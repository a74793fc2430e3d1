//! The xenstore between Dom0 and two DomUs: per-domain keys, permissions,
//! writes from a guest, watches and cleanup on destroy.

use boot::BootPath;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};


#[test]
fn xenstore_between_dom0_and_two_guests() -> Result<(), Error> {
    let mut machine = Machine::boot("xenstore", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;
    machine.create_guest("guest1")?;
    machine.create_guest("guest2")?;

    machine.attach("guest1")?;
    let name = machine.in_guest("guest1", "xs-read /local/domain/1/name")?;
    assert!(lines(&name).contains(&"guest1"), "{name}");
    let other = machine.in_guest("guest1", "xs-read /local/domain/2/name")?;
    assert!(other.contains("xs-read: /local/domain/2/name: failed: EACCES"), "{other}");
    let written = machine.in_guest("guest1", "xs-write data/greeting hello")?;
    assert!(!written.contains("failed"), "{written}");
    let watch = machine.in_guest("guest1", "xs-watch /local/domain/1/data")?;
    assert!(watch.contains("xs-watch: watching /local/domain/1/data"), "{watch}");
    machine.detach()?;

    let read = machine.run("xenstore-read /local/domain/1/data/greeting")?;
    assert_eq!(lines(&read), ["hello"], "Dom0 sees the guest's write");
    let write = machine.run("xenstore-write /local/domain/1/data/from-dom0 ping")?;
    assert!(write.trim().is_empty(), "{write}");

    // The attach replays the console history, so the event shows up there.
    machine.attach("guest1")?;
    machine.expect("xs-watch: event /local/domain/1/data/from-dom0 (token xs-watch)", COMMAND_TIMEOUT)?;
    machine.detach()?;

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
    assert_eq!(machine.free_memory()?, before, "free memory after destroying both guests");
    Ok(())
}
