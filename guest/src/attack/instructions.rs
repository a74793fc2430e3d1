//! Privileged instructions and software interrupts from ring 1 (A17, A13).
//!
//! Ring 1 runs with IOPL 0 and no I/O permission bitmap, so each privileged
//! instruction raises `#GP[0]` in ring 0, which the hypervisor must bounce
//! to the guest's handler unchanged, with the RIP of the instruction. `int n`
//! through a DPL-0 gate raises `#GP` with the IDT bit set in the error code.
//! `int3` goes through a DPL-3 gate and arrives as `#BP` with the RIP after
//! it. `syscall` raises `#UD` because the hypervisor leaves EFER.SCE clear.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::trap::vector::{BREAKPOINT, GENERAL_PROTECTION, INVALID_OPCODE};

use super::check::{Expected, FaultRip, check_guarded};
use super::suite::Case;
use crate::expect_fault;
use crate::fault::Guarded;

const GP_ZERO: Expected = Expected::fault(GENERAL_PROTECTION, &[0]);
const UD: Expected = Expected::fault(INVALID_OPCODE, &[0]);

/// `#GP` from `int n` through a gate whose DPL is below the caller's CPL.
/// The error code is the vector's IDT selector with the IDT bit set,
/// `(n << 3) | 2`, but QEMU TCG reports `(n << 4) | 2` (its `do_interrupt64`
/// passes the gate's byte offset in the 16-byte-per-gate long-mode IDT), so
/// both are accepted.
const INT_0X80_GP: Expected = Expected::fault(GENERAL_PROTECTION, &[(0x80 << 3) | 2, (0x80 << 4) | 2]);
const INT_0X20_GP: Expected = Expected::fault(GENERAL_PROTECTION, &[(0x20 << 3) | 2, (0x20 << 4) | 2]);

/// EFER, the MSR that contains SCE, LME and NXE.
const MSR_EFER: u32 = 0xC000_0080;
/// EFER.SCE: enables `syscall`, which the hypervisor keeps off.
const EFER_SCE: u32 = 1 << 0;
/// Selector of the hypervisor's TSS in its GDT.
const TSS_SELECTOR: u16 = hypercalls::selectors::TSS;

/// A snippet and the exception it must raise: one table row.
struct InstructionCase {
    id: &'static str,
    name: &'static str,
    run: fn() -> Guarded,
    expected: Expected,
    /// The exception is expected only when the CPU has UMIP (CPUID leaf 7,
    /// ECX bit 2), because the hypervisor enables UMIP only then. Without
    /// UMIP the instruction must run.
    needs_umip: bool,
}

const fn case(id: &'static str, name: &'static str, run: fn() -> Guarded, expected: Expected) -> InstructionCase {
    InstructionCase { id, name, run, expected, needs_umip: false }
}

// SAFETY (for every snippet below): each instruction is privileged in ring 1
// and faults before it has any effect, and the guard resumes after it. Each
// snippet names every register it would write as an output, and memory
// operands point at local buffers, so even an instruction that wrongly ran
// would only write those.
const CASES: &[InstructionCase] = &[
    case("A17", "cli", || unsafe { expect_fault!("cli") }, GP_ZERO),
    case("A17", "sti", || unsafe { expect_fault!("sti") }, GP_ZERO),
    case("A17", "hlt", || unsafe { expect_fault!("hlt") }, GP_ZERO),
    case("A17", "in from port 0x80", || unsafe { expect_fault!("in al, dx"; in("dx") 0x80u16, out("al") _) }, GP_ZERO),
    case("A17", "out to port 0x80", || unsafe { expect_fault!("out dx, al"; in("dx") 0x80u16, in("al") 0u8) }, GP_ZERO),
    case("A17", "in from port 0x3f8", || unsafe { expect_fault!("in al, dx"; in("dx") 0x3F8u16, out("al") _) }, GP_ZERO),
    case("A17", "out to port 0x3f8", || unsafe { expect_fault!("out dx, al"; in("dx") 0x3F8u16, in("al") b'!') }, GP_ZERO),
    case(
        "A17",
        "rdmsr EFER",
        || unsafe { expect_fault!("rdmsr"; in("ecx") MSR_EFER, out("eax") _, out("edx") _) },
        GP_ZERO,
    ),
    case(
        "A17",
        "wrmsr EFER with SCE set",
        || unsafe { expect_fault!("wrmsr"; in("ecx") MSR_EFER, in("eax") EFER_SCE, in("edx") 0u32) },
        GP_ZERO,
    ),
    case("A17", "rdmsr of unknown MSR 0x12345678", || unsafe { expect_fault!("rdmsr"; in("ecx") 0x1234_5678u32, out("eax") _, out("edx") _) }, GP_ZERO),
    case("A17", "mov from cr0", || unsafe { expect_fault!("mov {value}, cr0"; value = out(reg) _) }, GP_ZERO),
    case("A17", "mov to cr0", || unsafe { expect_fault!("mov cr0, {value}"; value = in(reg) 0u64) }, GP_ZERO),
    case("A17", "mov from cr3", || unsafe { expect_fault!("mov {value}, cr3"; value = out(reg) _) }, GP_ZERO),
    case("A17", "mov to cr3", || unsafe { expect_fault!("mov cr3, {value}"; value = in(reg) 0u64) }, GP_ZERO),
    case("A17", "mov from cr4", || unsafe { expect_fault!("mov {value}, cr4"; value = out(reg) _) }, GP_ZERO),
    case("A17", "mov to cr4", || unsafe { expect_fault!("mov cr4, {value}"; value = in(reg) 0u64) }, GP_ZERO),
    case("A17", "lgdt", || unsafe { expect_fault!("lgdt [{table}]"; table = in(reg) [0u8; 10].as_ptr()) }, GP_ZERO),
    case("A17", "lidt", || unsafe { expect_fault!("lidt [{table}]"; table = in(reg) [0u8; 10].as_ptr()) }, GP_ZERO),
    case("A17", "ltr with the hypervisor's TSS selector", || unsafe { expect_fault!("ltr {selector:x}"; selector = in(reg) TSS_SELECTOR) }, GP_ZERO),
    case("A17", "invlpg", || unsafe { expect_fault!("invlpg [{address}]"; address = in(reg) 0x40_0000u64) }, GP_ZERO),
    case("A17", "wbinvd", || unsafe { expect_fault!("wbinvd") }, GP_ZERO),
    case("A17", "swapgs", || unsafe { expect_fault!("swapgs") }, GP_ZERO),
    // After the wrmsr row, so it also shows that the write did not set EFER.SCE.
    case("A17", "syscall with EFER.SCE clear", || unsafe { expect_fault!("syscall"; out("rcx") _, out("r11") _) }, UD),
    case("A13", "ud2", || unsafe { expect_fault!("ud2") }, UD),
    case("A13", "int 0x80 through a DPL-0 gate", || unsafe { expect_fault!("int 0x80") }, INT_0X80_GP),
    case("A13", "int 0x20 through a DPL-0 gate", || unsafe { expect_fault!("int 0x20") }, INT_0X20_GP),
    case(
        "A13",
        "int3",
        || unsafe { expect_fault!("int3") },
        Expected::Fault { vector: BREAKPOINT, error_codes: &[0], rip: FaultRip::Next },
    ),
    InstructionCase {
        id: "A22",
        name: "sgdt",
        run: || unsafe { expect_fault!("sgdt [{table}]"; table = in(reg) [0u8; 10].as_mut_ptr()) },
        expected: GP_ZERO,
        needs_umip: true,
    },
    InstructionCase {
        id: "A22",
        name: "sidt",
        run: || unsafe { expect_fault!("sidt [{table}]"; table = in(reg) [0u8; 10].as_mut_ptr()) },
        expected: GP_ZERO,
        needs_umip: true,
    },
    InstructionCase {
        id: "A22",
        name: "str",
        run: || unsafe { expect_fault!("str {selector:x}"; selector = out(reg) _) },
        expected: GP_ZERO,
        needs_umip: true,
    },
];

pub fn add_cases(cases: &mut Vec<Case>) {
    for row in CASES {
        cases.push(Case::new(row.id, format!("{} in ring 1", row.name), move || run(row)));
    }
    cases.push(Case::new("A17", "popf in ring 1 keeps IF set and IOPL 0", popf_keeps_flags));
}

fn run(row: &InstructionCase) -> Result<(), String> {
    let expected = if row.needs_umip && !cpu_has_umip() { Expected::NoFault } else { row.expected };
    check_guarded(expected, (row.run)())
}

fn cpu_has_umip() -> bool {
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    leaf7.ecx & (1 << 2) != 0
}

/// `popf` in ring 1 cannot fault with IOPL 0: it must silently leave IF
/// and IOPL unchanged, which `pushf` then shows.
fn popf_keeps_flags() -> Result<(), String> {
    const IF: u64 = 1 << 9;
    const IOPL: u64 = 3 << 12;
    let flags: u64;

    // SAFETY: the snippet pushes and pops words on the current stack and
    // writes only the named registers. At CPL 1 with IOPL 0, `popf` cannot
    // clear IF or change IOPL. The flags it can change are restored by the
    // second `popf`, of the saved value.
    let guarded = unsafe {
        expect_fault!(
            "pushfq",
            "pop {saved}",
            "mov {changed}, {saved}",
            "and {changed}, {clear_if}",
            "or {changed}, {iopl}",
            "push {changed}",
            "popfq",
            "pushfq",
            "pop {flags}",
            "push {saved}",
            "popfq";
            saved = out(reg) _,
            changed = out(reg) _,
            flags = out(reg) flags,
            clear_if = in(reg) !IF,
            iopl = in(reg) IOPL,
        )
    };

    check_guarded(Expected::NoFault, guarded)?;
    if flags & IF == 0 {
        return Err(format!("popf cleared IF: pushf read {flags:#x}"));
    }
    if flags & IOPL != 0 {
        return Err(format!("popf raised IOPL to {}: pushf read {flags:#x}", (flags & IOPL) >> 12));
    }
    Ok(())
}
