//! Grant tables (v1): the bookkeeping behind `grant_table_op`, with no
//! CPU access so that every rule can be tested on the host.
//!
//! A granting domain owns a [`GrantTable`]: frames of `grant_entry_v1`
//! records that it writes itself, plus the hypervisor's private active
//! entries, one per grant reference in use. A mapping domain owns a
//! [`Maptrack`]: the handles it got from `map_grant_ref` and what each one
//! maps.
//!
//! The shared entries are guest-writable at any moment, so each operation
//! copies an entry once and decides on that copy only. The first mapping of
//! a reference records the frame in the active entry, and later mappings
//! use that record, so a granter that rewrites its entry while the frame is
//! mapped cannot redirect or free what the mapper holds. While any mapping
//! exists the hypervisor keeps `GTF_reading` set in the entry, and
//! `GTF_writing` while a writable one exists. A granter that follows the
//! grant protocol sees them and does not reuse the frame.

use crate::frames::Mfn;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hypercalls::DomId;
use hypercalls::grant::{
    ENTRIES_PER_FRAME, GNTST_BAD_GNTREF, GNTST_BAD_HANDLE, GNTST_GENERAL_ERROR, GNTST_NO_SPACE, GNTST_PERMISSION_DENIED,
    GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_TYPE_MASK, GTF_WRITING, GrantEntryV1, GrantHandle, GrantRef,
};

/// Frames a grant table may grow to: 4 frames of 512 entries, 2048 references.
/// Xen's default is 64; Hospes guests need a handful of references each.
pub const MAX_GRANT_FRAMES: u32 = 4;
/// Mappings one domain may hold at once.
pub const MAX_MAPTRACK_HANDLES: usize = 1024;
/// Pins of one reference at once; the maptrack limit keeps counts far below it.
const MAX_PINS: u32 = 1 << 16;

/// A `GNTST_*` status (negative) reported for one operation.
pub type Status = i16;

/// Reads and writes grant entries in the granter's table frames. The
/// hypervisor goes through its identity map; host tests use a fake.
pub trait EntryMemory {
    /// Copies entry `index` of table frame `frame`.
    fn read_entry(&self, frame: Mfn, index: usize) -> GrantEntryV1;
    /// Writes the `flags` field of entry `index` of table frame `frame`.
    fn write_flags(&mut self, frame: Mfn, index: usize, flags: u16);
}

/// The hypervisor's record of a reference in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    /// The frame validated at the first pin; every later pin uses it.
    frame: Mfn,
    /// The domain the entry was granted to when it was first pinned.
    mapper: DomId,
    /// Mappings of any kind.
    pins: u32,
    /// Writable mappings among `pins`.
    writable_pins: u32,
}

/// One domain's grant table: the frames it shares with the hypervisor, and
/// the references currently mapped.
#[derive(Debug, Default)]
pub struct GrantTable {
    frames: Vec<Mfn>,
    active: BTreeMap<GrantRef, Active>,
}

impl GrantTable {
    /// The table's frames, in reference order.
    pub fn frames(&self) -> &[Mfn] {
        &self.frames
    }

    pub fn nr_frames(&self) -> u32 {
        self.frames.len() as u32
    }

    /// Number of grant references the table has now.
    pub fn nr_entries(&self) -> u32 {
        self.nr_frames() * ENTRIES_PER_FRAME
    }

    /// Lists the references that grant access, as (ref, entry, pins):
    /// what the table offers and how many mappings use each offer now.
    pub fn offers(&self, memory: &dyn EntryMemory) -> Vec<(GrantRef, GrantEntryV1, u32)> {
        let mut offers = Vec::new();
        for gref in 0..self.nr_entries() {
            let Ok((frame, index)) = self.locate(gref) else { break };
            let entry = memory.read_entry(frame, index);
            if entry.flags & GTF_TYPE_MASK == GTF_PERMIT_ACCESS {
                let pins = self.active.get(&gref).map_or(0, |active| active.pins);
                offers.push((gref, entry, pins));
            }
        }
        offers
    }

    /// Number of references mapped by someone.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Whether a reference in use records `frame`: some mapping made
    /// through this table still holds it.
    pub fn is_frame_pinned(&self, frame: Mfn) -> bool {
        self.active.values().any(|active| active.frame == frame)
    }

    /// Grows the table to at least `nr_frames` frames, taking new zeroed
    /// frames from `allocate` (`setup_table`). A table never shrinks.
    ///
    /// Errors: `GNTST_general_error` beyond [`MAX_GRANT_FRAMES`] or when
    /// `allocate` runs out; frames added before that stay in the table.
    pub fn grow(&mut self, nr_frames: u32, mut allocate: impl FnMut() -> Option<Mfn>) -> Result<(), Status> {
        if nr_frames > MAX_GRANT_FRAMES {
            return Err(GNTST_GENERAL_ERROR);
        }
        while self.nr_frames() < nr_frames {
            let frame = allocate().ok_or(GNTST_GENERAL_ERROR)?;
            self.frames.push(frame);
        }
        Ok(())
    }

    /// Returns the frame and index that hold entry `gref`.
    fn locate(&self, gref: GrantRef) -> Result<(Mfn, usize), Status> {
        if gref >= self.nr_entries() {
            return Err(GNTST_BAD_GNTREF);
        }
        let frame = self.frames[(gref / ENTRIES_PER_FRAME) as usize];
        Ok((frame, (gref % ENTRIES_PER_FRAME) as usize))
    }

    /// Copies entry `gref` once and checks that it lets `accessor` use it,
    /// for writing when `write` is set. Returns the copy.
    ///
    /// Errors: `GNTST_bad_gntref` beyond the table; `GNTST_permission_denied`
    /// when the entry is not `GTF_permit_access`, names another domain, or is
    /// `GTF_readonly` and `write` is set.
    pub fn check_access(&self, memory: &dyn EntryMemory, gref: GrantRef, accessor: DomId, write: bool) -> Result<GrantEntryV1, Status> {
        let (frame, index) = self.locate(gref)?;
        let entry = memory.read_entry(frame, index);
        if entry.flags & GTF_TYPE_MASK != GTF_PERMIT_ACCESS || entry.domid != accessor {
            return Err(GNTST_PERMISSION_DENIED);
        }
        if write && entry.flags & GTF_READONLY != 0 {
            return Err(GNTST_PERMISSION_DENIED);
        }
        Ok(entry)
    }

    /// Checks entry `gref` as [`check_access`](Self::check_access) does and
    /// returns the frame a copy by `accessor` uses: the one recorded when
    /// the reference was first mapped, or else the entry's.
    pub fn access_frame(&self, memory: &dyn EntryMemory, gref: GrantRef, accessor: DomId, write: bool) -> Result<Mfn, Status> {
        let entry = self.check_access(memory, gref, accessor, write)?;
        match self.active.get(&gref) {
            Some(active) if active.mapper != accessor => Err(GNTST_GENERAL_ERROR),
            Some(active) => Ok(active.frame),
            None => Ok(entry.frame as Mfn),
        }
    }

    /// Pins `gref` for one mapping by `mapper` and returns the frame to map.
    ///
    /// The entry is checked as in [`check_access`](Self::check_access) on
    /// every pin. The first pin takes the frame from the entry and lets
    /// `claim_frame` check it and take its references; later pins reuse the
    /// recorded frame and call `claim_frame` on it again. Nothing changes when
    /// `claim_frame` fails. On success `GTF_reading` (and for a writable pin
    /// `GTF_writing`) is set in the entry.
    pub fn pin(
        &mut self,
        memory: &mut dyn EntryMemory,
        gref: GrantRef,
        mapper: DomId,
        writable: bool,
        claim_frame: impl FnOnce(Mfn) -> Result<(), Status>,
    ) -> Result<Mfn, Status> {
        let entry = self.check_access(memory, gref, mapper, writable)?;
        let (table_frame, index) = self.locate(gref)?;
        let frame = match self.active.get(&gref) {
            Some(active) if active.mapper != mapper || active.pins >= MAX_PINS => return Err(GNTST_GENERAL_ERROR),
            Some(active) => active.frame,
            None => entry.frame as Mfn,
        };
        claim_frame(frame)?;

        let active = self.active.entry(gref).or_insert(Active { frame, mapper, pins: 0, writable_pins: 0 });
        active.pins += 1;
        if writable {
            active.writable_pins += 1;
        }
        let in_use = GTF_READING | if writable { GTF_WRITING } else { 0 };
        memory.write_flags(table_frame, index, entry.flags | in_use);
        Ok(frame)
    }

    /// Drops one pin taken with [`pin`](Self::pin). The last pin clears
    /// `GTF_reading` and the last writable pin clears `GTF_writing`, in the
    /// entry as it reads now. A reference that is not pinned is ignored.
    pub fn unpin(&mut self, memory: &mut dyn EntryMemory, gref: GrantRef, writable: bool) {
        let Some(active) = self.active.get_mut(&gref) else { return };
        active.pins = active.pins.saturating_sub(1);
        if writable {
            active.writable_pins = active.writable_pins.saturating_sub(1);
        }
        let mut clear = 0;
        if active.writable_pins == 0 {
            clear |= GTF_WRITING;
        }
        if active.pins == 0 {
            clear |= GTF_READING;
            self.active.remove(&gref);
        }
        if let Ok((table_frame, index)) = self.locate(gref) {
            let flags = memory.read_entry(table_frame, index).flags;
            memory.write_flags(table_frame, index, flags & !clear);
        }
    }
}

/// One mapping made by `map_grant_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub granter: DomId,
    pub gref: GrantRef,
    pub frame: Mfn,
    pub writable: bool,
    /// The virtual address the frame is mapped at.
    pub host_addr: u64,
}

/// The mappings one domain holds, by handle.
#[derive(Debug, Default)]
pub struct Maptrack {
    slots: Vec<Option<Mapping>>,
}

impl Maptrack {
    /// Records `mapping` and returns its handle, the lowest one free.
    ///
    /// Errors: `GNTST_no_space` when [`MAX_MAPTRACK_HANDLES`] are in use.
    pub fn insert(&mut self, mapping: Mapping) -> Result<GrantHandle, Status> {
        if let Some(handle) = self.slots.iter().position(Option::is_none) {
            self.slots[handle] = Some(mapping);
            return Ok(handle as GrantHandle);
        }
        if self.slots.len() >= MAX_MAPTRACK_HANDLES {
            return Err(GNTST_NO_SPACE);
        }
        self.slots.push(Some(mapping));
        Ok((self.slots.len() - 1) as GrantHandle)
    }

    /// Returns the mapping of `handle`; `GNTST_bad_handle` when there is none.
    pub fn get(&self, handle: GrantHandle) -> Result<Mapping, Status> {
        self.slots.get(handle as usize).copied().flatten().ok_or(GNTST_BAD_HANDLE)
    }

    /// Forgets `handle`; `GNTST_bad_handle` when it maps nothing.
    pub fn remove(&mut self, handle: GrantHandle) -> Result<Mapping, Status> {
        let mapping = self.slots.get_mut(handle as usize).and_then(Option::take).ok_or(GNTST_BAD_HANDLE)?;
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        Ok(mapping)
    }

    /// Marks every mapping of `granter`'s grants as having no granter, once
    /// `granter` is destroyed: their unmaps then drop only frame references.
    pub fn disown_granter(&mut self, granter: DomId) {
        for mapping in self.slots.iter_mut().flatten() {
            if mapping.granter == granter {
                mapping.granter = hypercalls::DOMID_INVALID;
            }
        }
    }

    /// Removes and returns every mapping (domain destruction).
    pub fn drain(&mut self) -> Vec<Mapping> {
        core::mem::take(&mut self.slots).into_iter().flatten().collect()
    }

    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A domain's grant state: the table it grants from and the mappings it holds.
#[derive(Debug, Default)]
pub struct DomainGrants {
    pub table: GrantTable,
    pub maptrack: Maptrack,
}

/// Checks one side of a `gnttab_copy`: `offset + length` must stay inside
/// one page. Errors: `GNTST_bad_copy_arg`.
pub fn check_copy_range(offset: u16, length: u16) -> Result<(), Status> {
    if offset as usize + length as usize > hypercalls::PAGE_SIZE {
        return Err(hypercalls::grant::GNTST_BAD_COPY_ARG);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypercalls::grant::GNTST_BAD_COPY_ARG;
    use std::collections::HashMap;

    /// Grant entries in a hash map: (table frame, index) -> entry.
    #[derive(Default)]
    struct FakeEntries(HashMap<(Mfn, usize), GrantEntryV1>);

    impl EntryMemory for FakeEntries {
        fn read_entry(&self, frame: Mfn, index: usize) -> GrantEntryV1 {
            self.0.get(&(frame, index)).copied().unwrap_or_default()
        }
        fn write_flags(&mut self, frame: Mfn, index: usize, flags: u16) {
            self.0.entry((frame, index)).or_default().flags = flags;
        }
    }

    /// The table frames the fake allocator hands out start here.
    const FIRST_TABLE_FRAME: Mfn = 100;
    const GRANTER: DomId = 1;
    const MAPPER: DomId = 2;
    const OTHER: DomId = 3;

    fn table_with(frames: u32) -> GrantTable {
        let mut next = FIRST_TABLE_FRAME;
        let mut table = GrantTable::default();
        table
            .grow(frames, || {
                next += 1;
                Some(next - 1)
            })
            .expect("within the limit");
        table
    }

    /// Writes entry `gref` of a table whose frames came from `table_with`.
    fn grant(entries: &mut FakeEntries, gref: GrantRef, domid: DomId, frame: u32, flags: u16) {
        let key = (FIRST_TABLE_FRAME + (gref / ENTRIES_PER_FRAME) as Mfn, (gref % ENTRIES_PER_FRAME) as usize);
        entries.0.insert(key, GrantEntryV1 { flags, domid, frame });
    }

    fn flags_of(entries: &FakeEntries, gref: GrantRef) -> u16 {
        entries.read_entry(FIRST_TABLE_FRAME + (gref / ENTRIES_PER_FRAME) as Mfn, (gref % ENTRIES_PER_FRAME) as usize).flags
    }

    fn accept(_: Mfn) -> Result<(), Status> {
        Ok(())
    }

    #[test]
    fn offers_list_permitted_entries_only() {
        let table = table_with(1);
        let mut entries = FakeEntries(HashMap::new());
        grant(&mut entries, 3, 7, 0x500, GTF_PERMIT_ACCESS | GTF_READONLY);
        grant(&mut entries, 9, 8, 0x501, GTF_PERMIT_ACCESS);
        grant(&mut entries, 11, 8, 0x502, 0);
        let offers = table.offers(&entries);
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].0, 3);
        assert_eq!(offers[0].1.domid, 7);
        assert_eq!(offers[0].2, 0);
        assert_eq!(offers[1].0, 9);
        assert_eq!(offers[1].1.frame, 0x501);
    }

    #[test]
    fn grow_within_and_beyond_limit() {
        let mut table = table_with(1);
        assert_eq!(table.nr_entries(), 512);
        assert_eq!(table.grow(MAX_GRANT_FRAMES + 1, || Some(7)), Err(GNTST_GENERAL_ERROR));
        assert_eq!(table.nr_frames(), 1);
        assert_eq!(table.grow(3, || Some(7)), Ok(()));
        assert_eq!(table.nr_entries(), 1536);
        // Asking for fewer frames keeps the table as it is.
        assert_eq!(table.grow(1, || None), Ok(()));
        assert_eq!(table.nr_frames(), 3);
        assert_eq!(table.grow(4, || None), Err(GNTST_GENERAL_ERROR));
        assert_eq!(table.nr_frames(), 3);
    }

    #[test]
    fn map_sets_and_unmap_clears_in_use_flags() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS);
        assert_eq!(table.pin(&mut entries, 8, MAPPER, false, accept), Ok(42));
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS | GTF_READING);
        assert_eq!(table.pin(&mut entries, 8, MAPPER, true, accept), Ok(42));
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING);
        table.unpin(&mut entries, 8, true);
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS | GTF_READING, "a read-only pin is left");
        table.unpin(&mut entries, 8, false);
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS);
        assert_eq!(table.active_count(), 0);
    }

    #[test]
    fn writable_pins_keep_writing_until_last() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 3, MAPPER, 42, GTF_PERMIT_ACCESS);
        table.pin(&mut entries, 3, MAPPER, true, accept).expect("first");
        table.pin(&mut entries, 3, MAPPER, true, accept).expect("second");
        table.unpin(&mut entries, 3, true);
        assert_eq!(flags_of(&entries, 3), GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING);
        table.unpin(&mut entries, 3, true);
        assert_eq!(flags_of(&entries, 3), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn refusals_of_bad_entries() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 1, OTHER, 42, GTF_PERMIT_ACCESS);
        grant(&mut entries, 2, MAPPER, 42, GTF_PERMIT_ACCESS | GTF_READONLY);
        grant(&mut entries, 3, MAPPER, 42, GTF_INVALID_TYPE);
        grant(&mut entries, 4, MAPPER, 42, hypercalls::grant::GTF_ACCEPT_TRANSFER);
        grant(&mut entries, 5, MAPPER, 42, hypercalls::grant::GTF_TRANSITIVE);
        let cases: &[(GrantRef, bool, Status)] = &[
            (1, false, GNTST_PERMISSION_DENIED),
            (2, true, GNTST_PERMISSION_DENIED),
            (3, false, GNTST_PERMISSION_DENIED),
            (4, false, GNTST_PERMISSION_DENIED),
            (5, false, GNTST_PERMISSION_DENIED),
            (512, false, GNTST_BAD_GNTREF),
            (u32::MAX, false, GNTST_BAD_GNTREF),
        ];
        for &(gref, writable, expected) in cases {
            assert_eq!(table.pin(&mut entries, gref, MAPPER, writable, accept), Err(expected), "ref {gref} writable {writable}");
        }
        assert_eq!(table.active_count(), 0);
        assert_eq!(flags_of(&entries, 2), GTF_PERMIT_ACCESS | GTF_READONLY, "a refused map leaves the flags");
        // The read-only grant maps read-only.
        assert_eq!(table.pin(&mut entries, 2, MAPPER, false, accept), Ok(42));
    }

    const GTF_INVALID_TYPE: u16 = hypercalls::grant::GTF_INVALID;

    #[test]
    fn empty_table_rejects_every_ref() {
        let mut table = GrantTable::default();
        let mut entries = FakeEntries::default();
        assert_eq!(table.pin(&mut entries, 0, MAPPER, false, accept), Err(GNTST_BAD_GNTREF));
        assert_eq!(table.check_access(&entries, 0, MAPPER, false), Err(GNTST_BAD_GNTREF));
    }

    #[test]
    fn failed_claim_changes_nothing() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS);
        assert_eq!(table.pin(&mut entries, 8, MAPPER, true, |_| Err(GNTST_GENERAL_ERROR)), Err(GNTST_GENERAL_ERROR));
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS);
        assert_eq!(table.active_count(), 0);
    }

    #[test]
    fn entry_changed_while_mapped_keeps_frame() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS);
        assert_eq!(table.pin(&mut entries, 8, MAPPER, false, accept), Ok(42));
        // The granter points the entry at another frame while it is mapped.
        grant(&mut entries, 8, MAPPER, 77, GTF_PERMIT_ACCESS | GTF_READING);
        let mut claimed = 0;
        let frame = table.pin(&mut entries, 8, MAPPER, false, |frame| {
            claimed = frame;
            Ok(())
        });
        assert_eq!(frame, Ok(42), "later pins use the frame validated first");
        assert_eq!(claimed, 42);
        // Giving the entry to another domain revokes it for new mappings.
        grant(&mut entries, 8, OTHER, 42, GTF_PERMIT_ACCESS | GTF_READING);
        assert_eq!(table.pin(&mut entries, 8, MAPPER, false, accept), Err(GNTST_PERMISSION_DENIED));
        assert_eq!(table.pin(&mut entries, 8, OTHER, false, accept), Err(GNTST_GENERAL_ERROR), "the active entry belongs to MAPPER");
        table.unpin(&mut entries, 8, false);
        table.unpin(&mut entries, 8, false);
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS);
    }

    #[test]
    fn pinned_frame_until_last_unpin() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS);
        assert!(!table.is_frame_pinned(42));
        table.pin(&mut entries, 8, MAPPER, false, accept).expect("first");
        table.pin(&mut entries, 8, MAPPER, true, accept).expect("second");
        // The entry now names another frame, but the pins still hold 42.
        grant(&mut entries, 8, MAPPER, 77, GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING);
        assert!(table.is_frame_pinned(42));
        assert!(!table.is_frame_pinned(77));
        table.unpin(&mut entries, 8, true);
        assert!(table.is_frame_pinned(42), "one read-only pin is left");
        table.unpin(&mut entries, 8, false);
        assert!(!table.is_frame_pinned(42));
    }

    #[test]
    fn copy_uses_mapped_frame() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS | GTF_READONLY);
        assert_eq!(table.access_frame(&entries, 8, MAPPER, false), Ok(42));
        assert_eq!(table.access_frame(&entries, 8, MAPPER, true), Err(GNTST_PERMISSION_DENIED));
        assert_eq!(table.access_frame(&entries, 8, OTHER, false), Err(GNTST_PERMISSION_DENIED));
        assert_eq!(table.access_frame(&entries, 9, MAPPER, false), Err(GNTST_PERMISSION_DENIED));
        table.pin(&mut entries, 8, MAPPER, false, accept).expect("read-only map");
        grant(&mut entries, 8, MAPPER, 77, GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING);
        assert_eq!(table.access_frame(&entries, 8, MAPPER, false), Ok(42));
    }

    #[test]
    fn unpin_of_unpinned_ref_is_ignored() {
        let mut table = table_with(1);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 8, MAPPER, 42, GTF_PERMIT_ACCESS | GTF_READING);
        table.unpin(&mut entries, 8, false);
        assert_eq!(flags_of(&entries, 8), GTF_PERMIT_ACCESS | GTF_READING, "flags the hypervisor did not set stay");
    }

    #[test]
    fn refs_in_later_frames() {
        let mut table = table_with(2);
        let mut entries = FakeEntries::default();
        grant(&mut entries, 700, MAPPER, 42, GTF_PERMIT_ACCESS);
        assert_eq!(table.pin(&mut entries, 700, MAPPER, false, accept), Ok(42));
        assert_eq!(flags_of(&entries, 700), GTF_PERMIT_ACCESS | GTF_READING);
        assert_eq!(table.pin(&mut entries, 1024, MAPPER, false, accept), Err(GNTST_BAD_GNTREF));
    }

    fn mapping(gref: GrantRef) -> Mapping {
        Mapping { granter: GRANTER, gref, frame: 42, writable: false, host_addr: 0x1000 }
    }

    #[test]
    fn maptrack_handles() {
        let mut maptrack = Maptrack::default();
        assert_eq!(maptrack.insert(mapping(1)), Ok(0));
        assert_eq!(maptrack.insert(mapping(2)), Ok(1));
        assert_eq!(maptrack.get(1), Ok(mapping(2)));
        assert_eq!(maptrack.get(2), Err(GNTST_BAD_HANDLE));
        assert_eq!(maptrack.get(u32::MAX), Err(GNTST_BAD_HANDLE));
        assert_eq!(maptrack.remove(0), Ok(mapping(1)));
        assert_eq!(maptrack.remove(0), Err(GNTST_BAD_HANDLE), "a handle is unmapped once");
        assert_eq!(maptrack.get(0), Err(GNTST_BAD_HANDLE));
        assert_eq!(maptrack.insert(mapping(3)), Ok(0), "a freed handle is reused");
        assert_eq!(maptrack.len(), 2);
        assert_eq!(maptrack.drain().len(), 2);
        assert!(maptrack.is_empty());
    }

    #[test]
    fn maptrack_disown_granter() {
        let mut maptrack = Maptrack::default();
        maptrack.insert(mapping(1)).expect("free");
        maptrack.insert(Mapping { granter: OTHER, ..mapping(2) }).expect("free");
        maptrack.disown_granter(GRANTER);
        assert_eq!(maptrack.get(0).map(|found| found.granter), Ok(hypercalls::DOMID_INVALID));
        assert_eq!(maptrack.get(1).map(|found| found.granter), Ok(OTHER));
    }

    #[test]
    fn maptrack_limit() {
        let mut maptrack = Maptrack::default();
        for _ in 0..MAX_MAPTRACK_HANDLES {
            maptrack.insert(mapping(1)).expect("below the limit");
        }
        assert_eq!(maptrack.insert(mapping(1)), Err(GNTST_NO_SPACE));
        maptrack.remove(5).expect("mapped");
        assert_eq!(maptrack.insert(mapping(1)), Ok(5));
    }

    #[test]
    fn copy_ranges() {
        assert_eq!(check_copy_range(0, 4096), Ok(()));
        assert_eq!(check_copy_range(4095, 1), Ok(()));
        assert_eq!(check_copy_range(0, 0), Ok(()));
        assert_eq!(check_copy_range(1, 4096), Err(GNTST_BAD_COPY_ARG));
        assert_eq!(check_copy_range(4096, 1), Err(GNTST_BAD_COPY_ARG));
        assert_eq!(check_copy_range(u16::MAX, u16::MAX), Err(GNTST_BAD_COPY_ARG));
    }
}
