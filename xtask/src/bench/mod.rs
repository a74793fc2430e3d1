//! `cargo xtask bench`: boots the images headless under TCG, then under TCG
//! with instruction counting, runs the benchmarks inside the guests, and
//! prints and writes the results.
//!
//! The guests print `bench NAME UNIT VALUE` lines (see `guest::bench` and
//! Dom0's `bench` command), one per round. This module sends the commands
//! over the serial console and collects those lines.

mod profile;
mod report;

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use boot::{Accel, Artifacts, BootPath, Console, QemuConfig, Workspace};
use tests::{Machine, PROMPT};

pub use report::{Results, Series};

/// Guest RAM of the machine that measures how many 4 MiB DomUs fit.
const SCALE_MEMORY_MIB: u64 = 512;

/// QEMU's instruction-counting mode: the virtual clock, and with it the
/// guest TSC, advances one tick per executed instruction, and the virtual
/// CPU never sleeps to match the host's clock.
const ICOUNT: &str = "shift=0,sleep=off";

/// Maximum time for one benchmark command; TCG is slow when many CR3
/// switches flush its software TLB.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// Maximum time from QEMU's start to the first `dom0> ` prompt.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Line the guests print after a benchmark's last result.
const DONE: &str = "bench done";

/// Relative tolerance for two icount runs of the same build to count as
/// reproducible. A timer interrupt that lands inside a timed loop in one run
/// and not in the other adds its handler's instructions to that round.
// NOTE: the medians of two runs can also differ by whole steps of about 31
// instructions per operation (hypercall-domu gave 880, 911 and 943), up to
// 7 %. The cause is not found yet, so the tolerance is 10 %, not 2 %.
pub const ICOUNT_TOLERANCE: f64 = 0.10;

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Run only the benchmarks whose name contains this text.
    pub filter: Option<String>,
    /// Rounds per benchmark.
    pub rounds: u32,
    /// CI mode: few rounds, and a second icount run checked against the first.
    pub quick: bool,
    /// Profile this benchmark instead of measuring (see [`profile`]).
    pub profile: Option<String>,
}

/// How a machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain TCG: the TSC follows the host clock.
    Tcg,
    /// TCG with `-icount`: the TSC counts instructions.
    Icount,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tcg => "tcg",
            Mode::Icount => "icount",
        }
    }
}

/// One benchmark step: the Dom0 command that runs it and the names of the
/// results it prints.
struct Step {
    /// Names of the `bench` lines the step prints; the filter matches them.
    names: &'static [&'static str],
    /// Dom0 commands, in order. `{rounds}` becomes the round count. The
    /// `bench` commands print results and `bench done`, the others set up.
    commands: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step { names: &["boot-hv-to-dom0"], commands: &["bench boot"] },
    Step { names: &["hypercall-dom0"], commands: &["bench hypercall {rounds}"] },
    Step { names: &["hypercall-domu"], commands: &["bench domu /etc/xen/bench/hypercall.cfg {rounds}"] },
    Step { names: &["mmu-update-1-domu"], commands: &["bench domu /etc/xen/bench/mmu1.cfg {rounds}"] },
    Step { names: &["mmu-update-512-domu"], commands: &["bench domu /etc/xen/bench/mmu512.cfg {rounds}"] },
    Step { names: &["evtchn-self-domu"], commands: &["bench domu /etc/xen/bench/evtchn-self.cfg {rounds}"] },
    Step {
        names: &["domain-switch-domu"],
        commands: &["xl create /etc/xen/bench/yield.cfg", "bench domu /etc/xen/bench/switch.cfg {rounds}", "xl destroy bench-yield"],
    },
    Step {
        names: &["evtchn-pingpong", "grant-copy-4k", "grant-map-unmap"],
        // The peer's maximum weight keeps its credit above the spinning
        // pinger's, so it runs on every ping (see guest::ping::round_trip).
        commands: &[
            "xl create /etc/xen/bench/peer.cfg",
            "xl sched-credit -d bench-peer -w 65535",
            "bench domu /etc/xen/bench/pair.cfg {rounds} bench-peer",
            "xl destroy bench-peer",
        ],
    },
    Step { names: &["xl-create", "xl-destroy"], commands: &["bench create /etc/xen/bench/small.cfg {rounds}"] },
];

/// Runs `cargo xtask bench` and returns the exit code.
pub fn run(workspace: &Workspace, artifacts: &Artifacts, options: &Options) -> Result<ExitCode, String> {
    if let Some(name) = &options.profile {
        return profile::run(workspace, artifacts, name);
    }
    let started = Instant::now();
    // NOTE: the files go to the workspace's target/bench even when
    // CARGO_TARGET_DIR points elsewhere, so their place is always the same.
    let out_dir = workspace.root.join("target").join("bench");
    let log_dir = out_dir.join("logs");

    let mut tcg = measure(artifacts, Mode::Tcg, options, &log_dir, "tcg")?;
    if selected(options, "boot-grub") {
        let (wall, _) = boot_wall_clock(artifacts, BootPath::GrubIso, &log_dir)?;
        tcg.push("boot-grub", "ms", wall);
    }
    if selected(options, "scale-domus") || selected(options, "scale-overhead") {
        scale(artifacts, &log_dir, &mut tcg)?;
    }
    let icount = measure(artifacts, Mode::Icount, options, &log_dir, "icount")?;

    let mut failures = Vec::new();
    if options.quick {
        let again = measure(artifacts, Mode::Icount, options, &log_dir, "icount-again")?;
        failures.extend(report::compare_icount(&icount, &again, ICOUNT_TOLERANCE));
        failures.extend(report::check_plausible(&tcg, &icount));
        let expected: Vec<&str> =
            STEPS.iter().flat_map(|step| step.names.iter().copied()).filter(|name| selected(options, name)).collect();
        failures.extend(report::check_complete(&expected, &[("tcg", &tcg), ("icount", &icount)]));
    }

    let results = Results::new(tcg, icount);
    let table = results.table();
    println!("{table}");
    std::fs::create_dir_all(&out_dir).map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;
    let machine = report::machine_description(boot::qemu::QEMU);
    let files = [
        ("results.json", results.json(&machine)),
        ("results.md", results.markdown(&machine)),
        ("results.svg", results.svg()?),
    ];
    for (name, contents) in files {
        let path = out_dir.join(name);
        std::fs::write(&path, contents).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    eprintln!("xtask: bench took {:.0} s", started.elapsed().as_secs_f64());

    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for failure in &failures {
            eprintln!("xtask: bench check failed: {failure}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn selected(options: &Options, name: &str) -> bool {
    options.filter.as_deref().is_none_or(|filter| name.contains(filter))
}

/// Returns QEMU's command for a headless TCG machine with `memory_mib` of
/// RAM, with `-icount` in [`Mode::Icount`].
fn qemu_command(artifacts: &Artifacts, boot_path: BootPath, mode: Mode, memory_mib: u64) -> Command {
    let config = QemuConfig { artifacts, boot_path, accel: Accel::Tcg, console: Console::Piped };
    let mut arguments = config.arguments();
    if let Some(index) = arguments.iter().position(|argument| argument == "-m") {
        arguments[index + 1] = memory_mib.to_string().into();
    }
    if mode == Mode::Icount {
        arguments.extend(["-icount".into(), ICOUNT.into()]);
    }
    let mut command = Command::new(boot::qemu::QEMU);
    command.args(arguments).current_dir(&artifacts.dir);
    command
}

/// Boots a machine and returns it with the wall-clock milliseconds from
/// QEMU's start to the first prompt.
fn boot_machine(
    artifacts: &Artifacts,
    boot_path: BootPath,
    mode: Mode,
    memory_mib: u64,
    name: &str,
    log_dir: &std::path::Path,
) -> Result<(Machine, u64), String> {
    boot_machine_with(qemu_command(artifacts, boot_path, mode, memory_mib), name, log_dir)
}

/// Boots a machine from `command` and returns it with the wall-clock
/// milliseconds from QEMU's start to the first prompt.
fn boot_machine_with(command: Command, name: &str, log_dir: &std::path::Path) -> Result<(Machine, u64), String> {
    eprintln!("xtask: bench: starting {}", boot::qemu::render_command(&command));
    let start = Instant::now();
    let mut machine = Machine::start(name, command, log_dir.to_path_buf()).map_err(|error| error.to_string())?;
    machine.expect(PROMPT, BOOT_TIMEOUT).map_err(|error| error.to_string())?;
    let wall = start.elapsed().as_millis() as u64;
    Ok((machine, wall))
}

fn boot_wall_clock(artifacts: &Artifacts, boot_path: BootPath, log_dir: &std::path::Path) -> Result<(u64, ()), String> {
    let name = format!("bench-boot-{}", boot_path.name());
    let (mut machine, wall) = boot_machine(artifacts, boot_path, Mode::Tcg, boot::qemu::MEMORY_MIB, &name, log_dir)?;
    power_off(&mut machine)?;
    Ok((wall, ()))
}

/// Boots one machine in `mode` and runs every selected step on it.
fn measure(artifacts: &Artifacts, mode: Mode, options: &Options, log_dir: &std::path::Path, name: &str) -> Result<Series, String> {
    let mut series = Series::default();
    let (mut machine, wall) =
        boot_machine(artifacts, BootPath::Direct, mode, boot::qemu::MEMORY_MIB, &format!("bench-{name}"), log_dir)?;
    if mode == Mode::Tcg && selected(options, "boot-direct") {
        series.push("boot-direct", "ms", wall);
    }
    for step in STEPS {
        if !step.names.iter().any(|name| selected(options, name)) {
            continue;
        }
        eprintln!("xtask: bench [{}]: {}", mode.name(), step.names.join(", "));
        let rounds = options.rounds.to_string();
        for command in step.commands {
            let command = command.replace("{rounds}", &rounds);
            if command.starts_with("bench ") {
                run_bench_command(&mut machine, &command, &mut series)?;
            } else {
                machine.run(&command).map_err(|error| error.to_string())?;
            }
        }
    }
    power_off(&mut machine)?;
    Ok(series)
}

/// Sends a Dom0 `bench` command, waits for its `bench done` line and the
/// prompt, and adds its result lines to `series`.
fn run_bench_command(machine: &mut Machine, command: &str, series: &mut Series) -> Result<(), String> {
    machine.send(command).map_err(|error| error.to_string())?;
    let output = machine.expect(DONE, STEP_TIMEOUT).map_err(|error| error.to_string())?;
    machine.expect(PROMPT, STEP_TIMEOUT).map_err(|error| error.to_string())?;
    if let Some(problem) = report::problem_line(&output) {
        return Err(machine.error(&format!("`{command}` failed: {problem}")).to_string());
    }
    if series.parse(&output, command) == 0 {
        return Err(machine.error(&format!("`{command}` printed no result lines")).to_string());
    }
    Ok(())
}

/// Counts the 4 MiB DomUs that fit on a machine with [`SCALE_MEMORY_MIB`].
fn scale(artifacts: &Artifacts, log_dir: &std::path::Path, series: &mut Series) -> Result<(), String> {
    eprintln!("xtask: bench [tcg]: scale-domus, scale-overhead ({SCALE_MEMORY_MIB} MiB machine)");
    let (mut machine, _) = boot_machine(artifacts, BootPath::Direct, Mode::Tcg, SCALE_MEMORY_MIB, "bench-scale", log_dir)?;
    let command = "bench scale /etc/xen/bench/small.cfg";
    machine.send(command).map_err(|error| error.to_string())?;
    let output = machine.expect(DONE, STEP_TIMEOUT * 2).map_err(|error| error.to_string())?;
    machine.expect(PROMPT, STEP_TIMEOUT).map_err(|error| error.to_string())?;
    if series.parse(&output, command) == 0 {
        return Err(machine.error("`bench scale` printed no result lines").to_string());
    }
    for line in output.lines().filter(|line| line.starts_with("bench scale:")) {
        eprintln!("xtask: {}", line.trim_end());
    }
    power_off(&mut machine)
}

fn power_off(machine: &mut Machine) -> Result<(), String> {
    machine.send("poweroff").map_err(|error| error.to_string())?;
    machine.wait_exit(Duration::from_secs(30)).map_err(|error| error.to_string())?;
    Ok(())
}
