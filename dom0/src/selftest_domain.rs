//! `selftest domain`: exercises the hypervisor's domain lifecycle from Dom0.
//!
//! Creates a domain, gives it memory through `memory_op`, checks that free
//! memory drops by exactly that amount, destroys it and checks that every
//! frame came back, twenty times over. It then checks that a frame Dom0
//! still maps when its domain is destroyed comes back once Dom0 unmaps it,
//! and the errors the hypervisor returns for misuse.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use guest::hypercall;
use hypercalls::domctl::{self, CreateDomain, Domctl, MaxMem, MemoryReservation};
use hypercalls::sysctl::{self, PhysInfo, Sysctl};
use hypercalls::Errno;
use crate::window::Window;

/// Pages given to each test domain: 4 MiB.
const TEST_PAGES: u64 = 1024;
/// Create and destroy cycles run to catch leaks.
const CYCLES: usize = 20;

fn free_pages() -> Result<u64, Errno> {
    let mut request = Sysctl::new(sysctl::PHYSINFO, PhysInfo::default());
    hypercall::sysctl(&mut request)?;
    Ok(request.payload::<PhysInfo>().free_pages)
}

fn call(command: u32, domain: u16, payload: impl Copy) -> Result<Domctl, Errno> {
    let mut request = Domctl::new(command, domain, payload);
    hypercall::domctl(&mut request)?;
    Ok(request)
}

fn create() -> Result<u16, Errno> {
    let config = CreateDomain { max_vcpus: 1, ..Default::default() };
    call(domctl::CREATEDOMAIN, 0, config).map(|reply| reply.domain)
}

/// Populates `count` pages of `domain`; returns how many the hypervisor gave.
fn populate(domain: u16, count: u64) -> Result<i64, Errno> {
    populate_frames(domain, count).map(|frames| frames.len() as i64)
}

/// Populates `count` pages of `domain`; returns the machine frames the
/// hypervisor wrote back, one per page it gave.
fn populate_frames(domain: u16, count: u64) -> Result<Vec<u64>, Errno> {
    let mut frames = vec![0u64; count as usize];
    for (index, frame) in frames.iter_mut().enumerate() {
        *frame = index as u64;
    }
    let mut request = MemoryReservation {
        extent_start: frames.as_mut_ptr() as u64,
        nr_extents: count,
        domid: domain,
        ..Default::default()
    };
    let given = hypercall::memory_op(domctl::XENMEM_POPULATE_PHYSMAP, (&raw mut request).cast())?;
    frames.truncate(usize::try_from(given).unwrap_or(0));
    Ok(frames)
}

/// Window slot the orphan check maps through: a build slot, free whenever
/// no `xl create` runs, which is the case while the shell runs a selftest.
const ORPHAN_SLOT: usize = 0;

/// Maps one frame of a domain, destroys the domain, and checks that the
/// frame stays allocated while mapped and returns to the free pool once
/// Dom0 unmaps it.
fn orphan_frame(window: &Window) -> Result<(), String> {
    let before = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    let domain = create().map_err(|errno| format!("createdomain: {errno}"))?;
    call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 16 }).map_err(|errno| format!("max_mem: {errno}"))?;
    let frames = populate_frames(domain, 4).map_err(|errno| format!("populate_physmap: {errno}"))?;
    let Some(&frame) = frames.first() else { return Err("populate_physmap gave no page".to_string()) };
    window.map(domain, ORPHAN_SLOT, &[frame]).map_err(|errno| format!("mapping frame {frame:#x}: {errno}"))?;
    call(domctl::DESTROYDOMAIN, domain, ()).map_err(|errno| format!("destroydomain: {errno}"))?;
    let mapped = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    window.unmap(ORPHAN_SLOT, 1).map_err(|errno| format!("unmapping frame {frame:#x}: {errno}"))?;
    let after = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    if before - mapped != 1 {
        return Err(format!("while mapped after destroy, free pages dropped by {} instead of 1", before - mapped));
    }
    if after != before {
        return Err(format!("free pages {after} after the unmap, {before} before the domain"));
    }
    Ok(())
}

/// Window slots the replace check uses: the granter's grant-table frame,
/// the grant mapping, and the foreign mapping moved over it. Like
/// [`ORPHAN_SLOT`], build slots that no `xl create` uses during a selftest.
const REPLACE_TABLE_SLOT: usize = 1;
const REPLACE_HOST_SLOT: usize = 2;
const REPLACE_NEW_SLOT: usize = 3;
/// The reference the test domain grants to Dom0 (0-7 are the toolstack's).
const REPLACE_REF: u32 = 8;

/// Runs one `GNTTABOP_unmap_and_replace` and returns the op's `GNTST_*` status.
fn unmap_and_replace(host_addr: u64, new_addr: u64, handle: u32) -> Result<i16, String> {
    guest::grant::unmap_and_replace(host_addr, new_addr, handle)
        .map(|op| op.status)
        .map_err(|errno| format!("grant_table_op(unmap_and_replace) returned {errno}, expected 0"))
}

/// Checks `unmap_and_replace` after the granter is gone. A domain grants one
/// of its frames to Dom0, Dom0 maps the grant and a second frame of the
/// domain through its window, and the domain is destroyed. `unmap_and_replace` then moves the second frame's entry over
/// the grant mapping, which must succeed, and a second call with the same
/// handle must get `GNTST_bad_handle`. Once the window is empty again, every
/// frame of the domain, including its grant-table frame, must be free.
fn replace_after_granter_destroyed(window: &Window) -> Result<(), String> {
    use hypercalls::grant::{GNTMAP_HOST_MAP, GNTST_BAD_HANDLE, GNTST_OKAY, GNTTABOP_SETUP_TABLE, GTF_PERMIT_ACCESS, SetupTable};

    let before = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    let domain = create().map_err(|errno| format!("createdomain: {errno}"))?;
    call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 16 }).map_err(|errno| format!("max_mem: {errno}"))?;
    let frames = populate_frames(domain, 2).map_err(|errno| format!("populate_physmap: {errno}"))?;
    let [granted, moved] = frames[..] else { return Err(format!("populate_physmap gave {} of 2 pages", frames.len())) };

    let mut table_frame = 0u64;
    let mut setup = SetupTable { dom: domain, nr_frames: 1, frame_list: (&raw mut table_frame) as u64, ..Default::default() };
    guest::grant::grant_table_op(GNTTABOP_SETUP_TABLE, core::slice::from_mut(&mut setup))
        .map_err(|errno| format!("setup_table for d{domain}: {errno}"))?;
    if setup.status != GNTST_OKAY {
        return Err(format!("setup_table for d{domain}: status {}", setup.status));
    }
    window
        .map(domain, REPLACE_TABLE_SLOT, &[table_frame])
        .map_err(|errno| format!("mapping grant-table frame {table_frame:#x}: {errno}"))?;
    let entry = (Window::address(REPLACE_TABLE_SLOT) as *mut hypercalls::grant::GrantEntryV1).wrapping_add(REPLACE_REF as usize);
    // SAFETY: the window slot maps the domain's grant-table frame writable,
    // and the reference is below the 512 entries of one frame.
    unsafe {
        core::ptr::addr_of_mut!((*entry).domid).write_volatile(0);
        core::ptr::addr_of_mut!((*entry).frame).write_volatile(granted as u32);
        core::ptr::addr_of_mut!((*entry).flags).write_volatile(GTF_PERMIT_ACCESS);
    }

    let host_addr = Window::address(REPLACE_HOST_SLOT);
    let new_addr = Window::address(REPLACE_NEW_SLOT);
    let mapped = guest::grant::map(host_addr, GNTMAP_HOST_MAP, REPLACE_REF, domain)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}"))?;
    if mapped.status != GNTST_OKAY {
        return Err(format!("map of d{domain}'s grant {REPLACE_REF}: status {}", mapped.status));
    }
    window.map(domain, REPLACE_NEW_SLOT, &[moved]).map_err(|errno| format!("mapping frame {moved:#x}: {errno}"))?;
    // SAFETY: the slot maps the domain's frame `moved` writable.
    unsafe { (new_addr as *mut u64).write_volatile(0x5EED) };
    call(domctl::DESTROYDOMAIN, domain, ()).map_err(|errno| format!("destroydomain: {errno}"))?;

    let replaced = unmap_and_replace(host_addr, new_addr, mapped.handle);
    // SAFETY: after a successful replace the host slot maps `moved`; after a
    // failed one it still maps the granted frame. Either is mapped.
    let seen = unsafe { (host_addr as *const u64).read_volatile() };
    let again = unmap_and_replace(host_addr, new_addr, mapped.handle);
    window.unmap(REPLACE_TABLE_SLOT, 3).map_err(|errno| format!("emptying the window slots: {errno}"))?;
    let after = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;

    let replaced = replaced?;
    if replaced != GNTST_OKAY {
        return Err(format!("unmap_and_replace after the granter's destroy: status {replaced}, expected 0"));
    }
    if seen != 0x5EED {
        return Err(format!("the host address reads {seen:#x} after the replace, expected the moved frame's 0x5eed"));
    }
    let again = again?;
    if again != GNTST_BAD_HANDLE {
        return Err(format!("a second unmap_and_replace of handle {}: status {again}, expected {GNTST_BAD_HANDLE}", mapped.handle));
    }
    if after != before {
        return Err(format!("free pages {after} after the window was emptied, {before} before the domain"));
    }
    Ok(())
}

/// Entry of the window's L2 that the foreign-table check links: empty, and
/// covering the 2 MiB after the window.
const FOREIGN_L2_SLOT: u64 = 1;

/// Runs one `mmu_update` request with `foreigndom`.
fn update_entry(pointer: u64, value: u64, foreign: u16) -> Result<(), Errno> {
    hypercall::mmu_update(&[hypercall::MmuUpdate { pointer, value }], foreign).map(|_| ())
}

/// Runs one `mmuext_op` with `foreigndom`.
fn extended_op(command: u32, argument: u64, foreign: u16) -> Result<(), Errno> {
    hypercall::mmuext_op(&[hypercall::MmuextOp { command, argument, ..Default::default() }], foreign).map(|_| ())
}

/// Checks an orphaned page table. Dom0 builds an L1 in a test domain's frame
/// that maps four other frames of the domain (one writable), pins it for the
/// domain, links it into its own window L2 and destroys the domain. The L1
/// then has no owner and is still a validated table. Dom0 must not be able to change its
/// entries or unpin it, and once Dom0 removes the link every frame of the
/// domain must be free: the last type reference of a table of a destroyed
/// domain returns the table and every frame its entries referenced.
fn foreign_table_of_destroyed_domain(window: &Window) -> Result<(), String> {
    const PRESENT: u64 = 1;
    const WRITABLE: u64 = 2;
    const ACCESSED: u64 = 0x20;
    const MMUEXT_PIN_L1_TABLE: u32 = 0;
    const MMUEXT_UNPIN_TABLE: u32 = 4;

    let before = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    let domain = create().map_err(|errno| format!("createdomain: {errno}"))?;
    call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 32 }).map_err(|errno| format!("max_mem: {errno}"))?;
    let frames = populate_frames(domain, 5).map_err(|errno| format!("populate_physmap: {errno}"))?;
    let [table, ref data @ ..] = frames[..] else { return Err(format!("populate_physmap gave {} of 5 pages", frames.len())) };

    window.map(domain, ORPHAN_SLOT, &[table]).map_err(|errno| format!("mapping frame {table:#x}: {errno}"))?;
    let entries = Window::address(ORPHAN_SLOT) as *mut u64;
    for (index, &frame) in data.iter().enumerate() {
        let writable = if index == 0 { WRITABLE } else { 0 };
        // SAFETY: the slot maps the domain's frame `table` writable, and
        // the index is below 512.
        unsafe { entries.add(index).write_volatile(frame << 12 | PRESENT | ACCESSED | writable) };
    }
    window.unmap(ORPHAN_SLOT, 1).map_err(|errno| format!("unmapping frame {table:#x}: {errno}"))?;
    extended_op(MMUEXT_PIN_L1_TABLE, table, domain).map_err(|errno| format!("pinning frame {table:#x} as an L1 of d{domain}: {errno}"))?;
    let link = window.l2_mfn() << 12 | FOREIGN_L2_SLOT * 8;
    update_entry(link, table << 12 | PRESENT | WRITABLE | ACCESSED, domain)
        .map_err(|errno| format!("linking d{domain}'s L1 into the window L2: {errno}"))?;
    call(domctl::DESTROYDOMAIN, domain, ()).map_err(|errno| format!("destroydomain: {errno}"))?;

    let rewrite = update_entry(table << 12 | 8 * 8, data[1] << 12 | PRESENT | WRITABLE | ACCESSED, hypercalls::DOMID_SELF);
    let unpin = extended_op(MMUEXT_UNPIN_TABLE, table, hypercalls::DOMID_SELF);
    let linked = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    update_entry(link, 0, hypercalls::DOMID_SELF).map_err(|errno| format!("removing the link: {errno}"))?;
    let after = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;

    if rewrite != Err(Errno::EINVAL) {
        return Err(format!("mmu_update of an entry of the destroyed domain's L1 returned {rewrite:?}, expected EINVAL"));
    }
    if unpin != Err(Errno::EINVAL) {
        return Err(format!("unpin of the destroyed domain's L1 returned {unpin:?}, expected EINVAL"));
    }
    if before - linked != 5 {
        return Err(format!("while linked after destroy, free pages dropped by {} instead of 5", before - linked));
    }
    if after != before {
        return Err(format!("free pages {after} after the link went, {before} before the domain"));
    }
    Ok(())
}

/// Guest address of the read-only M2P (`machine_to_phys_mapping`).
const M2P_BASE: u64 = 0xFFFF_8000_0000_0000;
/// The M2P entry of a frame that backs no guest page.
const INVALID_M2P_ENTRY: u64 = u64::MAX;
/// `MMU_MACHPHYS_UPDATE`, in bits 0-2 of a request's `ptr`.
const MMU_MACHPHYS_UPDATE: u64 = 1;

fn m2p_entry(mfn: u64) -> u64 {
    // SAFETY: every validated L4, Dom0's included, maps the M2P read-only
    // at M2P_BASE with one u64 for each frame up to the last RAM frame, and
    // `mfn` is a frame the hypervisor handed out, so below that.
    unsafe { ((M2P_BASE + mfn * 8) as *const u64).read_volatile() }
}

fn machphys_update(mfn: u64, pfn: u64, foreign: u16) -> Result<(), Errno> {
    hypercall::mmu_update(&[hypercall::MmuUpdate { pointer: mfn << 12 | MMU_MACHPHYS_UPDATE, value: pfn }], foreign).map(|_| ())
}

/// Follows a test domain's M2P entries through its life. `populate_physmap`
/// writes the requested numbers, and Dom0 may change them only by naming the
/// domain as `foreigndom`. Destroy resets the freed frames' entries at once,
/// but a frame Dom0 still maps keeps its entry (and its owner's rules)
/// until Dom0 unmaps it.
fn m2p_through_domain_life(window: &Window) -> Result<(), String> {
    let domain = create().map_err(|errno| format!("createdomain: {errno}"))?;
    call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 16 }).map_err(|errno| format!("max_mem: {errno}"))?;
    let frames = populate_frames(domain, 4).map_err(|errno| format!("populate_physmap: {errno}"))?;
    let [kept, changed, ..] = frames[..] else { return Err(format!("populate_physmap gave {} of 4 pages", frames.len())) };
    for (pfn, &mfn) in frames.iter().enumerate() {
        let entry = m2p_entry(mfn);
        if entry != pfn as u64 {
            let _ = call(domctl::DESTROYDOMAIN, domain, ());
            return Err(format!("populated frame {mfn:#x} reads {entry:#x}, expected {pfn:#x}"));
        }
    }

    let as_self = machphys_update(changed, 0x77, hypercalls::DOMID_SELF);
    let as_foreign = machphys_update(changed, 0x77, domain);
    let updated = m2p_entry(changed);
    let mapped = window.map(domain, ORPHAN_SLOT, &[kept]);
    call(domctl::DESTROYDOMAIN, domain, ()).map_err(|errno| format!("destroydomain: {errno}"))?;
    let freed: Vec<u64> = frames[1..].iter().map(|&mfn| m2p_entry(mfn)).collect();
    let kept_entry = m2p_entry(kept);
    let after_destroy = machphys_update(kept, 0x99, hypercalls::DOMID_SELF);
    let unmapped = if mapped.is_ok() { window.unmap(ORPHAN_SLOT, 1) } else { Ok(()) };
    let kept_after_unmap = m2p_entry(kept);

    if as_self != Err(Errno::EINVAL) {
        return Err(format!("MMU_MACHPHYS_UPDATE of d{domain}'s frame without foreigndom returned {as_self:?}, expected EINVAL"));
    }
    as_foreign.map_err(|errno| format!("MMU_MACHPHYS_UPDATE with foreigndom d{domain}: {errno}, expected success"))?;
    if updated != 0x77 {
        return Err(format!("frame {changed:#x} reads {updated:#x} after the foreign update, expected 0x77"));
    }
    mapped.map_err(|errno| format!("mapping frame {kept:#x}: {errno}"))?;
    unmapped.map_err(|errno| format!("unmapping frame {kept:#x}: {errno}"))?;
    if let Some((index, entry)) = freed.iter().enumerate().find(|&(_, &entry)| entry != INVALID_M2P_ENTRY) {
        return Err(format!("freed frame {:#x} reads {entry:#x} after destroy, expected {INVALID_M2P_ENTRY:#x}", frames[index + 1]));
    }
    if kept_entry != 0 {
        return Err(format!("frame {kept:#x}, still mapped by Dom0, reads {kept_entry:#x} after destroy, expected 0"));
    }
    if after_destroy != Err(Errno::EINVAL) {
        return Err(format!("MMU_MACHPHYS_UPDATE of the destroyed domain's mapped frame returned {after_destroy:?}, expected EINVAL"));
    }
    if kept_after_unmap != INVALID_M2P_ENTRY {
        return Err(format!("frame {kept:#x} reads {kept_after_unmap:#x} after Dom0 unmapped it, expected {INVALID_M2P_ENTRY:#x}"));
    }
    Ok(())
}

/// Calls `increase_reservation` for `count` pages of `domain` with no array,
/// so no frame numbers come back; returns how many the hypervisor gave.
fn increase_without_array(domain: u16, count: u64) -> Result<i64, Errno> {
    let mut request = MemoryReservation { extent_start: 0, nr_extents: count, domid: domain, ..Default::default() };
    hypercall::memory_op(domctl::XENMEM_INCREASE_RESERVATION, (&raw mut request).cast())
}

/// One create-populate-destroy cycle; returns a failure description.
fn cycle() -> Result<(), String> {
    let before = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    let domain = create().map_err(|errno| format!("createdomain: {errno}"))?;
    call(domctl::MAX_MEM, domain, MaxMem { max_memkb: TEST_PAGES * 4 }).map_err(|errno| format!("max_mem: {errno}"))?;
    let given = populate(domain, TEST_PAGES).map_err(|errno| format!("populate_physmap: {errno}"))?;
    if given != TEST_PAGES as i64 {
        return Err(format!("populate_physmap gave {given} of {TEST_PAGES} pages"));
    }
    let during = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    // The domain's pages plus its shared_info frame.
    if before - during != TEST_PAGES + 1 {
        return Err(format!("free pages dropped by {} instead of {}", before - during, TEST_PAGES + 1));
    }
    call(domctl::DESTROYDOMAIN, domain, ()).map_err(|errno| format!("destroydomain: {errno}"))?;
    let after = free_pages().map_err(|errno| format!("physinfo: {errno}"))?;
    if after != before {
        return Err(format!("free pages {after} after destroy, {before} before"));
    }
    Ok(())
}

fn expect_errno(name: &str, result: Result<impl Sized, Errno>, expected: Errno) -> (String, bool) {
    match result {
        Err(errno) if errno == expected => (format!("{name} gives {expected}"), true),
        Err(errno) => (format!("{name} gives {errno}, expected {expected}"), false),
        Ok(_) => (format!("{name} succeeded, expected {expected}"), false),
    }
}

/// Runs every check; the orphan check needs Dom0's mapping window.
pub fn run(window: Result<&Window, String>) -> Vec<(String, bool)> {
    let mut results = Vec::new();
    let mut failure = None;
    for round in 0..CYCLES {
        if let Err(problem) = cycle() {
            failure = Some(format!("cycle {round}: {problem}"));
            break;
        }
    }
    match failure {
        None => results.push((format!("{CYCLES} create/populate/destroy cycles leak no frame"), true)),
        Some(problem) => results.push((problem, false)),
    }

    let orphan = window.clone().and_then(orphan_frame);
    results.push(match orphan {
        Ok(()) => ("a frame still mapped at destroy returns when Dom0 unmaps it".to_string(), true),
        Err(problem) => (format!("frame mapped at destroy: {problem}"), false),
    });

    let replace = window.clone().and_then(replace_after_granter_destroyed);
    results.push(match replace {
        Ok(()) => ("unmap_and_replace of a grant whose granter was destroyed frees every frame".to_string(), true),
        Err(problem) => (format!("unmap_and_replace after the granter's destroy: {problem}"), false),
    });

    let foreign_table = window.clone().and_then(foreign_table_of_destroyed_domain);
    results.push(match foreign_table {
        Ok(()) => ("an L1 of a destroyed domain linked by Dom0 returns with its frames".to_string(), true),
        Err(problem) => (format!("L1 of a destroyed domain: {problem}"), false),
    });

    let m2p = window.clone().and_then(m2p_through_domain_life);
    results.push(match m2p {
        Ok(()) => ("M2P entries follow populate, foreign updates, destroy and the last unmap".to_string(), true),
        Err(problem) => (format!("M2P through a domain's life: {problem}"), false),
    });

    results.push(expect_errno("destroy of Dom0", call(domctl::DESTROYDOMAIN, 0, ()), Errno::EINVAL));
    results.push(expect_errno("destroy of a missing domain", call(domctl::DESTROYDOMAIN, 4000, ()), Errno::ESRCH));
    let mut stale = Domctl::new(domctl::GETDOMAININFO, 0, ());
    stale.interface_version = domctl::INTERFACE_VERSION - 1;
    results.push(expect_errno("an old interface version", hypercall::domctl(&mut stale), Errno::EACCES));

    match create() {
        Ok(domain) => {
            results.push(expect_errno("unpause before setvcpucontext", call(domctl::UNPAUSEDOMAIN, domain, ()), Errno::EINVAL));
            let recorded = call(domctl::HOSPES_LAST_FAILURE, domain, hypercalls::domctl::LastFailure::default())
                .map(|reply| reply.payload::<hypercalls::domctl::LastFailure>());
            let check = match recorded {
                Ok(record) if record.operation.starts_with(b"unpause") && record.reason.starts_with(b"the vCPU has no context") => {
                    ("the hypervisor records why unpause failed".to_string(), true)
                }
                Ok(record) => (format!("recorded failure {:?} does not describe the unpause", record.operation), false),
                Err(errno) => (format!("reading the recorded failure: {errno}"), false),
            };
            results.push(check);
            let limited = call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 64 }).and_then(|_| populate(domain, 32));
            let check = match limited {
                Ok(16) => ("populate stops at max_mem (16 of 32 pages)".to_string(), true),
                other => (format!("populate past max_mem returned {other:?}, expected 16 pages"), false),
            };
            results.push(check);
            let increased = call(domctl::MAX_MEM, domain, MaxMem { max_memkb: 80 }).and_then(|_| increase_without_array(domain, 2));
            let check = match increased {
                Ok(2) => ("increase_reservation with a NULL array gives 2 of 2 pages".to_string(), true),
                other => (format!("increase_reservation with a NULL array returned {other:?}, expected 2 pages"), false),
            };
            results.push(check);
            let destroyed = call(domctl::DESTROYDOMAIN, domain, ());
            results.push(("destroy of a populated paused domain".to_string(), destroyed.is_ok()));
        }
        Err(errno) => results.push((format!("createdomain: {errno}"), false)),
    }
    results
}
