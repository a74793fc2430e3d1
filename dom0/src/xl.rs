//! `xl`: the toolstack's subcommands, printed in the layout of Xen's `xl`.

use alloc::format;
use alloc::string::String;

use crate::commands::{Platform, describe_errno, no_arguments, write_line, write_text};

/// Column that `xl info` pads its keys to, as Xen's `xl info` does.
const INFO_KEY_WIDTH: usize = 23;
/// Pages in one MiB, because `xl info` prints memory in MiB, rounded down.
const PAGES_PER_MIB: u64 = (1 << 20) / hypercalls::PAGE_SIZE as u64;

const HELP: &str = "\
Usage: xl SUBCOMMAND
Subcommands:
  info   print host and hypervisor information
  dmesg  print the hypervisor's log buffer
  help   list these subcommands
";

/// Runs `xl` with `arguments`, the words after `xl`.
pub(crate) fn run(arguments: &[String], platform: &mut impl Platform) {
    let Some((subcommand, rest)) = arguments.split_first() else {
        write_text(platform, HELP.as_bytes());
        return;
    };

    match subcommand.as_str() {
        "help" => {
            if no_arguments(platform, "xl help", rest) {
                write_text(platform, HELP.as_bytes());
            }
        }
        "info" => {
            if no_arguments(platform, "xl info", rest) {
                info(platform);
            }
        }
        "dmesg" => {
            if no_arguments(platform, "xl dmesg", rest) {
                dmesg(platform);
            }
        }
        unknown => write_line(
            platform,
            &format!("xl: unknown subcommand '{unknown}'; run 'xl help' for the list"),
        ),
    }
}

/// `xl info`: one `key : value` line per fact. A failed hypercall prints one
/// error line where its first key would be, and the keys that depend on it are
/// left out.
fn info(platform: &mut impl Platform) {
    write_info(platform, "host", "hospes");
    write_info(platform, "release", env!("CARGO_PKG_VERSION"));

    match platform.physinfo() {
        Ok(physinfo) => {
            write_info(platform, "nr_cpus", &format!("{}", physinfo.nr_cpus));
            write_info(platform, "cpu_khz", &format!("{}", physinfo.cpu_khz));
            write_info(
                platform,
                "total_memory",
                &format!("{}", physinfo.total_pages / PAGES_PER_MIB),
            );
            write_info(
                platform,
                "free_memory",
                &format!("{}", physinfo.free_pages / PAGES_PER_MIB),
            );
        }
        Err(errno) => write_info_error(platform, "physinfo", errno),
    }

    match platform.domain_count() {
        Ok(count) => write_info(platform, "nr_domains", &format!("{count}")),
        Err(errno) => write_info_error(platform, "nr_domains", errno),
    }

    let (major, minor) = platform.xen_version();
    write_info(platform, "xen_major", &format!("{major}"));
    write_info(platform, "xen_minor", &format!("{minor}"));
    match platform.xen_extra_version() {
        Ok(extra) => {
            write_info(platform, "xen_extra", &extra);
            write_info(platform, "xen_version", &format!("{major}.{minor}{extra}"));
        }
        Err(errno) => write_info_error(platform, "xen_extra", errno),
    }

    match platform.xen_capabilities() {
        Ok(capabilities) => write_info(platform, "xen_caps", &capabilities),
        Err(errno) => write_info_error(platform, "xen_caps", errno),
    }

    let ring = platform.current_ring();
    write_info(platform, "dom0_ring", &format!("{ring}"));
}

fn write_info(platform: &mut impl Platform, key: &str, value: &str) {
    write_line(platform, &format!("{key:<INFO_KEY_WIDTH$}: {value}"));
}

fn write_info_error(platform: &mut impl Platform, what: &str, errno: hypercalls::Errno) {
    write_line(
        platform,
        &format!("xl info: cannot read {what}: {}", describe_errno(errno)),
    );
}

/// `xl dmesg`: prints the hypervisor's log buffer.
fn dmesg(platform: &mut impl Platform) {
    match platform.read_dmesg() {
        Ok(log) => write_text(platform, &log),
        Err(errno) => {
            let message = format!(
                "xl dmesg: cannot read the hypervisor log: {}",
                describe_errno(errno)
            );
            write_line(platform, &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec::Vec;

    use hypercalls::Errno;

    use crate::commands::run;
    use crate::testing::MockPlatform;

    fn run_on(platform: &mut MockPlatform, line: &str) -> Vec<String> {
        platform.output.clear();
        run(line, platform);
        platform.lines()
    }

    fn output_of(line: &str) -> Vec<String> {
        run_on(&mut MockPlatform::new(), line)
    }

    const FULL_INFO: [&str; 13] = [
        "host                   : hospes",
        "release                : 0.1.0",
        "nr_cpus                : 1",
        "cpu_khz                : 2994000",
        "total_memory           : 128",
        "free_memory            : 61",
        "nr_domains             : 1",
        "xen_major              : 4",
        "xen_minor              : 19",
        "xen_extra              : -hospes",
        "xen_version            : 4.19-hospes",
        "xen_caps               : xen-3.0-x86_64",
        "dom0_ring              : 1",
    ];

    #[test]
    fn info_prints_every_key_in_order() {
        let lines = output_of("xl info");
        assert_eq!(lines, FULL_INFO);
    }

    #[test]
    fn info_release_is_crate_version() {
        let lines = output_of("xl info");
        assert_eq!(
            lines[1],
            format!("release                : {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn info_memory_rounds_down_to_mib() {
        let mut platform = MockPlatform::new();
        if let Ok(physinfo) = platform.physinfo.as_mut() {
            physinfo.total_pages = 255;
            physinfo.free_pages = 257;
        }
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(lines[4], "total_memory           : 0");
        assert_eq!(lines[5], "free_memory            : 1");
    }

    #[test]
    fn info_huge_memory_does_not_overflow() {
        let mut platform = MockPlatform::new();
        if let Ok(physinfo) = platform.physinfo.as_mut() {
            physinfo.total_pages = u64::MAX;
        }
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(
            lines[4],
            format!("total_memory           : {}", u64::MAX / 256)
        );
    }

    #[test]
    fn info_reports_ring_from_platform() {
        let mut platform = MockPlatform::new();
        platform.ring = 3;
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(lines[12], "dom0_ring              : 3");
    }

    #[test]
    fn info_physinfo_failure() {
        let mut platform = MockPlatform::new();
        platform.physinfo = Err(Errno::EPERM);
        let lines = run_on(&mut platform, "xl info");
        let mut expected: Vec<&str> = Vec::new();
        expected.extend(&FULL_INFO[..2]);
        expected.push("xl info: cannot read physinfo: EPERM (-1)");
        expected.extend(&FULL_INFO[6..]);
        assert_eq!(lines, expected);
    }

    #[test]
    fn info_domain_count_failure() {
        let mut platform = MockPlatform::new();
        platform.domains = Err(Errno::EFAULT);
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(lines[6], "xl info: cannot read nr_domains: EFAULT (-14)");
        assert_eq!(lines[7..], FULL_INFO[7..]);
    }

    #[test]
    fn info_extra_version_failure() {
        let mut platform = MockPlatform::new();
        platform.extra = Err(Errno::ENOSYS);
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(lines[..9], FULL_INFO[..9]);
        assert_eq!(lines[9], "xl info: cannot read xen_extra: ENOSYS (-38)");
        assert_eq!(lines[10..], FULL_INFO[11..]);
    }

    #[test]
    fn info_capabilities_failure() {
        let mut platform = MockPlatform::new();
        platform.capabilities = Err(Errno::EINVAL);
        let lines = run_on(&mut platform, "xl info");
        assert_eq!(lines[..11], FULL_INFO[..11]);
        assert_eq!(lines[11], "xl info: cannot read xen_caps: EINVAL (-22)");
        assert_eq!(lines[12], FULL_INFO[12]);
    }

    #[test]
    fn info_every_hypercall_failing() {
        let mut platform = MockPlatform::new();
        platform.physinfo = Err(Errno::EACCES);
        platform.domains = Err(Errno::EACCES);
        platform.extra = Err(Errno::EACCES);
        platform.capabilities = Err(Errno::EACCES);
        assert_eq!(
            run_on(&mut platform, "xl info"),
            [
                "host                   : hospes",
                "release                : 0.1.0",
                "xl info: cannot read physinfo: EACCES (-13)",
                "xl info: cannot read nr_domains: EACCES (-13)",
                "xen_major              : 4",
                "xen_minor              : 19",
                "xl info: cannot read xen_extra: EACCES (-13)",
                "xl info: cannot read xen_caps: EACCES (-13)",
                "dom0_ring              : 1",
            ]
        );
    }

    #[test]
    fn info_rejects_arguments() {
        assert_eq!(
            output_of("xl info -n"),
            ["xl info: unexpected argument '-n'; run 'xl info' with no arguments"]
        );
    }

    #[test]
    fn dmesg_converts_line_ends() {
        let mut platform = MockPlatform::new();
        platform.dmesg = Ok(b"(XEN) Hospes 4.19\n(XEN) Dom0 started\r\n(XEN) no newline".to_vec());
        run("xl dmesg", &mut platform);
        assert_eq!(
            platform.output_text(),
            "(XEN) Hospes 4.19\r\n(XEN) Dom0 started\r\n(XEN) no newline\r\n"
        );
    }

    #[test]
    fn dmesg_empty_log_prints_nothing() {
        let mut platform = MockPlatform::new();
        platform.dmesg = Ok(Vec::new());
        run("xl dmesg", &mut platform);
        assert!(platform.output.is_empty());
    }

    #[test]
    fn dmesg_failure() {
        let mut platform = MockPlatform::new();
        platform.dmesg = Err(Errno::EPERM);
        assert_eq!(
            run_on(&mut platform, "xl dmesg"),
            ["xl dmesg: cannot read the hypervisor log: EPERM (-1)"]
        );
    }

    #[test]
    fn dmesg_rejects_arguments() {
        assert_eq!(
            output_of("xl dmesg -c"),
            ["xl dmesg: unexpected argument '-c'; run 'xl dmesg' with no arguments"]
        );
    }

    #[test]
    fn xl_alone_and_xl_help_list_subcommands() {
        let alone = output_of("xl");
        assert_eq!(alone, output_of("xl help"));
        assert_eq!(alone[0], "Usage: xl SUBCOMMAND");
        for subcommand in ["info", "dmesg", "help"] {
            assert!(
                alone
                    .iter()
                    .any(|line| line.starts_with(&format!("  {subcommand} "))),
                "xl help has no line for {subcommand}: {alone:?}"
            );
        }
    }

    #[test]
    fn xl_unknown_subcommand() {
        assert_eq!(
            output_of("xl frobnicate"),
            ["xl: unknown subcommand 'frobnicate'; run 'xl help' for the list"]
        );
    }
}
