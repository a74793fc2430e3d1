//! `sched_op` commands and arguments.

use core::mem::size_of;

pub const SCHEDOP_YIELD: u64 = 0;
pub const SCHEDOP_BLOCK: u64 = 1;
pub const SCHEDOP_SHUTDOWN: u64 = 2;
pub const SCHEDOP_POLL: u64 = 3;
pub const SCHEDOP_REMOTE_SHUTDOWN: u64 = 4;
pub const SCHEDOP_SHUTDOWN_CODE: u64 = 5;
pub const SCHEDOP_WATCHDOG: u64 = 6;

/// Reason a domain shut down, as `SCHEDOP_shutdown` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ShutdownReason {
    Poweroff = 0,
    Reboot = 1,
    Suspend = 2,
    Crash = 3,
    Watchdog = 4,
    SoftReset = 5,
}

impl TryFrom<u32> for ShutdownReason {
    type Error = u32;

    fn try_from(value: u32) -> Result<Self, u32> {
        Ok(match value {
            0 => ShutdownReason::Poweroff,
            1 => ShutdownReason::Reboot,
            2 => ShutdownReason::Suspend,
            3 => ShutdownReason::Crash,
            4 => ShutdownReason::Watchdog,
            5 => ShutdownReason::SoftReset,
            other => return Err(other),
        })
    }
}

impl ShutdownReason {
    /// Returns the name `xl` prints for this reason.
    pub const fn name(self) -> &'static str {
        match self {
            ShutdownReason::Poweroff => "poweroff",
            ShutdownReason::Reboot => "reboot",
            ShutdownReason::Suspend => "suspend",
            ShutdownReason::Crash => "crash",
            ShutdownReason::Watchdog => "watchdog",
            ShutdownReason::SoftReset => "soft_reset",
        }
    }
}

/// `sched_shutdown`: the argument of `SCHEDOP_shutdown`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SchedShutdown {
    pub reason: u32,
}

const _: () = assert!(size_of::<SchedShutdown>() == 4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_reasons_decode() {
        assert_eq!(ShutdownReason::try_from(0), Ok(ShutdownReason::Poweroff));
        assert_eq!(ShutdownReason::try_from(3), Ok(ShutdownReason::Crash));
        assert_eq!(ShutdownReason::try_from(99), Err(99));
    }
}
