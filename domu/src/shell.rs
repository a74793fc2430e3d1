//! The DomU console shell: a `NAME> ` prompt with line editing, and its commands.

use crate::identity::Identity;
use crate::terminal::{Text, write_text};
use alloc::boxed::Box;
use alloc::format;
use core::fmt::Write;
use dom0::line::{LineEditor, Output};
use hypercalls::Errno;
use hypercalls::sched::ShutdownReason;

/// Maximum run time that `spin` accepts, in seconds.
pub const MAX_SPIN_SECONDS: u64 = 3600;

const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;
/// Pages per MiB, for 4 KiB pages.
const PAGES_PER_MIB: u64 = 256;

const HELP: &str = "\
Commands:
  help            show this list
  info            show the domain's id, name, memory, ring and uptime
  echo TEXT       print TEXT
  spin SECONDS    busy-loop for SECONDS seconds without giving up the CPU
  crash           fault with no exception handler, so the hypervisor crashes the domain
  poweroff        shut the domain down
  xs-read PATH    print a xenstore value (relative paths start at the domain's home)
  xs-write PATH VALUE  set a xenstore value
  xs-ls PATH      list a xenstore node's children
  xs-watch PATH   watch a xenstore path; events print as they come
  ping DOM COUNT  send COUNT events to domain DOM over an event channel and time each reply
  reboot          shut the domain down and ask the toolstack to restart it
  grant-offer DOM grant a fresh patterned page to domain DOM, writable; prints gref= and checksum=
  grant-map DOM GREF [ro|rw]  map grant GREF of domain DOM; prints handle= and the page's checksum=
  grant-read HANDLE  print the checksum of the page that HANDLE maps
  grant-unmap HANDLE  remove the mapping HANDLE
  grant-flags GREF   print the flags of this domain's grant entry GREF
  grant-revoke GREF  clear entry GREF's flags with a compare-exchange; fails while it is mapped
";

/// Kernel services that the shell uses: raw console output and a few
/// hypercalls. Tests supply a fake.
pub trait Platform: Output {
    /// Returns the system time in nanoseconds since the hypervisor booted,
    /// `None` when the hypervisor publishes no time.
    fn system_time_ns(&mut self) -> Option<u64>;

    /// Returns the ring the kernel runs in, read from its CS register.
    fn ring(&self) -> u8;

    /// Stops the domain with `reason`. Returns only when the hypervisor
    /// rejected the request, with the error.
    fn shutdown(&mut self, reason: ShutdownReason) -> Errno;

    /// Faults with no exception handler installed, which makes the
    /// hypervisor crash the domain. Returns only if the domain survived, with
    /// a description of what went wrong.
    fn crash(&mut self) -> &'static str;

    /// Sends one xenstore request of type `kind` and returns the reply's
    /// payload or the error name Dom0 sent.
    fn xenstore_request(&mut self, kind: u32, payload: &[u8]) -> Result<alloc::vec::Vec<u8>, hypercalls::xenstore::StoreError>;

    /// Pings domain `remote` `count` times from domain `own` (see
    /// `guest::ping`), writing a line per reply and the summary.
    fn ping(&mut self, own: u16, remote: u16, count: u32) {
        let _ = (own, remote, count);
        write_text(self, "ping: event channels are not available on this platform\n");
    }

    /// Grants a fresh page filled with `grant_commands::pattern_byte` to
    /// `peer`, writable. Returns the ref and the page's checksum.
    fn grant_offer(&mut self, peer: hypercalls::DomId) -> Result<(u32, u32), alloc::string::String> {
        let _ = peer;
        Err(GRANTS_UNAVAILABLE.into())
    }

    /// Maps grant `gref` of `granter`. Returns the handle and the checksum
    /// of the page read through the mapping.
    fn grant_map(&mut self, granter: hypercalls::DomId, gref: u32, writable: bool) -> Result<(u32, u32), alloc::string::String> {
        let _ = (granter, gref, writable);
        Err(GRANTS_UNAVAILABLE.into())
    }

    /// Returns the checksum of the page that `handle` maps.
    fn grant_read(&mut self, handle: u32) -> Result<u32, alloc::string::String> {
        let _ = handle;
        Err(GRANTS_UNAVAILABLE.into())
    }

    /// Removes the mapping `handle`.
    fn grant_unmap(&mut self, handle: u32) -> Result<(), alloc::string::String> {
        let _ = handle;
        Err(GRANTS_UNAVAILABLE.into())
    }

    /// Returns the flags of this domain's grant entry `gref`.
    fn grant_flags(&mut self, gref: u32) -> Result<u16, alloc::string::String> {
        let _ = gref;
        Err(GRANTS_UNAVAILABLE.into())
    }

    /// Tries to end grant `gref` with a compare-exchange of its flags from
    /// `GTF_permit_access` to 0.
    fn grant_revoke(&mut self, gref: u32) -> Result<crate::grant_commands::Revoke, alloc::string::String> {
        let _ = gref;
        Err(GRANTS_UNAVAILABLE.into())
    }
}

const GRANTS_UNAVAILABLE: &str = "grant tables are not available on this platform";

/// The shell: a line editor plus the domain's identity and size.
pub struct Shell {
    editor: LineEditor,
    identity: Identity,
    nr_pages: u64,
}

impl Shell {
    /// Creates the shell of a domain with `nr_pages` pages of 4 KiB.
    pub fn new(identity: Identity, nr_pages: u64) -> Shell {
        // The editor takes a `&'static str` prompt. A kernel creates one
        // shell for its whole life, so leaking the prompt loses nothing.
        let prompt: &'static str = Box::leak(format!("{}> ", identity.name).into_boxed_str());
        Shell {
            editor: LineEditor::new(prompt),
            identity,
            nr_pages,
        }
    }

    /// Returns the domain's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Writes the first prompt.
    pub fn start(&mut self, platform: &mut impl Platform) {
        self.editor.start_line(platform);
    }

    /// Processes one byte of console input: edits the line, and on Enter
    /// runs the command and writes the next prompt.
    pub fn feed(&mut self, byte: u8, platform: &mut impl Platform) {
        let Some(line) = self.editor.feed(byte, platform) else {
            return;
        };
        self.execute(&line, platform);
        self.editor.start_line(platform);
    }

    /// Runs one command line and writes its output.
    pub fn execute(&mut self, line: &str, platform: &mut impl Platform) {
        let line = line.trim_start_matches(' ');
        let (command, argument) = match line.split_once(' ') {
            Some((command, rest)) => (command, rest.trim_start_matches(' ')),
            None => (line, ""),
        };

        match command {
            "" => {}
            "help" => write_text(platform, HELP),
            "info" => self.info(platform),
            "echo" => {
                write_text(platform, argument);
                write_text(platform, "\n");
            }
            "spin" => spin(argument.trim_end_matches(' '), platform),
            "crash" => {
                let problem = platform.crash();
                let _ = writeln!(Text(platform), "crash: {problem}");
            }
            "poweroff" => shutdown(ShutdownReason::Poweroff, platform),
            "reboot" => shutdown(ShutdownReason::Reboot, platform),
            "ping" => self.ping(argument, platform),
            xenstore if crate::xenstore_commands::run(xenstore, argument, platform) => {}
            grant if crate::grant_commands::run(grant, argument, platform) => {}
            unknown => {
                let _ = writeln!(
                    Text(platform),
                    "{}: unknown command '{unknown}'; type 'help' for the list of commands",
                    self.identity.name
                );
            }
        }
    }

    fn ping(&self, argument: &str, platform: &mut impl Platform) {
        let Some(own) = self.identity.domid else {
            write_text(platform, "ping: this domain does not know its domain id (no domid= on its command line)\n");
            return;
        };
        match guest::ping::parse_arguments(argument, own) {
            Ok((remote, count)) => platform.ping(own, remote, count),
            Err(message) => {
                let _ = writeln!(Text(platform), "{message}");
            }
        }
    }

    fn info(&self, platform: &mut impl Platform) {
        let uptime = match platform.system_time_ns() {
            Some(nanoseconds) => format_seconds(nanoseconds),
            None => "unknown (the hypervisor publishes no system time)".into(),
        };
        let ring = platform.ring();
        let _ = write!(
            Text(platform),
            "domid : {}\nname : {}\nmemory : {} MiB\nring : {ring}\nuptime : {uptime}\n",
            self.identity.domid_text(),
            self.identity.name,
            self.nr_pages / PAGES_PER_MIB,
        );
    }
}

/// Formats nanoseconds as seconds with three decimals: `12.345 s`.
pub fn format_seconds(nanoseconds: u64) -> alloc::string::String {
    let seconds = nanoseconds / NANOSECONDS_PER_SECOND;
    let milliseconds = nanoseconds % NANOSECONDS_PER_SECOND / 1_000_000;
    format!("{seconds}.{milliseconds:03} s")
}

/// Parses the argument of `spin`: whole seconds from 0 to [`MAX_SPIN_SECONDS`].
pub fn parse_spin_seconds(argument: &str) -> Result<u64, alloc::string::String> {
    if argument.is_empty() {
        return Err("spin: missing SECONDS; usage: spin SECONDS".into());
    }
    let valid = argument.bytes().all(|byte| byte.is_ascii_digit());
    match argument.parse::<u64>() {
        Ok(seconds) if valid && seconds <= MAX_SPIN_SECONDS => Ok(seconds),
        _ => Err(format!(
            "spin: invalid SECONDS '{argument}'; expected a whole number from 0 to {MAX_SPIN_SECONDS}"
        )),
    }
}

/// Busy-loops on the system time for the given seconds without yielding,
/// so the hypervisor has to preempt the domain to run others.
fn spin(argument: &str, platform: &mut impl Platform) {
    let seconds = match parse_spin_seconds(argument) {
        Ok(seconds) => seconds,
        Err(message) => {
            let _ = writeln!(Text(platform), "{message}");
            return;
        }
    };
    let Some(start) = platform.system_time_ns() else {
        write_text(
            platform,
            "spin: the hypervisor publishes no system time, so seconds cannot be measured\n",
        );
        return;
    };

    let deadline = start.saturating_add(seconds * NANOSECONDS_PER_SECOND);
    loop {
        match platform.system_time_ns() {
            Some(now) if now >= deadline => break,
            Some(_) => core::hint::spin_loop(),
            None => {
                write_text(
                    platform,
                    "spin: the hypervisor stopped publishing system time; stopped early\n",
                );
                return;
            }
        }
    }
    let _ = writeln!(Text(platform), "spun {seconds} s");
}

fn shutdown(reason: ShutdownReason, platform: &mut impl Platform) {
    let errno = platform.shutdown(reason);
    let _ = writeln!(
        Text(platform),
        "{}: SCHEDOP_shutdown failed: {errno}",
        reason.name()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// A platform whose clock advances by `tick` nanoseconds on every read.
    struct FakePlatform {
        output: Vec<u8>,
        now: Option<u64>,
        tick: u64,
        clock_reads: u64,
        shutdowns: Vec<ShutdownReason>,
        crashes: u32,
        xs_requests: Vec<(u32, Vec<u8>)>,
    }

    impl FakePlatform {
        fn new() -> FakePlatform {
            FakePlatform {
                output: Vec::new(),
                now: Some(0),
                tick: 0,
                clock_reads: 0,
                shutdowns: Vec::new(),
                crashes: 0,
                xs_requests: Vec::new(),
            }
        }

        fn take_output(&mut self) -> String {
            String::from_utf8(core::mem::take(&mut self.output)).unwrap()
        }
    }

    impl Output for FakePlatform {
        fn write(&mut self, bytes: &[u8]) {
            self.output.extend_from_slice(bytes);
        }
    }

    impl Platform for FakePlatform {
        fn system_time_ns(&mut self) -> Option<u64> {
            self.clock_reads += 1;
            let now = self.now?;
            self.now = Some(now + self.tick);
            Some(now)
        }

        fn ring(&self) -> u8 {
            1
        }

        fn shutdown(&mut self, reason: ShutdownReason) -> Errno {
            self.shutdowns.push(reason);
            Errno::EPERM
        }

        fn crash(&mut self) -> &'static str {
            self.crashes += 1;
            "ud2 with no handler returned"
        }

        /// Returns `guest1` for reads, two names for directories and
        /// EACCES for any path of domain 2, and records every request.
        fn xenstore_request(&mut self, kind: u32, payload: &[u8]) -> Result<Vec<u8>, hypercalls::xenstore::StoreError> {
            self.xs_requests.push((kind, payload.to_vec()));
            if payload.starts_with(b"/local/domain/2") {
                return Err(hypercalls::xenstore::StoreError::Acces);
            }
            Ok(match kind {
                2 => b"guest1".to_vec(),
                1 => b"a\0b\0".to_vec(),
                _ => b"OK\0".to_vec(),
            })
        }
    }

    #[test]
    fn xs_read_prints_value_or_error() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(run(&mut shell, &mut platform, "xs-read name"), "guest1\r\n");
        assert_eq!(platform.xs_requests, [(2, b"name\0".to_vec())]);
        assert_eq!(
            run(&mut shell, &mut platform, "xs-read /local/domain/2/name"),
            "xs-read: /local/domain/2/name: failed: EACCES\r\n"
        );
    }

    #[test]
    fn xs_write_sends_path_and_value() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(run(&mut shell, &mut platform, "xs-write data/greeting hello world"), "");
        assert_eq!(platform.xs_requests, [(11, b"data/greeting\0hello world".to_vec())]);
        assert_eq!(
            run(&mut shell, &mut platform, "xs-write data"),
            "xs-write: wrong number of arguments; usage: xs-write PATH VALUE\r\n"
        );
    }

    #[test]
    fn xs_ls_and_watch() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(run(&mut shell, &mut platform, "xs-ls data"), "a\r\nb\r\n");
        assert_eq!(
            run(&mut shell, &mut platform, "xs-watch data"),
            "xs-watch: watching data; events print as they come\r\n"
        );
        assert_eq!(platform.xs_requests[1], (4, b"data\0xs-watch\0".to_vec()));
    }

    fn guest1() -> Shell {
        let identity = Identity {
            name: "guest1".into(),
            domid: Some(7),
        };
        Shell::new(identity, 64 * 256)
    }

    fn run(shell: &mut Shell, platform: &mut FakePlatform, line: &str) -> String {
        shell.execute(line, platform);
        platform.take_output()
    }

    #[test]
    fn prompt_shows_the_name() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        shell.start(&mut platform);
        assert_eq!(platform.take_output(), "guest1> ");
    }

    #[test]
    fn typed_line_runs_and_prompts_again() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        shell.start(&mut platform);
        for &byte in b"echo hi\r" {
            shell.feed(byte, &mut platform);
        }
        assert_eq!(platform.take_output(), "guest1> echo hi\r\nhi\r\nguest1> ");
    }

    #[test]
    fn info_lists_identity_and_resources() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        platform.now = Some(83_456_789_012);
        let output = run(&mut shell, &mut platform, "info");
        assert_eq!(
            output,
            "domid : 7\r\nname : guest1\r\nmemory : 64 MiB\r\nring : 1\r\nuptime : 83.456 s\r\n"
        );
    }

    #[test]
    fn info_shows_unknown_domid() {
        let identity = Identity {
            name: "domu".into(),
            domid: None,
        };
        let mut shell = Shell::new(identity, 256);
        let mut platform = FakePlatform::new();
        let output = run(&mut shell, &mut platform, "info");
        assert!(
            output.starts_with("domid : ?\r\nname : domu\r\nmemory : 1 MiB\r\n"),
            "{output:?}"
        );
    }

    #[test]
    fn info_without_system_time() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        platform.now = None;
        let output = run(&mut shell, &mut platform, "info");
        assert!(output.contains("uptime : unknown"), "{output:?}");
    }

    #[test]
    fn help_lists_every_command() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        let output = run(&mut shell, &mut platform, "help");
        for command in [
            "help", "info", "echo", "spin", "crash", "poweroff", "reboot", "grant-offer", "grant-map",
            "grant-read", "grant-unmap", "grant-flags", "grant-revoke",
        ] {
            assert!(
                output.contains(&format!("\n  {command} ")),
                "help lacks {command}: {output:?}"
            );
        }
    }

    #[test]
    fn echo_prints_the_rest_of_the_line() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(
            run(&mut shell, &mut platform, "echo hello  world"),
            "hello  world\r\n"
        );
        assert_eq!(
            run(&mut shell, &mut platform, "  echo   spaced"),
            "spaced\r\n"
        );
        assert_eq!(run(&mut shell, &mut platform, "echo"), "\r\n");
    }

    #[test]
    fn blank_line_prints_nothing() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(run(&mut shell, &mut platform, ""), "");
        assert_eq!(run(&mut shell, &mut platform, "   "), "");
    }

    #[test]
    fn unknown_command_names_the_domain() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(
            run(&mut shell, &mut platform, "x"),
            "guest1: unknown command 'x'; type 'help' for the list of commands\r\n"
        );
    }

    #[test]
    fn spin_runs_until_the_deadline() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        platform.now = Some(5_000);
        platform.tick = 100_000_000;
        assert_eq!(run(&mut shell, &mut platform, "spin 2"), "spun 2 s\r\n");
        // One read for the start, then one read per 0.1 s until the 20th reaches 2 s.
        assert_eq!(platform.clock_reads, 21);
        assert_eq!(platform.now, Some(5_000 + 21 * 100_000_000));
    }

    #[test]
    fn spin_zero_returns_at_once() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        platform.tick = 1;
        assert_eq!(run(&mut shell, &mut platform, "spin 0"), "spun 0 s\r\n");
        assert_eq!(platform.clock_reads, 2);
    }

    #[test]
    fn spin_rejects_bad_arguments() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        assert_eq!(
            run(&mut shell, &mut platform, "spin"),
            "spin: missing SECONDS; usage: spin SECONDS\r\n"
        );
        for argument in ["abc", "-1", "+1", "1.5", "3601", "99999999999999999999"] {
            let output = run(&mut shell, &mut platform, &format!("spin {argument}"));
            assert_eq!(
                output,
                format!(
                    "spin: invalid SECONDS '{argument}'; expected a whole number from 0 to 3600\r\n"
                )
            );
        }
        assert_eq!(platform.clock_reads, 0);
    }

    #[test]
    fn spin_accepts_the_maximum() {
        assert_eq!(parse_spin_seconds("3600"), Ok(MAX_SPIN_SECONDS));
    }

    #[test]
    fn spin_without_system_time_fails() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        platform.now = None;
        let output = run(&mut shell, &mut platform, "spin 1");
        assert!(
            output.starts_with("spin: the hypervisor publishes no system time"),
            "{output:?}"
        );
    }

    #[test]
    fn poweroff_and_reboot_request_shutdown() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        let output = run(&mut shell, &mut platform, "poweroff");
        assert_eq!(output, "poweroff: SCHEDOP_shutdown failed: EPERM\r\n");
        run(&mut shell, &mut platform, "reboot");
        assert_eq!(
            platform.shutdowns,
            [ShutdownReason::Poweroff, ShutdownReason::Reboot]
        );
    }

    #[test]
    fn crash_reports_survival() {
        let mut shell = guest1();
        let mut platform = FakePlatform::new();
        let output = run(&mut shell, &mut platform, "crash");
        assert_eq!(platform.crashes, 1);
        assert_eq!(output, "crash: ud2 with no handler returned\r\n");
    }

    #[test]
    fn seconds_have_three_decimals() {
        assert_eq!(format_seconds(0), "0.000 s");
        assert_eq!(format_seconds(1_005_000_000), "1.005 s");
        assert_eq!(format_seconds(59_999_999_999), "59.999 s");
    }
}
