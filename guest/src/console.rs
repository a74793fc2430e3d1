//! Console output, with `print!` and `println!`: through the guest's
//! console ring once it is attached (a DomU), else through `console_io`
//! (Dom0, or a DomU before its ring is up). Messages from the runtime itself,
//! such as the report of an unhandled exception, therefore reach the
//! console that `xl console` shows.

use core::fmt::{self, Write};

/// Writes bytes to the console, turning `\n` into `\r\n` for the terminal.
pub fn write(bytes: &[u8]) {
    for piece in bytes.split_inclusive(|&byte| byte == b'\n') {
        match piece.strip_suffix(b"\n") {
            Some(body) => {
                write_raw(body);
                write_raw(b"\r\n");
            }
            None => write_raw(piece),
        }
    }
}

/// Writes bytes to the console unchanged.
pub fn write_raw(bytes: &[u8]) {
    if crate::ring_console::is_usable() {
        crate::ring_console::write_raw(bytes);
    } else {
        let _ = crate::hypercall::console_write(bytes);
    }
}

pub struct Console;

impl Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write(text.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn print_args(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_args(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*))) };
}
