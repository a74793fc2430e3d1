//! Grant tables v1 seen from one DomU with `selftest=grant`.
//!
//! As in Xen's test framework, the domain grants pages to its own domain id
//! so that it can map, unmap and copy them alone. It also writes grants that
//! name Dom0, to check that a domain cannot use a grant made for another.
//! The domain id comes from the `domid=` word the builder puts on the
//! command line. The first case sets up a one-frame table and maps it at
//! [`TABLE`]. Grant mappings go to [`WINDOW`], whose own frame is mapped
//! back after each unmap.
//!
//! Every case requires `grant_table_op` to return 0 and checks the op's
//! `GNTST_*` status, and where a refused op must change nothing, the grant
//! entry's flags afterwards.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use hypercalls::domctl::{MemoryReservation, XENMEM_CURRENT_RESERVATION, XENMEM_DECREASE_RESERVATION};
use hypercalls::grant::{
    GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTMAP_CONTAINS_PTE, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP, GNTMAP_READONLY,
    GNTST_BAD_COPY_ARG, GNTST_BAD_DOMAIN, GNTST_BAD_GNTREF, GNTST_BAD_HANDLE, GNTST_BAD_VIRT_ADDR, GNTST_GENERAL_ERROR,
    GNTST_OKAY, GNTST_PERMISSION_DENIED, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING, CopyPointer, GrantCopy,
    GrantEntryV1, GrantRef, status_name,
};
use hypercalls::{DOMID_FIRST_RESERVED, DOMID_SELF, DomId, Errno};

use super::mapping::{l1_entry, machine_frame, table_address};
use super::suite::Case;
use crate::grant;
use crate::hypercall;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The mapping of the grant table frame (the page's own frame is given up).
static mut TABLE: Page = Page([0; 4096]);
/// The address range the cases map granted frames at.
static mut WINDOW: Page = Page([0; 4096]);
/// The page granted read-only, filled with [`pattern`].
static mut SOURCE: Page = Page([0; 4096]);
/// The page granted writable.
static mut TARGET: Page = Page([0; 4096]);
/// The local destination of copies.
static mut DEST: Page = Page([0; 4096]);
/// The page mapped and unmapped through a grant before it is pinned as an L1.
static mut SHUFFLED: Page = Page([0; 4096]);
/// The page given back with `decrease_reservation`. Once released it is
/// unmapped and must not be touched again.
static mut RELEASED: Page = Page([0; 4096]);
/// The two frames of the unmap-and-replace case: the first is granted
/// writable, the second read-only.
static mut REPLACE_FIRST: Page = Page([0; 4096]);
static mut REPLACE_SECOND: Page = Page([0; 4096]);
/// The addresses the unmap-and-replace case maps those grants at; their
/// own frames are mapped back at the end.
static mut REPLACE_AT_FIRST: Page = Page([0; 4096]);
static mut REPLACE_AT_SECOND: Page = Page([0; 4096]);
/// A second address for grant mappings in the replace cases; its own frame
/// is mapped back after each case.
static mut PAIR: Page = Page([0; 4096]);

/// References the cases use. Xen reserves refs 0-7 for the toolstack.
const READ_ONLY_REF: GrantRef = 8;
const WRITABLE_REF: GrantRef = 9;
const FOR_DOM0_REF: GrantRef = 10;
const INVALID_REF: GrantRef = 11;
const SHUFFLED_REF: GrantRef = 12;
const RELEASED_REF: GrantRef = 13;
const REPLACE_FIRST_REF: GrantRef = 14;
const REPLACE_SECOND_REF: GrantRef = 15;
/// [`SOURCE`] granted read-only a second time, for the case that leaves one
/// of its mappings pinned.
const PAIR_REF: GrantRef = 16;
/// [`SOURCE`] granted read-only for the long map batch, whose mappings stay
/// pinned until the domain is destroyed.
const BATCH_REF: GrantRef = 17;
/// Maps in the long batch: enough to outlast the hypervisor's time budget
/// under QEMU's emulation, and few enough to fit in the 1024 handles with
/// the mappings other cases leave.
const BATCH_MAPS: usize = 1000;

/// Present, accessed: a read-only PTE.
const READ_ONLY_PTE: u64 = 0x21;

/// Present, writable, accessed, dirty.
const WRITABLE_PTE: u64 = 0x63;

/// The domain's id, once the setup case has read it.
static DOMID: AtomicU32 = AtomicU32::new(u32::MAX);

fn address_of(page: *const Page) -> u64 {
    page as u64
}

/// Returns the machine frame behind one of this image's pages.
fn frame_of(page: *const Page) -> u64 {
    machine_frame((address_of(page) - crate::entry::virt_base()) / 4096)
}

fn pattern(index: usize) -> u8 {
    (index * 7 + 3) as u8
}

fn own_domid() -> Result<DomId, String> {
    match DOMID.load(Ordering::SeqCst) {
        u32::MAX => Err(String::from("precondition: the grant table setup case did not run")),
        id => Ok(id as DomId),
    }
}

/// Parses the `domid=` word of the command line.
fn domid_from_command_line() -> Option<DomId> {
    crate::start_info()
        .command_line()
        .split(|byte| byte.is_ascii_whitespace())
        .find_map(|word| core::str::from_utf8(word.strip_prefix(b"domid=")?).ok()?.parse().ok())
        .filter(|&id| id < DOMID_FIRST_RESERVED)
}

fn entry_pointer(gref: GrantRef) -> *mut GrantEntryV1 {
    // The table page contains 512 entries, and the cases use refs below 16.
    (address_of(&raw const TABLE) as *mut GrantEntryV1).wrapping_add(gref as usize)
}

/// Writes grant `gref` in the grant protocol's order: domid and frame, then flags.
fn write_grant(gref: GrantRef, domid: DomId, frame: u64, flags: u16) {
    let entry = entry_pointer(gref);
    // SAFETY: the setup case mapped the table frame writable at TABLE, and
    // `gref` is below 512, so the entry lies inside that page.
    unsafe {
        core::ptr::addr_of_mut!((*entry).domid).write_volatile(domid);
        core::ptr::addr_of_mut!((*entry).frame).write_volatile(frame as u32);
        core::sync::atomic::fence(Ordering::SeqCst);
        core::ptr::addr_of_mut!((*entry).flags).write_volatile(flags);
    }
}

fn flags_of(gref: GrantRef) -> u16 {
    // SAFETY: as in `write_grant`.
    unsafe { core::ptr::addr_of!((*entry_pointer(gref)).flags).read_volatile() }
}

fn expect_status(what: &str, status: i16, expected: i16) -> Result<(), String> {
    if status == expected {
        return Ok(());
    }
    Err(format!("{what}: status {status} ({}), expected {expected} ({})", status_name(status), status_name(expected)))
}

fn expect_flags(what: &str, gref: GrantRef, expected: u16) -> Result<(), String> {
    let flags = flags_of(gref);
    if flags == expected {
        return Ok(());
    }
    Err(format!("{what}: ref {gref} flags are {flags:#x}, expected {expected:#x}"))
}

/// Maps the window page's own frame back after a grant unmap.
fn restore_window() -> Result<(), String> {
    let pte = frame_of(&raw const WINDOW) << 12 | WRITABLE_PTE;
    hypercall::update_va_mapping(address_of(&raw const WINDOW), pte)
        .map(|_| ())
        .map_err(|errno| format!("mapping the window page back failed: {errno}"))
}

fn map(gref: GrantRef, flags: u32, dom: DomId) -> Result<hypercalls::grant::MapGrantRef, String> {
    grant::map(address_of(&raw const WINDOW), GNTMAP_HOST_MAP | flags, gref, dom)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))
}

fn unmap(handle: u32) -> Result<i16, String> {
    grant::unmap(address_of(&raw const WINDOW), handle)
        .map(|op| op.status)
        .map_err(|errno| format!("grant_table_op(unmap_grant_ref) returned {errno}, expected 0"))
}

fn copy(op: GrantCopy) -> Result<i16, String> {
    grant::copy(op).map(|op| op.status).map_err(|errno| format!("grant_table_op(copy) returned {errno}, expected 0"))
}

fn read_window(length: usize) -> Vec<u8> {
    let window = address_of(&raw const WINDOW) as *const u8;
    // SAFETY: the window page is mapped (by a grant or by its own frame).
    (0..length).map(|index| unsafe { window.add(index).read_volatile() }).collect()
}

/// Sets up a one-frame table, maps it, and writes the grants the cases use.
fn setup() -> Result<(), String> {
    let domid = domid_from_command_line().ok_or("precondition: the command line has no valid domid= word")?;
    let mut frames = [0u64; 1];
    let op = grant::setup_table(&mut frames).map_err(|errno| format!("setup_table returned {errno}, expected 0"))?;
    expect_status("setup_table of one frame", op.status, GNTST_OKAY)?;
    let size = grant::query_size(DOMID_SELF).map_err(|errno| format!("query_size returned {errno}"))?;
    expect_status("query_size", size.status, GNTST_OKAY)?;
    if size.nr_frames != 1 || size.max_nr_frames < 1 {
        return Err(format!("query_size: {} of {} frames, expected 1 of at least 1", size.nr_frames, size.max_nr_frames));
    }
    hypercall::update_va_mapping(address_of(&raw const TABLE), frames[0] << 12 | WRITABLE_PTE)
        .map_err(|errno| format!("mapping grant table frame {:#x} writable failed: {errno}", frames[0]))?;

    // SAFETY: SOURCE is this image's page and no case runs concurrently.
    let source = unsafe { &mut *(&raw mut SOURCE) };
    for (index, byte) in source.0.iter_mut().enumerate() {
        *byte = pattern(index);
    }
    write_grant(READ_ONLY_REF, domid, frame_of(&raw const SOURCE), GTF_PERMIT_ACCESS | GTF_READONLY);
    write_grant(WRITABLE_REF, domid, frame_of(&raw const TARGET), GTF_PERMIT_ACCESS);
    write_grant(FOR_DOM0_REF, 0, frame_of(&raw const SOURCE), GTF_PERMIT_ACCESS);
    write_grant(INVALID_REF, domid, frame_of(&raw const SOURCE), 0);
    DOMID.store(domid as u32, Ordering::SeqCst);
    Ok(())
}

fn map_read_only_reads_data() -> Result<(), String> {
    let domid = own_domid()?;
    let op = map(READ_ONLY_REF, GNTMAP_READONLY, domid)?;
    expect_status("read-only map of a read-only grant", op.status, GNTST_OKAY)?;
    let seen = read_window(4096);
    let reading = expect_flags("while mapped read-only", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING);
    let status = unmap(op.handle)?;
    restore_window()?;
    reading?;
    if let Some(index) = (0..4096).find(|&index| seen[index] != pattern(index)) {
        return Err(format!("byte {index} through the mapping is {:#x}, expected {:#x}", seen[index], pattern(index)));
    }
    expect_status("unmap", status, GNTST_OKAY)?;
    expect_flags("after unmap", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY)
}

fn writable_map_sets_and_clears_flags() -> Result<(), String> {
    let domid = own_domid()?;
    let op = map(WRITABLE_REF, 0, domid)?;
    expect_status("writable map of a writable grant", op.status, GNTST_OKAY)?;
    let window = address_of(&raw const WINDOW) as *mut u8;
    // SAFETY: the window now maps TARGET's frame writable.
    unsafe { window.add(100).write_volatile(0x5A) };
    let flags = expect_flags("while mapped writable", WRITABLE_REF, GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING);
    let status = unmap(op.handle)?;
    restore_window()?;
    flags?;
    expect_status("unmap", status, GNTST_OKAY)?;
    expect_flags("after unmap", WRITABLE_REF, GTF_PERMIT_ACCESS)?;
    // SAFETY: TARGET is this image's page.
    let written = unsafe { (&raw const TARGET).cast::<u8>().add(100).read_volatile() };
    if written != 0x5A {
        return Err(format!("the byte written through the mapping reads {written:#x} in the granted page, expected 0x5a"));
    }
    Ok(())
}

/// Maps `gref` with `flags` from `dom`, expects `expected`, and requires the
/// entry's flags unchanged. Unmaps if the map wrongly succeeded.
fn refused_map(gref: GrantRef, flags: u32, dom: DomId, expected: i16) -> Result<(), String> {
    let before = if gref < 16 { flags_of(gref) } else { 0 };
    let op = map(gref, flags, dom)?;
    if op.status == GNTST_OKAY {
        let _ = unmap(op.handle);
        restore_window()?;
    }
    expect_status(&format!("map of ref {gref} from domain {dom:#x} with flags {flags:#x}"), op.status, expected)?;
    if gref < 16 {
        expect_flags("after the refused map", gref, before)?;
    }
    Ok(())
}

fn copy_op(source: CopyPointer, dest: CopyPointer, len: u16, flags: u16) -> GrantCopy {
    GrantCopy { source, dest, len, flags, ..Default::default() }
}

fn by_ref(gref: GrantRef, domid: DomId, offset: u16) -> CopyPointer {
    CopyPointer { reference_or_frame: gref as u64, domid, offset, ..Default::default() }
}

fn by_frame(page: *const Page, offset: u16) -> CopyPointer {
    CopyPointer { reference_or_frame: frame_of(page), domid: DOMID_SELF, offset, ..Default::default() }
}

fn copy_page_from_grant() -> Result<(), String> {
    let domid = own_domid()?;
    // SAFETY: DEST is this image's page.
    unsafe { (*(&raw mut DEST)).0.fill(0) };
    let op = copy_op(by_ref(READ_ONLY_REF, domid, 0), by_frame(&raw const DEST, 0), 4096, GNTCOPY_SOURCE_GREF);
    expect_status("copy of 4096 bytes from a read-only grant", copy(op)?, GNTST_OKAY)?;
    // SAFETY: as above.
    let dest = unsafe { &(*(&raw const DEST)).0 };
    if let Some(index) = (0..4096).find(|&index| dest[index] != pattern(index)) {
        return Err(format!("copied byte {index} is {:#x}, expected {:#x}", dest[index], pattern(index)));
    }
    expect_flags("after the copy", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY)
}

fn copy_into_writable_grant() -> Result<(), String> {
    let domid = own_domid()?;
    let op = copy_op(by_frame(&raw const SOURCE, 16), by_ref(WRITABLE_REF, domid, 2048), 64, GNTCOPY_DEST_GREF);
    expect_status("copy of 64 bytes into a writable grant", copy(op)?, GNTST_OKAY)?;
    // SAFETY: TARGET is this image's page.
    let target = unsafe { &(*(&raw const TARGET)).0 };
    if let Some(index) = (0..64).find(|&index| target[2048 + index] != pattern(16 + index)) {
        return Err(format!("byte {index} at offset 2048 is {:#x}, expected {:#x}", target[2048 + index], pattern(16 + index)));
    }
    Ok(())
}

fn refused_copy(what: &str, op: GrantCopy, expected: i16) -> Result<(), String> {
    // SAFETY: DEST is this image's page.
    unsafe { (*(&raw mut DEST)).0.fill(0xEE) };
    expect_status(what, copy(op)?, expected)?;
    // SAFETY: as above.
    let dest = unsafe { &(*(&raw const DEST)).0 };
    if let Some(index) = dest.iter().position(|&byte| byte != 0xEE) {
        return Err(format!("{what}: the refused copy changed byte {index} of the destination"));
    }
    Ok(())
}

const MMUEXT_PIN_L1_TABLE: u32 = 0;
const MMUEXT_UNPIN_TABLE: u32 = 4;

/// Pins `frame` as an L1 table, which must fail with `EINVAL` because the
/// frame is still mapped writable: a lost writable type reference would let
/// the pin succeed. A pin that wrongly succeeds is undone.
fn expect_pin_rejected(frame: u64) -> Result<(), String> {
    let pin = hypercall::MmuextOp { command: MMUEXT_PIN_L1_TABLE, argument: frame, ..Default::default() };
    match hypercall::mmuext_op(&[pin], DOMID_SELF) {
        Err(Errno::EINVAL) => Ok(()),
        Ok(_) => {
            let unpin = hypercall::MmuextOp { command: MMUEXT_UNPIN_TABLE, argument: frame, ..Default::default() };
            let _ = hypercall::mmuext_op(&[unpin], DOMID_SELF);
            Err(format!("MMUEXT_PIN_L1_TABLE of frame {frame:#x}, which is mapped writable, succeeded; expected EINVAL"))
        }
        Err(errno) => Err(format!("MMUEXT_PIN_L1_TABLE of frame {frame:#x} returned {errno}, expected EINVAL")),
    }
}

/// XTF xsa-224 without device mappings, which Hospes does not support:
/// a host and device map is refused, a host map and its unmap work, a
/// second unmap of the handle is refused, and the frame, still mapped
/// writable at its own address, cannot be pinned as an L1.
fn map_unmap_then_pin_as_l1() -> Result<(), String> {
    let domid = own_domid()?;
    let frame = frame_of(&raw const SHUFFLED);
    write_grant(SHUFFLED_REF, domid, frame, GTF_PERMIT_ACCESS);
    refused_map(SHUFFLED_REF, GNTMAP_DEVICE_MAP, domid, GNTST_GENERAL_ERROR)?;

    let op = map(SHUFFLED_REF, 0, domid)?;
    expect_status("host map", op.status, GNTST_OKAY)?;
    let first = unmap(op.handle)?;
    let second = unmap(op.handle)?;
    restore_window()?;
    expect_status("first unmap", first, GNTST_OKAY)?;
    expect_status("second unmap of the same handle", second, GNTST_BAD_HANDLE)?;
    expect_flags("after the unmaps", SHUFFLED_REF, GTF_PERMIT_ACCESS)?;
    expect_pin_rejected(frame)
}

/// XTF xsa-234 with `GNTTABOP_unmap_and_replace`: the first frame, mapped
/// read-only at its own address, is granted writable and mapped at
/// REPLACE_AT_FIRST; the second is granted read-only and mapped at
/// REPLACE_AT_SECOND. Replacing the second mapping with the first moves the
/// first frame's writable entry to REPLACE_AT_SECOND. After the guest
/// re-points REPLACE_AT_FIRST at the first frame read-only, the first
/// handle's unmap must fail (the PTE there is no longer the grant mapping),
/// and the first frame, still writable at REPLACE_AT_SECOND, must not
/// become an L1. The first grant stays pinned; domain destruction frees it.
fn unmap_and_replace_then_pin_as_l1() -> Result<(), String> {
    let domid = own_domid()?;
    let first = frame_of(&raw const REPLACE_FIRST);
    let second = frame_of(&raw const REPLACE_SECOND);
    let at_first = address_of(&raw const REPLACE_AT_FIRST);
    let at_second = address_of(&raw const REPLACE_AT_SECOND);
    // SAFETY: REPLACE_FIRST is this image's page, mapped writable until the
    // update below.
    unsafe { (&raw mut REPLACE_FIRST).cast::<u8>().write_volatile(0xA5) };
    hypercall::update_va_mapping(address_of(&raw const REPLACE_FIRST), first << 12 | READ_ONLY_PTE)
        .map_err(|errno| format!("remapping the first frame read-only failed: {errno}"))?;
    write_grant(REPLACE_FIRST_REF, domid, first, GTF_PERMIT_ACCESS);
    write_grant(REPLACE_SECOND_REF, domid, second, GTF_PERMIT_ACCESS | GTF_READONLY);

    let mapped_first = grant::map(at_first, GNTMAP_HOST_MAP, REPLACE_FIRST_REF, domid)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))?;
    expect_status("writable map of the first frame", mapped_first.status, GNTST_OKAY)?;
    let mapped_second = grant::map(at_second, GNTMAP_HOST_MAP | GNTMAP_READONLY, REPLACE_SECOND_REF, domid)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))?;
    expect_status("read-only map of the second frame", mapped_second.status, GNTST_OKAY)?;

    let replace = |host_addr, new_addr, handle| {
        grant::unmap_and_replace(host_addr, new_addr, handle)
            .map(|op| op.status)
            .map_err(|errno| format!("grant_table_op(unmap_and_replace) returned {errno}, expected 0"))
    };
    expect_status("replace with new_addr equal to host_addr", replace(at_second, at_second, mapped_second.handle)?, GNTST_GENERAL_ERROR)?;
    expect_status("replace of an unused handle", replace(at_second, at_first, 900)?, GNTST_BAD_HANDLE)?;
    expect_status("replace at the wrong host_addr", replace(at_first, at_second, mapped_second.handle)?, GNTST_GENERAL_ERROR)?;
    expect_status("unmap_and_replace", replace(at_second, at_first, mapped_second.handle)?, GNTST_OKAY)?;
    expect_flags("second grant after its replacement", REPLACE_SECOND_REF, GTF_PERMIT_ACCESS | GTF_READONLY)?;
    // SAFETY: REPLACE_AT_SECOND now maps the first frame writable.
    let seen = unsafe { (at_second as *const u8).read_volatile() };
    if seen != 0xA5 {
        return Err(format!("after the replacement the second address reads {seen:#x}, expected the first frame's 0xa5"));
    }

    hypercall::update_va_mapping(at_first, first << 12 | READ_ONLY_PTE)
        .map_err(|errno| format!("re-pointing the first address at the first frame read-only failed: {errno}"))?;
    let unmapped = grant::unmap(at_first, mapped_first.handle)
        .map_err(|errno| format!("grant_table_op(unmap_grant_ref) returned {errno}, expected 0"))?;
    let pin = expect_pin_rejected(first);

    for page in [&raw const REPLACE_AT_FIRST, &raw const REPLACE_AT_SECOND] {
        hypercall::update_va_mapping(address_of(page), frame_of(page) << 12 | WRITABLE_PTE)
            .map_err(|errno| format!("mapping a replace-case page back failed: {errno}"))?;
    }
    expect_status("unmap of a handle whose PTE is now read-only", unmapped.status, GNTST_GENERAL_ERROR)?;
    pin
}

fn replace_status(host_addr: u64, new_addr: u64, handle: u32) -> Result<i16, String> {
    grant::unmap_and_replace(host_addr, new_addr, handle)
        .map(|op| op.status)
        .map_err(|errno| format!("grant_table_op(unmap_and_replace) returned {errno}, expected 0"))
}

/// Maps `page`'s own frame back writable at its address.
fn restore_page(page: *const Page) -> Result<(), String> {
    hypercall::update_va_mapping(address_of(page), frame_of(page) << 12 | WRITABLE_PTE)
        .map(|_| ())
        .map_err(|errno| format!("mapping page {:#x} back failed: {errno}", address_of(page)))
}

/// A read-only grant mapping at [`WINDOW`] and an unusable `new_addr`: the
/// replace must fail with `expected` and leave the mapping, its handle and
/// `GTF_reading` in place, so that a plain unmap still works.
fn replace_with_bad_new_addr(new_addr: u64, expected: i16) -> Result<(), String> {
    let op = map(READ_ONLY_REF, GNTMAP_READONLY, own_domid()?)?;
    expect_status("read-only map", op.status, GNTST_OKAY)?;
    let replaced = replace_status(address_of(&raw const WINDOW), new_addr, op.handle);
    let seen = read_window(64);
    let flags = expect_flags("after the refused replace", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING);
    let unmapped = unmap(op.handle)?;
    restore_window()?;
    expect_status(&format!("unmap_and_replace with new_addr {new_addr:#x}"), replaced?, expected)?;
    flags?;
    if let Some(index) = (0..64).find(|&index| seen[index] != pattern(index)) {
        return Err(format!("after the refused replace byte {index} of the window reads {:#x}, expected {:#x}", seen[index], pattern(index)));
    }
    expect_status("plain unmap after the refused replace", unmapped, GNTST_OKAY)
}

/// Two read-only mappings of one grant, handle A at [`WINDOW`] and handle B
/// at [`PAIR`]. Replacing A with `new_addr` = PAIR moves B's entry to the
/// window. B's handle can then not unmap (its address is empty), and the
/// grant must keep `GTF_reading` while the window still maps the frame: a
/// granter that saw the flag clear could reuse a page another domain reads.
/// B stays pinned until the domain is destroyed.
fn replace_moves_other_grant_mapping() -> Result<(), String> {
    let domid = own_domid()?;
    let pair = address_of(&raw const PAIR);
    write_grant(PAIR_REF, domid, frame_of(&raw const SOURCE), GTF_PERMIT_ACCESS | GTF_READONLY);
    let first = map(PAIR_REF, GNTMAP_READONLY, domid)?;
    expect_status("first read-only map", first.status, GNTST_OKAY)?;
    let second = grant::map(pair, GNTMAP_HOST_MAP | GNTMAP_READONLY, PAIR_REF, domid)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))?;
    expect_status("second read-only map", second.status, GNTST_OKAY)?;

    let replaced = replace_status(address_of(&raw const WINDOW), pair, first.handle);
    let seen = read_window(64);
    let flags = expect_flags("while the moved mapping remains", PAIR_REF, GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING);
    let second_unmap = grant::unmap(pair, second.handle)
        .map(|op| op.status)
        .map_err(|errno| format!("grant_table_op(unmap_grant_ref) returned {errno}, expected 0"));
    restore_window()?;
    restore_page(&raw const PAIR)?;

    expect_status("unmap_and_replace with the other handle's address", replaced?, GNTST_OKAY)?;
    flags?;
    if let Some(index) = (0..64).find(|&index| seen[index] != pattern(index)) {
        return Err(format!("after the replace byte {index} of the window reads {:#x}, expected {:#x}", seen[index], pattern(index)));
    }
    expect_status("unmap of the handle whose entry moved away", second_unmap?, GNTST_GENERAL_ERROR)
}

/// After a replace frees handle H, a new mapping at [`PAIR`] may reuse H.
/// Unmapping H at the old address ([`WINDOW`]) must fail and leave the new
/// mapping, which then unmaps at its own address.
fn handle_reused_after_replace() -> Result<(), String> {
    let domid = own_domid()?;
    let pair = address_of(&raw const PAIR);
    let first = map(READ_ONLY_REF, GNTMAP_READONLY, domid)?;
    expect_status("read-only map", first.status, GNTST_OKAY)?;
    let replaced = replace_status(address_of(&raw const WINDOW), pair, first.handle);
    let second = grant::map(pair, GNTMAP_HOST_MAP | GNTMAP_READONLY, READ_ONLY_REF, domid)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))?;
    let stale = unmap(first.handle)?;
    // PAIR maps SOURCE through the second grant if the stale unmap
    // left it alone, else nothing; the guarded read below covers both.
    let mut seen = [0u8; 64];
    let readable = super::memory::guarded_read(pair, &mut seen).is_ok();
    let own = grant::unmap(pair, second.handle)
        .map(|op| op.status)
        .map_err(|errno| format!("grant_table_op(unmap_grant_ref) returned {errno}, expected 0"));
    restore_window()?;
    restore_page(&raw const PAIR)?;

    expect_status("unmap_and_replace", replaced?, GNTST_OKAY)?;
    expect_status("map after the replace", second.status, GNTST_OKAY)?;
    let expected_stale = if second.handle == first.handle { GNTST_GENERAL_ERROR } else { GNTST_BAD_HANDLE };
    expect_status(&format!("unmap of handle {} at its old address", first.handle), stale, expected_stale)?;
    if !readable || (0..64).any(|index| seen[index] != pattern(index)) {
        return Err(String::from("the stale unmap removed or changed the new mapping at PAIR"));
    }
    expect_status("unmap of the new mapping", own?, GNTST_OKAY)?;
    expect_flags("after both unmaps", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY)
}

/// Returns the frame of the L2 table on the way to `address`.
fn l2_frame(address: u64) -> Result<u64, String> {
    let mut table = crate::start_info().pt_base;
    let mut frame = 0;
    for level in [4u64, 3] {
        let index = (address >> (12 + 9 * (level - 1))) & 0x1FF;
        // SAFETY: `table` is a page-table page of this domain, mapped
        // readable at that address, and the index is below 512.
        let entry = unsafe { ((table + index * 8) as *const u64).read_volatile() };
        frame = (entry & 0x000F_FFFF_FFFF_F000) >> 12;
        table = table_address(frame)?;
    }
    Ok(frame)
}

/// XTF xsa-224's aliasing step: the L1 that maps [`WINDOW`] is linked a
/// second time at the empty L2 slot 0, so `new_addr` in the first 2 MiB
/// names the same PTE as `host_addr` at another address. Moving an entry
/// over itself must fail with `GNTST_general_error` and leave the grant
/// mapping, its handle and `GTF_reading` in place.
fn replace_with_aliased_new_addr() -> Result<(), String> {
    const TABLE_LINK: u64 = 0x23;
    let window = address_of(&raw const WINDOW);
    let (_, l1) = l1_entry(window)?;
    let l2 = l2_frame(window)?;
    let alias = ((window >> 12) & 0x1FF) * 4096;
    let link = |value: u64| {
        hypercall::mmu_update(&[hypercall::MmuUpdate { pointer: l2 << 12, value }], DOMID_SELF)
            .map_err(|errno| format!("writing L2 slot 0 of frame {l2:#x} failed: {errno}"))
    };

    let op = map(READ_ONLY_REF, GNTMAP_READONLY, own_domid()?)?;
    expect_status("read-only map", op.status, GNTST_OKAY)?;
    let linked = link(l1 << 12 | TABLE_LINK);
    let replaced = if linked.is_ok() { Some(replace_status(window, alias, op.handle)) } else { None };
    let seen = read_window(64);
    let flags = expect_flags("after the aliased replace", READ_ONLY_REF, GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING);
    let unlinked = link(0);
    let unmapped = unmap(op.handle)?;
    restore_window()?;

    linked?;
    unlinked?;
    let replaced = replaced.ok_or("the alias was not linked")??;
    expect_status(&format!("unmap_and_replace with new_addr {alias:#x} aliasing host_addr {window:#x}"), replaced, GNTST_GENERAL_ERROR)?;
    flags?;
    if let Some(index) = (0..64).find(|&index| seen[index] != pattern(index)) {
        return Err(format!("after the aliased replace byte {index} of the window reads {:#x}, expected {:#x}", seen[index], pattern(index)));
    }
    expect_status("plain unmap after the aliased replace", unmapped, GNTST_OKAY)
}

/// A batch of [`BATCH_MAPS`] read-only maps of one grant at [`WINDOW`].
/// Each must report `GNTST_okay` exactly once: a record that a resumed
/// continuation skipped keeps its sentinel status, and one that it applied
/// twice uses up an extra handle, which leaves a gap in the handles. Handles
/// come from the lowest free slot, so past the first few (which may fill
/// slots other cases freed) they must be consecutive. The mappings stay
/// pinned for domain destruction to release.
fn long_map_batch_applies_each_once() -> Result<(), String> {
    let domid = own_domid()?;
    write_grant(BATCH_REF, domid, frame_of(&raw const SOURCE), GTF_PERMIT_ACCESS | GTF_READONLY);
    let template = hypercalls::grant::MapGrantRef {
        host_addr: address_of(&raw const WINDOW),
        flags: GNTMAP_HOST_MAP | GNTMAP_READONLY,
        gref: BATCH_REF,
        dom: domid,
        status: 1,
        handle: u32::MAX,
        ..Default::default()
    };
    let mut ops = alloc::vec![template; BATCH_MAPS];
    let returned = grant::grant_table_op(hypercalls::grant::GNTTABOP_MAP_GRANT_REF, &mut ops);
    restore_window()?;
    returned.map_err(|errno| format!("grant_table_op with {BATCH_MAPS} maps returned {errno}, expected 0"))?;
    if let Some(index) = ops.iter().position(|op| op.status != GNTST_OKAY) {
        return Err(format!("map {index} of {BATCH_MAPS} has status {}, expected 0", ops[index].status));
    }
    for index in 8..BATCH_MAPS {
        let (previous, handle) = (ops[index - 1].handle, ops[index].handle);
        if handle != previous + 1 {
            return Err(format!("map {index} got handle {handle} after handle {previous}; a gap means a map ran twice"));
        }
    }
    Ok(())
}

/// XTF xsa-227: a `GNTMAP_contains_pte` map whose `host_addr` is 6 bytes
/// into the L1 entry that maps [`SOURCE`] (the next entry's address minus
/// 2), so a PTE written there would overwrite the top bytes of that entry.
/// The map must fail, the entry must be unchanged and SOURCE readable.
fn misaligned_contains_pte() -> Result<(), String> {
    let domid = own_domid()?;
    let source = address_of(&raw const SOURCE);
    let (before, l1_frame) = l1_entry(source)?;
    let host_addr = (l1_frame << 12) + ((source >> 12) & 0x1FF) * 8 + 6;
    let op = grant::map(host_addr, GNTMAP_CONTAINS_PTE | GNTMAP_HOST_MAP, WRITABLE_REF, domid)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) returned {errno}, expected 0"))?;
    let (after, _) = l1_entry(source)?;
    if after != before {
        return Err(format!("the L1 entry mapping SOURCE changed from {before:#x} to {after:#x}"));
    }
    expect_status(&format!("contains_pte map at machine address {host_addr:#x}"), op.status, GNTST_GENERAL_ERROR)?;
    expect_flags("after the refused map", WRITABLE_REF, GTF_PERMIT_ACCESS)?;
    // SAFETY: SOURCE is this image's page, and its entry was just read back unchanged.
    let seen = unsafe { &(*(&raw const SOURCE)).0 };
    if let Some(index) = (0..4096).find(|&index| seen[index] != pattern(index)) {
        return Err(format!("SOURCE byte {index} reads {:#x}, expected {:#x}", seen[index], pattern(index)));
    }
    Ok(())
}

/// Returns `XENMEM_current_reservation` of this domain, in pages.
fn current_reservation() -> Result<i64, String> {
    let mut domid = DOMID_SELF.to_le_bytes();
    hypercall::memory_op(XENMEM_CURRENT_RESERVATION, domid.as_mut_ptr())
        .map_err(|errno| format!("memory_op(current_reservation) returned {errno}"))
}

/// Calls `XENMEM_decrease_reservation` on one frame and returns the number
/// of extents released (0 or 1).
fn decrease_reservation(frame: u64) -> Result<i64, String> {
    let mut frames = [frame];
    let mut request = MemoryReservation { extent_start: frames.as_mut_ptr() as u64, nr_extents: 1, domid: DOMID_SELF, ..Default::default() };
    hypercall::memory_op(XENMEM_DECREASE_RESERVATION, (&raw mut request).cast())
        .map_err(|errno| format!("memory_op(decrease_reservation) of frame {frame:#x} returned {errno}, expected 0 or 1"))
}

/// A page whose only mapping is a grant mapping cannot be given back: the
/// release returns 0 extents and the data stays readable through the grant.
/// Once the grant is unmapped the release succeeds, the reservation drops by
/// one page, and the grant entry, which still names the frame, no longer maps.
fn release_rejected_while_grant_mapped() -> Result<(), String> {
    let domid = own_domid()?;
    let frame = frame_of(&raw const RELEASED);
    // SAFETY: RELEASED is this image's page and is still mapped.
    let page = unsafe { &mut *(&raw mut RELEASED) };
    for (index, byte) in page.0.iter_mut().enumerate() {
        *byte = !pattern(index);
    }
    write_grant(RELEASED_REF, domid, frame, GTF_PERMIT_ACCESS);
    let op = map(RELEASED_REF, 0, domid)?;
    expect_status("writable map", op.status, GNTST_OKAY)?;
    hypercall::update_va_mapping(address_of(&raw const RELEASED), 0)
        .map_err(|errno| format!("unmapping the page at its own address failed: {errno}"))?;

    let before = current_reservation()?;
    let first = decrease_reservation(frame);
    let during = current_reservation();
    let seen = read_window(4096);
    let status = unmap(op.handle)?;
    restore_window()?;
    let first = first?;
    if first != 0 {
        return Err(format!("decrease_reservation of a page mapped through a grant released {first} extents, expected 0"));
    }
    let during = during?;
    if during != before {
        return Err(format!("the refused release changed the reservation from {before} to {during} pages"));
    }
    if let Some(index) = (0..4096).find(|&index| seen[index] != !pattern(index)) {
        return Err(format!("byte {index} through the grant mapping is {:#x}, expected {:#x}", seen[index], !pattern(index)));
    }
    expect_status("unmap", status, GNTST_OKAY)?;
    expect_flags("after unmap", RELEASED_REF, GTF_PERMIT_ACCESS)?;

    let second = decrease_reservation(frame)?;
    if second != 1 {
        return Err(format!("decrease_reservation of the unmapped page released {second} extents, expected 1"));
    }
    let after = current_reservation()?;
    if after != before - 1 {
        return Err(format!("the reservation is {after} pages after the release, expected {}", before - 1));
    }
    let stale = map(RELEASED_REF, GNTMAP_READONLY, domid)?;
    if stale.status == GNTST_OKAY {
        let _ = unmap(stale.handle);
        restore_window()?;
    }
    write_grant(RELEASED_REF, 0, 0, 0);
    expect_status("map of a grant whose frame was released", stale.status, GNTST_GENERAL_ERROR)
}

pub fn add_cases(cases: &mut Vec<Case>) {
    cases.push(Case::new("G00", "setup_table, query_size and mapping the table frame", setup));
    cases.push(Case::new("A27", "read-only map of a read-only self-grant reads the data, sets and clears GTF_reading", map_read_only_reads_data));
    cases.push(Case::new("A27", "writable map sets GTF_reading|GTF_writing, writes reach the page, unmap clears both", writable_map_sets_and_clears_flags));
    cases.push(Case::new("A26", "writable map of a GTF_readonly grant: permission_denied", || {
        refused_map(READ_ONLY_REF, 0, own_domid()?, GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A26", "map of a grant made for domain 0: permission_denied", || {
        refused_map(FOR_DOM0_REF, GNTMAP_READONLY, own_domid()?, GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A26", "map of an entry without GTF_permit_access: permission_denied", || {
        refused_map(INVALID_REF, GNTMAP_READONLY, own_domid()?, GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A26", "map of ref 512 beyond a one-frame table: bad_gntref", || {
        refused_map(512, GNTMAP_READONLY, own_domid()?, GNTST_BAD_GNTREF)
    }));
    cases.push(Case::new("A26", "map of ref 0xffffffff: bad_gntref", || refused_map(u32::MAX, GNTMAP_READONLY, own_domid()?, GNTST_BAD_GNTREF)));
    cases.push(Case::new("A26", "map from domain 0x7fef, which does not exist: bad_domain", || {
        refused_map(READ_ONLY_REF, GNTMAP_READONLY, DOMID_FIRST_RESERVED - 1, GNTST_BAD_DOMAIN)
    }));
    cases.push(Case::new("A26", "map naming DOMID_SELF as granter: bad_domain", || {
        refused_map(READ_ONLY_REF, GNTMAP_READONLY, DOMID_SELF, GNTST_BAD_DOMAIN)
    }));
    cases.push(Case::new("A26", "map at a non-canonical host_addr: bad_virt_addr", || {
        let op = grant::map(0x8000_0000_0000, GNTMAP_HOST_MAP | GNTMAP_READONLY, READ_ONLY_REF, own_domid()?)
            .map_err(|errno| format!("grant_table_op returned {errno}, expected 0"))?;
        expect_status("map at 0x800000000000", op.status, GNTST_BAD_VIRT_ADDR)
    }));
    cases.push(Case::new("A26", "unmap with handle 0xffff that maps nothing: bad_handle", || {
        expect_status("unmap of handle 0xffff", unmap(0xFFFF)?, GNTST_BAD_HANDLE)
    }));
    cases.push(Case::new("A27", "unmap of one handle twice: the second gets bad_handle", || {
        let op = map(READ_ONLY_REF, GNTMAP_READONLY, own_domid()?)?;
        expect_status("map", op.status, GNTST_OKAY)?;
        let first = unmap(op.handle)?;
        let second = unmap(op.handle)?;
        restore_window()?;
        expect_status("first unmap", first, GNTST_OKAY)?;
        expect_status("second unmap", second, GNTST_BAD_HANDLE)
    }));
    cases.push(Case::new("A26", "copy of 4096 bytes from a read-only grant to a local frame", copy_page_from_grant));
    cases.push(Case::new("A26", "copy of 64 bytes from a local frame into a writable grant", copy_into_writable_grant));
    cases.push(Case::new("A26", "copy at source offset 1 of 4096 bytes crosses a page: bad_copy_arg", || {
        let op = copy_op(by_ref(READ_ONLY_REF, own_domid()?, 1), by_frame(&raw const DEST, 0), 4096, GNTCOPY_SOURCE_GREF);
        refused_copy("copy crossing the source page", op, GNTST_BAD_COPY_ARG)
    }));
    cases.push(Case::new("A26", "copy at destination offset 4095 of 2 bytes crosses a page: bad_copy_arg", || {
        let op = copy_op(by_ref(READ_ONLY_REF, own_domid()?, 0), by_frame(&raw const DEST, 4095), 2, GNTCOPY_SOURCE_GREF);
        refused_copy("copy crossing the destination page", op, GNTST_BAD_COPY_ARG)
    }));
    cases.push(Case::new("A26", "copy from an entry without GTF_permit_access: permission_denied", || {
        let op = copy_op(by_ref(INVALID_REF, own_domid()?, 0), by_frame(&raw const DEST, 0), 64, GNTCOPY_SOURCE_GREF);
        refused_copy("copy from ref 11", op, GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A26", "copy from a grant made for domain 0: permission_denied", || {
        let op = copy_op(by_ref(FOR_DOM0_REF, own_domid()?, 0), by_frame(&raw const DEST, 0), 64, GNTCOPY_SOURCE_GREF);
        refused_copy("copy from ref 10", op, GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A26", "copy into a GTF_readonly grant: permission_denied", || {
        let op = copy_op(by_frame(&raw const DEST, 0), by_ref(READ_ONLY_REF, own_domid()?, 0), 64, GNTCOPY_DEST_GREF);
        expect_status("copy into ref 8", copy(op)?, GNTST_PERMISSION_DENIED)?;
        // SAFETY: SOURCE is this image's page.
        let first = unsafe { (&raw const SOURCE).cast::<u8>().read_volatile() };
        if first != pattern(0) {
            return Err(format!("the refused copy changed the read-only page: byte 0 is {first:#x}"));
        }
        Ok(())
    }));
    cases.push(Case::new("A26", "copy from Dom0's frame named by number: permission_denied", || {
        let source = CopyPointer { reference_or_frame: frame_of(&raw const SOURCE), domid: 0, ..Default::default() };
        refused_copy("copy from a local frame of domain 0", copy_op(source, by_frame(&raw const DEST, 0), 64, 0), GNTST_PERMISSION_DENIED)
    }));
    cases.push(Case::new("A23", "device map refused, unmap twice gives bad_handle, pin as L1 of a writable frame: EINVAL", map_unmap_then_pin_as_l1));
    cases.push(Case::new(
        "A23",
        "unmap_and_replace moves a writable mapping; its old handle cannot unmap; pin as L1: EINVAL",
        unmap_and_replace_then_pin_as_l1,
    ));
    cases.push(Case::new("A23", "unmap_and_replace with new_addr in the hypervisor range: bad_virt_addr, mapping kept", || {
        replace_with_bad_new_addr(0xFFFF_8000_0000_0000, GNTST_BAD_VIRT_ADDR)
    }));
    cases.push(Case::new("A23", "unmap_and_replace with new_addr under no L1: general_error, mapping kept", || {
        replace_with_bad_new_addr(0x1000, GNTST_GENERAL_ERROR)
    }));
    cases.push(Case::new("A23", "unmap_and_replace moving another handle's entry keeps GTF_reading", replace_moves_other_grant_mapping));
    cases.push(Case::new("A23", "unmap_and_replace with new_addr aliasing host_addr's PTE: general_error", replace_with_aliased_new_addr));
    cases.push(Case::new("A27", "handle reused after unmap_and_replace: old address cannot unmap it", handle_reused_after_replace));
    cases.push(Case::new("A49", "a 1000-map batch applies each map once across continuations", long_map_batch_applies_each_once));
    cases.push(Case::new("A24", "contains_pte map at a misaligned L1 entry address: general_error, entry unchanged", misaligned_contains_pte));
    cases.push(Case::new("A29", "decrease_reservation refused while grant-mapped, released after unmap", release_rejected_while_grant_mapped));
    // Runs last: the mapping stays, so destroying the domain must release it.
    cases.push(Case::new("A29", "writable self-grant mapping left in place for domain destruction", || {
        let op = map(WRITABLE_REF, 0, own_domid()?)?;
        expect_status("writable map", op.status, GNTST_OKAY)?;
        expect_flags("while mapped", WRITABLE_REF, GTF_PERMIT_ACCESS | GTF_READING | GTF_WRITING)
    }));
}
