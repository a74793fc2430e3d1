//! The read-only machine-to-physical table (M2P), run in the `mmu` suite.
//!
//! Every guest can read the M2P at `0xffff800000000000`, one u64 per
//! machine frame. The cases check that it maps each of the domain's frames back to
//! its guest frame number, that ring 1 cannot write it, that
//! `MMU_MACHPHYS_UPDATE` changes only the caller's own entries, and that
//! `XENMEM_machphys_mapping` reports where it is.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::domctl::{
    MachphysMapping, MemoryReservation, XENMEM_DECREASE_RESERVATION, XENMEM_INCREASE_RESERVATION, XENMEM_MACHPHYS_MAPPING,
    XENMEM_MAXIMUM_RAM_PAGE, XENMEM_POPULATE_PHYSMAP,
};
use hypercalls::{DOMID_SELF, Errno, Hypercall};

use super::check::{Expected, check_guarded, check_return};
use super::mapping::machine_frame;
use super::memory::{PF_PRESENT, PF_WRITE, guarded_read};
use super::suite::Case;
use crate::hypercall::{MmuUpdate, raw};
use hypercalls::trap::vector::PAGE_FAULT;

/// `machine_to_phys_mapping`: Xen's `HYPERVISOR_VIRT_START`.
const M2P_BASE: u64 = 0xFFFF_8000_0000_0000;
/// `MMU_MACHPHYS_UPDATE`, in bits 0-2 of a request's `ptr`.
const MMU_MACHPHYS_UPDATE: u64 = 1;

/// Reads the M2P entry of `mfn`, or describes the fault.
fn m2p_entry(mfn: u64) -> Result<u64, String> {
    let mut bytes = [0u8; 8];
    guarded_read(M2P_BASE + mfn * 8, &mut bytes).map_err(|fault| {
        format!("reading the M2P entry of frame {mfn:#x} raised {}", super::check::describe_fault(fault.vector, fault.error_code))
    })?;
    Ok(u64::from_le_bytes(bytes))
}

fn machphys_update(mfn: u64, pfn: u64) -> i64 {
    let request = MmuUpdate { pointer: mfn << 12 | MMU_MACHPHYS_UPDATE, value: pfn };
    raw(Hypercall::MmuUpdate, [&raw const request as u64, 1, 0, DOMID_SELF as u64, 0])
}

/// Checks that the M2P entry of every page's frame is the page's number.
fn own_frames_map_back() -> Result<(), String> {
    let pages = crate::start_info().nr_pages;
    let mut wrong = Vec::new();
    for pfn in 0..pages {
        let mfn = machine_frame(pfn);
        let entry = m2p_entry(mfn)?;
        if entry != pfn {
            wrong.push(format!("frame {mfn:#x} reads {entry:#x}, expected {pfn:#x}"));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!("{} of {pages} pages have a wrong M2P entry, first: {}", wrong.len(), wrong[0]))
}

/// Checks that a ring-1 store into the M2P raises `#PF[P|W]` and changes nothing.
fn write_faults() -> Result<(), String> {
    let mfn = machine_frame(1);
    let address = M2P_BASE + mfn * 8;
    // SAFETY: the store targets a read-only mapping, so it faults and the
    // guard resumes after it. Were it writable, it would write 0, which the
    // check below reports.
    let guarded = unsafe { crate::expect_fault!("mov qword ptr [{address}], {value}"; address = in(reg) address, value = in(reg) 0u64) };
    check_guarded(Expected::fault(PAGE_FAULT, &[PF_PRESENT | PF_WRITE]), guarded)?;
    let entry = m2p_entry(mfn)?;
    if entry != 1 {
        return Err(format!("after the refused store frame {mfn:#x} reads {entry:#x}, expected 1"));
    }
    Ok(())
}

fn maximum_ram_page() -> Result<u64, String> {
    crate::hypercall::memory_op(XENMEM_MAXIMUM_RAM_PAGE, core::ptr::null_mut())
        .map(|page| page as u64)
        .map_err(|errno| format!("memory_op(maximum_ram_page) returned {errno}"))
}

/// `MMU_MACHPHYS_UPDATE` of an own frame takes effect; the entry is put back.
fn update_own_entry() -> Result<(), String> {
    let pfn = crate::start_info().nr_pages - 1;
    let mfn = machine_frame(pfn);
    check_return(Expected::Returns(0), machphys_update(mfn, 0x1234_5678))?;
    let changed = m2p_entry(mfn)?;
    check_return(Expected::Returns(0), machphys_update(mfn, pfn))?;
    if changed != 0x1234_5678 {
        return Err(format!("after the update frame {mfn:#x} reads {changed:#x}, expected 0x12345678"));
    }
    let restored = m2p_entry(mfn)?;
    if restored != pfn {
        return Err(format!("restoring frame {mfn:#x} left {restored:#x}, expected {pfn:#x}"));
    }
    Ok(())
}

/// `MMU_MACHPHYS_UPDATE` of a frame that is not the caller's: `EINVAL`,
/// and the entry is unchanged.
fn update_foreign_entry(mfn: u64) -> Result<(), String> {
    let before = m2p_entry(mfn).ok();
    check_return(Expected::errno(Errno::EINVAL), machphys_update(mfn, 7))?;
    let after = m2p_entry(mfn).ok();
    if after != before {
        return Err(format!("frame {mfn:#x}'s entry changed from {before:?} to {after:?}"));
    }
    Ok(())
}

/// `XENMEM_machphys_mapping` names the table's start and size.
fn mapping_reported() -> Result<(), String> {
    let mut mapping = MachphysMapping::default();
    crate::hypercall::memory_op(XENMEM_MACHPHYS_MAPPING, (&raw mut mapping).cast())
        .map_err(|errno| format!("memory_op(machphys_mapping) returned {errno}, expected 0"))?;
    let max_ram_page = maximum_ram_page()?;
    let expected = MachphysMapping { v_start: M2P_BASE, v_end: M2P_BASE + (max_ram_page + 1) * 8, max_mfn: max_ram_page };
    if mapping != expected {
        return Err(format!("machphys_mapping reported {mapping:x?}, expected {expected:x?}"));
    }
    Ok(())
}

/// L4 slot of the M2P (`HYPERVISOR_VIRT_START`).
const M2P_L4_SLOT: u64 = 256;
/// The M2P entry of a frame that backs no guest page (`INVALID_M2P_ENTRY`).
const INVALID_ENTRY: u64 = u64::MAX;
const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const READ_ONLY: u64 = PRESENT | ACCESSED;
const READ_WRITE: u64 = PRESENT | WRITABLE | ACCESSED | DIRTY;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The page whose L1 entry the frame sweep rewrites; its own frame is
/// mapped back afterwards.
static mut PROBE: Page = Page([0; 4096]);
/// The page given back and populated again by the release case. Nothing
/// else uses it, so its address may stay unmapped if the case fails.
static mut RELEASED: Page = Page([0; 4096]);
/// The page the increase_reservation case gives back and takes again, with
/// the same rules as [`RELEASED`].
static mut INCREASED: Page = Page([0; 4096]);

fn update_va_mapping(address: u64, entry: u64) -> i64 {
    raw(Hypercall::UpdateVaMapping, [address, entry, 0, 0, 0])
}

fn machphys_update_from(mfn: u64, pfn: u64, foreign: u64) -> i64 {
    let request = MmuUpdate { pointer: mfn << 12 | MMU_MACHPHYS_UPDATE, value: pfn };
    raw(Hypercall::MmuUpdate, [&raw const request as u64, 1, 0, foreign, 0])
}

/// Returns the M2P's L3 frame, read from slot 256 of the active L4, which
/// the builder maps read-only at `pt_base`.
fn m2p_l3_frame() -> Result<u64, String> {
    let l4 = crate::start_info().pt_base;
    // SAFETY: `pt_base` is this domain's L4, mapped readable, and slot 256
    // lies inside it.
    let entry = unsafe { ((l4 + M2P_L4_SLOT * 8) as *const u64).read_volatile() };
    if entry & PRESENT == 0 {
        return Err(format!("precondition: L4 slot 256 reads {entry:#x}, not present"));
    }
    Ok((entry & ADDRESS_MASK) >> 12)
}

/// Checks that the M2P's L3 frame, which the domain can name from its L4,
/// stays the hypervisor's. Mapping it, linking it, editing it as a table and
/// `MMU_MACHPHYS_UPDATE` of it all give `EINVAL`.
fn m2p_l3_rejected() -> Result<(), String> {
    let l3 = m2p_l3_frame()?;
    let probe = (&raw const PROBE) as u64;
    let (own_entry, _) = super::mapping::l1_entry(probe)?;
    let mapped_read_only = update_va_mapping(probe, l3 << 12 | READ_ONLY);
    let mapped_writable = update_va_mapping(probe, l3 << 12 | READ_WRITE);
    let restored = update_va_mapping(probe, own_entry);
    check_return(Expected::Returns(0), restored).map_err(|problem| format!("restoring the probe page {problem}"))?;
    check_return(Expected::errno(Errno::EINVAL), mapped_read_only).map_err(|problem| format!("read-only mapping of M2P L3 frame {l3:#x}: {problem}"))?;
    check_return(Expected::errno(Errno::EINVAL), mapped_writable).map_err(|problem| format!("writable mapping of M2P L3 frame {l3:#x}: {problem}"))?;
    let edit = MmuUpdate { pointer: l3 << 12, value: l3 << 12 | READ_WRITE };
    let edited = raw(Hypercall::MmuUpdate, [&raw const edit as u64, 1, 0, DOMID_SELF as u64, 0]);
    check_return(Expected::errno(Errno::EINVAL), edited).map_err(|problem| format!("mmu_update of entry 0 of M2P L3 frame {l3:#x}: {problem}"))?;
    update_foreign_entry(l3)
}

/// Returns the frames the domain owns as its start-of-day data lists them: its P2M list and
/// `shared_info`, sorted.
fn known_own_frames() -> Vec<u64> {
    let pages = crate::start_info().nr_pages;
    let mut frames: Vec<u64> = (0..pages).map(machine_frame).collect();
    frames.push(crate::start_info().shared_info >> 12);
    frames.sort_unstable();
    frames
}

/// Tries a read-only mapping and an `MMU_MACHPHYS_UPDATE` of every frame of
/// RAM. Both must be rejected for every frame the domain does not own: the
/// M2P, its page tables, the hypervisor image and heap, other domains. The
/// only frames accepted beyond the P2M list and `shared_info` are the
/// domain's grant-table frames.
fn sweep_all_frames() -> Result<(), String> {
    let max_ram_page = maximum_ram_page()?;
    let own = known_own_frames();
    let grant_frames = crate::grant::query_size(DOMID_SELF).map(|size| u64::from(size.nr_frames)).unwrap_or(0);
    let probe = (&raw const PROBE) as u64;
    let (own_entry, _) = super::mapping::l1_entry(probe)?;

    let mut mapped_extra = Vec::new();
    let mut updated_extra = Vec::new();
    let mut rejected_own = Vec::new();
    for mfn in 0..=max_ram_page {
        let is_own = own.binary_search(&mfn).is_ok();
        let mapped = update_va_mapping(probe, mfn << 12 | READ_ONLY) == 0;
        let before = m2p_entry(mfn).ok();
        let updated = machphys_update(mfn, 0x5A5A) == 0;
        if updated {
            // Put the entry back as it was. Only the domain's own frames
            // should get here, and the checks below report any other.
            let _ = machphys_update(mfn, before.unwrap_or(INVALID_ENTRY));
        }

        if is_own && !(mapped && updated) {
            rejected_own.push(mfn);
        }
        if !is_own && mapped {
            mapped_extra.push(mfn);
        }
        if !is_own && updated {
            updated_extra.push(mfn);
        }
    }

    let restored = update_va_mapping(probe, own_entry);
    check_return(Expected::Returns(0), restored).map_err(|problem| format!("restoring the probe page {problem}"))?;
    if !rejected_own.is_empty() {
        return Err(format!("{} own frames were rejected, first {:#x}", rejected_own.len(), rejected_own[0]));
    }
    if mapped_extra.len() as u64 > grant_frames || updated_extra.len() as u64 > grant_frames {
        return Err(format!(
            "frames outside the P2M list and shared_info accepted: mapped {:x?}, M2P-updated {:x?}; only {grant_frames} grant-table frames may be",
            &mapped_extra[..mapped_extra.len().min(8)],
            &updated_extra[..updated_extra.len().min(8)]
        ));
    }
    Ok(())
}

/// Reads past the table's end: the rest of its last frame reads invalid
/// entries, the next frame and the unused parts of slot 256 raise
/// `#PF` for a not-present read.
fn read_past_end() -> Result<(), String> {
    let entries = maximum_ram_page()? + 1;
    let in_last_frame = entries.div_ceil(512) * 512;
    for mfn in entries..in_last_frame {
        let entry = m2p_entry(mfn)?;
        if entry != INVALID_ENTRY {
            return Err(format!("the entry of frame {mfn:#x} past the table reads {entry:#x}, expected {INVALID_ENTRY:#x}"));
        }
    }
    let beyond = [
        M2P_BASE + in_last_frame * 8,
        M2P_BASE + 0x20_0000 * 512,
        M2P_BASE + 0x40_0000_0000 - 8,
        M2P_BASE + 0x40_0000_0000,
        M2P_BASE + 0x80_0000_0000 - 8,
    ];
    for address in beyond {
        let mut bytes = [0u8; 8];
        match guarded_read(address, &mut bytes) {
            Ok(()) => return Err(format!("read of {address:#x} past the M2P succeeded with {:#x}", u64::from_le_bytes(bytes))),
            Err(fault) if fault.vector == PAGE_FAULT && fault.error_code == 0 => {}
            Err(fault) => {
                return Err(format!(
                    "read of {address:#x} raised {}, expected #PF[0]",
                    super::check::describe_fault(fault.vector, fault.error_code)
                ));
            }
        }
    }
    Ok(())
}

/// `MMU_MACHPHYS_UPDATE` of frames the domain owns but does not list as
/// pages: the active L4 (a page table) and `shared_info`. Xen accepts both,
/// because only the owner is checked; the entries are put back.
fn update_owned_special(mfn: u64) -> Result<(), String> {
    let before = m2p_entry(mfn)?;
    let returned = machphys_update(mfn, 0x4242);
    let during = m2p_entry(mfn)?;
    let restored = machphys_update(mfn, before);
    check_return(Expected::Returns(0), returned)?;
    check_return(Expected::Returns(0), restored).map_err(|problem| format!("restoring the entry {problem}"))?;
    if during != 0x4242 {
        return Err(format!("frame {mfn:#x} reads {during:#x} after the update, expected 0x4242"));
    }
    Ok(())
}

/// Checks that a `ptr` with bits above the 52-bit address space names no
/// frame. Xen takes `ptr >> 12` as the frame number, so the request is
/// `EINVAL` even when the low bits name an own frame.
fn pointer_high_bits() -> Result<(), String> {
    let pfn = crate::start_info().nr_pages - 1;
    let mfn = machine_frame(pfn);
    let request = MmuUpdate { pointer: 1 << 52 | mfn << 12 | MMU_MACHPHYS_UPDATE, value: 0x99 };
    let returned = raw(Hypercall::MmuUpdate, [&raw const request as u64, 1, 0, DOMID_SELF as u64, 0]);
    let after = m2p_entry(mfn)?;
    if after != pfn {
        let _ = machphys_update(mfn, pfn);
        return Err(format!("frame {mfn:#x}'s entry changed to {after:#x} (returned {returned})"));
    }
    check_return(Expected::errno(Errno::EINVAL), returned)
}

/// Xen's `MMU_MACHPHYS_UPDATE` batch: 16384 updates of one own frame, far
/// more than one time slice applies, complete across continuations with
/// `*done` counting all of them, and a batch whose request 10000 names a
/// foreign frame stops there.
fn long_batch() -> Result<(), String> {
    const COUNT: usize = 16384;
    const FAILING: usize = 10000;
    let pfn = crate::start_info().nr_pages - 1;
    let mfn = machine_frame(pfn);
    let mut requests: Vec<MmuUpdate> = (0..COUNT).map(|index| MmuUpdate { pointer: mfn << 12 | MMU_MACHPHYS_UPDATE, value: index as u64 }).collect();
    let mut done = 0u32;
    let returned = raw(Hypercall::MmuUpdate, [requests.as_ptr() as u64, COUNT as u64, (&raw mut done) as u64, DOMID_SELF as u64, 0]);
    let last = m2p_entry(mfn)?;
    requests[FAILING].pointer = MMU_MACHPHYS_UPDATE;
    let mut stopped_done = 0u32;
    let stopped = raw(Hypercall::MmuUpdate, [requests.as_ptr() as u64, COUNT as u64, (&raw mut stopped_done) as u64, DOMID_SELF as u64, 0]);
    let at_stop = m2p_entry(mfn)?;
    let restored = machphys_update(mfn, pfn);
    check_return(Expected::Returns(0), restored).map_err(|problem| format!("restoring the entry {problem}"))?;
    check_return(Expected::Returns(0), returned)?;
    if done as usize != COUNT || last != COUNT as u64 - 1 {
        return Err(format!("done {done}, entry {last:#x} after the batch, expected {COUNT} and {:#x}", COUNT - 1));
    }
    check_return(Expected::errno(Errno::EINVAL), stopped).map_err(|problem| format!("the batch with frame 0 at {FAILING}: {problem}"))?;
    if stopped_done as usize != FAILING || at_stop != FAILING as u64 - 1 {
        return Err(format!("done {stopped_done}, entry {at_stop:#x} after the failing batch, expected {FAILING} and {:#x}", FAILING - 1));
    }
    Ok(())
}

fn reservation(command: u64, frames: &mut [u64]) -> i64 {
    let mut request = MemoryReservation { extent_start: frames.as_mut_ptr() as u64, nr_extents: frames.len() as u64, domid: DOMID_SELF, ..Default::default() };
    raw(Hypercall::MemoryOp, [command, (&raw mut request) as u64, 0, 0, 0])
}

/// Checks that a frame given back with `decrease_reservation` loses its M2P
/// entry, so no stale entry reveals the layout to a later owner, and that
/// `populate_physmap` writes the requested guest frame number into the new
/// frame's entry.
fn release_resets_entry() -> Result<(), String> {
    let address = (&raw const RELEASED) as u64;
    let (entry, _) = super::mapping::l1_entry(address)?;
    let frame = (entry & ADDRESS_MASK) >> 12;
    let pfn = m2p_entry(frame)?;

    // Release the page and read its entry.
    check_return(Expected::Returns(0), machphys_update(frame, 0xDEAD)).map_err(|problem| format!("marking the entry: {problem}"))?;
    check_return(Expected::Returns(0), update_va_mapping(address, 0)).map_err(|problem| format!("unmapping the page: {problem}"))?;
    let released = reservation(XENMEM_DECREASE_RESERVATION, &mut [frame]);
    if released != 1 {
        return Err(format!("decrease_reservation of frame {frame:#x} returned {released}, expected 1"));
    }
    let stale = m2p_entry(frame)?;

    // Populate a page at the same number and map it back in place.
    let mut slots = [pfn];
    let populated = reservation(XENMEM_POPULATE_PHYSMAP, &mut slots);
    let new_frame = slots[0];
    let new_entry = if populated == 1 { m2p_entry(new_frame) } else { Ok(0) };
    if populated == 1 {
        let mapped = update_va_mapping(address, new_frame << 12 | READ_WRITE);
        check_return(Expected::Returns(0), mapped).map_err(|problem| format!("mapping the new frame back: {problem}"))?;
    }

    if stale != INVALID_ENTRY {
        return Err(format!("released frame {frame:#x} reads {stale:#x}, expected {INVALID_ENTRY:#x}"));
    }
    if populated != 1 {
        return Err(format!("populate_physmap of one page returned {populated}, expected 1"));
    }
    let new_entry = new_entry?;
    if new_entry != pfn {
        return Err(format!("populated frame {new_frame:#x} reads {new_entry:#x}, expected {pfn:#x}"));
    }
    Ok(())
}

/// `increase_reservation`'s array is output only: Xen writes the new frame
/// numbers there and leaves the frames' M2P entries invalid until the guest
/// sets them. Whatever the array contained before must not become an entry.
fn increase_leaves_entry_invalid() -> Result<(), String> {
    let address = (&raw const INCREASED) as u64;
    let (entry, _) = super::mapping::l1_entry(address)?;
    let frame = (entry & ADDRESS_MASK) >> 12;
    let pfn = m2p_entry(frame)?;

    // Release the page and read its entry.
    check_return(Expected::Returns(0), update_va_mapping(address, 0)).map_err(|problem| format!("unmapping the page: {problem}"))?;
    let released = reservation(XENMEM_DECREASE_RESERVATION, &mut [frame]);
    if released != 1 {
        return Err(format!("decrease_reservation of frame {frame:#x} returned {released}, expected 1"));
    }
    let mut slots = [0x4321];
    let increased = reservation(XENMEM_INCREASE_RESERVATION, &mut slots);
    if increased != 1 {
        return Err(format!("increase_reservation of one page returned {increased}, expected 1"));
    }
    let new_frame = slots[0];
    let new_entry = m2p_entry(new_frame);
    let recorded = machphys_update(new_frame, pfn);
    let mapped = update_va_mapping(address, new_frame << 12 | READ_WRITE);
    check_return(Expected::Returns(0), recorded).map_err(|problem| format!("recording the new frame's entry: {problem}"))?;
    check_return(Expected::Returns(0), mapped).map_err(|problem| format!("mapping the new frame back: {problem}"))?;
    let new_entry = new_entry?;
    if new_entry != INVALID_ENTRY {
        return Err(format!("frame {new_frame:#x} from increase_reservation reads {new_entry:#x}, expected {INVALID_ENTRY:#x}"));
    }
    Ok(())
}

pub fn add_cases(cases: &mut Vec<Case>) {
    cases.push(Case::new("M2P", "every page's frame maps back to its number", own_frames_map_back));
    cases.push(Case::new("M2P", "ring-1 write to the M2P raises #PF[P|W]", write_faults));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of an own frame takes effect", update_own_entry));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of hypervisor frame 0x100: EINVAL", || update_foreign_entry(0x100)));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of frame 0 (firmware): EINVAL", || update_foreign_entry(0)));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of the frame after the last RAM frame: EINVAL", || {
        update_foreign_entry(maximum_ram_page()? + 1)
    }));
    cases.push(Case::new("M2P", "XENMEM_machphys_mapping reports the table", mapping_reported));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE with foreigndom 0 (Dom0) from a DomU: EPERM", || {
        let mfn = machine_frame(1);
        check_return(Expected::errno(Errno::EPERM), machphys_update_from(mfn, 7, 0))?;
        let entry = m2p_entry(mfn)?;
        if entry != 1 { Err(format!("frame {mfn:#x} reads {entry:#x}, expected 1")) } else { Ok(()) }
    }));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of the active L4 is accepted", || {
        update_owned_special(super::mapping::l1_entry(crate::start_info().pt_base).map(|(entry, _)| (entry & ADDRESS_MASK) >> 12)?)
    }));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE of shared_info is accepted", || update_owned_special(crate::start_info().shared_info >> 12)));
    cases.push(Case::new("M2P", "MMU_MACHPHYS_UPDATE with ptr bit 52 set: EINVAL", pointer_high_bits));
    cases.push(Case::new("M2P", "M2P L3 frame from L4 slot 256 cannot be mapped or edited", m2p_l3_rejected));
    cases.push(Case::new("M2P", "reads past the table end read invalid or raise #PF[0]", read_past_end));
    cases.push(Case::new("M2P", "a 16384-request MMU_MACHPHYS_UPDATE batch across continuations", long_batch));
    cases.push(Case::new("M2P", "every RAM frame: only own frames map or take M2P updates", sweep_all_frames));
    cases.push(Case::new("M2P", "decrease_reservation resets the entry, populate_physmap sets it", release_resets_entry));
    cases.push(Case::new("M2P", "increase_reservation leaves the new entry invalid", increase_leaves_entry_invalid));
}
