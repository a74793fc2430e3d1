//! Handling of guest entries, from the trampoline to the next return to a guest.

use super::hypercall::{self, Outcome};
use super::{HYPERVISOR, event, sched, traps};
use crate::arch::entry::TrapFrame;
use crate::arch::serial::CONSOLE;
use crate::arch::time::{self, IRQ_BASE, IRQ_COM1, IRQ_TIMER};
use hypercalls::page::HYPERCALL_VECTOR;
use hypercalls::trap::vector;

/// Entered by the trampoline, on the hypervisor stack with the hypervisor's
/// page tables, for every event that interrupted a guest. `frame` points at
/// the entry stack, which the guest can write, so it is copied first.
pub extern "C" fn guest_entry(frame: *const TrapFrame) -> ! {
    if !crate::arch::cpu::stack_canary_intact() {
        panic!("the hypervisor stack overflowed (canary overwritten) before an entry from a guest");
    }
    let now = time::rdtsc();
    {
        let mut guard = HYPERVISOR.lock();
        let hypervisor = guard.as_mut().expect("guests run only after the hypervisor state exists");
        let current = hypervisor.current;
        let entered_at = hypervisor.entered_at;
        let Some(domain) = hypervisor.domain(current) else {
            drop(guard);
            sched::run_next()
        };
        // SAFETY: the trampoline passes the frame it just pushed on the entry
        // stack, which is mapped in the hypervisor's tables. It is copied
        // once, straight into the vCPU, and nothing later reads the entry
        // stack, memory a guest could change.
        domain.vcpu.frame = unsafe { frame.read() };
        domain.vcpu.cpu_tsc += now.saturating_sub(entered_at);
        let before = domain.state;
        let trap = domain.vcpu.frame.vector as u8;
        let outcome = handle(hypervisor, current, trap);

        // One lookup serves the result and the state check, because this
        // runs on every entry. The handler may have destroyed the domain.
        if let Some(domain) = hypervisor.domain(current) {
            if let Some(outcome) = outcome {
                apply_outcome(domain, outcome);
            }
            let after = domain.state;
            super::domctl::notify_if_changed(hypervisor, current, before, after);
        }
    }
    sched::run_next()
}

/// Length of `int $0x82`, the instruction a continuation re-executes.
const HYPERCALL_INSTRUCTION_LENGTH: u64 = 2;

/// Stores a hypercall's outcome in the caller's registers.
fn apply_outcome(domain: &mut super::domain::Domain, outcome: Outcome) {
    let frame = &mut domain.vcpu.frame;
    match outcome {
        Outcome::Return(value) => frame.rax = value as u64,
        Outcome::Replaced => {}
        Outcome::Continue(arguments) => {
            // `rax` still contains the hypercall number, and the guest
            // executes `int $0x82` (2 bytes) again on return.
            [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8] = arguments;
            frame.rip = frame.rip.wrapping_sub(HYPERCALL_INSTRUCTION_LENGTH);
            log::debug!("d{}: hypercall {} preempted; it resumes when the guest runs again", domain.id, frame.rax);
        }
    }
}

/// Handles one entry of domain `current` through vector `trap`, and returns
/// a hypercall's outcome for the caller to store.
fn handle(hypervisor: &mut super::Hypervisor, current: hypercalls::DomId, trap: u8) -> Option<Outcome> {
    match trap {
        HYPERCALL_VECTOR => return Some(hypercall::dispatch(hypervisor, current)),
        vector::NMI => log::warn!("NMI while d{current} was running; ignored"),
        vector::MACHINE_CHECK => {
            let frame = hypervisor.domain(current).map(|domain| domain.vcpu.frame).unwrap_or_default();
            crate::arch::fatal_exception(&frame);
        }
        0..32 => {
            if let Some(domain) = hypervisor.domain(current) {
                let frame = domain.vcpu.frame;
                traps::guest_exception(domain, &frame);
            }
        }
        _ if (IRQ_BASE..IRQ_BASE + 16).contains(&trap) => {
            if trap == IRQ_BASE + IRQ_TIMER
                && let Some(domain) = hypervisor.domain(current)
            {
                domain.account.charge_tick();
            }
            handle_irq(hypervisor, trap)
        }
        _ => log::warn!("d{current}: unexpected vector {trap} from a guest; ignored"),
    }
    None
}

/// Handles a device interrupt: the timer tick or serial input.
pub fn handle_irq(hypervisor: &mut super::Hypervisor, trap: u8) {
    match trap - IRQ_BASE {
        IRQ_TIMER => {
            time::on_tick();
            fire_timers(hypervisor);
            if time::ticks() % crate::credit::TICKS_PER_PERIOD == 0 {
                let mut accounts: alloc::vec::Vec<&mut crate::credit::Account> =
                    hypervisor.domains.values_mut().map(|domain| &mut domain.account).collect();
                crate::credit::distribute(&mut accounts);
            }
        }
        IRQ_COM1 => {
            let (arrived, dropped) = {
                let mut console = CONSOLE.lock();
                (console.poll_input(), console.take_dropped_input_report())
            };
            if dropped {
                log::warn!("console input is arriving faster than Dom0 reads it; further bytes are dropped until it catches up");
            }
            if arrived > 0
                && let Some(dom0) = hypervisor.domain(0)
            {
                event::send_virq(dom0, event::VIRQ_CONSOLE);
            }
        }
        _ => {}
    }
    time::end_of_interrupt(trap);
}

/// Raises `VIRQ_TIMER` for every vCPU whose `set_timer_op` deadline passed.
fn fire_timers(hypervisor: &mut super::Hypervisor) {
    let now = time::uptime_ns();
    for domain in hypervisor.domains.values_mut() {
        if domain.vcpu.timer_deadline.is_some_and(|deadline| deadline <= now) {
            domain.vcpu.timer_deadline = None;
            event::send_virq(domain, event::VIRQ_TIMER);
        }
        if domain.vcpu.poll_deadline.is_some_and(|deadline| deadline <= now) {
            domain.end_poll();
        }
    }
}

/// Entered by the trampoline for events that interrupted the hypervisor
/// itself: interrupts while idle, or a hypervisor fault.
pub extern "C" fn hypervisor_entry(frame: *mut TrapFrame) {
    // SAFETY: the trampoline passes the frame it pushed on the current
    // hypervisor stack, valid until this function returns.
    let frame = unsafe { &*frame };
    let trap = frame.vector as u8;
    if (IRQ_BASE..IRQ_BASE + 16).contains(&trap) {
        let mut guard = HYPERVISOR.lock();
        match guard.as_mut() {
            Some(hypervisor) => handle_irq(hypervisor, trap),
            None => time::end_of_interrupt(trap),
        }
        return;
    }
    if trap == vector::NMI {
        log::warn!("NMI in the hypervisor; ignored");
        return;
    }
    crate::arch::fatal_exception(frame)
}
