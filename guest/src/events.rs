//! Event channels on the guest side: the upcall handler and VIRQ binding.
//!
//! The upcall handler follows Xen's 2-level pattern: clear
//! `evtchn_upcall_pending`, take the selector word, and for each selected
//! word take the pending, unmasked bits, clearing them in `shared_info`.
//! Ports seen are recorded in [`SEEN`] until the kernel takes them.

use crate::entry::shared_info;
use crate::hypercall;
use core::sync::atomic::{AtomicU64, Ordering};
use hypercalls::Errno;

/// Ports the guest tracks: the first 64 words of the 2-level bitmap.
const WORDS: usize = 64;

static SEEN: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_UNMASK: u64 = 9;

pub fn init() {}

/// Binds `virq` on vCPU 0 and returns its port.
pub fn bind_virq(virq: u32) -> Result<u32, Errno> {
    let mut request = [virq, 0, 0];
    hypercall::event_channel_op(EVTCHNOP_BIND_VIRQ, request.as_mut_ptr().cast())?;
    Ok(request[2])
}

/// Unmasks `port` through the hypervisor.
pub fn unmask(port: u32) -> Result<(), Errno> {
    let mut request = [port];
    hypercall::event_channel_op(EVTCHNOP_UNMASK, request.as_mut_ptr().cast()).map(|_| ())
}

/// Returns true once for each time `port` fired since the last call.
pub fn take(port: u32) -> bool {
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    word < WORDS && SEEN[word].fetch_and(!bit, Ordering::SeqCst) & bit != 0
}

/// Handles an event upcall (called with events masked).
pub fn handle_upcall() {
    let shared = shared_info();
    // SAFETY: shared_info is mapped for the domain's whole life. The fields
    // are accessed with volatile and atomic operations because the
    // hypervisor writes them between guest instructions.
    unsafe {
        core::ptr::addr_of_mut!((*shared).vcpu_info[0].evtchn_upcall_pending).write_volatile(0);
        let selector = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*shared).vcpu_info[0].evtchn_pending_sel));
        let mut words = selector.swap(0, Ordering::SeqCst);
        while words != 0 {
            let word = words.trailing_zeros() as usize;
            words &= words - 1;
            let pending = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*shared).evtchn_pending[word]));
            let mask = core::ptr::addr_of!((*shared).evtchn_mask[word]).read_volatile();
            let fired = pending.load(Ordering::SeqCst) & !mask;
            pending.fetch_and(!fired, Ordering::SeqCst);
            if word < WORDS {
                SEEN[word].fetch_or(fired, Ordering::SeqCst);
            }
        }
    }
}
