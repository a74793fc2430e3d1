//! Hot-path benchmarks that a guest runs on itself, timed with `rdtsc`.
//!
//! Each benchmark repeats one operation [`REPETITIONS`] times between two
//! TSC reads and reports the mean cost of one operation, once per round, as
//! a console line `bench NAME UNIT VALUE` that `cargo xtask bench` parses.
//! Under QEMU's `-icount shift=0` the TSC advances one tick per executed
//! instruction, hypervisor included, so the value is then an instruction
//! count.

use alloc::format;
use alloc::string::String;

/// Operations timed between two TSC reads in one round.
pub const REPETITIONS: u64 = 1000;

/// Rounds a benchmark runs when its caller names no count.
pub const DEFAULT_ROUNDS: u32 = 5;

/// Marker line printed after the last round of a benchmark.
pub const DONE: &str = "bench done";

/// Formats one result line.
pub fn line(name: &str, unit: &str, value: u64) -> String {
    format!("bench {name} {unit} {value}")
}

/// Returns the value of the first `KEY=VALUE` word of `command_line`.
pub fn option<'a>(command_line: &'a [u8], key: &str) -> Option<&'a str> {
    command_line
        .split(|byte| byte.is_ascii_whitespace())
        .find_map(|word| word.strip_prefix(key.as_bytes())?.strip_prefix(b"="))
        .and_then(|value| core::str::from_utf8(value).ok())
}

#[cfg(target_os = "none")]
pub use run::{Benchmark, mark_entry, entry_tsc, measure, spin_yield};

#[cfg(target_os = "none")]
mod run {
    use alloc::format;
    use alloc::string::String;
    use core::sync::atomic::{AtomicU64, Ordering};

    use hypercalls::DOMID_SELF;

    use super::{REPETITIONS, line};
    use crate::hypercall::{self, MmuUpdate};
    use crate::time::rdtsc;

    const PRESENT: u64 = 1;
    const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
    const EVTCHNOP_SEND: u64 = 4;
    const EVTCHNOP_BIND_IPI: u64 = 7;

    static ENTRY_TSC: AtomicU64 = AtomicU64::new(0);

    /// Records the TSC at the kernel's entry, for the boot benchmark.
    pub fn mark_entry() {
        ENTRY_TSC.store(rdtsc(), Ordering::Relaxed);
    }

    /// Returns the TSC that [`mark_entry`] recorded, or 0.
    pub fn entry_tsc() -> u64 {
        ENTRY_TSC.load(Ordering::Relaxed)
    }

    /// Yields forever, as the partner of the domain-switch benchmark.
    pub fn spin_yield() -> ! {
        loop {
            hypercall::yield_now();
        }
    }

    /// A benchmark a guest runs on itself.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Benchmark {
        /// `xen_version(XENVER_version)`, the cheapest hypercall.
        Hypercall,
        /// `mmu_update` of one L1 entry, rewritten with its own value.
        MmuUpdate1,
        /// `mmu_update` of all 512 entries of one L1 table in one call.
        MmuUpdate512,
        /// `EVTCHNOP_send` on an IPI port of the caller, with the upcall
        /// delivered and the port taken before the next send.
        EvtchnSelf,
        /// `SCHEDOP_yield` while exactly one other domain yields in a loop:
        /// each yield is two domain switches, so the value is half a yield.
        Switch,
    }

    impl Benchmark {
        /// Returns the benchmark named `name`.
        pub fn parse(name: &str) -> Option<Benchmark> {
            Some(match name {
                "hypercall" => Benchmark::Hypercall,
                "mmu1" => Benchmark::MmuUpdate1,
                "mmu512" => Benchmark::MmuUpdate512,
                "evtchn-self" => Benchmark::EvtchnSelf,
                "switch" => Benchmark::Switch,
                _ => return None,
            })
        }

        /// Runs `rounds` rounds and passes each result line to `emit`.
        /// `suffix` tells apart the domains that run the same benchmark,
        /// as in `hypercall-dom0`.
        pub fn run(self, suffix: &str, rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), String> {
            let (name, mut operation): (&str, alloc::boxed::Box<dyn FnMut() -> Result<(), String>>) = match self {
                Benchmark::Hypercall => ("hypercall", alloc::boxed::Box::new(|| {
                    hypercall::version();
                    Ok(())
                })),
                Benchmark::MmuUpdate1 => {
                    let table = own_l1_table()?;
                    let request = [table.requests[table.own_index]];
                    ("mmu-update-1", alloc::boxed::Box::new(move || update(&request)))
                }
                Benchmark::MmuUpdate512 => {
                    let table = own_l1_table()?;
                    ("mmu-update-512", alloc::boxed::Box::new(move || update(&table.requests)))
                }
                Benchmark::EvtchnSelf => {
                    let port = bind_ipi()?;
                    ("evtchn-self", alloc::boxed::Box::new(move || send_and_take(port)))
                }
                Benchmark::Switch => ("domain-switch", alloc::boxed::Box::new(|| {
                    hypercall::yield_now();
                    Ok(())
                })),
            };
            let name = if suffix.is_empty() { String::from(name) } else { format!("{name}-{suffix}") };
            let operations_per_call = if self == Benchmark::Switch { 2 } else { 1 };
            measure(&name, rounds, operations_per_call, emit, &mut *operation)
        }
    }

    /// Times `call` [`REPETITIONS`] times per round, `rounds` times, and
    /// passes the TSC ticks per operation to `emit` as a result line named
    /// `name`. Each call performs `operations_per_call` operations. One
    /// untimed call first warms the caches and the TLB.
    pub fn measure(
        name: &str,
        rounds: u32,
        operations_per_call: u64,
        emit: &mut dyn FnMut(&str),
        call: &mut dyn FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        call()?;
        for _ in 0..rounds {
            let start = rdtsc();
            for _ in 0..REPETITIONS {
                call()?;
            }
            let ticks = (rdtsc() - start) / REPETITIONS / operations_per_call;
            emit(&line(name, "ticks", ticks));
        }
        Ok(())
    }

    /// The 512 entries of the L1 table that maps [`TARGET`], as `mmu_update`
    /// requests that rewrite each entry with its current value.
    struct L1Table {
        requests: [MmuUpdate; 512],
        /// Index of the entry that maps [`TARGET`].
        own_index: usize,
    }

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// The page whose L1 entry the one-entry benchmark rewrites.
    static TARGET: Page = Page([0; 4096]);

    /// Walks the bootstrap page tables down to the L1 table that maps [`TARGET`].
    fn own_l1_table() -> Result<L1Table, String> {
        let address = (&raw const TARGET) as u64;
        let mut table = crate::start_info().pt_base;
        let mut frame = machine_frame((table - crate::entry::virt_base()) / 4096);
        for level in (2..=4).rev() {
            let index = (address >> (12 + 9 * (level - 1))) & 0x1FF;
            // SAFETY: `table` is a page table of this domain, which the
            // builder maps readable, and the index is below 512.
            let entry = unsafe { ((table + index * 8) as *const u64).read_volatile() };
            if entry & PRESENT == 0 {
                return Err(format!("the L{level} entry for {address:#x} is not present"));
            }
            frame = (entry & ADDRESS_MASK) >> 12;
            table = table_address(frame)?;
        }
        let mut requests = [MmuUpdate { pointer: 0, value: 0 }; 512];
        for (index, request) in requests.iter_mut().enumerate() {
            // SAFETY: as above, for the L1 table.
            let value = unsafe { ((table + index as u64 * 8) as *const u64).read_volatile() };
            *request = MmuUpdate { pointer: frame << 12 | index as u64 * 8, value };
        }
        Ok(L1Table { requests, own_index: ((address >> 12) & 0x1FF) as usize })
    }

    fn machine_frame(pfn: u64) -> u64 {
        let list = crate::start_info().mfn_list as *const u64;
        // SAFETY: `mfn_list` holds one u64 per page of the domain, and
        // callers pass page-table pfns, which are below `nr_pages`.
        unsafe { list.add(pfn as usize).read_volatile() }
    }

    /// Returns the virtual address of page-table frame `mfn` among the
    /// bootstrap page tables.
    fn table_address(mfn: u64) -> Result<u64, String> {
        let info = crate::start_info();
        let first = (info.pt_base - crate::entry::virt_base()) / 4096;
        (first..first + info.nr_pt_frames)
            .find(|&pfn| machine_frame(pfn) == mfn)
            .map(|pfn| crate::entry::virt_base() + pfn * 4096)
            .ok_or_else(|| format!("page-table frame {mfn:#x} is not among the bootstrap page tables"))
    }

    fn update(requests: &[MmuUpdate]) -> Result<(), String> {
        hypercall::mmu_update(requests, DOMID_SELF)
            .map(|_| ())
            .map_err(|errno| format!("mmu_update of {} entries failed: {errno}", requests.len()))
    }

    fn bind_ipi() -> Result<u32, String> {
        let mut request = [0u32, 0u32];
        hypercall::event_channel_op(EVTCHNOP_BIND_IPI, request.as_mut_ptr().cast())
            .map_err(|errno| format!("EVTCHNOP_bind_ipi failed: {errno}"))?;
        let port = request[1];
        crate::events::unmask(port).map_err(|errno| format!("unmasking port {port} failed: {errno}"))?;
        // A kernel starts with upcalls masked until it first waits for events.
        crate::wait::enable_upcalls();
        Ok(port)
    }

    fn send_and_take(port: u32) -> Result<(), String> {
        let mut request = [port];
        hypercall::event_channel_op(EVTCHNOP_SEND, request.as_mut_ptr().cast())
            .map_err(|errno| format!("EVTCHNOP_send on port {port} failed: {errno}"))?;
        if crate::events::take(port) {
            Ok(())
        } else {
            Err(format!("the upcall for port {port} did not arrive on return from EVTCHNOP_send"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_finds_value() {
        assert_eq!(option(b"name=a bench=mmu1 rounds=7", "bench"), Some("mmu1"));
        assert_eq!(option(b"name=a bench=mmu1 rounds=7", "rounds"), Some("7"));
        assert_eq!(option(b"benchmark=x", "bench"), None);
        assert_eq!(option(b"", "bench"), None);
    }

    #[test]
    fn line_format() {
        assert_eq!(line("hypercall-domu", "ticks", 250), "bench hypercall-domu ticks 250");
    }
}
