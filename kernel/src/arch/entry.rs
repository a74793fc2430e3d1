//! The entry trampoline: every interrupt, exception and hypercall comes in here.
//!
//! The code lives in `.entry_text`, mapped read-only and executable at
//! [`layout::ENTRY_TEXT`] in every address space, because the CPU starts it
//! while a guest's CR3 is still loaded. Each of the 256 vectors has a 16-byte
//! stub that pushes an error code (0 where the CPU pushes none) and the
//! vector number, then jumps to the common path. The common path pushes the
//! general registers, which completes a [`TrapFrame`]:
//!
//! | offset | contents                         | pushed by      |
//! |--------|----------------------------------|----------------|
//! | 0      | r15 ... rax (15 registers)       | common path    |
//! | 120    | vector                           | stub           |
//! | 128    | error code                       | CPU or stub    |
//! | 136    | rip, cs, rflags, rsp, ss         | CPU            |
//!
//! Steps from a guest (the saved CS has a nonzero RPL):
//! 1. the CPU switched to the entry stack (TSS.RSP0) and pushed its frame;
//! 2. the common path pushes the registers, loads the hypervisor's CR3 from
//!    the trampoline data page and moves to the hypervisor stack;
//! 3. it calls [`guest_entry`](crate::hv::entry::guest_entry) with the
//!    frame's address, which copies the frame off the entry stack first and
//!    never returns: it leaves through [`stage_exit_frame`] and [`jump_to_guest`].
//!
//! From ring 0 (the idle loop, or a hypervisor fault) there is no CR3 or
//! stack switch: the common path calls
//! [`hypervisor_entry`](crate::hv::entry::hypervisor_entry) and returns with
//! `iretq`.

use super::layout;
use core::mem::offset_of;

pub use hypercalls::trap::TrapFrame;

/// Size of one vector stub in bytes.
pub const STUB_SIZE: u64 = 16;

const FRAME_CS: usize = offset_of!(TrapFrame, cs) - offset_of!(TrapFrame, vector);
const FRAME_VECTOR: usize = offset_of!(TrapFrame, vector);

core::arch::global_asm!(
    r#"
    .macro push_registers
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
    .endm

    .macro pop_registers
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
    .endm

    .section .entry_text, "ax"
    .balign 16
    .global entry_stubs
entry_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push $0
    .endif
    push $vector
    jmp entry_common
    .set vector, vector + 1
    .endr

entry_common:
    /* The interrupted code may have left the direction flag set (a guest's
       backward copy, say); Rust code assumes it clear, and memcpy/memset
       with DF set would write backwards over hypervisor memory. The
       guest's value comes back with its RFLAGS on iretq. */
    cld
    testb $3, {frame_cs}(%rsp)
    jz from_hypervisor
    push_registers
    movabs ${entry_data}, %rax
    mov {data_cr3}(%rax), %rbx
    mov %rbx, %cr3
    mov {data_stack}(%rax), %rcx
    mov %rsp, %rdi
    mov %rcx, %rsp
    movabs ${guest_entry}, %rax
    call *%rax
    ud2

from_hypervisor:
    push_registers
    mov %rsp, %rdi
    movabs ${hypervisor_entry}, %rax
    call *%rax
    pop_registers
    add $16, %rsp
    iretq

    /* rdi = the guest's CR3, rsi = a TrapFrame on the entry stack. */
    .global entry_exit
entry_exit:
    mov %rsi, %rsp
    mov %rdi, %cr3
    pop_registers
    add $16, %rsp
    iretq
"#,
    frame_cs = const FRAME_CS,
    entry_data = const layout::ENTRY_DATA,
    data_cr3 = const layout::ENTRY_DATA_CR3,
    data_stack = const layout::ENTRY_DATA_STACK,
    guest_entry = sym crate::hv::entry::guest_entry,
    hypervisor_entry = sym crate::hv::entry::hypervisor_entry,
    options(att_syntax)
);

const _: () = assert!(FRAME_VECTOR == 120);

unsafe extern "C" {
    static entry_stubs: u8;
    static entry_exit: u8;
    static __entry_text_start: u8;
    static __entry_text_end: u8;
}

/// Link-address range of `.entry_text`, page-aligned by the linker script.
pub fn text_range() -> (u64, u64) {
    (&raw const __entry_text_start as u64, &raw const __entry_text_end as u64)
}

/// Translates a symbol inside `.entry_text` to its address in the entry area.
fn entry_area_address(symbol: *const u8) -> u64 {
    let (start, end) = text_range();
    let address = symbol as u64;
    assert!(address >= start && address < end, "symbol outside .entry_text");
    layout::ENTRY_TEXT + (address - start)
}

/// Address, in the entry area, of the stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    entry_area_address(&raw const entry_stubs) + vector as u64 * STUB_SIZE
}

/// Copies `frame` to the top of the entry stack, where [`jump_to_guest`]
/// returns from, and returns its address there.
pub fn stage_exit_frame(frame: &TrapFrame) -> *mut TrapFrame {
    let slot = (layout::ENTRY_STACK_TOP - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: the entry stack is mapped writable in the hypervisor's tables
    // and nothing else uses it while the hypervisor runs on its own stack.
    unsafe { slot.write(*frame) };
    slot
}

/// Loads `cr3` and returns to the context staged at `slot`.
///
/// # Safety
///
/// 1. `cr3` is a guest L4 that maps the entry area (every guest L4 the
///    builder makes does).
/// 2. `slot` came from [`stage_exit_frame`] with a checked frame: a guest
///    code selector of RPL 1 or 3, canonical RIP, IOPL 0 and IF set.
pub unsafe fn jump_to_guest(cr3: u64, slot: *mut TrapFrame) -> ! {
    // SAFETY: `entry_exit` is the trampoline's exit path at its entry-area
    // address, which the guest's tables also map (precondition 1); the frame
    // is valid to return to (precondition 2).
    unsafe {
        core::arch::asm!(
            "jmp {target}",
            target = in(reg) entry_area_address(&raw const entry_exit),
            in("rdi") cr3,
            in("rsi") slot,
            options(noreturn)
        )
    }
}
