//! `grant_table_op` (hypercall 20): grant table v1 entries, commands,
//! argument structures and statuses, laid out as in Xen's
//! `public/grant_table.h` for x86_64.
//!
//! A domain offers one of its frames to a peer by filling a grant entry
//! (`domid`, `frame`, then `flags` last). The peer names the entry by its
//! index, the grant reference, and maps or copies the frame through
//! `grant_table_op(cmd, ops, count)`. The hypercall returns 0 and writes a
//! `GNTST_*` status into each op, or returns a negative errno when the op
//! array cannot be read or the command is unknown.

use core::mem::{offset_of, size_of};

use crate::DomId;

/// Grant reference: an index into the granting domain's table.
pub type GrantRef = u32;
/// Handle of one mapping, returned by `map_grant_ref`.
pub type GrantHandle = u32;

pub const GNTTABOP_MAP_GRANT_REF: u64 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u64 = 1;
pub const GNTTABOP_SETUP_TABLE: u64 = 2;
pub const GNTTABOP_DUMP_TABLE: u64 = 3;
pub const GNTTABOP_TRANSFER: u64 = 4;
pub const GNTTABOP_COPY: u64 = 5;
pub const GNTTABOP_QUERY_SIZE: u64 = 6;
pub const GNTTABOP_UNMAP_AND_REPLACE: u64 = 7;
pub const GNTTABOP_SET_VERSION: u64 = 8;
pub const GNTTABOP_GET_STATUS_FRAMES: u64 = 9;
pub const GNTTABOP_GET_VERSION: u64 = 10;
pub const GNTTABOP_SWAP_GRANT_REF: u64 = 11;
pub const GNTTABOP_CACHE_FLUSH: u64 = 12;

/// Entry type in bits 0-1 of `flags`: not in use.
pub const GTF_INVALID: u16 = 0;
/// Entry type: the peer `domid` may map or copy `frame`.
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// Entry type: the peer may transfer a frame to this domain.
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
/// Entry type: access through another domain's grant (v2 only).
pub const GTF_TRANSITIVE: u16 = 3;
pub const GTF_TYPE_MASK: u16 = 3;
/// Set by the granter: the peer may only read the frame.
pub const GTF_READONLY: u16 = 1 << 2;
/// Set by the hypervisor while the frame is mapped (any way).
pub const GTF_READING: u16 = 1 << 3;
/// Set by the hypervisor while the frame is mapped writable.
pub const GTF_WRITING: u16 = 1 << 4;
pub const GTF_PWT: u16 = 1 << 5;
pub const GTF_PCD: u16 = 1 << 6;
pub const GTF_PAT: u16 = 1 << 7;
pub const GTF_SUB_PAGE: u16 = 1 << 8;

/// `GNTMAP_*` flags of `map_grant_ref`: map for device DMA (`dev_bus_addr`).
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
/// Map at the virtual address `host_addr`.
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// Map read-only.
pub const GNTMAP_READONLY: u32 = 1 << 2;
/// The mapping is also usable from user mode.
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << 3;
/// `host_addr` is the machine address of a PTE to write, not a virtual address.
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;

/// `gnttab_copy.flags`: the source is a grant reference, not a local frame.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
/// `gnttab_copy.flags`: the destination is a grant reference.
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
pub const GNTST_EAGAIN: i16 = -12;
pub const GNTST_NO_SPACE: i16 = -13;

/// Returns Xen's text for a `GNTST_*` status.
pub const fn status_name(status: i16) -> &'static str {
    match status {
        GNTST_OKAY => "okay",
        GNTST_GENERAL_ERROR => "general_error",
        GNTST_BAD_DOMAIN => "bad_domain",
        GNTST_BAD_GNTREF => "bad_gntref",
        GNTST_BAD_HANDLE => "bad_handle",
        GNTST_BAD_VIRT_ADDR => "bad_virt_addr",
        GNTST_BAD_DEV_ADDR => "bad_dev_addr",
        GNTST_NO_DEVICE_SPACE => "no_device_space",
        GNTST_PERMISSION_DENIED => "permission_denied",
        GNTST_BAD_PAGE => "bad_page",
        GNTST_BAD_COPY_ARG => "bad_copy_arg",
        GNTST_ADDRESS_TOO_BIG => "address_too_big",
        GNTST_EAGAIN => "eagain",
        GNTST_NO_SPACE => "no_space",
        _ => "unknown status",
    }
}

/// `grant_entry_v1`: one entry of a v1 grant table, 512 to a 4 KiB frame.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct GrantEntryV1 {
    /// `GTF_*`; the type bits are written last by the granter.
    pub flags: u16,
    /// The domain allowed to use the entry.
    pub domid: DomId,
    /// The frame offered (an MFN for PV domains).
    pub frame: u32,
}

/// Grant entries in one 4 KiB frame of a v1 table.
pub const ENTRIES_PER_FRAME: u32 = (crate::PAGE_SIZE / size_of::<GrantEntryV1>()) as u32;

/// `gnttab_map_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MapGrantRef {
    /// IN: virtual address to map at (or PTE address with `GNTMAP_contains_pte`).
    pub host_addr: u64,
    /// IN: `GNTMAP_*`.
    pub flags: u32,
    /// IN: grant reference in the table of `dom`.
    pub gref: GrantRef,
    /// IN: the granting domain.
    pub dom: DomId,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// OUT: handle for `unmap_grant_ref`.
    pub handle: GrantHandle,
    /// OUT: bus address for device mappings.
    pub dev_bus_addr: u64,
}

/// `gnttab_unmap_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct UnmapGrantRef {
    /// IN: the address the mapping was made at; 0 leaves the host mapping alone.
    pub host_addr: u64,
    /// IN: the device address; 0 leaves the device mapping alone.
    pub dev_bus_addr: u64,
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
    pub _pad: u16,
}

/// `gnttab_unmap_and_replace`: removes the grant mapping at `host_addr`
/// and moves the entry that maps `new_addr` there, leaving `new_addr`
/// unmapped. A zero `new_addr` makes it a plain unmap.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct UnmapAndReplace {
    /// IN: the address the grant mapping was made at.
    pub host_addr: u64,
    /// IN: the address whose entry replaces the grant mapping.
    pub new_addr: u64,
    pub handle: GrantHandle,
    /// OUT: `GNTST_*`.
    pub status: i16,
    pub _pad: u16,
}

/// `gnttab_setup_table`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SetupTable {
    /// IN: the domain whose table to set up (`DOMID_SELF`, or any with privilege).
    pub dom: DomId,
    pub _pad0: u16,
    /// IN: frames the table must have.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    pub _pad1: [u16; 3],
    /// IN: guest address of an array of `nr_frames` u64, OUT: the table's MFNs.
    pub frame_list: u64,
}

/// `gnttab_query_size`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct QuerySize {
    /// IN: the domain to query.
    pub dom: DomId,
    pub _pad0: u16,
    /// OUT: frames the table has now.
    pub nr_frames: u32,
    /// OUT: frames it may grow to.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    pub _pad1: u16,
}

/// One side of a `gnttab_copy`: a grant reference of `domid`, or (without
/// the side's `GNTCOPY_*_gref` flag) a frame of the caller.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct CopyPointer {
    /// The grant reference (low 32 bits) or the frame number (`xen_pfn_t`).
    pub reference_or_frame: u64,
    pub domid: DomId,
    /// Byte offset in the frame.
    pub offset: u16,
    pub _pad: u32,
}

/// `gnttab_copy`: copies `len` bytes, never across a page boundary.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct GrantCopy {
    pub source: CopyPointer,
    pub dest: CopyPointer,
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
    /// OUT: `GNTST_*`.
    pub status: i16,
    pub _pad: u16,
}

const _: () = {
    assert!(size_of::<GrantEntryV1>() == 8);
    assert!(offset_of!(GrantEntryV1, domid) == 2);
    assert!(offset_of!(GrantEntryV1, frame) == 4);
    assert!(ENTRIES_PER_FRAME == 512);

    assert!(size_of::<MapGrantRef>() == 32);
    assert!(offset_of!(MapGrantRef, flags) == 8);
    assert!(offset_of!(MapGrantRef, gref) == 12);
    assert!(offset_of!(MapGrantRef, dom) == 16);
    assert!(offset_of!(MapGrantRef, status) == 18);
    assert!(offset_of!(MapGrantRef, handle) == 20);
    assert!(offset_of!(MapGrantRef, dev_bus_addr) == 24);

    assert!(size_of::<UnmapGrantRef>() == 24);
    assert!(offset_of!(UnmapGrantRef, dev_bus_addr) == 8);
    assert!(offset_of!(UnmapGrantRef, handle) == 16);
    assert!(offset_of!(UnmapGrantRef, status) == 20);
    assert!(size_of::<UnmapAndReplace>() == 24);
    assert!(offset_of!(UnmapAndReplace, new_addr) == 8);
    assert!(offset_of!(UnmapAndReplace, handle) == 16);
    assert!(offset_of!(UnmapAndReplace, status) == 20);

    assert!(size_of::<SetupTable>() == 24);
    assert!(offset_of!(SetupTable, nr_frames) == 4);
    assert!(offset_of!(SetupTable, status) == 8);
    assert!(offset_of!(SetupTable, frame_list) == 16);

    assert!(size_of::<QuerySize>() == 16);
    assert!(offset_of!(QuerySize, nr_frames) == 4);
    assert!(offset_of!(QuerySize, max_nr_frames) == 8);
    assert!(offset_of!(QuerySize, status) == 12);

    assert!(size_of::<CopyPointer>() == 16);
    assert!(offset_of!(CopyPointer, domid) == 8);
    assert!(offset_of!(CopyPointer, offset) == 10);
    assert!(size_of::<GrantCopy>() == 40);
    assert!(offset_of!(GrantCopy, dest) == 16);
    assert!(offset_of!(GrantCopy, len) == 32);
    assert!(offset_of!(GrantCopy, flags) == 34);
    assert!(offset_of!(GrantCopy, status) == 36);
};
