//! Exceptions from guests: bouncing them to the guest's handlers, or
//! crashing the domain when it has none.
//!
//! A bounce writes Xen's x86_64 frame on the guest kernel stack (RSP aligned
//! down to 16 bytes), from the lowest address up: RCX, R11, the error code
//! (only for vectors that have one), RIP, CS with the saved upcall mask in
//! bits 32-39, RFLAGS with IF showing the saved mask inverted, RSP, SS. The
//! guest handler starts with `pop rcx; pop r11` and then sees a
//! hardware-like frame. Guest kernel context keeps its real CS (RPL 1), so
//! the handler may return with a plain `iretq`, or with the `iret`
//! hypercall to restore the upcall mask as well.

use super::domain::{Domain, DomainState};
use super::guestmem::GuestMemory;
use crate::arch::entry::TrapFrame;
use crate::arch::{self, layout, power};
use hypercalls::selectors;
use hypercalls::trap::{BOUNCE_CS_MASK_SHIFT, TI_MASK_EVENTS, exception_name, has_error_code, vector};
use log::{error, info};

const RFLAGS_IF: u64 = 1 << 9;
/// Flags cleared on entry to a guest handler: TF, NT, RF, AC, VM.
const RFLAGS_CLEARED_ON_BOUNCE: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 18) | (1 << 17);

/// A reason a bounce could not be delivered.
#[derive(Debug, Clone, Copy)]
pub enum BounceError {
    /// The guest stack is not mapped writable for the whole frame.
    StackUnwritable(u64),
    /// A fault from guest user mode with no kernel stack registered.
    NoKernelStack,
}

/// Builds a bounce frame and points the vCPU at `handler`.
pub fn bounce(domain: &mut Domain, trap: u8, error_code: Option<u64>, handler: u64, mask_events: bool) -> Result<(), BounceError> {
    let saved_mask = domain.vcpu_info().evtchn_upcall_mask != 0;
    let frame = domain.vcpu.frame;
    let from_user = selectors::rpl(frame.cs) == 3;
    let stack = if from_user { domain.vcpu.kernel_sp } else { frame.rsp };
    if from_user && stack == 0 {
        return Err(BounceError::NoKernelStack);
    }

    let guest_rflags = (frame.rflags & !RFLAGS_IF) | if saved_mask { 0 } else { RFLAGS_IF };
    let mut words = [0u64; 8];
    let mut count = 0;
    let mut push = |value: u64| {
        words[count] = value;
        count += 1;
    };
    push(frame.rcx);
    push(frame.r11);
    if let Some(code) = error_code {
        push(code);
    }
    push(frame.rip);
    push(frame.cs | u64::from(saved_mask) << BOUNCE_CS_MASK_SHIFT);
    push(guest_rflags);
    push(frame.rsp);
    push(frame.ss);

    let bytes = count as u64 * 8;
    let top = stack & !15;
    let base = top.checked_sub(bytes).ok_or(BounceError::StackUnwritable(stack))?;
    let memory = GuestMemory::new(domain.id, domain.vcpu.cr3);
    let mut raw = [0u8; 64];
    for (index, word) in words[..count].iter().enumerate() {
        raw[index * 8..index * 8 + 8].copy_from_slice(&word.to_le_bytes());
    }
    memory.write_bytes(base, &raw[..count * 8]).map_err(|_| BounceError::StackUnwritable(base))?;

    let vcpu = &mut domain.vcpu;
    vcpu.frame.rsp = base;
    vcpu.frame.rip = handler;
    vcpu.frame.cs = selectors::GUEST_KERNEL_CS as u64;
    vcpu.frame.ss = selectors::GUEST_KERNEL_SS as u64;
    vcpu.frame.rflags = (frame.rflags & !RFLAGS_CLEARED_ON_BOUNCE) | RFLAGS_IF;
    if mask_events {
        domain.update_vcpu_info(|info| info.evtchn_upcall_mask = 1);
    }
    let _ = trap;
    Ok(())
}

/// Handles an exception a guest raised: bounce it to the handler from the
/// guest's trap table, or crash the domain when there is none.
pub fn guest_exception(domain: &mut Domain, frame: &TrapFrame) {
    let trap = frame.vector as u8;
    if trap == vector::PAGE_FAULT {
        let cr2: u64;
        // SAFETY: reading CR2 has no side effects.
        unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        domain.update_vcpu_info(|info| info.cr2 = cr2);
    }
    let entry = domain.vcpu.trap_table[trap as usize];
    let error_code = has_error_code(trap).then_some(frame.error_code);
    if entry.address == 0 {
        let reason = alloc::format!(
            "{} (vector {}) with no handler registered, error code {:#x}",
            exception_name(trap),
            trap,
            frame.error_code
        );
        crash(domain, &reason);
        return;
    }
    if let Err(problem) = bounce(domain, trap, error_code, entry.address, entry.flags & TI_MASK_EVENTS != 0) {
        let reason = alloc::format!("cannot deliver {} to its handler: {:?}", exception_name(trap), problem);
        crash(domain, &reason);
    }
}

/// Delivers a pending event upcall if the guest has events unmasked.
pub fn deliver_events(domain: &mut Domain) {
    let info = domain.vcpu_info();
    let callback = domain.vcpu.event_callback;
    if info.evtchn_upcall_pending == 0 || info.evtchn_upcall_mask != 0 || callback == 0 {
        return;
    }
    if let Err(problem) = bounce(domain, 0, None, callback, true) {
        let reason = alloc::format!("cannot deliver an event upcall: {problem:?}");
        crash(domain, &reason);
    }
}

/// Crashes a domain: logs the reason and its registers. A crashed Dom0 takes
/// the machine down with a failure code, as Xen reboots when Dom0 dies.
pub fn crash(domain: &mut Domain, reason: &str) {
    error!("d{}: domain crashed: {}", domain.id, reason);
    let frame = domain.vcpu.frame;
    domain.record_failure("crash", frame.rip, alloc::string::String::from(reason));
    domain.state = DomainState::Crashed;
    if domain.id == 0 {
        error!("d0: Dom0 crashed, registers follow; powering off with a failure code");
        arch::dump_registers("(hospes) d0", &frame);
        power::fail(power::EXIT_DOM0_CRASHED);
    }
    info!("d{}: crashed; Dom0's toolstack applies its on_crash action", domain.id);
}

/// Checks a frame a guest asked to return to, fixing selectors and flags the
/// way Xen's `iret` does; returns `false` for a RIP the CPU would refuse.
pub fn sanitize_return_frame(frame: &mut TrapFrame) -> bool {
    if selectors::rpl(frame.cs) == 3 {
        frame.cs = selectors::GUEST_USER_CS as u64;
        frame.ss = selectors::GUEST_USER_SS as u64;
    } else {
        frame.cs = selectors::GUEST_KERNEL_CS as u64;
        frame.ss = selectors::GUEST_KERNEL_SS as u64;
    }
    // IOPL 0, no NT, VM, RF, VIF or VIP; interrupts always on for real.
    const RFLAGS_GUEST_BITS: u64 = 0x0000_0000_0024_0DD5;
    frame.rflags = (frame.rflags & RFLAGS_GUEST_BITS) | RFLAGS_IF | 0x2;
    layout::is_canonical(frame.rip) && !layout::is_reserved(frame.rip)
}
