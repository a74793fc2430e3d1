//! The machine: boot sequence, CPU tables, paging, time, serial, power.

pub mod bootloader;
pub mod cpu;
pub mod entry;
pub mod layout;
pub mod m2p;
pub mod memory;
pub mod paging;
pub mod power;
pub mod serial;
pub mod time;

use crate::bootinfo::{self, BootInfo};
use entry::TrapFrame;
use log::{error, info};

/// Multiboot2 loaders leave this in `eax`.
const MULTIBOOT2_MAGIC: u32 = 0x36D7_6289;
/// Multiboot1 loaders leave this in `eax`.
const MULTIBOOT1_MAGIC: u32 = 0x2BAD_B002;

/// Boots the hypervisor: the multiboot 64-bit entry calls this with the
/// loader's magic and the physical address of its information block.
pub extern "C" fn start(magic: u32, info_address: u32) -> ! {
    serial::init();
    cpu::arm_stack_canary();
    announce();
    let boot = read_boot_info(magic, info_address);
    boot_machine(&boot)
}

fn announce() {
    info!("Hospes {} (Xen ABI {}.{}) starting", env!("CARGO_PKG_VERSION"), hypercalls::VERSION_MAJOR, hypercalls::VERSION_MINOR);
}

/// Brings up memory, paging, the descriptor tables and the timer from the
/// converted boot information, then builds and enters Dom0. Both entries end
/// here, on the hypervisor stack and with RAM below 4 GiB identity-mapped.
/// Each stage logs one line, so a hang names the stage it happened in.
pub fn boot_machine(boot: &BootInfo) -> ! {
    let summary = memory::init(boot);
    info!(
        "boot: memory: {} MiB usable in {} regions, {} MiB free, {} modules, loader {:?}, command line '{}'",
        summary.total_frames / 256,
        boot.regions().len(),
        summary.free_frames / 256,
        boot.modules().count(),
        boot.loader,
        boot.cmdline.as_str()
    );
    if summary.ignored_frames > 0 {
        log::warn!("boot: memory: ignored {} frames above 16 GiB, the most the frame allocator tracks", summary.ignored_frames);
    }
    if boot.dropped_regions > 0 {
        log::warn!(
            "boot: memory: ignored {} memory-map entries beyond the {} kept; some RAM may go unused",
            boot.dropped_regions,
            bootinfo::MAX_REGIONS
        );
    }
    if boot.dropped_modules > 0 {
        log::warn!(
            "boot: ignored {} boot modules beyond the first {} (or with an end before their start)",
            boot.dropped_modules,
            bootinfo::MAX_MODULES
        );
    }
    if boot.cmdline.is_truncated() || boot.modules().any(|module| module.cmdline.is_truncated()) {
        log::warn!(
            "boot: a command line is longer than {} bytes and was cut there; options after the cut are ignored",
            bootinfo::MAX_CMDLINE
        );
    }

    let tables = paging::init(boot.max_address());
    info!(
        "boot: paging: own page tables loaded (L4 at {:#x}), RAM identity-mapped, entry area at {:#x}, no-execute {}",
        tables.hypervisor_l4 << 12,
        layout::ENTRY_BASE,
        if tables.no_execute != 0 { "on" } else { "unavailable" }
    );

    memory::with(|memory| m2p::init(memory, tables.no_execute));
    let m2p_entries = memory::with(|memory| memory.m2p.entries());
    info!("boot: m2p: {m2p_entries} entries, read-only for guests at {:#x}", m2p::M2P_BASE);

    cpu::init(tables);
    let (umip, global_pages_were_on) = cpu::harden_control_registers();
    info!(
        "boot: descriptor tables: GDT, IDT (256 vectors, hypercall gate {:#x} at DPL 1) and TSS loaded from the entry area; UMIP {}; global pages off{}",
        hypercalls::page::HYPERCALL_VECTOR,
        if umip { "on" } else { "unavailable" },
        if global_pages_were_on { " (the loader had turned them on)" } else { "" }
    );

    let khz = time::init();
    info!("boot: timer: TSC {}.{:03} MHz, PIT tick {} Hz", khz / 1000, khz % 1000, time::TICK_HZ);

    if let Some(framebuffer) = boot.framebuffer {
        info!(
            "boot: framebuffer {}x{}, {} bits per pixel, at {:#x} (unused: the console is the serial port)",
            framebuffer.width, framebuffer.height, framebuffer.bits_per_pixel, framebuffer.address
        );
    }

    crate::hv::start(boot)
}

fn read_boot_info(magic: u32, info_address: u32) -> BootInfo {
    let result = match magic {
        MULTIBOOT2_MAGIC => {
            // SAFETY: a Multiboot2 loader put a valid information block at
            // this address, below 4 GiB, which the boot tables map.
            match unsafe { multiboot2::BootInformation::load(info_address as usize as *const _) } {
                Ok(info) => bootinfo::from_multiboot2(&info),
                Err(_) => Err(bootinfo::BootInfoError::Unreadable),
            }
        }
        MULTIBOOT1_MAGIC => {
            let mut memory = bootinfo::IdentityMapped;
            // SAFETY: a Multiboot1 loader put its information block at this
            // address; IdentityMapped reads it through the boot identity map.
            match unsafe { multiboot::information::Multiboot::from_ptr(info_address as u64, &mut memory) } {
                Some(info) => bootinfo::from_multiboot1(&info),
                None => Err(bootinfo::BootInfoError::Unreadable),
            }
        }
        other => {
            error!("boot: not started by a multiboot loader (eax = {other:#x}); boot Hospes with GRUB's multiboot2 command or QEMU -kernel");
            power::fail(power::EXIT_HYPERVISOR_FAILED)
        }
    };
    match result {
        Ok(boot) => boot,
        Err(error) => {
            error!("boot: the loader's information at {info_address:#x} is unusable ({error:?}); cannot find RAM or modules");
            power::fail(power::EXIT_HYPERVISOR_FAILED)
        }
    }
}

/// Reports a hypervisor panic with its location and stops the machine.
pub fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    serial::emergency_write(format_args!("(hospes) PANIC: {info}\n"));
    power::fail(power::EXIT_HYPERVISOR_FAILED)
}

/// Reports an exception taken in ring 0, which is always a hypervisor bug,
/// with the vector, error code, registers and faulting address, then stops.
pub fn fatal_exception(frame: &TrapFrame) -> ! {
    let cr2: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    serial::emergency_write(format_args!(
        "(hospes) FATAL: {} (vector {}) in the hypervisor, error code {:#x}, faulting address (cr2) {:#x}\n",
        hypercalls::trap::exception_name(frame.vector as u8),
        frame.vector,
        frame.error_code,
        cr2
    ));
    dump_registers("(hospes)", frame);
    power::fail(power::EXIT_HYPERVISOR_FAILED)
}

/// Prints every register of a frame, four to a line, each line prefixed.
/// Formats straight to the console, because the fatal path must not rely
/// on the heap or on buffers that a fault could have left half written.
pub fn dump_registers(prefix: &str, frame: &TrapFrame) {
    let rows: [[(&str, u64); 4]; 5] = [
        [("rip", frame.rip), ("cs", frame.cs), ("rflags", frame.rflags), ("rsp", frame.rsp)],
        [("ss", frame.ss), ("rax", frame.rax), ("rbx", frame.rbx), ("rcx", frame.rcx)],
        [("rdx", frame.rdx), ("rsi", frame.rsi), ("rdi", frame.rdi), ("rbp", frame.rbp)],
        [("r8", frame.r8), ("r9", frame.r9), ("r10", frame.r10), ("r11", frame.r11)],
        [("r12", frame.r12), ("r13", frame.r13), ("r14", frame.r14), ("r15", frame.r15)],
    ];
    for [(n0, v0), (n1, v1), (n2, v2), (n3, v3)] in rows {
        serial::emergency_write(format_args!(
            "{prefix}   {n0:>6}={v0:#018x} {n1:>6}={v1:#018x} {n2:>6}={v2:#018x} {n3:>6}={v3:#018x}\n"
        ));
    }
    serial::emergency_write(format_args!(
        "{prefix}   vector={:#x} error={:#x}\n",
        frame.vector, frame.error_code
    ));
}

