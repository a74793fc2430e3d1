//! Hypercall numbers (`__HYPERVISOR_*`), as in Xen's `xen.h`.

/// A hypercall Hospes knows by number. Numbers it does not implement still
/// decode, so the dispatcher can name them before returning `-ENOSYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Hypercall {
    SetTrapTable = 0,
    MmuUpdate = 1,
    SetGdt = 2,
    StackSwitch = 3,
    SetCallbacks = 4,
    FpuTaskswitch = 5,
    SchedOpCompat = 6,
    PlatformOp = 7,
    SetDebugreg = 8,
    GetDebugreg = 9,
    UpdateDescriptor = 10,
    MemoryOp = 12,
    Multicall = 13,
    UpdateVaMapping = 14,
    SetTimerOp = 15,
    EventChannelOpCompat = 16,
    XenVersion = 17,
    ConsoleIo = 18,
    PhysdevOpCompat = 19,
    GrantTableOp = 20,
    VmAssist = 21,
    UpdateVaMappingOtherdomain = 22,
    Iret = 23,
    VcpuOp = 24,
    SetSegmentBase = 25,
    MmuextOp = 26,
    XsmOp = 27,
    NmiOp = 28,
    SchedOp = 29,
    CallbackOp = 30,
    EventChannelOp = 32,
    PhysdevOp = 33,
    HvmOp = 34,
    Sysctl = 35,
    Domctl = 36,
}

/// Number of slots in the hypercall page (32 bytes each, one 4 KiB page).
pub const HYPERCALL_SLOTS: u32 = 128;

impl TryFrom<u64> for Hypercall {
    type Error = u64;

    /// Decodes `rax` as the guest left it; the whole 64-bit value must match,
    /// so stray upper bits never alias a valid number.
    fn try_from(value: u64) -> Result<Self, u64> {
        use Hypercall::*;
        let call = match value {
            0 => SetTrapTable,
            1 => MmuUpdate,
            2 => SetGdt,
            3 => StackSwitch,
            4 => SetCallbacks,
            5 => FpuTaskswitch,
            6 => SchedOpCompat,
            7 => PlatformOp,
            8 => SetDebugreg,
            9 => GetDebugreg,
            10 => UpdateDescriptor,
            12 => MemoryOp,
            13 => Multicall,
            14 => UpdateVaMapping,
            15 => SetTimerOp,
            16 => EventChannelOpCompat,
            17 => XenVersion,
            18 => ConsoleIo,
            19 => PhysdevOpCompat,
            20 => GrantTableOp,
            21 => VmAssist,
            22 => UpdateVaMappingOtherdomain,
            23 => Iret,
            24 => VcpuOp,
            25 => SetSegmentBase,
            26 => MmuextOp,
            27 => XsmOp,
            28 => NmiOp,
            29 => SchedOp,
            30 => CallbackOp,
            32 => EventChannelOp,
            33 => PhysdevOp,
            34 => HvmOp,
            35 => Sysctl,
            36 => Domctl,
            other => return Err(other),
        };
        Ok(call)
    }
}

/// `console_io` commands.
pub mod consoleio {
    pub const WRITE: u64 = 0;
    pub const READ: u64 = 1;
}

/// `xen_version` commands.
pub mod xenver {
    pub const VERSION: u64 = 0;
    pub const EXTRAVERSION: u64 = 1;
    pub const COMPILE_INFO: u64 = 2;
    pub const CAPABILITIES: u64 = 3;
    pub const CHANGESET: u64 = 4;
    pub const PLATFORM_PARAMETERS: u64 = 5;
    pub const GET_FEATURES: u64 = 6;
    pub const PAGESIZE: u64 = 7;

    /// Size of the `XENVER_extraversion` buffer.
    pub const EXTRAVERSION_LEN: usize = 16;
    /// Size of the `XENVER_capabilities` buffer.
    pub const CAPABILITIES_LEN: usize = 1024;
    /// Size of the `XENVER_changeset` buffer.
    pub const CHANGESET_LEN: usize = 64;
}

/// `callback_op` commands and callback types.
pub mod callback {
    pub const OP_REGISTER: u64 = 0;
    pub const OP_UNREGISTER: u64 = 1;

    pub const TYPE_EVENT: u16 = 0;
    pub const TYPE_FAILSAFE: u16 = 1;
    pub const TYPE_SYSCALL: u16 = 2;
    pub const TYPE_NMI: u16 = 4;

    /// `CALLBACKF_mask_events`: mask events on entry through this callback.
    pub const FLAG_MASK_EVENTS: u16 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_xen() {
        assert_eq!(Hypercall::ConsoleIo as u32, 18);
        assert_eq!(Hypercall::SchedOp as u32, 29);
        assert_eq!(Hypercall::EventChannelOp as u32, 32);
        assert_eq!(Hypercall::Iret as u32, 23);
        assert_eq!(Hypercall::Domctl as u32, 36);
    }

    #[test]
    fn decode_round_trips_and_rejects_gaps() {
        for number in 0..HYPERCALL_SLOTS as u64 {
            if let Ok(call) = Hypercall::try_from(number) {
                assert_eq!(call as u64, number);
            }
        }
        assert_eq!(Hypercall::try_from(11), Err(11));
        assert_eq!(Hypercall::try_from(31), Err(31));
        assert_eq!(Hypercall::try_from(37), Err(37));
    }

    #[test]
    fn decode_rejects_upper_bits() {
        let aliased = (1u64 << 32) | 18;
        assert_eq!(Hypercall::try_from(aliased), Err(aliased));
    }
}
