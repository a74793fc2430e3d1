//! Exception handlers and the expected-fault guard.
//!
//! The hypervisor bounces exceptions here with Xen's x86_64 frame: RCX and
//! R11 on top, then an error code for vectors that have one, then a
//! hardware-like frame. Each stub pops RCX and R11, pushes a zero error code
//! where the CPU has none, pushes its vector and joins the common path, which
//! saves the registers, calls [`trap_handler`], restores them and returns
//! through the `iret` hypercall so the upcall mask is restored with the flags.
//!
//! [`expect_fault!`] runs a code snippet that is meant to fault (for self
//! tests): the handler records the exception and resumes after the snippet.

use crate::hypercall;
use core::sync::atomic::{AtomicU64, Ordering};
use hypercalls::trap::{TI_MASK_EVENTS, TrapInfo, exception_name, vector};

/// Vector number the common path uses for event upcalls.
pub const EVENT_VECTOR: u64 = 0x100;

/// Registers saved by the common path: the same layout as the hypervisor's frame.
pub use hypercalls::trap::TrapFrame as GuestFrame;

core::arch::global_asm!(
    r#"
    .section .text
    .balign 16
    .global guest_trap_stubs
guest_trap_stubs:
    .set vector, 0
    .rept 32
    .balign 32
    pop %rcx
    pop %r11
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push $0
    .endif
    push $vector
    jmp guest_trap_common
    .set vector, vector + 1
    .endr

    .balign 16
    .global guest_event_entry
guest_event_entry:
    pop %rcx
    pop %r11
    push $0
    push ${event_vector}
    jmp guest_trap_common

    .balign 16
    .global guest_failsafe_entry
guest_failsafe_entry:
    call {failsafe}
    ud2

guest_trap_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call {handler}
    mov %rbx, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    /* iret_context: the stub pushes rax, r11, rcx; we add flags = 0. */
    push $0
    jmp hypercall_page + {iret_slot}
"#,
    event_vector = const EVENT_VECTOR,
    handler = sym trap_handler,
    failsafe = sym failsafe,
    iret_slot = const hypercalls::Hypercall::Iret as u32 * 32,
    options(att_syntax)
);

unsafe extern "C" {
    static guest_trap_stubs: u8;
    static guest_event_entry: u8;
    static guest_failsafe_entry: u8;
}

/// Distance between two trap stubs.
const STUB_SPACING: u64 = 32;

/// Returns the address of the handler stub for exception vector `trap` (0-31).
pub fn stub_address(trap: u8) -> u64 {
    assert!(trap < 32, "there are trap stubs for vectors 0-31 only, not {trap}");
    &raw const guest_trap_stubs as u64 + trap as u64 * STUB_SPACING
}

/// Returns the event and failsafe callback addresses [`install`] registers.
pub fn callback_addresses() -> (u64, u64) {
    (&raw const guest_event_entry as u64, &raw const guest_failsafe_entry as u64)
}

/// Installs handlers for every exception vector and the event callbacks.
pub fn install() {
    let mut table = [TrapInfo::default(); 33];
    for trap in 0..32u8 {
        let dpl = if trap == vector::BREAKPOINT || trap == vector::OVERFLOW { 3 } else { 0 };
        table[trap as usize] = TrapInfo {
            vector: trap,
            flags: dpl | TI_MASK_EVENTS,
            cs: hypercalls::selectors::GUEST_KERNEL_CS,
            _pad: 0,
            address: stub_address(trap),
        };
    }
    if hypercall::set_trap_table(&table).is_err() {
        crate::entry::fail("set_trap_table was refused");
    }
    let (event, failsafe) = callback_addresses();
    if hypercall::set_callbacks(event, failsafe).is_err() {
        crate::entry::fail("set_callbacks was refused");
    }
}

pub use crate::fault::{Fault, Guarded};

/// Resume address while a guard is armed, 0 otherwise. [`expect_fault!`]
/// stores it from inside its `asm!` block; the handler takes it.
#[doc(hidden)]
pub static GUARD_RESUME_RIP: AtomicU64 = AtomicU64::new(0);
static FAULT_VECTOR: AtomicU64 = AtomicU64::new(u64::MAX);
static FAULT_ERROR: AtomicU64 = AtomicU64::new(0);
static FAULT_RIP: AtomicU64 = AtomicU64::new(0);

/// Forgets the previous fault; called by [`expect_fault!`] before it arms the guard.
#[doc(hidden)]
pub fn reset_guard() {
    FAULT_VECTOR.store(u64::MAX, Ordering::SeqCst);
}

/// Disarms the guard and collects what the handler recorded.
#[doc(hidden)]
pub fn finish_guard(start: u64, end: u64) -> Guarded {
    GUARD_RESUME_RIP.store(0, Ordering::SeqCst);
    let trap = FAULT_VECTOR.load(Ordering::SeqCst);
    let fault = (trap != u64::MAX).then(|| Fault {
        vector: trap as u8,
        error_code: FAULT_ERROR.load(Ordering::SeqCst),
        rip: FAULT_RIP.load(Ordering::SeqCst),
    });
    Guarded { fault, start, end }
}

/// Runs an instruction snippet that is meant to fault in ring 1, and returns
/// a [`Guarded`] with what the exception handler recorded.
///
/// The arguments are the snippet's `asm!` template strings (Intel syntax),
/// then, after a `;`, its operands in `asm!` syntax. The snippet must name
/// every register it writes as an output and must not use the labels `2:`
/// and `3:`. It must not fault more than once, because the guard catches
/// one exception. The guard then resumes after the snippet with the
/// registers the snippet had when it faulted. An `unsafe` block around the
/// call states why running the snippet is sound if it does not fault.
///
/// ```ignore
/// let guarded = guest::expect_fault!("in al, dx"; in("dx") 0x80u16, out("al") _);
/// ```
#[macro_export]
macro_rules! expect_fault {
    ($($code:literal),+ $(; $($operands:tt)*)?) => {{
        $crate::traps::reset_guard();
        let start: u64;
        let end: u64;
        core::arch::asm!(
            "lea {start}, [rip + 2f]",
            "lea {end}, [rip + 3f]",
            "mov qword ptr [rip + {resume}], {end}",
            "2:",
            $($code,)+
            "3:",
            start = out(reg) start,
            end = out(reg) end,
            resume = sym $crate::traps::GUARD_RESUME_RIP,
            $($($operands)*)?
        );
        $crate::traps::finish_guard(start, end)
    }};
}

/// Runs `hlt` in ring 1, where it must raise `#GP`, and returns what the
/// handler recorded, or `None` if the instruction did not fault.
pub fn expect_fault_hlt() -> Option<Fault> {
    // SAFETY: `hlt` either faults, and the guard resumes after it, or stops
    // this vCPU until the next interrupt; it changes no register or memory.
    let guarded = unsafe { expect_fault!("hlt") };
    guarded.fault
}

/// Clears the trap table and executes `ud2`. With no handler the hypervisor
/// crashes the domain, so this returns only when that did not happen.
pub fn fault_without_handlers() -> &'static str {
    if hypercall::set_trap_table(&[]).is_err() {
        return "set_trap_table(NULL) was refused";
    }
    // SAFETY: ud2 raises #UD; with the trap table empty the hypervisor stops
    // the domain instead of returning here.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
    install();
    "ud2 with no handler returned"
}

extern "C" fn trap_handler(frame: &mut GuestFrame) {
    if frame.vector == EVENT_VECTOR {
        crate::events::handle_upcall();
        return;
    }
    let fixup = GUARD_RESUME_RIP.swap(0, Ordering::SeqCst);
    if fixup != 0 {
        FAULT_VECTOR.store(frame.vector, Ordering::SeqCst);
        FAULT_ERROR.store(frame.error_code, Ordering::SeqCst);
        FAULT_RIP.store(frame.rip, Ordering::SeqCst);
        frame.rip = fixup;
        return;
    }
    let trap = frame.vector as u8;
    crate::println!(
        "guest: unhandled {} (vector {}) at rip {:#x}, error code {:#x}, rsp {:#x}",
        exception_name(trap),
        trap,
        frame.rip,
        frame.error_code,
        frame.rsp
    );
    if trap == vector::PAGE_FAULT {
        let shared = crate::entry::shared_info();
        // SAFETY: shared_info is mapped for the domain's whole life; the
        // read is a plain copy of an integer the hypervisor wrote.
        let cr2 = unsafe { core::ptr::addr_of!((*shared).vcpu_info[0].cr2).read_volatile() };
        crate::println!("guest: faulting address {cr2:#x}");
    }
    crate::entry::fail("unhandled exception");
}

extern "C" fn failsafe() -> ! {
    crate::entry::fail("the hypervisor entered the failsafe callback")
}
