//! The machine-to-physical table (M2P): for every machine frame, the guest
//! frame number its owner uses for it.
//!
//! As on Xen, every guest can read the table at [`M2P_BASE`]
//! (`machine_to_phys_mapping`, L4 slot 256) but not write it. It has one
//! u64 per machine frame, and frames that back no guest page read
//! [`INVALID_ENTRY`]. The hypervisor writes it: the Dom0 builder and
//! `populate_physmap` record each new page's frame number, a freed frame goes
//! back to invalid, and a guest may set the entry of its own frames with
//! `mmu_update`'s `MMU_MACHPHYS_UPDATE`.
//!
//! The table lives in hypervisor frames, which the hypervisor writes through
//! its identity map. Guests reach them through one L3, one L2 and as many
//! L1 tables as needed, shared by all address spaces and mapped present,
//! read-only, no-execute and user-readable (a 64-bit PV guest's user space
//! may read it too, as on Xen).

use super::memory::{Memory, frame_pointer};
use super::paging::{self, PRESENT, USER};
use crate::frames::{FRAME_SIZE, Mfn};
use alloc::vec::Vec;

/// L4 slot of the read-only M2P, the first of Xen's reserved range.
pub const M2P_L4_SLOT: usize = 256;
/// Guest address of the M2P (`HYPERVISOR_VIRT_START`).
pub const M2P_BASE: u64 = 0xFFFF_8000_0000_0000;
/// The entry of a frame that backs no guest page (Xen's `INVALID_M2P_ENTRY`).
pub const INVALID_ENTRY: u64 = u64::MAX;

/// Entries per frame of the table.
const ENTRIES_PER_FRAME: u64 = FRAME_SIZE / 8;

/// The table's frames, in order: frame `i` contains the entries of machine
/// frames `i * 512` to `i * 512 + 511`.
#[derive(Default)]
pub struct M2p {
    backing: Vec<Mfn>,
    entries: u64,
}

impl M2p {
    /// Number of machine frames the table covers.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Records that machine frame `mfn` backs guest frame `pfn`. Frames
    /// beyond the table are ignored; the frame table refuses them first.
    pub fn set(&self, mfn: Mfn, pfn: u64) {
        if let Some(slot) = self.slot(mfn) {
            // SAFETY: the slot lies in one of the table's frames, which the
            // hypervisor owns and reaches through the identity map; guests
            // map them read-only.
            unsafe { slot.write_volatile(pfn) };
        }
    }

    /// Returns the entry of `mfn`, or None beyond the table.
    pub fn get(&self, mfn: Mfn) -> Option<u64> {
        // SAFETY: as in `set`.
        self.slot(mfn).map(|slot| unsafe { slot.read_volatile() })
    }

    fn slot(&self, mfn: Mfn) -> Option<*mut u64> {
        if mfn >= self.entries {
            return None;
        }
        let frame = *self.backing.get((mfn / ENTRIES_PER_FRAME) as usize)?;
        Some(frame_pointer(frame).cast::<u64>().wrapping_add((mfn % ENTRIES_PER_FRAME) as usize))
    }
}

/// Builds the table for every frame the frame table covers, all entries
/// invalid, maps it for guests and registers its L4 entry with the frame
/// table, so every L4 validated from now on shows it.
pub fn init(memory: &mut Memory, no_execute: u64) {
    let entries = memory.table.len();
    let frames = entries.div_ceil(ENTRIES_PER_FRAME);
    let l1_count = frames.div_ceil(512);
    assert!(l1_count <= 512, "the M2P of {entries} frames needs more than one L2");

    let mut backing = Vec::with_capacity(frames as usize);
    for _ in 0..frames {
        let frame = take(memory);
        // SAFETY: a fresh hypervisor frame, reached through the identity map.
        unsafe { core::ptr::write_bytes(frame_pointer(frame), 0xFF, FRAME_SIZE as usize) };
        backing.push(frame);
    }

    let l3 = take(memory);
    let l2 = take(memory);
    paging::write_entry(l3, 0, l2 << 12 | PRESENT | USER);
    for (index, chunk) in backing.chunks(512).enumerate() {
        let l1 = take(memory);
        for (slot, &frame) in chunk.iter().enumerate() {
            paging::write_entry(l1, slot, frame << 12 | PRESENT | USER | no_execute);
        }
        paging::write_entry(l2, index, l1 << 12 | PRESENT | USER);
    }
    memory.table.set_hypervisor_l4_entry(M2P_L4_SLOT, l3 << 12 | PRESENT | USER);
    memory.m2p = M2p { backing, entries };
}

fn take(memory: &mut Memory) -> Mfn {
    memory.allocate_hypervisor_frame().expect("boot needs free frames for the M2P table")
}
