//! `cargo xtask bench --profile NAME`: where one benchmark's instructions go.
//!
//! The benchmark runs on an icount machine with QEMU's `-d in_asm,nochain`
//! log. Between its first and second result lines the `exec` item is turned
//! on through QEMU's monitor, so the log holds every translation block that
//! one round executed. Each block's instructions are counted from its
//! `in_asm` listing and charged to the function that contains its start,
//! found with `nm` in the hypervisor, Dom0 or DomU ELF. Dom0 and the DomU
//! are linked at the same addresses, so a guest block belongs to the image
//! whose bytes match its first instruction.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;

use boot::{Artifacts, BootPath, Workspace};
use ::tests::PROMPT;

use super::{DONE, Mode, STEP_TIMEOUT, STEPS, boot_machine_with, power_off, qemu_command};

/// Rounds of the profiled benchmark: the window covers the second.
const ROUNDS: u32 = 3;
/// Functions listed in the report.
const TOP: usize = 30;

/// Runs the profile of benchmark `name` and prints and writes its report.
pub fn run(workspace: &Workspace, artifacts: &Artifacts, name: &str) -> Result<ExitCode, String> {
    let step = STEPS.iter().find(|step| step.names.contains(&name)).ok_or_else(|| {
        let names: Vec<&str> = STEPS.iter().flat_map(|step| step.names.iter().copied()).collect();
        format!("--profile: unknown benchmark '{name}'; the benchmarks are {}", names.join(", "))
    })?;
    if !step.commands.iter().any(|command| command.contains("{rounds}")) {
        return Err(format!("--profile: {name} reports once per boot, so it has no round to profile"));
    }
    let out_dir = workspace.root.join("target").join("bench").join("profile");
    std::fs::create_dir_all(&out_dir).map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;
    let log = out_dir.join(format!("{name}.qemu.log"));
    let monitor = out_dir.join("monitor.sock");
    let _ = std::fs::remove_file(&monitor);

    let command = qemu_command(artifacts, BootPath::Direct, Mode::Icount, boot::qemu::MEMORY_MIB);
    let mut arguments: Vec<std::ffi::OsString> = command.get_args().map(ToOwned::to_owned).collect();
    let index = arguments.iter().position(|argument| argument == "-monitor").ok_or("the QEMU command has no -monitor option")?;
    arguments[index + 1] = format!("unix:{},server=on,wait=off", monitor.display()).into();
    arguments.extend(["-d".into(), "in_asm,nochain".into(), "-D".into(), log.clone().into()]);
    let mut profiled = std::process::Command::new(boot::qemu::QEMU);
    profiled.args(arguments).current_dir(&artifacts.dir);

    let (mut machine, _) = boot_machine_with(profiled, "bench-profile", &out_dir)?;
    for command in step.commands {
        let command = command.replace("{rounds}", &ROUNDS.to_string());
        if !command.starts_with("bench ") {
            machine.run(&command).map_err(|error| error.to_string())?;
            continue;
        }
        let result_line = format!("bench {name} ");
        machine.send(&command).map_err(|error| error.to_string())?;
        machine.expect(&result_line, STEP_TIMEOUT).map_err(|error| error.to_string())?;
        send_monitor(&monitor, "log in_asm,nochain,exec")?;
        machine.expect(&result_line, STEP_TIMEOUT).map_err(|error| error.to_string())?;
        send_monitor(&monitor, "log in_asm,nochain")?;
        machine.expect(DONE, STEP_TIMEOUT).map_err(|error| error.to_string())?;
        machine.expect(PROMPT, STEP_TIMEOUT).map_err(|error| error.to_string())?;
    }
    power_off(&mut machine)?;

    let images = Images::load(artifacts)?;
    let report = count(&log, &images)?.report(name);
    print!("{report}");
    let path = out_dir.join(format!("{name}.txt"));
    std::fs::write(&path, &report).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    eprintln!("xtask: wrote {} (QEMU log {})", path.display(), log.display());
    Ok(ExitCode::SUCCESS)
}

/// Sends one command to QEMU's monitor and waits for its next prompt, so the
/// command has taken effect when this returns.
fn send_monitor(socket: &Path, command: &str) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("QEMU monitor at {}: {error}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(failed)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).map_err(failed)?;
    stream.write_all(format!("{command}\n").as_bytes()).map_err(failed)?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    // The monitor prints a prompt on connecting and another after the command.
    while reply.windows(7).filter(|window| window == b"(qemu) ").count() < 2 {
        match std::io::Read::read(&mut stream, &mut byte).map_err(failed)? {
            0 => return Err(format!("QEMU monitor at {} closed before `{command}` finished", socket.display())),
            _ => reply.push(byte[0]),
        }
    }
    Ok(())
}

/// One ELF image: its loadable bytes and its function symbols.
struct Image {
    name: &'static str,
    /// (virtual address, bytes) of each `PT_LOAD` segment.
    segments: Vec<(u64, Vec<u8>)>,
    /// (address, name) of each function, sorted by address.
    symbols: Vec<(u64, String)>,
}

impl Image {
    fn load(name: &'static str, path: &Path) -> Result<Image, String> {
        let bytes = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let segments = load_segments(&bytes).ok_or_else(|| format!("{} is not a valid ELF64 file", path.display()))?;
        Ok(Image { name, segments, symbols: function_symbols(path)? })
    }

    fn contains_bytes(&self, address: u64, expected: &[u8]) -> bool {
        self.segments.iter().any(|(start, bytes)| {
            let Some(offset) = address.checked_sub(*start).and_then(|offset| usize::try_from(offset).ok()) else { return false };
            bytes.get(offset..offset + expected.len()) == Some(expected)
        })
    }

    fn function_at(&self, address: u64) -> String {
        let index = self.symbols.partition_point(|(start, _)| *start <= address);
        match index.checked_sub(1).map(|index| &self.symbols[index]) {
            Some((_, name)) => name.clone(),
            None => format!("{address:#x}"),
        }
    }
}

/// The hypervisor, Dom0 and DomU images of a build.
struct Images {
    hypervisor: Image,
    guests: [Image; 2],
}

impl Images {
    fn load(artifacts: &Artifacts) -> Result<Images, String> {
        let target = artifacts.dir.parent().ok_or("the image directory has no parent")?;
        let domu = target.join("x86_64-unknown-none").join("release").join("domu");
        Ok(Images {
            hypervisor: Image::load("hv", &artifacts.hypervisor())?,
            guests: [Image::load("dom0", &artifacts.dir.join("dom0"))?, Image::load("domu", &domu)?],
        })
    }

    /// Returns the image and function of a block at `address` run at privilege
    /// level `cpl`, whose first instruction is `first`.
    fn locate(&self, address: u64, cpl: u8, first: &[u8]) -> (&'static str, String) {
        if cpl == 0 {
            return (self.hypervisor.name, function_or_code(&self.hypervisor, address));
        }
        let matching: Vec<&Image> = self.guests.iter().filter(|image| image.contains_bytes(address, first)).collect();
        match matching.as_slice() {
            [image] => (image.name, image.function_at(address)),
            [_, _] => ("guest", self.guests[1].function_at(address)),
            _ => ("guest", format!("{address:#x} (code written at run time, such as the hypercall page)")),
        }
    }
}

/// Names the hypervisor function at `address`, or its entry trampoline,
/// which runs from a page mapped outside the image.
fn function_or_code(image: &Image, address: u64) -> String {
    if image.segments.iter().any(|(start, bytes)| (*start..*start + bytes.len() as u64).contains(&address)) {
        image.function_at(address)
    } else {
        String::from("entry trampoline (outside the image)")
    }
}

/// Returns the `PT_LOAD` segments of an ELF64 little-endian file.
fn load_segments(bytes: &[u8]) -> Option<Vec<(u64, Vec<u8>)>> {
    let u16_at = |offset: usize| Some(u16::from_le_bytes(bytes.get(offset..offset + 2)?.try_into().ok()?));
    let u32_at = |offset: usize| Some(u32::from_le_bytes(bytes.get(offset..offset + 4)?.try_into().ok()?));
    let u64_at = |offset: usize| Some(u64::from_le_bytes(bytes.get(offset..offset + 8)?.try_into().ok()?));
    if bytes.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let table = usize::try_from(u64_at(0x20)?).ok()?;
    let (entry_size, count) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    let mut segments = Vec::new();
    for index in 0..count {
        let header = table.checked_add(index.checked_mul(entry_size)?)?;
        if u32_at(header)? != 1 {
            continue;
        }
        let offset = usize::try_from(u64_at(header + 8)?).ok()?;
        let size = usize::try_from(u64_at(header + 32)?).ok()?;
        segments.push((u64_at(header + 16)?, bytes.get(offset..offset.checked_add(size)?)?.to_vec()));
    }
    Some(segments)
}

/// Returns the functions of an ELF file, sorted by address, from `nm`.
fn function_symbols(path: &Path) -> Result<Vec<(u64, String)>, String> {
    let output = std::process::Command::new("nm")
        .args(["-n", "-C", "--defined-only"])
        .arg(path)
        .output()
        .map_err(|error| format!("cannot run nm (from binutils) on {}: {error}", path.display()))?;
    if !output.status.success() {
        return Err(format!("nm failed on {}: {}", path.display(), String::from_utf8_lossy(&output.stderr).trim()));
    }
    let mut symbols = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut parts = line.splitn(3, ' ');
        if let (Some(address), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            && matches!(kind, "t" | "T" | "w" | "W")
            && let Ok(address) = u64::from_str_radix(address, 16)
        {
            symbols.push((address, name.to_string()));
        }
    }
    Ok(symbols)
}

/// Instructions per (image, function) in the logged window.
struct Profile {
    functions: BTreeMap<(&'static str, String), u64>,
    total: u64,
}

/// A translation block seen in the `in_asm` log: its instruction count and
/// the bytes of its first instruction.
struct Translation {
    instructions: u64,
    first: Vec<u8>,
}

/// Counts the log's executed blocks. A block's `in_asm` listing comes just
/// before its first `exec` line, which names its host code address. Later
/// `exec` lines are matched by that address, because one guest address can
/// hold blocks of both guests.
fn count(log: &Path, images: &Images) -> Result<Profile, String> {
    let file = std::fs::File::open(log).map_err(|error| format!("cannot open {}: {error}", log.display()))?;
    let mut pending: HashMap<u64, Translation> = HashMap::new();
    let mut blocks: HashMap<u64, (u64, (&'static str, String))> = HashMap::new();
    let mut profile = Profile { functions: BTreeMap::new(), total: 0 };
    let mut current: Option<(u64, Translation)> = None;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|error| format!("cannot read {}: {error}", log.display()))?;
        if line.starts_with("IN:") {
            current = None;
            continue;
        }
        if let Some((address, bytes)) = parse_instruction(&line) {
            match &mut current {
                Some((_, translation)) => translation.instructions += 1,
                None => current = Some((address, Translation { instructions: 1, first: bytes })),
            }
            continue;
        }
        if let Some((address, translation)) = current.take() {
            pending.insert(address, translation);
        }
        let Some((host, address, cpl)) = parse_exec(&line) else { continue };
        if let Some(translation) = pending.remove(&address) {
            let place = images.locate(address, cpl, &translation.first);
            blocks.insert(host, (translation.instructions, place));
        }
        if let Some((instructions, place)) = blocks.get(&host) {
            *profile.functions.entry(place.clone()).or_default() += instructions;
            profile.total += instructions;
        }
    }
    if profile.total == 0 {
        return Err(format!("{} has no executed blocks; did the monitor command arrive?", log.display()));
    }
    Ok(profile)
}

/// Parses an `in_asm` line `0xADDRESS:  BYTES  MNEMONIC` into the address
/// and the instruction's bytes.
fn parse_instruction(line: &str) -> Option<(u64, Vec<u8>)> {
    let (address, rest) = line.strip_prefix("0x")?.split_once(":  ")?;
    let address = u64::from_str_radix(address, 16).ok()?;
    let bytes = rest.split(' ').map_while(|word| (word.len() == 2).then(|| u8::from_str_radix(word, 16).ok()).flatten()).collect();
    Some((address, bytes))
}

/// Parses an `exec` line `Trace N: HOST [CS_BASE/PC/FLAGS/CFLAGS] ...` into
/// the host code address, the guest address and the privilege level, which
/// is the low two bits of the flags.
fn parse_exec(line: &str) -> Option<(u64, u64, u8)> {
    let rest = line.strip_prefix("Trace ")?;
    let (_, rest) = rest.split_once(": 0x")?;
    let (host, rest) = rest.split_once(" [")?;
    let mut fields = rest.split('/');
    let _cs_base = fields.next()?;
    let address = u64::from_str_radix(fields.next()?, 16).ok()?;
    let flags = u32::from_str_radix(fields.next()?, 16).ok()?;
    Some((u64::from_str_radix(host, 16).ok()?, address, (flags & 3) as u8))
}

impl Profile {
    fn report(&self, name: &str) -> String {
        let mut per_image: BTreeMap<&str, u64> = BTreeMap::new();
        for ((image, _), instructions) in &self.functions {
            *per_image.entry(image).or_default() += instructions;
        }
        let mut text = format!("profile of {name}: {} instructions in the logged window\n", self.total);
        for (image, instructions) in &per_image {
            let _ = writeln!(text, "  {image:<6} {instructions:>12} {:>6.1} %", self.percent(*instructions));
        }
        let mut functions: Vec<(&(&str, String), &u64)> = self.functions.iter().collect();
        functions.sort_by(|a, b| b.1.cmp(a.1));
        let _ = writeln!(text, "{:>12} {:>6}  image  function", "instructions", "share");
        for ((image, function), instructions) in functions.into_iter().take(TOP) {
            let _ = writeln!(text, "{instructions:>12} {:>5.1} %  {image:<6} {function}", self.percent(*instructions));
        }
        text
    }

    fn percent(&self, instructions: u64) -> f64 {
        instructions as f64 * 100.0 / self.total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_line_parses() {
        let line = "0x0000000000400a10:  48 89 e5                 movq     %rsp, %rbp";
        assert_eq!(parse_instruction(line), Some((0x400a10, vec![0x48, 0x89, 0xe5])));
        assert_eq!(parse_instruction("IN: "), None);
        assert_eq!(parse_instruction("----------------"), None);
    }

    #[test]
    fn exec_line_parses() {
        let line = "Trace 0: 0x7fbcdc2746c0 [0000000000000000/ffff828000000820/0800c091/ff020200] ";
        assert_eq!(parse_exec(line), Some((0x7fbc_dc27_46c0, 0xffff_8280_0000_0820, 1)));
        assert_eq!(parse_exec("Trace 0: garbage"), None);
    }

    #[test]
    fn segments_of_a_non_elf_are_rejected() {
        assert_eq!(load_segments(b"not an ELF file"), None);
        assert_eq!(load_segments(b""), None);
    }
}
