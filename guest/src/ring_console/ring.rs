//! The guest's end of a `xencons_interface` page: index arithmetic and copies.
//!
//! The guest produces into `out[]` and consumes from `in[]`, and the backend
//! in Dom0 does the opposite. Indices are free-running `u32` values, masked by
//! the array size on use. The backend writes `out_cons` and `in_prod` at any
//! time, and a broken or hostile backend may write anything there, so the
//! guest keeps its own two indices private and checks the backend's against
//! them before every copy.

use core::ptr::{NonNull, addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU32, Ordering};
use hypercalls::console::{IN_SIZE, OUT_SIZE, XenconsInterface};

const _: () = assert!(IN_SIZE.is_power_of_two() && OUT_SIZE.is_power_of_two());

/// Returns how many bytes lie between `consumer` and `producer` in a ring of
/// `size` bytes, or `None` when that exceeds `size`, which no correct peer
/// produces. Wraparound of the free-running indices at `u32::MAX` is normal.
pub fn ring_fill(producer: u32, consumer: u32, size: usize) -> Option<usize> {
    let fill = producer.wrapping_sub(consumer) as usize;
    (fill <= size).then_some(fill)
}

/// The guest's end of one console page.
pub struct ConsoleRing {
    interface: NonNull<XenconsInterface>,
    /// The guest's `out_prod`. The page gets a copy after every write, but
    /// the copy is never read back, so the backend cannot move it.
    out_prod: u32,
    /// The guest's `in_cons`, kept private like `out_prod`.
    in_cons: u32,
    /// Number of times the backend's indices were out of range.
    resets: u32,
}

// SAFETY: the ring refers to a page that `new`'s caller guarantees stays
// mapped, so moving the value to another thread moves only the pointer.
unsafe impl Send for ConsoleRing {}

impl ConsoleRing {
    /// Attaches to the console page at `interface`, taking the guest's two
    /// indices from the page as the builder or a previous kernel left them.
    ///
    /// # Safety
    ///
    /// `interface` must point to a console page that stays mapped and
    /// writable for the life of the returned value, and that no one but this
    /// value and the backend accesses.
    pub unsafe fn new(interface: NonNull<XenconsInterface>) -> ConsoleRing {
        let page = interface.as_ptr();
        // SAFETY: the caller guarantees the page is mapped, and the fields
        // are aligned u32 values, read once with atomic loads.
        let (out_prod, in_cons) = unsafe {
            (
                AtomicU32::from_ptr(addr_of_mut!((*page).out_prod)).load(Ordering::Acquire),
                AtomicU32::from_ptr(addr_of_mut!((*page).in_cons)).load(Ordering::Acquire),
            )
        };
        ConsoleRing {
            interface,
            out_prod,
            in_cons,
            resets: 0,
        }
    }

    /// Returns how often the backend's indices were out of range and the
    /// guest gave up the unread data to start again from the backend's index.
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Returns the number of bytes that [`ConsoleRing::write`] would accept now.
    pub fn output_space(&mut self) -> usize {
        OUT_SIZE - self.output_fill()
    }

    /// Copies as much of `bytes` into `out[]` as fits without overrunning
    /// `out_cons`, then publishes the new `out_prod`. Returns the number of
    /// bytes written, 0 when the ring is full. Notifying the backend is the
    /// caller's job.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let count = bytes.len().min(OUT_SIZE - self.output_fill());
        if count == 0 {
            return 0;
        }

        let page = self.interface.as_ptr();
        for (offset, &byte) in bytes[..count].iter().enumerate() {
            let index = self.out_prod.wrapping_add(offset as u32) as usize & (OUT_SIZE - 1);
            // SAFETY: `index` is below OUT_SIZE, and `new`'s caller guarantees
            // the page is mapped and writable.
            unsafe { addr_of_mut!((*page).output[index]).write_volatile(byte) };
        }
        // The release store orders the data writes before the new index, the
        // write barrier that the ring protocol requires.
        self.out_prod = self.out_prod.wrapping_add(count as u32);
        self.publish_out_prod();
        count
    }

    /// Copies bytes from `in[]` into `buffer`, up to its length, and
    /// publishes the new `in_cons`. Returns the number of bytes read.
    /// Notifying the backend that space is free is the caller's job.
    pub fn read(&mut self, buffer: &mut [u8]) -> usize {
        let page = self.interface.as_ptr();
        // SAFETY: as in `new`. The acquire load orders the data reads below
        // after the backend's index, the read barrier of the ring protocol.
        let in_prod =
            unsafe { AtomicU32::from_ptr(addr_of_mut!((*page).in_prod)).load(Ordering::Acquire) };
        let Some(available) = ring_fill(in_prod, self.in_cons, IN_SIZE) else {
            // The backend claims more input than the ring holds: drop it all.
            self.resets += 1;
            self.in_cons = in_prod;
            self.publish_in_cons();
            return 0;
        };

        let count = available.min(buffer.len());
        for (offset, slot) in buffer[..count].iter_mut().enumerate() {
            let index = self.in_cons.wrapping_add(offset as u32) as usize & (IN_SIZE - 1);
            // SAFETY: `index` is below IN_SIZE, and the page is mapped.
            *slot = unsafe { addr_of!((*page).input[index]).read_volatile() };
        }
        if count > 0 {
            // The release store keeps the data reads before the index that
            // lets the backend overwrite those bytes.
            self.in_cons = self.in_cons.wrapping_add(count as u32);
            self.publish_in_cons();
        }
        count
    }

    /// Returns the bytes in `out[]` that the backend has not consumed yet.
    /// When the backend's `out_cons` is out of range, drops that output by
    /// moving `out_prod` to `out_cons`, and returns 0.
    fn output_fill(&mut self) -> usize {
        let page = self.interface.as_ptr();
        // SAFETY: as in `new`.
        let out_cons =
            unsafe { AtomicU32::from_ptr(addr_of_mut!((*page).out_cons)).load(Ordering::Acquire) };
        match ring_fill(self.out_prod, out_cons, OUT_SIZE) {
            Some(fill) => fill,
            None => {
                self.resets += 1;
                self.out_prod = out_cons;
                self.publish_out_prod();
                0
            }
        }
    }

    fn publish_out_prod(&mut self) {
        let page = self.interface.as_ptr();
        // SAFETY: as in `new`.
        unsafe {
            AtomicU32::from_ptr(addr_of_mut!((*page).out_prod))
                .store(self.out_prod, Ordering::Release)
        };
    }

    fn publish_in_cons(&mut self) {
        let page = self.interface.as_ptr();
        // SAFETY: as in `new`.
        unsafe {
            AtomicU32::from_ptr(addr_of_mut!((*page).in_cons))
                .store(self.in_cons, Ordering::Release)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console page on the heap, with the backend's side driven by the test.
    struct Page(Box<XenconsInterface>);

    impl Page {
        fn new() -> Page {
            // SAFETY: the interface consists of integers and byte arrays, for
            // which all-zero bytes are valid.
            Page(Box::new(unsafe { core::mem::zeroed() }))
        }

        /// Returns a page whose indices all start at `start`.
        fn with_indices(start: u32) -> Page {
            let mut page = Page::new();
            page.0.in_cons = start;
            page.0.in_prod = start;
            page.0.out_cons = start;
            page.0.out_prod = start;
            page
        }

        fn attach(&mut self) -> ConsoleRing {
            // SAFETY: the box outlives the ring in every test, and the test
            // touches the page only between calls into the ring.
            unsafe { ConsoleRing::new(NonNull::from(&mut *self.0)) }
        }

        /// Consumes every byte of `out[]` the guest produced, as a backend does.
        fn drain_output(&mut self) -> Vec<u8> {
            let mut drained = Vec::new();
            while self.0.out_cons != self.0.out_prod {
                drained.push(self.0.output[self.0.out_cons as usize & (OUT_SIZE - 1)]);
                self.0.out_cons = self.0.out_cons.wrapping_add(1);
            }
            drained
        }

        /// Produces `bytes` into `in[]`, as a backend does.
        fn type_input(&mut self, bytes: &[u8]) {
            for &byte in bytes {
                self.0.input[self.0.in_prod as usize & (IN_SIZE - 1)] = byte;
                self.0.in_prod = self.0.in_prod.wrapping_add(1);
            }
        }
    }

    #[test]
    fn ring_fill_counts_bytes() {
        assert_eq!(ring_fill(0, 0, OUT_SIZE), Some(0));
        assert_eq!(ring_fill(10, 4, OUT_SIZE), Some(6));
        assert_eq!(ring_fill(OUT_SIZE as u32, 0, OUT_SIZE), Some(OUT_SIZE));
    }

    #[test]
    fn ring_fill_wraps_at_u32_max() {
        assert_eq!(ring_fill(2, u32::MAX - 1, IN_SIZE), Some(4));
        assert_eq!(ring_fill(0, u32::MAX, IN_SIZE), Some(1));
    }

    #[test]
    fn ring_fill_rejects_overfull_rings() {
        assert_eq!(ring_fill(OUT_SIZE as u32 + 1, 0, OUT_SIZE), None);
        // A consumer ahead of the producer wraps to a huge fill.
        assert_eq!(ring_fill(5, 6, IN_SIZE), None);
    }

    #[test]
    fn write_publishes_bytes_and_index() {
        let mut page = Page::new();
        let mut ring = page.attach();
        assert_eq!(ring.write(b"hello"), 5);
        assert_eq!(page.0.out_prod, 5);
        assert_eq!(page.drain_output(), b"hello");
    }

    #[test]
    fn write_stops_at_full_ring() {
        let mut page = Page::new();
        let mut ring = page.attach();
        let data: Vec<u8> = (0..OUT_SIZE + 100).map(|i| i as u8).collect();
        assert_eq!(ring.write(&data), OUT_SIZE);
        assert_eq!(ring.output_space(), 0);
        assert_eq!(ring.write(b"more"), 0);
        assert_eq!(page.0.out_prod, OUT_SIZE as u32);

        assert_eq!(page.drain_output(), &data[..OUT_SIZE]);
        assert_eq!(ring.output_space(), OUT_SIZE);
        assert_eq!(ring.write(&data[OUT_SIZE..]), 100);
        assert_eq!(page.drain_output(), &data[OUT_SIZE..]);
        assert_eq!(ring.resets(), 0);
    }

    #[test]
    fn write_fills_partly_drained_ring() {
        let mut page = Page::new();
        let mut ring = page.attach();
        assert_eq!(ring.write(&[b'a'; OUT_SIZE - 3]), OUT_SIZE - 3);
        assert_eq!(ring.write(b"12345"), 3);
        assert_eq!(page.drain_output().len(), OUT_SIZE);
    }

    #[test]
    fn write_wraps_indices_at_u32_max() {
        let mut page = Page::with_indices(u32::MAX - 2);
        let mut ring = page.attach();
        assert_eq!(ring.write(b"abcdef"), 6);
        assert_eq!(page.0.out_prod, 3);
        assert_eq!(page.drain_output(), b"abcdef");
        assert_eq!(ring.resets(), 0);
    }

    #[test]
    fn write_resets_on_hostile_out_cons() {
        let mut page = Page::new();
        let mut ring = page.attach();
        assert_eq!(ring.write(b"abc"), 3);
        // The backend claims to have consumed more than was produced.
        page.0.out_cons = 1000;
        assert_eq!(ring.write(b"xyz"), 3);
        assert_eq!(ring.resets(), 1);
        assert_eq!(page.0.out_prod, 1003);
        assert_eq!(page.drain_output(), b"xyz");
    }

    #[test]
    fn write_ignores_backend_writes_to_out_prod() {
        let mut page = Page::new();
        let mut ring = page.attach();
        assert_eq!(ring.write(b"ab"), 2);
        page.0.out_prod = 0x8000_0000;
        assert_eq!(ring.write(b"c"), 1);
        assert_eq!(page.0.out_prod, 3);
    }

    #[test]
    fn read_takes_typed_bytes() {
        let mut page = Page::new();
        let mut ring = page.attach();
        page.type_input(b"info\r");
        let mut buffer = [0u8; 16];
        assert_eq!(ring.read(&mut buffer), 5);
        assert_eq!(&buffer[..5], b"info\r");
        assert_eq!(page.0.in_cons, 5);
        assert_eq!(ring.read(&mut buffer), 0);
    }

    #[test]
    fn read_stops_at_buffer_length() {
        let mut page = Page::new();
        let mut ring = page.attach();
        page.type_input(b"abcdef");
        let mut buffer = [0u8; 4];
        assert_eq!(ring.read(&mut buffer), 4);
        assert_eq!(&buffer, b"abcd");
        assert_eq!(ring.read(&mut buffer), 2);
        assert_eq!(&buffer[..2], b"ef");
    }

    #[test]
    fn read_takes_a_full_ring() {
        let mut page = Page::new();
        let mut ring = page.attach();
        let data: Vec<u8> = (0..IN_SIZE).map(|i| (i * 7) as u8).collect();
        page.type_input(&data);
        let mut buffer = vec![0u8; IN_SIZE + 10];
        assert_eq!(ring.read(&mut buffer), IN_SIZE);
        assert_eq!(&buffer[..IN_SIZE], data.as_slice());
        assert_eq!(ring.resets(), 0);
    }

    #[test]
    fn read_wraps_indices_at_u32_max() {
        let mut page = Page::with_indices(u32::MAX - 1);
        let mut ring = page.attach();
        page.type_input(b"wxyz");
        let mut buffer = [0u8; 8];
        assert_eq!(ring.read(&mut buffer), 4);
        assert_eq!(&buffer[..4], b"wxyz");
        assert_eq!(page.0.in_cons, 2);
    }

    #[test]
    fn read_resets_on_hostile_in_prod() {
        let mut page = Page::new();
        let mut ring = page.attach();
        page.0.in_prod = IN_SIZE as u32 + 1;
        let mut buffer = [0u8; 8];
        assert_eq!(ring.read(&mut buffer), 0);
        assert_eq!(ring.resets(), 1);
        assert_eq!(page.0.in_cons, IN_SIZE as u32 + 1);

        // A backend that behaves again is served from the new position.
        page.type_input(b"ok");
        assert_eq!(ring.read(&mut buffer), 2);
        assert_eq!(&buffer[..2], b"ok");
        assert_eq!(ring.resets(), 1);
    }

    #[test]
    fn read_resets_on_in_prod_behind_in_cons() {
        let mut page = Page::with_indices(100);
        let mut ring = page.attach();
        page.0.in_prod = 99;
        let mut buffer = [0u8; 8];
        assert_eq!(ring.read(&mut buffer), 0);
        assert_eq!(ring.resets(), 1);
        assert_eq!(page.0.in_cons, 99);
    }

    #[test]
    fn attach_resets_hostile_starting_indices() {
        let mut page = Page::new();
        page.0.out_prod = 5000;
        let mut ring = page.attach();
        assert_eq!(ring.output_space(), OUT_SIZE);
        assert_eq!(ring.resets(), 1);
        assert_eq!(page.0.out_prod, 0);
    }
}
