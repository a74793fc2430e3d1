//! `grant_table_op(cmd, ops, count)`: grant table v1 for PV guests.
//!
//! The bookkeeping lives in [`crate::granttab`]; this module reads the op
//! array, resolves domains, walks page tables and moves data. Each op gets
//! its own `GNTST_*` status. The hypercall itself returns 0, `-EFAULT` when
//! an op cannot be read or written back (ops before it are done), `-EINVAL`
//! for a count that is negative as a C int, and `-ENOSYS` for a command
//! Hospes does not implement.
//!
//! Supported: `map_grant_ref` and `unmap_grant_ref` with `GNTMAP_host_map`
//! (optionally `readonly` and `application_map`), `setup_table`,
//! `query_size` and `copy`. Device mappings and `GNTMAP_contains_pte` fail
//! with `GNTST_general_error`, since Hospes gives guests no DMA devices.
//!
//! An op array that runs past its time budget becomes a continuation
//! ([`crate::batch`]) that resumes at the first op not yet done, as on Xen.

use super::Hypervisor;
use super::domain::Domain;
use super::guestmem::{GuestMemory, GuestPod};
use super::hypercall::Completion;
use crate::batch::{self, Step};
use super::mmu::IdentityTables;
use crate::arch::layout;
use crate::arch::memory::{self, frame_pointer, zero_frame};
use crate::arch::paging::{self, ACCESSED, ADDRESS_MASK, DIRTY, HUGE, PRESENT, USER, WRITABLE};
use crate::frames::{FRAME_SIZE, Mfn};
use crate::frametable::FrameType;
use crate::granttab::{self, EntryMemory, MAX_GRANT_FRAMES, MAX_MAPTRACK_HANDLES, Mapping, Status};
use hypercalls::grant::{
    GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_APPLICATION_MAP, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP,
    GNTMAP_READONLY, GNTST_BAD_DEV_ADDR, GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_BAD_PAGE, GNTST_BAD_VIRT_ADDR,
    GNTST_GENERAL_ERROR, GNTST_NO_SPACE, GNTST_OKAY, GNTST_PERMISSION_DENIED, GNTTABOP_COPY, GNTTABOP_MAP_GRANT_REF,
    GNTTABOP_QUERY_SIZE, GNTTABOP_SETUP_TABLE, GNTTABOP_UNMAP_AND_REPLACE, GNTTABOP_UNMAP_GRANT_REF, CopyPointer, GrantCopy, GrantEntryV1, MapGrantRef,
    QuerySize, SetupTable, UnmapAndReplace, UnmapGrantRef,
};
use hypercalls::{DOMID_FIRST_RESERVED, DOMID_INVALID, DOMID_SELF, DomId, Errno};
use log::{debug, info};

/// Grant entries reached through the hypervisor's identity map.
pub struct IdentityEntries;

impl EntryMemory for IdentityEntries {
    fn read_entry(&self, frame: Mfn, index: usize) -> GrantEntryV1 {
        // SAFETY: `frame` is a grant-table frame the hypervisor allocated, it
        // is identity-mapped, and `index` is below 512, so the entry lies
        // inside it. Any bytes are a valid entry.
        unsafe { frame_pointer(frame).cast::<GrantEntryV1>().add(index).read_volatile() }
    }

    fn write_flags(&mut self, frame: Mfn, index: usize, flags: u16) {
        // SAFETY: as in `read_entry`; `flags` is the first u16 of the entry.
        unsafe { frame_pointer(frame).cast::<GrantEntryV1>().add(index).cast::<u16>().write_volatile(flags) }
    }
}

/// `grant_table_op(cmd, ops, count)`.
pub fn grant_table_op(hypervisor: &mut Hypervisor, caller: DomId, memory_view: GuestMemory, command: u64, operations: u64, count: u64) -> Result<Completion, Errno> {
    // `count` is a C unsigned int, and Xen rejects values that are negative as an int.
    let count = u32::try_from(count).ok().filter(|&count| count <= i32::MAX as u32).ok_or(Errno::EINVAL)?;
    let ops = OpArray { command, operations, count };
    match command {
        GNTTABOP_MAP_GRANT_REF => for_each_op(memory_view, &ops, |op: &mut MapGrantRef| {
            op.dev_bus_addr = 0;
            match map_grant_ref(hypervisor, caller, op) {
                Ok(handle) => {
                    op.handle = handle;
                    op.status = GNTST_OKAY;
                }
                Err(status) => op.status = status,
            }
        }),
        GNTTABOP_UNMAP_GRANT_REF => for_each_op(memory_view, &ops, |op: &mut UnmapGrantRef| {
            op.status = status_of(unmap_grant_ref(hypervisor, caller, op));
        }),
        GNTTABOP_UNMAP_AND_REPLACE => for_each_op(memory_view, &ops, |op: &mut UnmapAndReplace| {
            op.status = status_of(unmap_and_replace(hypervisor, caller, op));
        }),
        GNTTABOP_SETUP_TABLE => for_each_op(memory_view, &ops, |op: &mut SetupTable| {
            op.status = status_of(setup_table(hypervisor, caller, memory_view, op));
        }),
        GNTTABOP_QUERY_SIZE => for_each_op(memory_view, &ops, |op: &mut QuerySize| {
            op.status = status_of(query_size(hypervisor, caller, op));
        }),
        GNTTABOP_COPY => for_each_op(memory_view, &ops, |op: &mut GrantCopy| {
            op.status = status_of(copy(hypervisor, caller, op));
        }),
        _ => {
            debug!("d{caller}: grant_table_op command {command} is not implemented: ENOSYS");
            Err(Errno::ENOSYS)
        }
    }
}

fn status_of(result: Result<(), Status>) -> i16 {
    result.err().unwrap_or(GNTST_OKAY)
}

/// The op array of one `grant_table_op` call.
struct OpArray {
    command: u64,
    operations: u64,
    count: u32,
}

/// Runs `apply` on each op of type `T` in `ops`, writing each op back. The
/// op's slot is checked writable before `apply` runs, so an op whose status
/// cannot be written is never carried out. Returns a continuation for the
/// ops left when the time budget runs out first.
fn for_each_op<T: GuestPod>(memory_view: GuestMemory, ops: &OpArray, mut apply: impl FnMut(&mut T)) -> Result<Completion, Errno> {
    let op_size = size_of::<T>() as u64;
    let deadline = super::hypercall::batch_deadline();
    let step = batch::run(
        ops.count,
        |index| {
            let address = ops.operations.checked_add(index as u64 * op_size).ok_or(Errno::EFAULT)?;
            let mut op: T = memory_view.read(address)?;
            memory_view.write(address, &op)?;
            apply(&mut op);
            memory_view.write(address, &op)
        },
        || super::hypercall::past(deadline),
    );
    match step {
        Step::Finished { result, .. } => result.map(|()| Completion::Value(0)),
        Step::Preempted { applied } => {
            // The ops applied cannot end past the top of the address space
            // and still leave one to read, so an overflow is a bad array.
            let next_operations = ops.operations.checked_add(applied as u64 * op_size).ok_or(Errno::EFAULT)?;
            Ok(Completion::Continue([ops.command, next_operations, (ops.count - applied) as u64, 0, 0]))
        }
    }
}

/// Resolves the `dom` of `setup_table` or `query_size`: the caller itself,
/// or any existing domain for a privileged caller.
fn table_owner(hypervisor: &mut Hypervisor, caller: DomId, requested: DomId) -> Result<DomId, Status> {
    if requested == DOMID_SELF || requested == caller {
        return Ok(caller);
    }
    if !hypervisor.domain(caller).is_some_and(|domain| domain.privileged) {
        return Err(GNTST_PERMISSION_DENIED);
    }
    if hypervisor.domain(requested).is_none() {
        return Err(GNTST_BAD_DOMAIN);
    }
    Ok(requested)
}

/// `GNTTABOP_setup_table`: grows the table to `nr_frames` and writes its
/// frame numbers to `frame_list`, which the guest then maps writable.
fn setup_table(hypervisor: &mut Hypervisor, caller: DomId, memory_view: GuestMemory, op: &SetupTable) -> Result<(), Status> {
    let owner = table_owner(hypervisor, caller, op.dom)?;
    let domain = hypervisor.domain(owner).ok_or(GNTST_BAD_DOMAIN)?;
    if let Err(status) = domain.grants.table.grow(op.nr_frames, || allocate_table_frame(owner)) {
        domain.record_failure("grant setup_table", op.nr_frames as u64, alloc::format!("at most {MAX_GRANT_FRAMES} grant frames, or out of memory"));
        return Err(status);
    }
    for (index, &frame) in domain.grants.table.frames().iter().take(op.nr_frames as usize).enumerate() {
        let slot = op.frame_list.checked_add(index as u64 * 8).ok_or(GNTST_BAD_VIRT_ADDR)?;
        memory_view.write(slot, &frame).map_err(|_| GNTST_BAD_VIRT_ADDR)?;
    }
    Ok(())
}

/// Takes a zeroed frame for `owner`'s grant table.
fn allocate_table_frame(owner: DomId) -> Option<Mfn> {
    let frame = memory::with(|memory| memory.frames.allocate())?;
    zero_frame(frame);
    memory::with(|memory| memory.table.assign(frame, owner, FrameType::GrantTable));
    Some(frame)
}

/// `GNTTABOP_query_size`.
fn query_size(hypervisor: &mut Hypervisor, caller: DomId, op: &mut QuerySize) -> Result<(), Status> {
    let owner = table_owner(hypervisor, caller, op.dom)?;
    let domain = hypervisor.domain(owner).ok_or(GNTST_BAD_DOMAIN)?;
    op.nr_frames = domain.grants.table.nr_frames();
    op.max_nr_frames = MAX_GRANT_FRAMES;
    Ok(())
}

/// Returns the granting domain an op names. `DOMID_SELF` is not accepted,
/// as on Xen: a self-grant names the domain's own id.
fn granter(hypervisor: &mut Hypervisor, requested: DomId) -> Result<&mut Domain, Status> {
    if requested >= DOMID_FIRST_RESERVED {
        return Err(GNTST_BAD_DOMAIN);
    }
    hypervisor.domain(requested).ok_or(GNTST_BAD_DOMAIN)
}

/// Finds the L1 table and index that map `address` in the page tables of
/// `cr3`. Errors: `GNTST_bad_virt_addr` for an address a guest cannot map
/// at, `GNTST_general_error` when no L1 table covers it.
fn find_l1(cr3: u64, address: u64) -> Result<(Mfn, usize), Status> {
    if address % FRAME_SIZE != 0 || !layout::is_canonical(address) || layout::is_reserved(address) {
        return Err(GNTST_BAD_VIRT_ADDR);
    }
    let mut table = (cr3 & ADDRESS_MASK) >> 12;
    for level in (2..=4).rev() {
        let index = ((address >> (12 + 9 * (level - 1))) & 0x1FF) as usize;
        let entry = paging::read_entry(table, index);
        if entry & PRESENT == 0 || entry & HUGE != 0 {
            return Err(GNTST_GENERAL_ERROR);
        }
        table = (entry & ADDRESS_MASK) >> 12;
    }
    Ok((table, ((address >> 12) & 0x1FF) as usize))
}

/// `GNTTABOP_map_grant_ref`: maps the granted frame at `host_addr` and
/// returns the new handle.
fn map_grant_ref(hypervisor: &mut Hypervisor, caller: DomId, op: &MapGrantRef) -> Result<u32, Status> {
    if op.flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0 {
        // Xen reports a map request that is neither host nor device this way.
        return Err(GNTST_BAD_GNTREF);
    }
    if op.flags & (GNTMAP_DEVICE_MAP | GNTMAP_CONTAINS_PTE) != 0 {
        return Err(GNTST_GENERAL_ERROR);
    }
    let writable = op.flags & GNTMAP_READONLY == 0;
    let mapper = hypervisor.domain(caller).ok_or(GNTST_GENERAL_ERROR)?;
    let (l1, index) = find_l1(mapper.vcpu.cr3, op.host_addr)?;
    if mapper.grants.maptrack.len() >= MAX_MAPTRACK_HANDLES {
        return Err(GNTST_NO_SPACE);
    }
    let granter_id = op.dom;
    granter(hypervisor, granter_id)?;

    // The maptrack leaves the mapper while the granter's table is in use,
    // so that a self-grant (mapper == granter) needs no second borrow.
    let mut maptrack = core::mem::take(&mut hypervisor.domain(caller).ok_or(GNTST_GENERAL_ERROR)?.grants.maptrack);
    let granter = hypervisor.domain(granter_id).ok_or(GNTST_BAD_DOMAIN)?;
    let mut entry = PRESENT | ACCESSED;
    if writable {
        entry |= WRITABLE | DIRTY;
    }
    if op.flags & GNTMAP_APPLICATION_MAP != 0 {
        entry |= USER;
    }
    let pinned = granter.grants.table.pin(&mut IdentityEntries, op.gref, caller, writable, |frame| {
        memory::with(|memory| {
            // The mapping's own reference keeps the frame even if the guest
            // later overwrites the PTE itself.
            memory.table.get_granted(frame, granter_id, writable).map_err(|_| GNTST_GENERAL_ERROR)?;
            let installed = memory.table.map_granted(&mut IdentityTables, l1, index, entry | frame << 12, caller, granter_id);
            if installed.is_err() {
                memory.table.put_granted(frame);
                return Err(GNTST_GENERAL_ERROR);
            }
            Ok(())
        })
    });
    let result = pinned.and_then(|frame| {
        let mapping = Mapping { granter: granter_id, gref: op.gref, frame, writable, host_addr: op.host_addr };
        maptrack.insert(mapping)
    });
    if let Some(mapper) = hypervisor.domain(caller) {
        mapper.grants.maptrack = maptrack;
    }
    result
}

/// `GNTTABOP_unmap_grant_ref`: removes the host mapping of a handle and
/// drops its references. A zero `host_addr` leaves the mapping in place
/// and succeeds, as Xen ignores zero address fields.
fn unmap_grant_ref(hypervisor: &mut Hypervisor, caller: DomId, op: &UnmapGrantRef) -> Result<(), Status> {
    let domain = hypervisor.domain(caller).ok_or(GNTST_GENERAL_ERROR)?;
    let mapping = domain.grants.maptrack.get(op.handle)?;
    if op.dev_bus_addr != 0 {
        // No mapping has a device part.
        return Err(GNTST_BAD_DEV_ADDR);
    }
    if op.host_addr == 0 {
        return Ok(());
    }
    if op.host_addr != mapping.host_addr {
        return Err(GNTST_GENERAL_ERROR);
    }
    let slot = mapped_slot(domain.vcpu.cr3, &mapping)?;
    memory::with(|memory| memory.table.update_entry(&mut IdentityTables, slot.0, slot.1, 0, caller, None)).map_err(|_| GNTST_GENERAL_ERROR)?;
    domain.grants.maptrack.remove(op.handle)?;
    release_mapping(hypervisor, mapping);
    Ok(())
}

/// Returns the L1 table and index of `mapping`'s PTE, which must still be
/// the grant mapping: present, the same frame and the same writability. A
/// guest that replaced the PTE keeps the handle but cannot unmap it.
fn mapped_slot(cr3: u64, mapping: &Mapping) -> Result<(Mfn, usize), Status> {
    let (l1, index) = find_l1(cr3, mapping.host_addr)?;
    let current = paging::read_entry(l1, index);
    let same_frame = current & PRESENT != 0 && (current & ADDRESS_MASK) >> 12 == mapping.frame;
    if !same_frame || (current & WRITABLE != 0) != mapping.writable {
        return Err(GNTST_GENERAL_ERROR);
    }
    Ok((l1, index))
}

/// `GNTTABOP_unmap_and_replace`: removes the grant mapping of a handle at
/// `host_addr` by moving the entry that maps `new_addr` over it, so
/// `new_addr` ends up unmapped, then drops the grant's references. Both
/// addresses must be in the caller's own L1 tables. A zero `new_addr` is a
/// plain unmap, as on Xen.
fn unmap_and_replace(hypervisor: &mut Hypervisor, caller: DomId, op: &UnmapAndReplace) -> Result<(), Status> {
    if op.new_addr == 0 {
        let plain = UnmapGrantRef { host_addr: op.host_addr, handle: op.handle, ..Default::default() };
        return unmap_grant_ref(hypervisor, caller, &plain);
    }
    let domain = hypervisor.domain(caller).ok_or(GNTST_GENERAL_ERROR)?;
    let mapping = domain.grants.maptrack.get(op.handle)?;
    if op.host_addr != mapping.host_addr || op.new_addr == op.host_addr {
        return Err(GNTST_GENERAL_ERROR);
    }
    let target = mapped_slot(domain.vcpu.cr3, &mapping)?;
    let source = find_l1(domain.vcpu.cr3, op.new_addr)?;
    memory::with(|memory| memory.table.move_l1_entry(&mut IdentityTables, source, target, caller)).map_err(|_| GNTST_GENERAL_ERROR)?;
    domain.grants.maptrack.remove(op.handle)?;
    release_mapping(hypervisor, mapping);
    Ok(())
}

/// Drops a mapping's pin in the granter's table and the mapping's frame
/// reference, returning the frame to the allocator when it belonged to a
/// destroyed domain and this was its last reference.
fn release_mapping(hypervisor: &mut Hypervisor, mapping: Mapping) {
    if mapping.granter != DOMID_INVALID
        && let Some(granter) = hypervisor.domain(mapping.granter)
    {
        granter.grants.table.unpin(&mut IdentityEntries, mapping.gref, mapping.writable);
    }
    let freed = memory::with(|memory| {
        if !memory.table.put_granted(mapping.frame) {
            return false;
        }
        memory.free_frame(mapping.frame);
        true
    });
    if freed {
        info!("grant: frame {:#x} of a destroyed domain returned after its last mapping", mapping.frame);
    }
}

/// Releases the grant state of `domain`, which is being destroyed and whose
/// page tables no longer hold references: unmaps every grant it mapped and
/// marks the mappings other domains hold of its grants as orphaned, so that
/// their unmaps never touch a later domain with the same id.
pub fn release_domain_grants(hypervisor: &mut Hypervisor, domain: &mut Domain) {
    for mapping in domain.grants.maptrack.drain() {
        if mapping.granter == domain.id {
            // A self-grant: the table goes away with the domain.
            let orphan = Mapping { granter: DOMID_INVALID, ..mapping };
            release_mapping(hypervisor, orphan);
        } else {
            release_mapping(hypervisor, mapping);
        }
    }
    for other in hypervisor.domains.values_mut() {
        other.grants.maptrack.disown_granter(domain.id);
    }
}

/// Resolves one side of a copy to a frame the caller may read (or, for the
/// destination, write).
fn copy_frame(hypervisor: &mut Hypervisor, caller: DomId, side: &CopyPointer, is_gref: bool, write: bool) -> Result<Mfn, Status> {
    let owner = if side.domid == DOMID_SELF { caller } else { side.domid };
    let frame = if is_gref {
        let granter = granter(hypervisor, owner)?;
        granter.grants.table.access_frame(&IdentityEntries, side.reference_or_frame as u32, caller, write)?
    } else {
        // A local frame must be the caller's own.
        if owner != caller {
            return Err(GNTST_PERMISSION_DENIED);
        }
        side.reference_or_frame
    };
    let info = memory::with(|memory| memory.table.get(frame)).ok_or(GNTST_BAD_PAGE)?;
    let usable = match info.kind {
        FrameType::Plain | FrameType::Writable => true,
        FrameType::PageTable(_) => !write,
        FrameType::SharedInfo | FrameType::GrantTable => false,
    };
    if info.owner != owner || !usable {
        return Err(GNTST_BAD_PAGE);
    }
    Ok(frame)
}

/// `GNTTABOP_copy`: copies `len` bytes between two frames, each named by a
/// grant reference or, on the caller's side, by frame number.
fn copy(hypervisor: &mut Hypervisor, caller: DomId, op: &GrantCopy) -> Result<(), Status> {
    granttab::check_copy_range(op.source.offset, op.len)?;
    granttab::check_copy_range(op.dest.offset, op.len)?;
    let source = copy_frame(hypervisor, caller, &op.source, op.flags & GNTCOPY_SOURCE_GREF != 0, false)?;
    let dest = copy_frame(hypervisor, caller, &op.dest, op.flags & GNTCOPY_DEST_GREF != 0, true)?;
    // SAFETY: both frames were checked above to be data frames of the named
    // owners, they are identity-mapped, and offset + len stays inside each
    // page. `copy` allows the ranges to overlap (a frame copied to itself).
    unsafe {
        core::ptr::copy(
            frame_pointer(source).add(op.source.offset as usize),
            frame_pointer(dest).add(op.dest.offset as usize),
            op.len as usize,
        );
    }
    Ok(())
}
