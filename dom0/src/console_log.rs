//! The console history that Dom0 keeps for each guest, so that `xl console`
//! can show what the guest printed before the user attached.
//!
//! The history is bounded: when it is full, the oldest bytes are dropped and
//! counted. The guest's control sequences `ESC ] hospes;ready BEL` and
//! `ESC ] hospes;stage=NAME BEL` tell the toolstack how far the guest has
//! booted. [`ConsoleLog::append`] removes them from the stream and records
//! them, so they never reach the user or the history.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Bytes of history that [`ConsoleLog::new`] keeps per guest.
pub const CONSOLE_LOG_CAPACITY: usize = 64 * 1024;

/// Start of every Hospes control sequence: an OSC (`ESC ]`) in the `hospes;`
/// namespace.
const SEQUENCE_PREFIX: &[u8] = b"\x1b]hospes;";
/// Byte that ends a control sequence (BEL).
const SEQUENCE_END: u8 = 0x07;
/// Maximum length of the payload between the prefix and BEL, in bytes. A
/// longer one is not a control sequence, so its bytes stay in the output.
const MAX_PAYLOAD: usize = 64;

/// Payload that reports that the guest finished booting.
const READY_PAYLOAD: &[u8] = b"ready";
/// Start of the payload that names the boot stage the guest reached.
const STAGE_PAYLOAD_PREFIX: &[u8] = b"stage=";

/// One guest's console output: the bounded history and the boot state that
/// its control sequences reported.
#[derive(Clone, Debug)]
pub struct ConsoleLog {
    history: VecDeque<u8>,
    capacity: usize,
    dropped: u64,
    /// Bytes that may begin a control sequence: a prefix of
    /// [`SEQUENCE_PREFIX`], then payload bytes. Empty outside a sequence.
    pending: Vec<u8>,
    ready: bool,
    stage: Option<String>,
}

impl ConsoleLog {
    /// Creates an empty log that keeps [`CONSOLE_LOG_CAPACITY`] bytes.
    pub const fn new() -> ConsoleLog {
        ConsoleLog::with_capacity(CONSOLE_LOG_CAPACITY)
    }

    /// Creates an empty log that keeps the last `capacity` bytes.
    pub const fn with_capacity(capacity: usize) -> ConsoleLog {
        ConsoleLog {
            history: VecDeque::new(),
            capacity,
            dropped: 0,
            pending: Vec::new(),
            ready: false,
            stage: None,
        }
    }

    /// Adds bytes read from the guest's console ring. Removes and records the
    /// control sequences, stores the rest in the history and returns it, for
    /// an attached console to print.
    ///
    /// Bytes that may start a control sequence are held back until a later
    /// append shows whether they do, so the returned bytes can lag the input
    /// by up to the length of one sequence. A sequence split across appends
    /// is recognized.
    pub fn append(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut output = Vec::with_capacity(bytes.len());
        for &byte in bytes {
            self.process(byte, &mut output);
        }
        self.store(&output);
        output
    }

    /// Returns what `xl console` prints on attach: when bytes were dropped, a
    /// line `[xl console: N earlier bytes dropped]` ending in CR LF, then the
    /// kept history. Bytes held back by [`ConsoleLog::append`] are not
    /// included.
    pub fn replay(&self) -> Vec<u8> {
        let mut replay = Vec::with_capacity(self.history.len() + 64);
        if self.dropped > 0 {
            let unit = if self.dropped == 1 { "byte" } else { "bytes" };
            let notice = format!("[xl console: {} earlier {unit} dropped]\r\n", self.dropped);
            replay.extend_from_slice(notice.as_bytes());
        }
        replay.extend(self.history.iter());
        replay
    }

    /// Returns true once the guest has sent `ESC ] hospes;ready BEL`.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Returns the name from the last `ESC ] hospes;stage=NAME BEL`, or
    /// `None` before the first one.
    pub fn last_stage(&self) -> Option<&str> {
        self.stage.as_deref()
    }

    /// Returns the number of bytes dropped from the front of the history.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    /// Returns the number of bytes in the history.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Returns true when the history has no bytes.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Feeds one byte through the control-sequence recognizer, adding the
    /// bytes that turn out to be ordinary output to `output`.
    fn process(&mut self, byte: u8, output: &mut Vec<u8>) {
        if self.pending.is_empty() {
            if byte == SEQUENCE_PREFIX[0] {
                self.pending.push(byte);
            } else {
                output.push(byte);
            }
            return;
        }

        let expected = if self.pending.len() < SEQUENCE_PREFIX.len() {
            byte == SEQUENCE_PREFIX[self.pending.len()]
        } else if byte == SEQUENCE_END {
            self.finish_sequence();
            return;
        } else {
            let payload_length = self.pending.len() - SEQUENCE_PREFIX.len();
            is_payload_byte(byte) && payload_length < MAX_PAYLOAD
        };
        if expected {
            self.pending.push(byte);
            return;
        }

        // Not a control sequence after all: what was held back is output.
        // The current byte may itself start a sequence, so it goes through
        // the recognizer again, now with nothing pending.
        output.append(&mut self.pending);
        self.process(byte, output);
    }

    /// Records the complete sequence in `pending`. A payload other than
    /// `ready` or a non-empty `stage=NAME` is removed without effect.
    fn finish_sequence(&mut self) {
        let payload = &self.pending[SEQUENCE_PREFIX.len()..];
        if payload == READY_PAYLOAD {
            self.ready = true;
        } else if let Some(name) = payload.strip_prefix(STAGE_PAYLOAD_PREFIX)
            && !name.is_empty()
        {
            // Payload bytes are printable ASCII, so this is valid UTF-8.
            self.stage = Some(String::from_utf8_lossy(name).into_owned());
        }
        self.pending.clear();
    }

    /// Adds `bytes` to the history, dropping the oldest bytes beyond the
    /// capacity.
    fn store(&mut self, bytes: &[u8]) {
        let kept = if bytes.len() > self.capacity {
            let skipped = bytes.len() - self.capacity;
            self.count_dropped(self.history.len() + skipped);
            self.history.clear();
            &bytes[skipped..]
        } else {
            let overflow = (self.history.len() + bytes.len()).saturating_sub(self.capacity);
            self.history.drain(..overflow);
            self.count_dropped(overflow);
            bytes
        };
        self.history.extend(kept.iter());
    }

    fn count_dropped(&mut self, count: usize) {
        self.dropped = self.dropped.saturating_add(count as u64);
    }
}

impl Default for ConsoleLog {
    fn default() -> ConsoleLog {
        ConsoleLog::new()
    }
}

/// Returns true for the bytes a payload may contain: printable ASCII.
fn is_payload_byte(byte: u8) -> bool {
    (0x20..=0x7e).contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    const READY: &[u8] = b"\x1b]hospes;ready\x07";

    fn stage(name: &str) -> Vec<u8> {
        format!("\x1b]hospes;stage={name}\x07").into_bytes()
    }

    fn concat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn plain_text_is_kept_and_returned() {
        let mut log = ConsoleLog::new();
        assert_eq!(log.append(b"hello\r\n"), b"hello\r\n");
        assert_eq!(log.append(b"world"), b"world");
        assert_eq!(log.replay(), b"hello\r\nworld");
        assert_eq!(log.len(), 12);
        assert!(!log.is_empty());
        assert_eq!(log.dropped_bytes(), 0);
    }

    #[test]
    fn new_log_is_empty() {
        let log = ConsoleLog::default();
        assert!(log.is_empty());
        assert_eq!(log.replay(), b"");
        assert!(!log.is_ready());
        assert_eq!(log.last_stage(), None);
    }

    #[test]
    fn ready_sequence_is_removed_and_recorded() {
        let mut log = ConsoleLog::new();
        let output = log.append(&concat(&[b"booted", READY, b"\r\n"]));
        assert_eq!(output, b"booted\r\n");
        assert_eq!(log.replay(), b"booted\r\n");
        assert!(log.is_ready());
    }

    #[test]
    fn stage_sequences_record_the_last() {
        let mut log = ConsoleLog::new();
        let output = log.append(&concat(&[&stage("early"), b"a", &stage("mm-init"), b"b"]));
        assert_eq!(output, b"ab");
        assert_eq!(log.last_stage(), Some("mm-init"));
        assert!(!log.is_ready());
    }

    #[test]
    fn stage_name_with_spaces_and_punctuation() {
        let mut log = ConsoleLog::new();
        log.append(&stage("page tables: 4/4 ok"));
        assert_eq!(log.last_stage(), Some("page tables: 4/4 ok"));
        assert!(log.is_empty());
    }

    #[test]
    fn sequence_split_at_every_position() {
        let input = concat(&[b"abc", &stage("boot"), b"def", READY, b"g"]);
        for split in 0..=input.len() {
            let mut log = ConsoleLog::new();
            let mut output = log.append(&input[..split]);
            output.extend(log.append(&input[split..]));
            assert_eq!(output, b"abcdefg", "split at {split}");
            assert_eq!(log.replay(), b"abcdefg", "split at {split}");
            assert_eq!(log.last_stage(), Some("boot"), "split at {split}");
            assert!(log.is_ready(), "split at {split}");
        }
    }

    #[test]
    fn sequence_fed_one_byte_at_a_time() {
        let input = concat(&[b"x", READY, b"y"]);
        let mut log = ConsoleLog::new();
        let mut output = Vec::new();
        for &byte in &input {
            output.extend(log.append(&[byte]));
        }
        assert_eq!(output, b"xy");
        assert!(log.is_ready());
    }

    #[test]
    fn other_escape_sequences_pass_through() {
        let mut log = ConsoleLog::new();
        let colored = b"\x1b[31mred\x1b[0m \x1b]0;title\x07";
        assert_eq!(log.append(colored), colored);
        assert_eq!(log.replay(), colored);
        assert!(!log.is_ready());
    }

    #[test]
    fn partial_prefix_then_other_byte_is_output() {
        let mut log = ConsoleLog::new();
        assert_eq!(log.append(b"\x1b]hosp"), b"");
        assert_eq!(log.append(b"ital"), b"\x1b]hospital");
        assert_eq!(log.replay(), b"\x1b]hospital");
    }

    #[test]
    fn escape_before_real_sequence() {
        let mut log = ConsoleLog::new();
        let output = log.append(&concat(&[b"\x1b", READY, b"!"]));
        assert_eq!(output, b"\x1b!");
        assert!(log.is_ready());
    }

    #[test]
    fn escape_inside_payload_restarts_recognition() {
        let mut log = ConsoleLog::new();
        let output = log.append(&concat(&[b"\x1b]hospes;sta", READY]));
        assert_eq!(output, b"\x1b]hospes;sta");
        assert!(log.is_ready());
    }

    #[test]
    fn trailing_escape_is_held_back() {
        let mut log = ConsoleLog::new();
        assert_eq!(log.append(b"a\x1b"), b"a");
        assert_eq!(log.replay(), b"a");
        assert_eq!(log.append(b"[0m"), b"\x1b[0m");
        assert_eq!(log.replay(), b"a\x1b[0m");
    }

    #[test]
    fn overlong_payload_is_output() {
        let mut log = ConsoleLog::new();
        let name = "n".repeat(MAX_PAYLOAD);
        let input = stage(&name);
        assert_eq!(log.append(&input), input);
        assert_eq!(log.last_stage(), None);
    }

    #[test]
    fn longest_payload_is_recognized() {
        let mut log = ConsoleLog::new();
        let name = "n".repeat(MAX_PAYLOAD - STAGE_PAYLOAD_PREFIX.len());
        assert_eq!(log.append(&stage(&name)), b"");
        assert_eq!(log.last_stage(), Some(name.as_str()));
    }

    #[test]
    fn newline_in_payload_is_output() {
        let mut log = ConsoleLog::new();
        let input = b"\x1b]hospes;stage=a\nb\x07";
        assert_eq!(log.append(input), input);
        assert_eq!(log.last_stage(), None);
    }

    #[test]
    fn unknown_payload_is_removed_without_effect() {
        let mut log = ConsoleLog::new();
        assert_eq!(log.append(b"a\x1b]hospes;reboot-me\x07b"), b"ab");
        assert!(!log.is_ready());
        assert_eq!(log.last_stage(), None);
    }

    #[test]
    fn empty_stage_is_ignored() {
        let mut log = ConsoleLog::new();
        log.append(&stage("kernel"));
        assert_eq!(log.append(&stage("")), b"");
        assert_eq!(log.last_stage(), Some("kernel"));
    }

    #[test]
    fn ready_is_case_sensitive() {
        let mut log = ConsoleLog::new();
        assert_eq!(log.append(b"\x1b]hospes;READY\x07"), b"");
        assert!(!log.is_ready());
    }

    #[test]
    fn overflow_drops_oldest_and_counts() {
        let mut log = ConsoleLog::with_capacity(8);
        log.append(b"0123456789");
        assert_eq!(log.dropped_bytes(), 2);
        assert_eq!(log.len(), 8);
        assert_eq!(
            log.replay(),
            b"[xl console: 2 earlier bytes dropped]\r\n23456789"
        );
    }

    #[test]
    fn overflow_across_appends() {
        let mut log = ConsoleLog::with_capacity(8);
        log.append(b"abcdef");
        log.append(b"ghij");
        assert_eq!(log.dropped_bytes(), 2);
        log.append(b"klm");
        assert_eq!(log.dropped_bytes(), 5);
        assert_eq!(
            log.replay(),
            b"[xl console: 5 earlier bytes dropped]\r\nfghijklm"
        );
    }

    #[test]
    fn one_append_larger_than_capacity() {
        let mut log = ConsoleLog::with_capacity(4);
        log.append(b"ab");
        let output = log.append(b"cdefghij");
        assert_eq!(output, b"cdefghij");
        assert_eq!(log.dropped_bytes(), 6);
        assert_eq!(
            log.replay(),
            b"[xl console: 6 earlier bytes dropped]\r\nghij"
        );
    }

    #[test]
    fn one_byte_dropped_is_singular() {
        let mut log = ConsoleLog::with_capacity(3);
        log.append(b"abcd");
        assert_eq!(log.replay(), b"[xl console: 1 earlier byte dropped]\r\nbcd");
    }

    #[test]
    fn full_log_without_drops_has_no_notice() {
        let mut log = ConsoleLog::with_capacity(4);
        log.append(b"abcd");
        assert_eq!(log.dropped_bytes(), 0);
        assert_eq!(log.replay(), b"abcd");
    }

    #[test]
    fn removed_sequences_take_no_space() {
        let mut log = ConsoleLog::with_capacity(4);
        log.append(&concat(&[b"ab", READY, &stage("x"), b"cd"]));
        assert_eq!(log.dropped_bytes(), 0);
        assert_eq!(log.replay(), b"abcd");
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut log = ConsoleLog::with_capacity(0);
        assert_eq!(log.append(b"abc"), b"abc");
        assert!(log.is_empty());
        assert_eq!(log.replay(), b"[xl console: 3 earlier bytes dropped]\r\n");
    }

    #[test]
    fn default_capacity_is_64_kib() {
        let mut log = ConsoleLog::new();
        let chunk = [b'x'; 1000];
        for _ in 0..66 {
            log.append(&chunk);
        }
        assert_eq!(CONSOLE_LOG_CAPACITY, 65_536);
        assert_eq!(log.len(), 65_536);
        assert_eq!(log.dropped_bytes(), 66_000 - 65_536);
    }

    /// xorshift64: a fixed-seed generator, so that a failure repeats.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    #[test]
    fn random_chunking_matches_single_append() {
        const PIECES: [&[u8]; 8] = [
            b"\x1b",
            b"]",
            b"hospes;",
            b"ready",
            b"stage=",
            b"\x07",
            b"text\r\n",
            b"\x1b]hospes;",
        ];
        let mut random = Random(0x2545_f491_4f6c_dd1d);
        for _ in 0..2_000 {
            let mut input = Vec::new();
            for _ in 0..random.below(24) {
                if random.below(4) == 0 {
                    input.push(random.next() as u8);
                } else {
                    input.extend_from_slice(PIECES[random.below(PIECES.len())]);
                }
            }

            let mut whole = ConsoleLog::with_capacity(32);
            let whole_output = whole.append(&input);

            let mut chunked = ConsoleLog::with_capacity(32);
            let mut chunked_output = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + random.below(rest.len()));
                chunked_output.extend(chunked.append(chunk));
                rest = tail;
            }

            assert_eq!(chunked_output, whole_output, "input {input:?}");
            assert_eq!(chunked.replay(), whole.replay(), "input {input:?}");
            assert_eq!(chunked.is_ready(), whole.is_ready(), "input {input:?}");
            assert_eq!(chunked.last_stage(), whole.last_stage(), "input {input:?}");
            assert_eq!(
                chunked.dropped_bytes(),
                whole.dropped_bytes(),
                "input {input:?}"
            );
        }
    }
}
