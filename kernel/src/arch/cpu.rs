//! Descriptor tables, the TSS and the entry area that holds them.
//!
//! The GDT, IDT and TSS live in the entry area, read-only, because the CPU
//! reads them while a guest's CR3 is loaded. Every descriptor's accessed bit
//! is preset, since the CPU could not set it in a read-only GDT.

use super::entry::{self, TrapFrame};
use super::layout;
use super::memory::{self, frame_pointer};
use super::paging::{self, EntryAccess, Tables};
use crate::frames::{FRAME_SIZE, Mfn};
use hypercalls::page::HYPERCALL_VECTOR;
use hypercalls::selectors;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// The GDT, indexed by selector / 8.
const GDT_ENTRIES: [u64; selectors::GDT_ENTRIES - 2] = [
    0,
    // 0x08: ring-0 64-bit code (P, DPL 0, execute/read, accessed, L).
    0x0020_9B00_0000_0000,
    // 0x10: ring-0 data (P, DPL 0, read/write, accessed).
    0x00CF_9300_0000_FFFF,
    // 0x18: ring-1 64-bit code (DPL 1, L=1, D=0).
    0x0020_BB00_0000_0000,
    // 0x20: ring-1 data (DPL 1, writable): the guest kernel's SS.
    0x00CF_B300_0000_FFFF,
    // 0x28: ring-3 data.
    0x00CF_F300_0000_FFFF,
    // 0x30: ring-3 64-bit code.
    0x0020_FB00_0000_0000,
];

/// Interrupt gate type with DPL 0; OR in `dpl << 5`.
const INTERRUPT_GATE: u64 = 0x8E;

/// IST slots (1-based, as the gate field counts them).
const IST_NMI: u64 = 1;
const IST_DOUBLE_FAULT: u64 = 2;
const IST_MACHINE_CHECK: u64 = 3;

// The hypervisor stack, 256 KiB in `.bss`. Both entries switch to it before
// they call into Rust boot code, and every entry from a guest starts afresh
// at its top.
core::arch::global_asm!(
    r#"
    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip 256 * 1024
    .global boot_stack_top
boot_stack_top:
"#
);

unsafe extern "C" {
    static boot_stack_top: u8;
    static mut boot_stack_bottom: u64;
}

/// Pattern written at the bottom of the hypervisor stack; finding it changed
/// means the stack overflowed into whatever lies below it.
const STACK_CANARY: u64 = 0x5354_4143_4B5F_4F4B;

/// Writes the stack canary; called once during boot.
pub fn arm_stack_canary() {
    // SAFETY: the bottom word of the boot stack is unused until the stack is
    // nearly full, and only this function and the check touch it.
    unsafe { (&raw mut boot_stack_bottom).write_volatile(STACK_CANARY) };
}

/// Returns false when the hypervisor stack overflowed its bottom word.
pub fn stack_canary_intact() -> bool {
    // SAFETY: as in `arm_stack_canary`; a volatile read of an integer.
    unsafe { (&raw const boot_stack_bottom).read_volatile() == STACK_CANARY }
}

/// Top of the hypervisor stack: boot runs on it, and every entry from a guest starts afresh at its top.
pub fn hypervisor_stack_top() -> u64 {
    &raw const boot_stack_top as u64
}

/// Fills and maps the entry area, then loads the GDT, TSS and IDT from it.
pub fn init(tables: &Tables) {
    map_entry_text();
    let data = map_new(layout::ENTRY_DATA, 1, EntryAccess::ReadOnly);
    write_u64(data, layout::ENTRY_DATA_CR3, tables.hypervisor_l4 << 12);
    write_u64(data, layout::ENTRY_DATA_STACK, hypervisor_stack_top());
    map_new(layout::ENTRY_STACK_BOTTOM, 2, EntryAccess::Writable);
    for bottom in [layout::IST_NMI_BOTTOM, layout::IST_DOUBLE_FAULT_BOTTOM, layout::IST_MACHINE_CHECK_BOTTOM] {
        map_new(bottom, layout::IST_STACK_PAGES, EntryAccess::Writable);
    }

    let gdt = map_new(layout::GDT, 1, EntryAccess::ReadOnly);
    let tss = map_new(layout::TSS, 1, EntryAccess::ReadOnly);
    let idt = map_new(layout::IDT, 1, EntryAccess::ReadOnly);
    fill_gdt(gdt);
    fill_tss(tss);
    fill_idt(idt);
    load(gdt);
}

/// Maps the trampoline's pages, whose frames are part of the hypervisor image.
fn map_entry_text() {
    let (start, end) = entry::text_range();
    let pages = (end - start) / FRAME_SIZE;
    assert!(pages <= layout::ENTRY_TEXT_MAX_PAGES, "entry trampoline outgrew its area");
    for page in 0..pages {
        let physical = paging::translate(start + page * FRAME_SIZE).expect("the hypervisor image is mapped");
        paging::map_entry_page(layout::ENTRY_TEXT + page * FRAME_SIZE, physical / FRAME_SIZE, EntryAccess::Executable);
    }
}

/// Allocates `pages` zeroed frames and maps them from `address`; returns the first.
fn map_new(address: u64, pages: u64, access: EntryAccess) -> Mfn {
    let mut first = None;
    for page in 0..pages {
        let mfn = memory::with(|memory| memory.allocate_hypervisor_frame())
            .expect("boot needs free frames for the entry area");
        first.get_or_insert(mfn);
        paging::map_entry_page(address + page * FRAME_SIZE, mfn, access);
    }
    first.expect("at least one page")
}

fn write_u64(mfn: Mfn, offset: u64, value: u64) {
    // SAFETY: the frame is the hypervisor's, identity-mapped, and the offset is inside it.
    unsafe { (frame_pointer(mfn).add(offset as usize) as *mut u64).write_volatile(value) };
}

fn fill_gdt(gdt: Mfn) {
    for (index, &descriptor) in GDT_ENTRIES.iter().enumerate() {
        write_u64(gdt, index as u64 * 8, descriptor);
    }
    let base = layout::TSS;
    let limit = core::mem::size_of::<TaskStateSegment>() as u64 - 1;
    let low = (limit & 0xFFFF)
        | (base & 0xFF_FFFF) << 16
        | 0x89 << 40 // present, DPL 0, available 64-bit TSS
        | ((limit >> 16) & 0xF) << 48
        | ((base >> 24) & 0xFF) << 56;
    write_u64(gdt, selectors::TSS as u64, low);
    write_u64(gdt, selectors::TSS as u64 + 8, base >> 32);
}

fn fill_tss(tss: Mfn) {
    let mut segment = TaskStateSegment::new();
    segment.privilege_stack_table[0] = VirtAddr::new(layout::ENTRY_STACK_TOP);
    let ist_top = |bottom: u64| VirtAddr::new(bottom + layout::IST_STACK_PAGES * FRAME_SIZE);
    segment.interrupt_stack_table[IST_NMI as usize - 1] = ist_top(layout::IST_NMI_BOTTOM);
    segment.interrupt_stack_table[IST_DOUBLE_FAULT as usize - 1] = ist_top(layout::IST_DOUBLE_FAULT_BOTTOM);
    segment.interrupt_stack_table[IST_MACHINE_CHECK as usize - 1] = ist_top(layout::IST_MACHINE_CHECK_BOTTOM);
    // No I/O permission bitmap: every port faults outside ring 0.
    segment.iomap_base = core::mem::size_of::<TaskStateSegment>() as u16;
    // SAFETY: the frame is the hypervisor's, identity-mapped and page-sized.
    unsafe { (frame_pointer(tss) as *mut TaskStateSegment).write(segment) };
}

fn fill_idt(idt: Mfn) {
    for vector in 0..=255u8 {
        let handler = entry::stub_address(vector);
        let dpl: u64 = match vector {
            // int3 and into may be raised by anyone, as on Xen.
            3 | 4 => 3,
            HYPERCALL_VECTOR => 1,
            _ => 0,
        };
        let ist = match vector {
            2 => IST_NMI,
            8 => IST_DOUBLE_FAULT,
            18 => IST_MACHINE_CHECK,
            _ => 0,
        };
        let low = (handler & 0xFFFF)
            | (selectors::HYPERVISOR_CS as u64) << 16
            | ist << 32
            | (INTERRUPT_GATE | dpl << 5) << 40
            | ((handler >> 16) & 0xFFFF) << 48;
        write_u64(idt, vector as u64 * 16, low);
        write_u64(idt, vector as u64 * 16 + 8, handler >> 32);
    }
}

#[repr(C, packed)]
struct TablePointer {
    limit: u16,
    base: u64,
}

/// Loads the tables. `ltr` marks the TSS descriptor busy, a write the
/// read-only entry-area GDT would refuse, so the GDT is first loaded through
/// its writable identity-mapped address, then through the entry area.
fn load(gdt: Mfn) {
    let limit = (selectors::GDT_ENTRIES * 8 - 1) as u16;
    let writable = TablePointer { limit, base: gdt * FRAME_SIZE };
    let shared = TablePointer { limit, base: layout::GDT };
    let idt = TablePointer { limit: 256 * 16 - 1, base: layout::IDT };
    // SAFETY: both GDT pointers name the same fully initialised table, whose
    // code and data selectors match the ones in use; the TSS descriptor is
    // valid and available; the IDT's gates all point at mapped stubs.
    unsafe {
        core::arch::asm!(
            "lgdt [{writable}]",
            "push {code}",
            "lea {scratch}, [rip + 2f]",
            "push {scratch}",
            "retfq",
            "2:",
            "mov {scratch:e}, {data}",
            "mov ds, {scratch:e}",
            "mov es, {scratch:e}",
            "mov ss, {scratch:e}",
            "ltr {tss:x}",
            "lgdt [{shared}]",
            "lidt [{idt}]",
            writable = in(reg) &writable,
            shared = in(reg) &shared,
            idt = in(reg) &idt,
            code = const selectors::HYPERVISOR_CS as u64,
            data = const selectors::HYPERVISOR_DS as u32,
            tss = in(reg) selectors::TSS as u64,
            scratch = out(reg) _,
        );
    }
}

/// Clears CR4.PGE, then sets CR4.UMIP where the CPU has it, so ring 1 and
/// 3 cannot read the descriptor-table registers with `sgdt`, `sidt` or
/// `str`. Returns whether UMIP is on and whether PGE was on before.
///
/// Guests may set the global bit in their own page-table entries. With PGE
/// on, such an entry would survive the CR3 switch to another domain and
/// hand it this domain's page. GRUB and QEMU's loader leave PGE off, but
/// UEFI firmware may turn it on, so it is cleared here on every path.
pub fn harden_control_registers() -> (bool, bool) {
    let before: u64;
    // SAFETY: clearing CR4.PGE only makes global TLB entries ordinary ones
    // and flushes them. The hypervisor's only global mappings are the entry
    // area's, which every address space maps the same way.
    unsafe {
        core::arch::asm!(
            "mov {before}, cr4",
            "mov {tmp}, {before}",
            "and {tmp}, {mask}",
            "mov cr4, {tmp}",
            before = out(reg) before,
            tmp = out(reg) _,
            mask = in(reg) !(1u64 << 7),
        );
    }
    let global_pages_were_on = before & (1 << 7) != 0;
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    if leaf7.ecx & (1 << 2) == 0 {
        return (false, global_pages_were_on);
    }
    // SAFETY: setting CR4.UMIP only makes some instructions fault outside ring 0.
    unsafe {
        core::arch::asm!("mov {tmp}, cr4", "or {tmp}, {bit}", "mov cr4, {tmp}", tmp = out(reg) _, bit = const 1u64 << 11);
    }
    (true, global_pages_were_on)
}

/// Returns a zeroed frame for a trap frame (helper for code that builds one).
pub fn blank_frame() -> TrapFrame {
    TrapFrame::default()
}
