//! `update_va_mapping` with frames the guest must not map (A04) and with its
//! own page-table frames (A01).
//!
//! The cases remap one page of the guest's own memory, the scratch page.
//! A guest may map only frames it owns, may map its page-table frames only
//! read-only, may not touch the reserved L4 slots 256-271, and may not set
//! the large-page bit or reserved bits in an L1 entry. After every refused
//! request the case reads the scratch page's L1 entry back through the
//! guest's read-only view of its page tables and requires it unchanged
//! (O6), and requires the targeted address to read as before.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::trap::vector::PAGE_FAULT;
use hypercalls::{Errno, Hypercall};

use super::check::{Expected, check_guarded, check_return};
use super::memory::{
    ENTRY_GDT, NON_CANONICAL, PF_PRESENT, PF_WRITE, RESERVED_FIRST, RESERVED_LAST_PAGE, check_snapshot, guarded_read,
    snapshot,
};
use super::suite::Case;
use crate::hypercall::raw;

/// Page-table entry bits.
const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
/// Page size in an L2 or L3 entry, PAT in an L1 entry.
const PAGE_SIZE_OR_PAT: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Bits 52-62 of an entry: ignored or protection-key bits the hypervisor does not allow.
const HIGH_BITS: u64 = 0x7FF0_0000_0000_0000;

const READ_ONLY: u64 = PRESENT | ACCESSED;
const READ_WRITE: u64 = PRESENT | WRITABLE | ACCESSED | DIRTY;

/// Bytes of a target page that the cases compare before and after.
const COMPARED_BYTES: usize = 64;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The page whose mapping the cases change; nothing else uses it.
static mut SCRATCH: Page = Page([0; 4096]);

/// Addresses and frames of the current page tables that the cases use.
struct Tables {
    /// Virtual address of the scratch page.
    scratch: u64,
    /// The scratch page's L1 entry before the case.
    scratch_entry: u64,
    /// Frame of the L4 (the page at `start_info.pt_base`).
    l4_frame: u64,
    /// Frame of the L1 that maps the scratch page.
    scratch_l1_frame: u64,
}

impl Tables {
    fn read() -> Result<Tables, String> {
        let scratch = (&raw const SCRATCH) as u64;
        let (scratch_entry, scratch_l1_frame) = l1_entry(scratch)?;
        let info = crate::start_info();
        let l4_pfn = (info.pt_base - crate::entry::virt_base()) / 4096;
        Ok(Tables { scratch, scratch_entry, l4_frame: machine_frame(l4_pfn), scratch_l1_frame })
    }

    fn scratch_frame(&self) -> u64 {
        (self.scratch_entry & ADDRESS_MASK) >> 12
    }
}

/// Returns the machine frame of pseudo-physical page `pfn`, from the
/// builder's `mfn_list`.
pub(super) fn machine_frame(pfn: u64) -> u64 {
    let list = crate::start_info().mfn_list as *const u64;
    // SAFETY: the builder maps `mfn_list` with one u64 per page of the
    // domain, and callers pass a pfn below `nr_pages`.
    unsafe { list.add(pfn as usize).read_volatile() }
}

/// Returns the virtual address at which the guest reads page-table frame
/// `mfn`. Page tables are the builder's bootstrap tables, which sit in
/// `nr_pt_frames` pages from `pt_base`.
pub(super) fn table_address(mfn: u64) -> Result<u64, String> {
    let info = crate::start_info();
    let first = (info.pt_base - crate::entry::virt_base()) / 4096;
    (first..first + info.nr_pt_frames)
        .find(|&pfn| machine_frame(pfn) == mfn)
        .map(|pfn| crate::entry::virt_base() + pfn * 4096)
        .ok_or_else(|| format!("page-table frame {mfn:#x} is not among the bootstrap page tables"))
}

/// Returns the L1 entry that maps `address` and the frame of that L1, read
/// through the guest's read-only mappings of its page tables.
pub(super) fn l1_entry(address: u64) -> Result<(u64, u64), String> {
    let mut table = crate::start_info().pt_base;
    let mut frame = 0;
    for level in (1..=4).rev() {
        let index = (address >> (12 + 9 * (level - 1))) & 0x1FF;
        // SAFETY: `table` is a page-table page of this domain, mapped
        // readable at that address, and the index is below 512.
        let entry = unsafe { ((table + index * 8) as *const u64).read_volatile() };
        if level == 1 {
            return Ok((entry, frame));
        }
        if entry & PRESENT == 0 || entry & PAGE_SIZE_OR_PAT != 0 {
            return Err(format!("the L{level} entry for {address:#x} is {entry:#x}, not a table"));
        }
        frame = (entry & ADDRESS_MASK) >> 12;
        table = table_address(frame)?;
    }
    unreachable!("the walk returns at level 1")
}

fn update_va_mapping(address: u64, entry: u64) -> i64 {
    raw(Hypercall::UpdateVaMapping, [address, entry, 0, 0, 0])
}

/// A refused mapping request: one table row.
struct MappingCase {
    id: &'static str,
    name: &'static str,
    address: fn(&Tables) -> u64,
    entry: fn(&Tables) -> u64,
    expected: Expected,
}

const EINVAL: Expected = Expected::errno(Errno::EINVAL);

/// Returns the scratch page's address, the target of most rows.
fn scratch(tables: &Tables) -> u64 {
    tables.scratch
}

/// Returns an L1 entry that maps the scratch page's own frame read-only.
fn scratch_read_only(tables: &Tables) -> u64 {
    tables.scratch_frame() << 12 | READ_ONLY
}

const CASES: &[MappingCase] = &[
    MappingCase { id: "A04", name: "frame 0 read-only", address: scratch, entry: |_| READ_ONLY, expected: EINVAL },
    MappingCase { id: "A04", name: "frame 0 writable", address: scratch, entry: |_| READ_WRITE, expected: EINVAL },
    MappingCase { id: "A04", name: "frame 0x100000 beyond RAM read-only", address: scratch, entry: |_| 0x10_0000 << 12 | READ_ONLY, expected: EINVAL },
    MappingCase { id: "A04", name: "frame 0x100000 beyond RAM writable", address: scratch, entry: |_| 0x10_0000 << 12 | READ_WRITE, expected: EINVAL },
    MappingCase { id: "A04", name: "hypervisor image frame 0x100 read-only", address: scratch, entry: |_| 0x100 << 12 | READ_ONLY, expected: EINVAL },
    MappingCase { id: "A04", name: "hypervisor image frame 0x100 writable", address: scratch, entry: |_| 0x100 << 12 | READ_WRITE, expected: EINVAL },
    MappingCase { id: "A04", name: "local APIC frame 0xfee00 read-only", address: scratch, entry: |_| 0xFEE00 << 12 | READ_ONLY, expected: EINVAL },
    MappingCase { id: "A04", name: "local APIC frame 0xfee00 writable", address: scratch, entry: |_| 0xFEE00 << 12 | READ_WRITE, expected: EINVAL },
    MappingCase { id: "A04", name: "I/O APIC frame 0xfec00 writable", address: scratch, entry: |_| 0xFEC00 << 12 | READ_WRITE, expected: EINVAL },
    MappingCase { id: "A01", name: "its own L4 frame writable", address: scratch, entry: |tables| tables.l4_frame << 12 | READ_WRITE, expected: EINVAL },
    MappingCase {
        id: "A01",
        name: "the L1 frame that maps the page writable",
        address: scratch,
        entry: |tables| tables.scratch_l1_frame << 12 | READ_WRITE,
        expected: EINVAL,
    },
    MappingCase {
        id: "A04",
        name: "its own frame with the PAT bit 7",
        address: scratch,
        entry: |tables| tables.scratch_entry | PAGE_SIZE_OR_PAT,
        expected: EINVAL,
    },
    MappingCase { id: "A04", name: "its own frame with bit 52", address: scratch, entry: |tables| tables.scratch_entry | 1 << 52, expected: EINVAL },
    MappingCase { id: "A04", name: "its own frame with bit 62", address: scratch, entry: |tables| tables.scratch_entry | 1 << 62, expected: EINVAL },
    MappingCase { id: "A04", name: "its own frame with bits 52-62", address: scratch, entry: |tables| tables.scratch_entry | HIGH_BITS, expected: EINVAL },
    MappingCase { id: "A04", name: "its own frame at 0x1000, which has no L1 table", address: |_| 0x1000, entry: scratch_read_only, expected: EINVAL },
    MappingCase { id: "A05", name: "its own frame at reserved slot 256", address: |_| RESERVED_FIRST, entry: scratch_read_only, expected: EINVAL },
    MappingCase { id: "A05", name: "its own frame over the entry-area GDT", address: |_| ENTRY_GDT, entry: scratch_read_only, expected: EINVAL },
    MappingCase { id: "A05", name: "its own frame at reserved slot 271", address: |_| RESERVED_LAST_PAGE, entry: scratch_read_only, expected: EINVAL },
    MappingCase { id: "A05", name: "its own frame at non-canonical 0x8000000000000000", address: |_| NON_CANONICAL, entry: scratch_read_only, expected: EINVAL },
    MappingCase { id: "A05", name: "its own frame at non-canonical 0x800000000000", address: |_| 0x8000_0000_0000, entry: scratch_read_only, expected: EINVAL },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in CASES {
        cases.push(Case::new(row.id, format!("update_va_mapping of {}", row.name), move || run(row)));
    }
    cases.push(Case::new("A01", "update_va_mapping of its own L4 frame read-only is allowed", map_l4_read_only));
}

/// Fills the scratch page with a pattern the cases can recognise.
fn fill_scratch() {
    for offset in 0..COMPARED_BYTES {
        // SAFETY: the scratch page is this module's, mapped writable while
        // no case has changed its mapping, and offset < 4096.
        unsafe { (&raw mut SCRATCH).cast::<u8>().add(offset).write_volatile(0xA5 ^ offset as u8) };
    }
}

fn run(row: &MappingCase) -> Result<(), String> {
    fill_scratch();
    let tables = Tables::read().map_err(|problem| format!("precondition: {problem}"))?;
    let address = (row.address)(&tables);
    let before = snapshot(address, COMPARED_BYTES);
    let value = update_va_mapping(address, (row.entry)(&tables));
    let returned = check_return(row.expected, value);
    let entry_unchanged = check_scratch_entry(&tables);
    returned?;
    entry_unchanged?;
    check_snapshot("the target page", address, &before)
}

/// Checks that the scratch page's L1 entry is what it was, and puts it back if not.
fn check_scratch_entry(tables: &Tables) -> Result<(), String> {
    let (now, _) = l1_entry(tables.scratch)?;
    if now == tables.scratch_entry {
        return Ok(());
    }
    let restored = update_va_mapping(tables.scratch, tables.scratch_entry);
    Err(format!(
        "the scratch page's L1 entry changed from {:#x} to {now:#x} (restoring it returned {restored})",
        tables.scratch_entry
    ))
}

/// Checks that a read-only mapping of a page-table frame is allowed: it
/// reads as the table, a write through it raises `#PF[W|P]`, and the old
/// mapping can be put back.
fn map_l4_read_only() -> Result<(), String> {
    fill_scratch();
    let tables = Tables::read().map_err(|problem| format!("precondition: {problem}"))?;
    let scratch_before = snapshot(tables.scratch, COMPARED_BYTES);
    check_return(Expected::Returns(0), update_va_mapping(tables.scratch, tables.l4_frame << 12 | READ_ONLY))
        .map_err(|problem| format!("mapping the L4 read-only {problem}"))?;

    let result = check_l4_view(&tables);

    check_return(Expected::Returns(0), update_va_mapping(tables.scratch, tables.scratch_entry))
        .map_err(|problem| format!("restoring the scratch page {problem}"))?;
    check_scratch_entry(&tables)?;
    check_snapshot("the restored scratch page", tables.scratch, &scratch_before)?;
    result
}

fn check_l4_view(tables: &Tables) -> Result<(), String> {
    let (entry, _) = l1_entry(tables.scratch)?;
    if entry & ADDRESS_MASK != tables.l4_frame << 12 || entry & WRITABLE != 0 {
        return Err(format!("after the call the L1 entry is {entry:#x}, expected frame {:#x} read-only", tables.l4_frame));
    }
    let l4 = snapshot(crate::start_info().pt_base, COMPARED_BYTES);
    check_snapshot("the L4 seen through the new mapping", tables.scratch, &l4)?;
    let mut old = [0u8; 1];
    guarded_read(tables.scratch, &mut old).map_err(|fault| format!("reading the new mapping raised vector {}", fault.vector))?;
    // SAFETY: the store writes back the byte just read; the mapping is
    // read-only, so it faults and the guard resumes after it.
    let guarded = unsafe {
        crate::expect_fault!("mov byte ptr [{address}], {value}"; address = in(reg) tables.scratch, value = in(reg_byte) old[0])
    };
    check_guarded(Expected::fault(PAGE_FAULT, &[PF_PRESENT | PF_WRITE]), guarded)
        .map_err(|problem| format!("a write through the read-only L4 mapping {problem}"))
}
