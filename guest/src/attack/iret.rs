//! The `iret` hypercall with a hostile frame (A15). This crashes the calling
//! domain when the hypervisor behaves, so it is not part of the suite.

use hypercalls::Hypercall;
use hypercalls::selectors::{GUEST_KERNEL_CS, GUEST_KERNEL_SS};

/// The RIP the frame returns to: the lowest non-canonical address.
pub const HOSTILE_RIP: u64 = 0x8000_0000_0000_0000;

/// Builds an `iret_context` whose RIP is non-canonical and jumps to the
/// `iret` slot of the hypercall page. The hypervisor must refuse to return
/// there: it crashes the domain (for Dom0, the machine stops with QEMU
/// status 33) rather than fault in ring 0 on its own `iretq`.
///
/// Returns only if the hypervisor bounced an exception to the guest
/// instead, with what it bounced.
pub fn iret_to_non_canonical_rip() -> alloc::string::String {
    // SAFETY: the snippet pushes SS, RSP, RFLAGS, CS, RIP and flags, and the
    // iret slot pushes RCX, R11 and RAX to complete the frame. The frame's
    // RSP is the value before the pushes, so an exception bounced to the
    // guest resumes after the jump with the stack as it was. The snippet and
    // the slot change only the registers named as outputs.
    let guarded = unsafe {
        crate::expect_fault!(
            "mov {saved}, rsp",
            "push {ss}",
            "push {saved}",
            "pushfq",
            "push {cs}",
            "push {rip}",
            "push 0",
            "jmp {slot}";
            saved = out(reg) _,
            ss = in(reg) GUEST_KERNEL_SS as u64,
            cs = in(reg) GUEST_KERNEL_CS as u64,
            rip = in(reg) HOSTILE_RIP,
            slot = in(reg) crate::hypercall::slot_address(Hypercall::Iret as u32),
            out("rax") _,
            out("rcx") _,
            out("r11") _,
        )
    };
    match guarded.fault {
        Some(fault) => alloc::format!(
            "the hypervisor bounced {} at rip {:#x} instead of crashing the domain",
            super::check::describe_fault(fault.vector, fault.error_code),
            fault.rip
        ),
        None => alloc::string::String::from("the iret hypercall returned to the guest"),
    }
}
