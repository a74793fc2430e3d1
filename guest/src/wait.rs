//! Waiting for events without losing a wake-up.
//!
//! Checking for work and then calling `SCHEDOP_block` races with an event
//! that arrives between the two: its upcall runs, clears
//! `evtchn_upcall_pending`, and the block then sleeps until the next event.
//! [`block_until`] checks with upcalls masked instead, so such an event only
//! marks the upcall pending, and `SCHEDOP_block`, which unmasks and checks
//! for pending work in one step, returns at once.

use crate::hypercall;

/// Calls `poll` until it returns `Some`, blocking in the hypervisor between
/// calls, and returns that value. `poll` runs with event upcalls masked, and
/// upcalls are enabled again before this function returns.
///
/// Only an event bound to this domain ends a block, so some event must be
/// due when `poll`'s condition changes, as the console's event channel is
/// for console input.
pub fn block_until<T>(mut poll: impl FnMut() -> Option<T>) -> T {
    loop {
        set_upcall_mask(1);
        if let Some(value) = poll() {
            enable_upcalls();
            return value;
        }
        hypercall::block();
    }
}

/// Unmasks event upcalls, and has a pending upcall delivered now.
pub fn enable_upcalls() {
    set_upcall_mask(0);
    let shared = crate::entry::shared_info();
    // SAFETY: shared_info is mapped for the domain's whole life. The byte
    // is read volatile because the hypervisor sets it between instructions.
    let pending = unsafe {
        core::ptr::addr_of!((*shared).vcpu_info[0].evtchn_upcall_pending).read_volatile()
    };
    if pending != 0 {
        // The hypervisor delivers pending upcalls on its way back to the
        // guest, so any cheap hypercall lets it run the handler now.
        hypercall::version();
    }
}

fn set_upcall_mask(mask: u8) {
    let shared = crate::entry::shared_info();
    // SAFETY: shared_info is mapped for the domain's whole life. A plain
    // byte store suffices because only this vCPU's hypervisor path reads the
    // mask, and the compiler fences keep it in place around the check.
    unsafe {
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        core::ptr::addr_of_mut!((*shared).vcpu_info[0].evtchn_upcall_mask).write_volatile(mask);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    }
}
