//! The hypercall page and the software interrupt behind it.
//!
//! The hypervisor writes one 32-byte stub per hypercall into a page of the
//! guest's image (named by the `HYPERCALL_PAGE` ELF note). Guests call
//! `page + 32 * number`, so the trap instruction can change without rebuilding
//! guests. Hospes guest kernels run in ring 1, where `syscall` cannot tell
//! kernel from user, so the stubs raise the DPL-1 vector [`HYPERCALL_VECTOR`]
//! as Xen's 32-bit ring-1 guests do.

use crate::number::{HYPERCALL_SLOTS, Hypercall};

/// Interrupt vector of the hypercall gate. Its DPL is 1, so ring 3 gets `#GP`.
pub const HYPERCALL_VECTOR: u8 = 0x82;
/// Bytes per stub.
pub const SLOT_SIZE: usize = 32;
/// Size of the trap instruction; a restarted hypercall rewinds RIP by this much.
pub const TRAP_INSTRUCTION_LEN: u64 = 2;

/// Builds the contents of a hypercall page.
///
/// A normal slot is `mov $n, %eax; int $0x82; ret`. The `iret` slot is jumped
/// to, never called: `push %rcx; push %r11; push %rax; mov $23, %eax; int $0x82`,
/// which completes the `iret_context` the guest pushed. Unused bytes are `int3`.
pub fn build() -> [u8; crate::PAGE_SIZE] {
    let mut page = [0xCC_u8; crate::PAGE_SIZE];
    for number in 0..HYPERCALL_SLOTS {
        let slot = &mut page[number as usize * SLOT_SIZE..][..SLOT_SIZE];
        let mut stub = Stub::default();
        if number == Hypercall::Iret as u32 {
            stub.push(&[0x51, 0x41, 0x53, 0x50]);
        }
        stub.push(&[0xB8]);
        stub.push(&number.to_le_bytes());
        stub.push(&[0xCD, HYPERCALL_VECTOR]);
        if number != Hypercall::Iret as u32 {
            stub.push(&[0xC3]);
        }
        slot[..stub.len].copy_from_slice(&stub.bytes[..stub.len]);
    }
    page
}

#[derive(Default)]
struct Stub {
    bytes: [u8; SLOT_SIZE],
    len: usize,
}

impl Stub {
    fn push(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_slot_is_mov_int_ret() {
        let page = build();
        let slot = &page[18 * SLOT_SIZE..][..8];
        assert_eq!(slot, &[0xB8, 18, 0, 0, 0, 0xCD, 0x82, 0xC3]);
        assert_eq!(page[18 * SLOT_SIZE + 8], 0xCC);
    }

    #[test]
    fn iret_slot_pushes_and_never_returns() {
        let page = build();
        let slot = &page[23 * SLOT_SIZE..][..11];
        assert_eq!(slot, &[0x51, 0x41, 0x53, 0x50, 0xB8, 23, 0, 0, 0, 0xCD, 0x82]);
        assert_eq!(page[23 * SLOT_SIZE + 11], 0xCC);
    }
}
