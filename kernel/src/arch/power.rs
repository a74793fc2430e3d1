//! Powering the machine off, rebooting it, and reporting failure to QEMU.

use x86_64::instructions::port::Port;

/// Code written to QEMU's isa-debug-exit device when Dom0 crashed.
/// QEMU then exits with status `(code << 1) | 1` = 33.
pub const EXIT_DOM0_CRASHED: u32 = 0x10;
/// Code written when the hypervisor itself failed (status 35).
pub const EXIT_HYPERVISOR_FAILED: u32 = 0x11;

/// PM1a control port when the chipset cannot be read: where SeaBIOS puts it.
const DEFAULT_PM1A_CONTROL: u16 = 0x604;

/// Location of the ACPI power-management I/O base in the PCI configuration
/// space of a chipset QEMU emulates. The fields are the bus-0 device and
/// function, the vendor and device IDs, the base register with the mask of
/// its address bits, and the register and bit that show whether the firmware
/// enabled the range.
struct PmChipset {
    device: u8,
    function: u8,
    id: u32,
    base_register: u8,
    base_mask: u32,
    enable_register: u8,
    enable_bit: u32,
}

const PM_CHIPSETS: [PmChipset; 2] = [
    // PIIX4 power management (the `pc` machine): PMBA at 0x40, PMIOSE in PMREGMISC 0x80.
    PmChipset { device: 1, function: 3, id: 0x7113_8086, base_register: 0x40, base_mask: 0xFFC0, enable_register: 0x80, enable_bit: 1 },
    // ICH9 LPC bridge (the `q35` machine): PMBASE at 0x40, ACPI_EN in ACPI_CNTL 0x44.
    PmChipset { device: 0x1F, function: 0, id: 0x2918_8086, base_register: 0x40, base_mask: 0xFF80, enable_register: 0x44, enable_bit: 1 << 7 },
];

/// Reads a 32-bit register of a bus-0 function through configuration mechanism 1.
fn pci_read(device: u8, function: u8, register: u8) -> u32 {
    let address = 0x8000_0000 | (device as u32) << 11 | (function as u32) << 8 | (register as u32 & 0xFC);
    // SAFETY: ports 0xCF8/0xCFC are the PCI configuration mechanism; a read
    // of an absent function returns all ones and changes nothing.
    unsafe {
        Port::<u32>::new(0xCF8).write(address);
        Port::<u32>::new(0xCFC).read()
    }
}

/// Returns the PM1a control port: the power-management base the firmware
/// programmed into the chipset, plus 4. Firmware differs (SeaBIOS uses 0x600,
/// OVMF 0xB000 on the `pc` machine), so it is read, not assumed.
fn pm1a_control_port() -> u16 {
    for chipset in &PM_CHIPSETS {
        if pci_read(chipset.device, chipset.function, 0) != chipset.id {
            continue;
        }
        let enabled = pci_read(chipset.device, chipset.function, chipset.enable_register) & chipset.enable_bit != 0;
        let base = pci_read(chipset.device, chipset.function, chipset.base_register) & chipset.base_mask;
        if enabled && base != 0 {
            return base as u16 + 4;
        }
    }
    DEFAULT_PM1A_CONTROL
}

/// Powers the machine off through ACPI: SLP_EN with sleep type 0, which
/// QEMU's PIIX4 and ICH9 take as S5, written to the PM1a control register
/// the firmware set up. Then halts.
pub fn power_off() -> ! {
    let port = pm1a_control_port();
    // SAFETY: the port is the PM1a control register, found in the chipset.
    unsafe { Port::<u16>::new(port).write(0x2000) };
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
