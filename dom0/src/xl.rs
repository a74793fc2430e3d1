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
  create [-c] [-w] FILE  create a domain from a config file (-c: attach its console, -w: wait until it is up)
  list [DOM]             list domains
  console DOM            attach to a domain's console; Ctrl-] detaches
  pause DOM              pause a domain
  unpause DOM            unpause a domain
  shutdown DOM           shut a domain down (its on_poweroff action follows)
  reboot DOM             reboot a domain (its on_reboot action follows)
  destroy DOM            destroy a domain at once
  evtchn-list DOM        list a domain's event channels and their peers
  sharing                show the event channels and grants that connect domains
  sched-credit [-d DOM] [-w WEIGHT]
                         show or set credit-scheduler weights (1-65535, default 256)
  info                   print host and hypervisor information
  dmesg                  print the hypervisor's log buffer
  help                   list these subcommands
";

/// A domain-management request for the toolstack, parsed from `xl` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XlCommand {
    Create { path: String, console: bool, wait: bool },
    List { domain: Option<String> },
    Console(String),
    Pause(String),
    Unpause(String),
    Shutdown(String),
    Reboot(String),
    Destroy(String),
    SchedCredit { domain: Option<String>, weight: Option<u16> },
    EvtchnList(String),
    Sharing,
}

/// One grant a domain offers, as the hypervisor lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub granter: u16,
    pub gref: u32,
    pub peer: u16,
    pub readonly: bool,
    pub frame: u64,
    /// Mappings that use the grant now.
    pub pins: u32,
}

/// Formats `xl sharing`: every interdomain channel once, unbound ports
/// waiting for a peer, and every grant offer with whether it is mapped.
/// `ports` contains (domain, port status) pairs; `name` gives a domain's name.
pub fn format_sharing(ports: &[(u16, PortStatus)], offers: &[Offer], name: impl Fn(u16) -> String) -> alloc::vec::Vec<String> {
    let label = |id: u16| format!("{} ({id})", name(id));
    let mut lines = alloc::vec![String::from("Event channels:")];
    let mut channels = 0;
    for &(id, port) in ports {
        let remote = port.first as u16;
        let line = match port.status {
            // Each channel appears on both ends; print it from the lower (domain, port) end.
            2 if (id, port.port) <= (remote, port.second) => {
                format!("  {} port {} <-> {} port {}", label(id), port.port, label(remote), port.second)
            }
            1 => format!("  {} port {} -> waiting for {}", label(id), port.port, label(remote)),
            _ => continue,
        };
        lines.push(line);
        channels += 1;
    }
    if channels == 0 {
        lines.push(String::from("  (none)"));
    }
    lines.push(String::from("Grants:"));
    for offer in offers {
        let access = if offer.readonly { "read-only" } else { "read-write" };
        let use_text = if offer.pins == 0 { String::from("not mapped") } else { format!("mapped {} time(s)", offer.pins) };
        lines.push(format!(
            "  {} ref {} -> {} {access} frame {:#x}, {use_text}",
            label(offer.granter),
            offer.gref,
            label(offer.peer),
            offer.frame
        ));
    }
    if offers.is_empty() {
        lines.push(String::from("  (none)"));
    }
    lines
}

/// One event-channel port as `EVTCHNOP_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortStatus {
    pub port: u32,
    /// `EVTCHNSTAT_*`.
    pub status: u32,
    pub vcpu: u32,
    /// Remote domain (unbound, interdomain) or VIRQ number.
    pub first: u32,
    /// Remote port (interdomain).
    pub second: u32,
}

/// Formats `xl evtchn-list`: a header and one line per open port.
pub fn format_ports(ports: &[PortStatus]) -> alloc::vec::Vec<String> {
    let mut lines = alloc::vec![String::from("Port  State        Details")];
    for port in ports {
        let (state, details) = match port.status {
            1 => ("unbound", format!("waiting for domain {}", port.first)),
            2 => ("interdomain", format!("domain {} port {}", port.first, port.second)),
            3 => ("pirq", format!("pirq {}", port.first)),
            4 => ("virq", format!("VIRQ {} ({}) vcpu {}", port.first, virq_name(port.first), port.vcpu)),
            5 => ("ipi", format!("vcpu {}", port.vcpu)),
            _ => continue,
        };
        lines.push(format!("{:>4}  {state:<11}  {details}", port.port));
    }
    lines
}

fn virq_name(virq: u32) -> &'static str {
    match virq {
        0 => "timer",
        1 => "debug",
        2 => "console",
        3 => "dom_exc",
        4 => "tbuf",
        6 => "debugger",
        8 => "con_ring",
        _ => "other",
    }
}

/// Parses `xl sched-credit [-d DOM] [-w WEIGHT]`.
fn parse_sched_credit(rest: &[String]) -> Result<XlCommand, String> {
    const USAGE: &str = "usage: xl sched-credit [-d DOM] [-w WEIGHT]";
    let mut domain = None;
    let mut weight = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        let value = words.next();
        match (word.as_str(), value) {
            ("-d", Some(value)) => domain = Some(value.clone()),
            ("-w", Some(value)) => {
                let parsed = value.parse::<u16>().ok().filter(|&weight| weight > 0).ok_or_else(|| {
                    format!("xl sched-credit: invalid weight '{value}': expected 1 to 65535")
                })?;
                weight = Some(parsed);
            }
            ("-d" | "-w", None) => return Err(format!("xl sched-credit: {word} needs a value; {USAGE}")),
            (other, _) => return Err(format!("xl sched-credit: unexpected argument '{other}'; {USAGE}")),
        }
    }
    if weight.is_some() && domain.is_none() {
        return Err(format!("xl sched-credit: -w needs -d DOM; {USAGE}"));
    }
    Ok(XlCommand::SchedCredit { domain, weight })
}

/// Parses `xl create [-c] [-w] FILE`.
fn parse_create(rest: &[String]) -> Result<XlCommand, String> {
    let mut console = false;
    let mut wait = false;
    let mut path = None;
    for word in rest {
        match word.as_str() {
            "-c" => console = true,
            "-w" => wait = true,
            option if option.starts_with('-') => {
                return Err(format!("xl create: unknown option '{option}'; usage: xl create [-c] [-w] FILE"));
            }
            file if path.is_none() => path = Some(file.into()),
            extra => return Err(format!("xl create: unexpected argument '{extra}'; usage: xl create [-c] [-w] FILE")),
        }
    }
    let path = path.ok_or_else(|| String::from("xl create: missing config file; usage: xl create [-c] [-w] FILE"))?;
    Ok(XlCommand::Create { path, console, wait })
}

/// Parses a subcommand that takes exactly one domain name or id.
fn parse_domain(subcommand: &str, rest: &[String]) -> Result<String, String> {
    match rest {
        [domain] => Ok(domain.clone()),
        [] => Err(format!("xl {subcommand}: missing domain; usage: xl {subcommand} DOM")),
        [_, extra, ..] => Err(format!("xl {subcommand}: unexpected argument '{extra}'; usage: xl {subcommand} DOM")),
    }
}

fn parse_command(subcommand: &str, rest: &[String]) -> Option<Result<XlCommand, String>> {
    let parsed = match subcommand {
        "create" => parse_create(rest),
        "list" => match rest {
            [] => Ok(XlCommand::List { domain: None }),
            [domain] => Ok(XlCommand::List { domain: Some(domain.clone()) }),
            [_, extra, ..] => Err(format!("xl list: unexpected argument '{extra}'; usage: xl list [DOM]")),
        },
        "console" => parse_domain(subcommand, rest).map(XlCommand::Console),
        "pause" => parse_domain(subcommand, rest).map(XlCommand::Pause),
        "unpause" => parse_domain(subcommand, rest).map(XlCommand::Unpause),
        "shutdown" => parse_domain(subcommand, rest).map(XlCommand::Shutdown),
        "reboot" => parse_domain(subcommand, rest).map(XlCommand::Reboot),
        "destroy" => parse_domain(subcommand, rest).map(XlCommand::Destroy),
        "sched-credit" => parse_sched_credit(rest),
        "evtchn-list" => parse_domain(subcommand, rest).map(XlCommand::EvtchnList),
        "sharing" => match rest {
            [] => Ok(XlCommand::Sharing),
            [extra, ..] => Err(format!("xl sharing: unexpected argument '{extra}'; run 'xl sharing' with no arguments")),
        },
        _ => return None,
    };
    Some(parsed)
}

/// Runs `xl` with `arguments`, the words after `xl`.
pub(crate) fn run(arguments: &[String], platform: &mut impl Platform) {
    let Some((subcommand, rest)) = arguments.split_first() else {
        write_text(platform, HELP.as_bytes());
        return;
    };

    if let Some(parsed) = parse_command(subcommand, rest) {
        let outcome = parsed.and_then(|command| platform.xl_domain(command));
        if let Err(message) = outcome {
            write_line(platform, &message);
        }
        return;
    }

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
    use alloc::vec::Vec;

    use hypercalls::Errno;

    use super::XlCommand;
    use crate::commands::run;
    use crate::testing::{MockPlatform, output_of, run_on};


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

    #[test]
    fn create_parses_flags_and_file() {
        let mut platform = MockPlatform::new();
        assert!(run_on(&mut platform, "xl create -c -w /etc/xen/guest1.cfg").is_empty());
        assert_eq!(
            platform.xl_commands,
            [XlCommand::Create { path: "/etc/xen/guest1.cfg".into(), console: true, wait: true }]
        );
    }

    #[test]
    fn create_usage_errors() {
        assert_eq!(output_of("xl create"), ["xl create: missing config file; usage: xl create [-c] [-w] FILE"]);
        assert_eq!(output_of("xl create -x a.cfg"), ["xl create: unknown option '-x'; usage: xl create [-c] [-w] FILE"]);
        assert_eq!(output_of("xl create a.cfg b.cfg"), ["xl create: unexpected argument 'b.cfg'; usage: xl create [-c] [-w] FILE"]);
    }

    #[test]
    fn domain_subcommands_take_one_domain() {
        let mut platform = MockPlatform::new();
        for line in ["xl pause guest1", "xl unpause 3", "xl shutdown guest1", "xl reboot guest1", "xl destroy 2", "xl console guest2", "xl list", "xl list guest1"] {
            assert!(run_on(&mut platform, line).is_empty(), "{line}");
        }
        assert_eq!(platform.xl_commands.len(), 8);
        assert_eq!(platform.xl_commands[1], XlCommand::Unpause("3".into()));
        assert_eq!(platform.xl_commands[6], XlCommand::List { domain: None });
        assert_eq!(output_of("xl destroy"), ["xl destroy: missing domain; usage: xl destroy DOM"]);
        assert_eq!(output_of("xl pause a b"), ["xl pause: unexpected argument 'b'; usage: xl pause DOM"]);
    }

    #[test]
    fn toolstack_error_is_printed() {
        let mut platform = MockPlatform::new();
        platform.xl_result = Err("xl: domain 'ghost' not found; run 'xl list' to see the domains".into());
        assert_eq!(run_on(&mut platform, "xl destroy ghost"), ["xl: domain 'ghost' not found; run 'xl list' to see the domains"]);
    }

    #[test]
    fn sched_credit_parses_domain_and_weight() {
        let mut platform = MockPlatform::new();
        assert!(run_on(&mut platform, "xl sched-credit -d guest1 -w 512").is_empty());
        assert!(run_on(&mut platform, "xl sched-credit").is_empty());
        assert_eq!(
            platform.xl_commands,
            [
                XlCommand::SchedCredit { domain: Some("guest1".into()), weight: Some(512) },
                XlCommand::SchedCredit { domain: None, weight: None },
            ]
        );
    }

    #[test]
    fn sched_credit_rejects_bad_weights() {
        assert_eq!(output_of("xl sched-credit -d g -w 0"), ["xl sched-credit: invalid weight '0': expected 1 to 65535"]);
        assert_eq!(output_of("xl sched-credit -d g -w 70000"), ["xl sched-credit: invalid weight '70000': expected 1 to 65535"]);
        assert_eq!(output_of("xl sched-credit -w 5"), ["xl sched-credit: -w needs -d DOM; usage: xl sched-credit [-d DOM] [-w WEIGHT]"]);
        assert_eq!(output_of("xl sched-credit -d"), ["xl sched-credit: -d needs a value; usage: xl sched-credit [-d DOM] [-w WEIGHT]"]);
    }

    #[test]
    fn evtchn_list_formats_each_state() {
        use super::{PortStatus, format_ports};
        let ports = [
            PortStatus { port: 1, status: 2, vcpu: 0, first: 0, second: 7 },
            PortStatus { port: 2, status: 4, vcpu: 0, first: 2, second: 0 },
            PortStatus { port: 3, status: 1, vcpu: 0, first: 5, second: 0 },
            PortStatus { port: 4, status: 5, vcpu: 0, first: 0, second: 0 },
            PortStatus { port: 5, status: 0, vcpu: 0, first: 0, second: 0 },
        ];
        assert_eq!(
            format_ports(&ports),
            [
                "Port  State        Details",
                "   1  interdomain  domain 0 port 7",
                "   2  virq         VIRQ 2 (console) vcpu 0",
                "   3  unbound      waiting for domain 5",
                "   4  ipi          vcpu 0",
            ]
        );
        assert_eq!(output_of("xl evtchn-list"), ["xl evtchn-list: missing domain; usage: xl evtchn-list DOM"]);
    }

    #[test]
    fn sharing_shows_each_channel_once_and_grants() {
        use super::{Offer, PortStatus, format_sharing};
        let ports = [
            (0u16, PortStatus { port: 5, status: 2, vcpu: 0, first: 1, second: 1 }),
            (1u16, PortStatus { port: 1, status: 2, vcpu: 0, first: 0, second: 5 }),
            (1u16, PortStatus { port: 2, status: 1, vcpu: 0, first: 2, second: 0 }),
            (1u16, PortStatus { port: 3, status: 4, vcpu: 0, first: 0, second: 0 }),
        ];
        let offers = [Offer { granter: 1, gref: 8, peer: 2, readonly: true, frame: 0x1234, pins: 1 }];
        let name = |id: u16| match id {
            0 => String::from("Domain-0"),
            other => format!("guest{other}"),
        };
        assert_eq!(
            format_sharing(&ports, &offers, name),
            [
                "Event channels:",
                "  Domain-0 (0) port 5 <-> guest1 (1) port 1",
                "  guest1 (1) port 2 -> waiting for guest2 (2)",
                "Grants:",
                "  guest1 (1) ref 8 -> guest2 (2) read-only frame 0x1234, mapped 1 time(s)",
            ]
        );
        assert_eq!(format_sharing(&[], &[], name), ["Event channels:", "  (none)", "Grants:", "  (none)"]);
    }
}
