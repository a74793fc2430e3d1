//! The second entry: the `bootloader` crate's BIOS and UEFI stages.
//!
//! The `hospes-bootloader` binary is the same hypervisor linked in the top
//! 2 GiB (`linker-bootloader.ld`), because the loader keeps low virtual
//! addresses for its own identity mappings. The loader enters
//! `bootloader_api`'s `_start` in long mode, on its own page tables and
//! stack, with the physical memory mapped at an offset it chose (the
//! [`CONFIG`] requests that mapping) and the ramdisk mapped somewhere too.
//! [`start`] then:
//!
//! 1. reads the hand-over through the loader's mapping of physical memory:
//!    the memory map, the ramdisk's physical address (checking that its
//!    frames are contiguous) and the framebuffer, and converts them with
//!    [`bootinfo::from_bootloader`];
//! 2. checks that no page of the image is global, since a global TLB entry
//!    would outlive the switch to a guest's CR3;
//! 3. loads page tables of its own that keep every loader mapping except
//!    L4 slot 0, which becomes an identity map of the first 4 GiB, the state
//!    the multiboot entry leaves too;
//! 4. switches to the hypervisor stack and continues in
//!    [`super::boot_machine`], whose code does not depend on the loader.

use super::paging::{self, GLOBAL, HUGE, PRESENT, WRITABLE};
use super::{cpu, power, serial};
use crate::bootinfo::{self, BootInfo, BootloaderHandover, Framebuffer};
use crate::frames::FRAME_SIZE;
use bootloader_api::config::{BootloaderConfig, Mapping};
use log::error;
use spin::Once;

/// The loader's settings, stored in the image by `entry_point!`: physical
/// memory mapped (anywhere), everything else as the loader likes.
pub const CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config
};

/// Gigabytes the boot identity map covers, as in the multiboot entry.
const IDENTITY_GIGABYTES: usize = 4;

/// The boot page tables: an L4, the L3 behind slot 0, and one L2 of 2 MiB
/// pages per identity-mapped gigabyte.
#[repr(C, align(4096))]
struct BootTables {
    l4: [u64; 512],
    l3: [u64; 512],
    l2: [[u64; 512]; IDENTITY_GIGABYTES],
}

static mut BOOT_TABLES: BootTables = BootTables { l4: [0; 512], l3: [0; 512], l2: [[0; 512]; IDENTITY_GIGABYTES] };

/// The converted boot information, kept for the rest of the boot.
static BOOT_INFO: Once<BootInfo> = Once::new();

/// The loader's page tables, read through its mapping of physical memory.
struct LoaderTables {
    physical_offset: u64,
    l4: u64,
}

impl LoaderTables {
    /// Reads the u64 at `physical`.
    fn read(&self, physical: u64) -> u64 {
        // SAFETY: the loader maps all physical memory at `physical_offset`
        // (CONFIG requests it); callers pass page-table entries, which are
        // aligned u64s in RAM.
        unsafe { ((self.physical_offset + physical) as *const u64).read_volatile() }
    }

    fn translate(&self, virtual_address: u64) -> Option<u64> {
        paging::translate_with(self.l4, virtual_address, |physical| self.read(physical))
    }

    /// Returns the physical address of `length` bytes mapped at `start`,
    /// or None unless every page is mapped and the frames run contiguously.
    fn contiguous(&self, start: u64, length: u64) -> Option<u64> {
        let physical_start = self.translate(start)?;
        let first_page = start & !(FRAME_SIZE - 1);
        let mut page = first_page;
        while page < start.checked_add(length)? {
            let expected = (physical_start & !(FRAME_SIZE - 1)) + (page - first_page);
            if self.translate(page)? != expected {
                return None;
            }
            page += FRAME_SIZE;
        }
        Some(physical_start)
    }
}

/// Boots the hypervisor from the `bootloader` crate's hand-over. The
/// `hospes-bootloader` binary's `entry_point!` calls this.
pub fn start(info: &'static mut bootloader_api::BootInfo) -> ! {
    serial::init();
    cpu::arm_stack_canary();
    super::announce();

    // Step 1: read and convert the hand-over.
    let Some(physical_offset) = info.physical_memory_offset.into_option() else {
        fail("the loader did not map physical memory, although the image's configuration asks for it")
    };
    let loader = LoaderTables { physical_offset, l4: paging::current_l4() << 12 };
    let boot = BOOT_INFO.call_once(|| convert(info, &loader));

    // Step 2: no global image pages.
    check_image_not_global(&loader);

    // Step 3: own boot tables.
    // SAFETY: nothing else touches BOOT_TABLES; this runs once, before
    // anything reads them through CR3.
    let tables = unsafe { &mut *(&raw mut BOOT_TABLES) };
    let l4 = fill_boot_tables(tables, &loader);
    // SAFETY: the new L4 keeps every loader mapping but slot 0, and nothing
    // running now lives in slot 0: the image, stack, hand-over and physical
    // memory mapping sit in other slots.
    unsafe { paging::load_cr3(l4 >> 12) };

    // Step 4: hypervisor stack.
    // SAFETY: the stack top is the end of the image's boot stack, which is
    // mapped writable. `continue_boot` never returns, so nothing on the
    // loader's stack is used again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "call {next}",
            top = in(reg) cpu::hypervisor_stack_top(),
            next = sym continue_boot,
            in("rdi") boot as *const BootInfo,
            options(noreturn)
        )
    }
}

extern "C" fn continue_boot(boot: *const BootInfo) -> ! {
    // SAFETY: `start` passes a reference into BOOT_INFO, which is never
    // written again.
    super::boot_machine(unsafe { &*boot })
}

fn convert(info: &bootloader_api::BootInfo, loader: &LoaderTables) -> BootInfo {
    let ramdisk = info.ramdisk_addr.into_option().map(|address| {
        let Some(physical) = loader.contiguous(address, info.ramdisk_len) else {
            fail_with(format_args!(
                "the ramdisk at {address:#x} ({} bytes) is not in one contiguous run of frames; cannot pass its files on as modules",
                info.ramdisk_len
            ))
        };
        let Ok(length) = usize::try_from(info.ramdisk_len) else { fail("the ramdisk is larger than the address space") };
        // SAFETY: the loader mapped the ramdisk at `address` for
        // `ramdisk_len` bytes, in memory it marked as its own, which the
        // hypervisor never hands out.
        let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, length) };
        (bytes, physical)
    });
    let framebuffer = info.framebuffer.as_ref().and_then(|framebuffer| {
        let layout = framebuffer.info();
        Some(Framebuffer {
            address: loader.translate(framebuffer.buffer().as_ptr() as u64)?,
            width: u32::try_from(layout.width).ok()?,
            height: u32::try_from(layout.height).ok()?,
            pitch: u32::try_from(layout.stride * layout.bytes_per_pixel).ok()?,
            bits_per_pixel: u8::try_from(layout.bytes_per_pixel * 8).ok()?,
        })
    });
    let handover = BootloaderHandover { regions: &info.memory_regions, ramdisk, framebuffer };
    match bootinfo::from_bootloader(&handover) {
        Ok(boot) => boot,
        Err(problem) => fail_with(format_args!("the loader's hand-over is unusable: {problem}")),
    }
}

/// Stops the boot if a page of the image is mapped global.
fn check_image_not_global(loader: &LoaderTables) {
    let (start, end) = super::memory::image_range();
    for page in (start..end).step_by(FRAME_SIZE as usize) {
        let leaf = paging::leaf_with(loader.l4, page, |physical| loader.read(physical));
        let global = leaf.is_some_and(|(entry, _)| entry & GLOBAL != 0);
        if global {
            fail_with(format_args!("the loader mapped hypervisor page {page:#x} global; guests could reach it"));
        }
    }
}

/// Fills the boot tables and returns the L4's physical address.
fn fill_boot_tables(tables: &mut BootTables, loader: &LoaderTables) -> u64 {
    let physical = |table: &[u64; 512]| {
        loader.translate(table.as_ptr() as u64).unwrap_or_else(|| fail("the image's page tables are not mapped"))
    };
    for (gigabyte, l2) in tables.l2.iter_mut().enumerate() {
        for (index, entry) in l2.iter_mut().enumerate() {
            *entry = ((gigabyte as u64) << 30 | (index as u64) << 21) | PRESENT | WRITABLE | HUGE;
        }
    }
    for gigabyte in 0..IDENTITY_GIGABYTES {
        tables.l3[gigabyte] = physical(&tables.l2[gigabyte]) | PRESENT | WRITABLE;
    }
    tables.l4[0] = physical(&tables.l3) | PRESENT | WRITABLE;
    for slot in 1..512 {
        tables.l4[slot] = loader.read(loader.l4 + slot as u64 * 8);
    }
    physical(&tables.l4)
}

fn fail(message: &str) -> ! {
    fail_with(format_args!("{message}"))
}

fn fail_with(message: core::fmt::Arguments<'_>) -> ! {
    error!("boot: {message}");
    power::fail(power::EXIT_HYPERVISOR_FAILED)
}
