//! Page-table attacks through `mmu_update` and `mmuext_op` (A01, A02, A04,
//! A05, A07), run by an unprivileged DomU with `selftest=mmu`.
//!
//! Each request names the machine address of one entry in the guest's own
//! page tables. The cases read that entry back through the guest's
//! read-only view of its tables and require it unchanged after every rejected
//! request. Requests that must succeed are undone at once.
//!
//! The target of most L1 cases is the entry of [`SPARE`], a page nothing
//! else uses. The builder maps every page of the domain, so the L1 tables
//! have no empty slot; the spare page's slot serves as one, and its frame
//! serves as the free page of the pin cases.
//!
//! Hospes rejects every linear (recursive) entry: an entry at level N must
//! point at a validated table of level N-1, so an L4 slot pointing at an L4,
//! or an L2 slot at an L2, is a type conflict and returns `-EINVAL`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::domctl::XENMEM_MAXIMUM_RAM_PAGE;
use hypercalls::trap::vector::PAGE_FAULT;
use hypercalls::{DOMID_SELF, DOMID_XEN, Errno, Hypercall};

use super::check::{Expected, check_guarded, check_return, check_unchanged};
use super::mapping::{machine_frame, table_address};
use super::memory::{ENTRY_GDT, PF_PRESENT, PF_WRITE, guarded_read, last_page_fault_address};
use super::privilege::own_domid;
use super::suite::Case;
use crate::hypercall::{MmuUpdate, MmuextOp, raw};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const READ_ONLY: u64 = PRESENT | ACCESSED;
const READ_WRITE: u64 = PRESENT | WRITABLE | ACCESSED | DIRTY;

/// `mmu_update` command 0, in the low bits of `ptr`.
const MMU_NORMAL_PT_UPDATE: u64 = 0;

/// `mmuext_op` commands.
const MMUEXT_PIN_L1_TABLE: u32 = 0;
const MMUEXT_PIN_L4_TABLE: u32 = 3;
const MMUEXT_UNPIN_TABLE: u32 = 4;
const MMUEXT_NEW_BASEPTR: u32 = 5;

/// `DOMID_IO`, the owner Xen gives MMIO frames.
const DOMID_IO: u64 = 0x7FF1;

/// An L4 slot below the reserved range that the builder leaves empty: the
/// domain's memory starts at 4 MiB and ends far below 512 GiB.
const FREE_L4_SLOT: usize = 1;
/// An L3 slot the builder leaves empty (the memory ends below 1 GiB).
const FREE_L3_SLOT: usize = 1;
/// An L2 slot the builder leaves empty (the memory starts at 4 MiB, slot 2).
const FREE_L2_SLOT: usize = 0;
/// L4 slot of the hypervisor's entry area, filled in every validated L4.
const ENTRY_AREA_SLOT: usize = 261;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The page whose L1 entry the cases rewrite and whose frame they try to pin.
static mut SPARE: Page = Page([0; 4096]);

/// The frames and entries of the guest's page tables that the cases aim at.
#[derive(Clone, Copy)]
struct Layout {
    /// Frames of the L4, L3, L2 and L1 tables on the way to [`SPARE`].
    l4: u64,
    l3: u64,
    l2: u64,
    l1: u64,
    /// Index of [`SPARE`]'s entry in `l1`, and that entry.
    spare_index: usize,
    spare_entry: u64,
    /// The last frame of RAM, from `XENMEM_maximum_ram_page`.
    max_ram_frame: u64,
    /// The lowest and highest machine frames in the domain's P2M list.
    lowest_own: u64,
    highest_own: u64,
    /// The frame of `shared_info`, which the domain owns outside its P2M list.
    shared_info: u64,
}

impl Layout {
    fn read() -> Result<Layout, String> {
        let spare = (&raw const SPARE) as u64;
        let mut frames = [0u64; 4];
        let mut table = crate::start_info().pt_base;
        let mut frame = machine_frame((table - crate::entry::virt_base()) / 4096);
        for level in (1..=4).rev() {
            frames[4 - level] = frame;
            let index = (spare >> (12 + 9 * (level - 1))) & 0x1FF;
            // SAFETY: `table` is one of this domain's page tables, mapped
            // readable there, and the index is below 512.
            let entry = unsafe { ((table + index * 8) as *const u64).read_volatile() };
            if entry & PRESENT == 0 {
                return Err(format!("the L{level} entry for the spare page {spare:#x} is {entry:#x}, not present"));
            }
            if level == 1 {
                let max_ram = raw(Hypercall::MemoryOp, [XENMEM_MAXIMUM_RAM_PAGE, 0, 0, 0, 0]);
                if max_ram <= 0 {
                    return Err(format!("XENMEM_maximum_ram_page returned {max_ram}"));
                }
                let (lowest_own, highest_own) = own_frame_range();
                return Ok(Layout {
                    l4: frames[0],
                    l3: frames[1],
                    l2: frames[2],
                    l1: frames[3],
                    spare_index: index as usize,
                    spare_entry: entry,
                    max_ram_frame: max_ram as u64,
                    lowest_own,
                    highest_own,
                    shared_info: crate::start_info().shared_info >> 12,
                });
            }
            frame = (entry & ADDRESS_MASK) >> 12;
            table = table_address(frame)?;
        }
        unreachable!("the walk returns at level 1")
    }

    fn spare_frame(&self) -> u64 {
        (self.spare_entry & ADDRESS_MASK) >> 12
    }

    /// Returns the highest frame below the domain's P2M frames that is not
    /// its `shared_info` frame.
    fn frame_below_own(&self) -> u64 {
        let below = self.lowest_own - 1;
        if below == self.shared_info { below - 1 } else { below }
    }

    fn spare_slot(&self) -> Slot {
        Slot { table: self.l1, index: self.spare_index }
    }
}

/// Returns the lowest and highest machine frame in the domain's P2M list.
fn own_frame_range() -> (u64, u64) {
    let pages = crate::start_info().nr_pages;
    (0..pages).map(machine_frame).fold((u64::MAX, 0), |(low, high), mfn| (low.min(mfn), high.max(mfn)))
}

/// One entry of one of the guest's page tables.
#[derive(Clone, Copy)]
struct Slot {
    table: u64,
    index: usize,
}

impl Slot {
    /// Returns the `ptr` of an `mmu_update` request for this entry, with `command`.
    fn pointer(self, command: u64) -> u64 {
        self.table << 12 | (self.index as u64) * 8 | command
    }

    fn read(self) -> Result<u64, String> {
        let address = table_address(self.table)? + self.index as u64 * 8;
        // SAFETY: the address is inside one of this domain's page tables,
        // which the builder maps readable.
        Ok(unsafe { (address as *const u64).read_volatile() })
    }
}

fn mmu_update(requests: &[MmuUpdate], done: *mut u32, foreign: u64) -> i64 {
    raw(Hypercall::MmuUpdate, [requests.as_ptr() as u64, requests.len() as u64, done as u64, foreign, 0])
}

fn mmuext_op(command: u32, argument: u64, foreign: u64) -> i64 {
    let operation = MmuextOp { command, argument, ..Default::default() };
    raw(Hypercall::MmuextOp, [&raw const operation as u64, 1, 0, foreign, 0])
}

/// Writes `value` into `slot` with one request from the domain itself.
fn write_slot(slot: Slot, value: u64) -> i64 {
    mmu_update(&[MmuUpdate { pointer: slot.pointer(MMU_NORMAL_PT_UPDATE), value }], core::ptr::null_mut(), DOMID_SELF as u64)
}

/// Requires `slot` to contain `expected`; on a mismatch puts `expected` back.
fn check_slot(what: &str, slot: Slot, expected: u64) -> Result<(), String> {
    let now = slot.read()?;
    if now == expected {
        return Ok(());
    }
    let restored = write_slot(slot, expected);
    Err(format!("{what} changed from {expected:#x} to {now:#x} (restoring it returned {restored})"))
}

/// An `mmu_update` of one entry and the exact return it must get: one table row.
struct EntryCase {
    id: &'static str,
    name: &'static str,
    slot: fn(&Layout) -> Slot,
    /// Bits ORed into `ptr`: the command, or misaligning bits.
    pointer_bits: u64,
    value: fn(&Layout) -> u64,
    foreign: u64,
    expected: Expected,
}

const EINVAL: Expected = Expected::errno(Errno::EINVAL);
const EPERM: Expected = Expected::errno(Errno::EPERM);
const ACCEPTED: Expected = Expected::Returns(0);
const SELF: u64 = DOMID_SELF as u64;
/// `foreign` values that [`run_entry_case`] replaces with the domain's own
/// id and that id plus one, which the table cannot know.
const OWN_DOMID: u64 = u64::MAX;
const NEXT_DOMID: u64 = u64::MAX - 1;

const fn entry(id: &'static str, name: &'static str, slot: fn(&Layout) -> Slot, value: fn(&Layout) -> u64, expected: Expected) -> EntryCase {
    EntryCase { id, name, slot, pointer_bits: MMU_NORMAL_PT_UPDATE, value, foreign: SELF, expected }
}

fn spare(layout: &Layout) -> Slot {
    layout.spare_slot()
}

fn l4_free(layout: &Layout) -> Slot {
    Slot { table: layout.l4, index: FREE_L4_SLOT }
}

fn l3_free(layout: &Layout) -> Slot {
    Slot { table: layout.l3, index: FREE_L3_SLOT }
}

fn l2_free(layout: &Layout) -> Slot {
    Slot { table: layout.l2, index: FREE_L2_SLOT }
}

/// Returns the spare page's own entry with its frame mapped read-only.
fn spare_read_only(layout: &Layout) -> u64 {
    layout.spare_frame() << 12 | READ_ONLY
}

/// Links an upper-level entry to a table: present, writable, accessed.
const TABLE_LINK: u64 = PRESENT | WRITABLE | ACCESSED;

const ENTRY_CASES: &[EntryCase] = &[
    // A01: an L1 entry may map a page-table frame read-only, never writable.
    entry("A01", "L1 entry mapping its own L1 writable", spare, |l| l.l1 << 12 | READ_WRITE, EINVAL),
    entry("A01", "L1 entry mapping its own L2 writable", spare, |l| l.l2 << 12 | READ_WRITE, EINVAL),
    entry("A01", "L1 entry mapping its own L3 writable", spare, |l| l.l3 << 12 | READ_WRITE, EINVAL),
    entry("A01", "L1 entry mapping its own L4 writable", spare, |l| l.l4 << 12 | READ_WRITE, EINVAL),
    entry("A01", "L1 entry mapping its own L1 read-only is allowed", spare, |l| l.l1 << 12 | READ_ONLY, ACCEPTED),
    entry("A01", "L1 entry mapping its own L2 read-only is allowed", spare, |l| l.l2 << 12 | READ_ONLY, ACCEPTED),
    entry("A01", "L1 entry mapping its own L3 read-only is allowed", spare, |l| l.l3 << 12 | READ_ONLY, ACCEPTED),
    entry("A01", "L1 entry mapping its own L4 read-only is allowed", spare, |l| l.l4 << 12 | READ_ONLY, ACCEPTED),
    // A02: every linear entry is rejected, read-only or not.
    entry("A02", "linear L4 self-map read-only (all linear entries rejected)", l4_free, |l| l.l4 << 12 | PRESENT | ACCESSED, EINVAL),
    entry("A02", "linear L4 self-map writable (all linear entries rejected)", l4_free, |l| l.l4 << 12 | TABLE_LINK, EINVAL),
    entry("A02", "linear L3 entry pointing at its own L3 (all linear entries rejected)", l3_free, |l| l.l3 << 12 | TABLE_LINK, EINVAL),
    entry("A02", "linear L2 entry pointing at its own L2 (all linear entries rejected)", l2_free, |l| l.l2 << 12 | TABLE_LINK, EINVAL),
    entry("A02", "L2 entry sharing its existing L1 is allowed", l2_free, |l| l.l1 << 12 | TABLE_LINK, ACCEPTED),
    // A04: frames the domain does not own.
    entry("A04", "L1 entry mapping frame 0 read-only", spare, |_| READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping frame 0 writable", spare, |_| READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping the frame after the last RAM frame", spare, |l| (l.max_ram_frame + 1) << 12 | READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping the last RAM frame + 0x1000", spare, |l| (l.max_ram_frame + 0x1000) << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping hypervisor image frame 0x100 read-only", spare, |_| 0x100 << 12 | READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping hypervisor image frame 0x100 writable", spare, |_| 0x100 << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping local APIC frame 0xfee00 read-only", spare, |_| 0xFEE00 << 12 | READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping local APIC frame 0xfee00 writable", spare, |_| 0xFEE00 << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping I/O APIC frame 0xfec00 writable", spare, |_| 0xFEC00 << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping reserved frame 0x200 read-only", spare, |_| 0x200 << 12 | READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping reserved frame 0x280 writable", spare, |_| 0x280 << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping reserved frame 0x2ff writable", spare, |_| 0x2FF << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping the frame above its highest own frame", spare, |l| (l.highest_own + 1) << 12 | READ_WRITE, EINVAL),
    entry("A04", "L1 entry mapping the frame 16 above its highest own frame", spare, |l| (l.highest_own + 16) << 12 | READ_ONLY, EINVAL),
    entry("A04", "L1 entry mapping the frame below its lowest own frame", spare, |l| l.frame_below_own() << 12 | READ_WRITE, EINVAL),
    entry("A04", "L2 entry linking reserved frame 0x200 as an L1", l2_free, |_| 0x200 << 12 | TABLE_LINK, EINVAL),
    entry("A04", "L4 entry linking hypervisor frame 0x100 as an L3", l4_free, |_| 0x100 << 12 | TABLE_LINK, EINVAL),
    // A05: the hypervisor's slot 261 may not be cleared or replaced.
    entry("A05", "L4 slot 261 (entry area) cleared", |l| Slot { table: l.l4, index: ENTRY_AREA_SLOT }, |_| 0, EINVAL),
    // A07: malformed requests. Hospes rejects every command but 0-2 with
    // -EINVAL, so a `ptr` that is not 8-byte aligned is rejected whatever
    // its low bits are.
    EntryCase { id: "A07", name: "ptr with low bits 3 (unknown command)", slot: spare, pointer_bits: 3, value: spare_read_only, foreign: SELF, expected: EINVAL },
    EntryCase { id: "A07", name: "ptr + 4, not 8-byte aligned", slot: spare, pointer_bits: 4, value: spare_read_only, foreign: SELF, expected: EINVAL },
    EntryCase { id: "A07", name: "ptr + 6, not 8-byte aligned", slot: spare, pointer_bits: 6, value: spare_read_only, foreign: SELF, expected: EINVAL },
    EntryCase { id: "A07", name: "ptr + 7, not 8-byte aligned", slot: spare, pointer_bits: 7, value: spare_read_only, foreign: SELF, expected: EINVAL },
    // Bits 52-63 belong to the frame number, as on Xen, so they name no RAM.
    EntryCase { id: "A07", name: "ptr with bit 63 set", slot: spare, pointer_bits: 1 << 63, value: spare_read_only, foreign: SELF, expected: EINVAL },
    // MMU_MACHPHYS_UPDATE (command 1) has its own cases in `m2p.rs`.
    EntryCase { id: "A07", name: "foreigndom 0 (Dom0) from a DomU", slot: spare, pointer_bits: 0, value: spare_read_only, foreign: 0, expected: EPERM },
    EntryCase {
        id: "A07",
        name: "foreigndom of the next DomU id",
        slot: spare,
        pointer_bits: 0,
        value: spare_read_only,
        foreign: NEXT_DOMID,
        expected: EPERM,
    },
    EntryCase {
        id: "A07",
        name: "foreigndom of its own id is allowed",
        slot: spare,
        pointer_bits: 0,
        value: |l| l.spare_entry,
        foreign: OWN_DOMID,
        expected: ACCEPTED,
    },
    EntryCase { id: "A07", name: "foreigndom DOMID_IO from a DomU", slot: spare, pointer_bits: 0, value: spare_read_only, foreign: DOMID_IO, expected: EPERM },
    EntryCase {
        id: "A07",
        name: "foreigndom DOMID_XEN from a DomU",
        slot: spare,
        pointer_bits: 0,
        value: spare_read_only,
        foreign: DOMID_XEN as u64,
        expected: EPERM,
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in ENTRY_CASES {
        cases.push(Case::new(row.id, format!("mmu_update {}", row.name), move || run_entry_case(row)));
    }
    for slot in 256..=271usize {
        cases.push(Case::new("A05", format!("mmu_update of reserved L4 slot {slot} with its own L3"), move || reserved_slot(slot)));
    }
    cases.push(Case::new("A05", "pin of an L4 with entries in slots 256 and 261 replaces them", pin_l4_with_reserved_entries));
    cases.push(Case::new("A05", "ring-1 read of the entry-area GDT succeeds", read_entry_gdt));
    cases.push(Case::new("A05", "ring-1 write to the entry-area GDT raises #PF[P|W]", write_entry_gdt));
    cases.push(Case::new("A01", "pin of a writable frame as L1 fails until it is read-only", pin_writable_frame));
    cases.push(Case::new("A01", "pin of a fresh L1 whose entry maps the L1 itself writable", pin_l1_mapping_itself_writable));
    cases.push(Case::new("A01", "NEW_BASEPTR with a frame mapped writable", || new_baseptr(|l| l.spare_frame())));
    cases.push(Case::new("A01", "NEW_BASEPTR with its L1 frame", || new_baseptr(|l| l.l1)));
    cases.push(Case::new("A01", "NEW_BASEPTR with reserved frame 0x200", || new_baseptr(|_| 0x200)));
    cases.push(Case::new("A07", "ptr in a plain data frame", pointer_in_data_frame));
    cases.push(Case::new("A07", "ptr in the frame after the last RAM frame", pointer_beyond_ram));
    cases.push(Case::new("A07", "ptr in hypervisor frame 0x100", || pointer_in_foreign_frame(0x100)));
    cases.push(Case::new("A07", "ptr in reserved frame 0x200", || pointer_in_foreign_frame(0x200)));
    cases.push(Case::new("A07", "request array at unmapped 0x1000", || bad_request_array(0x1000)));
    cases.push(Case::new("A07", "request array in the entry area", || bad_request_array(ENTRY_GDT)));
    cases.push(Case::new("A07", "request array at non-canonical 0x800000000000", || bad_request_array(0x8000_0000_0000)));
    cases.push(Case::new("A07", "count 0 returns 0", count_zero));
    cases.push(Case::new("A07", "count 1 << 32", count_too_large));
    cases.push(Case::new("A07", "done reports 1 when the 2nd of 3 requests fails", done_counts_applied));
    cases.push(Case::new("A07", "a 16384-request batch completes across continuations", long_batch_completes));
    cases.push(Case::new("A07", "a long batch stops at its failing request across continuations", long_batch_stops_at_failure));
    cases.push(Case::new("A07", "a long mmuext_op batch stops at its unknown op across continuations", long_mmuext_batch_stops_at_unknown_op));
    cases.push(Case::new("A07", "an event upcall between continuations leaves long batches exact", upcall_during_long_batch));
    cases.push(Case::new("A07", "count with the preempted flag resumes done", forged_preempted_flag));
    cases.push(Case::new("A07", "done pointer in the entry area", done_in_entry_area));
    cases.push(Case::new("A07", "mmuext_op with foreigndom 0 (Dom0) from a DomU", mmuext_foreign_dom0));
    cases.push(Case::new("A07", "mmuext_op unknown command 21", || mmuext_unknown(21)));
    cases.push(Case::new("A07", "mmuext_op unknown command 0xffffffff", || mmuext_unknown(u32::MAX)));
}

fn layout() -> Result<Layout, String> {
    Layout::read().map_err(|problem| format!("precondition: {problem}"))
}

/// Runs one table row: the entry must be unchanged after a rejection, and
/// must hold the new value after an accepted request, which is then undone.
fn run_entry_case(row: &EntryCase) -> Result<(), String> {
    let layout = layout()?;
    let slot = (row.slot)(&layout);
    let before = slot.read()?;
    let value = (row.value)(&layout);
    let request = MmuUpdate { pointer: slot.pointer(0) | row.pointer_bits, value };
    let foreign = match row.foreign {
        OWN_DOMID => u64::from(own_domid()),
        NEXT_DOMID => u64::from(own_domid()) + 1,
        other => other,
    };
    let returned = mmu_update(&[request], core::ptr::null_mut(), foreign);
    let outcome = check_return(row.expected, returned);
    if row.expected == ACCEPTED && returned == 0 {
        let after = slot.read()?;
        let undone = write_slot(slot, before);
        if after != value {
            return Err(format!("the entry reads {after:#x} after the update, expected {value:#x}"));
        }
        check_return(ACCEPTED, undone).map_err(|problem| format!("restoring the entry {problem}"))?;
        return check_slot("the restored entry", slot, before);
    }
    let unchanged = check_slot("the targeted entry", slot, before);
    outcome?;
    unchanged
}

/// A05: an `mmu_update` of a reserved L4 slot is rejected even with an entry
/// that is valid elsewhere (the guest's own L3, as in slot 0).
fn reserved_slot(index: usize) -> Result<(), String> {
    let layout = layout()?;
    let slot = Slot { table: layout.l4, index };
    let before = slot.read()?;
    let own_l3 = layout.l3 << 12 | TABLE_LINK;
    let returned = write_slot(slot, own_l3);
    let unchanged = check_slot(&format!("L4 slot {index}"), slot, before);
    check_return(EINVAL, returned)?;
    unchanged
}

/// Writes `value` at byte offset `offset` of the spare page through its
/// writable mapping.
fn poke_spare(offset: usize, value: u64) {
    // SAFETY: SPARE is this module's page, mapped writable whenever a case
    // calls this, and offset + 8 <= 4096.
    unsafe { (&raw mut SPARE).cast::<u8>().add(offset).cast::<u64>().write_volatile(value) };
}

fn peek_spare(offset: usize) -> u64 {
    // SAFETY: SPARE is mapped readable (writable or read-only) for the
    // domain's whole life, and offset + 8 <= 4096.
    unsafe { (&raw const SPARE).cast::<u8>().add(offset).cast::<u64>().read_volatile() }
}

fn zero_spare() {
    for offset in (0..4096).step_by(8) {
        poke_spare(offset, 0);
    }
}

/// Remaps the spare page read-only so it can become a page table.
fn map_spare_read_only(layout: &Layout) -> Result<(), String> {
    check_return(ACCEPTED, write_slot(layout.spare_slot(), spare_read_only(layout)))
        .map_err(|problem| format!("mapping the spare page read-only {problem}"))
}

/// Unpins the spare frame (ignoring the error when it was never pinned),
/// maps it writable again and checks its entry is the original.
fn restore_spare(layout: &Layout) -> Result<(), String> {
    mmuext_op(MMUEXT_UNPIN_TABLE, layout.spare_frame(), SELF);
    check_return(ACCEPTED, write_slot(layout.spare_slot(), layout.spare_entry))
        .map_err(|problem| format!("mapping the spare page writable again {problem}"))?;
    check_slot("the spare page's entry", layout.spare_slot(), layout.spare_entry)
}

/// A01: a frame mapped writable cannot be pinned as an L1, which proves the
/// writable type reference was kept. Once the frame is read-only the pin
/// succeeds, and while pinned the frame cannot be mapped writable.
fn pin_writable_frame() -> Result<(), String> {
    let layout = layout()?;
    zero_spare();
    let frame = layout.spare_frame();
    check_return(EINVAL, mmuext_op(MMUEXT_PIN_L1_TABLE, frame, SELF))
        .map_err(|problem| format!("pinning the writable frame {problem}"))?;
    poke_spare(0, 0x5A5A);
    if peek_spare(0) != 0x5A5A {
        return Err(String::from("the frame is no longer writable after the rejected pin"));
    }
    poke_spare(0, 0);

    map_spare_read_only(&layout)?;
    let result = pin_read_only_frame(&layout);
    let restored = restore_spare(&layout);
    result?;
    restored
}

fn pin_read_only_frame(layout: &Layout) -> Result<(), String> {
    let frame = layout.spare_frame();
    check_return(ACCEPTED, mmuext_op(MMUEXT_PIN_L1_TABLE, frame, SELF))
        .map_err(|problem| format!("pinning the read-only frame {problem}"))?;
    let returned = write_slot(layout.spare_slot(), frame << 12 | READ_WRITE);
    check_slot("the entry of the pinned frame", layout.spare_slot(), spare_read_only(layout))?;
    check_return(EINVAL, returned).map_err(|problem| format!("mapping the pinned L1 writable {problem}"))?;
    check_return(ACCEPTED, mmuext_op(MMUEXT_UNPIN_TABLE, frame, SELF)).map_err(|problem| format!("unpinning {problem}"))
}

/// Entry of the spare frame that maps the spare frame itself in
/// [`pin_l1_mapping_itself_writable`].
const SELF_ENTRY: usize = 7;
/// Entry written through that mapping, if it exists, to show the guest can
/// edit a validated L1 directly.
const FORGED_ENTRY: usize = 8;

/// A01: the spare frame, read-only everywhere, contains one entry that maps
/// the spare frame itself writable, and the guest pins it as an L1. The
/// writable entry needs a writable type on a frame that is becoming a page
/// table, so the pin must fail with `EINVAL` (Xen sets the L1 type before
/// it validates the entries). If the pin succeeds, the case links the L1
/// into the empty L2 slot 0 and writes a not-present marker into the L1
/// through that mapping, which shows the guest can write a page table.
fn pin_l1_mapping_itself_writable() -> Result<(), String> {
    let layout = layout()?;
    zero_spare();
    poke_spare(SELF_ENTRY * 8, layout.spare_frame() << 12 | READ_WRITE);
    map_spare_read_only(&layout)?;

    let pinned = mmuext_op(MMUEXT_PIN_L1_TABLE, layout.spare_frame(), SELF);
    let written = if pinned == 0 { write_through_self_mapping(&layout) } else { Ok(()) };
    let restored = restore_spare(&layout);
    written?;
    check_return(EINVAL, pinned).map_err(|problem| format!("pinning an L1 that maps itself writable {problem}"))?;
    restored
}

/// Links the pinned spare L1 at L2 slot 0 (virtual addresses 0-2 MiB),
/// writes a marker into its entry [`FORGED_ENTRY`] through the virtual
/// address of [`SELF_ENTRY`], and undoes both. Returns an error that
/// describes what the guest could do.
fn write_through_self_mapping(layout: &Layout) -> Result<(), String> {
    let linked = write_slot(l2_free(layout), layout.spare_frame() << 12 | TABLE_LINK);
    if linked != 0 {
        return Err(format!("the pin of a self-mapping L1 succeeded; linking it at L2 slot 0 returned {linked}"));
    }
    let alias = (SELF_ENTRY * 4096) as *mut u64;
    let marker = 0x5A5A_0000u64;
    // SAFETY: L2 slot 0 now points at the spare L1, whose entry SELF_ENTRY
    // maps the spare frame writable at `alias`. The marker is a not-present
    // entry, and it is removed again before the L1 is unlinked.
    unsafe { alias.add(FORGED_ENTRY).write_volatile(marker) };
    let seen = peek_spare(FORGED_ENTRY * 8);
    // SAFETY: as above.
    unsafe { alias.add(FORGED_ENTRY).write_volatile(0) };
    let unlinked = write_slot(l2_free(layout), 0);
    Err(format!(
        "the pin of an L1 that maps itself writable succeeded; through that mapping the guest wrote {seen:#x} into entry {FORGED_ENTRY} of the validated L1 (unlinking returned {unlinked})"
    ))
}

/// A05: the guest fills slots 256 and 261 of an unpinned L4 with its own
/// entries. Pinning it must put the hypervisor's entries, as in the active
/// L4, in both: the read-only M2P in slot 256, the entry area in 261.
fn pin_l4_with_reserved_entries() -> Result<(), String> {
    let layout = layout()?;
    let hypervisor_entry = Slot { table: layout.l4, index: ENTRY_AREA_SLOT }.read()?;
    let m2p_entry = Slot { table: layout.l4, index: 256 }.read()?;
    zero_spare();
    poke_spare(256 * 8, layout.l3 << 12 | TABLE_LINK);
    poke_spare(ENTRY_AREA_SLOT * 8, layout.l3 << 12 | TABLE_LINK);
    map_spare_read_only(&layout)?;

    let result = (|| {
        check_return(ACCEPTED, mmuext_op(MMUEXT_PIN_L4_TABLE, layout.spare_frame(), SELF))
            .map_err(|problem| format!("pinning the L4 {problem}"))?;
        let (slot_256, slot_261) = (peek_spare(256 * 8), peek_spare(ENTRY_AREA_SLOT * 8));
        if slot_256 & !ACCESSED != m2p_entry & !ACCESSED {
            return Err(format!("slot 256 reads {slot_256:#x} after the pin, expected the hypervisor's M2P entry {m2p_entry:#x}"));
        }
        // The CPU sets the accessed bit in the active L4's entry, not in this one.
        if slot_261 & !ACCESSED != hypervisor_entry & !ACCESSED {
            return Err(format!("slot 261 reads {slot_261:#x} after the pin, expected the hypervisor's {hypervisor_entry:#x}"));
        }
        Ok(())
    })();
    let restored = restore_spare(&layout);
    result?;
    restored
}

fn read_entry_gdt() -> Result<(), String> {
    let mut bytes = [0u8; 16];
    guarded_read(ENTRY_GDT, &mut bytes)
        .map_err(|fault| format!("reading {ENTRY_GDT:#x} raised {}", super::check::describe_fault(fault.vector, fault.error_code)))
}

fn write_entry_gdt() -> Result<(), String> {
    let mut before = [0u8; 16];
    guarded_read(ENTRY_GDT, &mut before).map_err(|_| String::from("the entry-area GDT must be readable"))?;
    // SAFETY: the store writes back the byte just read; the mapping is
    // read-only, so it faults and the guard resumes after it.
    let guarded = unsafe {
        crate::expect_fault!("mov byte ptr [{address}], {value}"; address = in(reg) ENTRY_GDT, value = in(reg_byte) before[0])
    };
    check_guarded(Expected::fault(PAGE_FAULT, &[PF_PRESENT | PF_WRITE]), guarded)?;
    let cr2 = last_page_fault_address();
    if cr2 != ENTRY_GDT {
        return Err(format!("#PF reported address {cr2:#x}, expected {ENTRY_GDT:#x}"));
    }
    let mut after = [0u8; 16];
    guarded_read(ENTRY_GDT, &mut after).map_err(|_| String::from("the entry-area GDT is no longer readable"))?;
    check_unchanged("the entry-area GDT", &before, &after)
}

/// A01: switching to a frame that cannot validate as an L4 is rejected.
/// Were it accepted, the vCPU would run on that frame and crash, so the
/// SUCCESS line would never appear.
fn new_baseptr(frame: fn(&Layout) -> u64) -> Result<(), String> {
    let layout = layout()?;
    let spare_before = peek_spare(0);
    let returned = mmuext_op(MMUEXT_NEW_BASEPTR, frame(&layout), SELF);
    check_return(EINVAL, returned)?;
    check_slot("the spare page's entry", layout.spare_slot(), layout.spare_entry)?;
    if peek_spare(0) != spare_before {
        return Err(String::from("the spare page changed"));
    }
    Ok(())
}

/// A07: `ptr` in a frame the domain owns but that is not a page table.
fn pointer_in_data_frame() -> Result<(), String> {
    let layout = layout()?;
    zero_spare();
    poke_spare(8, 0x1234_5678);
    let request = MmuUpdate { pointer: layout.spare_frame() << 12 | 8, value: spare_read_only(&layout) };
    let returned = mmu_update(&[request], core::ptr::null_mut(), SELF);
    let word = peek_spare(8);
    check_return(EINVAL, returned)?;
    if word != 0x1234_5678 {
        return Err(format!("the data frame's word 1 became {word:#x}, expected 0x12345678"));
    }
    Ok(())
}

fn pointer_beyond_ram() -> Result<(), String> {
    let layout = layout()?;
    pointer_in_foreign_frame(layout.max_ram_frame + 1)
}

fn pointer_in_foreign_frame(frame: u64) -> Result<(), String> {
    let layout = layout()?;
    let request = MmuUpdate { pointer: frame << 12, value: spare_read_only(&layout) };
    check_return(EINVAL, mmu_update(&[request], core::ptr::null_mut(), SELF))
}

fn bad_request_array(address: u64) -> Result<(), String> {
    let layout = layout()?;
    let returned = raw(Hypercall::MmuUpdate, [address, 1, 0, SELF, 0]);
    check_slot("the spare page's entry", layout.spare_slot(), layout.spare_entry)?;
    check_return(Expected::errno(Errno::EFAULT), returned)
}

fn count_zero() -> Result<(), String> {
    let mut done = u32::MAX;
    check_return(ACCEPTED, mmu_update(&[], &raw mut done, SELF))?;
    if done != 0 {
        return Err(format!("done reads {done}, expected 0"));
    }
    Ok(())
}

fn count_too_large() -> Result<(), String> {
    let layout = layout()?;
    let request = MmuUpdate { pointer: layout.spare_slot().pointer(0), value: layout.spare_entry };
    let returned = raw(Hypercall::MmuUpdate, [&raw const request as u64, 1 << 32, 0, SELF, 0]);
    check_return(EINVAL, returned)
}

/// A07: in a batch of three, the first is applied, the second fails, and
/// the third, which would map the spare page read-only, is not applied.
fn done_counts_applied() -> Result<(), String> {
    let layout = layout()?;
    let slot = layout.spare_slot();
    let requests = [
        MmuUpdate { pointer: slot.pointer(0), value: layout.spare_entry },
        MmuUpdate { pointer: slot.pointer(0), value: layout.l4 << 12 | READ_WRITE },
        MmuUpdate { pointer: slot.pointer(0), value: spare_read_only(&layout) },
    ];
    let mut done = u32::MAX;
    let returned = mmu_update(&requests, &raw mut done, SELF);
    check_slot("the spare page's entry", slot, layout.spare_entry)?;
    check_return(EINVAL, returned)?;
    if done != 1 {
        return Err(format!("done reads {done}, expected 1"));
    }
    Ok(())
}

/// Requests in the long-batch case: enough that the batch outlasts the
/// hypervisor's time budget under QEMU's emulation and resumes as a
/// continuation at least once.
const LONG_BATCH: usize = 16384;

/// A07: a batch far longer than one time budget. Every request but the last
/// rewrites the spare page's entry with its own value; the last maps it
/// read-only. The call must return 0 with `done` at the full count and the
/// last request applied, however many times it was preempted and resumed.
fn long_batch_completes() -> Result<(), String> {
    let layout = layout()?;
    let slot = layout.spare_slot();
    let mut requests = alloc::vec![MmuUpdate { pointer: slot.pointer(0), value: layout.spare_entry }; LONG_BATCH];
    requests[LONG_BATCH - 1].value = spare_read_only(&layout);
    let mut done = 0u32;
    let returned = mmu_update(&requests, &raw mut done, SELF);
    let last = slot.read()?;
    let restored = write_slot(slot, layout.spare_entry);
    check_return(ACCEPTED, returned)?;
    if done as usize != LONG_BATCH {
        return Err(format!("done reads {done}, expected {LONG_BATCH}"));
    }
    if last != spare_read_only(&layout) {
        return Err(format!("after the batch the spare entry is {last:#x}, expected the last request's value"));
    }
    check_return(ACCEPTED, restored)
}

/// A07: a long `mmu_update` batch whose request [`LONG_BATCH_FAILING`]
/// rewrites the spare entry with the L4 frame writable. The batch must stop
/// there with `EINVAL` after its continuations, with `done` counting every
/// request before it once, and the spare entry unchanged.
fn long_batch_stops_at_failure() -> Result<(), String> {
    let layout = layout()?;
    let slot = layout.spare_slot();
    let mut requests = alloc::vec![MmuUpdate { pointer: slot.pointer(0), value: layout.spare_entry }; LONG_BATCH];
    requests[LONG_BATCH_FAILING].value = layout.l4 << 12 | READ_WRITE;
    let mut done = 0u32;
    let returned = mmu_update(&requests, &raw mut done, SELF);
    check_slot("the spare page's entry", slot, layout.spare_entry)?;
    check_return(EINVAL, returned)?;
    if done as usize != LONG_BATCH_FAILING {
        return Err(format!("done reads {done}, expected {LONG_BATCH_FAILING}"));
    }
    Ok(())
}

/// Index of the request that fails in [`long_batch_stops_at_failure`] and
/// of the unknown op in [`long_mmuext_batch_stops_at_unknown_op`].
const LONG_BATCH_FAILING: usize = 16000;

/// Operations in the long `mmuext_op` batch: each is a local TLB flush,
/// cheap enough that the batch needs many of them to outlast one budget.
const LONG_MMUEXT_BATCH: usize = 40000;

/// A07: a long `mmuext_op` batch of local TLB flushes with unknown command
/// 21 at [`LONG_BATCH_FAILING`]. It must return `ENOSYS` with `done` at the
/// index of that op, counted across its continuations.
fn long_mmuext_batch_stops_at_unknown_op() -> Result<(), String> {
    const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
    let mut operations = alloc::vec![MmuextOp { command: MMUEXT_TLB_FLUSH_LOCAL, ..Default::default() }; LONG_MMUEXT_BATCH];
    operations[LONG_BATCH_FAILING].command = 21;
    let mut done = 0u32;
    let returned = raw(
        Hypercall::MmuextOp,
        [operations.as_ptr() as u64, LONG_MMUEXT_BATCH as u64, &raw mut done as u64, SELF, 0],
    );
    check_return(Expected::errno(Errno::ENOSYS), returned)?;
    if done as usize != LONG_BATCH_FAILING {
        return Err(format!("done reads {done}, expected {LONG_BATCH_FAILING}"));
    }
    Ok(())
}

/// Long batches the upcall case runs back to back: together they span
/// several hypervisor ticks (10 ms each) under TCG.
const UPCALL_BATCHES: usize = 4;

/// A07: with `VIRQ_TIMER` bound, upcalls enabled and a timer already due,
/// the guest runs [`UPCALL_BATCHES`] long batches. The timer fires at the
/// next tick, so the upcall is delivered at a continuation's return to the
/// guest, before `int $0x82` runs again. Each batch must still end with
/// `done` at the full count and its last request applied.
fn upcall_during_long_batch() -> Result<(), String> {
    const VIRQ_TIMER: u32 = 0;
    let layout = layout()?;
    let slot = layout.spare_slot();
    let port = crate::events::bind_virq(VIRQ_TIMER).map_err(|errno| format!("precondition: binding VIRQ_TIMER failed: {errno}"))?;
    crate::wait::enable_upcalls();
    crate::events::take(port);
    let due = raw(Hypercall::SetTimerOp, [1, 0, 0, 0, 0]);
    check_return(ACCEPTED, due).map_err(|problem| format!("set_timer_op(1) {problem}"))?;

    let mut requests = alloc::vec![MmuUpdate { pointer: slot.pointer(0), value: layout.spare_entry }; LONG_BATCH];
    requests[LONG_BATCH - 1].value = spare_read_only(&layout);
    let mut results = Vec::new();
    for _ in 0..UPCALL_BATCHES {
        let mut done = 0u32;
        let returned = mmu_update(&requests, &raw mut done, SELF);
        let last = slot.read();
        let restored = write_slot(slot, layout.spare_entry);
        results.push((returned, done, last, restored));
    }
    let upcalled = crate::events::take(port);
    let closed = crate::events::close(port);

    for (round, (returned, done, last, restored)) in results.into_iter().enumerate() {
        check_return(ACCEPTED, returned).map_err(|problem| format!("batch {round} {problem}"))?;
        if done as usize != LONG_BATCH {
            return Err(format!("batch {round}: done reads {done}, expected {LONG_BATCH}"));
        }
        if last? != spare_read_only(&layout) {
            return Err(format!("batch {round}: the spare entry after the batch is not the last request's value"));
        }
        check_return(ACCEPTED, restored)?;
    }
    if !upcalled {
        return Err(String::from("precondition: no VIRQ_TIMER upcall arrived while the batches ran"));
    }
    closed.map_err(|errno| format!("closing the VIRQ_TIMER port failed: {errno}"))
}

/// A07: a count with the preempted flag (bit 31) set by the guest itself is
/// taken as a resumed batch: `done` grows from the value it already holds.
fn forged_preempted_flag() -> Result<(), String> {
    let layout = layout()?;
    let request = MmuUpdate { pointer: layout.spare_slot().pointer(0), value: layout.spare_entry };
    let requests = [request, request];
    let mut done = 100u32;
    let returned = raw(Hypercall::MmuUpdate, [requests.as_ptr() as u64, 2 | 1 << 31, &raw mut done as u64, SELF, 0]);
    check_slot("the spare page's entry", layout.spare_slot(), layout.spare_entry)?;
    check_return(ACCEPTED, returned)?;
    if done != 102 {
        return Err(format!("done reads {done}, expected 102 (100 before, 2 applied)"));
    }
    Ok(())
}

/// A07: a `done` pointer the hypervisor may not write. The one request
/// rewrites the entry with its own value, so it changes nothing either way.
fn done_in_entry_area() -> Result<(), String> {
    let layout = layout()?;
    let request = MmuUpdate { pointer: layout.spare_slot().pointer(0), value: layout.spare_entry };
    let returned = mmu_update(&[request], ENTRY_GDT as *mut u32, SELF);
    check_slot("the spare page's entry", layout.spare_slot(), layout.spare_entry)?;
    check_return(Expected::errno(Errno::EFAULT), returned)
}

fn mmuext_foreign_dom0() -> Result<(), String> {
    let layout = layout()?;
    check_return(EPERM, mmuext_op(MMUEXT_PIN_L1_TABLE, layout.spare_frame(), 0))
}

fn mmuext_unknown(command: u32) -> Result<(), String> {
    check_return(Expected::errno(Errno::ENOSYS), mmuext_op(command, 0, SELF))
}
