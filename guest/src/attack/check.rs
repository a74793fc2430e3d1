//! Expected outcomes of attack cases, and the comparison that turns what a
//! case observed into a pass or a failure message, XTF-style: the exact
//! errno, or the exact vector, error code and return RIP of a bounced fault.

use alloc::format;
use alloc::string::String;

use hypercalls::Errno;
use hypercalls::trap::exception_name;

use crate::fault::Guarded;

/// The instruction the RIP of a bounced exception must point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultRip {
    /// At the instruction that raised it (faults such as `#GP`, `#PF`, `#UD`).
    Instruction,
    /// At the next instruction (traps such as `int3`).
    Next,
}

/// The outcome a case requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The hypercall returns exactly this value: 0, a result, or a negative errno.
    Returns(i64),
    /// The snippet raises `vector` once, with an error code from
    /// `error_codes`, reported at `rip`.
    Fault { vector: u8, error_codes: &'static [u64], rip: FaultRip },
    /// The snippet runs to its end without an exception.
    NoFault,
}

impl Expected {
    /// Returns the outcome of a hypercall that fails with `errno`.
    pub const fn errno(errno: Errno) -> Expected {
        Expected::Returns(errno.to_return())
    }

    /// Returns a fault with an error code from `error_codes`, reported at
    /// the faulting instruction.
    pub const fn fault(vector: u8, error_codes: &'static [u64]) -> Expected {
        Expected::Fault { vector, error_codes, rip: FaultRip::Instruction }
    }
}

/// Formats a hypercall return value, naming it when it is an errno.
pub fn describe_return(value: i64) -> String {
    match Errno::from_return(value) {
        Some(errno) if value < 0 => format!("-{} ({value})", errno.name()),
        _ => format!("{value}"),
    }
}

/// Formats a vector and error code as XTF does: `#GP[0x402]`.
pub fn describe_fault(vector: u8, error_code: u64) -> String {
    match exception_name(vector) {
        "interrupt" => format!("vector {vector}[{error_code:#x}]"),
        name => format!("{name}[{error_code:#x}]"),
    }
}

fn describe_expected_fault(vector: u8, error_codes: &[u64]) -> String {
    let mut text = String::new();
    for (index, code) in error_codes.iter().enumerate() {
        if index > 0 {
            text.push_str(" or ");
        }
        text.push_str(&describe_fault(vector, *code));
    }
    if error_codes.is_empty() {
        text = describe_fault(vector, 0);
    }
    text
}

/// Compares a hypercall's return value with `expected`.
pub fn check_return(expected: Expected, value: i64) -> Result<(), String> {
    match expected {
        Expected::Returns(wanted) if wanted == value => Ok(()),
        Expected::Returns(wanted) => Err(format!(
            "returned {}, expected {}",
            describe_return(value),
            describe_return(wanted)
        )),
        other => Err(format!("the case returned {} but expects {other:?}, not a return value", describe_return(value))),
    }
}

/// Compares what a guarded snippet did with `expected`.
pub fn check_guarded(expected: Expected, guarded: Guarded) -> Result<(), String> {
    match (expected, guarded.fault) {
        (Expected::NoFault, None) => Ok(()),
        (Expected::NoFault, Some(fault)) => Err(format!(
            "raised {} at rip {:#x}, expected no exception",
            describe_fault(fault.vector, fault.error_code),
            fault.rip
        )),
        (Expected::Fault { vector, error_codes, .. }, None) => Err(format!(
            "ran without an exception, expected {}",
            describe_expected_fault(vector, error_codes)
        )),
        (Expected::Fault { vector, error_codes, rip }, Some(fault)) => {
            if fault.vector != vector || !error_codes.contains(&fault.error_code) {
                return Err(format!(
                    "raised {}, expected {}",
                    describe_fault(fault.vector, fault.error_code),
                    describe_expected_fault(vector, error_codes)
                ));
            }
            let (wanted, place) = match rip {
                FaultRip::Instruction => (guarded.start, "the faulting instruction"),
                FaultRip::Next => (guarded.end, "the next instruction"),
            };
            if fault.rip != wanted {
                return Err(format!(
                    "raised {} at rip {:#x}, expected rip {wanted:#x} ({place})",
                    describe_fault(fault.vector, fault.error_code),
                    fault.rip
                ));
            }
            Ok(())
        }
        (Expected::Returns(value), _) => Err(format!(
            "the case ran a snippet but expects the return value {}",
            describe_return(value)
        )),
    }
}

/// Compares bytes read back after a case with the bytes read before it.
pub fn check_unchanged(what: &str, before: &[u8], after: &[u8]) -> Result<(), String> {
    match before.iter().zip(after).position(|(old, new)| old != new) {
        None if before.len() == after.len() => Ok(()),
        None => Err(format!("{what}: read back {} bytes, expected {}", after.len(), before.len())),
        Some(offset) => Err(format!(
            "{what} changed at offset {offset}: {:#04x} became {:#04x}",
            before[offset], after[offset]
        )),
    }
}

/// Checks that a vCPU blocked on a timer woke at `woke` no earlier than
/// `deadline` and at most `bound` after it. All times are system time in
/// nanoseconds.
pub fn check_wake(deadline: u64, woke: u64, bound: u64) -> Result<(), String> {
    if woke < deadline {
        return Err(format!("woke {} us before the deadline", (deadline - woke) / 1000));
    }
    let late = woke - deadline;
    if late > bound {
        return Err(format!("woke {} ms after the deadline, expected at most {} ms", late / 1_000_000, bound / 1_000_000));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;

    const GP: u8 = 13;
    const BP: u8 = 3;

    fn guarded(fault: Option<(u8, u64, u64)>) -> Guarded {
        Guarded {
            fault: fault.map(|(vector, error_code, rip)| Fault { vector, error_code, rip }),
            start: 0x40_1000,
            end: 0x40_1002,
        }
    }

    #[test]
    fn return_matches_errno() {
        assert_eq!(check_return(Expected::errno(Errno::EFAULT), -14), Ok(()));
        assert_eq!(check_return(Expected::Returns(0), 0), Ok(()));
    }

    #[test]
    fn return_mismatch_names_both_errnos() {
        assert_eq!(
            check_return(Expected::errno(Errno::EFAULT), -22),
            Err(String::from("returned -EINVAL (-22), expected -EFAULT (-14)"))
        );
        assert_eq!(
            check_return(Expected::errno(Errno::ENOSYS), 0),
            Err(String::from("returned 0, expected -ENOSYS (-38)"))
        );
    }

    #[test]
    fn unknown_negative_return_is_printed_as_number() {
        assert_eq!(
            check_return(Expected::Returns(0), -4096),
            Err(String::from("returned -4096, expected 0"))
        );
    }

    #[test]
    fn fault_at_instruction_passes() {
        let expected = Expected::fault(GP, &[0]);
        assert_eq!(check_guarded(expected, guarded(Some((GP, 0, 0x40_1000)))), Ok(()));
    }

    #[test]
    fn trap_must_report_next_instruction() {
        let expected = Expected::Fault { vector: BP, error_codes: &[0], rip: FaultRip::Next };
        assert_eq!(check_guarded(expected, guarded(Some((BP, 0, 0x40_1002)))), Ok(()));
        assert_eq!(
            check_guarded(expected, guarded(Some((BP, 0, 0x40_1000)))),
            Err(String::from("raised #BP[0x0] at rip 0x401000, expected rip 0x401002 (the next instruction)"))
        );
    }

    #[test]
    fn any_listed_error_code_passes() {
        let expected = Expected::fault(GP, &[0x402, 0x802]);
        assert_eq!(check_guarded(expected, guarded(Some((GP, 0x802, 0x40_1000)))), Ok(()));
        assert_eq!(
            check_guarded(expected, guarded(Some((GP, 0x2, 0x40_1000)))),
            Err(String::from("raised #GP[0x2], expected #GP[0x402] or #GP[0x802]"))
        );
    }

    #[test]
    fn wrong_vector_fails() {
        assert_eq!(
            check_guarded(Expected::fault(GP, &[0]), guarded(Some((6, 0, 0x40_1000)))),
            Err(String::from("raised #UD[0x0], expected #GP[0x0]"))
        );
    }

    #[test]
    fn missing_fault_fails() {
        assert_eq!(
            check_guarded(Expected::fault(GP, &[0]), guarded(None)),
            Err(String::from("ran without an exception, expected #GP[0x0]"))
        );
    }

    #[test]
    fn unexpected_fault_fails() {
        assert_eq!(check_guarded(Expected::NoFault, guarded(None)), Ok(()));
        assert_eq!(
            check_guarded(Expected::NoFault, guarded(Some((14, 3, 0x40_1000)))),
            Err(String::from("raised #PF[0x3] at rip 0x401000, expected no exception"))
        );
    }

    #[test]
    fn unnamed_vector_is_numbered() {
        assert_eq!(describe_fault(0x80, 0), "vector 128[0x0]");
    }

    #[test]
    fn unchanged_bytes_compare() {
        assert_eq!(check_unchanged("GDT", &[1, 2, 3], &[1, 2, 3]), Ok(()));
        assert_eq!(
            check_unchanged("GDT", &[1, 2, 3], &[1, 9, 3]),
            Err(String::from("GDT changed at offset 1: 0x02 became 0x09"))
        );
        assert_eq!(
            check_unchanged("GDT", &[1, 2, 3], &[1, 2]),
            Err(String::from("GDT: read back 2 bytes, expected 3"))
        );
    }

    #[test]
    fn wake_between_deadline_and_bound_passes() {
        assert_eq!(check_wake(1_000_000_000, 1_000_000_000, 5_000_000_000), Ok(()));
        assert_eq!(check_wake(1_000_000_000, 6_000_000_000, 5_000_000_000), Ok(()));
    }

    #[test]
    fn early_wake_fails() {
        assert_eq!(
            check_wake(1_000_000_000, 999_000_000, 5_000_000_000),
            Err(String::from("woke 1000 us before the deadline"))
        );
    }

    #[test]
    fn late_wake_fails() {
        assert_eq!(
            check_wake(1_000_000_000, 6_000_000_001, 5_000_000_000),
            Err(String::from("woke 5000 ms after the deadline, expected at most 5000 ms"))
        );
    }
}
