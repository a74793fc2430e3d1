//! Segment selectors of the hypervisor's GDT.
//!
//! Xen's 64-bit PV ABI runs guest kernels in ring 3 and has no 64-bit ring-1
//! selectors, so Hospes defines its own: a DPL-1 long-mode code segment and a
//! DPL-1 data segment for the guest kernel's CS and SS. The hypervisor's GDT is
//! read-only to guests and its layout is fixed by this module.

/// Ring-0 64-bit code (hypervisor).
pub const HYPERVISOR_CS: u16 = 0x08;
/// Ring-0 data (hypervisor).
pub const HYPERVISOR_DS: u16 = 0x10;
/// Ring-1 64-bit code: the guest kernel's CS (index 3, RPL 1).
pub const GUEST_KERNEL_CS: u16 = 0x18 | 1;
/// Ring-1 data: the guest kernel's SS (index 4, RPL 1).
pub const GUEST_KERNEL_SS: u16 = 0x20 | 1;
/// Ring-3 data: guest user SS (index 5, RPL 3).
pub const GUEST_USER_SS: u16 = 0x28 | 3;
/// Ring-3 64-bit code: guest user CS (index 6, RPL 3).
pub const GUEST_USER_CS: u16 = 0x30 | 3;
/// The task state segment (indices 7 and 8, a 16-byte descriptor).
pub const TSS: u16 = 0x38;
/// Number of 8-byte GDT slots, the TSS taking two.
pub const GDT_ENTRIES: usize = 9;

/// Returns the privilege level (RPL) a selector requests.
pub const fn rpl(selector: u64) -> u8 {
    (selector & 3) as u8
}
