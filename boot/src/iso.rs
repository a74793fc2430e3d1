//! The GRUB rescue ISO: GRUB's `multiboot2` command loads the hypervisor ELF64
//! as is, with Dom0's kernel and ramdisk as `module2` modules.
//!
//! GRUB's own terminal stays on the screen, which QEMU does not show with
//! `-display none`, so the serial output starts with the hypervisor's lines.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::{Error, Result};

/// Path of the hypervisor inside the ISO.
pub const HYPERVISOR_PATH: &str = "/boot/hospes";
/// Path of the Dom0 kernel inside the ISO.
pub const DOM0_PATH: &str = "/boot/dom0";
/// Path of Dom0's ramdisk inside the ISO.
pub const RAMDISK_PATH: &str = "/boot/dom0.cpio";
/// Hypervisor command line on both boot paths.
pub const HYPERVISOR_COMMAND_LINE: &str = "console=com1";
/// Command line of boot module 1, which marks it as Dom0's kernel.
pub const DOM0_MODULE_ARGUMENT: &str = "dom0";
/// Command line of boot module 2, which marks it as Dom0's ramdisk.
pub const RAMDISK_MODULE_ARGUMENT: &str = "initrd";

/// Returns the text of `boot/grub/grub.cfg`: boot the only entry at once.
pub fn grub_config() -> String {
    format!(
        "set timeout=0\n\
         set default=0\n\
         \n\
         menuentry \"Hospes\" {{\n\
         \x20   multiboot2 {HYPERVISOR_PATH} {HYPERVISOR_COMMAND_LINE}\n\
         \x20   module2 {DOM0_PATH} {DOM0_MODULE_ARGUMENT}\n\
         \x20   module2 {RAMDISK_PATH} {RAMDISK_MODULE_ARGUMENT}\n\
         \x20   boot\n\
         }}\n"
    )
}

/// Lays out the ISO's files in `staging` (emptied first) and runs
/// `grub-mkrescue` to write the ISO to `output`.
pub fn build_iso(
    hypervisor: &Path,
    dom0: &Path,
    ramdisk: &Path,
    staging: &Path,
    output: &Path,
) -> Result<()> {
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|error| Error::io("remove", staging, error))?;
    }
    let grub_dir = staging.join("boot").join("grub");
    fs::create_dir_all(&grub_dir).map_err(|error| Error::io("create", &grub_dir, error))?;

    let files = [
        (hypervisor, HYPERVISOR_PATH),
        (dom0, DOM0_PATH),
        (ramdisk, RAMDISK_PATH),
    ];
    for (source, iso_path) in files {
        let destination = staging.join(iso_path.trim_start_matches('/'));
        fs::copy(source, &destination).map_err(|error| {
            Error::new(format!(
                "failed to copy {} to {}: {error}",
                source.display(),
                destination.display()
            ))
        })?;
    }
    let config = grub_dir.join("grub.cfg");
    fs::write(&config, grub_config()).map_err(|error| Error::io("write", &config, error))?;

    let mut command = Command::new("grub-mkrescue");
    command.arg("-o").arg(output).arg(staging);
    let result = command.output().map_err(|error| {
        Error::new(format!(
            "failed to start grub-mkrescue: {error}; run `cargo xtask doctor` \
             to see which packages to install"
        ))
    })?;
    if !result.status.success() {
        return Err(Error::new(format!(
            "`{}` failed ({}):\n{}\nrun `cargo xtask doctor` to check grub-pc-bin, \
             xorriso and mtools",
            crate::qemu::render_command(&command),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim_end()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_config_boots_at_once() {
        let config = grub_config();
        let lines: Vec<&str> = config.lines().map(str::trim).collect();
        assert_eq!(lines[0], "set timeout=0");
        assert_eq!(lines[1], "set default=0");
    }

    #[test]
    fn grub_config_loads_hypervisor_and_modules_in_order() {
        let config = grub_config();
        let commands: Vec<&str> = config
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("multiboot") || line.starts_with("module"))
            .collect();
        assert_eq!(
            commands,
            [
                "multiboot2 /boot/hospes console=com1",
                "module2 /boot/dom0 dom0",
                "module2 /boot/dom0.cpio initrd",
            ]
        );
    }

    #[test]
    fn grub_config_keeps_default_terminal() {
        let config = grub_config();
        assert_eq!(config.matches("menuentry").count(), 1);
        assert!(!config.contains("serial"), "{config}");
        assert!(!config.contains("terminal_output"), "{config}");
    }
}
