//! The console shell: the line editor feeding the command dispatcher.

use crate::PROMPT;
use crate::commands::{self, Platform, write_text};
use crate::line::{LineEditor, Output};
use crate::ramdisk::{self, Node};

/// The warning [`Shell::start`] prints when the ramdisk has no files.
const NO_RAMDISK_WARNING: &str = "dom0: warning: the ramdisk contains no files, so `ls` and `xl create` find nothing; \
     check that the loader passes Dom0's ramdisk (a cpio newc archive) as the module after the Dom0 kernel\n";

/// Path of the greeting that [`Shell::start`] prints from the ramdisk.
pub const MOTD_PATH: &str = "/etc/motd";

/// Interactive shell on the Dom0 console, driven one input byte at a time.
pub struct Shell {
    editor: LineEditor,
}

impl Shell {
    /// Creates a shell. It allocates nothing until the first byte, so it can
    /// initialize a static.
    pub const fn new() -> Shell {
        Shell {
            editor: LineEditor::new(PROMPT),
        }
    }

    /// Prints the ramdisk's `/etc/motd`, if it has one, and the first
    /// prompt. Warns first when the ramdisk contains no file at all.
    pub fn start(&mut self, platform: &mut impl Platform) {
        if !ramdisk::has_entries(platform.ramdisk()) {
            write_text(platform, NO_RAMDISK_WARNING.as_bytes());
        }
        if let Some(Node::File(motd)) = ramdisk::lookup(platform.ramdisk(), MOTD_PATH) {
            write_text(platform, motd);
        }
        self.editor.start_line(&mut PlatformOutput(platform));
    }

    /// Prints a fresh prompt, for when the terminal comes back from a guest console.
    pub fn start_prompt(&mut self, platform: &mut impl Platform) {
        self.editor.start_line(&mut PlatformOutput(platform));
    }

    /// Processes one byte from the console. On Enter, runs the line as a
    /// command and prints the next prompt.
    pub fn feed(&mut self, byte: u8, platform: &mut impl Platform) {
        let Some(line) = self.editor.feed(byte, &mut PlatformOutput(platform)) else {
            return;
        };
        commands::run(&line, platform);
        if !platform.console_attached() {
            self.editor.start_line(&mut PlatformOutput(platform));
        }
    }
}

impl Default for Shell {
    fn default() -> Shell {
        Shell::new()
    }
}

/// Sends the line editor's echo to the platform's console.
struct PlatformOutput<'a, P: Platform>(&'a mut P);

impl<P: Platform> Output for PlatformOutput<'_, P> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MockPlatform, REGULAR_FILE, newc_archive, rootfs_archive};

    fn type_bytes(shell: &mut Shell, platform: &mut MockPlatform, input: &[u8]) {
        for &byte in input {
            shell.feed(byte, platform);
        }
    }

    #[test]
    fn new_is_usable_in_static() {
        static SHELL: std::sync::Mutex<Shell> = std::sync::Mutex::new(Shell::new());
        let mut platform = MockPlatform::new();
        let mut shell = SHELL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        shell.feed(b'x', &mut platform);
        assert_eq!(platform.output_text(), "x");
    }

    #[test]
    fn start_warns_about_an_empty_ramdisk() {
        let mut platform = MockPlatform::new();
        Shell::new().start(&mut platform);
        let text = platform.output_text();
        assert!(text.starts_with("dom0: warning: the ramdisk contains no files"), "{text:?}");
        assert!(text.ends_with("\r\ndom0> "), "{text:?}");
    }

    #[test]
    fn start_prints_motd_first() {
        let mut platform = MockPlatform::new();
        platform.ramdisk = newc_archive(&[("etc/motd", REGULAR_FILE, b"Hello.\n")]).leak();
        Shell::new().start(&mut platform);
        assert_eq!(platform.output_text(), "Hello.\r\ndom0> ");
    }

    #[test]
    fn start_prints_rootfs_motd() {
        let mut platform = MockPlatform::new();
        platform.ramdisk = rootfs_archive().leak();
        Shell::new().start(&mut platform);

        let text = platform.output_text();
        assert!(text.starts_with("Welcome to Dom0 on Hospes"), "{text:?}");
        assert!(text.contains("'help'"), "{text:?}");
        assert!(text.ends_with("\r\ndom0> "), "{text:?}");
    }

    #[test]
    fn rootfs_release_matches_crate_version() {
        let mut platform = MockPlatform::new();
        platform.ramdisk = rootfs_archive().leak();
        let mut shell = Shell::new();
        type_bytes(&mut shell, &mut platform, b"cat /etc/hospes/release\r");

        let expected = format!(
            "cat /etc/hospes/release\r\nHospes {}\r\ndom0> ",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(platform.output_text(), expected);
    }

    #[test]
    fn rootfs_lists_etc() {
        let mut platform = MockPlatform::new();
        platform.ramdisk = rootfs_archive().leak();
        let mut shell = Shell::new();
        type_bytes(&mut shell, &mut platform, b"ls /etc\r");
        assert_eq!(
            platform.output_text(),
            "ls /etc\r\nhospes/\r\nmotd\r\nxen/\r\ndom0> "
        );
    }

    /// Starts a shell on a platform whose ramdisk contains one file, so
    /// the output begins with the first prompt.
    fn started_session() -> (MockPlatform, Shell) {
        let mut platform = MockPlatform::new();
        platform.ramdisk = newc_archive(&[("etc/hostname", REGULAR_FILE, b"dom0\n")]).leak();
        let mut shell = Shell::new();
        shell.start(&mut platform);
        (platform, shell)
    }

    #[test]
    fn session_runs_xl_info() {
        let (mut platform, mut shell) = started_session();
        type_bytes(&mut shell, &mut platform, b"xl info\r");

        let text = platform.output_text();
        assert!(
            text.starts_with("dom0> xl info\r\nhost                   : hospes\r\n"),
            "{text:?}"
        );
        assert!(
            text.contains("\r\nxen_version            : 4.19-hospes\r\n"),
            "{text:?}"
        );
        assert!(
            text.ends_with("\r\ndom0_ring              : 1\r\ndom0> "),
            "{text:?}"
        );
    }

    #[test]
    fn session_crlf_runs_once() {
        let (mut platform, mut shell) = started_session();
        type_bytes(&mut shell, &mut platform, b"poweroff\r\n");
        assert_eq!(platform.poweroff_calls, 1);
        assert_eq!(
            platform.output_text(),
            "dom0> poweroff\r\ndom0: powering off\r\ndom0> "
        );
    }

    #[test]
    fn session_edits_then_runs() {
        let (mut platform, mut shell) = started_session();
        type_bytes(&mut shell, &mut platform, b"xl dmesx\x7fg\r");
        platform.output.clear();

        // Up recalls the last command (and erases the rest of the row), and
        // Enter runs it again.
        type_bytes(&mut shell, &mut platform, b"\x1b[A\r");
        assert_eq!(
            platform.output_text(),
            "xl dmesg\x1b[K\r\n(XEN) Hospes starting\r\ndom0> "
        );
    }

    #[test]
    fn session_empty_line_prints_prompt() {
        let (mut platform, mut shell) = started_session();
        type_bytes(&mut shell, &mut platform, b"\r\r");
        assert_eq!(platform.output_text(), "dom0> \r\ndom0> \r\ndom0> ");
    }

    #[test]
    fn session_unknown_command() {
        let mut platform = MockPlatform::new();
        let mut shell = Shell::new();
        type_bytes(&mut shell, &mut platform, b"frobnicate\r");
        assert_eq!(
            platform.output_text(),
            "frobnicate\r\ndom0: unknown command 'frobnicate'; type 'help' for the list of commands\r\ndom0> "
        );
    }
}
