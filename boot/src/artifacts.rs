//! The artifacts directory, `target/hospes/`, and the pipeline that fills it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cargo::{BINARIES, Placement};
use crate::{BootPath, Error, Result, Workspace, elf, iso, ramdisk};

/// The GRUB rescue ISO.
pub const ISO_FILE: &str = "hospes.iso";
/// The hypervisor, ELF64, as cargo built it.
pub const HYPERVISOR_FILE: &str = "hospes";
/// The hypervisor converted to ELF32 for QEMU's `-kernel`.
pub const HYPERVISOR_ELF32_FILE: &str = "hospes.elf32";
/// The Dom0 kernel, ELF64.
pub const DOM0_FILE: &str = "dom0";
/// Dom0's ramdisk, a cpio `newc` archive.
pub const RAMDISK_FILE: &str = "dom0.cpio";
/// The hypervisor linked for the `bootloader` crate (see [`crate::diskimage`]).
pub const HYPERVISOR_BOOTLOADER_FILE: &str = "hospes-bootloader";
/// The boot archive, the `bootloader` ramdisk with Dom0 and its ramdisk.
pub const BOOT_ARCHIVE_FILE: &str = "boot.cpio";
/// The `bootloader` disk image for BIOS firmware (MBR).
pub const BIOS_IMAGE_FILE: &str = "hospes-bios.img";
/// The `bootloader` disk image for UEFI firmware (GPT).
pub const UEFI_IMAGE_FILE: &str = "hospes-uefi.img";
/// Directory with the ISO's file tree, input of grub-mkrescue. Each build
/// stages in a directory of its own (this name, a dot and the process id),
/// so two builds in one target directory do not remove each other's files.
const ISO_STAGING_DIR: &str = "iso-root";

/// The boot images in one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    /// The directory that contains the images.
    pub dir: PathBuf,
}

impl Artifacts {
    /// Returns the artifacts in `dir`, which may not exist yet.
    pub fn in_dir(dir: PathBuf) -> Artifacts {
        Artifacts { dir }
    }

    /// Returns the path of the GRUB ISO.
    pub fn iso(&self) -> PathBuf {
        self.dir.join(ISO_FILE)
    }

    /// Returns the path of the ELF64 hypervisor.
    pub fn hypervisor(&self) -> PathBuf {
        self.dir.join(HYPERVISOR_FILE)
    }

    /// Returns the path of the ELF32 hypervisor.
    pub fn hypervisor_elf32(&self) -> PathBuf {
        self.dir.join(HYPERVISOR_ELF32_FILE)
    }

    /// Returns the path of the hypervisor linked for the `bootloader` crate.
    pub fn hypervisor_bootloader(&self) -> PathBuf {
        self.dir.join(HYPERVISOR_BOOTLOADER_FILE)
    }

    /// Returns the path of the boot archive.
    pub fn boot_archive(&self) -> PathBuf {
        self.dir.join(BOOT_ARCHIVE_FILE)
    }

    /// Returns the path of the BIOS disk image.
    pub fn bios_image(&self) -> PathBuf {
        self.dir.join(BIOS_IMAGE_FILE)
    }

    /// Returns the path of the UEFI disk image.
    pub fn uefi_image(&self) -> PathBuf {
        self.dir.join(UEFI_IMAGE_FILE)
    }

    /// Returns the path of the Dom0 kernel.
    pub fn dom0(&self) -> PathBuf {
        self.dir.join(DOM0_FILE)
    }

    /// Returns the path of Dom0's ramdisk.
    pub fn ramdisk(&self) -> PathBuf {
        self.dir.join(RAMDISK_FILE)
    }

    /// Returns each image a boot path needs, with a short description.
    pub fn files_for(&self, boot_path: BootPath) -> Vec<(&'static str, PathBuf)> {
        match boot_path {
            BootPath::GrubIso => vec![("GRUB ISO", self.iso())],
            BootPath::Direct => vec![
                ("hypervisor (ELF32)", self.hypervisor_elf32()),
                ("Dom0 kernel", self.dom0()),
                ("Dom0 ramdisk", self.ramdisk()),
            ],
            BootPath::Bios => vec![("BIOS disk image", self.bios_image())],
            BootPath::Uefi => vec![("UEFI disk image", self.uefi_image())],
        }
    }

    /// Returns every image, with a short description, in the order
    /// `cargo xtask build` prints them.
    pub fn all_files(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("GRUB ISO", self.iso()),
            ("hypervisor (ELF64)", self.hypervisor()),
            ("hypervisor (ELF32)", self.hypervisor_elf32()),
            ("Dom0 kernel", self.dom0()),
            ("Dom0 ramdisk", self.ramdisk()),
        ]
    }

    /// Returns the `bootloader` path's images, with a short description.
    pub fn disk_image_files(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("BIOS disk image", self.bios_image()),
            ("UEFI disk image", self.uefi_image()),
            ("hypervisor (bootloader build)", self.hypervisor_bootloader()),
            ("boot archive", self.boot_archive()),
        ]
    }

    /// Checks that every image `boot_path` needs exists.
    pub fn check(&self, boot_path: BootPath) -> Result<()> {
        let missing: Vec<String> = self
            .files_for(boot_path)
            .into_iter()
            .filter(|(_, path)| !path.is_file())
            .map(|(description, path)| format!("{description} {}", path.display()))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "missing boot images for the {} path: {}; run `cargo xtask build`",
                boot_path.name(),
                missing.join(", ")
            )))
        }
    }
}

/// Builds the binaries with cargo, then the boot images, into
/// [`Workspace::artifacts_dir`]. Cargo's output goes to this process's terminal.
pub fn build_artifacts(workspace: &Workspace) -> Result<Artifacts> {
    workspace.build_binaries()?;
    assemble_artifacts(workspace)
}

/// Builds the boot images from binaries cargo already built.
pub fn assemble_artifacts(workspace: &Workspace) -> Result<Artifacts> {
    let artifacts = Artifacts::in_dir(workspace.artifacts_dir());
    fs::create_dir_all(&artifacts.dir)
        .map_err(|error| Error::io("create", &artifacts.dir, error))?;

    let mut ramdisk_files = Vec::new();
    for binary in BINARIES {
        let built = workspace.binary_path(binary);
        elf::check_elf64(&built)?;
        match binary.placement {
            Placement::Hypervisor => copy(&built, &artifacts.hypervisor())?,
            Placement::BootloaderHypervisor => copy(&built, &artifacts.hypervisor_bootloader())?,
            Placement::Dom0 => copy(&built, &artifacts.dom0())?,
            Placement::Ramdisk(name) => ramdisk_files.push((name.to_string(), built)),
        }
    }

    ramdisk::build_ramdisk(
        &workspace.rootfs_dir(),
        &ramdisk_files,
        &artifacts.ramdisk(),
    )?;

    let objcopy = elf::find_objcopy(workspace)?;
    elf::convert_to_elf32(
        &objcopy,
        &artifacts.hypervisor(),
        &artifacts.hypervisor_elf32(),
    )?;

    let staging = staging_dir(&artifacts.dir, ISO_STAGING_DIR);
    iso::build_iso(
        &artifacts.hypervisor(),
        &artifacts.dom0(),
        &artifacts.ramdisk(),
        &staging,
        &artifacts.iso(),
    )?;
    remove_staging(&staging)?;
    Ok(artifacts)
}

/// Returns `dir/NAME.PID`, a staging directory private to this process.
pub(crate) fn staging_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.{}", std::process::id()))
}

/// Removes a staging directory once its contents are packed.
pub(crate) fn remove_staging(staging: &Path) -> Result<()> {
    fs::remove_dir_all(staging).map_err(|error| Error::io("remove", staging, error))
}

fn copy(source: &Path, destination: &Path) -> Result<()> {
    fs::copy(source, destination).map_err(|error| {
        Error::new(format!(
            "failed to copy {} to {}: {error}",
            source.display(),
            destination.display()
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;

    #[test]
    fn check_names_missing_images() {
        let scratch = ScratchDir::new("artifacts");
        fs::write(scratch.path().join(DOM0_FILE), b"dom0").expect("write dom0");
        let artifacts = Artifacts::in_dir(scratch.path().to_path_buf());

        let error = artifacts
            .check(BootPath::Direct)
            .expect_err("images are missing");
        assert!(error.message().contains("hospes.elf32"), "{error}");
        assert!(error.message().contains("dom0.cpio"), "{error}");
        assert!(!error.message().contains("Dom0 kernel"), "{error}");

        fs::write(artifacts.iso(), b"iso").expect("write iso");
        assert!(artifacts.check(BootPath::GrubIso).is_ok());
    }
}
