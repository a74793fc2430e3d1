//! Builds real boot images around a tiny hand-made kernel and boots both
//! paths in QEMU. The kernel writes code 0x2a to the debug-exit port, so a
//! QEMU status of 85 proves that the ISO, grub.cfg, the ELF32 copy and the
//! QEMU command lines work without depending on the hypervisor's code.
//!
//! The tests are skipped, with a message, when QEMU or grub-mkrescue is not
//! installed; `cargo xtask test` installs both before it runs them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use boot::exit::status_for_code;
use boot::{Accel, Artifacts, BootPath, Console, Outcome, QemuConfig, Workspace};

/// Code the fixture kernel writes to the debug-exit port.
const FIXTURE_EXIT_CODE: u32 = 0x2a;

/// Guards against a hang: SeaBIOS, GRUB and the fixture take a few seconds under TCG.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// Physical address of the fixture's only segment, which starts at file offset 0x80.
const LOAD_ADDRESS: u64 = 0x10_0080;

/// Returns an x86_64 ELF64 executable with a Multiboot1 and a Multiboot2
/// header whose 32-bit entry code writes [`FIXTURE_EXIT_CODE`] to port 0xf4.
///
/// File layout: ELF header at 0x00, program header at 0x40, `.text` at 0x80
/// (Multiboot1 header, Multiboot2 header at 0x90, code at 0xa8),
/// `.shstrtab` at 0xb0, section headers at 0xc8. The section headers are
/// there because llvm-objcopy copies sections, not bare segments.
fn fixture_kernel() -> Vec<u8> {
    let mut text = Vec::new();
    // Multiboot1 header: magic, flags 0 (load by ELF program headers), checksum.
    let magic1: u32 = 0x1bad_b002;
    push_u32(&mut text, magic1);
    push_u32(&mut text, 0);
    push_u32(&mut text, 0u32.wrapping_sub(magic1));
    text.resize(0x10, 0);
    // Multiboot2 header: magic, architecture 0 (i386), length, checksum, end tag.
    let magic2: u32 = 0xe852_50d6;
    let length2: u32 = 24;
    push_u32(&mut text, magic2);
    push_u32(&mut text, 0);
    push_u32(&mut text, length2);
    push_u32(&mut text, 0u32.wrapping_sub(magic2.wrapping_add(length2)));
    push_u32(&mut text, 0);
    push_u32(&mut text, 8);
    let entry_offset = text.len() as u64;
    // mov al, 0x2a; out 0xf4, al; hlt; jmp back to hlt.
    text.extend_from_slice(&[0xb0, FIXTURE_EXIT_CODE as u8, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]);
    let text_size = text.len() as u64;

    let names = b"\0.text\0.shstrtab\0";
    let text_offset = 0x80u64;
    let names_offset = 0xb0u64;
    let section_headers_offset = 0xc8u64;

    let mut file = Vec::new();
    // ELF header.
    file.extend_from_slice(b"\x7fELF");
    file.extend_from_slice(&[2, 1, 1, 0]); // ELF64, little endian, version 1, System V
    file.resize(16, 0);
    push_u16(&mut file, 2); // ET_EXEC
    push_u16(&mut file, 62); // EM_X86_64
    push_u32(&mut file, 1);
    push_u64(&mut file, LOAD_ADDRESS + entry_offset);
    push_u64(&mut file, 0x40); // program headers
    push_u64(&mut file, section_headers_offset);
    push_u32(&mut file, 0); // flags
    push_u16(&mut file, 64); // ELF header size
    push_u16(&mut file, 56); // program header size
    push_u16(&mut file, 1);
    push_u16(&mut file, 64); // section header size
    push_u16(&mut file, 3);
    push_u16(&mut file, 2); // index of .shstrtab

    // Program header: one PT_LOAD, read and execute.
    push_u32(&mut file, 1);
    push_u32(&mut file, 5);
    push_u64(&mut file, text_offset);
    push_u64(&mut file, LOAD_ADDRESS);
    push_u64(&mut file, LOAD_ADDRESS);
    push_u64(&mut file, text_size);
    push_u64(&mut file, text_size);
    push_u64(&mut file, 0x1000);

    file.resize(text_offset as usize, 0);
    file.extend_from_slice(&text);
    file.resize(names_offset as usize, 0);
    file.extend_from_slice(names);
    file.resize(section_headers_offset as usize, 0);

    // Section headers: null, .text (PROGBITS, alloc + exec), .shstrtab (STRTAB).
    file.extend_from_slice(&[0; 64]);
    push_section(
        &mut file,
        1,
        1,
        0x6,
        LOAD_ADDRESS,
        text_offset,
        text_size,
        8,
    );
    push_section(&mut file, 7, 3, 0, 0, names_offset, names.len() as u64, 1);
    file
}

#[allow(clippy::too_many_arguments)]
fn push_section(
    file: &mut Vec<u8>,
    name: u32,
    kind: u32,
    flags: u64,
    address: u64,
    offset: u64,
    size: u64,
    alignment: u64,
) {
    push_u32(file, name);
    push_u32(file, kind);
    push_u64(file, flags);
    push_u64(file, address);
    push_u64(file, offset);
    push_u64(file, size);
    push_u32(file, 0); // link
    push_u32(file, 0); // info
    push_u64(file, alignment);
    push_u64(file, 0); // entry size
}

fn push_u16(bytes: &mut Vec<u8>, value: u16) {
    bytes.extend_from_slice(&value.to_le_bytes());
}

fn push_u32(bytes: &mut Vec<u8>, value: u32) {
    bytes.extend_from_slice(&value.to_le_bytes());
}

fn push_u64(bytes: &mut Vec<u8>, value: u64) {
    bytes.extend_from_slice(&value.to_le_bytes());
}

/// Returns the first missing host tool, if any.
fn missing_tool() -> Option<&'static str> {
    ["qemu-system-x86_64", "grub-mkrescue", "xorriso"]
        .into_iter()
        .find(|tool| {
            std::process::Command::new(tool)
                .arg("--version")
                .output()
                .is_err()
        })
}

/// Assembles artifacts from the fixture kernel in a scratch target directory.
/// The fixture is used as both the hypervisor and Dom0.
fn fixture_artifacts(name: &str) -> Artifacts {
    let root = Workspace::locate().root;
    let target_dir: PathBuf =
        std::env::temp_dir().join(format!("hospes-images-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&target_dir);
    let workspace = Workspace { root, target_dir };

    let kernel = fixture_kernel();
    for binary in boot::BINARIES {
        let path = workspace.binary_path(binary);
        fs::create_dir_all(path.parent().expect("binary path has a parent"))
            .expect("create scratch target directory");
        fs::write(&path, &kernel).expect("write fixture kernel");
    }
    boot::artifacts::assemble_artifacts(&workspace)
        .unwrap_or_else(|error| panic!("assembling fixture images failed: {error}"))
}

/// Waits for `child` to exit and returns how it ended, killing it on time-out.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Outcome {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Outcome::from_status(status),
            Ok(None) if start.elapsed() < timeout => thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let output = child.wait();
                panic!(
                    "QEMU did not exit within {timeout:?} ({output:?}); the fixture kernel hung"
                );
            }
            Err(error) => panic!("failed to wait for QEMU: {error}"),
        }
    }
}

fn boot_fixture(artifacts: &Artifacts, boot_path: BootPath) -> (Outcome, String) {
    let config = QemuConfig {
        artifacts,
        boot_path,
        accel: Accel::Tcg,
        console: Console::Piped,
    };
    let mut command = config.command();
    // The fixture reads no input; closing stdin keeps QEMU from waiting on it.
    command.stdin(std::process::Stdio::null());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("failed to start QEMU: {error}"));
    let outcome = wait_with_timeout(&mut child, BOOT_TIMEOUT);
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (outcome, stderr)
}

fn assert_fixture_boots(name: &str, boot_path: BootPath) {
    if let Some(tool) = missing_tool() {
        eprintln!("skipped: {tool} is not installed; `cargo xtask doctor` says how to install it");
        return;
    }
    let artifacts = fixture_artifacts(name);
    for (description, path) in artifacts.all_files() {
        assert!(
            path.is_file(),
            "{description} missing at {}",
            path.display()
        );
    }
    let (outcome, stderr) = boot_fixture(&artifacts, boot_path);
    assert_eq!(
        outcome,
        Outcome::DebugExit(FIXTURE_EXIT_CODE),
        "expected QEMU status {}; QEMU's standard error:\n{stderr}",
        status_for_code(FIXTURE_EXIT_CODE)
    );
    let _ = fs::remove_dir_all(artifacts.dir.parent().unwrap_or(Path::new("/nonexistent")));
}

#[test]
fn grub_iso_boots_fixture_kernel() {
    assert_fixture_boots("grub", BootPath::GrubIso);
}

#[test]
fn direct_path_boots_fixture_kernel() {
    assert_fixture_boots("direct", BootPath::Direct);
}

#[test]
fn elf32_copy_is_elf32_i386() {
    if let Some(tool) = missing_tool() {
        eprintln!("skipped: {tool} is not installed; `cargo xtask doctor` says how to install it");
        return;
    }
    let artifacts = fixture_artifacts("elf32");
    let header = fs::read(artifacts.hypervisor_elf32()).expect("read ELF32 copy");
    assert_eq!(&header[0..4], b"\x7fELF");
    assert_eq!(header[4], 1, "ELF class of the copy");
    assert_eq!(
        u16::from_le_bytes([header[18], header[19]]),
        3,
        "machine EM_386"
    );
    let _ = fs::remove_dir_all(artifacts.dir.parent().unwrap_or(Path::new("/nonexistent")));
}
