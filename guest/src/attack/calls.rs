//! Hypercall numbers and sub-operations the hypervisor must refuse with an
//! exact errno (A42), and argument checks of single hypercalls.
//!
//! Unknown numbers go through the hypercall page where it has a slot (0-127)
//! and through a raw `int 0x82` above that, because the page's stubs load
//! only the low 32 bits of `rax`. The raw calls also check that the
//! hypervisor changed no argument register: it writes only `rax`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::number::{consoleio, xenver};
use hypercalls::sched::{SCHEDOP_SHUTDOWN, SCHEDOP_YIELD, SchedShutdown};
use hypercalls::sysctl::{self, PhysInfo, ReadConsole, Sysctl};
use hypercalls::{Errno, Hypercall};

use super::check::{Expected, check_return, describe_return};
use super::suite::Case;
use crate::hypercall::{raw, raw_slot};

/// Values for argument registers a hypercall does not use.
const GARBAGE: [u64; 5] = [
    0xDEAD_BEEF_0000_0001,
    0x8000_0000_0000_0002,
    0xFFFF_8280_0001_1000,
    0x0000_7FFF_FFFF_FFFF,
    u64::MAX,
];

/// `EVTCHNOP_*` commands the cases use.
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_CLOSE: u64 = 3;
const EVTCHNOP_UNMASK: u64 = 9;

/// Number of VIRQs, as in Xen's `NR_VIRQS`.
const NR_VIRQS: u32 = 24;
/// `VIRQ_DEBUG`, a VIRQ the runtime does not bind.
const VIRQ_DEBUG: u32 = 1;

/// `XENVER_version` as the hypervisor returns it.
const VERSION: i64 = ((hypercalls::VERSION_MAJOR << 16) | hypercalls::VERSION_MINOR) as i64;

/// A hypercall and the exact value it must return: one table row.
struct CallCase {
    id: &'static str,
    name: &'static str,
    /// Makes the call; `Err` when a side check failed (a register changed).
    call: fn() -> Result<i64, String>,
    expected: Expected,
}

const ENOSYS: Expected = Expected::errno(Errno::ENOSYS);
const EINVAL: Expected = Expected::errno(Errno::EINVAL);

const CALL_CASES: &[CallCase] = &[
    CallCase { id: "A42", name: "hypercall 11 through the page", call: || Ok(raw_slot(11, GARBAGE)), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall 31 through the page", call: || Ok(raw_slot(31, GARBAGE)), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall 37 through the page", call: || Ok(raw_slot(37, GARBAGE)), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall 127 through the page", call: || Ok(raw_slot(127, GARBAGE)), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall 128 by int 0x82", call: || int82_unchanged(128), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall 4096 by int 0x82", call: || int82_unchanged(4096), expected: ENOSYS },
    CallCase {
        id: "A42",
        name: "hypercall (1 << 32) | 18 by int 0x82",
        call: || int82_unchanged((1 << 32) | Hypercall::ConsoleIo as u64),
        expected: ENOSYS,
    },
    CallCase { id: "A42", name: "hypercall 1 << 63 by int 0x82", call: || int82_unchanged(1 << 63), expected: ENOSYS },
    CallCase { id: "A42", name: "hypercall u64::MAX by int 0x82", call: || int82_unchanged(u64::MAX), expected: ENOSYS },
    CallCase {
        id: "A42",
        name: "xen_version with garbage in unused registers",
        call: || Ok(raw(Hypercall::XenVersion, [xenver::VERSION, GARBAGE[1], GARBAGE[2], GARBAGE[3], GARBAGE[4]])),
        expected: Expected::Returns(VERSION),
    },
    CallCase {
        id: "A42",
        name: "xen_version by int 0x82 with garbage in unused registers",
        call: || int82_unchanged_args(Hypercall::XenVersion as u64, [xenver::VERSION, GARBAGE[1], GARBAGE[2], GARBAGE[3], GARBAGE[4]]),
        expected: Expected::Returns(VERSION),
    },
    CallCase {
        id: "A42",
        name: "xen_version command (1 << 32) | XENVER_version",
        call: || Ok(raw(Hypercall::XenVersion, [(1 << 32) | xenver::VERSION, 0, 0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase {
        id: "A42",
        name: "xen_version unknown command 99",
        call: || Ok(raw(Hypercall::XenVersion, [99, 0, 0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase {
        id: "A42",
        name: "sched_op command (1 << 32) | SCHEDOP_yield",
        call: || Ok(raw(Hypercall::SchedOp, [(1 << 32) | SCHEDOP_YIELD, 0, 0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase { id: "A42", name: "sched_op unknown command 99", call: || Ok(raw(Hypercall::SchedOp, [99, 0, 0, 0, 0])), expected: ENOSYS },
    CallCase { id: "A59", name: "sched_op shutdown with reason 99", call: || Ok(shutdown_with_reason(99)), expected: EINVAL },
    CallCase {
        id: "A59",
        name: "sched_op_compat shutdown with reason 99",
        call: || Ok(raw(Hypercall::SchedOpCompat, [SCHEDOP_SHUTDOWN, 99, 0, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A42",
        name: "sysctl with interface version 0x15",
        call: || Ok(sysctl_with(sysctl::PHYSINFO, sysctl::INTERFACE_VERSION - 1)),
        expected: Expected::errno(Errno::EACCES),
    },
    CallCase {
        id: "A42",
        name: "sysctl unknown command 99",
        call: || Ok(sysctl_with(99, sysctl::INTERFACE_VERSION)),
        expected: ENOSYS,
    },
    CallCase {
        id: "A41",
        name: "console_io write with count -1",
        call: || Ok(console_write_count(u64::MAX)),
        expected: EINVAL,
    },
    CallCase {
        id: "A41",
        name: "console_io write with count 0x80000000",
        call: || Ok(console_write_count(0x8000_0000)),
        expected: EINVAL,
    },
    CallCase {
        id: "A41",
        name: "console_io write with count 1 << 32",
        call: || Ok(console_write_count(1 << 32)),
        expected: EINVAL,
    },
    CallCase {
        id: "A42",
        name: "console_io unknown command 99",
        call: || Ok(raw(Hypercall::ConsoleIo, [99, 0, 0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase {
        id: "A42",
        name: "callback_op unknown command 99",
        call: || Ok(raw(Hypercall::CallbackOp, [99, 0, 0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase {
        id: "A42",
        name: "event_channel_op unknown command 99",
        call: || Ok(event_channel_op(99, [0, 0, 0])),
        expected: ENOSYS,
    },
    CallCase {
        id: "A32",
        name: "event_channel_op bind_virq of VIRQ 99",
        call: || Ok(event_channel_op(EVTCHNOP_BIND_VIRQ, [99, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A32",
        name: "event_channel_op bind_virq of VIRQ 24, one past the last",
        call: || Ok(event_channel_op(EVTCHNOP_BIND_VIRQ, [NR_VIRQS, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A32",
        name: "event_channel_op bind_virq on vCPU 1",
        call: || Ok(event_channel_op(EVTCHNOP_BIND_VIRQ, [0, 1, 0])),
        expected: Expected::errno(Errno::ENOENT),
    },
    CallCase {
        id: "A30",
        name: "event_channel_op unmask of port 4096",
        call: || Ok(event_channel_op(EVTCHNOP_UNMASK, [4096, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A30",
        name: "event_channel_op unmask of port u32::MAX",
        call: || Ok(event_channel_op(EVTCHNOP_UNMASK, [u32::MAX, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A33",
        name: "event_channel_op close of port 0",
        call: || Ok(event_channel_op(EVTCHNOP_CLOSE, [0, 0, 0])),
        expected: EINVAL,
    },
    CallCase {
        id: "A33",
        name: "event_channel_op close of port u32::MAX",
        call: || Ok(event_channel_op(EVTCHNOP_CLOSE, [u32::MAX, 0, 0])),
        expected: EINVAL,
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in CALL_CASES {
        cases.push(Case::new(row.id, row.name, move || check_return(row.expected, (row.call)()?)));
    }
    cases.push(Case::new("A32", "event_channel_op bind_virq of a VIRQ already bound", second_bind_rejected));
    cases.push(Case::new("A58", "hypercall made with the direction flag set copies forward and stays in bounds", direction_flag_hypercall));
}

/// A guest may enter the hypervisor with RFLAGS.DF set (`std`). The
/// hypervisor must clear it on entry, or its own copies run backwards:
/// the reply would be wrong and bytes before the buffer overwritten.
fn direction_flag_hypercall() -> Result<(), String> {
    #[repr(C, align(8))]
    struct Guarded {
        before: [u8; 64],
        buffer: [u8; 1024],
    }
    let mut area = Guarded { before: [0xA5; 64], buffer: [0xEE; 1024] };
    let slot = crate::hypercall::slot_address(hypercalls::Hypercall::XenVersion as u32);
    let result: i64;
    // SAFETY: the snippet sets DF, calls the xen_version stub with a buffer
    // this function owns (1024 bytes, the size XENVER_capabilities writes),
    // and clears DF again before any Rust code runs.
    unsafe {
        core::arch::asm!(
            "std",
            "call {slot}",
            "cld",
            slot = in(reg) slot,
            inlateout("rax") 0i64 => result,
            inlateout("rdi") hypercalls::number::xenver::CAPABILITIES => _,
            inlateout("rsi") area.buffer.as_mut_ptr() => _,
            out("rdx") _,
            out("r10") _,
            out("r8") _,
        );
    }
    if result != 0 {
        return Err(format!("xen_version(XENVER_capabilities) with DF set returned {result}, expected 0"));
    }
    if area.before.iter().any(|&byte| byte != 0xA5) {
        return Err(String::from("bytes before the buffer were overwritten: the hypervisor copied backwards"));
    }
    if !area.buffer.starts_with(b"xen-3.0-x86_64-ring1\0") {
        return Err(format!("the capabilities string came back as {:?}", &area.buffer[..24]));
    }
    Ok(())
}

/// Adds the case that would empty the hypervisor log if the hypervisor had
/// the bug it checks for. It runs last, because the `readconsole` buffer
/// cases need bytes in the log to copy.
pub fn add_log_case(cases: &mut Vec<Case>) {
    cases.push(Case::new("A41", "sysctl readconsole with clear and a bad buffer keeps the log", readconsole_failure_keeps_log));
}

/// Raises `int 0x82` with `rax = number` and the [`GARBAGE`] arguments.
fn int82_unchanged(number: u64) -> Result<i64, String> {
    int82_unchanged_args(number, GARBAGE)
}

/// Raises `int 0x82` directly, bypassing the hypercall page; fails when an
/// argument register differs afterwards.
fn int82_unchanged_args(number: u64, args: [u64; 5]) -> Result<i64, String> {
    let mut after = args;
    let result: i64;
    // SAFETY: vector 0x82 is the hypercall gate (DPL 1). The number is
    // unknown or `xen_version(XENVER_version)`, so the hypervisor reads and
    // writes no guest memory. It changes only `rax`, and every register it
    // could change is an output here.
    unsafe {
        core::arch::asm!(
            "int 0x82",
            inlateout("rax") number => result,
            inout("rdi") after[0],
            inout("rsi") after[1],
            inout("rdx") after[2],
            inout("r10") after[3],
            inout("r8") after[4],
        );
    }
    let names = ["rdi", "rsi", "rdx", "r10", "r8"];
    for ((name, before), after) in names.iter().zip(args).zip(after) {
        if before != after {
            return Err(format!("hypercall {number:#x} changed {name} from {before:#x} to {after:#x}"));
        }
    }
    Ok(result)
}

fn shutdown_with_reason(reason: u32) -> i64 {
    let request = SchedShutdown { reason };
    raw(Hypercall::SchedOp, [SCHEDOP_SHUTDOWN, &raw const request as u64, 0, 0, 0])
}

fn sysctl_with(command: u32, interface_version: u32) -> i64 {
    let mut request = Sysctl::new(command, PhysInfo::default());
    request.interface_version = interface_version;
    raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0])
}

fn console_write_count(count: u64) -> i64 {
    let text = b"console_io count case\r\n";
    raw(Hypercall::ConsoleIo, [consoleio::WRITE, count, text.as_ptr() as u64, 0, 0])
}

fn event_channel_op(command: u64, mut argument: [u32; 3]) -> i64 {
    raw(Hypercall::EventChannelOp, [command, argument.as_mut_ptr() as u64, 0, 0, 0])
}

/// Binding a VIRQ that already has a port must fail with `-EEXIST`, as in
/// Xen's `evtchn_bind_virq`. The case binds `VIRQ_DEBUG` first and closes
/// that port again at the end.
fn second_bind_rejected() -> Result<(), String> {
    let mut first = [VIRQ_DEBUG, 0, 0];
    let value = raw(Hypercall::EventChannelOp, [EVTCHNOP_BIND_VIRQ, first.as_mut_ptr() as u64, 0, 0, 0]);
    let bound_here = value == 0;
    if !bound_here && value != Errno::EEXIST.to_return() {
        return Err(format!("precondition: binding VIRQ_DEBUG returned {}", describe_return(value)));
    }

    let result = check_return(Expected::errno(Errno::EEXIST), event_channel_op(EVTCHNOP_BIND_VIRQ, [VIRQ_DEBUG, 0, 0]));

    if bound_here {
        let closed = event_channel_op(EVTCHNOP_CLOSE, [first[2], 0, 0]);
        check_return(Expected::Returns(0), closed).map_err(|problem| format!("closing port {} {problem}", first[2]))?;
    }
    result
}

/// Reads the hypervisor log without clearing it; returns the bytes read.
fn read_log(buffer: &mut [u8]) -> Result<u32, String> {
    let query = ReadConsole { buffer: buffer.as_mut_ptr() as u64, count: buffer.len() as u32, ..Default::default() };
    let mut request = Sysctl::new(sysctl::READCONSOLE, query);
    let value = raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0]);
    check_return(Expected::Returns(0), value).map_err(|problem| format!("reading the log: {problem}"))?;
    Ok(request.payload::<ReadConsole>().count)
}

/// A failed `XEN_SYSCTL_readconsole` must have no effect: Xen copies the
/// ring out before it clears it, so a buffer the hypervisor cannot write
/// leaves the log as it was.
fn readconsole_failure_keeps_log() -> Result<(), String> {
    let mut buffer = [0u8; 64];
    if read_log(&mut buffer)? == 0 {
        return Err(String::from("precondition: the hypervisor log is empty"));
    }
    let query = ReadConsole { clear: 1, buffer: 0x1000, count: 64, ..Default::default() };
    let mut request = Sysctl::new(sysctl::READCONSOLE, query);
    let value = raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0]);
    check_return(Expected::errno(Errno::EFAULT), value)?;
    match read_log(&mut buffer)? {
        0 => Err(String::from("the failed call cleared the hypervisor log")),
        _ => Ok(()),
    }
}
