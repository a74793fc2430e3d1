//! Fixed virtual addresses of the hypervisor.
//!
//! The hypervisor runs on its own page tables, which map physical memory one
//! to one in the lower half. Guests never see that map. The only hypervisor
//! memory in a guest's address space is the entry area, in L4 slot
//! [`ENTRY_L4_SLOT`] of every address space: the entry trampoline, its data
//! page, the GDT, IDT and TSS (all read-only), and the writable entry and
//! IST stacks the CPU pushes interrupt frames on.

/// L4 slot of the entry area, inside the range Xen reserves for itself (256-271).
pub const ENTRY_L4_SLOT: usize = 261;
/// First L4 slot a guest may not use (Xen's hypervisor range, 256-271).
pub const RESERVED_L4_FIRST: usize = 256;
/// Last L4 slot a guest may not use.
pub const RESERVED_L4_LAST: usize = 271;

/// Base of the entry area: the canonical address of [`ENTRY_L4_SLOT`].
pub const ENTRY_BASE: u64 = 0xFFFF_0000_0000_0000 | ((ENTRY_L4_SLOT as u64) << 39);

/// Trampoline code (read-only, executable), at most [`ENTRY_TEXT_MAX_PAGES`] pages.
pub const ENTRY_TEXT: u64 = ENTRY_BASE;
pub const ENTRY_TEXT_MAX_PAGES: u64 = 8;
/// Trampoline data (read-only): the hypervisor's CR3 and stack top.
pub const ENTRY_DATA: u64 = ENTRY_BASE + 0x1_0000;
/// Offsets inside [`ENTRY_DATA`].
pub const ENTRY_DATA_CR3: u64 = 0;
pub const ENTRY_DATA_STACK: u64 = 8;
pub const GDT: u64 = ENTRY_BASE + 0x1_1000;
pub const IDT: u64 = ENTRY_BASE + 0x1_2000;
pub const TSS: u64 = ENTRY_BASE + 0x1_3000;
/// Entry stack: TSS.RSP0, two pages, an unmapped guard page below.
pub const ENTRY_STACK_BOTTOM: u64 = ENTRY_BASE + 0x1_8000;
pub const ENTRY_STACK_TOP: u64 = ENTRY_BASE + 0x1_A000;
/// IST stacks for NMI, double fault and machine check, four pages each with guards between.
pub const IST_STACK_PAGES: u64 = 4;
pub const IST_NMI_BOTTOM: u64 = ENTRY_BASE + 0x1_C000;
pub const IST_DOUBLE_FAULT_BOTTOM: u64 = ENTRY_BASE + 0x2_2000;
pub const IST_MACHINE_CHECK_BOTTOM: u64 = ENTRY_BASE + 0x2_8000;

/// Returns true when `address` lies in an L4 slot reserved for the hypervisor.
pub const fn is_reserved(address: u64) -> bool {
    let slot = ((address >> 39) & 0x1FF) as usize;
    slot >= RESERVED_L4_FIRST && slot <= RESERVED_L4_LAST
}

/// Returns true when `address` is canonical for 48-bit virtual addresses.
pub const fn is_canonical(address: u64) -> bool {
    let upper = address >> 47;
    upper == 0 || upper == 0x1_FFFF
}
