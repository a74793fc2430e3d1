//! Harness for the QEMU integration tests: boot a headless machine, read its
//! serial console, type commands, wait for QEMU to exit.
//!
//! The boot images come from the directory in `HOSPES_ARTIFACTS` (as
//! `cargo xtask test` sets it). When the variable is unset, the harness
//! builds them once per test process through the `boot` crate, so
//! `cargo test -p tests` also works alone. `HOSPES_ACCEL=tcg|kvm` overrides
//! the accelerator detection.
//!
//! A machine's whole serial output is written to
//! `ARTIFACTS/logs/NAME.serial.log` when the machine is dropped, for reading
//! after a failure.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use boot::{AccelChoice, Artifacts, BootPath, Console, Outcome, QemuConfig, Workspace};

/// Environment variable with the directory of the boot images.
pub const ARTIFACTS_ENV: &str = "HOSPES_ARTIFACTS";

/// Environment variable that requests an accelerator: `tcg` or `kvm`.
pub const ACCEL_ENV: &str = "HOSPES_ACCEL";

/// Maximum time from starting QEMU to the first `dom0> ` prompt. Boot under
/// TCG takes seconds; this only guards against a hang.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Maximum time for one shell command to print its output and the next prompt.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Maximum time from `poweroff` to QEMU's exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Dom0's shell prompt.
pub const PROMPT: &str = "dom0> ";

/// Bytes of serial output a failure message shows.
const TAIL_BYTES: usize = 2048;

/// A failed harness step, with the serial output that explains it.
pub struct Error {
    message: String,
}

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

// Test functions that return `Result<(), Error>` print the error with Debug,
// so Debug shows the message and the serial output as they are.
impl fmt::Debug for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<boot::Error> for Error {
    fn from(error: boot::Error) -> Error {
        Error::new(error.to_string())
    }
}

/// Returns the boot images: those in `HOSPES_ARTIFACTS`, or else images built
/// once for this test process. A relative `HOSPES_ARTIFACTS` is taken
/// relative to the workspace root.
pub fn artifacts() -> Result<&'static Artifacts, Error> {
    static ARTIFACTS: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    let result = ARTIFACTS.get_or_init(|| {
        let workspace = Workspace::locate();
        match std::env::var_os(ARTIFACTS_ENV) {
            Some(dir) if !dir.is_empty() => Ok(Artifacts::in_dir(workspace.root.join(dir))),
            _ => {
                eprintln!("{ARTIFACTS_ENV} is unset; building the boot images");
                boot::build_artifacts(&workspace)
                    .and_then(|artifacts| boot::build_disk_images(&workspace, &artifacts).map(|()| artifacts))
                    .map_err(|error| {
                        format!("{error}\n(the tests build the images because {ARTIFACTS_ENV} is unset)")
                    })
            }
        }
    });
    result
        .as_ref()
        .map_err(|message| Error::new(message.clone()))
}

/// Returns the accelerator: `HOSPES_ACCEL` when set, else detection.
pub fn accel() -> Result<AccelChoice, Error> {
    let root = Path::new("/");
    match std::env::var(ACCEL_ENV) {
        Ok(name) if !name.is_empty() => {
            let accel = name
                .parse()
                .map_err(|error: boot::Error| Error::new(format!("{ACCEL_ENV}: {error}")))?;
            Ok(boot::accel::requested(
                accel,
                &format!("{ACCEL_ENV}={name}"),
                root,
            ))
        }
        _ => Ok(boot::accel::detect(root)),
    }
}

/// Serial output collected by the reader thread.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    /// Set when QEMU closed its standard output, normally because it exited.
    closed: bool,
}

#[derive(Default)]
struct SharedOutput {
    output: Mutex<Output>,
    changed: Condvar,
}

impl SharedOutput {
    fn lock(&self) -> MutexGuard<'_, Output> {
        // A reader thread that panicked leaves valid bytes behind, so a
        // poisoned lock is still usable.
        self.output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running QEMU machine with its serial console on pipes. Dropping it
/// kills QEMU.
pub struct Machine {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    serial: Arc<SharedOutput>,
    stderr: Arc<SharedOutput>,
    readers: Vec<JoinHandle<()>>,
    /// Offset in the serial output where the next [`Machine::expect`] starts.
    cursor: usize,
    log_dir: PathBuf,
    status: Option<ExitStatus>,
}

impl Machine {
    /// Starts a machine on `boot_path`. `name` names the serial log file.
    pub fn boot(name: &str, boot_path: BootPath) -> Result<Machine, Error> {
        let artifacts = artifacts()?;
        artifacts.check(boot_path)?;
        let choice = accel()?;
        let config = QemuConfig {
            artifacts,
            boot_path,
            accel: choice.accel,
            console: Console::Piped,
        };
        let command = config.command();
        eprintln!(
            "[{name}] accelerator: {choice}\n[{name}] starting {}",
            boot::qemu::render_command(&command)
        );
        Machine::start(name, command, artifacts.dir.join("logs"))
    }

    /// Starts `command` as a machine whose standard output is the serial
    /// console. `log_dir` receives the serial log when the machine is dropped.
    pub fn start(name: &str, mut command: Command, log_dir: PathBuf) -> Result<Machine, Error> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|error| {
            Error::new(format!(
                "failed to start {}: {error}; run `cargo xtask doctor`",
                command.get_program().to_string_lossy()
            ))
        })?;

        let serial = Arc::new(SharedOutput::default());
        let stderr = Arc::new(SharedOutput::default());
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(spawn_reader(pipe, Arc::clone(&serial)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(spawn_reader(pipe, Arc::clone(&stderr)));
        }
        Ok(Machine {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            serial,
            stderr,
            readers,
            cursor: 0,
            log_dir,
            status: None,
        })
    }

    /// Returns the process id of QEMU.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the serial output after the previous match contains
    /// `pattern`, and returns that output up to the end of the match.
    ///
    /// Fails on time-out or when QEMU exits first, with the pattern and the
    /// last 2 KiB of serial output.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        let mut output = self.serial.lock();
        loop {
            let unread = &output.bytes[self.cursor..];
            if let Some(offset) = find(unread, pattern.as_bytes()) {
                let end = offset + pattern.len();
                let text = String::from_utf8_lossy(&unread[..end]).into_owned();
                self.cursor += end;
                return Ok(text);
            }
            if output.closed {
                drop(output);
                let exit = self.describe_exit();
                return Err(self.error(&format!("QEMU ended before printing {pattern:?}. {exit}")));
            }
            let now = Instant::now();
            if now >= deadline {
                drop(output);
                return Err(self.error(&format!(
                    "timed out after {timeout:?} waiting for {pattern:?}"
                )));
            }
            output = self
                .serial
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Types `line` and Enter on the serial console. Enter is sent as `\r`,
    /// as a terminal in raw mode sends it.
    pub fn send(&mut self, line: &str) -> Result<(), Error> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.error(&format!("cannot send {line:?}: QEMU's input is closed")));
        };
        let written = stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\r"))
            .and_then(|()| stdin.flush());
        written.map_err(|error| self.error(&format!("failed to send {line:?} to QEMU: {error}")))
    }

    /// Sends raw bytes with no Enter, such as Ctrl-] (0x1d) to leave a guest console.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.error(&format!("cannot send {bytes:?}: QEMU's input is closed")));
        };
        let written = stdin.write_all(bytes).and_then(|()| stdin.flush());
        written.map_err(|error| self.error(&format!("failed to send {bytes:?} to QEMU: {error}")))
    }

    /// Types `line`, waits for the next prompt and returns what the command
    /// printed: the output between the echoed line and the prompt.
    pub fn run(&mut self, line: &str) -> Result<String, Error> {
        self.send(line)?;
        let text = self.expect(PROMPT, COMMAND_TIMEOUT)?;
        let output = text.strip_suffix(PROMPT).unwrap_or(&text);
        Ok(strip_echo(output, line).to_string())
    }

    /// Sends `command`, which must crash Dom0, and checks that QEMU then
    /// exits with the Dom0-crash status.
    pub fn expect_dom0_crash(&mut self, command: &str) -> Result<(), Error> {
        self.send(command)?;
        let status = self.wait_exit(EXIT_TIMEOUT)?;
        let outcome = Outcome::from_status(status);
        if outcome != Outcome::Dom0Crashed {
            let expected = Outcome::Dom0Crashed;
            return Err(self.error(&format!("after {command}, QEMU exited with {outcome}; expected {expected}")));
        }
        Ok(())
    }

    /// Waits for QEMU to exit and returns its status. Kills QEMU and fails on
    /// time-out.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        // Closing QEMU's input does not stop the machine: the serial port
        // then only receives nothing.
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    self.join_readers();
                    return Ok(status);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Ok(None) => {
                    self.kill();
                    return Err(
                        self.error(&format!("QEMU did not exit within {timeout:?}; killed it"))
                    );
                }
                Err(error) => {
                    return Err(self.error(&format!("failed to wait for QEMU: {error}")));
                }
            }
        }
    }

    /// Returns a sentence on how QEMU ended, for use after it closed its
    /// output: its exit status and meaning, or that it is still running.
    fn describe_exit(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return format!("It exited with {}.", Outcome::from_status(status));
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Ok(None) => return "It closed its output but is still running.".to_string(),
                Err(error) => return format!("Waiting for its exit status failed: {error}."),
            }
        }
    }

    /// Returns the whole serial output so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.serial.lock().bytes).into_owned()
    }

    /// Returns an error with `message`, the last 2 KiB of serial output and
    /// QEMU's standard error.
    pub fn error(&self, message: &str) -> Error {
        let serial = self.serial.lock();
        let start = serial.bytes.len().saturating_sub(TAIL_BYTES);
        let tail = String::from_utf8_lossy(&serial.bytes[start..]);
        let stderr = String::from_utf8_lossy(&self.stderr.lock().bytes).into_owned();
        let mut text = format!(
            "[{}] {message}\n--- last {} bytes of serial output ---\n{tail}\n--- end of serial output ---",
            self.name,
            serial.bytes.len() - start
        );
        if !stderr.trim().is_empty() {
            text.push_str(&format!(
                "\n--- QEMU standard error ---\n{}",
                stderr.trim_end()
            ));
        }
        text.push_str(&format!("\nfull serial log: {}", self.log_path().display()));
        Error::new(text)
    }

    fn log_path(&self) -> PathBuf {
        self.log_dir.join(format!("{}.serial.log", self.name))
    }

    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        // Child::kill sends SIGKILL to QEMU's own PID, and wait reaps it.
        // The reader threads are left to end at EOF, because a process that
        // inherited the pipes could keep them open.
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        self.readers.clear();
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    fn write_log(&self) {
        let path = self.log_path();
        let bytes = self.serial.lock().bytes.clone();
        let written = fs::create_dir_all(&self.log_dir).and_then(|()| fs::write(&path, bytes));
        if let Err(error) = written {
            eprintln!(
                "[{}] failed to write the serial log {}: {error}",
                self.name,
                path.display()
            );
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
        self.write_log();
    }
}

/// Starts a thread that appends everything from `pipe` to `shared` until EOF.
fn spawn_reader(mut pipe: impl Read + Send + 'static, shared: Arc<SharedOutput>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            let count = match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => 0,
                Ok(count) => count,
            };
            let mut output = shared.lock();
            if count == 0 {
                output.closed = true;
                shared.changed.notify_all();
                return;
            }
            output.bytes.extend_from_slice(&buffer[..count]);
            shared.changed.notify_all();
        }
    })
}

/// Returns the offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Removes the shell's echo of `line`, the first line of `output`, when it is there.
fn strip_echo<'a>(output: &'a str, line: &str) -> &'a str {
    match output.split_once('\n') {
        Some((first, rest)) if first.trim_end_matches('\r').trim() == line => rest,
        _ => output,
    }
}

/// Returns the lines of `text` without `\r` and without empty lines.
pub fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// Time a DomU may take from `xl create -w` to its ready signal under TCG.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// Ctrl-]: leaves a guest console and returns to the Dom0 prompt.
pub const DETACH: &[u8] = b"\x1d";

impl Machine {
    /// Reads `free_memory` (MiB) from `xl info`.
    pub fn free_memory(&mut self) -> Result<u64, Error> {
        let info = self.run("xl info")?;
        lines(&info)
            .iter()
            .find_map(|line| line.strip_prefix("free_memory")?.split(':').nth(1)?.trim().parse().ok())
            .ok_or_else(|| self.error(&format!("xl info printed no free_memory line: {info:?}")))
    }

    /// Creates `/etc/xen/NAME.cfg` with `xl create -w` and waits for the guest's ready signal.
    pub fn create_guest(&mut self, name: &str) -> Result<(), Error> {
        self.send(&format!("xl create -w /etc/xen/{name}.cfg"))?;
        let output = self.expect(PROMPT, CREATE_TIMEOUT)?;
        if output.contains("xl create:") {
            return Err(self.error(&format!("xl create {name} failed: {output}")));
        }
        Ok(())
    }

    /// Attaches the terminal to a guest's console and waits for its prompt.
    pub fn attach(&mut self, name: &str) -> Result<(), Error> {
        self.send(&format!("xl console {name}"))?;
        self.expect(&format!("{name}> "), COMMAND_TIMEOUT)?;
        Ok(())
    }

    /// Detaches from a guest console with Ctrl-] and waits for the Dom0 prompt.
    pub fn detach(&mut self) -> Result<(), Error> {
        self.send_bytes(DETACH)?;
        self.expect(PROMPT, COMMAND_TIMEOUT)?;
        Ok(())
    }

    /// Runs `line` in the attached guest's console and returns what it printed
    /// up to the next prompt. The output starts at the guest's echo of `line`,
    /// because an attach first replays the console history.
    pub fn in_guest(&mut self, name: &str, line: &str) -> Result<String, Error> {
        self.send(line)?;
        self.expect(&format!("{line}\r\n"), COMMAND_TIMEOUT)?;
        self.expect(&format!("{name}> "), COMMAND_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_locates_pattern() {
        assert_eq!(find(b"boot: memory\r\ndom0> ", b"dom0> "), Some(14));
        assert_eq!(find(b"dom0", b"dom0> "), None);
        assert_eq!(find(b"abc", b""), Some(0));
    }

    #[test]
    fn strip_echo_removes_command_line() {
        assert_eq!(
            strip_echo("xl info\r\nxen_version : 4.19\r\n", "xl info"),
            "xen_version : 4.19\r\n"
        );
        assert_eq!(strip_echo("\r\nxl info\r\n", "xl info"), "\r\nxl info\r\n");
        assert_eq!(strip_echo("no newline", "xl info"), "no newline");
    }

    #[test]
    fn lines_drop_carriage_returns_and_blanks() {
        assert_eq!(lines("a\r\n\r\nb\n  \nc"), ["a", "b", "c"]);
    }

    /// A stand-in machine. Fields drop in declaration order, so the machine
    /// writes its serial log before `_log_dir` removes the directory.
    struct ShellMachine {
        machine: Machine,
        _log_dir: RemovedOnDrop,
    }

    /// A directory removed with its contents on drop.
    struct RemovedOnDrop(PathBuf);

    impl Drop for RemovedOnDrop {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    impl std::ops::Deref for ShellMachine {
        type Target = Machine;

        fn deref(&self) -> &Machine {
            &self.machine
        }
    }

    impl std::ops::DerefMut for ShellMachine {
        fn deref_mut(&mut self) -> &mut Machine {
            &mut self.machine
        }
    }

    /// Starts `script` under `sh -c` as a stand-in for QEMU.
    fn shell_machine(name: &str, script: &str) -> ShellMachine {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let log_dir =
            std::env::temp_dir().join(format!("hospes-harness-{name}-{}", std::process::id()));
        let machine = Machine::start(name, command, log_dir.clone()).expect("start sh");
        ShellMachine {
            machine,
            _log_dir: RemovedOnDrop(log_dir),
        }
    }

    #[test]
    fn expect_returns_output_through_match() {
        let mut machine =
            shell_machine("expect", "printf 'boot: memory\\r\\ndom0> '; exec sleep 5");
        let text = machine
            .expect(PROMPT, Duration::from_secs(5))
            .expect("prompt");
        assert_eq!(text, "boot: memory\r\ndom0> ");
        let error = machine
            .expect(PROMPT, Duration::from_millis(100))
            .expect_err("the prompt was consumed");
        assert!(error.message.contains("timed out"), "{error}");
    }

    #[test]
    fn expect_timeout_shows_pattern_and_output() {
        let mut machine = shell_machine("timeout", "printf 'booting'; exec sleep 30");
        let error = machine
            .expect("dom0> ", Duration::from_millis(300))
            .expect_err("no prompt");
        assert!(error.message.contains("\"dom0> \""), "{error}");
        assert!(error.message.contains("booting"), "{error}");
    }

    #[test]
    fn expect_fails_fast_on_exit() {
        let mut machine = shell_machine("exited", "printf 'partial'; exit 3");
        let start = Instant::now();
        let error = machine
            .expect("dom0> ", Duration::from_secs(30))
            .expect_err("the process exits");
        assert!(error.message.contains("ended before"), "{error}");
        assert!(error.message.contains("It exited with status 3"), "{error}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn send_writes_line_and_carriage_return() {
        let mut machine = shell_machine("send", "exec cat");
        machine.send("xl info").expect("send");
        let text = machine.expect("\r", Duration::from_secs(5)).expect("echo");
        assert_eq!(text, "xl info\r");
    }

    #[test]
    fn wait_exit_returns_status() {
        let mut machine = shell_machine("status", "exit 5");
        let status = machine.wait_exit(Duration::from_secs(5)).expect("exit");
        assert_eq!(status.code(), Some(5));
    }

    #[test]
    fn wait_exit_kills_on_timeout() {
        let mut machine = shell_machine("hang", "exec sleep 30");
        let error = machine
            .wait_exit(Duration::from_millis(200))
            .expect_err("sleep outlives the time-out");
        assert!(error.message.contains("did not exit"), "{error}");
        assert!(!Path::new(&format!("/proc/{}", machine.pid())).exists());
    }

    #[test]
    fn drop_kills_process() {
        let machine = shell_machine("drop", "exec sleep 30");
        let pid = machine.pid();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(machine);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }
}
