//! Trap-table and callback registration with hostile addresses (A14).
//!
//! Every handler and callback address must be canonical and outside the
//! hypervisor's reserved L4 slots 256-271, and a refused request must change
//! nothing. Each case therefore ends by checking that `hlt` still bounces
//! `#GP` to the handler the runtime registered, then registers the runtime's
//! table and callbacks again so a wrongly accepted request cannot leak into
//! later cases.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::number::callback;
use hypercalls::trap::TrapInfo;
use hypercalls::trap::vector::GENERAL_PROTECTION;
use hypercalls::{Errno, Hypercall};

use super::check::{Expected, check_guarded, check_return};
use super::memory::{ENTRY_TEXT, NON_CANONICAL, RESERVED_FIRST, RESERVED_LAST_PAGE};
use super::suite::Case;
use crate::hypercall::raw;
use crate::traps;

/// A vector whose stub pushes no error code of its own, like `#GP`'s, so a
/// `#GP` wrongly delivered there still returns cleanly and is recorded
/// with this vector number.
const DECOY_VECTOR: u8 = 30;

/// The lowest non-canonical address above the lower half.
const NON_CANONICAL_LOW: u64 = 0x0000_8000_0000_0000;

/// A registration request and the exact value it must return: one table row.
struct RegistrationCase {
    name: &'static str,
    call: fn() -> i64,
    expected: Expected,
}

const EINVAL: Expected = Expected::errno(Errno::EINVAL);
const ENOSYS: Expected = Expected::errno(Errno::ENOSYS);

const CASES: &[RegistrationCase] = &[
    RegistrationCase { name: "set_trap_table handler 0x8000000000000000", call: || trap_table_with(NON_CANONICAL), expected: EINVAL },
    RegistrationCase { name: "set_trap_table handler 0x800000000000", call: || trap_table_with(NON_CANONICAL_LOW), expected: EINVAL },
    RegistrationCase { name: "set_trap_table handler in reserved slot 256", call: || trap_table_with(RESERVED_FIRST), expected: EINVAL },
    RegistrationCase { name: "set_trap_table handler in the entry area", call: || trap_table_with(ENTRY_TEXT), expected: EINVAL },
    RegistrationCase { name: "set_trap_table handler in reserved slot 271", call: || trap_table_with(RESERVED_LAST_PAGE), expected: EINVAL },
    RegistrationCase {
        name: "set_callbacks non-canonical event callback",
        call: || set_callbacks([NON_CANONICAL, valid_failsafe(), 0]),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "set_callbacks non-canonical failsafe callback",
        call: || set_callbacks([valid_event(), NON_CANONICAL_LOW, 0]),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "set_callbacks failsafe callback in the entry area",
        call: || set_callbacks([valid_event(), ENTRY_TEXT, 0]),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "set_callbacks non-canonical syscall callback",
        call: || set_callbacks([valid_event(), valid_failsafe(), NON_CANONICAL]),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "callback_op register of unknown type 99",
        call: || register_callback(99, valid_event()),
        expected: ENOSYS,
    },
    RegistrationCase {
        name: "callback_op register of a non-canonical event callback",
        call: || register_callback(callback::TYPE_EVENT, NON_CANONICAL),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "callback_op register of a failsafe callback in reserved slot 256",
        call: || register_callback(callback::TYPE_FAILSAFE, RESERVED_FIRST),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "stack_switch to a non-canonical stack",
        call: || raw(Hypercall::StackSwitch, [hypercalls::selectors::GUEST_KERNEL_SS as u64, NON_CANONICAL, 0, 0, 0]),
        expected: EINVAL,
    },
    RegistrationCase {
        name: "stack_switch to the entry stack",
        call: || raw(Hypercall::StackSwitch, [hypercalls::selectors::GUEST_KERNEL_SS as u64, super::memory::ENTRY_STACK_TOP, 0, 0, 0]),
        expected: EINVAL,
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in CASES {
        cases.push(Case::new("A14", row.name, move || run(row)));
    }
}

fn run(row: &RegistrationCase) -> Result<(), String> {
    let value = (row.call)();
    let returned = check_return(row.expected, value);
    let still_handled = check_gp_handler();
    traps::install();
    returned?;
    still_handled
}

/// Checks that `hlt` bounces `#GP[0]` to the runtime's `#GP` handler.
fn check_gp_handler() -> Result<(), String> {
    // SAFETY: `hlt` either faults, and the guard resumes after it, or waits
    // for the next interrupt; it changes no register or memory.
    let guarded = unsafe { crate::expect_fault!("hlt") };
    check_guarded(Expected::fault(GENERAL_PROTECTION, &[0]), guarded)
        .map_err(|problem| format!("after the request, hlt {problem}"))
}

fn valid_event() -> u64 {
    traps::callback_addresses().0
}

fn valid_failsafe() -> u64 {
    traps::callback_addresses().1
}

/// Registers a table that first points `#GP` at the decoy stub, then puts
/// `handler` on vector 19. A hypervisor that applies entries before it
/// finds the bad one leaves `#GP` on the decoy, and the `hlt` check then
/// reports the decoy's vector.
fn trap_table_with(handler: u64) -> i64 {
    let entry = |vector: u8, address: u64| TrapInfo {
        vector,
        flags: 0,
        cs: hypercalls::selectors::GUEST_KERNEL_CS,
        _pad: 0,
        address,
    };
    let table = [
        entry(GENERAL_PROTECTION, traps::stub_address(DECOY_VECTOR)),
        entry(19, handler),
        TrapInfo::default(),
    ];
    raw(Hypercall::SetTrapTable, [table.as_ptr() as u64, 0, 0, 0, 0])
}

fn set_callbacks(addresses: [u64; 3]) -> i64 {
    raw(Hypercall::SetCallbacks, [addresses[0], addresses[1], addresses[2], 0, 0])
}

fn register_callback(kind: u16, address: u64) -> i64 {
    let request = hypercalls::trap::CallbackRegister { kind, flags: 0, _pad: 0, address };
    raw(Hypercall::CallbackOp, [callback::OP_REGISTER, &raw const request as u64, 0, 0, 0])
}
