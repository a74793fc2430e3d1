//! `ping` over interdomain event channels: DomU to DomU, Dom0 to a DomU
//! and a DomU to Dom0, with the counts checked on both ends.

use boot::BootPath;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};


/// Checks that `output` has one reply line from `remote` for each sequence
/// number 1 to `count`, in order, and the summary with `count` replies.
fn assert_replies(output: &str, remote: u16, count: u32) {
    let replies: Vec<&str> = lines(output).into_iter().filter(|line| line.starts_with("reply from ")).collect();
    assert_eq!(replies.len(), count as usize, "reply lines in {output:?}");
    for (index, line) in replies.iter().enumerate() {
        let prefix = format!("reply from {remote}: seq={} time=", index + 1);
        assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}");
        assert!(line.ends_with(" ns"), "{line:?}");
    }
    let summary = format!("ping {remote}: {count} sent, {count} replies, rtt min/avg/max = ");
    assert!(output.contains(&summary), "no {summary:?} in {output:?}");
}

#[test]
fn ping_between_domains() -> Result<(), Error> {
    let mut machine = Machine::boot("ping", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    machine.create_guest("guest1")?;
    machine.create_guest("guest2")?;

    // DomU to DomU.
    machine.attach("guest1")?;
    let output = machine.in_guest("guest1", "ping 2 10")?;
    assert_replies(&output, 2, 10);
    machine.detach()?;
    // The responder prints its count after its prompt, and the attach
    // replays the console history.
    machine.attach("guest2")?;
    machine.expect("ping from 1: answered 10 events", COMMAND_TIMEOUT)?;

    // DomU to Dom0: Dom0 prints its count on its own console.
    let output = machine.in_guest("guest2", "ping 0 3")?;
    assert_replies(&output, 0, 3);
    if !output.contains("ping from 2: answered 3 events") {
        machine.expect("ping from 2: answered 3 events", COMMAND_TIMEOUT)?;
    }
    machine.detach()?;

    // Dom0 to DomU.
    let output = machine.run("ping guest1 5")?;
    assert_replies(&output, 1, 5);
    machine.attach("guest1")?;
    machine.expect("ping from 0: answered 5 events", COMMAND_TIMEOUT)?;

    // Errors: this domain, a domain that does not exist, a bad count.
    let own = machine.in_guest("guest1", "ping 1 3")?;
    assert!(own.contains("ping: DOM 1 is this domain"), "{own}");
    let missing = machine.in_guest("guest1", "ping 9 3")?;
    assert!(missing.contains("ping: cannot allocate a port for domain 9"), "{missing}");
    let count = machine.in_guest("guest1", "ping 2 0")?;
    assert!(count.contains("ping: invalid COUNT '0'"), "{count}");
    machine.detach()?;
    let unknown = machine.run("ping nosuch 2")?;
    let expected = "ping: domain 'nosuch' not found; run 'xl list' to see the domains";
    assert!(unknown.contains(expected), "Dom0's ping should print {expected:?}: {unknown:?}");
    Ok(())
}
