//! Powering the machine off, rebooting it, and reporting failure to QEMU.

use x86_64::instructions::port::Port;

/// Code written to QEMU's isa-debug-exit device when Dom0 crashed.
/// QEMU then exits with status `(code << 1) | 1` = 33.
pub const EXIT_DOM0_CRASHED: u32 = 0x10;
/// Code written when the hypervisor itself failed (status 35).
pub const EXIT_HYPERVISOR_FAILED: u32 = 0x11;

/// Powers the machine off through ACPI as QEMU's PIIX4 and ICH9 expose it
/// (PM1a control at 0x604, SLP_EN with sleep type 0 for S5), then halts.
pub fn power_off() -> ! {
    // SAFETY: port 0x604 is the PM1a control register the firmware set up.
    unsafe { Port::<u16>::new(0x604).write(0x2000) };
    halt_forever()
}

/// Resets the machine through the keyboard controller, then halts.
pub fn reboot() -> ! {
    // SAFETY: 0xFE on port 0x64 pulses the CPU reset line.
    unsafe { Port::<u8>::new(0x64).write(0xFE) };
    halt_forever()
}

/// Ends the machine with a failure `code`: QEMU's isa-debug-exit device
/// (port 0xF4) makes QEMU exit with it; on other machines this halts.
pub fn fail(code: u32) -> ! {
    // SAFETY: writing to 0xF4 has no effect where the debug device is absent.
    unsafe { Port::<u32>::new(0xF4).write(code) };
    halt_forever()
}

pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts off, hlt stops this CPU for good.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
