//! Time: the TSC as the clock, the PIT as the periodic tick, the 8259 PICs.
//!
//! System time is nanoseconds since the TSC was calibrated at boot, computed
//! as Xen's `vcpu_time_info` describes: `(tsc - base) * mul >> 32`, so guests
//! convert their own TSC readings with the same formula.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use pic8259::ChainedPics;
use spin::Mutex;
use x86_64::instructions::port::Port;

/// Vector of IRQ 0 after remapping the PICs; IRQ n arrives on `IRQ_BASE + n`.
pub const IRQ_BASE: u8 = 32;
pub const IRQ_TIMER: u8 = 0;
pub const IRQ_COM1: u8 = 4;
/// Timer ticks per second.
pub const TICK_HZ: u32 = 100;

const PIT_HZ: u32 = 1_193_182;
/// Calibration window: 10 ms of PIT channel 2.
const CALIBRATION_PIT_TICKS: u32 = PIT_HZ / 100;

static PICS: Mutex<ChainedPics> = Mutex::new(unsafe { ChainedPics::new(IRQ_BASE, IRQ_BASE + 8) });

static TSC_BASE: AtomicU64 = AtomicU64::new(0);
static TSC_TO_NS_MUL: AtomicU32 = AtomicU32::new(0);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Nanoseconds since calibration; 0 before it.
pub fn uptime_ns() -> u64 {
    let mul = TSC_TO_NS_MUL.load(Ordering::Relaxed);
    if mul == 0 {
        return 0;
    }
    let delta = rdtsc().wrapping_sub(TSC_BASE.load(Ordering::Relaxed));
    ((delta as u128 * mul as u128) >> 32) as u64
}

/// The parameters guests need to compute system time from their TSC.
pub fn time_parameters() -> (u64, u32) {
    (TSC_BASE.load(Ordering::Relaxed), TSC_TO_NS_MUL.load(Ordering::Relaxed))
}

pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Remaps and masks the PICs, calibrates the TSC against the PIT and starts
/// the periodic tick. Returns the TSC frequency in kHz.
pub fn init() -> u64 {
    {
        let mut pics = PICS.lock();
        // SAFETY: the PICs sit at their standard ports; remapping them moves
        // IRQs off the exception vectors before interrupts are ever enabled.
        unsafe {
            pics.initialize();
            pics.write_masks(0xFF, 0xFF);
        }
    }
    let khz = calibrate_tsc();
    TSC_KHZ.store(khz, Ordering::Relaxed);
    // mul = 2^32 * 10^6 / khz, in 32 bits for TSCs faster than 1 GHz; slower
    // ones would overflow, so they are clamped (time then runs fast).
    let mul = ((1u128 << 32) * 1_000_000 / khz.max(1) as u128).min(u32::MAX as u128) as u32;
    TSC_BASE.store(rdtsc(), Ordering::Relaxed);
    TSC_TO_NS_MUL.store(mul, Ordering::Relaxed);
    start_tick();
    unmask(IRQ_TIMER);
    unmask(IRQ_COM1);
    khz
}

/// Counts TSC ticks across 10 ms of PIT channel 2 (the speaker gate, output polled).
fn calibrate_tsc() -> u64 {
    let mut gate: Port<u8> = Port::new(0x61);
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel2: Port<u8> = Port::new(0x42);
    // SAFETY: ports 0x42, 0x43 and 0x61 are the PIT and its gate, used by nothing else.
    unsafe {
        let value = gate.read();
        gate.write((value & !0x02) | 0x01);
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0
        channel2.write((CALIBRATION_PIT_TICKS & 0xFF) as u8);
        channel2.write((CALIBRATION_PIT_TICKS >> 8) as u8);
        let value = gate.read();
        gate.write(value & !0x01);
        gate.write(value | 0x01);
        let start = rdtsc();
        let mut spins = 0u64;
        while gate.read() & 0x20 == 0 {
            spins += 1;
            if spins > 100_000_000 {
                break;
            }
        }
        let elapsed = rdtsc() - start;
        (elapsed / 10).max(1)
    }
}

fn start_tick() {
    let divisor = PIT_HZ / TICK_HZ;
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel0: Port<u8> = Port::new(0x40);
    // SAFETY: programming PIT channel 0 only changes the IRQ 0 rate.
    unsafe {
        command.write(0b0011_0100); // channel 0, lobyte/hibyte, mode 2 (rate generator)
        channel0.write((divisor & 0xFF) as u8);
        channel0.write((divisor >> 8) as u8);
    }
}

fn unmask(irq: u8) {
    let mut pics = PICS.lock();
    // SAFETY: reading and writing the mask registers only changes which IRQs arrive.
    unsafe {
        let [primary, secondary] = pics.read_masks();
        if irq < 8 {
            pics.write_masks(primary & !(1 << irq), secondary);
        } else {
            pics.write_masks(primary & !(1 << 2), secondary & !(1 << (irq - 8)));
        }
    }
}

/// Records a timer tick.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Acknowledges the interrupt on `vector`.
pub fn end_of_interrupt(vector: u8) {
    // SAFETY: the vector came from a PIC, which expects this acknowledgement.
    unsafe { PICS.lock().notify_end_of_interrupt(vector) };
}
