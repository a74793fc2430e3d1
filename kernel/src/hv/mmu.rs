//! Page-table hypercalls: `mmu_update`, `mmuext_op` and `update_va_mapping`.
//!
//! Guests see their page tables read-only and change them only through
//! these calls, which apply the frame table's rules
//! ([`crate::frametable`]): every new entry is validated and its references
//! taken before the old entry's are dropped. The TLB needs no explicit
//! flush: every return to a guest reloads CR3, which flushes it.
//!
//! A batch that runs past its time budget becomes a continuation
//! ([`crate::batch`]): `*done` carries the records applied so far and the
//! count argument gets the `PREEMPTED` flag, as on Xen.

use super::Hypervisor;
use super::domain::Domain;
use super::guestmem::GuestMemory;
use super::hypercall::{self, Completion};
use crate::batch::{self, Step};
use crate::arch::layout;
use crate::arch::memory;
use crate::arch::paging::{self, ADDRESS_MASK, PRESENT};
use crate::frames::Mfn;
use crate::frametable::{FrameError, MmuPointer, PageType, TableMemory};
use hypercalls::{DOMID_SELF, DomId, Errno};

pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
pub const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
pub const MMUEXT_INVLPG_MULTI: u32 = 9;
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
pub const MMUEXT_INVLPG_ALL: u32 = 11;

/// Page tables reached through the hypervisor's identity map.
pub struct IdentityTables;

impl TableMemory for IdentityTables {
    fn read_entry(&self, table: Mfn, index: usize) -> u64 {
        paging::read_entry(table, index)
    }

    fn write_entry(&mut self, table: Mfn, index: usize, value: u64) {
        paging::write_entry(table, index, value)
    }
}

/// Maps every frame-table refusal to `-EINVAL`, as Xen reports them.
fn to_errno(_error: FrameError) -> Errno {
    Errno::EINVAL
}

/// Resolves `foreigndom`: the caller itself, or, for a privileged caller,
/// another existing domain whose frames it may name.
fn foreign_domain(hypervisor: &mut Hypervisor, caller: DomId, foreigndom: u64) -> Result<Option<DomId>, Errno> {
    let requested = u16::try_from(foreigndom).map_err(|_| Errno::EINVAL)?;
    if requested == DOMID_SELF || requested == caller {
        return Ok(None);
    }
    let privileged = hypervisor.domain(caller).is_some_and(|domain| domain.privileged);
    if !privileged {
        return Err(Errno::EPERM);
    }
    if hypervisor.domain(requested).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(Some(requested))
}

/// `mmu_update(reqs, count, done, foreigndom)`: each request is `{ptr, val}`,
/// `ptr` being the machine address of the entry with the command in bits
/// 0-2 ([`MmuPointer`]). Commands 3-7 are rejected with `EINVAL`.
/// Stops at the first failure; `*done` (when not NULL) gets the number applied.
pub fn mmu_update(
    hypervisor: &mut Hypervisor,
    caller: DomId,
    memory_view: GuestMemory,
    requests: u64,
    count: u64,
    done: u64,
    foreigndom: u64,
) -> Result<Completion, Errno> {
    let foreign = foreign_domain(hypervisor, caller, foreigndom)?;
    let arguments = BatchArguments { records: requests, count, done, foreigndom };
    run_batch(memory_view, arguments, |[pointer, value]: [u64; 2]| match MmuPointer::decode(pointer) {
        MmuPointer::TableEntry { table, index } => {
            memory::with(|memory| memory.table.update_entry(&mut IdentityTables, table, index, value, caller, foreign))
                .map_err(to_errno)
        }
        MmuPointer::MachPhysUpdate { frame } => machphys_update(caller, foreign, frame, value),
        MmuPointer::Unknown(_) => Err(Errno::EINVAL),
    })
}

/// `MMU_MACHPHYS_UPDATE`: records that `frame` backs guest frame `pfn` in
/// the M2P. The frame must be the caller's own, or the foreign domain's for
/// a privileged caller. Any `pfn` is accepted, as Xen accepts any for a PV
/// guest. Errors: `EINVAL` for a frame of anyone else or beyond RAM.
fn machphys_update(caller: DomId, foreign: Option<DomId>, frame: Mfn, pfn: u64) -> Result<(), Errno> {
    let owner = foreign.unwrap_or(caller);
    memory::with(|memory| {
        let info = memory.table.get(frame).ok_or(Errno::EINVAL)?;
        if info.owner != owner {
            return Err(Errno::EINVAL);
        }
        memory.m2p.set(frame, pfn);
        Ok(())
    })
}

/// The arguments `mmu_update` and `mmuext_op` share, as the guest passed them.
struct BatchArguments {
    records: u64,
    count: u64,
    done: u64,
    foreigndom: u64,
}

/// Applies `apply` to each of `count` records of type `T` read from guest
/// address `records`, stopping at the first failure. Writes the number
/// applied to `*done` when `done` is not NULL, as Xen does, counting the
/// records earlier parts of a preempted batch applied. Returns a
/// continuation when the time budget runs out first.
fn run_batch<T: super::guestmem::GuestPod>(
    memory_view: GuestMemory,
    arguments: BatchArguments,
    mut apply: impl FnMut(T) -> Result<(), Errno>,
) -> Result<Completion, Errno> {
    let BatchArguments { records, count, done, foreigndom } = arguments;
    let (count, resumed) = batch::decode_count(count).ok_or(Errno::EINVAL)?;
    let earlier = if resumed && done != 0 { memory_view.read::<u32>(done)? } else { 0 };
    let record_size = size_of::<T>() as u64;
    let deadline = hypercall::batch_deadline();
    let step = batch::run(
        count,
        |index| {
            let address = records.checked_add(index as u64 * record_size).ok_or(Errno::EFAULT)?;
            memory_view.read(address).and_then(&mut apply)
        },
        || hypercall::past(deadline),
    );
    let (applied, completion) = match step {
        Step::Finished { applied, result } => (applied, result.map(|()| Completion::Value(0))),
        Step::Preempted { applied } => match records.checked_add(applied as u64 * record_size) {
            Some(next_records) => {
                let next = [next_records, batch::continuation_count(count, applied), done, foreigndom, 0];
                (applied, Ok(Completion::Continue(next)))
            }
            // The records applied end at the top of the address space, so
            // the next one cannot exist.
            None => (applied, Err(Errno::EFAULT)),
        },
    };
    if done != 0 {
        memory_view.write(done, &earlier.wrapping_add(applied))?;
    }
    completion
}

/// `mmuext_op(ops, count, done, foreigndom)`: each op is 24 bytes:
/// `{u32 cmd; u32 pad; u64 arg1; u64 arg2}`.
pub fn mmuext_op(
    hypervisor: &mut Hypervisor,
    caller: DomId,
    memory_view: GuestMemory,
    operations: u64,
    count: u64,
    done: u64,
    foreigndom: u64,
) -> Result<Completion, Errno> {
    let foreign = foreign_domain(hypervisor, caller, foreigndom)?;
    let owner = foreign.unwrap_or(caller);
    let arguments = BatchArguments { records: operations, count, done, foreigndom };
    run_batch(memory_view, arguments, |[command, first, _second]: [u64; 3]| {
        extended_operation(hypervisor, caller, owner, command as u32, first)
    })
}

// NOTE: a pin or unpin validates or releases a whole tree in one record,
// and only batches are preempted, between records. Pinning an L3 over 2048
// L1s kept the CPU for 38 ms under TCG (unpinning it, 64 ms); Xen makes the
// validation itself preemptible.
fn extended_operation(hypervisor: &mut Hypervisor, caller: DomId, owner: DomId, command: u32, argument: u64) -> Result<(), Errno> {
    match command {
        MMUEXT_PIN_L1_TABLE..=MMUEXT_PIN_L4_TABLE => {
            let level = (command - MMUEXT_PIN_L1_TABLE + 1) as u8;
            memory::with(|memory| memory.table.pin(&mut IdentityTables, argument, level, owner)).map_err(to_errno)
        }
        MMUEXT_UNPIN_TABLE => memory::with(|memory| memory.table.unpin(&mut IdentityTables, argument, owner)).map_err(to_errno),
        MMUEXT_NEW_BASEPTR => {
            if owner != caller {
                return Err(Errno::EINVAL);
            }
            let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
            new_baseptr(domain, argument)
        }
        MMUEXT_TLB_FLUSH_LOCAL | MMUEXT_TLB_FLUSH_MULTI | MMUEXT_TLB_FLUSH_ALL => Ok(()),
        MMUEXT_INVLPG_LOCAL | MMUEXT_INVLPG_MULTI | MMUEXT_INVLPG_ALL => {
            if layout::is_canonical(argument) { Ok(()) } else { Err(Errno::EINVAL) }
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Switches the vCPU to the L4 in frame `mfn`, which must validate as an L4
/// of the domain; the old L4 loses the reference the vCPU held.
fn new_baseptr(domain: &mut Domain, mfn: Mfn) -> Result<(), Errno> {
    let info = memory::with(|memory| memory.table.get(mfn)).ok_or(Errno::EINVAL)?;
    if info.owner != domain.id {
        return Err(Errno::EINVAL);
    }
    memory::with(|memory| memory.table.get_type(&mut IdentityTables, mfn, PageType::Table(4))).map_err(to_errno)?;
    let old = (domain.vcpu.cr3 & ADDRESS_MASK) >> 12;
    memory::with(|memory| memory.table.put_type(&mut IdentityTables, old));
    domain.vcpu.cr3 = mfn << 12;
    Ok(())
}

/// `update_va_mapping(va, pte, flags)`: replaces the L1 entry that maps `va`
/// in the caller's current page tables, with the same checks as `mmu_update`.
///
/// Errors: `EINVAL` for a non-canonical or reserved `va`, a missing or large
/// intermediate entry, or a PTE the frame table rejects.
pub fn update_va_mapping(domain: &mut Domain, address: u64, pte: u64) -> Result<i64, Errno> {
    if !layout::is_canonical(address) || layout::is_reserved(address) {
        return Err(Errno::EINVAL);
    }
    let mut table = (domain.vcpu.cr3 & ADDRESS_MASK) >> 12;
    for level in (2..=4).rev() {
        let index = ((address >> (12 + 9 * (level - 1))) & 0x1FF) as usize;
        let entry = paging::read_entry(table, index);
        if entry & PRESENT == 0 || entry & paging::HUGE != 0 {
            return Err(Errno::EINVAL);
        }
        table = (entry & ADDRESS_MASK) >> 12;
    }
    let index = ((address >> 12) & 0x1FF) as usize;
    memory::with(|memory| memory.table.update_entry(&mut IdentityTables, table, index, pte, domain.id, None))
        .map_err(to_errno)?;
    Ok(0)
}
