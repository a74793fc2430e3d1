//! The workspace layout and the cargo build of the bare-metal binaries.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Target triple of the hypervisor and guest binaries.
pub const TARGET: &str = "x86_64-unknown-none";

/// Cargo profile of the hypervisor and guest binaries.
pub const PROFILE: &str = "release";

/// Place of a built binary in the boot images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The hypervisor: the multiboot kernel.
    Hypervisor,
    /// The hypervisor linked for the `bootloader` crate's disk images.
    BootloaderHypervisor,
    /// The Dom0 kernel: boot module 1.
    Dom0,
    /// A file inside Dom0's ramdisk at this relative path, such as `boot/domu`.
    Ramdisk(&'static str),
}

/// A binary that one workspace package builds for [`TARGET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    /// Cargo package that builds it (`cargo build -p PACKAGE`).
    pub package: &'static str,
    /// File name cargo gives it under `target/x86_64-unknown-none/release/`.
    pub name: &'static str,
    /// Place in the boot images.
    pub placement: Placement,
}

/// Every binary built for [`TARGET`]. Adding a guest kernel to Dom0's ramdisk
/// takes one line here, for example
/// `Binary { package: "domu", name: "domu", placement: Placement::Ramdisk("boot/domu") }`.
pub const BINARIES: &[Binary] = &[
    Binary {
        package: "kernel",
        name: "hospes",
        placement: Placement::Hypervisor,
    },
    Binary {
        package: "kernel",
        name: "hospes-bootloader",
        placement: Placement::BootloaderHypervisor,
    },
    Binary {
        package: "dom0",
        name: "dom0",
        placement: Placement::Dom0,
    },
    Binary {
        package: "domu",
        name: "domu",
        placement: Placement::Ramdisk("boot/domu"),
    },
];

/// Paths of the Hospes cargo workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The directory with the workspace `Cargo.toml` and `rust-toolchain.toml`.
    pub root: PathBuf,
    /// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `ROOT/target`.
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Returns the workspace this crate was compiled in.
    pub fn locate() -> Workspace {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        Workspace::at(root)
    }

    /// Returns the workspace rooted at `root`. A relative `CARGO_TARGET_DIR`
    /// is taken relative to `root`, because every cargo command here runs there.
    pub fn at(root: PathBuf) -> Workspace {
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        Workspace { root, target_dir }
    }

    /// Returns the path cargo builds `binary` at.
    pub fn binary_path(&self, binary: &Binary) -> PathBuf {
        self.target_dir.join(TARGET).join(PROFILE).join(binary.name)
    }

    /// Returns the directory [`crate::build_artifacts`] writes to: `target/hospes`.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.target_dir.join("hospes")
    }

    /// Returns the directory tree packed into Dom0's ramdisk: `dom0/rootfs`.
    pub fn rootfs_dir(&self) -> PathBuf {
        self.root.join("dom0").join("rootfs")
    }

    /// Returns a `cargo` command that runs in the workspace root. It is the
    /// cargo that started this process (`CARGO`) when there is one.
    pub fn cargo(&self) -> Command {
        let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut command = Command::new(program);
        command.current_dir(&self.root);
        command
    }

    /// Returns the command that builds every binary in [`BINARIES`]:
    /// `cargo build --release --target x86_64-unknown-none -p kernel -p dom0`.
    pub fn build_command(&self) -> Command {
        let mut command = self.cargo();
        command.args(["build", "--release", "--target", TARGET]);
        let mut packages: Vec<&str> = Vec::new();
        for binary in BINARIES {
            if !packages.contains(&binary.package) {
                packages.push(binary.package);
                command.args(["-p", binary.package]);
            }
        }
        command
    }

    pub fn build_binaries(&self) -> Result<()> {
        let mut command = self.build_command();
        let status = command.status().map_err(|error| {
            Error::new(format!(
                "failed to start cargo in {}: {error}; check that cargo is on PATH",
                self.root.display()
            ))
        })?;
        if !status.success() {
            return Err(Error::new(format!(
                "cargo build for {TARGET} failed ({status}); fix the compile errors above, \
                 or run `cargo xtask doctor` if the {TARGET} target is missing"
            )));
        }
        Ok(())
    }
}

/// Returns the `channel` value of a `rust-toolchain.toml` text.
pub fn parse_channel(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != "channel" {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_include_hypervisor_and_dom0_once() {
        let hypervisors = BINARIES
            .iter()
            .filter(|binary| binary.placement == Placement::Hypervisor)
            .count();
        let dom0s = BINARIES
            .iter()
            .filter(|binary| binary.placement == Placement::Dom0)
            .count();
        assert_eq!(hypervisors, 1);
        assert_eq!(dom0s, 1);
    }

    #[test]
    fn build_command_names_every_package() {
        let workspace = Workspace {
            root: PathBuf::from("/src/hospes"),
            target_dir: PathBuf::from("/src/hospes/target"),
        };
        let command = workspace.build_command();
        let arguments: Vec<_> = command.get_args().collect();
        assert_eq!(
            arguments,
            [
                "build",
                "--release",
                "--target",
                "x86_64-unknown-none",
                "-p",
                "kernel",
                "-p",
                "dom0",
                "-p",
                "domu"
            ]
        );
        assert_eq!(command.get_current_dir(), Some(Path::new("/src/hospes")));
    }

    #[test]
    fn binary_path_is_under_target_triple_and_profile() {
        let workspace = Workspace {
            root: PathBuf::from("/src/hospes"),
            target_dir: PathBuf::from("/src/hospes/target"),
        };
        assert_eq!(
            workspace.binary_path(&BINARIES[0]),
            Path::new("/src/hospes/target/x86_64-unknown-none/release/hospes")
        );
        assert_eq!(
            workspace.artifacts_dir(),
            Path::new("/src/hospes/target/hospes")
        );
    }
}
