//! Domain lifecycle for the toolstack: `domctl` and `memory_op`.
//!
//! Xen's split applies: the hypervisor creates an empty, paused domain,
//! gives it frames on request, and runs it once the toolstack in Dom0 has
//! loaded its kernel, built and pinned its page tables through checked
//! foreign `mmu_update`/`mmuext_op` calls, and set its vCPU context. Only
//! the control domain may call `domctl` or name another domain in
//! `memory_op`; everyone else gets `-EPERM`.
//!
//! Destroying a domain drops the references its pinned tables and its vCPU
//! hold, unmaps the grants it mapped, then returns every frame nobody else
//! references to the allocator. A frame a peer still maps through a grant
//! returns when the peer unmaps it or is destroyed.

use super::Hypervisor;
use super::build::make_shared_info;
use super::domain::{Domain, DomainState};
use super::event;
use super::guestmem::GuestMemory;
use super::hypercall::domain_info;
use super::mmu::IdentityTables;
use crate::arch::{layout, m2p};
use crate::arch::memory::{self, frame_pointer, zero_frame};
use crate::arch::paging::ADDRESS_MASK;
use crate::frames::{FRAME_SIZE, Mfn};
use crate::frametable::{FrameType, PageType};
use alloc::format;
use hypercalls::domctl::{self, CreateDomain, Domctl, GrantList, GrantOffer, HypercallInit, LastFailure, MachphysMapping, MaxMem, MemoryReservation, SchedulerOp, VcpuContext, VcpuContextRequest};
use hypercalls::{DOMID_FIRST_RESERVED, DOMID_SELF, DomId, Errno, selectors};
use log::{info, warn};

/// `domctl(xen_domctl *)`.
pub fn domctl(hypervisor: &mut Hypervisor, caller: DomId, memory_view: GuestMemory, argument: u64) -> Result<i64, Errno> {
    if !hypervisor.domain(caller).is_some_and(|domain| domain.privileged) {
        return Err(Errno::EPERM);
    }
    let mut request: Domctl = memory_view.read(argument)?;
    if request.interface_version != domctl::INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    let target = request.domain;
    match request.cmd {
        domctl::CREATEDOMAIN => {
            let id = create(hypervisor, target, request.payload())?;
            request.domain = id;
        }
        domctl::DESTROYDOMAIN => destroy(hypervisor, target)?,
        domctl::PAUSEDOMAIN => set_paused(hypervisor, target, true)?,
        domctl::UNPAUSEDOMAIN => set_paused(hypervisor, target, false)?,
        domctl::GETDOMAININFO => {
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            let info = domain_info(domain);
            request.set_payload(info);
        }
        domctl::MAX_MEM => {
            let limit: MaxMem = request.payload();
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            domain.max_pages = limit.max_memkb / 4;
        }
        domctl::SETVCPUCONTEXT => {
            let query: VcpuContextRequest = request.payload();
            let context: VcpuContext = memory_view.read(query.context)?;
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            set_vcpu_context(domain, query.vcpu, &context)?;
        }
        domctl::HOSPES_LAST_FAILURE => {
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            let record = domain.last_failure.as_ref().ok_or(Errno::ENOENT)?;
            let mut reply = LastFailure { argument: record.argument, ..Default::default() };
            copy_text(&mut reply.operation, record.operation);
            copy_text(&mut reply.reason, &record.reason);
            request.set_payload(reply);
        }
        domctl::HOSPES_GRANT_LIST => {
            let mut query: GrantList = request.payload();
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            let offers = domain.grants.table.offers(&super::grant::IdentityEntries);
            let mut written = 0u32;
            for (gref, entry, pins) in offers.into_iter().take(query.max as usize) {
                let record = GrantOffer { gref, peer: entry.domid, flags: entry.flags, frame: entry.frame as u64, pins, _pad: 0 };
                let slot = query.buffer.checked_add(written as u64 * size_of::<GrantOffer>() as u64).ok_or(Errno::EFAULT)?;
                memory_view.write(slot, &record)?;
                written += 1;
            }
            query.count = written;
            request.set_payload(query);
        }
        domctl::SCHEDULER_OP => {
            let mut query: SchedulerOp = request.payload();
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            if query.sched_id != domctl::SCHEDULER_CREDIT {
                return Err(Errno::EINVAL);
            }
            match query.cmd {
                domctl::SCHEDOP_PUTINFO => {
                    if query.cap != 0 {
                        domain.record_failure("scheduler_op", query.cap as u64, "caps are not supported; use weights".into());
                        return Err(Errno::EINVAL);
                    }
                    if query.weight != 0 {
                        domain.account.weight = query.weight;
                    }
                }
                domctl::SCHEDOP_GETINFO => {
                    query.weight = domain.account.weight;
                    query.cap = 0;
                    request.set_payload(query);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        domctl::HYPERCALL_INIT => {
            let query: HypercallInit = request.payload();
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            hypercall_init(domain, query.gmfn)?;
        }
        other => {
            log::debug!("d{caller}: domctl command {other} is not implemented: ENOSYS");
            return Err(Errno::ENOSYS);
        }
    }
    memory_view.write(argument, &request)?;
    Ok(0)
}

/// Copies `text` into a NUL-padded field, cut to leave at least one NUL.
fn copy_text(field: &mut [u8], text: &str) {
    let length = text.len().min(field.len() - 1);
    field[..length].copy_from_slice(&text.as_bytes()[..length]);
}

/// Creates an empty paused domain; `requested` 0 or a reserved id picks the lowest free id.
fn create(hypervisor: &mut Hypervisor, requested: DomId, config: CreateDomain) -> Result<DomId, Errno> {
    if config.max_vcpus > 1 || config.flags & 1 != 0 {
        // One vCPU per domain, and PV only (CDF_hvm is bit 0).
        return Err(Errno::EINVAL);
    }
    let id = if requested == 0 || requested >= DOMID_FIRST_RESERVED {
        let start = hypervisor.next_domid.clamp(1, DOMID_FIRST_RESERVED - 1);
        let id = (start..DOMID_FIRST_RESERVED)
            .chain(1..start)
            .find(|id| !hypervisor.domains.contains_key(id))
            .ok_or(Errno::ENOSPC)?;
        hypervisor.next_domid = if id + 1 >= DOMID_FIRST_RESERVED { 1 } else { id + 1 };
        id
    } else if hypervisor.domains.contains_key(&requested) {
        return Err(Errno::EEXIST);
    } else {
        requested
    };
    let shared_info = make_shared_info(id).ok_or(Errno::ENOMEM)?;
    hypervisor.domains.insert(id, Domain::new_paused(id, shared_info));
    info!("d{id}: created");
    Ok(id)
}

fn set_paused(hypervisor: &mut Hypervisor, target: DomId, paused: bool) -> Result<(), Errno> {
    if target == 0 {
        return Err(Errno::EINVAL);
    }
    let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
    if !paused && !domain.vcpu.initialised {
        domain.record_failure("unpause", 0, "the vCPU has no context yet; call setvcpucontext first".into());
        return Err(Errno::EINVAL);
    }
    domain.paused = paused;
    if !paused {
        domain.account.active = true;
    }
    Ok(())
}

/// Destroys a domain and returns its frames; Dom0 hears of it through `VIRQ_DOM_EXC`.
pub fn destroy(hypervisor: &mut Hypervisor, target: DomId) -> Result<(), Errno> {
    if target == 0 {
        return Err(Errno::EINVAL);
    }
    if !hypervisor.domains.contains_key(&target) {
        return Err(Errno::ESRCH);
    }
    event::close_all(hypervisor, target);
    let mut domain = hypervisor.domains.remove(&target).ok_or(Errno::ESRCH)?;
    drop_table_references(&domain);
    super::grant::release_domain_grants(hypervisor, &mut domain);
    let (freed, kept) = release_memory(&domain);
    if kept > 0 {
        // Such frames return to the allocator when the last grant unmap or
        // page-table entry that references them goes (`memory::with`).
        warn!("d{target}: {kept} frames are still mapped by other domains; they stay allocated until unmapped");
    }
    info!("d{target}: destroyed, {freed} frames returned");
    if let Some(dom0) = hypervisor.domain(0) {
        event::send_virq(dom0, event::VIRQ_DOM_EXC);
    }
    Ok(())
}

/// Drops the vCPU's and the pins' type references, which drops the
/// references of every entry in the domain's page tables.
fn drop_table_references(domain: &Domain) {
    memory::with(|memory| {
        let tables = &mut IdentityTables;
        if domain.vcpu.cr3 != 0 {
            memory.table.put_type(tables, (domain.vcpu.cr3 & ADDRESS_MASK) >> 12);
        }
        for &mfn in &domain.memory {
            if memory.table.get(mfn).is_some_and(|info| info.pinned && info.owner == domain.id) {
                let _ = memory.table.unpin(tables, mfn, domain.id);
            }
        }
    })
}

/// Frees every frame of the domain with no reference left and disowns the
/// rest, so the last grant unmap frees them. Returns (frames freed, frames
/// still referenced).
fn release_memory(domain: &Domain) -> (u64, u64) {
    memory::with(|memory| {
        let mut freed = 0;
        let mut kept = 0;
        let grant_frames = domain.grants.table.frames();
        for &mfn in domain.memory.iter().chain(core::iter::once(&domain.shared_info)).chain(grant_frames) {
            let info = memory.table.get(mfn).unwrap_or_default();
            let referenced = info.ref_count > 0 || (info.type_count > 0 && !info.kind.is_hypervisor_shared());
            if referenced {
                memory.table.disown(mfn);
                kept += 1;
                continue;
            }
            memory.free_frame(mfn);
            freed += 1;
        }
        (freed, kept)
    })
}

fn valid_guest_address(address: u64) -> bool {
    layout::is_canonical(address) && !layout::is_reserved(address)
}

/// Gives vCPU 0 its first registers and page tables. The L4 must be one of
/// the domain's frames, validated and pinned by the builder.
fn set_vcpu_context(domain: &mut Domain, vcpu: u32, context: &VcpuContext) -> Result<(), Errno> {
    if vcpu != 0 {
        return Err(Errno::EINVAL);
    }
    for (name, address) in [("rip", context.rip), ("rsp", context.rsp), ("event callback", context.event_callback)] {
        if (address != 0 || name == "rip") && !valid_guest_address(address) {
            domain.record_failure("setvcpucontext", address, format!("{name} is not a usable guest address"));
            return Err(Errno::EINVAL);
        }
    }
    let l4 = context.cr3 >> 12;
    let info = memory::with(|memory| memory.table.get(l4)).ok_or(Errno::EINVAL)?;
    if info.owner != domain.id || info.kind != FrameType::PageTable(4) || !info.pinned {
        domain.record_failure("setvcpucontext", context.cr3, "cr3 is not a pinned L4 of the domain".into());
        return Err(Errno::EINVAL);
    }
    memory::with(|memory| memory.table.get_type(&mut IdentityTables, l4, PageType::Table(4))).map_err(|_| Errno::EINVAL)?;
    if domain.vcpu.cr3 != 0 {
        let old = (domain.vcpu.cr3 & ADDRESS_MASK) >> 12;
        memory::with(|memory| memory.table.put_type(&mut IdentityTables, old));
    }
    let vcpu = &mut domain.vcpu;
    vcpu.frame = Default::default();
    vcpu.frame.rip = context.rip;
    vcpu.frame.rsp = context.rsp;
    vcpu.frame.rsi = context.rsi;
    vcpu.frame.cs = selectors::GUEST_KERNEL_CS as u64;
    vcpu.frame.ss = selectors::GUEST_KERNEL_SS as u64;
    vcpu.frame.rflags = 0x202;
    vcpu.cr3 = l4 * FRAME_SIZE;
    vcpu.event_callback = context.event_callback;
    vcpu.failsafe_callback = context.failsafe_callback;
    vcpu.kernel_sp = context.kernel_sp;
    vcpu.initialised = true;
    Ok(())
}

/// Writes the hypercall stubs into frame `mfn` of the domain.
fn hypercall_init(domain: &mut Domain, mfn: Mfn) -> Result<(), Errno> {
    let allowed = memory::with(|memory| memory.table.check_mappable(domain.id, mfn, true)).is_ok();
    if !allowed {
        domain.record_failure("hypercall_init", mfn, "the frame is not a writable frame of the domain".into());
        return Err(Errno::EINVAL);
    }
    let page = hypercalls::page::build();
    // SAFETY: the frame belongs to the domain and is not a page table, and
    // the identity map covers it; the domain is paused while it is built.
    unsafe { core::ptr::copy_nonoverlapping(page.as_ptr(), frame_pointer(mfn), page.len()) };
    Ok(())
}

/// `memory_op(cmd, arg)`: reservations and memory queries.
pub fn memory_op(hypervisor: &mut Hypervisor, caller: DomId, memory_view: GuestMemory, command: u64, argument: u64) -> Result<i64, Errno> {
    match command {
        domctl::XENMEM_POPULATE_PHYSMAP | domctl::XENMEM_INCREASE_RESERVATION => {
            let request: MemoryReservation = memory_view.read(argument)?;
            let target = resolve_target(hypervisor, caller, request.domid)?;
            let records_gpfns = command == domctl::XENMEM_POPULATE_PHYSMAP;
            populate(hypervisor, target, memory_view, &request, records_gpfns)
        }
        domctl::XENMEM_DECREASE_RESERVATION => {
            let request: MemoryReservation = memory_view.read(argument)?;
            let target = resolve_target(hypervisor, caller, request.domid)?;
            decrease(hypervisor, target, memory_view, &request)
        }
        domctl::XENMEM_MAXIMUM_RAM_PAGE => Ok(memory::with(|memory| memory.table.len()).saturating_sub(1) as i64),
        domctl::XENMEM_MACHPHYS_MAPPING => {
            let entries = memory::with(|memory| memory.m2p.entries());
            let mapping = MachphysMapping {
                v_start: m2p::M2P_BASE,
                v_end: m2p::M2P_BASE + entries * 8,
                max_mfn: entries.saturating_sub(1),
            };
            memory_view.write(argument, &mapping)?;
            Ok(0)
        }
        domctl::XENMEM_CURRENT_RESERVATION | domctl::XENMEM_MAXIMUM_RESERVATION => {
            let requested: u16 = memory_view.read::<[u8; 2]>(argument).map(u16::from_le_bytes)?;
            let target = resolve_target(hypervisor, caller, requested)?;
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            let pages = if command == domctl::XENMEM_CURRENT_RESERVATION { domain.memory.len() as u64 } else { domain.max_pages };
            Ok(pages as i64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

fn resolve_target(hypervisor: &mut Hypervisor, caller: DomId, requested: DomId) -> Result<DomId, Errno> {
    if requested == DOMID_SELF || requested == caller {
        return Ok(caller);
    }
    if !hypervisor.domain(caller).is_some_and(|domain| domain.privileged) {
        return Err(Errno::EPERM);
    }
    if hypervisor.domain(requested).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(requested)
}

/// Allocates up to `nr_extents` single pages for `target`, writing each
/// MFN over the caller's array. Returns how many were done; the first
/// failure (limit, no memory, bad array) stops the batch, as on Xen.
///
/// With `records_gpfns` (`populate_physmap`) the array first names each
/// page's guest frame number, which goes into the M2P. Without it
/// (`increase_reservation`) the array is output only, as on Xen, and the
/// new frames' M2P entries stay invalid.
fn populate(
    hypervisor: &mut Hypervisor,
    target: DomId,
    memory_view: GuestMemory,
    request: &MemoryReservation,
    records_gpfns: bool,
) -> Result<i64, Errno> {
    if request.extent_order != 0 {
        return Err(Errno::EINVAL);
    }
    let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
    let mut done = 0u64;
    while done < request.nr_extents {
        if domain.memory.len() as u64 >= domain.max_pages {
            let reason = format!("the domain already holds its limit of {} pages (max_mem)", domain.max_pages);
            domain.record_failure("populate_physmap", domain.max_pages, reason);
            break;
        }
        let slot = request.extent_start.checked_add(done * 8).ok_or(Errno::EFAULT)?;
        // populate_physmap reads each page's guest frame number from the
        // array. increase_reservation only writes frames back, and not at
        // all when the array is NULL, as on Xen.
        let reports_frames = records_gpfns || request.extent_start != 0;
        let gpfn: u64 = if records_gpfns {
            match memory_view.read(slot) {
                Ok(gpfn) => gpfn,
                Err(errno) if done == 0 => return Err(errno),
                Err(_) => break,
            }
        } else {
            m2p::INVALID_ENTRY
        };
        let Some(mfn) = memory::with(|memory| memory.frames.allocate()) else {
            let free_mib = memory::with(|memory| memory.frames.free_frames()) / 256;
            let wanted_mib = domain.max_pages / 256;
            domain.record_failure("populate_physmap", wanted_mib, format!("ENOMEM, {free_mib} MiB free"));
            break;
        };
        if reports_frames && memory_view.write(slot, &mfn).is_err() {
            memory::with(|memory| memory.frames.free(mfn));
            return if done == 0 { Err(Errno::EFAULT) } else { Ok(done as i64) };
        }
        zero_frame(mfn);
        memory::with(|memory| {
            memory.table.assign(mfn, target, FrameType::Plain);
            memory.m2p.set(mfn, gpfn);
        });
        domain.memory.push(mfn);
        done += 1;
    }
    Ok(done as i64)
}

/// Gives back up to `nr_extents` single pages of `target`, named by MFN in
/// the caller's array (PV guests have no physmap in the hypervisor), and
/// returns how many were released.
///
/// A frame is released only when it is one of the domain's plain data
/// frames with no reference left: no page-table entry, grant mapping
/// (of any domain) or pin of its grant table holds it, and it is not a page
/// table. Otherwise the batch stops there and the shorter count is the
/// rejection, as on Xen: a guest that gets fewer than it requested must treat
/// the rest as busy (`-EBUSY` in other interfaces). Released frames are
/// zeroed before they return to the allocator.
fn decrease(hypervisor: &mut Hypervisor, target: DomId, memory_view: GuestMemory, request: &MemoryReservation) -> Result<i64, Errno> {
    if request.extent_order != 0 {
        return Err(Errno::EINVAL);
    }
    let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
    let mut done = 0u64;
    while done < request.nr_extents {
        let slot = request.extent_start.checked_add(done * 8).ok_or(Errno::EFAULT)?;
        let mfn: Mfn = match memory_view.read(slot) {
            Ok(mfn) => mfn,
            Err(errno) if done == 0 => return Err(errno),
            Err(_) => break,
        };
        let Some(position) = domain.memory.iter().position(|&owned| owned == mfn) else {
            domain.record_failure("decrease_reservation", mfn, "the frame is not one of the domain's pages".into());
            break;
        };
        if let Err(error) = memory::with(|memory| memory.table.check_releasable(mfn, target)) {
            let reason = format!("the frame is mapped, pinned, a page table or shared by the hypervisor ({error:?})");
            domain.record_failure("decrease_reservation", mfn, reason);
            break;
        }
        if domain.grants.table.is_frame_pinned(mfn) {
            domain.record_failure("decrease_reservation", mfn, "a grant mapping of the frame still exists".into());
            break;
        }
        domain.memory.remove(position);
        zero_frame(mfn);
        memory::with(|memory| memory.free_frame(mfn));
        done += 1;
    }
    Ok(done as i64)
}

/// Raises `VIRQ_DOM_EXC` for Dom0 when a domain stopped (shutdown or crash).
pub fn notify_state_change(hypervisor: &mut Hypervisor, id: DomId, before: DomainState) {
    let Some(domain) = hypervisor.domain(id) else { return };
    let after = domain.state;
    notify_if_changed(hypervisor, id, before, after);
}

/// Does what [`notify_state_change`] does for a caller that has read the
/// domain's state `after` itself.
pub fn notify_if_changed(hypervisor: &mut Hypervisor, id: DomId, before: DomainState, after: DomainState) {
    if after == before || id == 0 {
        return;
    }
    if let Some(dom0) = hypervisor.domain(0) {
        event::send_virq(dom0, event::VIRQ_DOM_EXC);
    }
}
