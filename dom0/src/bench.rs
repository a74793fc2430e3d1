//! The `bench` command: benchmarks that Dom0 runs itself or starts in DomUs.
//!
//! Every result is a console line `bench NAME UNIT VALUE` (see
//! `guest::bench`), and every run ends with the line `bench done`, which
//! `cargo xtask bench` waits for.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use guest::bench::{Benchmark, DEFAULT_ROUNDS, DONE, line};
use guest::time::rdtsc;
use hypercalls::sysctl::{self, PhysInfo, Sysctl};

use crate::toolstack::Toolstack;

/// Usage line printed for a malformed `bench` command.
const USAGE: &str = "usage: bench NAME [ROUNDS] | bench boot | bench domu CFG [ROUNDS [PEER]] | \
                     bench create CFG [ROUNDS] | bench scale CFG";

/// Runs `bench ARGUMENTS`. `bench domu` leaves the console attached to the
/// benchmark's DomU, which powers itself off after its last line. Its PEER
/// (a name or id) is passed to the DomU as `peer=ID`, for the benchmarks
/// that run between two DomUs.
pub fn run(toolstack: &mut Toolstack, arguments: &[String]) -> Result<(), String> {
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let rounds = |index: usize| -> Result<u32, String> {
        match words.get(index) {
            None => Ok(DEFAULT_ROUNDS),
            Some(text) => text
                .parse()
                .ok()
                .filter(|&rounds| rounds > 0)
                .ok_or_else(|| format!("bench: invalid round count '{text}'; give a positive integer")),
        }
    };
    match words.as_slice() {
        ["boot"] => {
            boot();
            finish();
            Ok(())
        }
        ["domu", config, rest @ ..] if rest.len() <= 2 => {
            let mut extra = format!("rounds={}", rounds(2)?);
            if let Some(peer) = rest.get(1) {
                let id = toolstack.resolve_for("bench", peer)?;
                extra.push_str(&format!(" peer={id}"));
            }
            let id = toolstack.create_with(guest::ramdisk(), config, &extra, "")?;
            toolstack.attach(id, |bytes: &[u8]| guest::console::write_raw(bytes))
        }
        ["domu", ..] => Err(format!("bench domu: too many arguments; {USAGE}")),
        ["create", config, ..] => {
            create(toolstack, config, rounds(2)?)?;
            finish();
            Ok(())
        }
        ["scale", config] => {
            scale(toolstack, config)?;
            finish();
            Ok(())
        }
        [name, ..] => {
            let benchmark = Benchmark::parse(name).ok_or_else(|| format!("bench: unknown benchmark '{name}'; {USAGE}"))?;
            let result = benchmark.run("dom0", rounds(1)?, &mut emit);
            finish();
            result.map_err(|error| format!("bench {name}: {error}"))
        }
        [] => Err(String::from(USAGE)),
    }
}

fn emit(text: &str) {
    guest::console::write(text.as_bytes());
    guest::console::write(b"\n");
}

fn finish() {
    emit(DONE);
}

/// Prints the TSC ticks from the hypervisor's time base (set when it
/// calibrated the TSC, early in its boot) to Dom0's first instruction in
/// `guest_main`.
fn boot() {
    let time = guest::time::vcpu_time();
    if time.tsc_to_system_mul == 0 {
        emit("bench boot: the hypervisor published no TSC scale");
        return;
    }
    // system_time = (tsc - tsc_timestamp) * mul / 2^32 + system_time_at_timestamp,
    // and system time 0 is the hypervisor's time base, so solve for its TSC.
    let base_offset = ((time.system_time as u128) << 32) / time.tsc_to_system_mul as u128;
    let base = time.tsc_timestamp.wrapping_sub(base_offset as u64);
    let entry = guest::bench::entry_tsc();
    emit(&line("boot-hv-to-dom0", "ticks", entry.wrapping_sub(base)));
}

/// Creates the DomU of `config`, waits until it reports ready, then
/// destroys it and checks that its memory is free again, `rounds` times.
fn create(toolstack: &mut Toolstack, config: &str, rounds: u32) -> Result<(), String> {
    for _ in 0..rounds {
        let free_before = free_pages()?;
        let start = rdtsc();
        let id = toolstack.create(guest::ramdisk(), config)?;
        toolstack.wait_ready(id, |_: &[u8]| {})?;
        let ready = rdtsc();
        toolstack.destroy(id)?;
        let free_after = free_pages()?;
        let destroyed = rdtsc();
        if free_after != free_before {
            return Err(format!(
                "bench create: {free_before} pages were free before {config} and {free_after} after its destruction"
            ));
        }
        emit(&line("xl-create", "ticks", ready - start));
        emit(&line("xl-destroy", "ticks", destroyed - ready));
    }
    Ok(())
}

/// Creates DomUs from `config` until creation or boot fails, then reports
/// how many became ready and the frames each took beyond its own memory
/// (when every created domain became ready), and destroys them.
fn scale(toolstack: &mut Toolstack, config: &str) -> Result<(), String> {
    let free_before = free_pages()?;
    let mut created = Vec::new();
    let mut guest_pages = 0;
    let mut ready = 0u64;
    let failure = loop {
        let suffix = format!("-{}", created.len() + 1);
        match toolstack.create_with(guest::ramdisk(), config, "", &suffix) {
            Ok(id) => {
                created.push(id);
                if let Err(error) = toolstack.wait_ready(id, |_: &[u8]| {}) {
                    break error;
                }
                guest_pages += crate::builder::domain_info(id).map(|info| info.tot_pages).unwrap_or(0);
                ready += 1;
            }
            Err(error) => break error,
        }
    };
    let free_full = free_pages()?;
    emit(&format!("bench scale: creation stopped: {failure}"));
    emit(&line("scale-domus", "domains", ready));
    // A domain that was created but never became ready still uses memory
    // and is not in `guest_pages`, so the overhead counts ready domains only.
    if ready > 0 && ready == created.len() as u64 {
        let used = free_before - free_full;
        emit(&line("scale-overhead", "frames", used.saturating_sub(guest_pages) / ready));
    }
    for id in created {
        toolstack.destroy(id)?;
    }
    Ok(())
}

fn free_pages() -> Result<u64, String> {
    let mut request = Sysctl::new(sysctl::PHYSINFO, PhysInfo::default());
    guest::hypercall::sysctl(&mut request).map_err(|errno| format!("bench: XEN_SYSCTL_physinfo failed: {errno}"))?;
    let info: PhysInfo = request.payload();
    Ok(info.free_pages)
}
