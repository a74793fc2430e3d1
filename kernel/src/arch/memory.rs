//! Physical memory: the frame allocator, the frame table and the heap.

use crate::bootinfo::BootInfo;
use crate::frames::{FRAME_SIZE, FrameAllocator, Mfn};
use crate::frametable::FrameTable;
use linked_list_allocator::LockedHeap;
use spin::Mutex;

/// Frames the allocator can track: 16 GiB of physical address space.
const MAX_FRAMES: usize = 4 * 1024 * 1024;
/// The hypervisor heap, in bytes.
const HEAP_SIZE: usize = 8 * 1024 * 1024;

static mut FRAME_BITMAP: [u64; MAX_FRAMES / 64] = [0; MAX_FRAMES / 64];

static mut HEAP_AREA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

pub struct Memory {
    pub frames: FrameAllocator<'static>,
    pub table: FrameTable,
    /// The machine-to-physical table; empty until [`super::m2p::init`] runs.
    pub m2p: super::m2p::M2p,
}

pub static MEMORY: Mutex<Option<Memory>> = Mutex::new(None);

unsafe extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Link-address range of the hypervisor image. The multiboot build runs
/// identity-mapped, so this is its physical range too. The `bootloader`
/// build runs in the top 2 GiB on frames the loader chose (see [`reserve_image`]).
pub fn image_range() -> (u64, u64) {
    (&raw const __image_start as u64, &raw const __image_end as u64)
}

/// Summary of what [`init`] found, for the boot log.
pub struct MemorySummary {
    pub total_frames: u64,
    pub free_frames: u64,
    pub ignored_frames: u64,
}

/// Sets up the heap, then hands usable RAM to the frame allocator minus the
/// first MiB, the hypervisor image and the boot modules.
pub fn init(boot: &BootInfo) -> MemorySummary {
    // SAFETY: `init` runs once, before anything allocates, and HEAP_AREA is
    // used by nothing but the heap.
    unsafe { HEAP.lock().init((&raw mut HEAP_AREA).cast::<u8>(), HEAP_SIZE) };

    // SAFETY: `init` runs once on the only CPU, so this is the only reference
    // to the bitmap for the rest of the hypervisor's life.
    let bitmap: &'static mut [u64] = unsafe { &mut *(&raw mut FRAME_BITMAP) };
    let mut frames = FrameAllocator::new(bitmap);
    let ignored = frames.add_free(boot.regions());
    frames.reserve(0, 0x10_0000);
    reserve_image(&mut frames);
    for module in boot.modules() {
        frames.reserve(module.start, module.end);
    }

    let table = FrameTable::new(boot.max_address().div_ceil(FRAME_SIZE).min(MAX_FRAMES as u64));
    let summary =
        MemorySummary { total_frames: frames.total_frames(), free_frames: frames.free_frames(), ignored_frames: ignored };
    *MEMORY.lock() = Some(Memory { frames, table, m2p: Default::default() });
    summary
}

/// Reserves the frames under the hypervisor image, found page by page
/// through the boot page tables, since the loader need not have put the
/// image in one contiguous physical run.
fn reserve_image(frames: &mut FrameAllocator<'static>) {
    let (start, end) = image_range();
    for page in (start & !(FRAME_SIZE - 1)..end).step_by(FRAME_SIZE as usize) {
        if let Some(physical) = super::paging::translate(page) {
            let frame = physical & !(FRAME_SIZE - 1);
            frames.reserve(frame, frame + FRAME_SIZE);
        }
    }
}

impl Memory {
    /// Frees the frames the frame table queued as orphaned, skipping any that
    /// another path (a grant unmap) already gave back.
    fn reclaim_orphans(&mut self) {
        let orphans = self.table.take_orphans();
        let mut returned = 0;
        for mfn in orphans {
            let still_orphaned = self.table.get(mfn).is_some_and(|info| {
                info.owner == hypercalls::DOMID_INVALID && info.ref_count == 0
            });
            if still_orphaned && !self.frames.is_free(mfn) {
                self.free_frame(mfn);
                returned += 1;
            }
        }
        if returned > 0 {
            log::info!("memory: {returned} frames of destroyed domains returned after their last mapping went");
        }
    }

    /// Gives a frame back to the allocator: it loses its owner and its M2P
    /// entry. The caller has checked that nothing references it.
    pub fn free_frame(&mut self, mfn: Mfn) {
        self.m2p.set(mfn, super::m2p::INVALID_ENTRY);
        self.table.release(mfn);
        self.frames.free(mfn);
    }

    /// Takes a frame, zeroes it and records it as the hypervisor's.
    pub fn allocate_hypervisor_frame(&mut self) -> Option<Mfn> {
        let mfn = self.frames.allocate()?;
        zero_frame(mfn);
        self.table.assign_to_hypervisor(mfn);
        Some(mfn)
    }
}

/// Runs `f` with the memory state, then returns to the allocator the frames
/// of destroyed domains that `f` dropped the last reference to. Panics if
/// [`init`] has not run, which only hypervisor code before boot could cause.
pub fn with<R>(f: impl FnOnce(&mut Memory) -> R) -> R {
    let mut guard = MEMORY.lock();
    let memory = guard.as_mut().expect("memory is initialised during boot");
    let result = f(memory);
    if memory.table.has_orphans() {
        memory.reclaim_orphans();
    }
    result
}

/// Returns a pointer to the start of a frame through the identity map.
pub fn frame_pointer(mfn: Mfn) -> *mut u8 {
    (mfn * FRAME_SIZE) as usize as *mut u8
}

/// Fills a frame with zeros.
pub fn zero_frame(mfn: Mfn) {
    // SAFETY: the identity map covers all RAM, and callers pass frames they
    // just took from the allocator, which nothing else references.
    unsafe { core::ptr::write_bytes(frame_pointer(mfn), 0, FRAME_SIZE as usize) };
}

/// Heap bytes in use and free, for the boot log.
pub fn heap_usage() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.used(), heap.free())
}
