//! The hypervisor's console ring, read by Dom0's `xl dmesg`.
//!
//! Bytes are indexed by a free-running 32-bit producer count, as Xen's
//! `XEN_SYSCTL_readconsole` expects: a reader passes the index it got last
//! time and receives what was written since, or the oldest byte still kept
//! when it fell behind.

pub struct LogRing<const N: usize> {
    bytes: [u8; N],
    /// Total bytes ever written, wrapping at 2^32.
    produced: u32,
    /// Index of the oldest byte still readable (after a clear, or N behind).
    oldest: u32,
}

impl<const N: usize> LogRing<N> {
    pub const fn new() -> Self {
        const { assert!(N.is_power_of_two() && N <= 1 << 31) };
        LogRing { bytes: [0; N], produced: 0, oldest: 0 }
    }

    pub fn write(&mut self, data: &[u8]) {
        for &byte in data {
            self.bytes[self.produced as usize % N] = byte;
            self.produced = self.produced.wrapping_add(1);
        }
        if self.produced.wrapping_sub(self.oldest) as usize > N {
            self.oldest = self.produced.wrapping_sub(N as u32);
        }
    }

    /// Copies bytes from `start` (or the oldest kept byte, whichever is
    /// newer) into `out`; returns the count copied and the index after them.
    pub fn read(&self, start: u32, out: &mut [u8]) -> (usize, u32) {
        let available = self.produced.wrapping_sub(self.oldest);
        let behind = self.produced.wrapping_sub(start);
        let mut index = if behind > available { self.oldest } else { start };
        let mut count = 0;
        while index != self.produced && count < out.len() {
            out[count] = self.bytes[index as usize % N];
            index = index.wrapping_add(1);
            count += 1;
        }
        (count, index)
    }

    /// Index of the oldest byte still kept.
    pub fn oldest(&self) -> u32 {
        self.oldest
    }

    /// Forgets everything written so far.
    pub fn clear(&mut self) {
        self.oldest = self.produced;
    }
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_reads_what_was_written() {
        let mut ring = LogRing::<16>::new();
        ring.write(b"hello");
        let mut out = [0u8; 32];
        let (count, next) = ring.read(ring.oldest(), &mut out);
        assert_eq!(&out[..count], b"hello");
        assert_eq!(next, 5);
    }

    #[test]
    fn ring_keeps_newest_after_wrap() {
        let mut ring = LogRing::<8>::new();
        ring.write(b"0123456789AB");
        let mut out = [0u8; 32];
        let (count, _) = ring.read(0, &mut out);
        assert_eq!(&out[..count], b"456789AB");
    }

    #[test]
    fn ring_incremental_read_and_small_buffer() {
        let mut ring = LogRing::<16>::new();
        ring.write(b"abc");
        let mut out = [0u8; 2];
        let (count, next) = ring.read(0, &mut out);
        assert_eq!((&out[..count], next), (&b"ab"[..], 2));
        ring.write(b"de");
        let mut rest = [0u8; 8];
        let (count, next) = ring.read(next, &mut rest);
        assert_eq!((&rest[..count], next), (&b"cde"[..], 5));
    }

    #[test]
    fn ring_clear_drops_old_bytes() {
        let mut ring = LogRing::<16>::new();
        ring.write(b"old");
        ring.clear();
        ring.write(b"new");
        let mut out = [0u8; 8];
        let (count, _) = ring.read(0, &mut out);
        assert_eq!(&out[..count], b"new");
    }
}
