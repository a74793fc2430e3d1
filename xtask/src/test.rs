//! `cargo xtask test`: host unit tests, one image build, QEMU integration tests.

use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use boot::{Accel, Workspace};

use crate::prereq;

/// Environment variable with the directory of the boot images, which the
/// `tests` crate reads.
pub const ARTIFACTS_ENV: &str = "HOSPES_ARTIFACTS";

/// Environment variable that requests an accelerator from the integration tests.
pub const ACCEL_ENV: &str = "HOSPES_ACCEL";

/// QEMU machines that run at the same time. Each one keeps a host core busy
/// under TCG, and CI machines have 2 cores.
const INTEGRATION_TEST_THREADS: &str = "2";

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepResult {
    Passed,
    Failed(String),
    Skipped(String),
}

struct StepReport {
    name: &'static str,
    result: StepResult,
    duration: Duration,
}

/// Runs every test step, prints a summary and returns failure when any
/// step failed or was skipped.
pub fn run_all(workspace: &Workspace, accel: Option<Accel>) -> Result<ExitCode, String> {
    prereq::ensure(workspace, prereq::Needs::All)?;

    let mut reports = Vec::new();
    let cargo_steps: [(&'static str, &[&str]); 5] = [
        (
            "host unit tests (hypercalls, pvbuild, boot, xtask)",
            &[
                "test",
                "-p",
                "hypercalls",
                "-p",
                "pvbuild",
                "-p",
                "boot",
                "-p",
                "xtask",
            ],
        ),
        ("kernel library tests", &["test", "-p", "kernel", "--lib"]),
        ("dom0 library tests", &["test", "-p", "dom0", "--lib"]),
        ("guest library tests", &["test", "-p", "guest", "--lib"]),
        ("domu library tests", &["test", "-p", "domu", "--lib"]),
    ];
    for (name, arguments) in cargo_steps {
        let mut command = workspace.cargo();
        command.args(arguments);
        reports.push(run_step(name, || run_command(&mut command)));
    }

    let mut artifacts = None;
    reports.push(run_step("boot images", || {
        eprintln!(
            "xtask: building {}",
            boot::qemu::render_command(&workspace.build_command())
        );
        let built = boot::build_artifacts(workspace).map_err(|error| error.to_string())?;
        artifacts = Some(built);
        Ok(())
    }));
    if let Some(built) = &artifacts {
        // A failure here fails the BIOS and UEFI boot tests below, which
        // then name the missing image; the other tests still run.
        reports.push(run_step("disk images (bootloader crate, BIOS and UEFI)", || {
            boot::build_disk_images(workspace, built).map_err(|error| error.to_string())
        }));
    }

    let integration = "QEMU integration tests";
    match &artifacts {
        Some(artifacts) => {
            let mut command = workspace.cargo();
            command
                .args([
                    "test",
                    "-p",
                    "tests",
                    "--",
                    "--test-threads",
                    INTEGRATION_TEST_THREADS,
                ])
                .env(ARTIFACTS_ENV, &artifacts.dir);
            if let Some(accel) = accel {
                command.env(ACCEL_ENV, accel.name());
            }
            reports.push(run_step(integration, || run_command(&mut command)));
        }
        None => reports.push(StepReport {
            name: integration,
            result: StepResult::Skipped("the boot images failed to build".to_string()),
            duration: Duration::ZERO,
        }),
    }

    let bench = "benchmarks (cargo xtask bench --quick)";
    match &artifacts {
        Some(artifacts) => {
            let options = crate::bench::Options { filter: None, rounds: crate::args::QUICK_ROUNDS, quick: true, profile: None };
            reports.push(run_step(bench, || match crate::bench::run(workspace, artifacts, &options)? {
                code if code == ExitCode::SUCCESS => Ok(()),
                _ => Err(String::from("a benchmark check failed; see the lines above")),
            }));
        }
        None => reports.push(StepReport {
            name: bench,
            result: StepResult::Skipped("the boot images failed to build".to_string()),
            duration: Duration::ZERO,
        }),
    }

    eprint!("{}", summary(&reports));
    let all_passed = reports
        .iter()
        .all(|report| report.result == StepResult::Passed);
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_step(name: &'static str, step: impl FnOnce() -> Result<(), String>) -> StepReport {
    eprintln!("\nxtask: === {name} ===");
    let start = Instant::now();
    let result = match step() {
        Ok(()) => StepResult::Passed,
        Err(message) => {
            eprintln!("xtask: {name} failed: {message}");
            StepResult::Failed(message)
        }
    };
    StepReport {
        name,
        result,
        duration: start.elapsed(),
    }
}

fn run_command(command: &mut Command) -> Result<(), String> {
    let line = boot::qemu::render_command(command);
    eprintln!("xtask: running {line}");
    let status = command
        .status()
        .map_err(|error| format!("failed to start `{line}`: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo failed with {status}; see its output above"))
    }
}

/// Returns the summary table and the closing `steps: N passed, N failed` line.
fn summary(reports: &[StepReport]) -> String {
    let mut text = String::from("\nxtask: summary\n");
    let mut passed = 0;
    let mut failed = 0;
    let mut skipped = 0;
    let width = reports
        .iter()
        .map(|report| report.name.len())
        .max()
        .unwrap_or(0);
    for report in reports {
        let (state, detail) = match &report.result {
            StepResult::Passed => {
                passed += 1;
                ("passed", String::new())
            }
            StepResult::Failed(message) => {
                failed += 1;
                ("FAILED", format!(": {}", first_line(message)))
            }
            StepResult::Skipped(reason) => {
                skipped += 1;
                ("skipped", format!(": {reason}"))
            }
        };
        let _ = writeln!(
            text,
            "  {state:<8} {:<width$} {:>7.1} s{detail}",
            report.name,
            report.duration.as_secs_f64()
        );
    }
    let _ = write!(text, "steps: {passed} passed, {failed} failed");
    if skipped > 0 {
        let _ = write!(text, ", {skipped} skipped");
    }
    text.push('\n');
    text
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &'static str, result: StepResult, seconds: u64) -> StepReport {
        StepReport {
            name,
            result,
            duration: Duration::from_secs(seconds),
        }
    }

    #[test]
    fn summary_counts_steps() {
        let reports = [
            report("host unit tests", StepResult::Passed, 12),
            report(
                "boot images",
                StepResult::Failed("grub-mkrescue failed\nmore".into()),
                3,
            ),
            report(
                "QEMU integration tests",
                StepResult::Skipped("no images".into()),
                0,
            ),
        ];
        let text = summary(&reports);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"steps: 1 passed, 1 failed, 1 skipped"));
        assert!(lines[2].starts_with("  passed   host unit tests"), "{text}");
        assert!(lines[3].ends_with("3.0 s: grub-mkrescue failed"), "{text}");
        assert!(
            lines[4].contains("skipped  QEMU integration tests"),
            "{text}"
        );
    }

    #[test]
    fn summary_without_skips_has_plain_closing_line() {
        let reports = [report("host unit tests", StepResult::Passed, 1)];
        let text = summary(&reports);
        assert_eq!(text.lines().last(), Some("steps: 1 passed, 0 failed"));
    }
}
