//! Developer commands for Hospes: `cargo xtask build | run | test | bench | doctor`.
//!
//! Messages from xtask itself go to standard error with an `xtask: ` prefix,
//! so the serial console on standard output stays clean during `run`.

mod args;
mod bench;
mod prereq;
mod test;

use std::path::Path;
use std::process::ExitCode;

use boot::{Accel, AccelChoice, Artifacts, BootPath, Console, Outcome, QemuConfig, Workspace};

use crate::args::Task;
use crate::prereq::Needs;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let task = match args::parse(&arguments) {
        Ok(task) => task,
        Err(message) => {
            eprintln!("xtask: {message}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };

    let workspace = Workspace::locate();
    let result = match task {
        Task::Help => {
            println!("{}", args::USAGE);
            Ok(ExitCode::SUCCESS)
        }
        Task::Doctor => Ok(doctor(&workspace)),
        Task::Build => build(&workspace, Needs::All).map(|_| ExitCode::SUCCESS),
        Task::Run { boot_path, accel } => run(&workspace, boot_path, accel),
        Task::Test { accel } => test::run_all(&workspace, accel),
        Task::Bench(options) => build(&workspace, Needs::Multiboot).and_then(|artifacts| bench::run(&workspace, &artifacts, &options)),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints every prerequisite check and the commands that install what is
/// missing. Fails when something is missing.
fn doctor(workspace: &Workspace) -> ExitCode {
    let checks = prereq::check_all(workspace);
    for check in &checks {
        let state = if check.is_missing() { "MISSING" } else { "ok" };
        let found = check.found.as_deref().unwrap_or("not found");
        println!("{state:<8} {:<42} {found}  ({})", check.name, check.purpose);
    }
    if let Some(version) = qemu_version() {
        println!("qemu:    {version}");
    }
    println!("accel:   {}", choose_accel(None));

    let missing: Vec<&prereq::Check> = checks.iter().filter(|check| check.is_missing()).collect();
    if missing.is_empty() {
        println!("\nEverything is installed.");
        return ExitCode::SUCCESS;
    }

    println!("\nTo install what is missing:");
    let mut manual = Vec::new();
    let mut rustup_dirs: Vec<&Path> = Vec::new();
    for check in &missing {
        match &check.fix {
            prereq::Fix::Rustup(dir) => {
                if !rustup_dirs.contains(&dir.as_path()) {
                    rustup_dirs.push(dir);
                }
            }
            prereq::Fix::Manual(text) => manual.push(format!("{}: {text}", check.name)),
            prereq::Fix::Apt(_) => {}
        }
    }
    for line in manual {
        println!("  {line}");
    }
    for dir in rustup_dirs {
        println!("  {}", prereq::rustup_line(dir));
    }
    let packages = prereq::missing_packages(&checks);
    if !packages.is_empty() {
        let as_root = prereq::is_root();
        println!("  {}", prereq::apt_install_line(&packages, as_root));
        if as_root {
            println!(
                "As root, `cargo xtask build`, `run` and `test` install the Debian packages themselves."
            );
        }
    }
    ExitCode::FAILURE
}

/// Returns the first line of `qemu-system-x86_64 --version`, if QEMU runs.
fn qemu_version() -> Option<String> {
    let output = std::process::Command::new(boot::qemu::QEMU)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().next().map(str::to_string)
}

/// Installs missing prerequisites, builds the binaries and the boot images
/// (with `Needs::All`, the `bootloader` disk images too), and prints their paths.
fn build(workspace: &Workspace, needs: Needs) -> Result<Artifacts, String> {
    prereq::ensure(workspace, needs)?;
    eprintln!("xtask: building {}", render(&workspace.build_command()));
    let artifacts = boot::build_artifacts(workspace).map_err(|error| error.to_string())?;
    let mut files = artifacts.all_files();
    if needs == Needs::All {
        eprintln!("xtask: building the BIOS and UEFI disk images with the bootloader crate");
        boot::build_disk_images(workspace, &artifacts).map_err(|error| error.to_string())?;
        files.extend(artifacts.disk_image_files());
    }
    eprintln!("xtask: boot images in {}:", artifacts.dir.display());
    for (description, path) in files {
        eprintln!("  {description:<30} {}", relative(workspace, &path));
    }
    Ok(artifacts)
}

/// Builds, then boots the machine with the serial console on this terminal,
/// and reports how QEMU ended.
fn run(
    workspace: &Workspace,
    boot_path: BootPath,
    accel: Option<Accel>,
) -> Result<ExitCode, String> {
    let needs = match boot_path {
        BootPath::Bios | BootPath::Uefi => Needs::All,
        BootPath::GrubIso | BootPath::Direct => Needs::Multiboot,
    };
    let artifacts = build(workspace, needs)?;
    artifacts
        .check(boot_path)
        .map_err(|error| error.to_string())?;
    let choice = choose_accel(accel);
    eprintln!("xtask: accelerator: {choice}");

    let config = QemuConfig {
        artifacts: &artifacts,
        boot_path,
        accel: choice.accel,
        console: Console::Inherit,
    };
    let mut command = config.command();
    eprintln!("xtask: starting {}", render(&command));
    eprintln!(
        "xtask: type `poweroff` at the dom0> prompt to stop the machine; Ctrl-C ends QEMU at once"
    );
    let status = command.status().map_err(|error| {
        format!(
            "failed to start {}: {error}; run `cargo xtask doctor`",
            boot::qemu::QEMU
        )
    })?;

    let outcome = Outcome::from_status(status);
    eprintln!("xtask: QEMU exited with {outcome}");
    if outcome.is_clean_poweroff() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Returns the accelerator to use: the one requested with `--accel`, else
/// the one detection picks.
fn choose_accel(requested: Option<Accel>) -> AccelChoice {
    match requested {
        Some(accel) => boot::accel::requested(accel, &format!("--accel {accel}"), Path::new("/")),
        None => boot::accel::detect(Path::new("/")),
    }
}

fn render(command: &std::process::Command) -> String {
    boot::qemu::render_command(command)
}

/// Returns `path` relative to the workspace root when it is inside it.
fn relative(workspace: &Workspace, path: &Path) -> String {
    path.strip_prefix(&workspace.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
