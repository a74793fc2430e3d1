//! Command-line parsing for xtask.

use boot::{Accel, BootPath};

pub const USAGE: &str = "\
Usage: cargo xtask COMMAND [OPTIONS]

Commands:
  build                            Build the hypervisor, Dom0 and the boot images
                                   (GRUB ISO, BIOS and UEFI disk images) into
                                   target/hospes/ and print their paths.
  run [--boot PATH] [--accel ACCEL]
                                   Build, then boot in QEMU with the serial console
                                   on this terminal. Type `poweroff` at dom0> to stop.
  test [--accel ACCEL]             Run the host unit tests, build the images once,
                                   then run the QEMU integration tests.
  bench [--filter NAME] [--rounds N] [--quick]
                                   Build, boot headless under TCG and under TCG with
                                   -icount, run the benchmarks in the guests, print a
                                   table and write target/bench/results.{json,md,svg}.
  bench --profile NAME             Run benchmark NAME under -icount with QEMU's
                                   in_asm and exec logs, and print and write to
                                   target/bench/profile/NAME.txt the instructions
                                   of one round per hypervisor and guest function.
  doctor                           Check the host prerequisites and print the
                                   commands that install what is missing.

Options:
  --boot PATH      run: how the machine boots. grub (default): SeaBIOS boots the
                   GRUB ISO, which loads Hospes through Multiboot2. direct: QEMU's
                   -kernel loader, Multiboot1, no GRUB. bios: SeaBIOS boots the
                   bootloader crate's BIOS disk image. uefi: OVMF boots its UEFI
                   disk image.
  --direct         Same as --boot direct.
  --accel ACCEL    QEMU accelerator: tcg or kvm. Default: kvm when the host has
                   hardware KVM (kvm_intel or kvm_amd loaded), else tcg.
  --filter NAME    bench: run only the benchmarks whose name contains NAME.
  --rounds N       bench: rounds per benchmark (default 10; 2 with --quick).
  --quick          bench: the CI run: 2 rounds, and a second -icount run whose
                   medians must match the first within 10 %.
  --profile NAME   bench: profile benchmark NAME instead of measuring them all.
";

/// A parsed xtask command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Help,
    Doctor,
    Build,
    Run {
        boot_path: BootPath,
        accel: Option<Accel>,
    },
    Test {
        accel: Option<Accel>,
    },
    Bench(crate::bench::Options),
}

/// Rounds per benchmark without `--rounds`.
pub const DEFAULT_ROUNDS: u32 = 10;

/// Rounds per benchmark with `--quick` and without `--rounds`.
pub const QUICK_ROUNDS: u32 = 2;

/// Records the boot path an option chose; a second choice is an error,
/// because one of the two would be dropped without a word.
fn set_boot_path(chosen: &mut Option<BootPath>, path: BootPath) -> Result<(), String> {
    if let Some(earlier) = *chosen {
        return Err(format!(
            "the boot path is given twice ({} and {}); give one of --boot PATH or --direct",
            earlier.name(),
            path.name()
        ));
    }
    *chosen = Some(path);
    Ok(())
}

/// Parses the arguments after `cargo xtask`.
pub fn parse(arguments: &[String]) -> Result<Task, String> {
    let Some((command, options)) = arguments.split_first() else {
        return Ok(Task::Help);
    };

    let mut boot_path = None;
    let mut accel = None;
    let mut filter = None;
    let mut rounds = None;
    let mut quick = false;
    let mut profile = None;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match option.as_str() {
            "--help" | "-h" => return Ok(Task::Help),
            "--direct" => set_boot_path(&mut boot_path, BootPath::Direct)?,
            "--boot" => {
                let value = options.next().ok_or("--boot needs a path: grub, direct, bios or uefi")?;
                set_boot_path(&mut boot_path, value.parse::<BootPath>().map_err(|error| error.to_string())?)?;
            }
            "--quick" if command == "bench" => quick = true,
            "--profile" if command == "bench" => {
                profile = Some(options.next().ok_or("--profile needs a benchmark name")?.clone());
            }
            "--filter" if command == "bench" => {
                filter = Some(options.next().ok_or("--filter needs a benchmark name")?.clone());
            }
            "--rounds" if command == "bench" => {
                let value = options.next().ok_or("--rounds needs a count")?;
                let count = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&count| count > 0)
                    .ok_or_else(|| format!("invalid --rounds '{value}': give a positive integer"))?;
                rounds = Some(count);
            }
            "--accel" => {
                let value = options.next().ok_or("--accel needs a value: tcg or kvm")?;
                accel = Some(value.parse::<Accel>().map_err(|error| error.to_string())?);
            }
            other => {
                if let Some(value) = other.strip_prefix("--accel=") {
                    accel = Some(value.parse::<Accel>().map_err(|error| error.to_string())?);
                } else if let Some(value) = other.strip_prefix("--boot=") {
                    set_boot_path(&mut boot_path, value.parse::<BootPath>().map_err(|error| error.to_string())?)?;
                } else {
                    return Err(format!("unknown option '{other}' for `{command}`"));
                }
            }
        }
    }

    let reject = |name: &str, used: bool| {
        if used {
            Err(format!("`{command}` does not take {name}"))
        } else {
            Ok(())
        }
    };
    // Every command but `run` makes or tests all the images, so the error
    // names the way to reach one path instead.
    let reject_boot_path = || {
        if boot_path.is_none() {
            return Ok(());
        }
        let hint = match command.as_str() {
            "test" => "it boots every path; to test one, run `cargo test -p tests --test boot NAME`, such as `uefi`",
            "build" => "it builds the images of every path; boot one with `cargo xtask run --boot PATH`",
            _ => "only `run` chooses a boot path",
        };
        Err(format!("`{command}` does not take --direct or --boot: {hint}"))
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Task::Help),
        "build" | "doctor" => {
            reject_boot_path()?;
            reject("--accel", accel.is_some())?;
            Ok(if command == "build" {
                Task::Build
            } else {
                Task::Doctor
            })
        }
        "run" => Ok(Task::Run { boot_path: boot_path.unwrap_or(BootPath::GrubIso), accel }),
        "test" => {
            reject_boot_path()?;
            Ok(Task::Test { accel })
        }
        "bench" => {
            reject_boot_path()?;
            reject("--accel", accel.is_some())?;
            if profile.is_some() && (quick || filter.is_some() || rounds.is_some()) {
                return Err(String::from("`bench --profile` does not take --quick, --filter or --rounds"));
            }
            let default = if quick { QUICK_ROUNDS } else { DEFAULT_ROUNDS };
            Ok(Task::Bench(crate::bench::Options { filter, rounds: rounds.unwrap_or(default), quick, profile }))
        }
        other => Err(format!("unknown command '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Task, String> {
        let arguments: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&arguments)
    }

    #[test]
    fn run_defaults_to_grub_and_detection() {
        assert_eq!(
            parse_line("run"),
            Ok(Task::Run {
                boot_path: BootPath::GrubIso,
                accel: None
            })
        );
    }

    #[test]
    fn run_takes_direct_and_accel() {
        let expected = Ok(Task::Run {
            boot_path: BootPath::Direct,
            accel: Some(Accel::Kvm),
        });
        assert_eq!(parse_line("run --direct --accel kvm"), expected);
        assert_eq!(parse_line("run --accel=kvm --direct"), expected);
        assert_eq!(parse_line("run --boot direct --accel kvm"), expected);
    }

    #[test]
    fn run_takes_boot_paths() {
        for (name, boot_path) in [("grub", BootPath::GrubIso), ("bios", BootPath::Bios), ("uefi", BootPath::Uefi)] {
            assert_eq!(parse_line(&format!("run --boot {name}")), Ok(Task::Run { boot_path, accel: None }));
        }
        let error = parse_line("run --boot floppy").expect_err("unknown path");
        assert!(error.contains("grub, direct, bios or uefi"), "{error}");
        assert!(parse_line("run --boot").is_err());
        assert!(parse_line("test --boot uefi").is_err());
        assert_eq!(parse_line("run --boot=uefi"), Ok(Task::Run { boot_path: BootPath::Uefi, accel: None }));
        let twice = parse_line("run --direct --boot uefi").expect_err("two paths");
        assert!(twice.contains("given twice (direct and uefi)"), "{twice}");
        assert!(parse_line("run --boot uefi --boot bios").is_err());
        assert_eq!(parse_line("run --help"), Ok(Task::Help));
        assert_eq!(parse_line("bench -h"), Ok(Task::Help));
    }

    #[test]
    fn test_takes_accel() {
        assert_eq!(
            parse_line("test --accel tcg"),
            Ok(Task::Test {
                accel: Some(Accel::Tcg)
            })
        );
    }

    #[test]
    fn bench_takes_filter_rounds_quick() {
        assert_eq!(
            parse_line("bench --filter hypercall --rounds 3"),
            Ok(Task::Bench(crate::bench::Options { filter: Some("hypercall".into()), rounds: 3, quick: false, profile: None }))
        );
        assert_eq!(
            parse_line("bench --quick"),
            Ok(Task::Bench(crate::bench::Options { filter: None, rounds: QUICK_ROUNDS, quick: true, profile: None }))
        );
        assert_eq!(
            parse_line("bench --profile hypercall-domu"),
            Ok(Task::Bench(crate::bench::Options {
                filter: None,
                rounds: DEFAULT_ROUNDS,
                quick: false,
                profile: Some("hypercall-domu".into())
            }))
        );
        assert!(parse_line("bench --profile").is_err());
        assert!(parse_line("bench --profile hypercall-domu --quick").is_err());
        assert!(parse_line("bench --rounds 0").is_err());
        assert!(parse_line("bench --accel tcg").is_err());
        assert!(parse_line("run --quick").is_err());
    }

    #[test]
    fn simple_commands_parse() {
        assert_eq!(parse_line(""), Ok(Task::Help));
        assert_eq!(parse_line("--help"), Ok(Task::Help));
        assert_eq!(parse_line("build"), Ok(Task::Build));
        assert_eq!(parse_line("doctor"), Ok(Task::Doctor));
    }

    #[test]
    fn invalid_arguments_are_rejected() {
        let cases = [
            ("frobnicate", "unknown command 'frobnicate'"),
            ("run --accel", "--accel needs a value"),
            ("run --accel hvf", "invalid accelerator 'hvf'"),
            ("run --fast", "unknown option '--fast'"),
            ("build --direct", "`build` does not take --direct or --boot"),
            ("test --direct", "`test` does not take --direct or --boot"),
            ("doctor --accel kvm", "`doctor` does not take --accel"),
        ];
        for (line, expected) in cases {
            let error = parse_line(line).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
        }
    }
}
