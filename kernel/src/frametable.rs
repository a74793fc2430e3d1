//! The frame table: who owns each machine frame, what it is used as, and
//! how many references hold it.
//!
//! Guests never write their page tables directly. Every table entry they
//! install goes through [`FrameTable::update_entry`] or a pin, which enforce
//! the PV memory rules:
//!
//! - a guest maps only frames it owns (or, for the control domain, frames of
//!   a domain it names as foreign);
//! - a frame has one type at a time: writable data or a page table of one
//!   level. A writable mapping takes a `Writable` type reference, so a frame
//!   mapped writable anywhere can never be validated as a page table, and a
//!   validated page table can never be mapped writable;
//! - an L2 entry must point at a validated L1, an L3 entry at an L2 and an
//!   L4 entry at an L3. Linear (recursive) page tables are therefore
//!   refused, and validation depth is at most four levels;
//! - L4 slots 256-271 belong to the hypervisor: guest entries there are
//!   refused, and validating an L4 overwrites them with the hypervisor's own.
//!
//! Type transitions:
//!
//! ```text
//!             get_type(Writable)            get_type(Table(n)): validate entries
//!   Plain  ------------------------> Writable    Plain ------------------------> Table(n)
//!          <------------------------                   <------------------------
//!             last put_type                              last put_type: drop entry refs
//! ```
//!
//! `type_count` counts users of the current type (writable mappings, entries
//! pointing at a table, pins, CR3 loads); `ref_count` counts entries of any
//! kind that point at the frame. A frame is free to reuse only when both are 0.

use crate::frames::Mfn;
use hypercalls::{DOMID_INVALID, DOMID_XEN, DomId};

/// What a frame is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameType {
    /// No type references: may become writable data or a page table.
    #[default]
    Plain,
    /// Mapped writable somewhere (`type_count` mappings).
    Writable,
    /// A validated page table of the given level (1 to 4).
    PageTable(u8),
    /// Shared with the owner by the hypervisor (`shared_info`): mappable
    /// writable, never a page table.
    SharedInfo,
    /// A frame of the owner's grant table, allocated by the hypervisor and
    /// mapped by the owner: same rules as `SharedInfo`.
    GrantTable,
}

impl FrameType {
    /// Whether the hypervisor allocated the frame to share it with its owner
    /// (`SharedInfo`, `GrantTable`): such frames take no type references.
    pub fn is_hypervisor_shared(self) -> bool {
        matches!(self, FrameType::SharedInfo | FrameType::GrantTable)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub owner: DomId,
    pub kind: FrameType,
    /// Users of the current type.
    pub type_count: u32,
    /// Page-table entries pointing at the frame.
    pub ref_count: u32,
    /// Pinned by its owner with `MMUEXT_PIN_L*_TABLE` (holds one type reference).
    pub pinned: bool,
}

impl Default for FrameInfo {
    fn default() -> Self {
        FrameInfo { owner: DOMID_INVALID, kind: FrameType::Plain, type_count: 0, ref_count: 0, pinned: false }
    }
}

/// A reason a frame or an entry was rejected. Every one is `-EINVAL` to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Beyond the end of RAM the table covers.
    OutOfRange,
    /// Owned by another domain, the hypervisor, or nobody.
    NotOwned,
    /// A page-table frame asked for a writable mapping.
    PageTableWritable,
    /// The frame is in use with another type (mapped writable, or a table of another level).
    TypeConflict,
    /// The entry sets bits the level does not allow (large pages, reserved bits).
    BadFlags,
    /// An L4 entry in the hypervisor's reserved slots.
    ReservedSlot,
    /// The frame written to is not a validated page table.
    NotPageTable,
    AlreadyPinned,
    NotPinned,
    /// The level is not 1 to 4.
    BadLevel,
    /// Still referenced by a page-table entry, a grant mapping, a pin or a
    /// type reference, so the frame cannot leave its owner.
    InUse,
}

/// Reads and writes page-table entries in machine frames. The hypervisor
/// goes through its identity map; host tests use a fake memory.
pub trait TableMemory {
    fn read_entry(&self, table: Mfn, index: usize) -> u64;
    fn write_entry(&mut self, table: Mfn, index: usize, value: u64);
}

pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
/// Bits 12-51: the frame an entry points at.
pub const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Large-page bit of L2/L3 entries (PAT in L1 entries).
const HUGE_OR_PAT: u64 = 1 << 7;
/// Bits 52-62: reserved or protection keys, never set by guests.
const HIGH_RESERVED: u64 = 0x7FF0_0000_0000_0000;

/// First and last L4 slot reserved for the hypervisor.
pub const RESERVED_L4: core::ops::RangeInclusive<usize> = 256..=271;

/// The `ptr` field of an `mmu_update` request, decoded. Xen's ABI puts the
/// command in bits 0-2, which are zero in the 8-byte-aligned address of a
/// table entry, and the entry's machine address in the other bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmuPointer {
    /// `MMU_NORMAL_PT_UPDATE` (0) or `MMU_PT_UPDATE_PRESERVE_AD` (2): entry
    /// `index` of the table in frame `table`.
    TableEntry { table: Mfn, index: usize },
    /// `MMU_MACHPHYS_UPDATE` (1) of the frame the pointer lies in.
    MachPhysUpdate { frame: Mfn },
    /// Commands 3-7, which Hospes does not define. A request whose entry
    /// address has bit 2 set (not 8-byte aligned) also lands here, so it can
    /// never write at an address the guest did not mean.
    Unknown(u64),
}

impl MmuPointer {
    pub fn decode(pointer: u64) -> MmuPointer {
        match pointer & 7 {
            // As on Xen, every bit above 11 is the frame number, so a
            // pointer with bits 52-63 set names no frame of RAM.
            0 | 2 => MmuPointer::TableEntry { table: pointer >> 12, index: ((pointer & 0xFFF) >> 3) as usize },
            1 => MmuPointer::MachPhysUpdate { frame: pointer >> 12 },
            command => MmuPointer::Unknown(command),
        }
    }
}

/// Users of a frame's type, as the callers of `get_type` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageType {
    Writable,
    Table(u8),
}

pub struct FrameTable {
    frames: alloc::vec::Vec<FrameInfo>,
    /// The hypervisor's entries in reserved L4 slots (the read-only M2P,
    /// the entry area), installed in every validated L4.
    hypervisor_l4_entries: alloc::vec::Vec<(usize, u64)>,
    /// Frames of destroyed domains whose last page-table reference went,
    /// for the owner of the allocator to take with [`take_orphans`](Self::take_orphans).
    orphans: alloc::vec::Vec<Mfn>,
}

impl FrameTable {
    /// Creates a table for frames `0..count`, all owned by nobody.
    pub fn new(count: u64) -> Self {
        FrameTable {
            frames: alloc::vec![FrameInfo::default(); count as usize],
            hypervisor_l4_entries: alloc::vec::Vec::new(),
            orphans: alloc::vec::Vec::new(),
        }
    }

    /// Sets the entry every validated L4 gets in the reserved slot `slot`.
    pub fn set_hypervisor_l4_entry(&mut self, slot: usize, entry: u64) {
        assert!(RESERVED_L4.contains(&slot));
        self.hypervisor_l4_entries.retain(|&(taken, _)| taken != slot);
        self.hypervisor_l4_entries.push((slot, entry));
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

    fn slot(&mut self, mfn: Mfn) -> Result<&mut FrameInfo, FrameError> {
        usize::try_from(mfn).ok().and_then(|index| self.frames.get_mut(index)).ok_or(FrameError::OutOfRange)
    }

    /// Records a fresh frame as `owner`'s, with no references.
    ///
    /// # Panics
    ///
    /// On an MFN beyond the table: the hypervisor only assigns frames its
    /// own allocator handed out, so that is a hypervisor bug.
    pub fn assign(&mut self, mfn: Mfn, owner: DomId, kind: FrameType) {
        let slot = self.frames.get_mut(mfn as usize).expect("frame table covers every allocated frame");
        *slot = FrameInfo { owner, kind, ..FrameInfo::default() };
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

    /// Marks a frame of a destroyed domain that is still referenced as having
    /// no owner, keeping its counts, so no domain can map it again. When the
    /// last reference goes, [`put_granted`](Self::put_granted) returns true
    /// to its caller, and [`put_entry`](Self::put_entry) and
    /// [`put_type`](Self::put_type) queue the frame for
    /// [`take_orphans`](Self::take_orphans).
    pub fn disown(&mut self, mfn: Mfn) {
        if let Some(slot) = self.frames.get_mut(mfn as usize) {
            slot.owner = DOMID_INVALID;
            slot.pinned = false;
        }
    }

    /// Checks that `owner` may give `mfn` back to the allocator
    /// (`XENMEM_decrease_reservation`): the frame must be `owner`'s plain
    /// data frame with no reference of any kind. Grant mappings, by this
    /// domain or another, hold a `ref_count` reference through
    /// [`get_granted`](Self::get_granted), so a granted frame that is mapped
    /// is refused with [`FrameError::InUse`].
    pub fn check_releasable(&self, mfn: Mfn, owner: DomId) -> Result<(), FrameError> {
        let info = self.get(mfn).ok_or(FrameError::OutOfRange)?;
        if info.owner != owner {
            return Err(FrameError::NotOwned);
        }
        if info.kind.is_hypervisor_shared() {
            return Err(FrameError::TypeConflict);
        }
        if info.ref_count > 0 || info.type_count > 0 || info.pinned || info.kind != FrameType::Plain {
            return Err(FrameError::InUse);
        }
        Ok(())
    }

    /// Takes a plain reference on `mfn` for a grant mapping's bookkeeping.
    /// The frame must belong to `owner` and be a data frame: a page table
    /// (unless `writable` is false) or a hypervisor-shared frame is refused.
    pub fn get_granted(&mut self, mfn: Mfn, owner: DomId, writable: bool) -> Result<(), FrameError> {
        let slot = self.slot(mfn)?;
        if slot.owner != owner {
            return Err(FrameError::NotOwned);
        }
        match slot.kind {
            FrameType::SharedInfo | FrameType::GrantTable => return Err(FrameError::TypeConflict),
            FrameType::PageTable(_) if writable => return Err(FrameError::PageTableWritable),
            _ => {}
        }
        slot.ref_count += 1;
        Ok(())
    }

    /// Drops a reference taken with [`get_granted`](Self::get_granted).
    /// Returns true when the frame is owned by nobody ([`disown`](Self::disown))
    /// and no reference is left: the caller must then give it back to the
    /// allocator and [`release`](Self::release) it.
    pub fn put_granted(&mut self, mfn: Mfn) -> bool {
        let Ok(slot) = self.slot(mfn) else { return false };
        slot.ref_count = slot.ref_count.saturating_sub(1);
        slot.owner == DOMID_INVALID && slot.ref_count == 0 && slot.type_count == 0
    }

    /// Installs, in entry `index` of the caller's L1 `table`, a mapping of
    /// `frame` owned by `granter`, which the caller may map because of a
    /// grant it validated. Takes the same references as
    /// [`update_entry`](Self::update_entry) and drops the old entry's.
    pub fn map_granted(
        &mut self,
        memory: &mut dyn TableMemory,
        table: Mfn,
        index: usize,
        entry: u64,
        caller: DomId,
        granter: DomId,
    ) -> Result<(), FrameError> {
        let target = self.get((entry & ADDRESS_MASK) >> 12).ok_or(FrameError::OutOfRange)?;
        if target.owner != granter || target.kind.is_hypervisor_shared() {
            return Err(FrameError::NotOwned);
        }
        let info = self.get(table).ok_or(FrameError::OutOfRange)?;
        if info.owner != caller || info.kind != FrameType::PageTable(1) {
            return Err(FrameError::NotPageTable);
        }
        self.update_entry(memory, table, index, entry, caller, Some(granter))
    }

    /// Checks that `domain` may access `mfn`, writable or not, without
    /// taking a reference (the hypervisor's own copies to guest memory).
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

    /// Takes a type reference of `want` on `mfn`, validating it first when it
    /// becomes a page table.
    ///
    /// The frame gets its table type before its entries are validated, as on
    /// Xen. An entry that points back at the table being validated (an L1
    /// entry mapping it writable, or an L2 entry using it as its own L1) then
    /// finds it typed and is rejected with [`FrameError::TypeConflict`].
    pub fn get_type(&mut self, memory: &mut dyn TableMemory, mfn: Mfn, want: PageType) -> Result<(), FrameError> {
        let info = *self.slot(mfn)?;
        let wanted_kind = match want {
            PageType::Writable => FrameType::Writable,
            PageType::Table(level) if (1..=4).contains(&level) => FrameType::PageTable(level),
            PageType::Table(_) => return Err(FrameError::BadLevel),
        };
        if info.kind.is_hypervisor_shared() {
            return if want == PageType::Writable { Ok(()) } else { Err(FrameError::TypeConflict) };
        }
        if info.type_count > 0 {
            if info.kind != wanted_kind {
                return Err(FrameError::TypeConflict);
            }
            self.slot(mfn)?.type_count += 1;
            return Ok(());
        }
        let slot = self.slot(mfn)?;
        slot.kind = wanted_kind;
        slot.type_count = 1;
        if let PageType::Table(level) = want
            && let Err(error) = self.validate(memory, mfn, level)
        {
            let slot = self.slot(mfn)?;
            slot.kind = FrameType::Plain;
            slot.type_count = 0;
            return Err(error);
        }
        Ok(())
    }

    /// Drops a type reference; the last one of a page table drops the
    /// references its entries hold.
    pub fn put_type(&mut self, memory: &mut dyn TableMemory, mfn: Mfn) {
        let Ok(slot) = self.slot(mfn) else { return };
        if slot.kind.is_hypervisor_shared() || slot.type_count == 0 {
            return;
        }
        slot.type_count -= 1;
        if slot.type_count > 0 {
            return;
        }
        let kind = slot.kind;
        slot.kind = FrameType::Plain;
        if let FrameType::PageTable(level) = kind {
            for index in 0..512 {
                if level == 4 && RESERVED_L4.contains(&index) {
                    continue;
                }
                let entry = memory.read_entry(mfn, index);
                self.put_entry(memory, level, entry);
            }
        }
        self.queue_if_orphaned(mfn);
    }

    /// Queues `mfn` for [`take_orphans`](Self::take_orphans) when it has no
    /// owner ([`disown`](Self::disown)) and no reference of any kind is left.
    #[inline]
    fn queue_if_orphaned(&mut self, mfn: Mfn) {
        let Some(info) = self.frames.get(mfn as usize) else { return };
        if info.owner != DOMID_INVALID || info.ref_count != 0 {
            return;
        }
        if (info.type_count == 0 || info.kind.is_hypervisor_shared()) && !self.orphans.contains(&mfn) {
            self.orphans.push(mfn);
        }
    }

    /// Returns true when frames wait for [`take_orphans`](Self::take_orphans).
    #[inline]
    pub fn has_orphans(&self) -> bool {
        !self.orphans.is_empty()
    }

    /// Returns the frames queued since the last call: frames of destroyed
    /// domains that nothing references any more. The caller gives each back
    /// to the allocator unless it is already free.
    pub fn take_orphans(&mut self) -> alloc::vec::Vec<Mfn> {
        core::mem::take(&mut self.orphans)
    }

    /// Validates every entry of table `mfn` at `level`, taking the references
    /// each needs; on failure releases what it took and leaves the table as it was.
    fn validate(&mut self, memory: &mut dyn TableMemory, mfn: Mfn, level: u8) -> Result<(), FrameError> {
        let owner = self.slot(mfn)?.owner;
        for index in 0..512 {
            if level == 4 && RESERVED_L4.contains(&index) {
                continue;
            }
            let entry = memory.read_entry(mfn, index);
            if let Err(error) = self.get_entry(memory, level, entry, owner, None) {
                for undo in (0..index).rev() {
                    if level == 4 && RESERVED_L4.contains(&undo) {
                        continue;
                    }
                    let taken = memory.read_entry(mfn, undo);
                    self.put_entry(memory, level, taken);
                }
                return Err(error);
            }
        }
        if level == 4 {
            for slot in RESERVED_L4 {
                memory.write_entry(mfn, slot, 0);
            }
            for &(slot, entry) in &self.hypervisor_l4_entries {
                memory.write_entry(mfn, slot, entry);
            }
        }
        Ok(())
    }

    /// Takes the references a table entry at `level` needs: the target must
    /// belong to `owner` (or to `foreign`, when the caller may name one) and
    /// have the type the level requires.
    pub fn get_entry(
        &mut self,
        memory: &mut dyn TableMemory,
        level: u8,
        entry: u64,
        owner: DomId,
        foreign: Option<DomId>,
    ) -> Result<(), FrameError> {
        if entry & PRESENT == 0 {
            return Ok(());
        }
        if entry & HIGH_RESERVED != 0 || entry & HUGE_OR_PAT != 0 {
            return Err(FrameError::BadFlags);
        }
        let target = (entry & ADDRESS_MASK) >> 12;
        let info = self.get(target).ok_or(FrameError::OutOfRange)?;
        if info.owner != owner && Some(info.owner) != foreign {
            return Err(FrameError::NotOwned);
        }
        match level {
            1 if entry & WRITABLE != 0 => self.get_type(memory, target, PageType::Writable)?,
            1 => {}
            2..=4 => self.get_type(memory, target, PageType::Table(level - 1))?,
            _ => return Err(FrameError::BadLevel),
        }
        self.slot(target)?.ref_count += 1;
        Ok(())
    }

    /// Drops the references a table entry at `level` held.
    pub fn put_entry(&mut self, memory: &mut dyn TableMemory, level: u8, entry: u64) {
        if entry & PRESENT == 0 {
            return;
        }
        let target = (entry & ADDRESS_MASK) >> 12;
        if let Ok(slot) = self.slot(target) {
            slot.ref_count = slot.ref_count.saturating_sub(1);
        }
        if level > 1 || entry & WRITABLE != 0 {
            self.put_type(memory, target);
        }
        self.queue_if_orphaned(target);
    }

    /// Replaces entry `index` of the validated table `table` with `new`, for
    /// `caller`. The new entry's references are taken before the old ones are
    /// dropped, so a failure changes nothing.
    pub fn update_entry(
        &mut self,
        memory: &mut dyn TableMemory,
        table: Mfn,
        index: usize,
        new: u64,
        caller: DomId,
        foreign: Option<DomId>,
    ) -> Result<(), FrameError> {
        let info = self.get(table).ok_or(FrameError::OutOfRange)?;
        if info.owner != caller && Some(info.owner) != foreign {
            return Err(FrameError::NotOwned);
        }
        let FrameType::PageTable(level) = info.kind else {
            return Err(FrameError::NotPageTable);
        };
        if info.type_count == 0 || index >= 512 {
            return Err(FrameError::NotPageTable);
        }
        if level == 4 && RESERVED_L4.contains(&index) {
            return Err(FrameError::ReservedSlot);
        }
        let allowed_foreign = if info.owner == caller { foreign } else { None };
        self.get_entry(memory, level, new, info.owner, allowed_foreign)?;
        let old = memory.read_entry(table, index);
        memory.write_entry(table, index, new);
        self.put_entry(memory, level, old);
        Ok(())
    }

    /// Moves entry `from` (an L1 frame and index) over entry `to` and clears
    /// `from`, for `caller`, who must own both L1 tables. The moved entry
    /// keeps its references, because it was validated in one of the caller's
    /// L1 tables and stays in one. The references of the entry it overwrites
    /// are dropped.
    pub fn move_l1_entry(
        &mut self,
        memory: &mut dyn TableMemory,
        from: (Mfn, usize),
        to: (Mfn, usize),
        caller: DomId,
    ) -> Result<(), FrameError> {
        for (table, index) in [from, to] {
            let info = self.get(table).ok_or(FrameError::OutOfRange)?;
            if info.owner != caller {
                return Err(FrameError::NotOwned);
            }
            if info.kind != FrameType::PageTable(1) || info.type_count == 0 || index >= 512 {
                return Err(FrameError::NotPageTable);
            }
        }
        if from == to {
            return Err(FrameError::BadLevel);
        }
        let moved = memory.read_entry(from.0, from.1);
        let replaced = memory.read_entry(to.0, to.1);
        memory.write_entry(to.0, to.1, moved);
        memory.write_entry(from.0, from.1, 0);
        self.put_entry(memory, 1, replaced);
        Ok(())
    }

    /// Pins `mfn` as a page table of `level` for its owner `caller`.
    pub fn pin(&mut self, memory: &mut dyn TableMemory, mfn: Mfn, level: u8, caller: DomId) -> Result<(), FrameError> {
        let info = self.get(mfn).ok_or(FrameError::OutOfRange)?;
        if info.owner != caller {
            return Err(FrameError::NotOwned);
        }
        if info.pinned {
            return Err(FrameError::AlreadyPinned);
        }
        self.get_type(memory, mfn, PageType::Table(level))?;
        self.slot(mfn)?.pinned = true;
        Ok(())
    }

    /// Unpins a table pinned with [`pin`](Self::pin).
    pub fn unpin(&mut self, memory: &mut dyn TableMemory, mfn: Mfn, caller: DomId) -> Result<(), FrameError> {
        let info = self.get(mfn).ok_or(FrameError::OutOfRange)?;
        if info.owner != caller {
            return Err(FrameError::NotOwned);
        }
        if !info.pinned {
            return Err(FrameError::NotPinned);
        }
        self.slot(mfn)?.pinned = false;
        self.put_type(memory, mfn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Page tables in a hash map: (frame, index) -> entry.
    #[derive(Default)]
    struct FakeMemory(HashMap<(Mfn, usize), u64>);

    impl TableMemory for FakeMemory {
        fn read_entry(&self, table: Mfn, index: usize) -> u64 {
            self.0.get(&(table, index)).copied().unwrap_or(0)
        }
        fn write_entry(&mut self, table: Mfn, index: usize, value: u64) {
            self.0.insert((table, index), value);
        }
    }

    fn entry(mfn: Mfn, flags: u64) -> u64 {
        mfn << 12 | flags
    }

    const RW: u64 = PRESENT | WRITABLE;
    const RO: u64 = PRESENT;

    /// Frames 1..=40 belong to domain 1, 41..=50 to domain 2.
    fn setup() -> (FrameTable, FakeMemory) {
        let mut table = FrameTable::new(64);
        for mfn in 1..=40 {
            table.assign(mfn, 1, FrameType::Plain);
        }
        for mfn in 41..=50 {
            table.assign(mfn, 2, FrameType::Plain);
        }
        table.assign_to_hypervisor(60);
        (table, FakeMemory::default())
    }

    /// A four-level tree: L4 = 1, L3 = 2, L2 = 3, L1 = 4 mapping frame 10 RW
    /// and the L1 itself RO.
    fn build_tree(memory: &mut FakeMemory) {
        memory.write_entry(1, 0, entry(2, RW));
        memory.write_entry(2, 0, entry(3, RW));
        memory.write_entry(3, 0, entry(4, RW));
        memory.write_entry(4, 0, entry(10, RW));
        memory.write_entry(4, 1, entry(4, RO));
    }

    #[test]
    fn pin_validates_whole_tree() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.get(1).unwrap().kind, FrameType::PageTable(4));
        assert_eq!(table.get(2).unwrap().kind, FrameType::PageTable(3));
        assert_eq!(table.get(3).unwrap().kind, FrameType::PageTable(2));
        assert_eq!(table.get(4).unwrap().kind, FrameType::PageTable(1));
        assert_eq!(table.get(10).unwrap().kind, FrameType::Writable);
        assert_eq!(table.get(4).unwrap().ref_count, 2);
        assert!(table.get(1).unwrap().pinned);
    }

    #[test]
    fn unpin_releases_every_type() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        table.unpin(&mut memory, 1, 1).expect("pinned");
        for mfn in [1, 2, 3, 4, 10] {
            let info = table.get(mfn).unwrap();
            assert_eq!(info.kind, FrameType::Plain, "frame {mfn}");
            assert_eq!(info.type_count, 0, "frame {mfn}");
            assert_eq!(info.ref_count, 0, "frame {mfn}");
        }
    }

    #[test]
    fn page_table_mapped_writable_is_refused() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        let before = memory.read_entry(4, 2);
        for frame in [1, 2, 3, 4] {
            assert_eq!(table.update_entry(&mut memory, 4, 2, entry(frame, RW), 1, None), Err(FrameError::TypeConflict));
        }
        assert_eq!(memory.read_entry(4, 2), before);
        assert_eq!(table.update_entry(&mut memory, 4, 2, entry(3, RO), 1, None), Ok(()));
    }

    #[test]
    fn writable_frame_cannot_become_table() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        table.update_entry(&mut memory, 4, 5, entry(20, RW), 1, None).expect("map 20 writable");
        assert_eq!(table.pin(&mut memory, 20, 1, 1), Err(FrameError::TypeConflict));
        table.update_entry(&mut memory, 4, 5, 0, 1, None).expect("unmap");
        assert_eq!(table.pin(&mut memory, 20, 1, 1), Ok(()));
    }

    #[test]
    fn foreign_and_hypervisor_frames_refused() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(41, RO), 1, None), Err(FrameError::NotOwned));
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(60, RO), 1, None), Err(FrameError::NotOwned));
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(0, RO), 1, None), Err(FrameError::NotOwned));
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(99, RO), 1, None), Err(FrameError::OutOfRange));
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(41, RO), 1, Some(2)), Ok(()));
        assert_eq!(table.get(41).unwrap().ref_count, 1);
    }

    #[test]
    fn foreign_mapping_of_destroyed_domain_queues_orphan() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // Domain 1 maps frame 41 of domain 2 read-only and frame 42 writable.
        table.update_entry(&mut memory, 4, 3, entry(41, RO), 1, Some(2)).expect("foreign read-only");
        table.update_entry(&mut memory, 4, 6, entry(42, RW), 1, Some(2)).expect("foreign writable");
        // Domain 2 is destroyed while both stay mapped: they are disowned, not freed.
        table.disown(41);
        table.disown(42);
        assert!(table.take_orphans().is_empty());

        table.update_entry(&mut memory, 4, 3, 0, 1, None).expect("unmap 41");
        assert_eq!(table.take_orphans(), [41]);
        table.update_entry(&mut memory, 4, 6, 0, 1, None).expect("unmap 42");
        assert_eq!(table.take_orphans(), [42]);
        assert_eq!(table.get(42).unwrap().type_count, 0);
        assert!(table.take_orphans().is_empty());
    }

    #[test]
    fn unmapping_an_owned_frame_queues_nothing() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        table.update_entry(&mut memory, 4, 3, entry(41, RO), 1, Some(2)).expect("foreign read-only");
        table.update_entry(&mut memory, 4, 3, 0, 1, None).expect("unmap 41");
        table.unpin(&mut memory, 1, 1).expect("pinned");
        assert!(table.take_orphans().is_empty());
    }

    #[test]
    fn moved_l1_entry_keeps_its_references() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        table.update_entry(&mut memory, 4, 3, entry(20, RW), 1, None).expect("map 20 writable");
        table.update_entry(&mut memory, 4, 5, entry(41, RO), 1, Some(2)).expect("map 41 of domain 2");

        // Move 41's entry over 20's: 20 loses its only mapping, 41 keeps one.
        table.move_l1_entry(&mut memory, (4, 5), (4, 3), 1).expect("move");
        assert_eq!(memory.read_entry(4, 3), entry(41, RO));
        assert_eq!(memory.read_entry(4, 5), 0);
        assert_eq!(table.get(41).unwrap().ref_count, 1);
        let twenty = table.get(20).unwrap();
        assert_eq!((twenty.ref_count, twenty.type_count, twenty.kind), (0, 0, FrameType::Plain));

        assert_eq!(table.move_l1_entry(&mut memory, (4, 3), (4, 3), 1), Err(FrameError::BadLevel));
        assert_eq!(table.move_l1_entry(&mut memory, (4, 3), (3, 1), 1), Err(FrameError::NotPageTable));
        assert_eq!(table.move_l1_entry(&mut memory, (4, 3), (4, 7), 2), Err(FrameError::NotOwned));
        assert_eq!(memory.read_entry(4, 3), entry(41, RO));
    }

    #[test]
    fn other_domain_cannot_update_table() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.update_entry(&mut memory, 4, 3, entry(42, RO), 2, None), Err(FrameError::NotOwned));
        assert_eq!(table.unpin(&mut memory, 1, 2), Err(FrameError::NotOwned));
    }

    #[test]
    fn linear_and_large_entries_refused() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // L4 pointing at itself (recursive mapping) needs an L3 type.
        assert_eq!(table.update_entry(&mut memory, 1, 5, entry(1, RO), 1, None), Err(FrameError::TypeConflict));
        // A 2 MiB page in the L2.
        assert_eq!(table.update_entry(&mut memory, 3, 5, entry(20, RW | HUGE_OR_PAT), 1, None), Err(FrameError::BadFlags));
        assert_eq!(table.update_entry(&mut memory, 4, 5, entry(20, RW | 1 << 55), 1, None), Err(FrameError::BadFlags));
    }

    #[test]
    fn l1_mapping_itself_writable_refused_at_pin() {
        let (mut table, mut memory) = setup();
        // A fresh L1 whose entry 3 maps the L1's own frame writable.
        memory.write_entry(5, 3, entry(5, RW));
        assert_eq!(table.pin(&mut memory, 5, 1, 1), Err(FrameError::TypeConflict));
        let info = table.get(5).unwrap();
        assert_eq!((info.kind, info.type_count, info.ref_count), (FrameType::Plain, 0, 0));
    }

    #[test]
    fn l2_pointing_at_itself_refused_at_pin() {
        let (mut table, mut memory) = setup();
        // A fresh L2 whose entry 0 points at the L2 itself, which would make
        // it its own L1 and, with RW, map the L2 writable.
        memory.write_entry(6, 0, entry(6, RW));
        assert_eq!(table.pin(&mut memory, 6, 2, 1), Err(FrameError::TypeConflict));
        let info = table.get(6).unwrap();
        assert_eq!((info.kind, info.type_count, info.ref_count), (FrameType::Plain, 0, 0));
    }

    #[test]
    fn l1_mapping_its_l2_writable_refused_at_pin() {
        let (mut table, mut memory) = setup();
        // A fresh L2 whose L1 maps the L2 writable.
        memory.write_entry(6, 0, entry(7, RW));
        memory.write_entry(7, 0, entry(6, RW));
        assert_eq!(table.pin(&mut memory, 6, 2, 1), Err(FrameError::TypeConflict));
        for mfn in [6, 7] {
            let info = table.get(mfn).unwrap();
            assert_eq!((info.kind, info.type_count, info.ref_count), (FrameType::Plain, 0, 0), "frame {mfn}");
        }
    }

    #[test]
    fn l2_update_to_self_mapping_l1_refused() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // mmu_update of L2 entry 5 with a fresh L1 that maps itself writable.
        memory.write_entry(8, 2, entry(8, RW));
        assert_eq!(table.update_entry(&mut memory, 3, 5, entry(8, RW), 1, None), Err(FrameError::TypeConflict));
        assert_eq!(memory.read_entry(3, 5), 0);
        let info = table.get(8).unwrap();
        assert_eq!((info.kind, info.type_count, info.ref_count), (FrameType::Plain, 0, 0));
    }

    #[test]
    fn reserved_l4_slots_refused_and_overwritten() {
        let (mut table, mut memory) = setup();
        table.set_hypervisor_l4_entry(261, entry(60, RW));
        table.set_hypervisor_l4_entry(256, entry(61, RO));
        table.set_hypervisor_l4_entry(256, entry(62, RO));
        build_tree(&mut memory);
        memory.write_entry(1, 257, entry(60, RW));
        memory.write_entry(1, 256, entry(2, RW));
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(memory.read_entry(1, 257), 0);
        assert_eq!(memory.read_entry(1, 261), entry(60, RW));
        assert_eq!(memory.read_entry(1, 256), entry(62, RO));
        assert_eq!(table.update_entry(&mut memory, 1, 270, 0, 1, None), Err(FrameError::ReservedSlot));
    }

    #[test]
    fn failed_validation_leaves_no_references() {
        let (mut table, mut memory) = setup();
        memory.write_entry(5, 0, entry(11, RW));
        memory.write_entry(5, 1, entry(12, RO));
        memory.write_entry(5, 2, entry(41, RO));
        assert_eq!(table.pin(&mut memory, 5, 1, 1), Err(FrameError::NotOwned));
        for mfn in [5, 11, 12] {
            let info = table.get(mfn).unwrap();
            assert_eq!((info.kind, info.type_count, info.ref_count), (FrameType::Plain, 0, 0), "frame {mfn}");
        }
    }

    /// Returns (kind, type_count, ref_count, pinned) of `mfn`.
    fn counts(table: &FrameTable, mfn: Mfn) -> (FrameType, u32, u32, bool) {
        let info = table.get(mfn).unwrap();
        (info.kind, info.type_count, info.ref_count, info.pinned)
    }

    #[test]
    fn failed_l4_validation_undoes_whole_subtree() {
        let (mut table, mut memory) = setup();
        // L4 20 -> L3 21 (twice) -> L2 22 -> L1 23 (twice), which maps data
        // frame 24 writable and the L4 and L2 read-only; L4 entry 2 links
        // L3 25, whose only entry names domain 2's frame 41 and fails.
        memory.write_entry(20, 0, entry(21, RW));
        memory.write_entry(20, 1, entry(21, RW));
        memory.write_entry(20, 2, entry(25, RW));
        memory.write_entry(21, 0, entry(22, RW));
        memory.write_entry(22, 0, entry(23, RW));
        memory.write_entry(22, 1, entry(23, RW));
        memory.write_entry(23, 0, entry(24, RW));
        memory.write_entry(23, 1, entry(20, RO));
        memory.write_entry(23, 2, entry(22, RO));
        memory.write_entry(25, 0, entry(41, RW));
        assert_eq!(table.pin(&mut memory, 20, 4, 1), Err(FrameError::NotOwned));
        for mfn in [20, 21, 22, 23, 24, 25, 41] {
            assert_eq!(counts(&table, mfn), (FrameType::Plain, 0, 0, false), "frame {mfn}");
        }
        assert!(!table.has_orphans());
    }

    #[test]
    fn failed_validation_keeps_existing_references() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // L1 7 is pinned, and frame 26 is mapped read-only by the live L1 4.
        table.pin(&mut memory, 7, 1, 1).expect("empty L1");
        table.update_entry(&mut memory, 4, 9, entry(26, RO), 1, None).expect("read-only map");
        // A fresh L2 26 links L1 7 and the live L1 4, then fails at entry
        // 511 on the live L2 3 used as an L1.
        memory.write_entry(26, 0, entry(7, RW));
        memory.write_entry(26, 1, entry(4, RW));
        memory.write_entry(26, 511, entry(3, RW));
        assert_eq!(table.pin(&mut memory, 26, 2, 1), Err(FrameError::TypeConflict));
        assert_eq!(counts(&table, 26), (FrameType::Plain, 0, 1, false));
        assert_eq!(counts(&table, 7), (FrameType::PageTable(1), 1, 0, true));
        assert_eq!(counts(&table, 4), (FrameType::PageTable(1), 1, 2, false));
        assert_eq!(counts(&table, 3), (FrameType::PageTable(2), 1, 1, false));
        // The frame is still free to become writable data.
        table.update_entry(&mut memory, 4, 9, entry(26, RW), 1, None).expect("writable map");
        assert_eq!(counts(&table, 26), (FrameType::Writable, 1, 1, false));
    }

    #[test]
    fn failed_update_leaves_new_subtree_untyped() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // mmu_update of L3 entry 7 with a fresh L2 27 whose L1 28 maps
        // frame 29 writable and then the live L3 2 writable.
        memory.write_entry(27, 0, entry(28, RW));
        memory.write_entry(28, 0, entry(29, RW));
        memory.write_entry(28, 1, entry(2, RW));
        assert_eq!(table.update_entry(&mut memory, 2, 7, entry(27, RW), 1, None), Err(FrameError::TypeConflict));
        assert_eq!(memory.read_entry(2, 7), 0);
        for mfn in [27, 28, 29] {
            assert_eq!(counts(&table, mfn), (FrameType::Plain, 0, 0, false), "frame {mfn}");
        }
        assert_eq!(counts(&table, 2), (FrameType::PageTable(3), 1, 1, false));
        // Unpinning the tree still releases everything.
        table.unpin(&mut memory, 1, 1).expect("pinned");
        for mfn in [1, 2, 3, 4, 10] {
            assert_eq!(counts(&table, mfn), (FrameType::Plain, 0, 0, false), "frame {mfn}");
        }
    }

    #[test]
    fn pin_twice_and_unpin_unpinned_refused() {
        let (mut table, mut memory) = setup();
        assert_eq!(table.pin(&mut memory, 7, 1, 1), Ok(()));
        assert_eq!(table.pin(&mut memory, 7, 1, 1), Err(FrameError::AlreadyPinned));
        assert_eq!(table.unpin(&mut memory, 8, 1), Err(FrameError::NotPinned));
        assert_eq!(table.pin(&mut memory, 8, 5, 1), Err(FrameError::BadLevel));
    }

    #[test]
    fn shared_info_writable_never_table() {
        let (mut table, mut memory) = setup();
        table.assign(30, 1, FrameType::SharedInfo);
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.update_entry(&mut memory, 4, 6, entry(30, RW), 1, None), Ok(()));
        assert_eq!(table.pin(&mut memory, 30, 1, 1), Err(FrameError::TypeConflict));
        assert_eq!(table.get(30).unwrap().kind, FrameType::SharedInfo);
    }

    #[test]
    fn grant_table_frame_writable_never_table() {
        let (mut table, mut memory) = setup();
        table.assign(31, 1, FrameType::GrantTable);
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.update_entry(&mut memory, 4, 6, entry(31, RW), 1, None), Ok(()));
        assert_eq!(table.pin(&mut memory, 31, 1, 1), Err(FrameError::TypeConflict));
        assert_eq!(table.update_entry(&mut memory, 4, 6, 0, 1, None), Ok(()));
        assert_eq!(table.get(31).unwrap().kind, FrameType::GrantTable);
        assert_eq!(table.update_entry(&mut memory, 4, 7, entry(31, RW), 2, None), Err(FrameError::NotOwned));
    }

    #[test]
    fn granted_frame_mapped_by_peer() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // Domain 1 maps domain 2's frame 42 writable because of a grant.
        assert_eq!(table.map_granted(&mut memory, 4, 8, entry(42, RW), 1, 2), Ok(()));
        assert_eq!(table.get(42).unwrap().kind, FrameType::Writable);
        assert_eq!(table.get(42).unwrap().ref_count, 1);
        // The frame must belong to the named granter.
        assert_eq!(table.map_granted(&mut memory, 4, 9, entry(43, RO), 1, 3), Err(FrameError::NotOwned));
        // Only into an L1 of the caller.
        assert_eq!(table.map_granted(&mut memory, 3, 9, entry(43, RO), 1, 2), Err(FrameError::NotPageTable));
        assert_eq!(table.map_granted(&mut memory, 4, 9, entry(43, RO), 2, 2), Err(FrameError::NotPageTable));
        table.update_entry(&mut memory, 4, 8, 0, 1, None).expect("unmap");
        assert_eq!(table.get(42).unwrap().ref_count, 0);
        assert_eq!(table.get(42).unwrap().kind, FrameType::Plain);
    }

    #[test]
    fn granted_reference_rules() {
        let (mut table, mut memory) = setup();
        table.assign(32, 1, FrameType::SharedInfo);
        assert_eq!(table.get_granted(42, 1, false), Err(FrameError::NotOwned));
        assert_eq!(table.get_granted(32, 1, false), Err(FrameError::TypeConflict));
        table.pin(&mut memory, 7, 1, 1).expect("empty L1");
        assert_eq!(table.get_granted(7, 1, true), Err(FrameError::PageTableWritable));
        assert_eq!(table.get_granted(7, 1, false), Ok(()));
        assert_eq!(table.get_granted(42, 2, true), Ok(()));
        // Owned frames are never reported free.
        assert!(!table.put_granted(42));
        assert_eq!(table.get_granted(42, 2, true), Ok(()));
        table.disown(42);
        assert_eq!(table.get_granted(42, 2, true), Err(FrameError::NotOwned));
        assert!(table.put_granted(42), "the last reference of a disowned frame frees it");
    }

    #[test]
    fn releasable_only_unreferenced_plain_frames() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        table.assign(32, 1, FrameType::SharedInfo);
        table.assign(33, 1, FrameType::GrantTable);
        assert_eq!(table.check_releasable(20, 1), Ok(()));
        assert_eq!(table.check_releasable(42, 1), Err(FrameError::NotOwned));
        assert_eq!(table.check_releasable(60, 1), Err(FrameError::NotOwned));
        assert_eq!(table.check_releasable(64, 1), Err(FrameError::OutOfRange));
        assert_eq!(table.check_releasable(32, 1), Err(FrameError::TypeConflict));
        assert_eq!(table.check_releasable(33, 1), Err(FrameError::TypeConflict));
        // Page tables of the pinned tree, and frame 10 mapped writable by it.
        for mfn in [1, 2, 3, 4, 10] {
            assert_eq!(table.check_releasable(mfn, 1), Err(FrameError::InUse), "frame {mfn}");
        }
        // A read-only mapping holds only a ref_count reference.
        table.update_entry(&mut memory, 4, 5, entry(20, RO), 1, None).expect("map read-only");
        assert_eq!(table.check_releasable(20, 1), Err(FrameError::InUse));
        table.update_entry(&mut memory, 4, 5, 0, 1, None).expect("unmap");
        assert_eq!(table.check_releasable(20, 1), Ok(()));
    }

    #[test]
    fn granted_frame_not_releasable_while_mapped() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        // Domain 1 maps domain 2's frame 42 through a grant, as map_grant_ref
        // does: the grant's own reference, then the PTE.
        table.get_granted(42, 2, false).expect("granted frame");
        table.map_granted(&mut memory, 4, 8, entry(42, RO), 1, 2).expect("map");
        assert_eq!(table.check_releasable(42, 2), Err(FrameError::InUse));
        // A guest that overwrites the PTE itself still leaves the grant's reference.
        table.update_entry(&mut memory, 4, 8, 0, 1, None).expect("PTE cleared");
        assert_eq!(table.check_releasable(42, 2), Err(FrameError::InUse));
        assert!(!table.put_granted(42));
        assert_eq!(table.check_releasable(42, 2), Ok(()));
    }

    #[test]
    fn check_mappable_rules() {
        let (mut table, mut memory) = setup();
        build_tree(&mut memory);
        table.pin(&mut memory, 1, 4, 1).expect("valid tree");
        assert_eq!(table.check_mappable(1, 4, true), Err(FrameError::PageTableWritable));
        assert!(table.check_mappable(1, 4, false).is_ok());
        assert_eq!(table.check_mappable(2, 10, false), Err(FrameError::NotOwned));
        assert_eq!(table.count_owned(2), 10);
        table.release(45);
        assert_eq!(table.count_owned(2), 9);
    }

    #[test]
    fn mmu_pointer_commands() {
        let entry = 0x1234_5000 | 0x18;
        assert_eq!(MmuPointer::decode(entry), MmuPointer::TableEntry { table: 0x12345, index: 3 });
        assert_eq!(MmuPointer::decode(entry | 2), MmuPointer::TableEntry { table: 0x12345, index: 3 });
        assert_eq!(MmuPointer::decode(entry | 1), MmuPointer::MachPhysUpdate { frame: 0x12345 });
        assert_eq!(MmuPointer::decode(1 << 52 | entry | 1), MmuPointer::MachPhysUpdate { frame: 1 << 40 | 0x12345 });
        assert_eq!(MmuPointer::decode(1 << 63 | entry), MmuPointer::TableEntry { table: 1 << 51 | 0x12345, index: 3 });
        assert_eq!(MmuPointer::decode(entry | 3), MmuPointer::Unknown(3));
    }

    #[test]
    fn mmu_pointer_not_8_byte_aligned_is_unknown() {
        // Bit 2 set: the entry address is 4 bytes into an entry. Masking only
        // bits 0-1 would take it as a normal update of entry 3.
        let entry = 0x1234_5000 | 0x18;
        for low in 4..8 {
            assert_eq!(MmuPointer::decode(entry | low), MmuPointer::Unknown(low), "low bits {low}");
        }
    }
}
