//! Builds Hospes's BIOS and UEFI disk images with the `bootloader` crate.
//!
//! `cargo xtask build` runs this tool on the pinned nightly (see
//! `rust-toolchain.toml` here) after it built the hypervisor and the boot
//! archive:
//!
//! ```text
//! hospes-diskimage KERNEL ARCHIVE [--bios IMAGE] [--uefi IMAGE]
//! ```
//!
//! KERNEL is the `hospes-bootloader` ELF; ARCHIVE is the cpio archive with
//! the Dom0 kernel, its ramdisk, the module list and the command line, which
//! the loader passes on as its ramdisk. The loader logs warnings and errors
//! to the serial port only, because drawing its log on the framebuffer is
//! slow under QEMU's emulation and the tests read the serial port.

use std::path::PathBuf;
use std::process::ExitCode;

use bootloader::{BootConfig, DiskImageBuilder};

const USAGE: &str = "usage: hospes-diskimage KERNEL ARCHIVE [--bios IMAGE] [--uefi IMAGE]";

struct Request {
    kernel: PathBuf,
    archive: PathBuf,
    bios: Option<PathBuf>,
    uefi: Option<PathBuf>,
}

fn parse(mut arguments: impl Iterator<Item = String>) -> Result<Request, String> {
    let mut positional = Vec::new();
    let (mut bios, mut uefi) = (None, None);
    while let Some(argument) = arguments.next() {
        let slot = match argument.as_str() {
            "--bios" => &mut bios,
            "--uefi" => &mut uefi,
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => {
                positional.push(PathBuf::from(argument));
                continue;
            }
        };
        *slot = Some(PathBuf::from(arguments.next().ok_or(format!("{argument} needs an image path"))?));
    }
    let [kernel, archive] = <[PathBuf; 2]>::try_from(positional)
        .map_err(|given| format!("expected KERNEL and ARCHIVE, got {} paths", given.len()))?;
    if bios.is_none() && uefi.is_none() {
        return Err("nothing to build: give --bios, --uefi or both".to_string());
    }
    Ok(Request { kernel, archive, bios, uefi })
}

/// Rejects an archive the hypervisor could not read: the loader hangs on
/// an empty ramdisk before Hospes runs, with no message.
fn check_archive(path: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read the boot archive {}: {error}", path.display()))?;
    if bytes.is_empty() {
        return Err(format!("the boot archive {} is empty; the loader cannot start from an empty ramdisk", path.display()));
    }
    if !bytes.starts_with(b"070701") && !bytes.starts_with(b"070702") {
        return Err(format!(
            "the boot archive {} is not a cpio newc archive (it does not start with 070701); build it with `cpio -o -H newc`",
            path.display()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let request = match parse(std::env::args().skip(1)) {
        Ok(request) => request,
        Err(problem) => {
            eprintln!("hospes-diskimage: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(problem) = check_archive(&request.archive) {
        eprintln!("hospes-diskimage: {problem}");
        return ExitCode::FAILURE;
    }
    let mut config = BootConfig::default();
    config.log_level = bootloader_boot_config::LevelFilter::Warn;
    config.frame_buffer_logging = false;
    let mut builder = DiskImageBuilder::new(request.kernel);
    builder.set_ramdisk(request.archive).set_boot_config(&config);

    let images = [("BIOS", request.bios, true), ("UEFI", request.uefi, false)];
    for (kind, path, bios) in images {
        let Some(path) = path else { continue };
        let result = if bios { builder.create_bios_image(&path) } else { builder.create_uefi_image(&path) };
        if let Err(problem) = result {
            eprintln!("hospes-diskimage: cannot write the {kind} image {}: {problem:#}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
