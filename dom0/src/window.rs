//! A window of Dom0's address space for mapping other domains' frames.
//!
//! Dom0 reaches DomU memory only through checked foreign mappings. It adds
//! page tables of its own (an L2 and one L1, pinned, hooked into its L3) that
//! cover [`WINDOW_BASE`]. It then installs entries in that L1 with
//! `mmu_update`, naming the DomU as `foreigndom`. The hypervisor checks that
//! each frame belongs to that domain and counts the reference.

use alloc::alloc::{Layout, alloc_zeroed};
use guest::hypercall::{self, MmuUpdate, MmuextOp};
use hypercalls::{DOMID_SELF, Errno};

/// Start of the window: the third GiB of the address space, unused by Dom0.
pub const WINDOW_BASE: u64 = 0x8000_0000;
/// Slots in the window (one L1 table, 2 MiB).
pub const WINDOW_SLOTS: usize = 512;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 2;
const ACCESSED: u64 = 0x20;
const DIRTY: u64 = 0x40;
const MMUEXT_PIN_L2_TABLE: u32 = 1;

pub struct Window {
    /// Machine frame of the window's L2 table, whose entry 0 is the L1.
    l2_mfn: u64,
    /// Machine frame of the window's L1 table.
    l1_mfn: u64,
}

/// Machine frame of one of Dom0's own pages, from the P2M.
fn own_mfn(address: u64) -> u64 {
    let info = guest::start_info();
    let pfn = (address - guest::virt_base()) / 4096;
    // SAFETY: mfn_list is the builder's P2M array, nr_pages entries long,
    // mapped in Dom0's memory; pfn < nr_pages because the address is Dom0's own.
    unsafe { (info.mfn_list as *const u64).add(pfn as usize).read() }
}

/// Takes a zeroed, page-aligned page from the heap.
fn zeroed_page() -> Result<u64, Errno> {
    let layout = Layout::from_size_align(4096, 4096).map_err(|_| Errno::ENOMEM)?;
    // SAFETY: the layout has a nonzero size.
    let page = unsafe { alloc_zeroed(layout) };
    if page.is_null() {
        return Err(Errno::ENOMEM);
    }
    Ok(page as u64)
}

impl Window {
    /// Builds the window's tables and hooks them into Dom0's L3.
    pub fn new() -> Result<Window, Errno> {
        let l2_page = zeroed_page()?;
        let l1_page = zeroed_page()?;
        let (l2_mfn, l1_mfn) = (own_mfn(l2_page), own_mfn(l1_page));

        // The L2's first entry points at the L1; both must be read-only in
        // Dom0's own mapping before the hypervisor accepts them as tables.
        // SAFETY: l2_page is a fresh heap page this function owns.
        unsafe { (l2_page as *mut u64).write_volatile(l1_mfn << 12 | PRESENT | WRITABLE | ACCESSED) };
        hypercall::update_va_mapping(l2_page, l2_mfn << 12 | PRESENT | ACCESSED)?;
        hypercall::update_va_mapping(l1_page, l1_mfn << 12 | PRESENT | ACCESSED)?;
        hypercall::mmuext_op(&[MmuextOp { command: MMUEXT_PIN_L2_TABLE, argument: l2_mfn, ..Default::default() }], DOMID_SELF)?;

        // Dom0's L4 maps its L3 in slot 0; the window is slot 2 of that L3.
        let l4 = guest::start_info().pt_base as *const u64;
        // SAFETY: pt_base is Dom0's L4, mapped read-only in its own memory.
        let l3_mfn = (unsafe { l4.read_volatile() } & 0x000F_FFFF_FFFF_F000) >> 12;
        let slot = (WINDOW_BASE >> 30) & 0x1FF;
        let hook = MmuUpdate { pointer: l3_mfn << 12 | slot * 8, value: l2_mfn << 12 | PRESENT | WRITABLE | ACCESSED };
        hypercall::mmu_update(&[hook], DOMID_SELF)?;
        Ok(Window { l2_mfn, l1_mfn })
    }

    /// Returns the machine frame of the window's L2 table. Entries 1-511
    /// are empty and cover the 2 MiB blocks after the window.
    pub fn l2_mfn(&self) -> u64 {
        self.l2_mfn
    }

    /// Returns the address where `slot` maps.
    pub fn address(slot: usize) -> u64 {
        WINDOW_BASE + slot as u64 * 4096
    }

    /// Maps `frames[i]` of domain `domain` at slot `first + i`, writable.
    pub fn map(&self, domain: u16, first: usize, frames: &[u64]) -> Result<(), Errno> {
        let requests: alloc::vec::Vec<MmuUpdate> = frames
            .iter()
            .enumerate()
            .map(|(index, &mfn)| MmuUpdate {
                pointer: self.l1_mfn << 12 | ((first + index) as u64 * 8),
                value: mfn << 12 | PRESENT | WRITABLE | ACCESSED | DIRTY,
            })
            .collect();
        hypercall::mmu_update(&requests, domain).map(|_| ())
    }

    /// Removes the mappings of `count` slots from `first`.
    pub fn unmap(&self, first: usize, count: usize) -> Result<(), Errno> {
        let requests: alloc::vec::Vec<MmuUpdate> = (first..first + count)
            .map(|slot| MmuUpdate { pointer: self.l1_mfn << 12 | (slot as u64 * 8), value: 0 })
            .collect();
        hypercall::mmu_update(&requests, DOMID_SELF).map(|_| ())
    }
}
