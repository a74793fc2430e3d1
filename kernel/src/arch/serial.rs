//! The serial console (COM1): hypervisor log output, Dom0's console and input.
//!
//! Every hypervisor line goes out as `(hospes) LEVEL target: message` and into
//! the log ring that `xl dmesg` reads, so hypervisor lines are told apart from
//! Dom0's output, which `console_io` passes through unchanged.

use crate::logbuf::LogRing;
use core::fmt::Write;
use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{Config, Uart16550};

const COM1: u16 = 0x3F8;
/// Size of the hypervisor's log ring, read by `xl dmesg`.
pub const LOG_RING_SIZE: usize = 32 * 1024;
/// Bytes of console input held until Dom0 reads them: room for a large paste.
const INPUT_SIZE: usize = 64 * 1024;

pub struct Console {
    uart: Option<Uart16550<PioBackend>>,
    pub log: LogRing<LOG_RING_SIZE>,
    input: [u8; INPUT_SIZE],
    input_read: usize,
    input_written: usize,
    /// Input bytes dropped because Dom0 did not read in time.
    pub input_dropped: u64,
    /// Set when input was first dropped, so the next poll logs it once.
    log_dropped_input: bool,
}

pub static CONSOLE: Mutex<Console> = Mutex::new(Console {
    uart: None,
    log: LogRing::new(),
    input: [0; INPUT_SIZE],
    input_read: 0,
    input_written: 0,
    input_dropped: 0,
    log_dropped_input: false,
});

impl Console {
    /// Writes raw bytes to the serial port.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        if let Some(uart) = self.uart.as_mut() {
            uart.send_bytes_exact(bytes);
        }
    }

    /// Moves every byte the UART holds into the input buffer; returns how many arrived.
    pub fn poll_input(&mut self) -> usize {
        let mut arrived = 0;
        while let Some(byte) = self.uart.as_mut().and_then(|uart| uart.try_receive_byte().ok()) {
            arrived += 1;
            if self.input_written - self.input_read == INPUT_SIZE {
                if self.input_dropped == 0 {
                    // Reported once; the count keeps growing for later checks.
                    self.log_dropped_input = true;
                }
                self.input_dropped += 1;
                continue;
            }
            self.input[self.input_written % INPUT_SIZE] = byte;
            self.input_written += 1;
        }
        arrived
    }

    /// Returns true once, after console input was first dropped for lack of room.
    pub fn take_dropped_input_report(&mut self) -> bool {
        core::mem::take(&mut self.log_dropped_input)
    }

    /// Takes up to `out.len()` buffered input bytes.
    pub fn read_input(&mut self, out: &mut [u8]) -> usize {
        let mut count = 0;
        while count < out.len() && self.input_read != self.input_written {
            out[count] = self.input[self.input_read % INPUT_SIZE];
            self.input_read += 1;
            count += 1;
        }
        count
    }

    pub fn has_input(&self) -> bool {
        self.input_read != self.input_written
    }
}

struct LineWriter<'a>(&'a mut Console);

impl Write for LineWriter<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for piece in text.split_inclusive('\n') {
            self.0.log.write(piece.as_bytes());
            if let Some(body) = piece.strip_suffix('\n') {
                self.0.write_raw(body.as_bytes());
                self.0.write_raw(b"\r\n");
            } else {
                self.0.write_raw(piece.as_bytes());
            }
        }
        Ok(())
    }
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _metadata: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut console = CONSOLE.lock();
        let now = super::time::uptime_ns();
        let _ = writeln!(
            LineWriter(&mut console),
            "(hospes) [{:>5}.{:06}] {:<5} {}",
            now / 1_000_000_000,
            (now % 1_000_000_000) / 1000,
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Brings up COM1 at 115200 baud with receive interrupts and installs the logger.
pub fn init() {
    // SAFETY: 0x3F8..0x400 is COM1 on every PC and QEMU machine, and nothing
    // else in the hypervisor touches those ports.
    let uart = unsafe { Uart16550::new_port(COM1) };
    let mut console = CONSOLE.lock();
    if let Ok(mut uart) = uart {
        let config = Config { interrupts: IER::DATA_READY, ..Config::default() };
        if uart.init(config).is_ok() {
            console.uart = Some(uart);
        }
    }
    drop(console);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

/// Writes a message with no lock held by anyone else in mind: used on the
/// fatal path, where the console lock may be held by the code that faulted.
pub fn emergency_write(args: core::fmt::Arguments<'_>) {
    // SAFETY: the fatal path runs with interrupts off on the only CPU and
    // never returns, so whoever held the lock will not touch the console again.
    unsafe { CONSOLE.force_unlock() };
    let mut console = CONSOLE.lock();
    let _ = LineWriter(&mut console).write_fmt(args);
}
