//! The hypervisor's page tables and the entry area shared with guests.

use super::layout;
use super::memory::{self, Memory, frame_pointer};
use crate::frames::{FRAME_SIZE, Mfn};
use spin::Once;

pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
pub const ACCESSED: u64 = 1 << 5;
pub const DIRTY: u64 = 1 << 6;
pub const HUGE: u64 = 1 << 7;
pub const GLOBAL: u64 = 1 << 8;
pub const NO_EXECUTE: u64 = 1 << 63;
/// Bits 12-51 of an entry: the frame's physical address.
pub const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// The page-table frames every address space shares.
pub struct Tables {
    /// The hypervisor's own L4.
    pub hypervisor_l4: Mfn,
    /// The L3 behind the entry area's L4 slot, linked into every guest L4.
    pub entry_l3: Mfn,
    entry_l1: Mfn,
    /// The no-execute bit, or 0 when the CPU lacks it.
    pub no_execute: u64,
}

pub static TABLES: Once<Tables> = Once::new();

pub fn tables() -> &'static Tables {
    TABLES.get().expect("paging is initialised during boot")
}

/// Returns entry `index` of the table in frame `mfn`.
pub fn read_entry(mfn: Mfn, index: usize) -> u64 {
    assert!(index < 512);
    // SAFETY: the identity map covers every frame, the index is within the
    // page, and page-table frames are only read or written with volatile
    // accesses on this CPU.
    unsafe { (frame_pointer(mfn) as *const u64).add(index).read_volatile() }
}

/// Sets entry `index` of the table in frame `mfn`.
pub fn write_entry(mfn: Mfn, index: usize, value: u64) {
    assert!(index < 512);
    // SAFETY: as in `read_entry`.
    unsafe { (frame_pointer(mfn) as *mut u64).add(index).write_volatile(value) };
}

/// Walks the four-level tables whose L4 is at physical address `l4` down to
/// the entry that maps `virtual_address`, reading each entry with `read`
/// (which takes the entry's physical address). Returns that last-level entry
/// and the size of the page it maps (4 KiB, 2 MiB or 1 GiB), or None where
/// nothing is mapped.
pub fn leaf_with(l4: u64, virtual_address: u64, read: impl Fn(u64) -> u64) -> Option<(u64, u64)> {
    let mut table = l4 & ADDRESS_MASK;
    for level in (0..4u32).rev() {
        let shift = 12 + 9 * level;
        let entry = read(table + ((virtual_address >> shift) & 0x1FF) * 8);
        if entry & PRESENT == 0 {
            return None;
        }
        if level == 0 || (level < 3 && entry & HUGE != 0) {
            return Some((entry, 1u64 << shift));
        }
        table = entry & ADDRESS_MASK;
    }
    None
}

/// Translates `virtual_address` as [`leaf_with`] walks; returns the physical address.
pub fn translate_with(l4: u64, virtual_address: u64, read: impl Fn(u64) -> u64) -> Option<u64> {
    let (entry, page_size) = leaf_with(l4, virtual_address, read)?;
    Some((entry & ADDRESS_MASK & !(page_size - 1)) | (virtual_address & (page_size - 1)))
}

/// Returns the frame of the L4 in CR3.
pub fn current_l4() -> Mfn {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
    (cr3 & ADDRESS_MASK) >> 12
}

/// Translates a hypervisor address through the tables in CR3, reading them
/// through the identity map of RAM below 4 GiB that both boot entries set up.
pub fn translate(virtual_address: u64) -> Option<u64> {
    translate_with(current_l4() << 12, virtual_address, |physical| {
        // SAFETY: page-table frames are RAM, which the identity map covers;
        // the address is 8-byte aligned inside one table.
        unsafe { (physical as usize as *const u64).read_volatile() }
    })
}

/// Builds the hypervisor's tables: physical memory identity-mapped up to
/// `map_end` (at least 4 GiB, for the local APIC and other MMIO) with 2 MiB
/// pages, plus the entry area's upper levels, plus the hypervisor image when
/// it is linked outside the identity map (the `bootloader` build, in the top
/// 2 GiB) by sharing the boot tables' L4 entry for it. Loads them into CR3.
/// The identity map is never global: a global TLB entry would outlive the
/// switch to a guest's CR3 and hand the guest the hypervisor's memory.
pub fn init(map_end: u64) -> &'static Tables {
    let no_execute = if efer_has_nxe() { NO_EXECUTE } else { 0 };
    let tables = memory::with(|memory| {
        let hypervisor_l4 = take(memory);
        let identity_l3 = take(memory);
        write_entry(hypervisor_l4, 0, identity_l3 << 12 | PRESENT | WRITABLE);
        let gigabytes = map_end.max(4 << 30).div_ceil(1 << 30).min(512);
        for gigabyte in 0..gigabytes {
            let l2 = take(memory);
            for index in 0..512u64 {
                let physical = (gigabyte << 30) | (index << 21);
                write_entry(l2, index as usize, physical | PRESENT | WRITABLE | HUGE);
            }
            write_entry(identity_l3, gigabyte as usize, l2 << 12 | PRESENT | WRITABLE);
        }

        let entry_l3 = take(memory);
        let entry_l2 = take(memory);
        let entry_l1 = take(memory);
        write_entry(entry_l3, 0, entry_l2 << 12 | PRESENT | WRITABLE);
        write_entry(entry_l2, 0, entry_l1 << 12 | PRESENT | WRITABLE);
        write_entry(hypervisor_l4, layout::ENTRY_L4_SLOT, entry_l3 << 12 | PRESENT | WRITABLE);
        memory.table.set_hypervisor_l4_entry(layout::ENTRY_L4_SLOT, entry_l3 << 12 | PRESENT | WRITABLE);

        let image_slot = image_l4_slot();
        if image_slot != 0 {
            assert!(image_slot != layout::ENTRY_L4_SLOT, "hypervisor image linked into the entry area's slot");
            write_entry(hypervisor_l4, image_slot, read_entry(current_l4(), image_slot));
        }
        Tables { hypervisor_l4, entry_l3, entry_l1, no_execute }
    });
    let tables = TABLES.call_once(|| tables);
    // SAFETY: the new tables map the hypervisor image, its stack and all RAM
    // at the same addresses as the boot tables, so execution continues.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) tables.hypervisor_l4 << 12, options(nostack)) };
    tables
}

/// L4 slot of the hypervisor image; the image must fit in one slot.
fn image_l4_slot() -> usize {
    let (start, end) = memory::image_range();
    let slot = ((start >> 39) & 0x1FF) as usize;
    assert_eq!(slot, (((end - 1) >> 39) & 0x1FF) as usize, "hypervisor image spans two L4 slots");
    slot
}

fn take(memory: &mut Memory) -> Mfn {
    memory.allocate_hypervisor_frame().expect("boot needs a handful of free frames for page tables")
}

fn efer_has_nxe() -> bool {
    let low: u32;
    // SAFETY: reading EFER (MSR 0xC0000080) has no side effects in ring 0.
    unsafe { core::arch::asm!("rdmsr", in("ecx") 0xC000_0080u32, out("eax") low, out("edx") _, options(nostack, nomem)) };
    low & (1 << 11) != 0
}

/// Access a page in the entry area has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EntryAccess {
    ReadOnly,
    Executable,
    Writable,
}

/// Maps `mfn` at `virtual_address` inside the entry area. Global, supervisor.
pub fn map_entry_page(virtual_address: u64, mfn: Mfn, access: EntryAccess) {
    let tables = tables();
    assert!(virtual_address >= layout::ENTRY_BASE && virtual_address < layout::ENTRY_BASE + (2 << 20));
    let index = ((virtual_address - layout::ENTRY_BASE) / FRAME_SIZE) as usize;
    let flags = match access {
        EntryAccess::ReadOnly => PRESENT | GLOBAL | tables.no_execute,
        EntryAccess::Executable => PRESENT | GLOBAL,
        EntryAccess::Writable => PRESENT | WRITABLE | GLOBAL | tables.no_execute,
    };
    write_entry(tables.entry_l1, index, mfn << 12 | flags);
    // SAFETY: invalidating a TLB entry has no effect beyond the next access.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) virtual_address, options(nostack)) };
}

/// Loads `l4` into CR3.
///
/// # Safety
///
/// The tables must map the code and stack in use at the same addresses.
pub unsafe fn load_cr3(l4: Mfn) {
    // SAFETY: upheld by the caller.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) l4 << 12, options(nostack)) };
}
