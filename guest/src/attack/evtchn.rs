//! Event channels seen from a DomU with `selftest=evtchn`: masking and
//! delivery (an event held back by the mask arrives exactly once on
//! unmask), port exhaustion (A30), binding and permission checks (A32),
//! and ports used after close (A33).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use hypercalls::Errno;

use super::suite::Case;
use crate::{events, hypercall, wait};

const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_CLOSE: u64 = 3;
const EVTCHNOP_SEND: u64 = 4;
const EVTCHNOP_STATUS: u64 = 5;
const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
const EVTCHNOP_BIND_IPI: u64 = 7;
const EVTCHNOP_UNMASK: u64 = 9;
const EVTCHNOP_RESET: u64 = 10;
/// `VIRQ_DEBUG`, a VIRQ nothing else in a DomU binds.
const VIRQ_DEBUG: u32 = 1;
const DOMID_SELF: u32 = 0x7FF0;
/// The most ports a domain may open, port 0 included (the hypervisor's limit).
const MAX_PORTS: u32 = 1024;

pub fn add_cases(cases: &mut Vec<Case>) {
    cases.push(Case::new("E01", "an IPI sent while masked stays pending and arrives once on unmask", masked_event_arrives_once));
    cases.push(Case::new("E02", "loopback channel: send on one end raises the other once", loopback_channel));
    cases.push(Case::new("A30a", "ports run out with ENOSPC at the per-domain limit, and close frees them", port_exhaustion));
    cases.push(Case::new("A30b", "SCHEDOP_poll on ports never allocated, port 0 or too many ports gives EINVAL", poll_rejects_bad_ports));
    cases.push(Case::new("A30c", "SCHEDOP_poll with an unreadable port list gives EFAULT", poll_bad_pointer));
    cases.push(Case::new("A30d", "SCHEDOP_poll returns at once for a pending port and on a past time-out", poll_returns));
    cases.push(Case::new("A30e", "pending bits for ports that do not exist are ignored", stray_pending_bits));
    cases.push(Case::new("A32a", "bind_interdomain to a port not waiting for this domain gives EINVAL", bind_to_foreign_port));
    cases.push(Case::new("A32b", "bind_interdomain to a missing domain gives ESRCH", bind_to_missing_domain));
    cases.push(Case::new("A32c", "alloc_unbound owned by Dom0 gives EPERM", alloc_for_other_domain));
    cases.push(Case::new("A32d", "status and reset of Dom0 give EPERM", other_domain_queries));
    cases.push(Case::new("A32e", "send on a VIRQ port gives EINVAL, binding it twice EEXIST", virq_port_rules));
    cases.push(Case::new("A33a", "a closed port cannot be sent on, closed again or unmasked into life", closed_port_is_dead));
}

/// Calls `event_channel_op(command, words)` and returns the raw result.
fn op(command: u64, words: &mut [u32]) -> i64 {
    hypercall::raw(hypercalls::Hypercall::EventChannelOp, [command, words.as_mut_ptr() as u64, 0, 0, 0])
}

/// Checks a result against an expected errno (or 0).
fn expect(what: &str, value: i64, expected: Option<Errno>) -> Result<(), String> {
    let wanted = expected.map_or(0, Errno::to_return);
    if value == wanted {
        return Ok(());
    }
    Err(format!("{what} returned {value}, expected {wanted}"))
}

fn bind_ipi() -> Result<u32, String> {
    let mut request = [0u32, 0];
    expect("bind_ipi", op(EVTCHNOP_BIND_IPI, &mut request), None)?;
    Ok(request[1])
}

fn close(port: u32) -> i64 {
    op(EVTCHNOP_CLOSE, &mut [port])
}

fn send(port: u32) -> i64 {
    op(EVTCHNOP_SEND, &mut [port])
}

/// Word `port / 64` of the pending or mask bitmap in `shared_info`.
fn bitmap_word(mask: bool, port: u32) -> &'static AtomicU64 {
    let shared = crate::entry::shared_info();
    let index = (port / 64) as usize;
    // SAFETY: shared_info is mapped for the domain's whole life, the index is
    // below 64 for every port under the limit, and the hypervisor only
    // writes these words between guest instructions.
    unsafe {
        let word = if mask {
            core::ptr::addr_of_mut!((*shared).evtchn_mask[index])
        } else {
            core::ptr::addr_of_mut!((*shared).evtchn_pending[index])
        };
        AtomicU64::from_ptr(word)
    }
}

fn is_pending(port: u32) -> bool {
    bitmap_word(false, port).load(Ordering::SeqCst) & (1 << (port % 64)) != 0
}

/// Lets the hypervisor deliver any upcall now (every return from a hypercall does).
fn let_upcalls_run() {
    wait::enable_upcalls();
    hypercall::yield_now();
}

fn masked_event_arrives_once() -> Result<(), String> {
    let port = bind_ipi()?;
    let bit = 1u64 << (port % 64);
    bitmap_word(true, port).fetch_or(bit, Ordering::SeqCst);
    let_upcalls_run();
    events::take(port);

    expect("send on the masked IPI port", send(port), None)?;
    let_upcalls_run();
    if events::take(port) {
        return Err(String::from("the masked event was delivered before the unmask"));
    }
    if !is_pending(port) {
        return Err(String::from("the masked event is not pending in shared_info"));
    }
    let mut request = [port];
    expect("EVTCHNOP_unmask", op(EVTCHNOP_UNMASK, &mut request), None)?;
    let_upcalls_run();
    if !events::take(port) {
        return Err(String::from("unmask did not deliver the held-back event"));
    }
    let_upcalls_run();
    if events::take(port) {
        return Err(String::from("the event was delivered twice"));
    }
    expect("close", close(port), None)
}

fn loopback_channel() -> Result<(), String> {
    let mut unbound = [DOMID_SELF | (DOMID_SELF << 16), 0];
    expect("alloc_unbound to itself", op(EVTCHNOP_ALLOC_UNBOUND, &mut unbound), None)?;
    let first = unbound[1];
    let mut bind = [DOMID_SELF, first, 0];
    expect("bind_interdomain to itself", op(EVTCHNOP_BIND_INTERDOMAIN, &mut bind), None)?;
    let second = bind[2];
    let_upcalls_run();
    events::take(first);
    events::take(second);

    expect("send on the first end", send(first), None)?;
    let_upcalls_run();
    if !events::take(second) {
        return Err(String::from("the second end did not fire"));
    }
    if events::take(first) {
        return Err(String::from("the sending end fired too"));
    }
    expect("close the first end", close(first), None)?;
    let mut status = [DOMID_SELF, second, 0, 0, 0, 0];
    expect("status of the second end", op(EVTCHNOP_STATUS, &mut status), None)?;
    if status[2] != 1 {
        return Err(format!("after the peer closed, the second end has status {}, expected 1 (unbound)", status[2]));
    }
    expect("close the second end", close(second), None)
}

fn port_exhaustion() -> Result<(), String> {
    let mut taken = Vec::new();
    let result = loop {
        let mut request = [0u32, 0];
        let value = op(EVTCHNOP_BIND_IPI, &mut request);
        if value == 0 {
            taken.push(request[1]);
            if taken.len() > MAX_PORTS as usize {
                break Err(format!("more than {MAX_PORTS} ports were handed out"));
            }
            continue;
        }
        break expect("bind_ipi at the limit", value, Some(Errno::ENOSPC));
    };
    let highest = taken.iter().copied().max().unwrap_or(0);
    for &port in &taken {
        let _ = close(port);
    }
    result?;
    if highest != MAX_PORTS - 1 {
        return Err(format!("the last port handed out was {highest}, expected {}", MAX_PORTS - 1));
    }
    let port = bind_ipi()?;
    expect("close after exhaustion", close(port), None)
}

/// `SCHEDOP_poll` with `nr_ports` ports at `ports` and absolute `timeout`.
fn poll(ports: u64, nr_ports: u64, timeout: u64) -> i64 {
    let request = [ports, nr_ports, timeout];
    hypercall::raw(
        hypercalls::Hypercall::SchedOp,
        [hypercalls::sched::SCHEDOP_POLL, request.as_ptr() as u64, 0, 0, 0],
    )
}

fn poll_rejects_bad_ports() -> Result<(), String> {
    for port in [MAX_PORTS, MAX_PORTS + 1, 1 << 17, u32::MAX, 0] {
        let list = [port];
        expect(&format!("poll on port {port}"), poll(list.as_ptr() as u64, 1, 1), Some(Errno::EINVAL))?;
    }
    let many = [1u32; 129];
    expect("poll on 129 ports", poll(many.as_ptr() as u64, 129, 1), Some(Errno::EINVAL))?;
    expect("poll with nr_ports 2^32 - 1", poll(many.as_ptr() as u64, u32::MAX as u64, 1), Some(Errno::EINVAL))
}

fn poll_bad_pointer() -> Result<(), String> {
    expect("poll with ports at 0x1000", poll(0x1000, 1, 1), Some(Errno::EFAULT))?;
    expect("poll with non-canonical ports", poll(0x8000_0000_0000_0000, 1, 1), Some(Errno::EFAULT))
}

fn poll_returns() -> Result<(), String> {
    let port = bind_ipi()?;
    let list = [port];
    // Timeout 1 ns after boot: already past, so the poll returns at once.
    expect("poll with a past time-out", poll(list.as_ptr() as u64, 1, 1), None)?;
    // Masked, the event stays pending instead of being taken by the upcall.
    let bit = 1u64 << (port % 64);
    bitmap_word(true, port).fetch_or(bit, Ordering::SeqCst);
    expect("send on the IPI port", send(port), None)?;
    if !is_pending(port) {
        return Err(String::from("the IPI port is not pending after send"));
    }
    expect("poll on a pending port", poll(list.as_ptr() as u64, 1, 0), None)?;
    bitmap_word(false, port).fetch_and(!bit, Ordering::SeqCst);
    bitmap_word(true, port).fetch_and(!bit, Ordering::SeqCst);
    let_upcalls_run();
    events::take(port);
    expect("close", close(port), None)
}

fn stray_pending_bits() -> Result<(), String> {
    // Port 2000 lies beyond the domain's ports; setting its pending bit and
    // its selector must change nothing the hypervisor relies on.
    let port = 2000u32;
    let bit = 1u64 << (port % 64);
    bitmap_word(false, port).fetch_or(bit, Ordering::SeqCst);
    let_upcalls_run();
    let mut status = [DOMID_SELF, port, 0, 0, 0, 0];
    let outcome = expect("status of port 2000", op(EVTCHNOP_STATUS, &mut status), Some(Errno::EINVAL));
    bitmap_word(false, port).fetch_and(!bit, Ordering::SeqCst);
    outcome?;
    expect("send on port 2000", send(port), Some(Errno::EINVAL))
}

fn bind_to_foreign_port() -> Result<(), String> {
    // Port 1 of Dom0 is a VIRQ, never an unbound port waiting for a DomU.
    let mut bind = [0u32, 1, 0];
    expect("bind_interdomain to Dom0 port 1", op(EVTCHNOP_BIND_INTERDOMAIN, &mut bind), Some(Errno::EINVAL))?;
    let mut beyond = [0u32, 5000, 0];
    expect("bind_interdomain to Dom0 port 5000", op(EVTCHNOP_BIND_INTERDOMAIN, &mut beyond), Some(Errno::EINVAL))
}

fn bind_to_missing_domain() -> Result<(), String> {
    let mut bind = [0x7000u32, 1, 0];
    expect("bind_interdomain to domain 0x7000", op(EVTCHNOP_BIND_INTERDOMAIN, &mut bind), Some(Errno::ESRCH))
}

fn alloc_for_other_domain() -> Result<(), String> {
    // dom = 0 (Dom0) in the low half, remote_dom = DOMID_SELF in the high half.
    let mut request = [DOMID_SELF << 16, 0];
    expect("alloc_unbound owned by Dom0", op(EVTCHNOP_ALLOC_UNBOUND, &mut request), Some(Errno::EPERM))
}

fn other_domain_queries() -> Result<(), String> {
    let mut status = [0u32, 1, 0, 0, 0, 0];
    expect("status of Dom0's port 1", op(EVTCHNOP_STATUS, &mut status), Some(Errno::EPERM))?;
    let mut reset = [0u32];
    expect("reset of Dom0", op(EVTCHNOP_RESET, &mut reset), Some(Errno::EPERM))
}

fn virq_port_rules() -> Result<(), String> {
    let mut bind = [VIRQ_DEBUG, 0, 0];
    expect("bind_virq VIRQ_DEBUG", op(EVTCHNOP_BIND_VIRQ, &mut bind), None)?;
    let port = bind[2];
    let outcome = expect("send on a VIRQ port", send(port), Some(Errno::EINVAL)).and_then(|()| {
        let mut again = [VIRQ_DEBUG, 0, 0];
        expect("bind_virq VIRQ_DEBUG again", op(EVTCHNOP_BIND_VIRQ, &mut again), Some(Errno::EEXIST))
    });
    let closed = expect("close the VIRQ port", close(port), None);
    outcome.and(closed)
}

fn closed_port_is_dead() -> Result<(), String> {
    let port = bind_ipi()?;
    expect("close", close(port), None)?;
    expect("send on a closed port", send(port), Some(Errno::EINVAL))?;
    expect("close a closed port", close(port), Some(Errno::EINVAL))?;
    expect("close port 0", close(0), Some(Errno::EINVAL))?;
    let mut status = [DOMID_SELF, port, 0, 0, 0, 0];
    expect("status of a closed port", op(EVTCHNOP_STATUS, &mut status), None)?;
    if status[2] != 0 {
        return Err(format!("a closed port has status {}, expected 0 (closed)", status[2]));
    }
    let mut unmask = [MAX_PORTS + 5];
    expect("unmask beyond the table", op(EVTCHNOP_UNMASK, &mut unmask), Some(Errno::EINVAL))
}
