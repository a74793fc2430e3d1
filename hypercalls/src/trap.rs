//! Virtual trap table entries, callback registration and the `iret` frame.

use core::mem::{offset_of, size_of};

/// `trap_info`: one entry of a `set_trap_table` array, which ends with an
/// entry whose `address` is 0.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct TrapInfo {
    pub vector: u8,
    /// Bits 0-1: the DPL that may raise the vector with `int n`. Bit 2: mask
    /// events on entry.
    pub flags: u8,
    /// Ignored on x86_64: traps are delivered on the guest kernel CS.
    pub cs: u16,
    pub _pad: u32,
    pub address: u64,
}

/// `TrapInfo::flags` bit that masks events on entry (interrupt-gate semantics).
pub const TI_MASK_EVENTS: u8 = 1 << 2;
/// `TrapInfo::flags` bits holding the DPL.
pub const TI_DPL_MASK: u8 = 3;

const _: () = {
    assert!(size_of::<TrapInfo>() == 16);
    assert!(offset_of!(TrapInfo, cs) == 2);
    assert!(offset_of!(TrapInfo, address) == 8);
};

/// `callback_register`: the argument of `CALLBACKOP_register`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct CallbackRegister {
    pub kind: u16,
    pub flags: u16,
    pub _pad: u32,
    pub address: u64,
}

const _: () = {
    assert!(size_of::<CallbackRegister>() == 16);
    assert!(offset_of!(CallbackRegister, address) == 8);
};

/// `iret_context`: the frame a guest builds before jumping to the `iret` slot.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IretContext {
    pub rax: u64,
    pub r11: u64,
    pub rcx: u64,
    /// `VGCF_in_syscall` (bit 8) leaves `rcx` and `r11` unrestored.
    pub flags: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// `IretContext::flags` bit: return from a system call, keep `rcx` and `r11`.
pub const VGCF_IN_SYSCALL: u64 = 1 << 8;

const _: () = {
    assert!(size_of::<IretContext>() == 72);
    assert!(offset_of!(IretContext, flags) == 24);
    assert!(offset_of!(IretContext, ss) == 64);
};

/// The registers an exception entry path saves, lowest address first: the
/// layout both the hypervisor's trampoline and the guest runtime's handlers
/// push (general registers, then the vector and error code the stub pushed,
/// then the interrupt frame).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = {
    assert!(size_of::<TrapFrame>() == 22 * 8);
    assert!(offset_of!(TrapFrame, vector) == 120);
    assert!(offset_of!(TrapFrame, rip) == 136);
};

/// Bit position of the saved `evtchn_upcall_mask` inside a bounce frame's CS word.
pub const BOUNCE_CS_MASK_SHIFT: u32 = 32;

/// Exception vectors that push an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// Vector numbers the guest runtime and the hypervisor name.
pub mod vector {
    pub const DIVIDE_ERROR: u8 = 0;
    pub const DEBUG: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BREAKPOINT: u8 = 3;
    pub const OVERFLOW: u8 = 4;
    pub const INVALID_OPCODE: u8 = 6;
    pub const DOUBLE_FAULT: u8 = 8;
    pub const GENERAL_PROTECTION: u8 = 13;
    pub const PAGE_FAULT: u8 = 14;
    pub const MACHINE_CHECK: u8 = 18;
}

/// Returns the mnemonic of an exception vector (`#GP`, `#PF`, ...).
pub const fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        20 => "#VE",
        21 => "#CP",
        _ => "interrupt",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_info_layout_matches_xen() {
        assert_eq!(size_of::<TrapInfo>(), 16);
        assert_eq!(offset_of!(TrapInfo, address), 8);
    }

    #[test]
    fn iret_context_layout_matches_xen() {
        assert_eq!(size_of::<IretContext>(), 72);
        assert_eq!(offset_of!(IretContext, rip), 32);
    }

    #[test]
    fn error_code_vectors() {
        assert!(has_error_code(13));
        assert!(has_error_code(14));
        assert!(!has_error_code(6));
        assert!(!has_error_code(0x82));
    }
}
