//! Hypercall buffers the hypervisor must refuse with `-EFAULT` (A41).
//!
//! Every hypercall that takes a guest pointer is called with every address
//! of [`ADDRESSES`]: a table of calls crossed with a table of addresses, so
//! a new call or a new address is one row. The hypervisor may only touch
//! memory the guest maps, with the access the guest's own mapping allows,
//! and must check a whole buffer before it writes any of it. Where the
//! guest can read the target bytes, a case reads them before and after the
//! call and requires them unchanged.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::number::{callback, consoleio, xenver};
use hypercalls::sched::SCHEDOP_SHUTDOWN;
use hypercalls::sysctl::{self, DomainInfo, GetDomainInfoList, ReadConsole, Sysctl};
use hypercalls::{Errno, Hypercall};

use super::check::{Expected, check_return};
use super::memory::{
    ENTRY_DATA, ENTRY_GDT, ENTRY_IDT, ENTRY_STACK_TOP, ENTRY_TEXT, ENTRY_TSS, NON_CANONICAL, check_snapshot, snapshot,
};
use super::suite::Case;
use crate::hypercall::raw;

/// A hypercall that takes a pointer: one table row.
struct Target {
    name: &'static str,
    /// Bytes a successful call writes at the pointer; 0 when it only reads.
    writes: usize,
    /// The call writes through the pointer, or checks that it can, before
    /// it acts on anything it read there, so a readable but read-only buffer
    /// must give `-EFAULT` too.
    rejects_read_only: bool,
    /// NULL is a valid argument with its own meaning, so the NULL row is skipped.
    null_is_valid: bool,
    call: fn(u64) -> i64,
}

/// `EVTCHNOP_*` commands.
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_UNMASK: u64 = 9;

/// Bytes the console cases read or write.
const CONSOLE_BYTES: u64 = 16;
/// Bytes the `XEN_SYSCTL_readconsole` case requests. The log contains the
/// boot messages, so the hypervisor always has bytes to copy.
const READCONSOLE_BYTES: u32 = 64;

const TARGETS: &[Target] = &[
    Target {
        name: "console_io write",
        writes: 0,
        rejects_read_only: false,
        null_is_valid: false,
        call: |buffer| raw(Hypercall::ConsoleIo, [consoleio::WRITE, CONSOLE_BYTES, buffer, 0, 0]),
    },
    Target {
        name: "console_io read",
        writes: CONSOLE_BYTES as usize,
        rejects_read_only: true,
        null_is_valid: false,
        call: |buffer| raw(Hypercall::ConsoleIo, [consoleio::READ, CONSOLE_BYTES, buffer, 0, 0]),
    },
    Target {
        name: "xen_version extraversion",
        writes: xenver::EXTRAVERSION_LEN,
        rejects_read_only: true,
        null_is_valid: false,
        call: |buffer| raw(Hypercall::XenVersion, [xenver::EXTRAVERSION, buffer, 0, 0, 0]),
    },
    Target {
        name: "xen_version capabilities",
        writes: xenver::CAPABILITIES_LEN,
        rejects_read_only: true,
        null_is_valid: false,
        call: |buffer| raw(Hypercall::XenVersion, [xenver::CAPABILITIES, buffer, 0, 0, 0]),
    },
    Target {
        // set_trap_table(NULL) clears the whole table, which the ABI defines.
        name: "set_trap_table",
        writes: 0,
        rejects_read_only: false,
        null_is_valid: true,
        call: |table| raw(Hypercall::SetTrapTable, [table, 0, 0, 0, 0]),
    },
    Target {
        name: "sysctl physinfo",
        writes: size_of::<Sysctl>(),
        rejects_read_only: false,
        null_is_valid: false,
        call: |request| raw(Hypercall::Sysctl, [request, 0, 0, 0, 0]),
    },
    Target {
        name: "sysctl readconsole buffer",
        writes: READCONSOLE_BYTES as usize,
        rejects_read_only: true,
        null_is_valid: false,
        call: |buffer| {
            let query = ReadConsole { buffer, count: READCONSOLE_BYTES, ..Default::default() };
            let mut request = Sysctl::new(sysctl::READCONSOLE, query);
            raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0])
        },
    },
    Target {
        name: "sysctl getdomaininfolist buffer",
        writes: size_of::<DomainInfo>(),
        rejects_read_only: true,
        null_is_valid: false,
        call: |buffer| {
            let query = GetDomainInfoList { first_domain: 0, max_domains: 1, buffer, ..Default::default() };
            let mut request = Sysctl::new(sysctl::GETDOMAININFOLIST, query);
            raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0])
        },
    },
    Target {
        name: "callback_op register",
        writes: 0,
        rejects_read_only: false,
        null_is_valid: false,
        call: |request| raw(Hypercall::CallbackOp, [callback::OP_REGISTER, request, 0, 0, 0]),
    },
    Target {
        name: "sched_op shutdown",
        writes: 0,
        rejects_read_only: false,
        null_is_valid: false,
        call: |request| raw(Hypercall::SchedOp, [SCHEDOP_SHUTDOWN, request, 0, 0, 0]),
    },
    Target {
        name: "event_channel_op bind_virq",
        writes: 12,
        rejects_read_only: true,
        null_is_valid: false,
        call: |request| raw(Hypercall::EventChannelOp, [EVTCHNOP_BIND_VIRQ, request, 0, 0, 0]),
    },
    Target {
        name: "event_channel_op unmask",
        writes: 0,
        rejects_read_only: false,
        null_is_valid: false,
        call: |request| raw(Hypercall::EventChannelOp, [EVTCHNOP_UNMASK, request, 0, 0, 0]),
    },
];

/// A buffer address the hypervisor must refuse: one table row.
struct BadAddress {
    name: &'static str,
    address: fn() -> u64,
    /// The guest maps the address readable but not writable: only calls that
    /// write ([`Target::rejects_read_only`]) must refuse it.
    read_only: bool,
    /// The bytes there change on their own (the entry stack), so they are
    /// not compared.
    volatile: bool,
}

const fn address(name: &'static str, address: fn() -> u64) -> BadAddress {
    BadAddress { name, address, read_only: false, volatile: false }
}

const ADDRESSES: &[BadAddress] = &[
    address("NULL", || 0),
    address("non-canonical 0x8000000000000000", || NON_CANONICAL),
    address("entry-area GDT", || ENTRY_GDT),
    address("entry-area IDT", || ENTRY_IDT),
    address("entry-area TSS", || ENTRY_TSS),
    address("entry trampoline code", || ENTRY_TEXT),
    address("entry trampoline data", || ENTRY_DATA),
    BadAddress { name: "entry stack", address: || ENTRY_STACK_TOP - 256, read_only: false, volatile: true },
    address("unmapped 0x1000", || 0x1000),
    address("hypervisor image 0x100000", || 0x10_0000),
    address("unmapped 0x7ffffffff000", || 0x7FFF_FFFF_F000),
    // Every target reads or writes at least 4 bytes, so 2 bytes before the
    // end always cross it.
    address("straddling the end of memory", || crate::entry::memory_end() - 2),
    BadAddress { name: "read-only L4 page table", address: || crate::start_info().pt_base, read_only: true, volatile: false },
    // The page before the L4 is start_info, writable; a partial write would show there.
    BadAddress {
        name: "straddling into the read-only L4",
        address: || crate::start_info().pt_base - 8,
        read_only: true,
        volatile: false,
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for target in TARGETS {
        for bad in ADDRESSES {
            if (bad.read_only && !target.rejects_read_only) || (target.null_is_valid && (bad.address)() == 0) {
                continue;
            }
            cases.push(Case::new("A41", format!("{} with buffer {}", target.name, bad.name), move || run(target, bad)));
        }
    }
}

fn run(target: &Target, bad: &BadAddress) -> Result<(), String> {
    let address = (bad.address)();
    let before = if bad.volatile { None } else { snapshot(address, target.writes) };
    let value = (target.call)(address);
    check_return(Expected::errno(Errno::EFAULT), value)?;
    check_snapshot("the buffer", address, &before)
}
