//! QEMU command lines for the four boot paths.
//!
//! Every path runs a headless PC with one CPU, 1 GiB of RAM, the serial port
//! on QEMU's standard input and output, no network device and an
//! `isa-debug-exit` device (see [`crate::exit`]). QEMU runs in the artifacts
//! directory and names the images relative to it, because QEMU's option
//! syntax gives commas and spaces in file names special meanings.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Stdio};

use crate::artifacts::{BIOS_IMAGE_FILE, DOM0_FILE, HYPERVISOR_ELF32_FILE, ISO_FILE, RAMDISK_FILE, UEFI_IMAGE_FILE};
use crate::exit::DEBUG_EXIT_PORT;
use crate::iso::{DOM0_MODULE_ARGUMENT, HYPERVISOR_COMMAND_LINE, RAMDISK_MODULE_ARGUMENT};
use crate::{Accel, Artifacts};

/// The QEMU program.
pub const QEMU: &str = "qemu-system-x86_64";

/// UEFI firmware for `--boot uefi`: OVMF as Debian's `ovmf` package installs
/// it, code and variable store in one file for `-bios`.
pub const OVMF_FIRMWARE: &str = "/usr/share/ovmf/OVMF.fd";

/// Guest RAM in MiB (`-m`).
pub const MEMORY_MIB: u64 = 1024;

/// Boot path: the loader that starts the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPath {
    /// SeaBIOS boots the GRUB ISO from the CD-ROM drive. GRUB loads the ELF64
    /// hypervisor through Multiboot2.
    GrubIso,
    /// QEMU's own multiboot loader (`-kernel`) loads the ELF32 copy of the
    /// hypervisor through Multiboot1. Faster, and needs no GRUB.
    Direct,
    /// SeaBIOS boots the `bootloader` crate's BIOS disk image.
    Bios,
    /// OVMF boots the `bootloader` crate's UEFI disk image.
    Uefi,
}

impl BootPath {
    /// Returns a short name for messages and log files.
    pub fn name(self) -> &'static str {
        match self {
            BootPath::GrubIso => "grub-iso",
            BootPath::Direct => "direct",
            BootPath::Bios => "bios",
            BootPath::Uefi => "uefi",
        }
    }
}

impl std::str::FromStr for BootPath {
    type Err = crate::Error;

    /// Parses the names `--boot` takes: grub, direct, bios, uefi.
    fn from_str(name: &str) -> crate::Result<BootPath> {
        match name {
            "grub" | "grub-iso" => Ok(BootPath::GrubIso),
            "direct" => Ok(BootPath::Direct),
            "bios" => Ok(BootPath::Bios),
            "uefi" => Ok(BootPath::Uefi),
            other => Err(crate::Error::new(format!("unknown boot path '{other}': use grub, direct, bios or uefi"))),
        }
    }
}

/// Destination of QEMU's standard streams, and so of the serial console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// The serial console is this process's terminal.
    Inherit,
    /// Standard input, output and error are pipes, for tests.
    Piped,
}

/// A machine to start: boot path, accelerator and console.
#[derive(Debug, Clone)]
pub struct QemuConfig<'a> {
    /// The images to boot.
    pub artifacts: &'a Artifacts,
    /// Loader that starts the hypervisor.
    pub boot_path: BootPath,
    /// `-accel` value.
    pub accel: Accel,
    /// Destination of the serial console.
    pub console: Console,
}

impl QemuConfig<'_> {
    /// Returns QEMU's arguments, with image names relative to the artifacts
    /// directory.
    pub fn arguments(&self) -> Vec<OsString> {
        let memory = MEMORY_MIB.to_string();
        let debug_exit = format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04");
        let mut arguments: Vec<OsString> = [
            "-machine",
            "pc",
            "-cpu",
            "max",
            "-m",
            &memory,
            "-smp",
            "1",
            "-display",
            "none",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-nic",
            "none",
            "-device",
            &debug_exit,
            "-accel",
            self.accel.name(),
        ]
        .iter()
        .map(OsString::from)
        .collect();

        match self.boot_path {
            BootPath::GrubIso => {
                arguments.extend(["-cdrom", ISO_FILE, "-boot", "order=d"].map(OsString::from));
            }
            BootPath::Direct => {
                // QEMU splits -initrd at commas into modules, and each module
                // at its first space into a file name and a command line.
                let modules = format!(
                    "{DOM0_FILE} {DOM0_MODULE_ARGUMENT},{RAMDISK_FILE} {RAMDISK_MODULE_ARGUMENT}"
                );
                arguments.extend(
                    [
                        "-kernel",
                        HYPERVISOR_ELF32_FILE,
                        "-initrd",
                        &modules,
                        "-append",
                        HYPERVISOR_COMMAND_LINE,
                    ]
                    .map(OsString::from),
                );
            }
            // `snapshot=on` keeps the image unchanged and lets several
            // machines boot the same file at once.
            BootPath::Bios => {
                arguments.extend(["-drive", &disk_drive(BIOS_IMAGE_FILE)].map(OsString::from));
            }
            BootPath::Uefi => {
                arguments.extend(["-bios", OVMF_FIRMWARE, "-drive", &disk_drive(UEFI_IMAGE_FILE)].map(OsString::from));
            }
        }
        arguments
    }

    /// Returns the QEMU command, to run in the artifacts directory.
    pub fn command(&self) -> Command {
        let mut command = Command::new(QEMU);
        command
            .args(self.arguments())
            .current_dir(&self.artifacts.dir);
        match self.console {
            Console::Inherit => {
                command
                    .stdin(Stdio::inherit())
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit());
            }
            Console::Piped => {
                command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
        }
        command
    }
}

fn disk_drive(file: &str) -> String {
    format!("format=raw,file={file},snapshot=on")
}

/// Returns `command` as a shell-like line for messages: `(cd DIR && PROGRAM
/// ARGS...)` when it has a working directory. Arguments with spaces or shell
/// characters are single-quoted.
pub fn render_command(command: &Command) -> String {
    let mut words = vec![quote(command.get_program())];
    words.extend(command.get_args().map(quote));
    let line = words.join(" ");
    match command.get_current_dir() {
        Some(directory) => format!("(cd {} && {line})", quote(directory.as_os_str())),
        None => line,
    }
}

fn quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn artifacts() -> Artifacts {
        Artifacts::in_dir(PathBuf::from("/src/hospes/target/hospes"))
    }

    fn config(artifacts: &Artifacts, boot_path: BootPath, accel: Accel) -> QemuConfig<'_> {
        QemuConfig {
            artifacts,
            boot_path,
            accel,
            console: Console::Piped,
        }
    }

    fn argument_line(config: &QemuConfig<'_>) -> String {
        config
            .arguments()
            .iter()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    const COMMON: &str = "-machine pc -cpu max -m 1024 -smp 1 -display none -no-reboot \
                          -monitor none -serial stdio -nic none \
                          -device isa-debug-exit,iobase=0xf4,iosize=0x04";

    #[test]
    fn grub_iso_arguments() {
        let artifacts = artifacts();
        let line = argument_line(&config(&artifacts, BootPath::GrubIso, Accel::Tcg));
        assert_eq!(
            line,
            format!("{COMMON} -accel tcg -cdrom hospes.iso -boot order=d")
        );
    }

    #[test]
    fn direct_arguments() {
        let artifacts = artifacts();
        let arguments = config(&artifacts, BootPath::Direct, Accel::Kvm).arguments();
        let line = argument_line(&config(&artifacts, BootPath::Direct, Accel::Kvm));
        assert!(line.starts_with(&format!("{COMMON} -accel kvm ")), "{line}");
        // Each value is one argument, spaces included.
        let tail: Vec<&OsStr> = arguments[arguments.len() - 6..]
            .iter()
            .map(OsString::as_os_str)
            .collect();
        assert_eq!(
            tail,
            [
                "-kernel",
                "hospes.elf32",
                "-initrd",
                "dom0 dom0,dom0.cpio initrd",
                "-append",
                "console=com1"
            ]
        );
    }

    #[test]
    fn disk_image_arguments() {
        let artifacts = artifacts();
        let line = argument_line(&config(&artifacts, BootPath::Bios, Accel::Tcg));
        assert_eq!(line, format!("{COMMON} -accel tcg -drive format=raw,file=hospes-bios.img,snapshot=on"));
        let line = argument_line(&config(&artifacts, BootPath::Uefi, Accel::Tcg));
        assert_eq!(
            line,
            format!("{COMMON} -accel tcg -bios /usr/share/ovmf/OVMF.fd -drive format=raw,file=hospes-uefi.img,snapshot=on")
        );
    }

    #[test]
    fn boot_path_names_round_trip() {
        for path in [BootPath::GrubIso, BootPath::Direct, BootPath::Bios, BootPath::Uefi] {
            assert_eq!(path.name().parse::<BootPath>().expect("known name"), path);
        }
        assert_eq!("grub".parse::<BootPath>().expect("grub"), BootPath::GrubIso);
        let error = "pxe".parse::<BootPath>().expect_err("unknown");
        assert!(error.message().contains("grub, direct, bios or uefi"), "{error}");
    }

    #[test]
    fn command_runs_in_artifacts_dir_with_pipes() {
        let artifacts = artifacts();
        let command = config(&artifacts, BootPath::GrubIso, Accel::Tcg).command();
        assert_eq!(command.get_program(), "qemu-system-x86_64");
        assert_eq!(
            command.get_current_dir(),
            Some(Path::new("/src/hospes/target/hospes"))
        );
    }

    #[test]
    fn render_command_quotes_spaces() {
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(["-initrd", "dom0 dom0,dom0.cpio initrd", "-m", "1024"])
            .current_dir("/tmp/it's here");
        assert_eq!(
            render_command(&command),
            r"(cd '/tmp/it'\''s here' && qemu-system-x86_64 -initrd 'dom0 dom0,dom0.cpio initrd' -m 1024)"
        );
    }
}
