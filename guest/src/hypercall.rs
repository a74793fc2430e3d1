//! Typed wrappers around the hypercalls guests use.

use hypercalls::number::{HYPERCALL_SLOTS, consoleio, xenver};
use hypercalls::sched::{SCHEDOP_BLOCK, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD, SchedShutdown, ShutdownReason};
use hypercalls::sysctl::Sysctl;
use hypercalls::trap::TrapInfo;
use hypercalls::{Errno, Hypercall};

unsafe extern "C" {
    static hypercall_page: u8;
}

/// Calls hypercall `number` with up to five arguments; returns `rax`.
pub fn raw(number: Hypercall, args: [u64; 5]) -> i64 {
    let page = &raw const hypercall_page as usize;
    // SAFETY: the builder filled `hypercall_page` with stubs before entry
    // (its address is in the HYPERCALL_PAGE note); callers pass arguments
    // valid for `number`, pointing only at memory this guest owns.
    unsafe { hypercalls::call::hypercall5(page, number as u32, args) }
}

/// Calls slot `number` of the hypercall page, which need not be a hypercall
/// the hypervisor implements; returns `rax`. As with [`raw`], pointer arguments
/// must name memory the hypervisor may read or write for that hypercall.
///
/// # Panics
///
/// If `number` is beyond the page's [`HYPERCALL_SLOTS`] slots.
pub fn raw_slot(number: u32, args: [u64; 5]) -> i64 {
    assert!(number < HYPERCALL_SLOTS, "hypercall page slot {number} is beyond the page");
    let page = &raw const hypercall_page as usize;
    // SAFETY: as in `raw`. Every slot of the page contains a stub that traps
    // to the hypervisor, and the hypervisor validates the number and arguments.
    unsafe { hypercalls::call::hypercall5(page, number, args) }
}

/// Returns the address of slot `number` of the hypercall page.
pub fn slot_address(number: u32) -> u64 {
    &raw const hypercall_page as u64 + number as u64 * hypercalls::page::SLOT_SIZE as u64
}

/// Turns a hypercall's return value into a result.
pub fn check(value: i64) -> Result<i64, Errno> {
    if value >= 0 {
        return Ok(value);
    }
    Err(Errno::from_return(value).unwrap_or(Errno::EINVAL))
}

pub fn console_write(bytes: &[u8]) -> Result<i64, Errno> {
    check(raw(Hypercall::ConsoleIo, [consoleio::WRITE, bytes.len() as u64, bytes.as_ptr() as u64, 0, 0]))
}

pub fn console_read(buffer: &mut [u8]) -> Result<usize, Errno> {
    check(raw(Hypercall::ConsoleIo, [consoleio::READ, buffer.len() as u64, buffer.as_mut_ptr() as u64, 0, 0]))
        .map(|count| count as usize)
}

pub fn xen_version(command: u64, argument: *mut u8) -> Result<i64, Errno> {
    check(raw(Hypercall::XenVersion, [command, argument as u64, 0, 0, 0]))
}

/// Returns (major, minor) from `XENVER_version`.
pub fn version() -> (u32, u32) {
    let value = raw(Hypercall::XenVersion, [xenver::VERSION, 0, 0, 0, 0]) as u32;
    (value >> 16, value & 0xFFFF)
}

/// Installs `table` as the virtual IDT; an empty slice clears every entry.
pub fn set_trap_table(table: &[TrapInfo]) -> Result<i64, Errno> {
    let address = if table.is_empty() { 0 } else { table.as_ptr() as u64 };
    check(raw(Hypercall::SetTrapTable, [address, 0, 0, 0, 0]))
}

pub fn set_callbacks(event: u64, failsafe: u64) -> Result<i64, Errno> {
    check(raw(Hypercall::SetCallbacks, [event, failsafe, 0, 0, 0]))
}

pub fn update_va_mapping(address: u64, pte: u64) -> Result<i64, Errno> {
    check(raw(Hypercall::UpdateVaMapping, [address, pte, 0, 0, 0]))
}

pub fn sysctl(request: &mut Sysctl) -> Result<i64, Errno> {
    check(raw(Hypercall::Sysctl, [request as *mut Sysctl as u64, 0, 0, 0, 0]))
}

/// One `mmu_update` request: the entry's machine address (command in bits 0-1) and its new value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MmuUpdate {
    pub pointer: u64,
    pub value: u64,
}

/// One `mmuext_op` operation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuextOp {
    pub command: u32,
    pub _pad: u32,
    pub argument: u64,
    pub second: u64,
}

/// Applies page-table updates, naming `foreign` as the owner of mapped frames.
pub fn mmu_update(requests: &[MmuUpdate], foreign: u16) -> Result<i64, Errno> {
    check(raw(Hypercall::MmuUpdate, [requests.as_ptr() as u64, requests.len() as u64, 0, foreign as u64, 0]))
}

/// Runs extended MMU operations (pin, unpin, new base pointer) for `foreign`'s frames.
pub fn mmuext_op(operations: &[MmuextOp], foreign: u16) -> Result<i64, Errno> {
    check(raw(Hypercall::MmuextOp, [operations.as_ptr() as u64, operations.len() as u64, 0, foreign as u64, 0]))
}

pub fn domctl(request: &mut hypercalls::domctl::Domctl) -> Result<i64, Errno> {
    check(raw(Hypercall::Domctl, [request as *mut hypercalls::domctl::Domctl as u64, 0, 0, 0, 0]))
}

pub fn memory_op(command: u64, argument: *mut u8) -> Result<i64, Errno> {
    check(raw(Hypercall::MemoryOp, [command, argument as u64, 0, 0, 0]))
}

pub fn event_channel_op(command: u64, argument: *mut u8) -> Result<i64, Errno> {
    check(raw(Hypercall::EventChannelOp, [command, argument as u64, 0, 0, 0]))
}

pub fn yield_now() {
    raw(Hypercall::SchedOp, [SCHEDOP_YIELD, 0, 0, 0, 0]);
}

/// Sleeps until an event is pending; enables event delivery first.
pub fn block() {
    raw(Hypercall::SchedOp, [SCHEDOP_BLOCK, 0, 0, 0, 0]);
}

/// Stops the domain with `reason`. Returns only if the hypervisor refused.
pub fn shutdown(reason: ShutdownReason) -> Errno {
    let request = SchedShutdown { reason: reason as u32 };
    let value = raw(Hypercall::SchedOp, [SCHEDOP_SHUTDOWN, &request as *const SchedShutdown as u64, 0, 0, 0]);
    check(value).err().unwrap_or(Errno::EINVAL)
}
