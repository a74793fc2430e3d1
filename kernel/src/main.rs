//! The hypervisor binary: multiboot headers and the 32-bit entry into long mode.
//!
//! GRUB's `multiboot2` command and QEMU's `-kernel` (Multiboot1) both enter
//! `_start32` in 32-bit protected mode with paging off, `eax` holding the
//! loader's magic and `ebx` the physical address of its information block.
//! The entry code:
//!
//! 1. checks that the CPU has long mode, else prints a message and halts;
//! 2. identity-maps the first 4 GiB with 2 MiB pages;
//! 3. enables PAE, long mode, no-execute (when the CPU has it), paging and
//!    write protection, so ring 0 too honours read-only mappings;
//! 4. loads a boot GDT and jumps to 64-bit code, which calls
//!    [`kernel::arch::start`] with the magic and the information address.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .set MB1_MAGIC, 0x1BADB002
    /* Page-align modules, and ask for the memory map. */
    .set MB1_FLAGS, 0x3
    .set MB2_MAGIC, 0xE85250D6

    .section .multiboot_header, "a"
    .balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_MAGIC + MB1_FLAGS)

    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
    /* Module alignment tag: modules start on page boundaries. */
    .balign 8
    .short 6, 0
    .long 8
    /* End tag. */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov %eax, %edi
    mov %ebx, %esi
    mov $boot_stack_top, %esp

    /* Long mode is CPUID 0x80000001 EDX bit 29. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb no_long_mode
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc no_long_mode
    mov %edx, %ebp

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories of 2 MiB pages. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    xor %ecx, %ecx
1:
    mov %ecx, %eax
    shl $12, %eax
    add $boot_pd, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx
2:
    mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, boot_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax
    mov %eax, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov %cr4, %eax
    or $(1 << 5), %eax
    mov %eax, %cr4

    /* EFER: LME always, NXE when CPUID 0x80000001 EDX bit 20 says NX exists. */
    mov $0xC0000080, %ecx
    rdmsr
    or $(1 << 8), %eax
    bt $20, %ebp
    jnc 3f
    or $(1 << 11), %eax
3:
    wrmsr

    mov %cr0, %eax
    or $((1 << 31) | (1 << 16) | 1), %eax
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

no_long_mode:
    mov $no_long_mode_message, %esi
4:
    lodsb
    test %al, %al
    jz 6f
    mov %al, %bl
    mov $0x3FD, %dx
5:
    in %dx, %al
    test $0x20, %al
    jz 5b
    mov %bl, %al
    mov $0x3F8, %dx
    out %al, %dx
    jmp 4b
6:
    hlt
    jmp 6b

    .code64
long_mode_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    /* edi = magic, esi = information address: 32-bit moves cleared the upper halves. */
    mov %edi, %edi
    mov %esi, %esi
    call {start}
7:
    hlt
    jmp 7b

    .section .rodata
no_long_mode_message:
    .asciz "hospes: this CPU has no 64-bit long mode; cannot boot\r\n"

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00209A0000000000
    .quad 0x0000920000000000
boot_gdt_end:
boot_gdt_pointer:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .bss
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
"#,
    start = sym kernel::arch::start,
    options(att_syntax)
);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("hospes runs on bare metal, not on the host: build and boot it with `cargo xtask run`");
    std::process::exit(2);
}
