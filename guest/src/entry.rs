//! Entry point, Xen ELF notes, and bring-up before `guest_main`.
//!
//! The builder enters `_start` in ring 1 with `rsi` pointing at
//! `start_info`, on a one-page bootstrap stack, with events masked. The
//! runtime moves to its own stack, installs the trap table and callbacks,
//! maps `shared_info`, gives the rest of the domain's memory to the heap,
//! and calls `guest_main`.

use crate::hypercall;
use hypercalls::shared::{SharedInfo, StartInfo};
use hypercalls::{elfnote, sched::ShutdownReason};
use linked_list_allocator::LockedHeap;
use spin::Once;

/// Size of the runtime's stack.
const STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .global _start
_start:
    lea {stack}+{stack_size}(%rip), %rsp
    mov %rsi, %rdi
    call {runtime_start}
1:
    hlt
    jmp 1b

    .section .hypercall_page, "ax"
    .balign 4096
    .global hypercall_page
hypercall_page:
    .fill 4096, 1, 0xCC

    .section .note.Xen, "a"
    .balign 4
    .long 4, 8, {note_hypercall_page}
    .asciz "Xen"
    .quad hypercall_page
    .balign 4
    .long 4, 8, {note_virt_base}
    .asciz "Xen"
    .quad __guest_image_start
    .balign 4
    .long 4, 8, {note_guest_os}
    .asciz "Xen"
    .asciz "hospes"
    .balign 4
"#,
    stack = sym STACK,
    stack_size = const STACK_SIZE,
    runtime_start = sym runtime_start,
    note_hypercall_page = const elfnote::HYPERCALL_PAGE,
    note_virt_base = const elfnote::VIRT_BASE,
    note_guest_os = const elfnote::GUEST_OS,
    options(att_syntax)
);

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

static mut STACK: Stack = Stack([0; STACK_SIZE]);

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The page whose mapping is replaced by the domain's `shared_info` frame.
static mut SHARED_INFO_PAGE: Page = Page([0; 4096]);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

static START_INFO: Once<&'static StartInfo> = Once::new();

unsafe extern "C" {
    static __guest_image_start: u8;
    static __guest_image_end: u8;
}

unsafe extern "Rust" {
    /// The guest kernel's main function, defined by the binary.
    safe fn guest_main() -> !;
}

/// Returns the `start_info` page the builder handed over.
pub fn start_info() -> &'static StartInfo {
    START_INFO.get().expect("start_info is recorded before guest_main runs")
}

/// Returns the ramdisk the builder loaded, empty when there is none.
pub fn ramdisk() -> &'static [u8] {
    let info = start_info();
    if info.mod_start == 0 || info.mod_len == 0 {
        return &[];
    }
    // SAFETY: the builder mapped the ramdisk at mod_start for mod_len bytes
    // in this domain's own memory, and nothing writes it afterwards.
    unsafe { core::slice::from_raw_parts(info.mod_start as *const u8, info.mod_len as usize) }
}

/// Returns the virtual address of pseudo-physical page 0, where the image starts.
pub fn virt_base() -> u64 {
    &raw const __guest_image_start as u64
}

/// Returns the first virtual address after the domain's memory: the
/// builder maps pseudo-physical page `n` at `virt_base() + n * 4096` and
/// nothing above the last page.
pub fn memory_end() -> u64 {
    virt_base() + start_info().nr_pages * 4096
}

/// Returns a pointer to the mapped `shared_info`.
pub fn shared_info() -> *mut SharedInfo {
    (&raw mut SHARED_INFO_PAGE).cast::<SharedInfo>()
}

extern "C" fn runtime_start(start_info: &'static StartInfo) -> ! {
    START_INFO.call_once(|| start_info);
    crate::traps::install();

    let shared_page = &raw const SHARED_INFO_PAGE as u64;
    let pte = start_info.shared_info | 0x63; // present, writable, accessed, dirty
    if hypercall::update_va_mapping(shared_page, pte).is_err() {
        fail("cannot map shared_info");
    }

    // The heap is every page after the bootstrap region: page tables, then one stack page.
    let heap_start = start_info.pt_base + (start_info.nr_pt_frames + 1) * 4096;
    let memory_end = memory_end();
    let image_end = &raw const __guest_image_end as u64;
    if heap_start < image_end || heap_start >= memory_end {
        fail("the bootstrap layout leaves no room for a heap");
    }
    // SAFETY: [heap_start, memory_end) is this domain's memory, mapped
    // writable by the builder and used by nothing else, and this runs once.
    unsafe { HEAP.lock().init(heap_start as *mut u8, (memory_end - heap_start) as usize) };

    crate::events::init();
    guest_main()
}

/// Stops the domain as crashed after printing why.
pub fn fail(reason: &str) -> ! {
    crate::println!("guest runtime: {reason}; crashing the domain");
    let errno = hypercall::shutdown(ShutdownReason::Crash);
    crate::println!("guest runtime: SCHEDOP_shutdown failed with {errno}");
    loop {
        hypercall::block();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("guest panic: {info}");
    let _ = hypercall::shutdown(ShutdownReason::Crash);
    loop {
        hypercall::block();
    }
}
