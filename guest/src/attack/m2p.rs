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

use hypercalls::domctl::{MachphysMapping, XENMEM_MACHPHYS_MAPPING, XENMEM_MAXIMUM_RAM_PAGE};
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
}
