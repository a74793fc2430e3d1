//! Building PV domains: checking a kernel image and laying out its
//! bootstrap region. The hypervisor uses this to build Dom0, and Dom0's
//! toolstack to build DomUs, so both produce the same start-of-day state.
//! Both also read cpio archives ([`cpio`]): the hypervisor its boot archive
//! on the `bootloader` path, Dom0 its ramdisk.

#![cfg_attr(not(test), no_std)]

#[cfg(any(test, feature = "archive-writer"))]
extern crate alloc;

pub mod cpio;
pub mod domlayout;
pub mod elfload;

/// Size of a page in bytes.
pub const PAGE_SIZE: u64 = 4096;
