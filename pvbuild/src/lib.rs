//! Building PV domains: checking a kernel image and laying out its
//! bootstrap region. The hypervisor uses this to build Dom0, and Dom0's
//! toolstack to build DomUs, so both produce the same start-of-day state.

#![cfg_attr(not(test), no_std)]

pub mod domlayout;
pub mod elfload;

/// Size of a page in bytes.
pub const PAGE_SIZE: u64 = 4096;
