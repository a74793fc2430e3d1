//! Domain lifecycle from Dom0's console: the hypervisor's `domctl` checks
//! through `selftest domain`, and DomUs built by the toolstack with `xl`.

use boot::BootPath;
use std::time::Duration;
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, Error, Machine, PROMPT, lines};

/// Time `selftest domain` may take for its 20 cycles under TCG.
const SELFTEST_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn selftest_domain_lifecycle() -> Result<(), Error> {
    let mut machine = Machine::boot("selftest-domain", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;
    machine.send("selftest domain")?;
    let output = machine.expect(PROMPT, SELFTEST_TIMEOUT)?;
    let failures: Vec<&str> = lines(&output).into_iter().filter(|line| line.ends_with(": FAIL")).collect();
    assert!(failures.is_empty(), "selftest domain failures: {failures:?}");
    assert!(output.contains("20 create/populate/destroy cycles leak no frame: PASS"), "{output}");
    assert!(output.contains("a frame still mapped at destroy returns when Dom0 unmaps it: PASS"), "{output}");
    assert!(output.contains("unmap_and_replace of a grant whose granter was destroyed frees every frame: PASS"), "{output}");
    assert!(output.contains("an L1 of a destroyed domain linked by Dom0 returns with its frames: PASS"), "{output}");
    assert!(output.contains("increase_reservation with a NULL array gives 2 of 2 pages: PASS"), "{output}");
    assert!(output.contains("destroy of Dom0 gives EINVAL: PASS"), "{output}");
    assert!(output.contains("the hypervisor records why unpause failed: PASS"), "{output}");
    assert!(output.contains(", 0 failed"), "{output}");
    assert_eq!(machine.free_memory()?, before, "free memory after the selftest");
    Ok(())
}


/// Attaches to a guest's console, runs `line` there, detaches and returns
/// what the guest printed. The attach replays the console history, so the
/// output is taken from the guest's echo of `line` (unique per call) onward.
fn in_console(machine: &mut Machine, name: &str, line: &str) -> Result<String, Error> {
    machine.attach(name)?;
    let output = machine.in_guest(name, line)?;
    machine.detach()?;
    Ok(output)
}

/// Returns the `xl list` row of `name`, split into columns.
fn list_row(machine: &mut Machine, name: &str) -> Result<Option<Vec<String>>, Error> {
    let list = machine.run("xl list")?;
    Ok(lines(&list)
        .iter()
        .find(|line| line.split_whitespace().next() == Some(name))
        .map(|line| line.split_whitespace().map(String::from).collect()))
}

#[test]
fn three_domus_lifecycle() -> Result<(), Error> {
    let mut machine = Machine::boot("domu-lifecycle", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;

    for name in ["guest1", "guest2", "guest3"] {
        machine.create_guest(name)?;
    }
    for (id, name) in [(1, "guest1"), (2, "guest2"), (3, "guest3")] {
        let info = in_console(&mut machine, name, "info")?;
        assert!(info.contains(&format!("name : {name}")), "{info}");
        assert!(info.contains(&format!("domid : {id}")), "{info}");
        assert!(info.contains("ring : 1"), "{info}");
    }

    // A spinning guest must not starve Dom0's console.
    machine.send("xl console guest2")?;
    machine.expect("guest2> ", COMMAND_TIMEOUT)?;
    machine.send("spin 5")?;
    machine.detach()?;
    let row = list_row(&mut machine, "guest2")?.expect("guest2 listed while it spins");
    assert_eq!(row[1], "2", "{row:?}");

    // guest3 crashes; on_crash = preserve keeps it, crashed, and the others still respond.
    machine.send("xl console guest3")?;
    machine.expect("guest3> ", COMMAND_TIMEOUT)?;
    machine.send("crash")?;
    machine.expect("xl: guest3 stopped (crash); preserved", COMMAND_TIMEOUT)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    let row = list_row(&mut machine, "guest3")?.expect("preserved guest3 is listed");
    assert_eq!(row[4], "---sc-", "crashed state letters: {row:?}");
    // A late attach still shows why the guest crashed.
    machine.send("xl console guest3")?;
    machine.expect("crashed guest3: #UD (vector 6) with no handler registered", COMMAND_TIMEOUT)?;
    machine.detach()?;
    let echo = in_console(&mut machine, "guest1", "echo still here")?;
    assert!(echo.contains("still here"), "{echo}");
    machine.send("xl console guest2")?;
    machine.expect("spun 5 s", COMMAND_TIMEOUT)?;
    machine.detach()?;

    for name in ["guest1", "guest2", "guest3"] {
        let output = machine.run(&format!("xl destroy {name}"))?;
        assert!(!output.contains("xl"), "destroy {name}: {output}");
    }
    assert_eq!(list_row(&mut machine, "guest1")?, None);
    assert_eq!(machine.free_memory()?, before, "free memory after destroying every guest");
    Ok(())
}

#[test]
fn pause_shutdown_reboot_and_weights() -> Result<(), Error> {
    let mut machine = Machine::boot("domu-control", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    machine.create_guest("guest1")?;
    machine.create_guest("guest2")?;

    assert!(machine.run("xl pause guest1")?.is_empty());
    let row = list_row(&mut machine, "guest1")?.expect("paused guest1 listed");
    assert!(row[4].contains('p'), "paused state letter: {row:?}");
    assert!(machine.run("xl unpause guest1")?.is_empty());
    let row = list_row(&mut machine, "guest1")?.expect("guest1 listed");
    assert!(!row[4].contains('p'), "unpaused state letters: {row:?}");

    let channels = machine.run("xl evtchn-list guest1")?;
    assert!(
        lines(&channels).iter().any(|line| line.contains("interdomain") && line.contains("domain 0 port")),
        "guest1's console channel to Dom0: {channels}"
    );
    let dom0_channels = machine.run("xl evtchn-list 0")?;
    assert!(dom0_channels.contains("VIRQ 2 (console)"), "{dom0_channels}");
    assert!(dom0_channels.contains("VIRQ 3 (dom_exc)"), "{dom0_channels}");

    assert!(machine.run("xl sched-credit -d guest1 -w 512")?.is_empty());
    let weights = machine.run("xl sched-credit")?;
    let guest1 = lines(&weights).into_iter().find(|line| line.starts_with("guest1")).expect("guest1 weight row");
    assert_eq!(guest1.split_whitespace().collect::<Vec<_>>(), ["guest1", "1", "512", "0"]);

    // on_reboot = restart: guest2 comes back under a new id.
    machine.send("xl reboot guest2")?;
    machine.expect("xl: guest2 stopped (reboot) and was restarted as domain", COMMAND_TIMEOUT)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    let row = list_row(&mut machine, "guest2")?.expect("restarted guest2 listed");
    assert_ne!(row[1], "2", "a restarted domain gets a new id: {row:?}");

    // on_poweroff = destroy.
    machine.send("xl shutdown guest1")?;
    machine.expect("xl: guest1 stopped (poweroff) and was destroyed", COMMAND_TIMEOUT)?;
    machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    assert_eq!(list_row(&mut machine, "guest1")?, None);
    Ok(())
}

#[test]
fn create_destroy_cycles_leak_nothing() -> Result<(), Error> {
    let mut machine = Machine::boot("domu-cycles", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;
    let ports_before = machine.run("xl evtchn-list 0")?;
    for _ in 0..20 {
        machine.create_guest("guest1")?;
        let output = machine.run("xl destroy guest1")?;
        assert!(!output.contains("xl"), "{output}");
    }
    assert_eq!(machine.free_memory()?, before, "free memory after 20 create/destroy cycles");
    // Each guest gets a console and a xenstore port in Dom0, which must be
    // closed with the guest, or Dom0's port table fills after 511 guests.
    let ports_after = machine.run("xl evtchn-list 0")?;
    assert_eq!(ports_after, ports_before, "Dom0's event channels after 20 create/destroy cycles");
    Ok(())
}

#[test]
fn xl_errors_name_the_problem() -> Result<(), Error> {
    let mut machine = Machine::boot("domu-errors", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let before = machine.free_memory()?;

    let missing = machine.run("xl create /etc/xen/nope.cfg")?;
    assert!(missing.contains("config file /etc/xen/nope.cfg not found"), "{missing}");
    let bad_key = machine.run("xl create /etc/xen/test/bad-key.cfg")?;
    assert!(bad_key.contains("/etc/xen/test/bad-key.cfg:3: unknown key 'memroy'"), "{bad_key}");
    let huge = machine.run("xl create /etc/xen/test/huge.cfg")?;
    assert!(huge.contains("xl create: cannot set memory of huge to 4096 MiB: ENOMEM, "), "{huge}");
    assert!(huge.contains("MiB free"), "{huge}");
    assert_eq!(machine.free_memory()?, before, "a failed create leaves nothing allocated");
    assert_eq!(list_row(&mut machine, "huge")?, None);

    machine.create_guest("guest1")?;
    let duplicate = machine.run("xl create /etc/xen/guest1.cfg")?;
    assert!(duplicate.contains("a domain named guest1 already exists"), "{duplicate}");
    let unknown = machine.run("xl destroy ghost")?;
    assert!(unknown.contains("xl: domain 'ghost' not found"), "{unknown}");
    let dom0 = machine.run("xl destroy 0")?;
    assert!(dom0.contains("is Dom0"), "{dom0}");
    Ok(())
}

/// A paste of many commands in one write reaches Dom0 whole: every command
/// runs, none is cut or mangled.
#[test]
fn large_paste_runs_every_command() -> Result<(), Error> {
    const COMMANDS: usize = 200;
    let mut machine = Machine::boot("large-paste", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    let paste = "cat /etc/hospes/release\r".repeat(COMMANDS);
    machine.send_bytes(paste.as_bytes())?;
    machine.send("xl info")?;
    let output = machine.expect("dom0_ring", Duration::from_secs(120))?;
    let printed = lines(&output).into_iter().filter(|line| *line == "Hospes 0.1.0").count();
    assert_eq!(printed, COMMANDS, "release lines printed for {COMMANDS} pasted commands");
    assert!(!output.contains("no such file"), "a pasted command arrived mangled");
    Ok(())
}
