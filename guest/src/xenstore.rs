//! The xenstore client of a DomU: the guest's end of the ring page that
//! `start_info.store_mfn` names, and blocking request calls on it.
//!
//! Dom0 writes `req_cons` and `rsp_prod` at any time and a broken or hostile
//! Dom0 may write anything there, so, as for the console ring, the guest
//! keeps `req_prod` and `rsp_cons` private and checks Dom0's indices against
//! them before every copy.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ptr::{NonNull, addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU32, Ordering};
use hypercalls::xenstore::{HEADER_SIZE, MessageHeader, PAYLOAD_MAX, RING_SIZE, XenstoreInterface};

/// Most watch events kept while no one takes them; older ones are dropped.
pub const MAX_QUEUED_EVENTS: usize = 64;

/// The guest's end of one ring page.
pub struct StoreRing {
    page: NonNull<XenstoreInterface>,
    req_prod: u32,
    rsp_cons: u32,
    /// Reply bytes received but not yet parsed into a message.
    partial: Vec<u8>,
    /// Number of times Dom0's indices were out of range.
    resets: u32,
}

// SAFETY: the ring refers to a page that `new`'s caller guarantees stays
// mapped, so moving the value to another thread moves only the pointer.
unsafe impl Send for StoreRing {}

#[derive(Clone, Copy)]
enum Index {
    ReqCons,
    ReqProd,
    RspCons,
    RspProd,
}

impl StoreRing {
    /// Attaches to the ring page at `page`, taking the guest's indices from
    /// the page as the builder left them.
    ///
    /// # Safety
    ///
    /// `page` must point to a ring page that stays mapped and writable for
    /// the life of the returned value, used only by it and Dom0.
    pub unsafe fn new(page: NonNull<XenstoreInterface>) -> StoreRing {
        let mut ring = StoreRing { page, req_prod: 0, rsp_cons: 0, partial: Vec::new(), resets: 0 };
        ring.req_prod = ring.load(Index::ReqProd);
        ring.rsp_cons = ring.load(Index::RspCons);
        ring
    }

    fn index(&self, which: Index) -> *mut u32 {
        let page = self.page.as_ptr();
        // SAFETY: `new`'s caller guarantees the page is mapped; this only
        // computes the address of a field.
        unsafe {
            match which {
                Index::ReqCons => addr_of_mut!((*page).req_cons),
                Index::ReqProd => addr_of_mut!((*page).req_prod),
                Index::RspCons => addr_of_mut!((*page).rsp_cons),
                Index::RspProd => addr_of_mut!((*page).rsp_prod),
            }
        }
    }

    fn load(&self, which: Index) -> u32 {
        // SAFETY: the field is an aligned u32 of the mapped page.
        unsafe { AtomicU32::from_ptr(self.index(which)).load(Ordering::Acquire) }
    }

    fn publish(&self, which: Index, value: u32) {
        // SAFETY: as in `load`, and the page is writable.
        unsafe { AtomicU32::from_ptr(self.index(which)).store(value, Ordering::Release) }
    }

    /// Returns how often Dom0's indices were out of range.
    pub fn resets(&self) -> u32 {
        self.resets
    }

    /// Copies as much of `bytes` into `req[]` as fits and publishes the new
    /// `req_prod`. Returns the number of bytes written.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let req_cons = self.load(Index::ReqCons);
        let fill = self.req_prod.wrapping_sub(req_cons) as usize;
        if fill > RING_SIZE {
            // Dom0 moved its index out of range: start again from it.
            self.resets += 1;
            self.req_prod = req_cons;
            self.publish(Index::ReqProd, self.req_prod);
            return 0;
        }
        let count = bytes.len().min(RING_SIZE - fill);
        let page = self.page.as_ptr();
        for (offset, &byte) in bytes[..count].iter().enumerate() {
            let index = self.req_prod.wrapping_add(offset as u32) as usize & (RING_SIZE - 1);
            // SAFETY: `index` is below RING_SIZE and the page is mapped writable.
            unsafe { addr_of_mut!((*page).req[index]).write_volatile(byte) };
        }
        self.req_prod = self.req_prod.wrapping_add(count as u32);
        self.publish(Index::ReqProd, self.req_prod);
        count
    }

    /// Moves reply bytes out of `rsp[]` and returns the next complete
    /// message, if one has arrived. A message that announces more than
    /// [`PAYLOAD_MAX`] bytes makes the ring drop what it holds.
    pub fn receive(&mut self) -> Option<(MessageHeader, Vec<u8>)> {
        let rsp_prod = self.load(Index::RspProd);
        let fill = rsp_prod.wrapping_sub(self.rsp_cons) as usize;
        if fill > RING_SIZE {
            self.resets += 1;
            self.rsp_cons = rsp_prod;
            self.partial.clear();
            self.publish(Index::RspCons, self.rsp_cons);
            return None;
        }
        let page = self.page.as_ptr();
        for offset in 0..fill as u32 {
            let index = self.rsp_cons.wrapping_add(offset) as usize & (RING_SIZE - 1);
            // SAFETY: `index` is below RING_SIZE and the page is mapped.
            self.partial.push(unsafe { addr_of!((*page).rsp[index]).read_volatile() });
        }
        if fill > 0 {
            self.rsp_cons = rsp_prod;
            self.publish(Index::RspCons, self.rsp_cons);
        }
        self.take_message()
    }

    fn take_message(&mut self) -> Option<(MessageHeader, Vec<u8>)> {
        let header_bytes: &[u8; HEADER_SIZE] = self.partial.get(..HEADER_SIZE)?.try_into().ok()?;
        let header = MessageHeader::from_bytes(header_bytes);
        let length = header.len as usize;
        if length > PAYLOAD_MAX {
            self.resets += 1;
            self.partial.clear();
            return None;
        }
        if self.partial.len() < HEADER_SIZE + length {
            return None;
        }
        let payload = self.partial[HEADER_SIZE..HEADER_SIZE + length].to_vec();
        self.partial.drain(..HEADER_SIZE + length);
        Some((header, payload))
    }
}

/// Watch events received while waiting for replies, oldest first.
#[derive(Default)]
pub struct EventQueue {
    events: VecDeque<Vec<u8>>,
    pub dropped: u64,
}

impl EventQueue {
    /// Keeps the payload of one `XS_WATCH_EVENT`, dropping the oldest when full.
    pub fn push(&mut self, payload: Vec<u8>) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(payload);
    }

    /// Returns the oldest event as (path, token).
    pub fn pop(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let payload = self.events.pop_front()?;
        let mut parts = payload.split(|&byte| byte == 0);
        let path = parts.next().unwrap_or_default().to_vec();
        let token = parts.next().unwrap_or_default().to_vec();
        Some((path, token))
    }
}

#[cfg(target_os = "none")]
pub use frontend::{attach, is_attached, request, take_event};

#[cfg(target_os = "none")]
mod frontend {
    use super::{EventQueue, StoreRing};
    use crate::hypercall;
    use crate::ring_console::{LocateError, check_p2m_range, page_address_of_mfn};
    use alloc::vec::Vec;
    use core::ptr::NonNull;
    use hypercalls::xenstore::{MessageHeader, PAYLOAD_MAX, StoreError, XenstoreInterface, message};
    use spin::Mutex;

    const EVTCHNOP_SEND: u64 = 4;
    /// Nanoseconds a request waits for its reply before failing with EIO.
    const REPLY_TIMEOUT_NS: u64 = 10_000_000_000;

    struct Frontend {
        ring: StoreRing,
        port: u32,
        next_request: u32,
        events: EventQueue,
    }

    static FRONTEND: Mutex<Option<Frontend>> = Mutex::new(None);

    /// Attaches to the ring that `start_info` names. Returns `Ok(false)`
    /// when `store_mfn` is 0, so the domain has no xenstore.
    pub fn attach() -> Result<bool, LocateError> {
        let info = crate::start_info();
        if info.store_mfn == 0 {
            return Ok(false);
        }
        let virt_base = crate::virt_base();
        check_p2m_range(virt_base, info.nr_pages, info.mfn_list)?;
        // SAFETY: the range check keeps the array inside the domain's
        // memory, mapped readable at virt_base, and aligned.
        let p2m = unsafe { core::slice::from_raw_parts(info.mfn_list as *const u64, info.nr_pages as usize) };
        let address = page_address_of_mfn(p2m, virt_base, info.store_mfn)?;
        let page = NonNull::new(address as *mut XenstoreInterface).ok_or(LocateError::MfnNotInP2m { mfn: info.store_mfn })?;
        // SAFETY: the page is one of the domain's own pages, mapped writable
        // for its life, and the builder reserved it for the xenstore ring.
        let ring = unsafe { StoreRing::new(page) };
        *FRONTEND.lock() = Some(Frontend { ring, port: info.store_evtchn, next_request: 1, events: EventQueue::default() });
        Ok(true)
    }

    /// Returns whether [`attach`] found a ring.
    pub fn is_attached() -> bool {
        FRONTEND.lock().is_some()
    }

    fn notify(port: u32) {
        let mut request = [port];
        let _ = hypercall::event_channel_op(EVTCHNOP_SEND, request.as_mut_ptr().cast());
    }

    /// Sends one request and waits for its reply. Returns the reply's
    /// payload, or the error Dom0 sent. Watch events that arrive meanwhile
    /// are kept for [`take_event`].
    pub fn request(kind: u32, tx_id: u32, payload: &[u8]) -> Result<Vec<u8>, StoreError> {
        if payload.len() > PAYLOAD_MAX {
            return Err(StoreError::TooBig);
        }
        let (req_id, port) = {
            let mut guard = FRONTEND.lock();
            let frontend = guard.as_mut().ok_or(StoreError::NoEnt)?;
            let req_id = frontend.next_request;
            frontend.next_request = req_id.wrapping_add(1);
            (req_id, frontend.port)
        };
        let header = MessageHeader { kind, req_id, tx_id, len: payload.len() as u32 };
        let mut bytes = Vec::from(header.to_bytes());
        bytes.extend_from_slice(payload);

        let deadline = crate::time::system_time_ns().unwrap_or(0) + REPLY_TIMEOUT_NS;
        let mut sent = 0;
        crate::wait::block_until(|| {
            let mut guard = FRONTEND.lock();
            let frontend = guard.as_mut()?;
            if sent < bytes.len() {
                sent += frontend.ring.write(&bytes[sent..]);
                notify(port);
            }
            while let Some((reply, body)) = frontend.ring.receive() {
                notify(port);
                if reply.kind == message::WATCH_EVENT {
                    frontend.events.push(body);
                } else if reply.req_id == req_id {
                    return Some(if reply.kind == message::ERROR {
                        Err(StoreError::from_name(&body).unwrap_or(StoreError::Io))
                    } else {
                        Ok(body)
                    });
                }
            }
            let now = crate::time::system_time_ns().unwrap_or(u64::MAX);
            (now > deadline).then_some(Err(StoreError::Io))
        })
    }

    /// Returns the oldest watch event as (path, token), reading the ring first.
    pub fn take_event() -> Option<(Vec<u8>, Vec<u8>)> {
        let mut guard = FRONTEND.lock();
        let frontend = guard.as_mut()?;
        while let Some((reply, body)) = frontend.ring.receive() {
            notify(frontend.port);
            if reply.kind == message::WATCH_EVENT {
                frontend.events.push(body);
            }
        }
        frontend.events.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    struct Page(Box<XenstoreInterface>);

    impl Page {
        fn new() -> (Page, StoreRing) {
            // SAFETY: the interface consists of integers and byte arrays.
            let mut page = Page(Box::new(unsafe { core::mem::zeroed() }));
            // SAFETY: the box outlives the ring in every test.
            let ring = unsafe { StoreRing::new(NonNull::from(&mut *page.0)) };
            (page, ring)
        }

        /// Produces a reply into `rsp[]` as Dom0 does.
        fn reply(&mut self, kind: u32, req_id: u32, body: &[u8]) {
            let mut bytes = MessageHeader { kind, req_id, tx_id: 0, len: body.len() as u32 }.to_bytes().to_vec();
            bytes.extend_from_slice(body);
            for byte in bytes {
                self.0.rsp[self.0.rsp_prod as usize & (RING_SIZE - 1)] = byte;
                self.0.rsp_prod = self.0.rsp_prod.wrapping_add(1);
            }
        }
    }

    #[test]
    fn write_stops_when_ring_full() {
        let (page, mut ring) = Page::new();
        assert_eq!(ring.write(&[1; 1000]), 1000);
        assert_eq!(ring.write(&[2; 100]), 24);
        assert_eq!(page.0.req_prod, 1024);
    }

    #[test]
    fn receive_assembles_messages() {
        let (mut page, mut ring) = Page::new();
        page.reply(2, 7, b"guest1");
        page.reply(15, 0, b"data\0t\0");
        let (header, body) = ring.receive().expect("first reply");
        assert_eq!((header.req_id, body.as_slice()), (7, &b"guest1"[..]));
        let (header, body) = ring.receive().expect("event");
        assert_eq!((header.kind, body.as_slice()), (15, &b"data\0t\0"[..]));
        assert_eq!(ring.receive(), None);
        assert_eq!(page.0.rsp_cons, page.0.rsp_prod);
    }

    #[test]
    fn hostile_rsp_prod_resets() {
        let (mut page, mut ring) = Page::new();
        page.0.rsp_prod = 99_999;
        assert_eq!(ring.receive(), None);
        assert_eq!(ring.resets(), 1);
        assert_eq!(page.0.rsp_cons, 99_999);
        page.reply(2, 1, b"ok");
        assert_eq!(ring.receive().map(|(_, body)| body), Some(b"ok".to_vec()));
    }

    #[test]
    fn hostile_length_drops_buffer() {
        let (mut page, mut ring) = Page::new();
        let bogus = MessageHeader { kind: 2, req_id: 1, tx_id: 0, len: u32::MAX }.to_bytes();
        for byte in bogus {
            page.0.rsp[page.0.rsp_prod as usize] = byte;
            page.0.rsp_prod += 1;
        }
        assert_eq!(ring.receive(), None);
        assert_eq!(ring.resets(), 1);
        page.reply(2, 2, b"next");
        assert_eq!(ring.receive().map(|(header, _)| header.req_id), Some(2));
    }

    #[test]
    fn hostile_req_cons_resets() {
        let (mut page, mut ring) = Page::new();
        page.0.req_cons = 50_000;
        assert_eq!(ring.write(b"abc"), 0);
        assert_eq!(ring.resets(), 1);
        assert_eq!(ring.write(b"abc"), 3);
    }

    #[test]
    fn event_queue_drops_oldest() {
        let mut queue = EventQueue::default();
        for index in 0..MAX_QUEUED_EVENTS + 3 {
            queue.push(alloc::format!("p{index}\0t\0").into_bytes());
        }
        assert_eq!(queue.dropped, 3);
        assert_eq!(queue.pop(), Some((b"p3".to_vec(), b"t".to_vec())));
    }
}
