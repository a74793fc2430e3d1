//! ELF checks and the ELF32 copy of the hypervisor for QEMU's `-kernel`.
//!
//! QEMU 7.2's multiboot loader rejects ELF64 files, so the direct boot path
//! loads an `elf32-i386` copy that `llvm-objcopy` makes from the ELF64 image.
//! The copy keeps the segments and their physical addresses, and the 32-bit
//! multiboot entry code runs the same in both.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result, Workspace};

const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const CLASS_64: u8 = 2;
const MACHINE_X86_64: u16 = 62;

/// Checks that `path` is an x86_64 ELF64 file, as cargo builds for
/// `x86_64-unknown-none`.
pub fn check_elf64(path: &Path) -> Result<()> {
    let mut header = [0u8; 20];
    let mut file = File::open(path).map_err(|error| {
        Error::new(format!(
            "failed to open {}: {error}; build it with `cargo xtask build`",
            path.display()
        ))
    })?;
    file.read_exact(&mut header).map_err(|error| {
        Error::new(format!(
            "{} is too short for an ELF header ({error}); rebuild it",
            path.display()
        ))
    })?;
    if header[0..4] != ELF_MAGIC {
        return Err(Error::new(format!(
            "{} is not an ELF file (first bytes {:02x?}); rebuild it",
            path.display(),
            &header[0..4]
        )));
    }
    if header[4] != CLASS_64 {
        return Err(Error::new(format!(
            "{} is ELF class {}, expected 2 (ELF64); build it for x86_64-unknown-none",
            path.display(),
            header[4]
        )));
    }
    // e_machine is at offset 18, in the byte order that header[5] gives
    // (1 is little endian, as on x86_64).
    let machine = u16::from_le_bytes([header[18], header[19]]);
    if header[5] != 1 || machine != MACHINE_X86_64 {
        return Err(Error::new(format!(
            "{} is not a little-endian x86_64 ELF file (machine {machine}); \
             build it for x86_64-unknown-none",
            path.display()
        )));
    }
    Ok(())
}

/// Returns the path of `llvm-objcopy` from the workspace toolchain's
/// `llvm-tools` component.
pub fn find_objcopy(workspace: &Workspace) -> Result<PathBuf> {
    let sysroot = rustc_output(workspace, &["--print", "sysroot"])?;
    let version = rustc_output(workspace, &["-vV"])?;
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .ok_or_else(|| {
            Error::new(format!(
                "`rustc -vV` printed no 'host:' line:\n{version}\nreinstall the toolchain \
                 with `rustup toolchain install` in {}",
                workspace.root.display()
            ))
        })?;
    let objcopy = objcopy_path(Path::new(sysroot.trim()), host.trim());
    if !objcopy.is_file() {
        return Err(Error::new(format!(
            "llvm-objcopy not found at {}; install the llvm-tools component with \
             `rustup toolchain install` in {}",
            objcopy.display(),
            workspace.root.display()
        )));
    }
    Ok(objcopy)
}

/// Returns where the llvm-tools component puts `llvm-objcopy` in `sysroot`.
pub fn objcopy_path(sysroot: &Path, host: &str) -> PathBuf {
    sysroot
        .join("lib")
        .join("rustlib")
        .join(host)
        .join("bin")
        .join("llvm-objcopy")
}

/// Writes an `elf32-i386` copy of the ELF64 file `input` to `output`.
pub fn convert_to_elf32(objcopy: &Path, input: &Path, output: &Path) -> Result<()> {
    let mut command = Command::new(objcopy);
    command.args(["-O", "elf32-i386"]).arg(input).arg(output);
    let result = command
        .output()
        .map_err(|error| Error::new(format!("failed to start {}: {error}", objcopy.display())))?;
    if !result.status.success() {
        return Err(Error::new(format!(
            "`{}` failed ({}):\n{}\nthe hypervisor must link at physical addresses \
             below 4 GiB for the ELF32 copy",
            crate::qemu::render_command(&command),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim_end()
        )));
    }
    Ok(())
}

/// Runs rustc with `arguments` in the workspace root, so rust-toolchain.toml
/// picks the toolchain, and returns its standard output.
fn rustc_output(workspace: &Workspace, arguments: &[&str]) -> Result<String> {
    let output = Command::new("rustc")
        .args(arguments)
        .current_dir(&workspace.root)
        .output()
        .map_err(|error| {
            Error::new(format!(
                "failed to start `rustc {}`: {error}; check that rustup is on PATH",
                arguments.join(" ")
            ))
        })?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "`rustc {}` failed ({}):\n{}\nrun `rustup toolchain install` in {}",
            arguments.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end(),
            workspace.root.display()
        )));
    }
    String::from_utf8(output.stdout).map_err(|_| {
        Error::new(format!(
            "`rustc {}` printed non-UTF-8 output",
            arguments.join(" ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;
    use std::fs;

    /// Writes `bytes` to a file in a new scratch directory.
    fn scratch_file(name: &str, bytes: &[u8]) -> (ScratchDir, PathBuf) {
        let scratch = ScratchDir::new(&format!("elf-{name}"));
        let path = scratch.path().join("image");
        fs::write(&path, bytes).expect("write scratch file");
        (scratch, path)
    }

    fn elf_header(class: u8, machine: u16) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[0..4].copy_from_slice(&ELF_MAGIC);
        header[4] = class;
        header[5] = 1;
        header[18..20].copy_from_slice(&machine.to_le_bytes());
        header
    }

    #[test]
    fn check_elf64_accepts_x86_64() {
        let (_scratch, path) = scratch_file("good", &elf_header(2, 62));
        assert!(check_elf64(&path).is_ok());
    }

    #[test]
    fn check_elf64_rejects_elf32() {
        let (_scratch, path) = scratch_file("class32", &elf_header(1, 3));
        let error = check_elf64(&path).expect_err("ELF32 is not accepted");
        assert!(error.message().contains("class 1"), "{error}");
    }

    #[test]
    fn check_elf64_rejects_other_machine() {
        let (_scratch, path) = scratch_file("aarch64", &elf_header(2, 183));
        let error = check_elf64(&path).expect_err("aarch64 is not accepted");
        assert!(error.message().contains("machine 183"), "{error}");
    }

    #[test]
    fn check_elf64_rejects_non_elf() {
        let (_scratch, path) = scratch_file("text", b"#!/bin/sh\necho not an ELF file\n");
        let error = check_elf64(&path).expect_err("a script is not accepted");
        assert!(error.message().contains("not an ELF file"), "{error}");
    }

    #[test]
    fn objcopy_path_is_in_host_rustlib() {
        assert_eq!(
            objcopy_path(
                Path::new("/root/.rustup/toolchains/1.95.0"),
                "x86_64-unknown-linux-gnu"
            ),
            Path::new(
                "/root/.rustup/toolchains/1.95.0/lib/rustlib/x86_64-unknown-linux-gnu/bin/llvm-objcopy"
            )
        );
    }
}
