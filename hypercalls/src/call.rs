//! Guest-side calling stubs: call slot `number` of a hypercall page.
//!
//! Arguments travel in `rdi`, `rsi`, `rdx`, `r10` and `r8`, the result in
//! `rax`, as on Xen x86_64. The hypervisor preserves every other register.

use core::arch::asm;

/// Calls hypercall `number` through the page at `page` with five arguments.
///
/// # Safety
///
/// 1. `page` is the address of a hypercall page the hypervisor wrote for this
///    guest, mapped executable.
/// 2. The arguments are valid for the hypercall: any pointer among them points
///    to memory the hypervisor may read or write as that hypercall documents.
#[inline(always)]
pub unsafe fn hypercall5(page: usize, number: u32, args: [u64; 5]) -> i64 {
    let result: i64;
    let target = page + number as usize * crate::page::SLOT_SIZE;
    // SAFETY: by precondition 1 `target` is a stub that traps to the hypervisor
    // and returns with `ret`; the hypervisor changes only rax and the registers
    // named as outputs, and memory as precondition 2 allows.
    unsafe {
        asm!(
            "call {target}",
            target = in(reg) target,
            inlateout("rax") 0u64 => result,
            inlateout("rdi") args[0] => _,
            inlateout("rsi") args[1] => _,
            inlateout("rdx") args[2] => _,
            inlateout("r10") args[3] => _,
            inlateout("r8") args[4] => _,
        );
    }
    result
}
