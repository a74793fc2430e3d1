//! Privileged hypercalls from an unprivileged domain (A46), run by a DomU
//! with `selftest=privilege`.
//!
//! Every call here is one the control domain may make. From a DomU each must
//! return `-EPERM` before it reads or changes anything. The arguments are
//! well-formed requests, so a missing privilege check would act on them:
//! create a domain, pause or stop Dom0, read the hypervisor's console, or
//! allocate memory for Dom0. The integration test then also sees Dom0 stop
//! answering.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::domctl::{self, CreateDomain, Domctl, MaxMem, MemoryReservation};
use hypercalls::number::consoleio;
use hypercalls::sched::{SCHEDOP_REMOTE_SHUTDOWN, ShutdownReason};
use hypercalls::sysctl::{self, GetDomainInfoList, PhysInfo, ReadConsole, Sysctl};
use hypercalls::{DOMID_SELF, DomId, Errno, Hypercall};

use super::check::{Expected, check_return};
use super::suite::Case;
use crate::hypercall::{MmuUpdate, MmuextOp, raw};

const EPERM: Expected = Expected::errno(Errno::EPERM);

/// `EVTCHNOP_alloc_unbound`.
const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
/// `MMUEXT_PIN_L1_TABLE`.
const MMUEXT_PIN_L1_TABLE: u32 = 0;

/// Returns the domain's id from the `domid=` word the builder puts on the
/// command line, or `DOMID_SELF` when there is none.
pub(super) fn own_domid() -> DomId {
    crate::start_info()
        .command_line()
        .split(|byte| byte.is_ascii_whitespace())
        .find_map(|word| core::str::from_utf8(word.strip_prefix(b"domid=")?).ok()?.parse().ok())
        .unwrap_or(DOMID_SELF)
}

fn domctl_call(command: u32, domain: DomId, payload: impl Copy) -> i64 {
    let mut request = Domctl::new(command, domain, payload);
    raw(Hypercall::Domctl, [&raw mut request as u64, 0, 0, 0, 0])
}

fn sysctl_call(command: u32, payload: impl Copy) -> i64 {
    let mut request = Sysctl::new(command, payload);
    raw(Hypercall::Sysctl, [&raw mut request as u64, 0, 0, 0, 0])
}

/// A privileged call and the name of what it tries: one table row.
struct PrivilegedCall {
    name: &'static str,
    call: fn() -> i64,
}

/// Returns a domain configuration the hypervisor would accept from Dom0.
fn create_config() -> CreateDomain {
    CreateDomain { max_vcpus: 1, ..Default::default() }
}

fn populate_for(domid: DomId, command: u64) -> i64 {
    let mut frames = [0u64; 1];
    let mut request = MemoryReservation { extent_start: frames.as_mut_ptr() as u64, nr_extents: 1, domid, ..Default::default() };
    raw(Hypercall::MemoryOp, [command, &raw mut request as u64, 0, 0, 0])
}

const CALLS: &[PrivilegedCall] = &[
    PrivilegedCall { name: "domctl createdomain", call: || domctl_call(domctl::CREATEDOMAIN, 0, create_config()) },
    PrivilegedCall { name: "domctl createdomain with id 100", call: || domctl_call(domctl::CREATEDOMAIN, 100, create_config()) },
    PrivilegedCall { name: "domctl destroydomain of itself", call: || domctl_call(domctl::DESTROYDOMAIN, own_domid(), ()) },
    PrivilegedCall { name: "domctl destroydomain of Dom0", call: || domctl_call(domctl::DESTROYDOMAIN, 0, ()) },
    PrivilegedCall { name: "domctl pausedomain of Dom0", call: || domctl_call(domctl::PAUSEDOMAIN, 0, ()) },
    PrivilegedCall { name: "domctl pausedomain of itself", call: || domctl_call(domctl::PAUSEDOMAIN, own_domid(), ()) },
    PrivilegedCall { name: "domctl unpausedomain of Dom0", call: || domctl_call(domctl::UNPAUSEDOMAIN, 0, ()) },
    PrivilegedCall { name: "domctl getdomaininfo of Dom0", call: || domctl_call(domctl::GETDOMAININFO, 0, ()) },
    PrivilegedCall {
        name: "domctl max_mem of itself to 1 GiB",
        call: || domctl_call(domctl::MAX_MEM, own_domid(), MaxMem { max_memkb: 1 << 20 }),
    },
    PrivilegedCall { name: "sysctl physinfo", call: || sysctl_call(sysctl::PHYSINFO, PhysInfo::default()) },
    PrivilegedCall {
        name: "sysctl readconsole",
        call: || {
            let mut buffer = [0u8; 256];
            let query = ReadConsole { buffer: buffer.as_mut_ptr() as u64, count: buffer.len() as u32, ..Default::default() };
            sysctl_call(sysctl::READCONSOLE, query)
        },
    },
    PrivilegedCall {
        name: "sysctl getdomaininfolist",
        call: || {
            let mut buffer = [0u8; 1024];
            let query = GetDomainInfoList { max_domains: 4, buffer: buffer.as_mut_ptr() as u64, ..Default::default() };
            sysctl_call(sysctl::GETDOMAININFOLIST, query)
        },
    },
    PrivilegedCall {
        name: "console_io write",
        call: || {
            let text = b"DomU wrote on the hypervisor console\r\n";
            raw(Hypercall::ConsoleIo, [consoleio::WRITE, text.len() as u64, text.as_ptr() as u64, 0, 0])
        },
    },
    PrivilegedCall {
        name: "console_io read",
        call: || {
            let mut buffer = [0u8; 64];
            raw(Hypercall::ConsoleIo, [consoleio::READ, buffer.len() as u64, buffer.as_mut_ptr() as u64, 0, 0])
        },
    },
    PrivilegedCall { name: "memory_op populate_physmap for Dom0", call: || populate_for(0, domctl::XENMEM_POPULATE_PHYSMAP) },
    PrivilegedCall { name: "memory_op increase_reservation for Dom0", call: || populate_for(0, domctl::XENMEM_INCREASE_RESERVATION) },
    PrivilegedCall {
        name: "memory_op current_reservation of Dom0",
        call: || {
            let mut domid: DomId = 0;
            raw(Hypercall::MemoryOp, [domctl::XENMEM_CURRENT_RESERVATION, &raw mut domid as u64, 0, 0, 0])
        },
    },
    PrivilegedCall {
        name: "event_channel_op alloc_unbound owned by Dom0",
        call: || {
            // `evtchn_alloc_unbound`: dom and remote_dom (u16 each), then the port out.
            let mut request: [u32; 2] = [u32::from(DOMID_SELF) << 16, 0];
            raw(Hypercall::EventChannelOp, [EVTCHNOP_ALLOC_UNBOUND, request.as_mut_ptr() as u64, 0, 0, 0])
        },
    },
    PrivilegedCall {
        name: "SCHEDOP_remote_shutdown of Dom0",
        call: || {
            let request: [u32; 2] = [0, ShutdownReason::Poweroff as u32];
            raw(Hypercall::SchedOp, [SCHEDOP_REMOTE_SHUTDOWN, request.as_ptr() as u64, 0, 0, 0])
        },
    },
    PrivilegedCall {
        name: "SCHEDOP_remote_shutdown of itself",
        call: || {
            let request: [u32; 2] = [u32::from(own_domid()), ShutdownReason::Poweroff as u32];
            raw(Hypercall::SchedOp, [SCHEDOP_REMOTE_SHUTDOWN, request.as_ptr() as u64, 0, 0, 0])
        },
    },
    PrivilegedCall {
        name: "mmu_update with foreigndom 0",
        call: || {
            let request = [MmuUpdate { pointer: 0, value: 0 }];
            raw(Hypercall::MmuUpdate, [request.as_ptr() as u64, 1, 0, 0, 0])
        },
    },
    PrivilegedCall {
        name: "mmuext_op with foreigndom 0",
        call: || {
            let operation = [MmuextOp { command: MMUEXT_PIN_L1_TABLE, argument: 0x200, ..Default::default() }];
            raw(Hypercall::MmuextOp, [operation.as_ptr() as u64, 1, 0, 0, 0])
        },
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in CALLS {
        cases.push(Case::new("A46", format!("{} from a DomU", row.name), move || run(row)));
    }
}

fn run(row: &PrivilegedCall) -> Result<(), String> {
    check_return(EPERM, (row.call)())
}
