//! Grant table wrappers (`grant_table_op`, hypercall 20).
//!
//! Each wrapper runs one op and returns it with the status and outputs the
//! hypervisor wrote, or the errno when the hypercall itself failed (an op
//! array it could not read, an unknown command).

use hypercalls::grant::{
    GNTTABOP_COPY, GNTTABOP_MAP_GRANT_REF, GNTTABOP_QUERY_SIZE, GNTTABOP_SETUP_TABLE, GNTTABOP_UNMAP_AND_REPLACE,
    GNTTABOP_UNMAP_GRANT_REF, GrantCopy, GrantHandle, GrantRef, MapGrantRef, QuerySize, SetupTable, UnmapAndReplace,
    UnmapGrantRef,
};
use hypercalls::{DomId, Errno, Hypercall};

use crate::hypercall::{check, raw};

/// Runs `grant_table_op(command, ops, ops.len())`.
pub fn grant_table_op<T>(command: u64, ops: &mut [T]) -> Result<i64, Errno> {
    check(raw(Hypercall::GrantTableOp, [command, ops.as_mut_ptr() as u64, ops.len() as u64, 0, 0]))
}

/// Grows this domain's table to `frames.len()` frames and fills `frames`
/// with their machine frame numbers.
pub fn setup_table(frames: &mut [u64]) -> Result<SetupTable, Errno> {
    let mut op = SetupTable {
        dom: hypercalls::DOMID_SELF,
        nr_frames: frames.len() as u32,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    grant_table_op(GNTTABOP_SETUP_TABLE, core::slice::from_mut(&mut op))?;
    Ok(op)
}

pub fn query_size(dom: DomId) -> Result<QuerySize, Errno> {
    let mut op = QuerySize { dom, ..Default::default() };
    grant_table_op(GNTTABOP_QUERY_SIZE, core::slice::from_mut(&mut op))?;
    Ok(op)
}

/// Maps grant `gref` of domain `dom` at `host_addr` with `GNTMAP_*` `flags`.
pub fn map(host_addr: u64, flags: u32, gref: GrantRef, dom: DomId) -> Result<MapGrantRef, Errno> {
    let mut op = MapGrantRef { host_addr, flags, gref, dom, ..Default::default() };
    grant_table_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op))?;
    Ok(op)
}

/// Removes the mapping `handle` made at `host_addr`.
pub fn unmap(host_addr: u64, handle: GrantHandle) -> Result<UnmapGrantRef, Errno> {
    let mut op = UnmapGrantRef { host_addr, handle, ..Default::default() };
    grant_table_op(GNTTABOP_UNMAP_GRANT_REF, core::slice::from_mut(&mut op))?;
    Ok(op)
}

/// Removes the grant mapping `handle` made at `host_addr`, moving the entry
/// that maps `new_addr` into its place (`GNTTABOP_unmap_and_replace`).
pub fn unmap_and_replace(host_addr: u64, new_addr: u64, handle: GrantHandle) -> Result<UnmapAndReplace, Errno> {
    let mut op = UnmapAndReplace { host_addr, new_addr, handle, ..Default::default() };
    grant_table_op(GNTTABOP_UNMAP_AND_REPLACE, core::slice::from_mut(&mut op))?;
    Ok(op)
}

pub fn copy(mut op: GrantCopy) -> Result<GrantCopy, Errno> {
    grant_table_op(GNTTABOP_COPY, core::slice::from_mut(&mut op))?;
    Ok(op)
}
