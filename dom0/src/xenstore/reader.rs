//! Splits the request byte stream of a ring into messages.
//!
//! The bytes come from a DomU, so every length is hostile: a header that
//! announces more than [`PAYLOAD_MAX`] bytes is reported and the reader
//! starts over, and no buffer grows past that bound.

use alloc::vec::Vec;
use hypercalls::xenstore::{HEADER_SIZE, MessageHeader, PAYLOAD_MAX};

/// One complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: MessageHeader,
    pub payload: Vec<u8>,
}

/// A header whose `len` exceeds [`PAYLOAD_MAX`]. The reader has dropped it
/// and starts over at the next byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OversizedMessage {
    pub header: MessageHeader,
}

/// Collects bytes until a whole message is present.
#[derive(Default)]
pub struct MessageReader {
    header: [u8; HEADER_SIZE],
    header_bytes: usize,
    payload: Vec<u8>,
}

impl MessageReader {
    /// Consumes bytes from the front of `input` until one message is
    /// complete or `input` is used up. Returns how many bytes it consumed
    /// and the message, if one completed.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Result<Option<Message>, OversizedMessage>) {
        let mut used = 0;
        if self.header_bytes < HEADER_SIZE {
            let take = (HEADER_SIZE - self.header_bytes).min(input.len());
            self.header[self.header_bytes..self.header_bytes + take].copy_from_slice(&input[..take]);
            self.header_bytes += take;
            used += take;
            if self.header_bytes < HEADER_SIZE {
                return (used, Ok(None));
            }
            let header = MessageHeader::from_bytes(&self.header);
            if header.len as usize > PAYLOAD_MAX {
                self.reset();
                return (used, Err(OversizedMessage { header }));
            }
            self.payload = Vec::with_capacity(header.len as usize);
        }
        let header = MessageHeader::from_bytes(&self.header);
        let missing = header.len as usize - self.payload.len();
        let take = missing.min(input.len() - used);
        self.payload.extend_from_slice(&input[used..used + take]);
        used += take;
        if self.payload.len() < header.len as usize {
            return (used, Ok(None));
        }
        let payload = core::mem::take(&mut self.payload);
        self.reset();
        (used, Ok(Some(Message { header, payload })))
    }

    /// Drops a partly read message.
    pub fn reset(&mut self) {
        self.header_bytes = 0;
        self.payload = Vec::new();
    }

    /// Returns true while part of a message has arrived.
    pub fn is_partial(&self) -> bool {
        self.header_bytes > 0
    }
}
