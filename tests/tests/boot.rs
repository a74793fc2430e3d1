//! Boots Hospes in QEMU on each boot path: the GRUB ISO, QEMU's multiboot
//! loader, and the `bootloader` crate's BIOS and UEFI disk images. On each,
//! one session drives Dom0's console through the boot stages, the loader the
//! hypervisor saw, `xl info`, an unknown command, `selftest trap`, `xl dmesg`
//! and `poweroff`. One machine per path runs the whole sequence in order,
//! because each boot costs seconds under TCG. Another machine checks the
//! exit status after Dom0 crashes.

use boot::{BootPath, Outcome};
use tests::{BOOT_TIMEOUT, EXIT_TIMEOUT, Error, Machine, PROMPT, lines};

/// Prefix of every hypervisor log line.
const LOG_PREFIX: &str = "(hospes) ";

/// Boot-stage messages the hypervisor logs, in boot order.
const BOOT_STAGES: [&str; 6] = [
    "boot: memory",
    "boot: paging",
    "boot: descriptor tables",
    "boot: timer",
    "boot: dom0 build",
    "boot: dom0 entry",
];

#[test]
fn grub_iso_console_session() -> Result<(), Error> {
    console_session("grub-iso", BootPath::GrubIso, "Multiboot2")
}

#[test]
fn direct_boot_console_session() -> Result<(), Error> {
    console_session("direct", BootPath::Direct, "Multiboot1")
}

#[test]
fn bios_disk_image_console_session() -> Result<(), Error> {
    console_session("bios", BootPath::Bios, "Bootloader")
}

#[test]
fn uefi_disk_image_console_session() -> Result<(), Error> {
    console_session("uefi", BootPath::Uefi, "Bootloader")
}

/// A Dom0 fault with no handler registered makes the hypervisor stop the
/// machine with the "Dom0 crashed" debug-exit code. One path suffices
/// because the boot path does not change the crash handling.
#[test]
fn direct_dom0_crash_exit_status() -> Result<(), Error> {
    let mut machine = Machine::boot("direct-crash", BootPath::Direct)?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    machine.expect_dom0_crash("selftest crash")?;
    Ok(())
}

fn console_session(name: &str, boot_path: BootPath, loader: &str) -> Result<(), Error> {
    let mut machine = Machine::boot(name, boot_path)?;

    let boot_output = machine.expect(PROMPT, BOOT_TIMEOUT)?;
    check_boot_stages(&boot_output);
    check_loader(&boot_output, loader);

    let info = machine.run("xl info")?;
    check_xl_info(&info);

    let unknown = machine.run("frobnicate")?;
    assert!(
        lines(&unknown)
            .iter()
            .any(|line| line.contains("unknown command 'frobnicate'")),
        "no line says \"unknown command 'frobnicate'\":\n{unknown}"
    );

    let selftest = machine.run("selftest trap")?;
    check_selftest_trap(&selftest);

    let dmesg = machine.run("xl dmesg")?;
    assert!(
        dmesg.contains("boot: dom0 entry"),
        "xl dmesg does not contain the hypervisor's \"boot: dom0 entry\" line:\n{dmesg}"
    );

    // The direct path runs the DomU tests; the disk-image paths, whose
    // hypervisor runs on loader-chosen frames, check one DomU's life here.
    if matches!(boot_path, BootPath::Bios | BootPath::Uefi) {
        check_domu_round_trip(&mut machine)?;
    }

    machine.send("poweroff")?;
    let status = machine.wait_exit(EXIT_TIMEOUT)?;
    let outcome = Outcome::from_status(status);
    if !outcome.is_clean_poweroff() {
        return Err(machine.error(&format!("after poweroff, QEMU exited with {outcome}")));
    }
    Ok(())
}

/// Checks that the memory line names `loader`, the Dom0 kernel and its
/// ramdisk arrived as two modules, and the command line came through (QEMU's
/// multiboot loader puts the kernel's file name in front of it).
fn check_loader(boot_output: &str, loader: &str) {
    let line = lines(boot_output)
        .into_iter()
        .find(|line| line.contains("boot: memory:") && line.contains("usable"))
        .unwrap_or_else(|| panic!("no \"boot: memory\" line:\n{boot_output}"));
    assert!(line.contains(&format!("loader {loader},")), "the memory line does not name loader {loader}: {line}");
    assert!(line.contains(" 2 modules,"), "the memory line does not count 2 modules: {line}");
    assert!(line.contains("console=com1'"), "the memory line lacks the command line: {line}");
}

/// Creates guest1, runs `info` in its console, destroys it, and checks that
/// free memory is back where it started.
fn check_domu_round_trip(machine: &mut Machine) -> Result<(), Error> {
    let before = machine.free_memory()?;
    machine.create_guest("guest1")?;
    machine.attach("guest1")?;
    let info = machine.in_guest("guest1", "info")?;
    machine.detach()?;
    assert!(info.contains("name : guest1"), "guest1's info lacks its name:\n{info}");
    assert!(info.contains("ring : 1"), "guest1 does not run in ring 1:\n{info}");
    machine.run("xl destroy guest1")?;
    let after = machine.free_memory()?;
    assert_eq!(after, before, "free memory (MiB) after destroying guest1");
    Ok(())
}

/// Checks that each boot stage has a hypervisor log line, in boot order.
fn check_boot_stages(boot_output: &str) {
    let lines = lines(boot_output);
    let mut previous: Option<(usize, &str)> = None;
    for stage in BOOT_STAGES {
        let index = lines.iter().position(|line| line.contains(stage));
        let Some(index) = index else {
            panic!("no boot output line contains {stage:?}:\n{boot_output}");
        };
        assert!(
            lines[index].starts_with(LOG_PREFIX),
            "the line with {stage:?} does not start with {LOG_PREFIX:?}: {:?}",
            lines[index]
        );
        if let Some((previous_index, previous_stage)) = previous {
            assert!(
                index > previous_index,
                "{stage:?} was logged before {previous_stage:?}:\n{boot_output}"
            );
        }
        previous = Some((index, stage));
    }
}

/// A `key : value` line of `xl info`.
struct InfoField<'a> {
    key: &'a str,
    value: &'a str,
    /// Column of the colon, the same on every line because keys are padded.
    colon: usize,
}

fn parse_info_line(line: &str) -> Option<InfoField<'_>> {
    let colon = line.find(':')?;
    let key = line[..colon].trim_end();
    let value = line[colon + 1..].strip_prefix(' ')?;
    let valid_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid_key.then_some(InfoField { key, value, colon })
}

fn check_xl_info(output: &str) {
    let lines = lines(output);
    assert!(!lines.is_empty(), "xl info printed nothing");
    let mut fields = Vec::new();
    for line in &lines {
        let Some(field) = parse_info_line(line) else {
            panic!("xl info line is not `key : value`: {line:?}\nwhole output:\n{output}");
        };
        fields.push(field);
    }
    let column = fields[0].colon;
    for field in &fields {
        assert_eq!(
            field.colon, column,
            "xl info key {:?} is not padded to the colon column of {:?}:\n{output}",
            field.key, fields[0].key
        );
    }

    let value_of = |key: &str| -> &str {
        match fields.iter().find(|field| field.key == key) {
            Some(field) => field.value.trim(),
            None => panic!("xl info has no {key:?} line:\n{output}"),
        }
    };
    let expected_version = format!(
        "{}.{}{}",
        hypercalls::VERSION_MAJOR,
        hypercalls::VERSION_MINOR,
        hypercalls::EXTRA_VERSION
    );
    assert_eq!(value_of("xen_version"), expected_version);
    assert_eq!(value_of("nr_domains"), "1");
    assert_eq!(value_of("dom0_ring"), "1");

    let megabytes = |key: &str| -> u64 {
        let value = value_of(key);
        match value.parse::<u64>() {
            Ok(number) if number > 0 => number,
            _ => panic!("xl info {key} is {value:?}, expected a positive number of MiB"),
        }
    };
    let total = megabytes("total_memory");
    let free = megabytes("free_memory");
    assert!(
        free < total,
        "xl info free_memory {free} is not less than total_memory {total}"
    );
    assert!(
        total <= boot::qemu::MEMORY_MIB,
        "xl info total_memory {total} MiB exceeds the machine's {} MiB",
        boot::qemu::MEMORY_MIB
    );
}

fn check_selftest_trap(output: &str) {
    let lines = lines(output);
    let bounced = lines
        .iter()
        .position(|line| line.contains("selftest trap: bounced #GP"));
    let passed = lines
        .iter()
        .position(|line| line.contains("selftest trap: PASS"));
    let Some(bounced) = bounced else {
        panic!("selftest trap did not report \"selftest trap: bounced #GP\":\n{output}");
    };
    let Some(passed) = passed else {
        panic!("selftest trap did not report \"selftest trap: PASS\":\n{output}");
    };
    assert!(
        bounced < passed,
        "selftest trap reported PASS before the bounced #GP:\n{output}"
    );
}

#[test]
fn info_line_parses_padded_key() {
    let field = parse_info_line("xen_version            : 4.19-hospes").expect("valid line");
    assert_eq!(field.key, "xen_version");
    assert_eq!(field.value, "4.19-hospes");
    assert_eq!(field.colon, 23);
    assert!(parse_info_line("xl info: cannot read physinfo: EPERM").is_none());
    assert!(parse_info_line("no colon here").is_none());
}
