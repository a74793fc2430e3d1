//! Boots the DomU kernel in place of Dom0, through QEMU's multiboot loader,
//! and drives its shell over the serial console.
//!
//! Booted this way the kernel has no console ring (`console_mfn` is 0), so
//! it writes through `console_io`, and QEMU passes the module's command line
//! `name=guest1 domid=7` to it as `start_info.cmd_line`. Its `poweroff` and
//! `crash` then end the whole machine, which gives the tests an exit status
//! to check. The ring console needs Dom0's toolstack and is not covered here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use boot::cargo::{PROFILE, TARGET};
use boot::{BootPath, Console, Outcome, QemuConfig, Workspace};
use tests::{BOOT_TIMEOUT, COMMAND_TIMEOUT, EXIT_TIMEOUT, Error, Machine, lines};

const NAME: &str = "guest1";
const DOMID: u16 = 7;
const PROMPT: &str = "guest1> ";

/// Boot stage reports, in the order the kernel writes them before its banner.
const STAGE_REPORTS: [&str; 3] = [
    "\x1b]hospes;stage=runtime\x07",
    "\x1b]hospes;stage=console\x07",
    "\x1b]hospes;stage=shell\x07",
];

/// The report the kernel writes right after its banner.
const READY_REPORT: &str = "\x1b]hospes;ready\x07";

#[test]
fn domu_as_dom0_console_session() -> Result<(), Error> {
    let mut machine = boot_domu("domu-session")?;
    for report in STAGE_REPORTS {
        machine.expect(report, BOOT_TIMEOUT)?;
    }
    let banner = format!(
        "Hospes DomU {NAME} (domain {DOMID}) ready, running in ring 1\r\n{READY_REPORT}{PROMPT}"
    );
    machine.expect(&banner, COMMAND_TIMEOUT)?;

    let info = run(&mut machine, "info")?;
    let before = check_info(&info);

    let spin = run(&mut machine, "spin 1")?;
    assert_eq!(lines(&spin), ["spun 1 s"], "spin 1 printed:\n{spin}");
    let after = check_info(&run(&mut machine, "info")?);
    assert!(
        after >= before + 1.0,
        "uptime went from {before} s to {after} s across spin 1; expected at least 1 s more"
    );

    let echo = run(&mut machine, "echo hello  there")?;
    assert_eq!(lines(&echo), ["hello  there"], "echo printed:\n{echo}");

    let unknown = run(&mut machine, "frobnicate")?;
    assert_eq!(
        lines(&unknown),
        ["guest1: unknown command 'frobnicate'; type 'help' for the list of commands"],
        "an unknown command printed:\n{unknown}"
    );

    let help = run(&mut machine, "help")?;
    for command in [
        "help", "info", "echo", "spin", "crash", "poweroff", "reboot",
    ] {
        assert!(
            lines(&help)
                .iter()
                .any(|line| line.trim_start().starts_with(command)),
            "help does not list {command}:\n{help}"
        );
    }

    machine.send("poweroff")?;
    let status = machine.wait_exit(EXIT_TIMEOUT)?;
    let outcome = Outcome::from_status(status);
    if !outcome.is_clean_poweroff() {
        return Err(machine.error(&format!("after poweroff, QEMU exited with {outcome}")));
    }
    Ok(())
}

/// `crash` faults with no handler. Booted as Dom0, the kernel's crash stops
/// the machine with the "Dom0 crashed" status.
#[test]
fn domu_as_dom0_crash_exit_status() -> Result<(), Error> {
    let mut machine = boot_domu("domu-crash")?;
    machine.expect(PROMPT, BOOT_TIMEOUT)?;
    machine.expect_dom0_crash("crash")?;
    Ok(())
}

/// Checks the `info` lines and returns the uptime in seconds.
fn check_info(output: &str) -> f64 {
    let lines = lines(output);
    assert_eq!(
        lines.len(),
        5,
        "info printed {} lines, expected 5:\n{output}",
        lines.len()
    );
    assert_eq!(lines[0], format!("domid : {DOMID}"));
    assert_eq!(lines[1], format!("name : {NAME}"));

    let memory = lines[2]
        .strip_prefix("memory : ")
        .and_then(|rest| rest.strip_suffix(" MiB"));
    let mebibytes: Option<u64> = memory.and_then(|value| value.parse().ok());
    assert!(
        mebibytes.is_some_and(|value| value > 0),
        "bad memory line: {:?}",
        lines[2]
    );

    assert_eq!(lines[3], "ring : 1");

    let uptime = lines[4]
        .strip_prefix("uptime : ")
        .and_then(|rest| rest.strip_suffix(" s"));
    let Some((seconds, milliseconds)) = uptime.and_then(|value| value.split_once('.')) else {
        panic!("uptime line is not `uptime : S.mmm s`: {:?}", lines[4]);
    };
    assert_eq!(
        milliseconds.len(),
        3,
        "uptime needs three decimals: {:?}",
        lines[4]
    );
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    assert!(
        digits(seconds) && digits(milliseconds),
        "uptime is not a number: {:?}",
        lines[4]
    );
    format!("{seconds}.{milliseconds}").parse().unwrap()
}

/// Types `line`, waits for the next prompt and returns the command's output
/// without the echoed line.
fn run(machine: &mut Machine, line: &str) -> Result<String, Error> {
    machine.send(line)?;
    let text = machine.expect(PROMPT, COMMAND_TIMEOUT)?;
    let output = text.strip_suffix(PROMPT).unwrap_or(&text);
    let output = match output.split_once('\n') {
        Some((echo, rest)) if echo.trim_end_matches('\r') == line => rest,
        _ => output,
    };
    Ok(output.to_string())
}

/// Starts the hypervisor with the DomU kernel as its Dom0 module.
fn boot_domu(name: &str) -> Result<Machine, Error> {
    let artifacts = tests::artifacts()?;
    artifacts.check(BootPath::Direct)?;
    let kernel = domu_kernel()?;
    let kernel = kernel
        .to_str()
        .filter(|path| !path.contains([',', ' ']))
        .ok_or_else(|| {
            Error::from(boot::Error::new(format!(
                "the DomU kernel path {} contains a comma, a space or non-UTF-8 bytes, \
             which QEMU's -initrd cannot take; set CARGO_TARGET_DIR to a plain path",
                kernel.display()
            )))
        })?;

    let choice = tests::accel()?;
    let config = QemuConfig {
        artifacts,
        boot_path: BootPath::Direct,
        accel: choice.accel,
        console: Console::Piped,
    };
    let mut arguments = config.arguments();
    let Some(modules) = arguments
        .iter()
        .position(|argument| argument == "-initrd")
        .map(|index| index + 1)
    else {
        return Err(Error::from(boot::Error::new(
            "the direct boot's QEMU arguments have no -initrd",
        )));
    };
    // QEMU passes the text after the module's file name as its command line.
    arguments[modules] = OsString::from(format!("{kernel} name={NAME} domid={DOMID}"));

    let mut command = Command::new(boot::qemu::QEMU);
    command.args(arguments).current_dir(&artifacts.dir);
    eprintln!(
        "[{name}] accelerator: {choice}\n[{name}] starting {}",
        boot::qemu::render_command(&command)
    );
    Machine::start(name, command, artifacts.dir.join("logs"))
}

/// Builds the DomU kernel once per test process and returns its path.
fn domu_kernel() -> Result<PathBuf, Error> {
    static KERNEL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let result = KERNEL.get_or_init(|| {
        let workspace = Workspace::locate();
        let mut command = workspace.cargo();
        command.args(["build", "--release", "--target", TARGET, "-p", "domu"]);
        match command.status() {
            Ok(status) if status.success() => {
                Ok(workspace.target_dir.join(TARGET).join(PROFILE).join("domu"))
            }
            Ok(status) => Err(format!(
                "cargo build -p domu for {TARGET} failed ({status}); see the compile errors above"
            )),
            Err(error) => Err(format!(
                "failed to start cargo to build the DomU kernel: {error}"
            )),
        }
    });
    result
        .clone()
        .map_err(|message| Error::from(boot::Error::new(message)))
}
