//! The PV guest runtime shared by Dom0 and DomU kernels.
//!
//! A guest binary links this crate, uses `guest/linker.ld`, and defines
//! `#[unsafe(no_mangle)] fn guest_main() -> !`. The runtime provides the
//! entry point and Xen ELF notes, sets up the trap table, the event
//! callback, `shared_info` and the heap, then calls `guest_main`.
//!
//! Everything that runs in ring 1 is built only for `x86_64-unknown-none`;
//! the host build carries the pure helpers so `cargo test -p guest` works.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod attack;
pub mod bench;
pub mod boot_status;
#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod events;
pub mod fault;
#[cfg(target_os = "none")]
pub mod grant;
#[cfg(target_os = "none")]
pub mod hypercall;
pub mod ping;
pub mod ring_console;
pub mod xenstore;
#[cfg(target_os = "none")]
pub mod time;
#[cfg(target_os = "none")]
pub mod traps;
#[cfg(target_os = "none")]
pub mod wait;

#[cfg(target_os = "none")]
pub use entry::{memory_end, ramdisk, shared_info, start_info, virt_base};

/// Returns the privilege level (0-3) of a code selector.
pub const fn ring_of(code_selector: u16) -> u8 {
    (code_selector & 3) as u8
}

/// Returns the ring the calling code runs in, read from its CS register.
#[cfg(target_arch = "x86_64")]
pub fn current_ring() -> u8 {
    let selector: u16;
    // SAFETY: reading CS has no side effects.
    unsafe { core::arch::asm!("mov {0:x}, cs", out(reg) selector, options(nomem, nostack, preserves_flags)) };
    ring_of(selector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_of_reads_rpl_bits() {
        assert_eq!(ring_of(hypercalls::selectors::GUEST_KERNEL_CS), 1);
        assert_eq!(ring_of(hypercalls::selectors::GUEST_USER_CS), 3);
        assert_eq!(ring_of(hypercalls::selectors::HYPERVISOR_CS), 0);
    }
}
