//! The one-shot timer of `set_timer_op`, seen from a DomU with
//! `selftest=timer`.
//!
//! `set_timer_op(deadline)` arms `VIRQ_TIMER` for an absolute system time in
//! nanoseconds, 0 cancels it, and a deadline already past fires at once.
//! The cases bind `VIRQ_TIMER`, arm the timer, and block in the hypervisor
//! until the event arrives, then compare the wake-up time with the deadline
//! ([`check_wake`]).
//!
//! The hypervisor fires timers from its own periodic tick, and under QEMU
//! TCG the DomU may wait for Dom0 to give up the CPU. The upper bounds are
//! therefore generous: they catch a timer that never fires or fires seconds
//! late, not small delays.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use hypercalls::Hypercall;

use super::check::{Expected, check_return, check_wake};
use super::suite::Case;
use crate::hypercall::raw;
use crate::{events, hypercall, wait};

/// `VIRQ_TIMER`.
const VIRQ_TIMER: u32 = 0;

const MILLISECOND: u64 = 1_000_000;
/// How far ahead the first case arms the timer.
const AHEAD: u64 = 200 * MILLISECOND;
/// Latest acceptable wake-up after a deadline.
const LATE_BOUND: u64 = 5_000 * MILLISECOND;
/// How long a cancelled timer must stay silent.
const CANCEL_WINDOW: u64 = 500 * MILLISECOND;
/// Latest acceptable wake-up for a deadline already past when it is set.
const PAST_BOUND: u64 = 1_000 * MILLISECOND;

/// The port `VIRQ_TIMER` is bound to, or `u32::MAX` before the first case binds it.
static PORT: AtomicU32 = AtomicU32::new(u32::MAX);

pub fn add_cases(cases: &mut Vec<Case>) {
    cases.push(Case::new("T01", "set_timer_op 200 ms ahead wakes the blocked vCPU with VIRQ_TIMER", timer_wakes_after_deadline));
    cases.push(Case::new("T02", "set_timer_op(0) cancels: no VIRQ_TIMER within 500 ms", cancel_stays_silent));
    cases.push(Case::new("T03", "set_timer_op with a deadline 1 ms past fires at once", past_deadline_fires));
}

/// Binds `VIRQ_TIMER` once and returns its port, with no stale event recorded.
fn timer_port() -> Result<u32, String> {
    let mut port = PORT.load(Ordering::SeqCst);
    if port == u32::MAX {
        port = events::bind_virq(VIRQ_TIMER).map_err(|errno| format!("precondition: binding VIRQ_TIMER failed: {errno}"))?;
        PORT.store(port, Ordering::SeqCst);
    }
    wait::enable_upcalls();
    events::take(port);
    Ok(port)
}

fn now() -> Result<u64, String> {
    crate::time::system_time_ns().ok_or_else(|| String::from("precondition: the hypervisor publishes no system time"))
}

fn set_timer(deadline: u64) -> Result<(), String> {
    check_return(Expected::Returns(0), raw(Hypercall::SetTimerOp, [deadline, 0, 0, 0, 0]))
        .map_err(|problem| format!("set_timer_op({deadline}) {problem}"))
}

/// Blocks until `port` fires and returns the system time after the wake-up.
fn block_until_fired(port: u32) -> Result<u64, String> {
    wait::block_until(|| events::take(port).then_some(()));
    now()
}

fn timer_wakes_after_deadline() -> Result<(), String> {
    let port = timer_port()?;
    let deadline = now()? + AHEAD;
    set_timer(deadline)?;
    let woke = block_until_fired(port)?;
    check_wake(deadline, woke, LATE_BOUND)
}

/// Arms the timer, cancels it, and keeps the vCPU running (so an event would
/// be delivered at once) past the cancelled deadline. A second deadline then
/// shows the timer still works.
fn cancel_stays_silent() -> Result<(), String> {
    let port = timer_port()?;
    let start = now()?;
    set_timer(start + AHEAD)?;
    set_timer(0)?;
    while now()? < start + CANCEL_WINDOW {
        wait::enable_upcalls();
        if events::take(port) {
            return Err(format!("VIRQ_TIMER fired {} ms after a cancelled 200 ms timer was set", (now()? - start) / MILLISECOND));
        }
        hypercall::yield_now();
    }
    let deadline = now()? + 50 * MILLISECOND;
    set_timer(deadline)?;
    let woke = block_until_fired(port)?;
    check_wake(deadline, woke, LATE_BOUND).map_err(|problem| format!("the timer set after the cancel {problem}"))
}

fn past_deadline_fires() -> Result<(), String> {
    let port = timer_port()?;
    let set_at = now()?;
    set_timer(set_at - MILLISECOND)?;
    let woke = block_until_fired(port)?;
    check_wake(set_at, woke, PAST_BOUND)
}
