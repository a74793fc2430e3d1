//! `ping` over interdomain event channels: DomU to DomU, Dom0 to a DomU
//! and a DomU to Dom0, with the counts checked on both ends.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};

/// Time a DomU may take from `xl create -w` to its ready signal under TCG.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// Ctrl-]: leaves a guest console.
const DETACH: &[u8] = b"\x1d";

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
    create(&mut machine, "guest1")?;
    create(&mut machine, "guest2")?;

    // DomU to DomU.
    attach(&mut machine, "guest1")?;
    let output = in_guest(&mut machine, "guest1", "ping 2 10")?;
    assert_replies(&output, 2, 10);
    detach(&mut machine)?;
    // The responder prints its count after its prompt, and the attach
    // replays the console history.
    attach(&mut machine, "guest2")?;
    machine.expect("ping from 1: answered 10 events", COMMAND_TIMEOUT)?;

    // DomU to Dom0: Dom0 prints its count on its own console.
    let output = in_guest(&mut machine, "guest2", "ping 0 3")?;
    assert_replies(&output, 0, 3);
    if !output.contains("ping from 2: answered 3 events") {
        machine.expect("ping from 2: answered 3 events", COMMAND_TIMEOUT)?;
    }
    detach(&mut machine)?;

    // Dom0 to DomU.
    let output = machine.run("ping guest1 5")?;
    assert_replies(&output, 1, 5);
    attach(&mut machine, "guest1")?;
    machine.expect("ping from 0: answered 5 events", COMMAND_TIMEOUT)?;

    // Errors: this domain, a domain that does not exist, a bad count.
    let own = in_guest(&mut machine, "guest1", "ping 1 3")?;
    assert!(own.contains("ping: DOM 1 is this domain"), "{own}");
    let missing = in_guest(&mut machine, "guest1", "ping 9 3")?;
    assert!(missing.contains("ping: cannot allocate a port for domain 9"), "{missing}");
    let count = in_guest(&mut machine, "guest1", "ping 2 0")?;
    assert!(count.contains("ping: invalid COUNT '0'"), "{count}");
    detach(&mut machine)?;
    Ok(())
}
