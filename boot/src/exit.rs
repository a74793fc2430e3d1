//! Decoding of QEMU's exit status into the way a run ended.
//!
//! The machine has an `isa-debug-exit` device at I/O port [`DEBUG_EXIT_PORT`].
//! When the hypervisor writes a code `c` there, QEMU exits at once with status
//! `(c << 1) | 1`, so every status it causes is odd. A clean ACPI poweroff
//! ends QEMU with status 0.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// I/O port of the `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Debug-exit code the hypervisor writes when Dom0 crashed.
pub const DOM0_CRASHED: u32 = 0x10;

/// Debug-exit code the hypervisor writes on a panic or a fatal fault of its own.
pub const HYPERVISOR_FATAL: u32 = 0x11;

/// QEMU's exit status after the hypervisor powered the machine off through ACPI.
pub const STATUS_POWERED_OFF: i32 = 0;

/// QEMU's exit status for [`DOM0_CRASHED`]: 33.
pub const STATUS_DOM0_CRASHED: i32 = status_for_code(DOM0_CRASHED);

/// QEMU's exit status for [`HYPERVISOR_FATAL`]: 35.
pub const STATUS_HYPERVISOR_FATAL: i32 = status_for_code(HYPERVISOR_FATAL);

/// Returns the status QEMU exits with when the guest writes `code` to the
/// debug-exit port. The shell keeps the low 8 bits of it.
pub const fn status_for_code(code: u32) -> i32 {
    (((code << 1) | 1) & 0xff) as i32
}

/// The way a QEMU run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Status 0: the hypervisor powered the machine off.
    ///
    /// NOTE: with `-no-reboot` a triple fault also ends QEMU with status 0, so
    /// only the serial log distinguishes a reset from a clean poweroff.
    PoweredOff,
    /// The hypervisor wrote [`DOM0_CRASHED`].
    Dom0Crashed,
    /// The hypervisor wrote [`HYPERVISOR_FATAL`].
    HypervisorFatal,
    /// Status 1: QEMU failed to start or stopped on an error, or the guest
    /// wrote code 0 to the debug-exit port.
    QemuFailed,
    /// Another odd status: the guest wrote this code, modulo 128, to the
    /// debug-exit port.
    DebugExit(u32),
    /// Another even status, which neither QEMU nor Hospes defines.
    Status(i32),
    /// QEMU was ended by this signal, for example when a test timed out.
    Signal(i32),
}

impl Outcome {
    /// Decodes QEMU's exit status.
    pub fn from_status(status: ExitStatus) -> Outcome {
        match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::from_code(code),
            (None, Some(signal)) => Outcome::Signal(signal),
            // An ExitStatus on Unix has either a code or a signal. A stopped
            // process does not reach here, because `wait` does not return it.
            (None, None) => Outcome::Status(-1),
        }
    }

    /// Decodes QEMU's exit code (the number the shell shows as `$?`).
    pub fn from_code(code: i32) -> Outcome {
        match code {
            STATUS_POWERED_OFF => Outcome::PoweredOff,
            STATUS_DOM0_CRASHED => Outcome::Dom0Crashed,
            STATUS_HYPERVISOR_FATAL => Outcome::HypervisorFatal,
            1 => Outcome::QemuFailed,
            code if code % 2 == 1 => Outcome::DebugExit(((code as u32) >> 1) & 0x7f),
            code => Outcome::Status(code),
        }
    }

    /// Returns whether the hypervisor powered the machine off cleanly.
    pub fn is_clean_poweroff(self) -> bool {
        self == Outcome::PoweredOff
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Outcome::PoweredOff => write!(
                formatter,
                "status 0: the hypervisor powered the machine off (clean poweroff)"
            ),
            Outcome::Dom0Crashed => write!(
                formatter,
                "status {STATUS_DOM0_CRASHED}: Dom0 crashed \
                 (debug-exit code {DOM0_CRASHED:#x}); the serial log shows why"
            ),
            Outcome::HypervisorFatal => write!(
                formatter,
                "status {STATUS_HYPERVISOR_FATAL}: the hypervisor panicked or hit a fatal fault \
                 (debug-exit code {HYPERVISOR_FATAL:#x}); the serial log shows where"
            ),
            Outcome::QemuFailed => write!(
                formatter,
                "status 1: QEMU failed (see its error message), \
                 or the guest wrote debug-exit code 0"
            ),
            Outcome::DebugExit(code) => write!(
                formatter,
                "status {}: the guest wrote debug-exit code {code:#x}, which Hospes does not define",
                status_for_code(code)
            ),
            Outcome::Status(code) => write!(
                formatter,
                "status {code}: not a status Hospes or QEMU defines"
            ),
            Outcome::Signal(signal) => {
                write!(formatter, "signal {signal}: QEMU was killed or aborted (with --accel kvm on a host without hardware KVM, use --accel tcg)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_constants_match_qemu_formula() {
        assert_eq!(STATUS_DOM0_CRASHED, 33);
        assert_eq!(STATUS_HYPERVISOR_FATAL, 35);
        assert_eq!(status_for_code(0), 1);
    }

    #[test]
    fn outcome_decodes_each_defined_status() {
        assert_eq!(Outcome::from_code(0), Outcome::PoweredOff);
        assert_eq!(Outcome::from_code(33), Outcome::Dom0Crashed);
        assert_eq!(Outcome::from_code(35), Outcome::HypervisorFatal);
        assert_eq!(Outcome::from_code(1), Outcome::QemuFailed);
    }

    #[test]
    fn outcome_decodes_undefined_statuses() {
        assert_eq!(Outcome::from_code(3), Outcome::DebugExit(1));
        assert_eq!(Outcome::from_code(255), Outcome::DebugExit(0x7f));
        assert_eq!(Outcome::from_code(2), Outcome::Status(2));
    }

    #[test]
    fn outcome_decodes_wait_status() {
        // Raw wait statuses: exit code in bits 8-15, signal number in bits 0-6.
        assert_eq!(
            Outcome::from_status(ExitStatus::from_raw(35 << 8)),
            Outcome::HypervisorFatal
        );
        assert_eq!(
            Outcome::from_status(ExitStatus::from_raw(0)),
            Outcome::PoweredOff
        );
        assert_eq!(
            Outcome::from_status(ExitStatus::from_raw(9)),
            Outcome::Signal(9)
        );
    }

    #[test]
    fn only_poweroff_is_clean() {
        assert!(Outcome::PoweredOff.is_clean_poweroff());
        assert!(!Outcome::Dom0Crashed.is_clean_poweroff());
        assert!(!Outcome::Signal(9).is_clean_poweroff());
    }

    #[test]
    fn outcome_text_names_status_and_meaning() {
        let text = Outcome::Dom0Crashed.to_string();
        assert!(text.contains("33"), "{text}");
        assert!(text.contains("Dom0 crashed"), "{text}");
        let text = Outcome::HypervisorFatal.to_string();
        assert!(text.contains("35"), "{text}");
        assert!(text.contains("hypervisor panicked"), "{text}");
    }
}
