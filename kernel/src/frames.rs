//! The physical frame allocator: one bit per 4 KiB frame, set when free.
//!
//! Frames start out used; [`FrameAllocator::add_free`] releases the usable
//! RAM from the memory map and [`FrameAllocator::reserve`] takes back what the
//! hypervisor image, the loader's structures and the boot modules occupy.
//! The search for a free frame resumes where the last one ended, so repeated
//! allocations cost a word scan, not a walk from frame 0.

use crate::bootinfo::MemoryRegion;

pub const FRAME_SIZE: u64 = 4096;

/// A machine frame number.
pub type Mfn = u64;

pub struct FrameAllocator<'a> {
    /// Bit `n % 64` of word `n / 64` is set when frame `n` is free.
    bitmap: &'a mut [u64],
    free: u64,
    total: u64,
    next_word: usize,
}

impl<'a> FrameAllocator<'a> {
    /// Creates an allocator for frames below `bitmap.len() * 64`, all in use.
    pub fn new(bitmap: &'a mut [u64]) -> Self {
        bitmap.fill(0);
        FrameAllocator { bitmap, free: 0, total: 0, next_word: 0 }
    }

    /// Highest frame number plus one that this allocator can track.
    pub fn capacity(&self) -> u64 {
        self.bitmap.len() as u64 * 64
    }

    /// Marks the whole frames of each region free and counts them as RAM.
    /// Frames past the bitmap's capacity are ignored and returned as a count.
    pub fn add_free(&mut self, regions: &[MemoryRegion]) -> u64 {
        let mut ignored = 0;
        for region in regions {
            for mfn in region.start / FRAME_SIZE..region.end / FRAME_SIZE {
                if mfn >= self.capacity() {
                    ignored += 1;
                    continue;
                }
                if !self.is_free(mfn) {
                    self.set(mfn, true);
                    self.free += 1;
                    self.total += 1;
                }
            }
        }
        ignored
    }

    /// Marks every frame overlapping `[start, end)` as used.
    pub fn reserve(&mut self, start: u64, end: u64) {
        if end <= start {
            return;
        }
        let first = start / FRAME_SIZE;
        let last = end.div_ceil(FRAME_SIZE).min(self.capacity());
        for mfn in first..last {
            if self.is_free(mfn) {
                self.set(mfn, false);
                self.free -= 1;
            }
        }
    }

    pub fn is_free(&self, mfn: Mfn) -> bool {
        let word = (mfn / 64) as usize;
        word < self.bitmap.len() && self.bitmap[word] & (1 << (mfn % 64)) != 0
    }

    fn set(&mut self, mfn: Mfn, free: bool) {
        let word = (mfn / 64) as usize;
        if free {
            self.bitmap[word] |= 1 << (mfn % 64);
        } else {
            self.bitmap[word] &= !(1 << (mfn % 64));
        }
    }

    /// Takes one free frame, or `None` when memory is exhausted.
    pub fn allocate(&mut self) -> Option<Mfn> {
        let words = self.bitmap.len();
        for step in 0..words {
            let word = (self.next_word + step) % words;
            let bits = self.bitmap[word];
            if bits != 0 {
                let mfn = word as u64 * 64 + bits.trailing_zeros() as u64;
                self.set(mfn, false);
                self.free -= 1;
                self.next_word = word;
                return Some(mfn);
            }
        }
        None
    }

    /// Returns a frame taken with [`allocate`](Self::allocate).
    ///
    /// # Panics
    ///
    /// On a frame that is already free or outside the allocator: that is a
    /// hypervisor bug (a double free), never a guest's doing.
    pub fn free(&mut self, mfn: Mfn) {
        assert!(mfn < self.capacity() && !self.is_free(mfn), "frame {mfn:#x} freed twice or out of range");
        self.set(mfn, true);
        self.free += 1;
    }

    /// Frames free now.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames of RAM handed to the allocator, free or not.
    pub fn total_frames(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, end: u64) -> MemoryRegion {
        MemoryRegion { start, end }
    }

    #[test]
    fn allocator_counts_regions_and_reservations() {
        let mut bitmap = [0u64; 4];
        let mut frames = FrameAllocator::new(&mut bitmap);
        frames.add_free(&[region(0, 0x10_000), region(0x20_000, 0x40_000)]);
        assert_eq!(frames.total_frames(), 16 + 32);
        assert_eq!(frames.free_frames(), 48);
        frames.reserve(0x1800, 0x3001);
        assert_eq!(frames.free_frames(), 45);
        assert!(!frames.is_free(1) && !frames.is_free(2) && !frames.is_free(3));
        assert!(frames.is_free(0) && frames.is_free(4));
    }

    #[test]
    fn allocator_never_hands_out_reserved_or_unlisted() {
        let mut bitmap = [0u64; 4];
        let mut frames = FrameAllocator::new(&mut bitmap);
        frames.add_free(&[region(0x10_000, 0x20_000)]);
        frames.reserve(0x10_000, 0x12_000);
        let mut taken = Vec::new();
        while let Some(mfn) = frames.allocate() {
            taken.push(mfn);
        }
        assert_eq!(taken.len(), 14);
        assert!(taken.iter().all(|&mfn| (0x12..0x20).contains(&mfn)));
        assert_eq!(frames.free_frames(), 0);
    }

    #[test]
    fn allocator_free_makes_frame_reusable() {
        let mut bitmap = [0u64; 1];
        let mut frames = FrameAllocator::new(&mut bitmap);
        frames.add_free(&[region(0, 2 * FRAME_SIZE)]);
        let first = frames.allocate().expect("frame");
        let second = frames.allocate().expect("frame");
        assert_eq!(frames.allocate(), None);
        frames.free(first);
        assert_eq!(frames.allocate(), Some(first));
        assert_ne!(first, second);
    }

    #[test]
    #[should_panic(expected = "freed twice")]
    fn allocator_rejects_double_free() {
        let mut bitmap = [0u64; 1];
        let mut frames = FrameAllocator::new(&mut bitmap);
        frames.add_free(&[region(0, FRAME_SIZE)]);
        let mfn = frames.allocate().expect("frame");
        frames.free(mfn);
        frames.free(mfn);
    }

    #[test]
    fn allocator_ignores_frames_beyond_capacity() {
        let mut bitmap = [0u64; 1];
        let mut frames = FrameAllocator::new(&mut bitmap);
        let ignored = frames.add_free(&[region(0, 100 * FRAME_SIZE)]);
        assert_eq!(ignored, 36);
        assert_eq!(frames.total_frames(), 64);
    }
}
