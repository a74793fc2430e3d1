//! The second boot path: BIOS and UEFI disk images made with the
//! `bootloader` crate.
//!
//! The images carry the `hospes-bootloader` build of the hypervisor and the
//! boot archive, which the loader passes on as its ramdisk. The archive is a
//! cpio `newc` archive of the hypervisor's command line (`cmdline`), the
//! module list (`modules`, with the words of the GRUB menu entry's `module2`
//! lines) and the modules themselves. The kernel's `bootarchive` module
//! reads it back.
//!
//! The `bootloader` crate compiles its boot stages with a nightly compiler,
//! so the images are written by a small tool of its own, `boot/diskimage/`,
//! outside the workspace, built with the nightly its `rust-toolchain.toml`
//! pins (through `rustup run`) into `target/diskimage/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::iso::{DOM0_MODULE_ARGUMENT, HYPERVISOR_COMMAND_LINE, RAMDISK_MODULE_ARGUMENT};
use crate::{Artifacts, Error, Result, Workspace, ramdisk};

/// Names inside the boot archive, as the kernel's `bootarchive` module reads them.
pub const ARCHIVE_CMDLINE: &str = "cmdline";
pub const ARCHIVE_MODULE_LIST: &str = "modules";
pub const ARCHIVE_DOM0: &str = "dom0";
pub const ARCHIVE_RAMDISK: &str = "dom0.cpio";

/// Returns the text of the archive's module list: Dom0's kernel, then its ramdisk.
pub fn module_list() -> String {
    format!("{ARCHIVE_DOM0} {DOM0_MODULE_ARGUMENT}\n{ARCHIVE_RAMDISK} {RAMDISK_MODULE_ARGUMENT}\n")
}

/// Writes the boot archive of `dom0` and `ramdisk` to `output`, staging the
/// two text files in `staging`.
pub fn build_boot_archive(dom0: &Path, dom0_ramdisk: &Path, staging: &Path, output: &Path) -> Result<()> {
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|error| Error::io("remove", staging, error))?;
    }
    fs::create_dir_all(staging).map_err(|error| Error::io("create", staging, error))?;
    let cmdline = staging.join(ARCHIVE_CMDLINE);
    fs::write(&cmdline, format!("{HYPERVISOR_COMMAND_LINE}\n")).map_err(|error| Error::io("write", &cmdline, error))?;
    let list = staging.join(ARCHIVE_MODULE_LIST);
    fs::write(&list, module_list()).map_err(|error| Error::io("write", &list, error))?;
    let modules = [(ARCHIVE_DOM0.to_string(), dom0.to_path_buf()), (ARCHIVE_RAMDISK.to_string(), dom0_ramdisk.to_path_buf())];
    ramdisk::build_ramdisk(staging, &modules, output)?;
    Ok(())
}

/// Directory of the disk-image tool, which contains its own `rust-toolchain.toml`.
pub fn tool_dir(workspace: &Workspace) -> PathBuf {
    workspace.root.join("boot").join("diskimage")
}

/// Returns the nightly channel the disk-image tool's `rust-toolchain.toml` pins.
pub fn tool_channel(workspace: &Workspace) -> Result<String> {
    let path = tool_dir(workspace).join("rust-toolchain.toml");
    let text = fs::read_to_string(&path).map_err(|error| Error::io("read", &path, error))?;
    crate::cargo::parse_channel(&text)
        .ok_or_else(|| Error::new(format!("{} has no `channel = \"...\"` line; restore it from git", path.display())))
}

/// Returns the command that builds the disk-image tool on its nightly.
pub fn tool_build_command(workspace: &Workspace, channel: &str) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", channel, "cargo", "build", "--release", "--locked", "--target-dir"])
        .arg(tool_target_dir(workspace))
        .current_dir(tool_dir(workspace))
        // The outer cargo's variables would point the nested build back at
        // the stable toolchain.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

fn tool_target_dir(workspace: &Workspace) -> PathBuf {
    workspace.target_dir.join("diskimage")
}

/// Builds the disk-image tool, then the boot archive and both disk images
/// into the artifacts directory. The tool's first build compiles the
/// loader's stages, which takes minutes; later builds reuse them.
pub fn build_disk_images(workspace: &Workspace, artifacts: &Artifacts) -> Result<()> {
    let channel = tool_channel(workspace)?;
    let mut build = tool_build_command(workspace, &channel);
    let status = build.status().map_err(|error| {
        Error::new(format!("failed to start rustup: {error}; install rustup, then run `cargo xtask doctor`"))
    })?;
    if !status.success() {
        return Err(Error::new(format!(
            "building the disk-image tool on {channel} failed ({status}); read cargo's output above, \
             and run `cargo xtask doctor` if the {channel} toolchain, rust-src or llvm-tools is missing"
        )));
    }

    let staging = crate::artifacts::staging_dir(&artifacts.dir, "boot-archive");
    build_boot_archive(&artifacts.dom0(), &artifacts.ramdisk(), &staging, &artifacts.boot_archive())?;
    crate::artifacts::remove_staging(&staging)?;
    let tool = tool_target_dir(workspace).join("release").join("hospes-diskimage");
    let output = Command::new(&tool)
        .arg(artifacts.hypervisor_bootloader())
        .arg(artifacts.boot_archive())
        .arg("--bios")
        .arg(artifacts.bios_image())
        .arg("--uefi")
        .arg(artifacts.uefi_image())
        .output()
        .map_err(|error| Error::new(format!("failed to start {}: {error}", tool.display())))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "{} failed ({}): {}",
            tool.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;

    #[test]
    fn boot_archive_contents() {
        let scratch = ScratchDir::new("boot-archive");
        let dom0 = scratch.path().join("dom0-built");
        let dom0_ramdisk = scratch.path().join("ramdisk-built");
        fs::write(&dom0, b"\x7fELF dom0").expect("write dom0");
        fs::write(&dom0_ramdisk, b"070701 ramdisk").expect("write ramdisk");
        let output = scratch.path().join("boot.cpio");
        build_boot_archive(&dom0, &dom0_ramdisk, &scratch.path().join("staging"), &output).expect("archive");

        let bytes = fs::read(&output).expect("read archive");
        let mut entries = Vec::new();
        let mut reader = std::io::Cursor::new(bytes);
        loop {
            let mut entry = cpio::NewcReader::new(reader).expect("entry");
            if entry.entry().is_trailer() {
                break;
            }
            let name = entry.entry().name().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).expect("data");
            entries.push((name, data));
            reader = entry.finish().expect("next entry");
        }
        let get = |name: &str| entries.iter().find(|(entry, _)| entry == name).map(|(_, data)| data.clone());
        assert_eq!(get("cmdline").as_deref(), Some(&b"console=com1\n"[..]));
        assert_eq!(get("modules").as_deref(), Some(&b"dom0 dom0\ndom0.cpio initrd\n"[..]));
        assert_eq!(get("dom0").as_deref(), Some(&b"\x7fELF dom0"[..]));
        assert_eq!(get("dom0.cpio").as_deref(), Some(&b"070701 ramdisk"[..]));
    }

    #[test]
    fn tool_build_uses_pinned_nightly() {
        let workspace = Workspace { root: PathBuf::from("/src/hospes"), target_dir: PathBuf::from("/src/hospes/target") };
        let command = tool_build_command(&workspace, "nightly-2026-07-10");
        assert_eq!(command.get_program(), "rustup");
        let arguments: Vec<_> = command.get_args().map(|argument| argument.to_string_lossy().into_owned()).collect();
        assert_eq!(
            arguments,
            ["run", "nightly-2026-07-10", "cargo", "build", "--release", "--locked", "--target-dir", "/src/hospes/target/diskimage"]
        );
        assert_eq!(command.get_current_dir(), Some(Path::new("/src/hospes/boot/diskimage")));
        let removed: Vec<_> =
            command.get_envs().filter(|(_, value)| value.is_none()).map(|(name, _)| name.to_string_lossy().into_owned()).collect();
        assert!(removed.contains(&"RUSTUP_TOOLCHAIN".to_string()), "{removed:?}");
        assert!(removed.contains(&"CARGO".to_string()), "{removed:?}");
    }

    #[test]
    fn tool_channel_is_a_pinned_nightly() {
        let channel = tool_channel(&Workspace::locate()).expect("channel");
        assert!(channel.starts_with("nightly-20"), "{channel}");
    }
}
