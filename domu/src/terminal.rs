//! Text output on a raw terminal.

use core::fmt;
use dom0::line::Output;

/// Writes `text` to `out`, turning each `\n` into `\r\n`, because the
/// console is a raw terminal that does not add the carriage return itself.
pub fn write_text<O: Output + ?Sized>(out: &mut O, text: &str) {
    for piece in text.split_inclusive('\n') {
        match piece.strip_suffix('\n') {
            Some(body) => {
                out.write(body.as_bytes());
                out.write(b"\r\n");
            }
            None => out.write(piece.as_bytes()),
        }
    }
}

/// A [`fmt::Write`] adapter that passes text to [`write_text`], for `write!`.
pub struct Text<'a, O: Output + ?Sized>(pub &'a mut O);

impl<O: Output + ?Sized> fmt::Write for Text<'_, O> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_text(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use core::fmt::Write;

    #[test]
    fn newlines_become_crlf() {
        let mut out = Vec::new();
        write_text(&mut out, "one\ntwo\n\nthree");
        assert_eq!(out, b"one\r\ntwo\r\n\r\nthree");
    }

    #[test]
    fn text_adapter_formats() {
        let mut out = Vec::new();
        writeln!(Text(&mut out), "{} MiB", 64).unwrap();
        assert_eq!(out, b"64 MiB\r\n");
    }
}
