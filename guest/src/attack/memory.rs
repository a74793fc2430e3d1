//! Guarded memory access from ring 1, the addresses the cases aim at, and
//! probe cases: what ring 1 may read and write by itself (A05, A22).
//!
//! The hypervisor's entry area is the only hypervisor memory mapped in a
//! guest's page tables. Its GDT, IDT, TSS, trampoline code and data must read
//! but refuse writes; addresses the guest does not map must raise `#PF`.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use hypercalls::trap::vector::{GENERAL_PROTECTION, PAGE_FAULT};

use super::check::{Expected, check_guarded, check_unchanged};
use super::suite::Case;
use crate::fault::{Fault, Guarded};

/// Base of the hypervisor's entry area: L4 slot 261, inside Xen's reserved
/// slots 256-271. This and the offsets below mirror the hypervisor's
/// `arch::layout`.
pub const ENTRY_BASE: u64 = 0xFFFF_8280_0000_0000;
pub const ENTRY_TEXT: u64 = ENTRY_BASE;
pub const ENTRY_DATA: u64 = ENTRY_BASE + 0x1_0000;
pub const ENTRY_GDT: u64 = ENTRY_BASE + 0x1_1000;
pub const ENTRY_IDT: u64 = ENTRY_BASE + 0x1_2000;
pub const ENTRY_TSS: u64 = ENTRY_BASE + 0x1_3000;
/// Top of the entry stack, which the CPU writes on every entry to ring 0.
pub const ENTRY_STACK_TOP: u64 = ENTRY_BASE + 0x1_A000;
/// First address of L4 slot 256, the start of the reserved range.
pub const RESERVED_FIRST: u64 = 0xFFFF_8000_0000_0000;
/// Last page of L4 slot 271, the end of the reserved range.
pub const RESERVED_LAST_PAGE: u64 = 0xFFFF_87FF_FFFF_F000;
/// The lowest non-canonical address for 48-bit virtual addresses.
pub const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

/// `#PF` error code bits.
pub const PF_PRESENT: u64 = 1 << 0;
pub const PF_WRITE: u64 = 1 << 1;

/// Copies `out.len()` bytes from `address`, which may be unmapped, into
/// `out`. Returns the fault when ring 1 cannot read all of them.
pub fn guarded_read(address: u64, out: &mut [u8]) -> Result<(), Fault> {
    // SAFETY: `rep movsb` copies rcx bytes from rsi to rdi with the
    // direction flag clear, as the Rust ABI leaves it. The destination is
    // `out`, which is writable for its whole length; a source that cannot be
    // read faults and the guard resumes after the instruction.
    let guarded = unsafe {
        crate::expect_fault!(
            "rep movsb";
            inout("rsi") address => _,
            inout("rdi") out.as_mut_ptr() => _,
            inout("rcx") out.len() => _,
        )
    };
    guarded.fault.map_or(Ok(()), Err)
}

/// Reads the bytes at `address` that ring 1 can read, up to `length`: all
/// of them, else those up to the end of the first page, else none.
pub fn snapshot(address: u64, length: usize) -> Option<Vec<u8>> {
    if length == 0 {
        return None;
    }
    let mut bytes = vec![0u8; length];
    if guarded_read(address, &mut bytes).is_ok() {
        return Some(bytes);
    }
    let to_page_end = (4096 - (address % 4096)) as usize;
    bytes.truncate(to_page_end.min(length));
    guarded_read(address, &mut bytes).ok().map(|()| bytes)
}

/// Reads the same bytes as `before` again and compares them.
pub fn check_snapshot(what: &str, address: u64, before: &Option<Vec<u8>>) -> Result<(), alloc::string::String> {
    let Some(before) = before else {
        return Ok(());
    };
    let mut after = vec![0u8; before.len()];
    if let Err(fault) = guarded_read(address, &mut after) {
        return Err(format!("{what} at {address:#x} was readable before the case and now raises vector {}", fault.vector));
    }
    check_unchanged(&format!("{what} at {address:#x}"), before, &after)
}

/// Returns the faulting address of the last `#PF` the hypervisor bounced,
/// which it stores in `vcpu_info.cr2`.
pub fn last_page_fault_address() -> u64 {
    let shared = crate::entry::shared_info();
    // SAFETY: shared_info stays mapped for the domain's whole life; this is
    // a plain read of an integer the hypervisor writes before a bounce.
    unsafe { core::ptr::addr_of!((*shared).vcpu_info[0].cr2).read_volatile() }
}

/// Loads 8 bytes from `address` under the guard.
fn probe_read(address: u64) -> Guarded {
    // SAFETY: a load writes only the output register; an address ring 1
    // cannot read faults and the guard resumes after the instruction.
    unsafe { crate::expect_fault!("mov {value}, qword ptr [{address}]"; address = in(reg) address, value = out(reg) _) }
}

/// Stores the byte ring 1 read at `address` back to it under the guard,
/// so a store that wrongly succeeds leaves the memory as it was.
fn probe_write(address: u64, value: u8) -> Guarded {
    // SAFETY: the store writes the byte the address already holds; where
    // the mapping is read-only it faults and the guard resumes after it.
    unsafe { crate::expect_fault!("mov byte ptr [{address}], {value}"; address = in(reg) address, value = in(reg_byte) value) }
}

/// A check that ring 1 itself cannot use an address: one table row.
struct Probe {
    id: &'static str,
    name: &'static str,
    address: fn() -> u64,
    write: bool,
    expected: Expected,
}

const PF_NOT_PRESENT_READ: Expected = Expected::fault(PAGE_FAULT, &[0]);
const PF_READ_ONLY_WRITE: Expected = Expected::fault(PAGE_FAULT, &[PF_PRESENT | PF_WRITE]);
const GP_ZERO: Expected = Expected::fault(GENERAL_PROTECTION, &[0]);

const PROBES: &[Probe] = &[
    Probe { id: "A05", name: "read of unmapped 0x1000", address: || 0x1000, write: false, expected: PF_NOT_PRESENT_READ },
    Probe { id: "A05", name: "read of hypervisor image 0x100000", address: || 0x10_0000, write: false, expected: PF_NOT_PRESENT_READ },
    Probe { id: "A05", name: "read of unmapped 0x7ffffffff000", address: || 0x7FFF_FFFF_F000, write: false, expected: PF_NOT_PRESENT_READ },
    Probe { id: "A05", name: "read at the end of the domain's memory", address: crate::entry::memory_end, write: false, expected: PF_NOT_PRESENT_READ },
    Probe { id: "A05", name: "write to the read-only M2P in slot 256", address: || RESERVED_FIRST, write: true, expected: PF_READ_ONLY_WRITE },
    Probe {
        id: "A05",
        name: "read of slot 256 past the M2P (0xffff804000000000)",
        address: || RESERVED_FIRST + 0x40_0000_0000,
        write: false,
        expected: PF_NOT_PRESENT_READ,
    },
    Probe { id: "A05", name: "read of non-canonical 0x8000000000000000", address: || NON_CANONICAL, write: false, expected: GP_ZERO },
    Probe { id: "A22", name: "write to the entry-area GDT", address: || ENTRY_GDT, write: true, expected: PF_READ_ONLY_WRITE },
    Probe { id: "A22", name: "write to the entry-area IDT", address: || ENTRY_IDT, write: true, expected: PF_READ_ONLY_WRITE },
    Probe { id: "A22", name: "write to the entry-area TSS", address: || ENTRY_TSS, write: true, expected: PF_READ_ONLY_WRITE },
    Probe { id: "A22", name: "write to the entry trampoline code", address: || ENTRY_TEXT, write: true, expected: PF_READ_ONLY_WRITE },
    Probe { id: "A22", name: "write to the entry trampoline data", address: || ENTRY_DATA, write: true, expected: PF_READ_ONLY_WRITE },
    Probe { id: "A01", name: "write to its own L4 page table", address: || crate::start_info().pt_base, write: true, expected: PF_READ_ONLY_WRITE },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for probe in PROBES {
        cases.push(Case::new(probe.id, format!("ring-1 {}", probe.name), move || run_probe(probe)));
    }
}

fn run_probe(probe: &Probe) -> Result<(), alloc::string::String> {
    let address = (probe.address)();
    let guarded = if probe.write {
        let mut old = [0u8; 1];
        guarded_read(address, &mut old)
            .map_err(|fault| format!("the target {address:#x} must be readable, but reading it raised vector {}", fault.vector))?;
        probe_write(address, old[0])
    } else {
        probe_read(address)
    };
    check_guarded(probe.expected, guarded)?;
    if let Some(fault) = guarded.fault
        && fault.vector == PAGE_FAULT
    {
        let cr2 = last_page_fault_address();
        if cr2 != address {
            return Err(format!("#PF reported address {cr2:#x} in vcpu_info.cr2, expected {address:#x}"));
        }
    }
    Ok(())
}
