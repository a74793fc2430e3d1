//! Line editor for the serial console, fed one input byte at a time.
//!
//! The user's terminal is in raw mode (QEMU passes the host terminal's bytes
//! through), so this module does the echo and the cursor movement itself with
//! ANSI escape sequences, in the way of a small readline.
//!
//! NOTE: cursor movement assumes that the prompt and the line fit on one
//! terminal row. Typing at the end of a longer line shows correctly because the
//! terminal wraps it. An edit in the middle of a wrapped line, or a Backspace
//! across a row boundary, leaves the screen out of step with the line.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Maximum number of bytes in one line. Input beyond it rings the bell.
pub const MAX_LINE_LENGTH: usize = 256;
/// Number of entered lines that Up and Down can recall.
pub const HISTORY_CAPACITY: usize = 32;
/// Maximum parameter bytes kept for one control sequence. A longer sequence is
/// swallowed as unknown.
const MAX_SEQUENCE_PARAMETERS: usize = 16;

const BELL: u8 = 0x07;
const ESCAPE: u8 = 0x1B;
/// ANSI "erase from the cursor to the end of the line".
const ERASE_TO_END_OF_LINE: &[u8] = b"\x1b[K";
/// ANSI "cursor to the top left" followed by "erase the whole screen".
const CLEAR_SCREEN: &[u8] = b"\x1b[H\x1b[2J";

/// Destination of the bytes that the editor echoes to the terminal.
pub trait Output {
    fn write(&mut self, bytes: &[u8]);
}

impl Output for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Editing action decoded from a control byte or an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Left,
    Right,
    Home,
    End,
    Delete,
    HistoryPrevious,
    HistoryNext,
}

/// Progress through an escape sequence that arrives one byte at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EscapeState {
    /// No sequence in progress ("ground" in the terms of VT100 parsers).
    Ground,
    /// ESC received.
    Escape,
    /// `ESC [` received, then `length` parameter bytes, of which only the
    /// first [`MAX_SEQUENCE_PARAMETERS`] are kept in `parameters`.
    ControlSequence {
        parameters: [u8; MAX_SEQUENCE_PARAMETERS],
        length: usize,
        /// An intermediate byte (0x20 to 0x2F) arrived.
        intermediate: bool,
    },
    /// `ESC O` received (the keypad form of the cursor keys).
    SingleShift,
}

/// Terminal line editor with history, for one prompt.
pub struct LineEditor {
    prompt: &'static str,
    /// The line being edited: printable ASCII only, at most [`MAX_LINE_LENGTH`] bytes.
    buffer: Vec<u8>,
    /// Index in `buffer` of the byte under the terminal's cursor.
    cursor: usize,
    /// Entered lines, oldest first.
    history: VecDeque<Vec<u8>>,
    /// Index in `history` of the line shown, while the user moves through it.
    history_position: Option<usize>,
    /// The unfinished line that Up replaced, restored by Down past the newest entry.
    draft: Vec<u8>,
    escape: EscapeState,
    /// The CR or LF that ended the last line. If the other byte of the pair
    /// comes next, it belongs to the same Enter and is dropped.
    pending_line_end: Option<u8>,
}

impl LineEditor {
    /// Creates an editor that shows `prompt` in front of every line. It
    /// allocates nothing until the first byte, so it can initialize a static.
    pub const fn new(prompt: &'static str) -> LineEditor {
        LineEditor {
            prompt,
            buffer: Vec::new(),
            cursor: 0,
            history: VecDeque::new(),
            history_position: None,
            draft: Vec::new(),
            escape: EscapeState::Ground,
            pending_line_end: None,
        }
    }

    /// Empties the line and writes the prompt, ready for the next line.
    pub fn start_line(&mut self, out: &mut impl Output) {
        self.buffer.clear();
        self.cursor = 0;
        self.history_position = None;
        self.draft.clear();
        self.escape = EscapeState::Ground;
        out.write(self.prompt.as_bytes());
    }

    /// Processes one input byte, writing the echo to `out`.
    ///
    /// Returns the line when the byte is Enter (CR or LF). The echo then ends
    /// with CR LF and no prompt, so call [`LineEditor::start_line`] when the
    /// terminal is ready for the next line.
    pub fn feed(&mut self, byte: u8, out: &mut impl Output) -> Option<String> {
        if let Some(line_end) = self.pending_line_end.take() {
            let pair = matches!((line_end, byte), (b'\r', b'\n') | (b'\n', b'\r'));
            if pair {
                return None;
            }
        }

        match self.escape {
            EscapeState::Ground => self.feed_plain(byte, out),
            EscapeState::Escape => self.feed_after_escape(byte, out),
            EscapeState::ControlSequence { .. } => self.feed_control_sequence(byte, out),
            EscapeState::SingleShift => self.feed_single_shift(byte, out),
        }
    }

    /// Handles a byte outside any escape sequence.
    fn feed_plain(&mut self, byte: u8, out: &mut impl Output) -> Option<String> {
        match byte {
            b' '..=b'~' => self.insert(byte, out),
            b'\r' | b'\n' => return Some(self.enter(byte, out)),
            ESCAPE => self.escape = EscapeState::Escape,
            // DEL, which most terminals send for Backspace, and Ctrl-H.
            0x7F | 0x08 => self.backspace(out),
            0x01 => self.apply(Key::Home, out),     // Ctrl-A
            0x05 => self.apply(Key::End, out),      // Ctrl-E
            0x03 => self.cancel(out),               // Ctrl-C
            0x0B => self.kill_to_end(out),          // Ctrl-K
            0x0C => self.redraw_screen(out),        // Ctrl-L
            0x15 => self.kill_to_start(out),        // Ctrl-U
            0x17 => self.delete_previous_word(out), // Ctrl-W
            // Other control bytes and non-ASCII bytes have no meaning here.
            _ => {}
        }
        None
    }

    fn feed_after_escape(&mut self, byte: u8, out: &mut impl Output) -> Option<String> {
        match byte {
            b'[' => {
                self.escape = EscapeState::ControlSequence {
                    parameters: [0; MAX_SEQUENCE_PARAMETERS],
                    length: 0,
                    intermediate: false,
                };
            }
            b'O' => self.escape = EscapeState::SingleShift,
            ESCAPE => {}
            // Alt with a key: an unknown two-byte sequence, swallowed.
            b' '..=b'~' => self.escape = EscapeState::Ground,
            _ => {
                // A control byte cancels the sequence and keeps its own meaning,
                // as it does on a VT100.
                self.escape = EscapeState::Ground;
                return self.feed_plain(byte, out);
            }
        }
        None
    }

    fn feed_control_sequence(&mut self, byte: u8, out: &mut impl Output) -> Option<String> {
        let EscapeState::ControlSequence {
            mut parameters,
            mut length,
            mut intermediate,
        } = self.escape
        else {
            return None;
        };

        match byte {
            // Parameter bytes: digits, ';' and the private markers.
            0x30..=0x3F => {
                if let Some(slot) = parameters.get_mut(length) {
                    *slot = byte;
                }
                length = length.saturating_add(1);
            }
            // Intermediate bytes, which no key that this editor decodes uses.
            0x20..=0x2F => intermediate = true,
            // Final byte: the sequence is complete.
            0x40..=0x7E => {
                self.escape = EscapeState::Ground;
                if intermediate || length > MAX_SEQUENCE_PARAMETERS {
                    return None;
                }
                if let Some(key) = decode_control_sequence(&parameters[..length], byte) {
                    self.apply(key, out);
                }
                return None;
            }
            _ => {
                self.escape = EscapeState::Ground;
                return self.feed_plain(byte, out);
            }
        }

        self.escape = EscapeState::ControlSequence {
            parameters,
            length,
            intermediate,
        };
        None
    }

    fn feed_single_shift(&mut self, byte: u8, out: &mut impl Output) -> Option<String> {
        match byte {
            // Some terminals put a modifier parameter before the final byte.
            0x20..=0x3F => {}
            0x40..=0x7E => {
                self.escape = EscapeState::Ground;
                if let Some(key) = decode_cursor_key(byte) {
                    self.apply(key, out);
                }
            }
            _ => {
                self.escape = EscapeState::Ground;
                return self.feed_plain(byte, out);
            }
        }
        None
    }

    fn apply(&mut self, key: Key, out: &mut impl Output) {
        match key {
            Key::Left => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    move_left(out, 1);
                }
            }
            Key::Right => {
                if let Some(&byte) = self.buffer.get(self.cursor) {
                    // Rewriting the byte moves the cursor right on every terminal.
                    out.write(&[byte]);
                    self.cursor += 1;
                }
            }
            Key::Home => {
                move_left(out, self.cursor);
                self.cursor = 0;
            }
            Key::End => {
                out.write(&self.buffer[self.cursor..]);
                self.cursor = self.buffer.len();
            }
            Key::Delete => {
                if self.cursor < self.buffer.len() {
                    self.buffer.remove(self.cursor);
                    self.redraw_tail(out);
                }
            }
            Key::HistoryPrevious => self.recall_previous(out),
            Key::HistoryNext => self.recall_next(out),
        }
    }

    fn insert(&mut self, byte: u8, out: &mut impl Output) {
        if self.buffer.len() >= MAX_LINE_LENGTH {
            out.write(&[BELL]);
            return;
        }

        self.buffer.insert(self.cursor, byte);
        self.cursor += 1;
        out.write(&[byte]);
        if self.cursor < self.buffer.len() {
            self.redraw_tail(out);
        }
    }

    fn backspace(&mut self, out: &mut impl Output) {
        if self.cursor == 0 {
            return;
        }

        self.cursor -= 1;
        self.buffer.remove(self.cursor);
        if self.cursor == self.buffer.len() {
            out.write(b"\x08 \x08");
        } else {
            move_left(out, 1);
            self.redraw_tail(out);
        }
    }

    fn kill_to_start(&mut self, out: &mut impl Output) {
        if self.cursor == 0 {
            return;
        }

        self.buffer.drain(..self.cursor);
        move_left(out, self.cursor);
        self.cursor = 0;
        self.redraw_tail(out);
    }

    fn kill_to_end(&mut self, out: &mut impl Output) {
        self.buffer.truncate(self.cursor);
        out.write(ERASE_TO_END_OF_LINE);
    }

    /// Deletes the spaces before the cursor and the word before them, as Ctrl-W
    /// does in a Unix terminal.
    fn delete_previous_word(&mut self, out: &mut impl Output) {
        let before_cursor = &self.buffer[..self.cursor];
        let word_end = before_cursor
            .iter()
            .rposition(|&byte| byte != b' ')
            .map_or(0, |i| i + 1);
        let word_start = before_cursor[..word_end]
            .iter()
            .rposition(|&byte| byte == b' ')
            .map_or(0, |i| i + 1);
        if word_start == self.cursor {
            return;
        }

        self.buffer.drain(word_start..self.cursor);
        move_left(out, self.cursor - word_start);
        self.cursor = word_start;
        self.redraw_tail(out);
    }

    /// Drops the line (Ctrl-C) and starts a new one.
    fn cancel(&mut self, out: &mut impl Output) {
        out.write(b"^C\r\n");
        self.start_line(out);
    }

    /// Clears the screen (Ctrl-L) and writes the prompt and the line again.
    fn redraw_screen(&mut self, out: &mut impl Output) {
        out.write(CLEAR_SCREEN);
        out.write(self.prompt.as_bytes());
        out.write(&self.buffer);
        move_left(out, self.buffer.len() - self.cursor);
    }

    fn enter(&mut self, byte: u8, out: &mut impl Output) -> String {
        out.write(b"\r\n");
        self.pending_line_end = Some(byte);
        self.history_position = None;

        let line = core::mem::take(&mut self.buffer);
        self.cursor = 0;
        self.remember(&line);
        // The buffer contains printable ASCII only, so every byte is one char.
        line.iter().map(|&byte| char::from(byte)).collect()
    }

    /// Adds `line` to the history unless it is blank or repeats the newest entry.
    fn remember(&mut self, line: &[u8]) {
        if line.iter().all(|&byte| byte == b' ') {
            return;
        }
        if self
            .history
            .back()
            .is_some_and(|newest| newest.as_slice() == line)
        {
            return;
        }
        if self.history.len() == HISTORY_CAPACITY {
            self.history.pop_front();
        }
        self.history.push_back(line.to_vec());
    }

    fn recall_previous(&mut self, out: &mut impl Output) {
        let position = match self.history_position {
            Some(0) => return,
            Some(position) => position - 1,
            None => match self.history.len().checked_sub(1) {
                Some(newest) => {
                    self.draft = self.buffer.clone();
                    newest
                }
                None => return,
            },
        };

        self.history_position = Some(position);
        let entry = self.history.get(position).cloned().unwrap_or_default();
        self.replace_line(entry, out);
    }

    fn recall_next(&mut self, out: &mut impl Output) {
        let Some(position) = self.history_position else {
            return;
        };

        let next = position + 1;
        if next < self.history.len() {
            self.history_position = Some(next);
            let entry = self.history.get(next).cloned().unwrap_or_default();
            self.replace_line(entry, out);
        } else {
            self.history_position = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace_line(draft, out);
        }
    }

    /// Shows `line` in place of the current one, with the cursor at its end.
    fn replace_line(&mut self, line: Vec<u8>, out: &mut impl Output) {
        move_left(out, self.cursor);
        self.buffer = line;
        self.cursor = self.buffer.len();
        out.write(&self.buffer);
        out.write(ERASE_TO_END_OF_LINE);
    }

    /// Rewrites the line from the cursor to its end, erases what was left
    /// behind it, and moves the terminal's cursor back to `self.cursor`.
    fn redraw_tail(&self, out: &mut impl Output) {
        out.write(&self.buffer[self.cursor..]);
        out.write(ERASE_TO_END_OF_LINE);
        move_left(out, self.buffer.len() - self.cursor);
    }
}

/// Moves the terminal's cursor `columns` to the left (ANSI CUB).
fn move_left(out: &mut impl Output, columns: usize) {
    if columns > 0 {
        out.write(format!("\x1b[{columns}D").as_bytes());
    }
}

/// Decodes `ESC [ parameters final` into a key, or `None` for a sequence that
/// the editor ignores.
fn decode_control_sequence(parameters: &[u8], final_byte: u8) -> Option<Key> {
    if final_byte != b'~' {
        // Cursor keys. A parameter such as `1;5` only adds a modifier (here
        // Ctrl), which the editor ignores.
        return decode_cursor_key(final_byte);
    }

    // VT220 editing keys: `ESC [ n ~`, optionally with `;modifier`.
    let number_text = parameters.split(|&byte| byte == b';').next().unwrap_or(&[]);
    match parse_decimal(number_text)? {
        1 | 7 => Some(Key::Home),
        3 => Some(Key::Delete),
        4 | 8 => Some(Key::End),
        _ => None,
    }
}

fn decode_cursor_key(final_byte: u8) -> Option<Key> {
    match final_byte {
        b'A' => Some(Key::HistoryPrevious),
        b'B' => Some(Key::HistoryNext),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        _ => None,
    }
}

/// Parses a non-empty run of ASCII digits, saturating at `u32::MAX`.
fn parse_decimal(text: &[u8]) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u32, |value, &byte| {
        let digit = char::from(byte).to_digit(10)?;
        Some(value.saturating_mul(10).saturating_add(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "> ";

    /// Feeds `input` to `editor`, returning the completed lines and the echo.
    fn feed_all(editor: &mut LineEditor, input: &[u8]) -> (Vec<String>, Vec<u8>) {
        let mut echo = Vec::new();
        let mut lines = Vec::new();
        for &byte in input {
            if let Some(line) = editor.feed(byte, &mut echo) {
                lines.push(line);
                editor.start_line(&mut echo);
            }
        }
        (lines, echo)
    }

    /// Returns the lines that `input` produces on a fresh editor.
    fn lines_of(input: &[u8]) -> Vec<String> {
        feed_all(&mut LineEditor::new(PROMPT), input).0
    }

    /// Returns the single line that `input` produces on a fresh editor.
    fn line_of(input: &[u8]) -> String {
        let lines = lines_of(input);
        assert_eq!(
            lines.len(),
            1,
            "expected one line from {input:?}, got {lines:?}"
        );
        lines.into_iter().next().unwrap_or_default()
    }

    /// Returns what `input` echoes after the editor has taken `setup`.
    fn echo_after(setup: &[u8], input: &[u8]) -> Vec<u8> {
        let mut editor = LineEditor::new(PROMPT);
        feed_all(&mut editor, setup);
        feed_all(&mut editor, input).1
    }

    #[test]
    fn plain_text_is_returned_on_cr() {
        assert_eq!(line_of(b"xl info\r"), "xl info");
    }

    #[test]
    fn plain_text_is_echoed() {
        let (_, echo) = feed_all(&mut LineEditor::new(PROMPT), b"ls\r");
        assert_eq!(echo, b"ls\r\n> ");
    }

    #[test]
    fn lf_alone_ends_a_line() {
        assert_eq!(lines_of(b"a\nb\n"), ["a", "b"]);
    }

    #[test]
    fn crlf_counts_as_one_enter() {
        assert_eq!(lines_of(b"a\r\nb\r\n"), ["a", "b"]);
    }

    #[test]
    fn lfcr_counts_as_one_enter() {
        assert_eq!(lines_of(b"a\n\rb\n\r"), ["a", "b"]);
    }

    #[test]
    fn two_crs_give_an_empty_line() {
        assert_eq!(lines_of(b"a\r\r"), ["a", ""]);
    }

    #[test]
    fn crlf_echoes_one_newline() {
        let (_, echo) = feed_all(&mut LineEditor::new(PROMPT), b"a\r\n");
        assert_eq!(echo, b"a\r\n> ");
    }

    #[test]
    fn crlf_split_by_start_line_counts_once() {
        let mut editor = LineEditor::new(PROMPT);
        let mut echo = Vec::new();
        assert_eq!(editor.feed(b'\r', &mut echo).as_deref(), Some(""));
        editor.start_line(&mut echo);
        assert_eq!(editor.feed(b'\n', &mut echo), None);
        assert_eq!(echo, b"\r\n> ");
    }

    #[test]
    fn insert_in_middle_redraws_tail() {
        assert_eq!(line_of(b"ac\x1b[Db\r"), "abc");
        let echo = echo_after(b"ac\x1b[D", b"b");
        assert_eq!(echo, b"bc\x1b[K\x1b[1D");
    }

    #[test]
    fn backspace_del_at_end() {
        assert_eq!(line_of(b"abc\x7f\r"), "ab");
        assert_eq!(echo_after(b"abc", b"\x7f"), b"\x08 \x08");
    }

    #[test]
    fn backspace_ctrl_h_at_end() {
        assert_eq!(line_of(b"abc\x08\x08\r"), "a");
    }

    #[test]
    fn backspace_in_middle_redraws_tail() {
        assert_eq!(line_of(b"abcd\x1b[D\x1b[D\x7f\r"), "acd");
        assert_eq!(
            echo_after(b"abcd\x1b[D\x1b[D", b"\x7f"),
            b"\x1b[1Dcd\x1b[K\x1b[2D"
        );
    }

    #[test]
    fn backspace_on_empty_line_does_nothing() {
        assert_eq!(line_of(b"\x7f\x08\x7fok\r"), "ok");
        assert_eq!(echo_after(b"", b"\x7f"), b"");
    }

    #[test]
    fn delete_key_removes_under_cursor() {
        assert_eq!(line_of(b"abc\x1b[D\x1b[D\x1b[3~\r"), "ac");
        assert_eq!(
            echo_after(b"abc\x1b[D\x1b[D", b"\x1b[3~"),
            b"c\x1b[K\x1b[1D"
        );
    }

    #[test]
    fn delete_key_at_end_does_nothing() {
        assert_eq!(line_of(b"abc\x1b[3~\r"), "abc");
    }

    #[test]
    fn delete_key_with_modifier() {
        assert_eq!(line_of(b"abc\x01\x1b[3;5~\r"), "bc");
    }

    #[test]
    fn left_and_right_arrows_move_cursor() {
        assert_eq!(line_of(b"ad\x1b[D\x1b[D\x1b[Cbc\r"), "abcd");
        assert_eq!(echo_after(b"ab", b"\x1b[D"), b"\x1b[1D");
        assert_eq!(echo_after(b"ab\x1b[D", b"\x1b[C"), b"b");
    }

    #[test]
    fn keypad_arrows_move_cursor() {
        assert_eq!(line_of(b"ad\x1bOD\x1bOD\x1bOCbc\r"), "abcd");
    }

    #[test]
    fn arrows_stop_at_line_ends() {
        assert_eq!(line_of(b"b\x1b[D\x1b[D\x1b[Da\x1b[C\x1b[C\x1b[Cc\r"), "abc");
        assert_eq!(echo_after(b"", b"\x1b[D\x1b[C"), b"");
    }

    #[test]
    fn home_and_end_sequences() {
        for home in [&b"\x1b[H"[..], b"\x1b[1~", b"\x1b[7~", b"\x1bOH", b"\x01"] {
            for end in [&b"\x1b[F"[..], b"\x1b[4~", b"\x1b[8~", b"\x1bOF", b"\x05"] {
                let mut input = b"bc".to_vec();
                input.extend_from_slice(home);
                input.push(b'a');
                input.extend_from_slice(end);
                input.extend_from_slice(b"d\r");
                assert_eq!(line_of(&input), "abcd", "home {home:?} end {end:?}");
            }
        }
    }

    #[test]
    fn home_and_end_echo() {
        assert_eq!(echo_after(b"abc", b"\x01"), b"\x1b[3D");
        assert_eq!(echo_after(b"abc\x01", b"\x05"), b"abc");
    }

    #[test]
    fn ctrl_u_kills_to_start() {
        assert_eq!(line_of(b"foo bar\x1b[D\x1b[D\x15\r"), "ar");
        assert_eq!(echo_after(b"abcd\x1b[D", b"\x15"), b"\x1b[3Dd\x1b[K\x1b[1D");
    }

    #[test]
    fn ctrl_k_kills_to_end() {
        assert_eq!(line_of(b"foo bar\x01\x1b[C\x0b\r"), "f");
        assert_eq!(echo_after(b"abc\x1b[D", b"\x0b"), b"\x1b[K");
    }

    #[test]
    fn ctrl_w_deletes_previous_word() {
        assert_eq!(line_of(b"cat /etc/motd\x17\r"), "cat ");
        assert_eq!(line_of(b"xl info  \x17\r"), "xl ");
        assert_eq!(line_of(b"one two three\x17\x17\r"), "one ");
        assert_eq!(line_of(b"   \x17x\r"), "x");
    }

    #[test]
    fn ctrl_w_in_middle_keeps_tail() {
        assert_eq!(line_of(b"ab cd ef\x1b[D\x1b[D\x1b[D\x17\r"), "ab  ef");
        assert_eq!(echo_after(b"ab cd", b"\x17"), b"\x1b[2D\x1b[K");
    }

    #[test]
    fn ctrl_w_at_start_does_nothing() {
        assert_eq!(echo_after(b"abc\x01", b"\x17"), b"");
    }

    #[test]
    fn ctrl_c_abandons_line() {
        assert_eq!(lines_of(b"xl dmesg\x03ls\r"), ["ls"]);
        assert_eq!(echo_after(b"abc", b"\x03"), b"^C\r\n> ");
    }

    #[test]
    fn ctrl_c_line_is_not_in_history() {
        assert_eq!(lines_of(b"abc\x03\x1b[A\r"), [""]);
    }

    #[test]
    fn ctrl_l_redraws_prompt_and_line() {
        assert_eq!(
            echo_after(b"abc\x1b[D", b"\x0c"),
            b"\x1b[H\x1b[2J> abc\x1b[1D"
        );
        assert_eq!(line_of(b"abc\x0cd\r"), "abcd");
    }

    #[test]
    fn up_recalls_previous_lines() {
        assert_eq!(
            lines_of(b"one\rtwo\r\x1b[A\r\x1b[A\x1b[A\x1b[A\r"),
            ["one", "two", "two", "one"]
        );
    }

    #[test]
    fn up_echo_replaces_line() {
        assert_eq!(echo_after(b"hello\rab", b"\x1b[A"), b"\x1b[2Dhello\x1b[K");
    }

    #[test]
    fn down_returns_to_draft() {
        assert_eq!(
            lines_of(b"one\rtwo\rdra\x1b[A\x1b[A\x1b[B\x1b[Bft\r"),
            ["one", "two", "draft"]
        );
    }

    #[test]
    fn down_without_history_does_nothing() {
        assert_eq!(echo_after(b"one\rx", b"\x1b[B"), b"");
    }

    #[test]
    fn up_on_empty_history_does_nothing() {
        assert_eq!(echo_after(b"x", b"\x1b[A"), b"");
    }

    #[test]
    fn recalled_line_can_be_edited() {
        let lines = lines_of(b"cat /etc/motd\r\x1b[A\x7f\x7f\x7f\x7fhospes/release\r");
        assert_eq!(lines, ["cat /etc/motd", "cat /etc/hospes/release"]);
    }

    #[test]
    fn history_skips_empty_and_repeated_lines() {
        let mut editor = LineEditor::new(PROMPT);
        feed_all(&mut editor, b"a\r\r   \ra\rb\ra\r");
        let entries: Vec<&[u8]> = editor.history.iter().map(Vec::as_slice).collect();
        assert_eq!(entries, [&b"a"[..], b"b", b"a"]);
    }

    #[test]
    fn history_keeps_newest_entries() {
        let mut editor = LineEditor::new(PROMPT);
        for number in 0..HISTORY_CAPACITY + 5 {
            feed_all(&mut editor, format!("line {number}\r").as_bytes());
        }
        assert_eq!(editor.history.len(), HISTORY_CAPACITY);
        assert_eq!(
            editor.history.front().map(Vec::as_slice),
            Some(&b"line 5"[..])
        );

        // Up past the oldest entry stays on it.
        let mut input = b"\x1b[A".repeat(HISTORY_CAPACITY + 3);
        input.push(b'\r');
        assert_eq!(feed_all(&mut editor, &input).0, ["line 5"]);
    }

    #[test]
    fn long_line_rings_bell_when_full() {
        let mut input = vec![b'x'; MAX_LINE_LENGTH + 3];
        input.push(b'\r');
        assert_eq!(line_of(&input), "x".repeat(MAX_LINE_LENGTH));

        let full = vec![b'x'; MAX_LINE_LENGTH];
        assert_eq!(echo_after(&full, b"y"), [BELL]);
    }

    #[test]
    fn full_line_still_accepts_edits() {
        let mut input = vec![b'x'; MAX_LINE_LENGTH];
        input.extend_from_slice(b"\x7fy\r");
        let mut expected = "x".repeat(MAX_LINE_LENGTH - 1);
        expected.push('y');
        assert_eq!(line_of(&input), expected);
    }

    #[test]
    fn escape_sequence_split_across_feeds() {
        let mut editor = LineEditor::new(PROMPT);
        let mut echo = Vec::new();
        for &byte in b"ab\x1b" {
            assert_eq!(editor.feed(byte, &mut echo), None);
        }
        assert_eq!(editor.feed(b'[', &mut echo), None);
        assert_eq!(editor.feed(b'3', &mut echo), None);
        assert_eq!(editor.feed(b'~', &mut echo), None);
        assert_eq!(editor.feed(b'\x1b', &mut echo), None);
        assert_eq!(editor.feed(b'[', &mut echo), None);
        assert_eq!(editor.feed(b'D', &mut echo), None);
        assert_eq!(editor.feed(b'X', &mut echo), None);
        assert_eq!(editor.feed(b'\r', &mut echo).as_deref(), Some("aXb"));
    }

    #[test]
    fn unknown_sequences_are_swallowed() {
        let unknown: [&[u8]; 9] = [
            b"\x1b[2~",                    // Insert
            b"\x1b[5~",                    // Page Up
            b"\x1b[15~",                   // F5
            b"\x1bOP",                     // F1
            b"\x1b[200~",                  // bracketed paste start
            b"\x1b[?1;2c",                 // device attributes reply
            b"\x1b[1 q",                   // with an intermediate byte
            b"\x1bb",                      // Alt-b
            b"\x1b[1;2;3;4;5;6;7;8;9;10D", // more parameters than kept
        ];
        for sequence in unknown {
            let mut input = b"ab".to_vec();
            input.extend_from_slice(sequence);
            input.extend_from_slice(b"c\r");
            assert_eq!(line_of(&input), "abc", "sequence {sequence:?}");
            assert_eq!(echo_after(b"ab", sequence), b"", "sequence {sequence:?}");
        }
    }

    #[test]
    fn control_byte_cancels_sequence() {
        assert_eq!(line_of(b"ab\x1b[\r"), "ab");
        assert_eq!(line_of(b"ab\x1b\r"), "ab");
        assert_eq!(line_of(b"ab\x1bO\r"), "ab");
        assert_eq!(lines_of(b"ab\x1b[1\x03c\r"), ["c"]);
    }

    #[test]
    fn double_escape_starts_new_sequence() {
        assert_eq!(line_of(b"ab\x1b\x1b[Dc\r"), "acb");
    }

    #[test]
    fn modified_arrow_moves_cursor() {
        assert_eq!(line_of(b"ab\x1b[1;5Dc\r"), "acb");
    }

    #[test]
    fn unlisted_control_and_high_bytes_are_ignored() {
        let mut input = b"a".to_vec();
        input.extend([
            0x00, 0x02, 0x04, 0x09, 0x0E, 0x1C, 0x1F, 0x80, 0xC3, 0xA9, 0xFF,
        ]);
        input.extend_from_slice(b"b\r");
        assert_eq!(line_of(&input), "ab");
        assert_eq!(echo_after(b"", &[0x00, 0x09, 0x80, 0xFF]), b"");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut editor = LineEditor::new(PROMPT);
        let mut echo = Vec::new();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let byte = state.to_le_bytes()[0];
            if let Some(line) = editor.feed(byte, &mut echo) {
                assert!(line.len() <= MAX_LINE_LENGTH);
                assert!(line.bytes().all(|byte| (b' '..=b'~').contains(&byte)));
                editor.start_line(&mut echo);
            }
            assert!(editor.cursor <= editor.buffer.len());
            echo.clear();
        }
        assert!(editor.history.len() <= HISTORY_CAPACITY);
    }

    #[test]
    fn random_escape_heavy_bytes_never_panic() {
        // Draws from the bytes that make up sequences, so that long and odd
        // sequences occur often.
        const ALPHABET: &[u8] =
            b"\x1b\x1b[[O0123456789;~ABCDFHq?\x7f\x08\x01\x05\x0b\x0c\x15\x17\x03\r\nab ";
        let mut editor = LineEditor::new(PROMPT);
        let mut echo = Vec::new();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let byte = ALPHABET[(state % ALPHABET.len() as u64) as usize];
            if editor.feed(byte, &mut echo).is_some() {
                editor.start_line(&mut echo);
            }
            assert!(editor.cursor <= editor.buffer.len());
            assert!(editor.buffer.len() <= MAX_LINE_LENGTH);
            echo.clear();
        }
    }
}
