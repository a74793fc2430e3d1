//! The frame table: who owns each machine frame and what it is used as.
//!
//! Guests name frames by MFN in page-table entries and hypercall arguments,
//! so every such MFN is checked here before the hypervisor acts on it: a
//! guest may map only frames it owns, and never a page-table frame writable.

use crate::frames::Mfn;
use hypercalls::{DOMID_INVALID, DOMID_XEN, DomId};

/// What a frame is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameType {
    /// Ordinary memory: mappable, writable by its owner.
    #[default]
    Plain,
    /// A page table of the given level (1 to 4): mappable read-only only.
    PageTable(u8),
    /// Shared with the owner by the hypervisor (`shared_info`): mappable writable.
    SharedInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub owner: DomId,
    pub kind: FrameType,
}

impl Default for FrameInfo {
    fn default() -> Self {
        FrameInfo { owner: DOMID_INVALID, kind: FrameType::Plain }
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Beyond the end of RAM the table covers.
    OutOfRange,
    /// Owned by another domain, the hypervisor, or nobody.
    NotOwned,
    /// A page-table frame asked for a writable mapping.
    PageTableWritable,
}

pub struct FrameTable {
    frames: alloc::vec::Vec<FrameInfo>,
}

impl FrameTable {
    /// Creates a table for frames `0..count`, all owned by nobody.
    pub fn new(count: u64) -> Self {
        FrameTable { frames: alloc::vec![FrameInfo::default(); count as usize] }
    }

    pub fn len(&self) -> u64 {
        self.frames.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn get(&self, mfn: Mfn) -> Option<FrameInfo> {
        self.frames.get(usize::try_from(mfn).ok()?).copied()
    }

    /// Records a frame as `owner`'s, used as `kind`.
    ///
    /// # Panics
    ///
    /// On an MFN beyond the table: the hypervisor only assigns frames its
    /// own allocator handed out, so that is a hypervisor bug.
    pub fn assign(&mut self, mfn: Mfn, owner: DomId, kind: FrameType) {
        let slot = self.frames.get_mut(mfn as usize).expect("frame table covers every allocated frame");
        *slot = FrameInfo { owner, kind };
    }

    /// Marks a frame as the hypervisor's own.
    pub fn assign_to_hypervisor(&mut self, mfn: Mfn) {
        self.assign(mfn, DOMID_XEN, FrameType::Plain);
    }

    /// Forgets a frame's owner when it goes back to the allocator.
    pub fn release(&mut self, mfn: Mfn) {
        if let Some(slot) = self.frames.get_mut(mfn as usize) {
            *slot = FrameInfo::default();
        }
    }

    /// Checks that `domain` may map `mfn`, writable or not.
    pub fn check_mappable(&self, domain: DomId, mfn: Mfn, writable: bool) -> Result<FrameInfo, FrameError> {
        let info = self.get(mfn).ok_or(FrameError::OutOfRange)?;
        if info.owner != domain {
            return Err(FrameError::NotOwned);
        }
        if writable && matches!(info.kind, FrameType::PageTable(_)) {
            return Err(FrameError::PageTableWritable);
        }
        Ok(info)
    }

    /// Frames owned by `domain`.
    pub fn count_owned(&self, domain: DomId) -> u64 {
        self.frames.iter().filter(|info| info.owner == domain).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_may_map_own_plain_frame() {
        let mut table = FrameTable::new(16);
        table.assign(3, 1, FrameType::Plain);
        assert!(table.check_mappable(1, 3, true).is_ok());
        assert!(table.check_mappable(1, 3, false).is_ok());
    }

    #[test]
    fn other_domain_and_unowned_frames_refused() {
        let mut table = FrameTable::new(16);
        table.assign(3, 1, FrameType::Plain);
        assert_eq!(table.check_mappable(2, 3, false), Err(FrameError::NotOwned));
        assert_eq!(table.check_mappable(1, 4, false), Err(FrameError::NotOwned));
        table.assign_to_hypervisor(5);
        assert_eq!(table.check_mappable(1, 5, false), Err(FrameError::NotOwned));
        assert_eq!(table.check_mappable(1, 99, false), Err(FrameError::OutOfRange));
    }

    #[test]
    fn page_table_frame_only_read_only() {
        let mut table = FrameTable::new(16);
        table.assign(7, 0, FrameType::PageTable(1));
        assert_eq!(table.check_mappable(0, 7, true), Err(FrameError::PageTableWritable));
        assert!(table.check_mappable(0, 7, false).is_ok());
    }

    #[test]
    fn release_returns_frame_to_nobody() {
        let mut table = FrameTable::new(4);
        table.assign(2, 0, FrameType::SharedInfo);
        assert_eq!(table.count_owned(0), 1);
        table.release(2);
        assert_eq!(table.count_owned(0), 0);
        assert_eq!(table.get(2), Some(FrameInfo::default()));
    }
}
