//! The guest-visible ABI of Hospes, shared by the hypervisor and its guests.
//!
//! Numbers, structures and layouts follow Xen's public headers for x86_64 PV
//! guests (interface version 0x00041300), so Xen's documentation applies.
//! Where Hospes differs, because its guest kernels run in ring 1 and not ring 3,
//! the item says so: the segment selectors in [`selectors`], the trap
//! instruction in the hypercall page ([`page`]) and the start_info magic.
//!
//! Every structure here has compile-time size and offset checks against Xen's
//! x86_64 values, so a layout mistake fails the build, not a guest.

#![cfg_attr(not(test), no_std)]

pub mod console;
pub mod domctl;
pub mod elfnote;
pub mod errno;
pub mod grant;
pub mod number;
pub mod page;
pub mod sched;
pub mod selectors;
pub mod shared;
pub mod sysctl;
pub mod trap;
pub mod xenstore;

#[cfg(target_arch = "x86_64")]
pub mod call;

pub use errno::Errno;
pub use number::Hypercall;

/// Domain identifier (`domid_t`).
pub type DomId = u16;

/// The caller's own domain, where an operation takes a domain id.
pub const DOMID_SELF: DomId = 0x7FF0;
/// Owner of frames that the hypervisor keeps for itself.
pub const DOMID_XEN: DomId = 0x7FF2;
/// No domain: the owner of a free frame.
pub const DOMID_INVALID: DomId = 0x7FF4;
/// Ids at or above this value never name a real domain.
pub const DOMID_FIRST_RESERVED: DomId = 0x7FF0;

/// Size of a page, in bytes, for every frame and mapping in this ABI.
pub const PAGE_SIZE: usize = 4096;

/// Version reported by `xen_version(XENVER_version)`: major in bits 16-31, minor in 0-15.
pub const VERSION_MAJOR: u32 = 4;
/// Minor part of [`VERSION_MAJOR`]'s version.
pub const VERSION_MINOR: u32 = 19;
/// Suffix reported by `XENVER_extraversion`.
pub const EXTRA_VERSION: &str = "-hospes";
