//! The shell's commands, run against a [`Platform`] that performs the
//! hypercalls and the console output.
//!
//! Every line of output ends with CR LF, because the terminal at the other end
//! of the serial line is in raw mode and does not add the CR itself.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::Errno;
use hypercalls::sysctl::PhysInfo;

use crate::attack::{self, AttackReport};
use crate::ramdisk::{self, Node};
use crate::xl;

/// Services that the shell needs from the kernel it runs in: console output,
/// the hypercalls behind `xl`, the ramdisk and the machine controls.
pub trait Platform {
    /// Writes bytes to the console as they are.
    fn write(&mut self, bytes: &[u8]);
    /// Returns the hypervisor's version as (major, minor).
    fn xen_version(&self) -> (u32, u32);
    /// Returns the version suffix, such as `-hospes`.
    fn xen_extra_version(&self) -> Result<String, Errno>;
    /// Returns the capabilities string, such as `xen-3.0-x86_64`.
    fn xen_capabilities(&self) -> Result<String, Errno>;
    /// Returns the host's CPU and memory figures (`XEN_SYSCTL_physinfo`).
    fn physinfo(&self) -> Result<PhysInfo, Errno>;
    /// Returns the number of domains that exist, Dom0 included.
    fn domain_count(&self) -> Result<u32, Errno>;
    /// Returns the contents of the hypervisor's log buffer.
    fn read_dmesg(&mut self) -> Result<Vec<u8>, Errno>;
    /// Returns the privilege ring that Dom0's code runs in, from the CS register.
    fn current_ring(&self) -> u8;
    /// Returns the ramdisk, a cpio newc archive, or an empty slice when there is none.
    fn ramdisk(&self) -> &'static [u8];
    /// Asks the hypervisor to power off the machine. The real Dom0 does not return.
    fn poweroff(&mut self);
    /// Executes `hlt` in ring 1 under an expected-fault guard and returns what
    /// the #GP handler recorded, or why the test could not run.
    fn selftest_trap(&mut self) -> Result<TrapReport, &'static str>;
    /// Removes Dom0's exception handlers and faults, which makes the
    /// hypervisor crash Dom0 and stop the machine. Returns only if the
    /// fault did not happen, with the reason.
    fn selftest_crash(&mut self) -> &'static str;
    /// Creates, fills and destroys domains through `domctl` and `memory_op`,
    /// returning each check's name and whether it passed.
    fn selftest_domain(&mut self) -> Vec<(String, bool)>;
    /// Returns the number of hostile cases `selftest attack` runs.
    fn attack_case_count(&mut self) -> usize;
    /// Runs hostile case `index`, below [`Platform::attack_case_count`], and
    /// returns its outcome.
    fn run_attack_case(&mut self, index: usize) -> AttackReport;
    /// Returns through the `iret` hypercall to a non-canonical RIP, which
    /// makes the hypervisor crash Dom0 and stop the machine. Returns only if
    /// that did not happen, with what happened instead.
    fn selftest_iret(&mut self) -> String;
    /// Runs a domain-management command, writing its output; returns the
    /// error line to print when it fails.
    fn xl_domain(&mut self, command: crate::xl::XlCommand) -> Result<(), String>;
    /// Returns true while the terminal is attached to a guest console, when
    /// the shell must not print its prompt.
    fn console_attached(&self) -> bool {
        false
    }
    /// Returns the xenstore that the `xenstore-*` commands act on as Dom0.
    fn xenstore(&mut self) -> &mut crate::xenstore::Store;
    /// Pings the DomU that `domain` names (a name or id) `count` times,
    /// writing a line per reply and the summary. Returns the error line
    /// when the ping cannot start.
    fn ping(&mut self, domain: &str, count: u32) -> Result<(), String>;
    /// Runs `bench ARGUMENTS`, writing `bench NAME UNIT VALUE` lines;
    /// returns the error line to print when it fails.
    fn bench(&mut self, _arguments: &[String]) -> Result<(), String> {
        Err(String::from("bench: benchmarks run only in the hypervisor's Dom0"))
    }
}

/// `ping DOM COUNT`: checks the arguments and lets the platform ping.
fn ping(arguments: &[String], platform: &mut impl Platform) {
    let [domain, count] = arguments else {
        write_line(platform, "ping: wrong number of arguments; usage: ping DOM COUNT");
        return;
    };
    let result = guest::ping::parse_count(count).and_then(|count| platform.ping(domain, count));
    if let Err(message) = result {
        write_line(platform, &message);
    }
}

/// A fault caught by the handler during `selftest trap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapReport {
    pub vector: u8,
    pub error_code: u64,
    /// Address of the faulting instruction.
    pub rip: u64,
}

/// Vector of the general protection fault (#GP).
const GENERAL_PROTECTION_VECTOR: u8 = 13;

const HELP: &str = "\
Commands:
  help             list these commands
  xl SUBCOMMAND    query the hypervisor; 'xl help' lists the subcommands
  ls [DIR]         list a directory of the Dom0 ramdisk (default: /)
  cat FILE...      print files of the Dom0 ramdisk
  poweroff         power off the machine
  xenstore-ls [PATH]          list the xenstore tree below PATH (default: /)
  xenstore-read PATH          print a xenstore value
  xenstore-write PATH VALUE   set a xenstore value, creating the node
  xenstore-rm PATH            remove a xenstore node and its subtree
  ping DOM COUNT   send COUNT events to a DomU over an event channel and time each reply
Diagnostics:
  selftest trap    execute hlt in ring 1 and check that it raises #GP
  selftest crash   fault with no handler: the hypervisor stops the machine
  selftest domain  create and destroy domains, checking memory comes back
  selftest attack  run hostile hypercalls and instructions, one line per case
  selftest iret    iret to a non-canonical rip: the hypervisor stops the machine
  bench NAME [ROUNDS]  run a benchmark and print 'bench NAME UNIT VALUE' lines
";

/// Runs one command line, writing its output to `platform`.
pub fn run(line: &str, platform: &mut impl Platform) {
    let words = match split_words(line) {
        Ok(words) => words,
        Err(UnterminatedQuote) => {
            write_line(
                platform,
                "dom0: missing closing '\"' in the command line; add it and run the command again",
            );
            return;
        }
    };
    let Some((command, arguments)) = words.split_first() else {
        return;
    };

    match command.as_str() {
        "help" => {
            if no_arguments(platform, "help", arguments) {
                write_text(platform, HELP.as_bytes());
            }
        }
        "xl" => xl::run(arguments, platform),
        "ls" => list_directory(arguments, platform),
        "cat" => print_files(arguments, platform),
        "poweroff" => {
            if no_arguments(platform, "poweroff", arguments) {
                write_line(platform, "dom0: powering off");
                platform.poweroff();
            }
        }
        "selftest" => selftest(arguments, platform),
        "ping" => ping(arguments, platform),
        "bench" => {
            if let Err(message) = platform.bench(arguments) {
                write_line(platform, &message);
            }
        }
        xenstore if crate::xenstore_shell::run(xenstore, arguments, platform) => {}
        unknown => write_line(
            platform,
            &format!("dom0: unknown command '{unknown}'; type 'help' for the list of commands"),
        ),
    }
}

/// Error from [`split_words`]: a `"` opened a group that the line never closes.
#[derive(Debug, PartialEq, Eq)]
pub struct UnterminatedQuote;

/// Splits `line` into words at whitespace. Double quotes group text with its
/// spaces into one word and are removed, so `cat "a b"` has the argument `a b`
/// and `""` is an empty word.
pub fn split_words(line: &str) -> Result<Vec<String>, UnterminatedQuote> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut in_quotes = false;

    for character in line.chars() {
        match character {
            '"' => {
                in_quotes = !in_quotes;
                in_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }

    if in_quotes {
        return Err(UnterminatedQuote);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Writes `text` and CR LF.
pub(crate) fn write_line(platform: &mut impl Platform, text: &str) {
    platform.write(text.as_bytes());
    platform.write(b"\r\n");
}

/// Writes `text` for a raw-mode terminal. Each LF without a CR before it
/// becomes CR LF, and CR LF is added when the text does not end a line.
pub(crate) fn write_text(platform: &mut impl Platform, text: &[u8]) {
    let mut converted = Vec::with_capacity(text.len() + text.len() / 16 + 2);
    let mut previous = 0u8;
    for &byte in text {
        if byte == b'\n' && previous != b'\r' {
            converted.push(b'\r');
        }
        converted.push(byte);
        previous = byte;
    }
    if !text.is_empty() && previous != b'\n' {
        converted.extend_from_slice(b"\r\n");
    }
    platform.write(&converted);
}

/// Formats an errno as `xl` prints it: `EPERM (-1)`.
pub(crate) fn describe_errno(errno: Errno) -> String {
    format!("{} ({})", errno.name(), errno.to_return())
}

/// Returns true when `arguments` is empty, otherwise reports the first
/// extra argument of `command` and returns false.
pub(crate) fn no_arguments(
    platform: &mut impl Platform,
    command: &str,
    arguments: &[String],
) -> bool {
    let Some(extra) = arguments.first() else {
        return true;
    };
    write_line(
        platform,
        &format!("{command}: unexpected argument '{extra}'; run '{command}' with no arguments"),
    );
    false
}

/// `ls [DIR]`: lists a ramdisk directory, one name a line, directories with a
/// trailing `/`.
fn list_directory(arguments: &[String], platform: &mut impl Platform) {
    let path = match arguments {
        [] => "/",
        [path] => path.as_str(),
        [_, extra, ..] => {
            write_line(
                platform,
                &format!("ls: unexpected argument '{extra}'; usage: ls [DIR]"),
            );
            return;
        }
    };

    let archive = platform.ramdisk();
    if !ramdisk::has_entries(archive) {
        write_line(
            platform,
            "ls: the Dom0 ramdisk contains no files; check that the boot loader loads it as a cpio newc archive",
        );
        return;
    }

    match ramdisk::lookup(archive, path) {
        None => write_line(
            platform,
            &format!("ls: {path}: no such file or directory in the ramdisk"),
        ),
        Some(Node::File(_) | Node::Special) => write_line(platform, path),
        Some(Node::Directory) => {
            for entry in ramdisk::list(archive, path) {
                let suffix = if entry.is_directory { "/" } else { "" };
                write_line(platform, &format!("{}{suffix}", entry.name));
            }
        }
    }
}

/// `cat FILE...`: prints ramdisk files, converting LF to CR LF.
fn print_files(arguments: &[String], platform: &mut impl Platform) {
    if arguments.is_empty() {
        write_line(platform, "cat: missing FILE argument; usage: cat FILE...");
        return;
    }

    let archive = platform.ramdisk();
    for path in arguments {
        match ramdisk::lookup(archive, path) {
            Some(Node::File(contents)) => write_text(platform, contents),
            Some(Node::Directory) => write_line(platform, &format!("cat: {path}: is a directory")),
            Some(Node::Special) => write_line(
                platform,
                &format!("cat: {path}: not a regular file; the shell prints regular files only"),
            ),
            None => write_line(
                platform,
                &format!("cat: {path}: no such file in the ramdisk"),
            ),
        }
    }
}

/// Usage line of `selftest`.
const SELFTEST_USAGE: &str = "usage: selftest trap|crash|domain|attack|iret";

/// `selftest NAME`: runs one of the diagnostics.
fn selftest(arguments: &[String], platform: &mut impl Platform) {
    match arguments {
        [test] if test == "trap" => selftest_trap(platform),
        [test] if test == "domain" => selftest_domain(platform),
        [test] if test == "attack" => attack::selftest_attack(platform),
        [test] if test == "iret" => attack::selftest_iret(platform),
        [test] if test == "crash" => {
            write_line(platform, "selftest crash: faulting with no handler; the hypervisor should stop the machine");
            let reason = platform.selftest_crash();
            write_line(platform, &format!("selftest crash: FAIL: {reason}"));
        }
        [] => write_line(
            platform,
            &format!("selftest: missing test name; {SELFTEST_USAGE}"),
        ),
        [test] => write_line(
            platform,
            &format!("selftest: unknown test '{test}'; {SELFTEST_USAGE}"),
        ),
        [_, extra, ..] => {
            write_line(
                platform,
                &format!("selftest: unexpected argument '{extra}'; {SELFTEST_USAGE}"),
            );
        }
    }
}

fn selftest_domain(platform: &mut impl Platform) {
    let results = platform.selftest_domain();
    let failed = results.iter().filter(|(_, passed)| !passed).count();
    for (check, passed) in &results {
        let verdict = if *passed { "PASS" } else { "FAIL" };
        write_line(platform, &format!("selftest domain: {check}: {verdict}"));
    }
    write_line(
        platform,
        &format!("selftest domain: {} passed, {failed} failed", results.len() - failed),
    );
}

fn selftest_trap(platform: &mut impl Platform) {
    let report = match platform.selftest_trap() {
        Ok(report) => report,
        Err(reason) => {
            write_line(platform, &format!("selftest trap: FAIL: {reason}"));
            return;
        }
    };

    if report.vector == GENERAL_PROTECTION_VECTOR {
        write_line(
            platform,
            &format!(
                "selftest trap: bounced #GP error code {:#x} at rip {:#x}",
                report.error_code, report.rip
            ),
        );
        write_line(platform, "selftest trap: PASS");
    } else {
        write_line(
            platform,
            &format!(
                "selftest trap: FAIL: expected #GP (vector 13), got vector {} error code {:#x} at rip {:#x}",
                report.vector, report.error_code, report.rip
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DIRECTORY, MockPlatform, REGULAR_FILE, SYMBOLIC_LINK, newc_archive, output_of, run_on};


    fn sample_ramdisk() -> &'static [u8] {
        let archive = newc_archive(&[
            (".", DIRECTORY, b""),
            ("./etc", DIRECTORY, b""),
            ("./etc/motd", REGULAR_FILE, b"Welcome.\nType help.\n"),
            ("./etc/hospes", DIRECTORY, b""),
            ("./etc/hospes/release", REGULAR_FILE, b"Hospes 0.1.0"),
            ("./etc/link", SYMBOLIC_LINK, b"motd"),
            ("./init", REGULAR_FILE, b""),
        ]);
        archive.leak()
    }

    fn platform_with_ramdisk() -> MockPlatform {
        let mut platform = MockPlatform::new();
        platform.ramdisk = sample_ramdisk();
        platform
    }

    #[test]
    fn split_words_at_whitespace() {
        assert_eq!(
            split_words("  xl \t info  "),
            Ok(vec!["xl".into(), "info".into()])
        );
        assert_eq!(split_words(""), Ok(vec![]));
        assert_eq!(split_words("   "), Ok(vec![]));
    }

    #[test]
    fn split_words_groups_quotes() {
        assert_eq!(
            split_words(r#"cat "a b"  c"#),
            Ok(vec!["cat".into(), "a b".into(), "c".into()])
        );
        assert_eq!(split_words(r#"a"b c"d"#), Ok(vec!["ab cd".into()]));
        assert_eq!(
            split_words(r#"x "" y"#),
            Ok(vec!["x".into(), "".into(), "y".into()])
        );
    }

    #[test]
    fn split_words_rejects_open_quote() {
        assert_eq!(split_words(r#"cat "a b"#), Err(UnterminatedQuote));
    }

    #[test]
    fn open_quote_is_reported() {
        assert_eq!(
            output_of("cat \"/etc"),
            ["dom0: missing closing '\"' in the command line; add it and run the command again"]
        );
    }

    #[test]
    fn empty_line_prints_nothing() {
        let mut platform = MockPlatform::new();
        run("", &mut platform);
        run("   ", &mut platform);
        assert!(platform.output.is_empty());
    }

    #[test]
    fn unknown_command() {
        assert_eq!(
            output_of("frobnicate now"),
            ["dom0: unknown command 'frobnicate'; type 'help' for the list of commands"]
        );
    }

    #[test]
    fn help_lists_every_command() {
        let lines = output_of("help");
        assert_eq!(lines[0], "Commands:");
        for command in [
            "help ",
            "xl SUBCOMMAND ",
            "ls [DIR] ",
            "cat FILE... ",
            "poweroff ",
            "selftest trap ",
            "selftest attack ",
            "selftest iret ",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|line| line.starts_with(&format!("  {command}"))),
                "help has no line for {command:?}: {lines:?}"
            );
        }
    }

    #[test]
    fn help_ends_lines_with_crlf() {
        let mut platform = MockPlatform::new();
        run("help", &mut platform);
        let text = platform.output_text();
        assert!(text.ends_with("\r\n"));
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    }

    #[test]
    fn help_rejects_arguments() {
        assert_eq!(
            output_of("help xl"),
            ["help: unexpected argument 'xl'; run 'help' with no arguments"]
        );
    }

    #[test]
    fn ls_lists_top_level() {
        let mut platform = platform_with_ramdisk();
        assert_eq!(run_on(&mut platform, "ls"), ["etc/", "init"]);
        assert_eq!(run_on(&mut platform, "ls /"), ["etc/", "init"]);
    }

    #[test]
    fn ls_lists_directory() {
        let mut platform = platform_with_ramdisk();
        assert_eq!(run_on(&mut platform, "ls etc"), ["hospes/", "link", "motd"]);
        assert_eq!(
            run_on(&mut platform, "ls /etc/"),
            ["hospes/", "link", "motd"]
        );
        assert_eq!(run_on(&mut platform, "ls /etc/hospes"), ["release"]);
    }

    #[test]
    fn ls_of_file_prints_its_path() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "ls /etc/motd"),
            ["/etc/motd"]
        );
    }

    #[test]
    fn ls_missing_path() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "ls /nope"),
            ["ls: /nope: no such file or directory in the ramdisk"]
        );
    }

    #[test]
    fn ls_rejects_two_paths() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "ls /etc /init"),
            ["ls: unexpected argument '/init'; usage: ls [DIR]"]
        );
    }

    #[test]
    fn ls_without_ramdisk() {
        let expected = [
            "ls: the Dom0 ramdisk contains no files; check that the boot loader loads it as a cpio newc archive",
        ];
        assert_eq!(output_of("ls"), expected);

        let mut platform = MockPlatform::new();
        platform.ramdisk = b"this is not a cpio archive";
        assert_eq!(run_on(&mut platform, "ls /etc"), expected);
    }

    #[test]
    fn cat_prints_file_with_crlf() {
        let mut platform = platform_with_ramdisk();
        run("cat /etc/motd", &mut platform);
        assert_eq!(platform.output_text(), "Welcome.\r\nType help.\r\n");
    }

    #[test]
    fn cat_ends_unterminated_file() {
        let mut platform = platform_with_ramdisk();
        run("cat etc/hospes/release", &mut platform);
        assert_eq!(platform.output_text(), "Hospes 0.1.0\r\n");
    }

    #[test]
    fn cat_empty_file_prints_nothing() {
        let mut platform = platform_with_ramdisk();
        run("cat /init", &mut platform);
        assert!(platform.output.is_empty());
    }

    #[test]
    fn cat_missing_file() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "cat /etc/nope"),
            ["cat: /etc/nope: no such file in the ramdisk"]
        );
    }

    #[test]
    fn cat_directory() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "cat /etc"),
            ["cat: /etc: is a directory"]
        );
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "cat /"),
            ["cat: /: is a directory"]
        );
    }

    #[test]
    fn cat_symbolic_link() {
        assert_eq!(
            run_on(&mut platform_with_ramdisk(), "cat /etc/link"),
            ["cat: /etc/link: not a regular file; the shell prints regular files only"]
        );
    }

    #[test]
    fn cat_several_files_goes_on_after_error() {
        assert_eq!(
            run_on(
                &mut platform_with_ramdisk(),
                "cat /nope /etc/hospes/release"
            ),
            ["cat: /nope: no such file in the ramdisk", "Hospes 0.1.0"]
        );
    }

    #[test]
    fn cat_without_argument() {
        assert_eq!(
            output_of("cat"),
            ["cat: missing FILE argument; usage: cat FILE..."]
        );
    }

    #[test]
    fn poweroff_calls_platform() {
        let mut platform = MockPlatform::new();
        assert_eq!(run_on(&mut platform, "poweroff"), ["dom0: powering off"]);
        assert_eq!(platform.poweroff_calls, 1);
    }

    #[test]
    fn poweroff_rejects_arguments() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "poweroff now"),
            ["poweroff: unexpected argument 'now'; run 'poweroff' with no arguments"]
        );
        assert_eq!(platform.poweroff_calls, 0);
    }

    #[test]
    fn selftest_trap_pass() {
        let mut platform = MockPlatform::new();
        platform.trap = Ok(TrapReport {
            vector: 13,
            error_code: 0,
            rip: 0xffff_8000_0010_2a3c,
        });
        assert_eq!(
            run_on(&mut platform, "selftest trap"),
            [
                "selftest trap: bounced #GP error code 0x0 at rip 0xffff800000102a3c",
                "selftest trap: PASS",
            ]
        );
        assert_eq!(platform.selftest_calls, 1);
    }

    #[test]
    fn selftest_trap_wrong_vector() {
        let mut platform = MockPlatform::new();
        platform.trap = Ok(TrapReport {
            vector: 6,
            error_code: 0x1a,
            rip: 0x40_1000,
        });
        assert_eq!(
            run_on(&mut platform, "selftest trap"),
            [
                "selftest trap: FAIL: expected #GP (vector 13), got vector 6 error code 0x1a at rip 0x401000"
            ]
        );
    }

    #[test]
    fn selftest_trap_no_fault() {
        let mut platform = MockPlatform::new();
        platform.trap = Err("hlt ran without a fault");
        assert_eq!(
            run_on(&mut platform, "selftest trap"),
            ["selftest trap: FAIL: hlt ran without a fault"]
        );
    }

    #[test]
    fn selftest_crash_reports_survival() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "selftest crash"),
            [
                "selftest crash: faulting with no handler; the hypervisor should stop the machine",
                "selftest crash: FAIL: the mock does not crash",
            ]
        );
        assert_eq!(platform.crash_calls, 1);
    }

    #[test]
    fn selftest_domain_prints_each_check() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "selftest domain"),
            [
                "selftest domain: create: PASS",
                "selftest domain: destroy returns memory: FAIL",
                "selftest domain: 1 passed, 1 failed",
            ]
        );
    }

    #[test]
    fn selftest_usage() {
        let mut platform = MockPlatform::new();
        assert_eq!(
            run_on(&mut platform, "selftest"),
            ["selftest: missing test name; usage: selftest trap|crash|domain|attack|iret"]
        );
        assert_eq!(
            run_on(&mut platform, "selftest page"),
            ["selftest: unknown test 'page'; usage: selftest trap|crash|domain|attack|iret"]
        );
        assert_eq!(
            run_on(&mut platform, "selftest trap twice"),
            ["selftest: unexpected argument 'twice'; usage: selftest trap|crash|domain|attack|iret"]
        );
        assert_eq!(platform.selftest_calls, 0);
    }

    #[test]
    fn ping_passes_domain_and_count() {
        let mut platform = MockPlatform::new();
        run("ping guest1 5", &mut platform);
        assert_eq!(platform.pings, [(String::from("guest1"), 5)]);
        assert_eq!(platform.output_text(), "");
    }

    #[test]
    fn ping_prints_platform_error() {
        let mut platform = MockPlatform::new();
        platform.ping_result = Err(String::from("ping: domain 4 did not answer"));
        run("ping 4 1", &mut platform);
        assert_eq!(platform.lines(), ["ping: domain 4 did not answer"]);
    }

    #[test]
    fn ping_rejects_bad_arguments() {
        for (line, expected) in [
            ("ping", "usage: ping DOM COUNT"),
            ("ping 1", "usage: ping DOM COUNT"),
            ("ping 1 2 3", "usage: ping DOM COUNT"),
            ("ping 1 0", "invalid COUNT '0'"),
            ("ping 1 many", "invalid COUNT 'many'"),
        ] {
            let mut platform = MockPlatform::new();
            run(line, &mut platform);
            assert!(platform.pings.is_empty(), "{line} must not ping");
            assert!(platform.output_text().contains(expected), "{line}: {}", platform.output_text());
        }
    }

    #[test]
    fn write_text_converts_line_ends() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"", b""),
            (b"a", b"a\r\n"),
            (b"a\n", b"a\r\n"),
            (b"a\r\nb\n", b"a\r\nb\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"a\rb", b"a\rb\r\n"),
        ];
        for (input, expected) in cases {
            let mut platform = MockPlatform::new();
            write_text(&mut platform, input);
            assert_eq!(platform.output, expected, "input {input:?}");
        }
    }

    #[test]
    fn random_lines_never_panic() {
        let mut platform = platform_with_ramdisk();
        let mut state: u64 = 0xDEAD_BEEF_CAFE_F00D;
        let words = [
            "xl", "info", "dmesg", "ls", "cat", "/etc", "\"", "selftest", "trap", "help", " ",
            "..", "/",
        ];
        for _ in 0..5_000 {
            let mut line = String::new();
            for _ in 0..(state % 6) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push_str(words[(state % words.len() as u64) as usize]);
                line.push(if state & 0x100 == 0 { ' ' } else { '/' });
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            run(&line, &mut platform);
            platform.output.clear();
        }
    }
}
