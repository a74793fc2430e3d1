//! Bootable images and QEMU command lines.
//!
//! The `kernel` and `dom0` crates build ELF64 executables for
//! `x86_64-unknown-none`. This crate turns them into what a machine can boot:
//!
//! - a GRUB rescue ISO whose `multiboot2` entry loads the hypervisor with Dom0
//!   and its ramdisk as modules ([`iso`]),
//! - an ELF32 copy of the hypervisor for QEMU's own multiboot loader ([`elf`]),
//! - Dom0's ramdisk, a cpio `newc` archive ([`ramdisk`]),
//! - BIOS and UEFI disk images made with the `bootloader` crate ([`diskimage`]).
//!
//! [`qemu`] builds the QEMU command lines for both boot paths, [`exit`] decodes
//! how QEMU ended, and [`accel`] chooses between TCG and KVM.
//! [`build_artifacts`] runs the whole pipeline into `target/hospes/`.

pub mod accel;
pub mod artifacts;
pub mod cargo;
pub mod diskimage;
pub mod elf;
mod error;
pub mod exit;
pub mod iso;
pub mod qemu;
pub mod ramdisk;
#[cfg(test)]
mod scratch;

pub use accel::{Accel, AccelChoice};
pub use artifacts::{Artifacts, build_artifacts};
pub use diskimage::build_disk_images;
pub use cargo::{BINARIES, Binary, Placement, Workspace};
pub use error::{Error, Result};
pub use exit::Outcome;
pub use qemu::{BootPath, Console, QemuConfig};
