//! Grant tables between two DomUs, driven through their shells' `grant-*`
//! commands: guest1 grants pages to guest2, and the harness carries each
//! ref from guest1's console to guest2's.
//!
//! In-use flags: while guest2 maps a grant, guest1 reads `GTF_reading` (and
//! `GTF_writing` for a writable mapping) in the entry and cannot end the
//! grant with a compare-exchange of its flags. The flags stay until the
//! last of two mappings goes, and the grant can then be ended.
//!
//! Granter destroyed while mapped: guest2 keeps reading the same contents
//! after `xl destroy guest1`, even after guest3 is created from the freed
//! memory, and the frame returns to the allocator when guest2 unmaps it.
//! Once guest2 is destroyed too, free memory is back to its value before
//! either guest existed.
//!
//! NOTE: `xl info` reports free memory in MiB, so a leak of fewer than 256
//! frames can leave it unchanged. The held frame's return is checked
//! through the hypervisor's log line instead.

use boot::BootPath;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};

/// `GTF_permit_access`, `GTF_reading` and `GTF_writing` as `grant-flags` prints them.
const MAPPED_WRITABLE: &str = "flags=0x19 permit_access reading writing";
/// `GTF_permit_access` and `GTF_reading`.
const MAPPED_READ_ONLY: &str = "flags=0x9 permit_access reading";
/// `GTF_permit_access` alone: offered and not mapped.
const OFFERED: &str = "flags=0x1 permit_access";

/// Switches the terminal between guest consoles. An attach replays the
/// console's history, which may contain earlier copies of a command's
/// echo, so each attach ends with a unique `echo` whose output the
/// harness waits for.
struct Consoles {
    attached: Option<&'static str>,
    markers: u32,
}

impl Consoles {
    /// Runs `line` in guest `name`'s shell and returns its output up to the next prompt.
    fn run(&mut self, machine: &mut Machine, name: &'static str, line: &str) -> Result<String, Error> {
        if self.attached != Some(name) {
            self.leave(machine)?;
            machine.attach(name)?;
            self.markers += 1;
            let marker = format!("replay-end-{}", self.markers);
            machine.send(&format!("echo {marker}"))?;
            machine.expect(&format!("\n{marker}\r\n"), COMMAND_TIMEOUT)?;
            machine.expect(&format!("{name}> "), COMMAND_TIMEOUT)?;
            self.attached = Some(name);
        }
        machine.in_guest(name, line)
    }

    /// Returns to the Dom0 prompt.
    fn leave(&mut self, machine: &mut Machine) -> Result<(), Error> {
        if self.attached.take().is_some() {
            machine.detach()?;
        }
        Ok(())
    }
}

/// Returns the value of `key=VALUE` in `output`, as the `grant-*` commands print it.
fn value<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    output.split_whitespace().find_map(|word| word.strip_prefix(prefix.as_str()))
}

/// Returns the `key=VALUE` value in `output`, or fails with the output.
fn required<'a>(output: &'a str, key: &str, command: &str) -> &'a str {
    value(output, key).unwrap_or_else(|| panic!("{command} printed no {key}=: {output:?}"))
}

/// Returns the line of `output` that starts with `flags=`.
fn flags_line(output: &str) -> &str {
    lines(output).into_iter().find(|line| line.starts_with("flags=")).unwrap_or_else(|| panic!("grant-flags printed no flags= line: {output:?}"))
}

#[test]
fn grant_between_two_domus() -> Result<(), Error> {
    let mut machine = Machine::boot("grant_peers", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;
    machine.create_guest("guest1")?;
    machine.create_guest("guest2")?;
    let mut consoles = Consoles { attached: None, markers: 0 };

    // Offer a page and map it writable from guest2.
    let offer = consoles.run(&mut machine, "guest1", "grant-offer 2")?;
    let gref = required(&offer, "gref", "grant-offer").to_string();
    let offered_sum = required(&offer, "checksum", "grant-offer").to_string();
    let mapped = consoles.run(&mut machine, "guest2", &format!("grant-map 1 {gref} rw"))?;
    let writable_handle = required(&mapped, "handle", "grant-map").to_string();
    assert_eq!(required(&mapped, "checksum", "grant-map"), offered_sum, "page contents through guest2's writable mapping");

    // The granter reads the in-use flags and cannot end the grant.
    let flags = consoles.run(&mut machine, "guest1", &format!("grant-flags {gref}"))?;
    assert_eq!(flags_line(&flags), MAPPED_WRITABLE, "guest1's entry while guest2 maps it writable");
    let revoke = consoles.run(&mut machine, "guest1", &format!("grant-revoke {gref}"))?;
    assert!(
        revoke.contains(&format!("not revoked gref={gref}: in use, {MAPPED_WRITABLE}")),
        "grant-revoke while mapped must fail: {revoke:?}"
    );

    // A second, read-only mapping. The flags stay until the last unmap.
    let second = consoles.run(&mut machine, "guest2", &format!("grant-map 1 {gref} ro"))?;
    let read_only_handle = required(&second, "handle", "grant-map").to_string();
    assert_ne!(read_only_handle, writable_handle, "two mappings share a handle: {second:?}");
    assert_eq!(required(&second, "checksum", "grant-map"), offered_sum, "page contents through the read-only mapping");
    let unmapped = consoles.run(&mut machine, "guest2", &format!("grant-unmap {writable_handle}"))?;
    assert!(unmapped.contains(&format!("unmapped handle={writable_handle}")), "{unmapped:?}");
    let flags = consoles.run(&mut machine, "guest1", &format!("grant-flags {gref}"))?;
    assert_eq!(flags_line(&flags), MAPPED_READ_ONLY, "guest1's entry with one read-only mapping left");
    let revoke = consoles.run(&mut machine, "guest1", &format!("grant-revoke {gref}"))?;
    assert!(
        revoke.contains(&format!("not revoked gref={gref}: in use, {MAPPED_READ_ONLY}")),
        "grant-revoke with a read-only mapping left must fail: {revoke:?}"
    );
    let unmapped = consoles.run(&mut machine, "guest2", &format!("grant-unmap {read_only_handle}"))?;
    assert!(unmapped.contains(&format!("unmapped handle={read_only_handle}")), "{unmapped:?}");
    let flags = consoles.run(&mut machine, "guest1", &format!("grant-flags {gref}"))?;
    assert_eq!(flags_line(&flags), OFFERED, "guest1's entry after both unmaps");
    let revoke = consoles.run(&mut machine, "guest1", &format!("grant-revoke {gref}"))?;
    assert!(!revoke.contains("not revoked"), "grant-revoke after the unmaps must succeed: {revoke:?}");
    assert!(revoke.contains(&format!("revoked gref={gref}")), "grant-revoke after the unmaps: {revoke:?}");
    let flags = consoles.run(&mut machine, "guest1", &format!("grant-flags {gref}"))?;
    assert_eq!(flags_line(&flags), "flags=0x0", "guest1's entry after the revoke");
    let refused = consoles.run(&mut machine, "guest2", &format!("grant-map 1 {gref} ro"))?;
    assert!(refused.contains("status -8 (permission_denied)"), "mapping a revoked grant must fail: {refused:?}");

    // Destroy the granter while guest2 maps another of its pages.
    let offer = consoles.run(&mut machine, "guest1", "grant-offer 2")?;
    let held_gref = required(&offer, "gref", "grant-offer").to_string();
    let held_sum = required(&offer, "checksum", "grant-offer").to_string();
    let mapped = consoles.run(&mut machine, "guest2", &format!("grant-map 1 {held_gref}"))?;
    let held_handle = required(&mapped, "handle", "grant-map").to_string();
    assert_eq!(required(&mapped, "checksum", "grant-map"), held_sum, "page contents before the destroy");
    // A grant to a domain id that does not exist is listed as such.
    let stray = consoles.run(&mut machine, "guest1", "grant-offer 9")?;
    let stray_gref = required(&stray, "gref", "grant-offer").to_string();
    consoles.leave(&mut machine)?;
    let sharing = machine.run("xl sharing")?;
    let stray_line = format!("guest1 (1) ref {stray_gref} -> (no such domain) (9)");
    assert!(sharing.contains(&stray_line), "xl sharing should show {stray_line:?}:\n{sharing}");

    let destroyed = machine.run("xl destroy guest1")?;
    let warning = format!("xl destroy: guest1 still has grant ref {held_gref} mapped 1 time(s) by guest2 (2); its frame stays allocated until unmapped");
    assert!(destroyed.contains(&warning), "xl destroy guest1 should print {warning:?}: {destroyed:?}");
    let log = machine.run("xl dmesg")?;
    assert!(log.contains("d1: 1 frames are still mapped by other domains"), "the hypervisor kept no frame of guest1:\n{log}");

    // guest3 takes memory from the allocator, which must not include the held frame.
    machine.create_guest("guest3")?;
    let read = consoles.run(&mut machine, "guest2", &format!("grant-read {held_handle}"))?;
    assert_eq!(required(&read, "checksum", "grant-read"), held_sum, "page contents after guest1 was destroyed and guest3 created");
    let unmapped = consoles.run(&mut machine, "guest2", &format!("grant-unmap {held_handle}"))?;
    assert!(unmapped.contains(&format!("unmapped handle={held_handle}")), "{unmapped:?}");
    consoles.leave(&mut machine)?;
    let log = machine.run("xl dmesg")?;
    assert!(log.contains("of a destroyed domain returned after its last mapping"), "the held frame did not return on unmap:\n{log}");

    for name in ["guest2", "guest3"] {
        let destroyed = machine.run(&format!("xl destroy {name}"))?;
        assert!(!destroyed.contains("xl"), "xl destroy {name}: {destroyed:?}");
    }
    assert_eq!(machine.free_memory()?, before, "free memory after destroying every DomU, in MiB");
    Ok(())
}
