//! Choosing the next vCPU and returning to it.
//!
//! The credit scheduler ([`crate::credit`]) picks among runnable domains
//! after every entry, so a timer tick can move the CPU on. With nothing
//! runnable the CPU idles with interrupts on until an interrupt makes a vCPU
//! runnable.

use super::{HYPERVISOR, Hypervisor, traps};
use crate::arch::entry::{jump_to_guest, stage_exit_frame};
use crate::arch::time;
use hypercalls::DomId;

/// Picks the next runnable vCPU, delivers its pending events and enters it.
pub fn run_next() -> ! {
    loop {
        let mut guard = HYPERVISOR.lock();
        let hypervisor = guard.as_mut().expect("the scheduler runs after the hypervisor state exists");
        if let Some(next) = pick(hypervisor) {
            let domain = hypervisor.domain(next).expect("picked from the domain table");
            traps::deliver_events(domain);
            if !domain.is_runnable() {
                continue;
            }
            publish_time(domain);
            let slot = stage_exit_frame(&domain.vcpu.frame);
            let cr3 = domain.vcpu.cr3;
            domain.account.yielded = false;
            hypervisor.current = next;
            hypervisor.entered_at = time::rdtsc();
            drop(guard);
            // SAFETY: the domain's L4 came from the builder, which links the
            // entry area into it, and its frame was set by the builder,
            // a bounce or a sanitised iret, so CS, SS, RIP and RFLAGS are valid.
            unsafe { jump_to_guest(cr3, slot) };
        }
        drop(guard);
        idle();
    }
}

fn pick(hypervisor: &Hypervisor) -> Option<DomId> {
    // No allocation here: this runs on every return to a guest.
    let candidates = hypervisor.domains.iter().map(|(&id, domain)| (id, domain.account, domain.is_runnable()));
    crate::credit::pick_from(candidates, hypervisor.current)
}

/// Waits for one interrupt with interrupts enabled, then disables them again.
fn idle() {
    // SAFETY: `sti; hlt` enables interrupts and halts atomically (the sti
    // shadow covers hlt), so no wake-up is missed; the handlers run through
    // the trampoline's ring-0 path and return here.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}

/// Writes the current time parameters into vCPU 0's `vcpu_time_info`.
fn publish_time(domain: &mut super::domain::Domain) {
    let (base, mul) = time::time_parameters();
    // The parameters never change after boot, so a record that already
    // contains them (and whose version is even) is left alone.
    let current = domain.vcpu_info().time;
    if current.tsc_timestamp == base && current.tsc_to_system_mul == mul && current.system_time == 0 && current.tsc_shift == 0 && current.version % 2 == 0 {
        return;
    }
    domain.update_vcpu_info(|info| {
        info.time.version = info.time.version.wrapping_add(2) & !1;
        info.time.tsc_timestamp = base;
        info.time.system_time = 0;
        info.time.tsc_to_system_mul = mul;
        info.time.tsc_shift = 0;
    });
}
