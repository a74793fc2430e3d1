//! The Hospes hypervisor.
//!
//! Modules that hold pure logic (boot information, frame allocation, the
//! frame table, the log ring) build on the host too, so
//! `cargo test -p kernel --lib` exercises them without QEMU. Everything that
//! touches the CPU lives under [`arch`] and the modules only built for
//! `x86_64-unknown-none`.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod batch;
pub mod bootarchive;
pub mod bootinfo;
pub mod credit;
pub mod evtchn;
pub mod frames;
pub mod frametable;
pub mod granttab;
pub mod logbuf;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod hv;

/// The panic handler of both hypervisor binaries.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    arch::panic(info)
}
