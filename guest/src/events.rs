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

const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_CLOSE: u64 = 3;
const EVTCHNOP_SEND: u64 = 4;
const EVTCHNOP_STATUS: u64 = 5;
const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
const EVTCHNOP_UNMASK: u64 = 9;
/// `DOMID_SELF`: names the calling domain in a domain argument.
const DOMID_SELF: u16 = 0x7FF0;

/// State of a port as `EVTCHNOP_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortStatus {
    Closed,
    /// Waiting for `remote` to bind.
    Unbound { remote: u16 },
    /// Connected to `remote_port` of `remote`.
    Interdomain { remote: u16, remote_port: u32 },
    /// A VIRQ, IPI or any other state, with its `EVTCHNSTAT_*` number.
    Other(u32),
}

pub fn init() {}

/// Binds `virq` on vCPU 0 and returns its port.
pub fn bind_virq(virq: u32) -> Result<u32, Errno> {
    let mut request = [virq, 0, 0];
    hypercall::event_channel_op(EVTCHNOP_BIND_VIRQ, request.as_mut_ptr().cast())?;
    Ok(request[2])
}

/// Allocates a port that `remote` may bind to (`EVTCHNOP_alloc_unbound`).
pub fn alloc_unbound(remote: u16) -> Result<u32, Errno> {
    let mut request = [u32::from(DOMID_SELF) | u32::from(remote) << 16, 0];
    hypercall::event_channel_op(EVTCHNOP_ALLOC_UNBOUND, request.as_mut_ptr().cast())?;
    Ok(request[1])
}

/// Connects a new local port to `remote_port` of `remote`, which must be
/// unbound and waiting for this domain, and returns the local port. The
/// hypervisor raises the new port once, as Xen does.
pub fn bind_interdomain(remote: u16, remote_port: u32) -> Result<u32, Errno> {
    let mut request = [u32::from(remote), remote_port, 0];
    hypercall::event_channel_op(EVTCHNOP_BIND_INTERDOMAIN, request.as_mut_ptr().cast())?;
    Ok(request[2])
}

/// Raises the other end of `port` (`EVTCHNOP_send`).
pub fn send(port: u32) -> Result<(), Errno> {
    let mut request = [port];
    hypercall::event_channel_op(EVTCHNOP_SEND, request.as_mut_ptr().cast()).map(|_| ())
}

/// Closes `port`. An interdomain peer goes back to waiting for this domain.
pub fn close(port: u32) -> Result<(), Errno> {
    let mut request = [port];
    take(port);
    hypercall::event_channel_op(EVTCHNOP_CLOSE, request.as_mut_ptr().cast()).map(|_| ())
}

/// Returns the state of this domain's `port` (`EVTCHNOP_status`).
pub fn status(port: u32) -> Result<PortStatus, Errno> {
    let mut request = [u32::from(DOMID_SELF), port, 0, 0, 0, 0];
    hypercall::event_channel_op(EVTCHNOP_STATUS, request.as_mut_ptr().cast())?;
    Ok(match request[2] {
        0 => PortStatus::Closed,
        1 => PortStatus::Unbound { remote: request[4] as u16 },
        2 => PortStatus::Interdomain { remote: request[4] as u16, remote_port: request[5] },
        other => PortStatus::Other(other),
    })
}

/// Forgets an event on `port` that the upcall handler has not run for yet:
/// clears its pending bit in `shared_info` and its record in [`SEEN`].
pub fn discard_pending(port: u32) {
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    if word >= WORDS {
        return;
    }
    let shared = shared_info();
    // SAFETY: shared_info is mapped for the domain's whole life, and the
    // pending word is changed atomically because the hypervisor sets bits in
    // it between guest instructions.
    unsafe {
        AtomicU64::from_ptr(core::ptr::addr_of_mut!((*shared).evtchn_pending[word])).fetch_and(!bit, Ordering::SeqCst);
    }
    SEEN[word].fetch_and(!bit, Ordering::SeqCst);
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
