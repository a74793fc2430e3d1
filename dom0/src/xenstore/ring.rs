//! Dom0's end of a DomU's xenstore ring page: moves requests from `req[]`
//! into the store and replies and watch events from the store into `rsp[]`.
//!
//! The DomU writes `req_prod` and `rsp_cons` at any time and may write
//! anything there, so Dom0 keeps `req_cons` and `rsp_prod` private (the page
//! gets copies it never reads back) and checks the DomU's indices against
//! them before every copy.

use super::{MessageReader, OversizedMessage, Store};
use alloc::vec::Vec;
use core::ptr::{NonNull, addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU32, Ordering};
use hypercalls::xenstore::{CONNECTED, RING_SIZE, StoreError, XenstoreInterface};

/// The outcome of one call of [`StoreRing::service`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServiceReport {
    /// Bytes consumed from `req[]` or produced into `rsp[]`, so the DomU
    /// should be notified.
    pub moved: bool,
    /// The DomU's `req_prod` claimed more than the ring holds, so the
    /// pending requests were dropped.
    pub request_reset: bool,
    /// The DomU's `rsp_cons` was out of range, so no reply was written.
    pub response_stalled: bool,
}

/// Dom0's end of one ring page.
pub struct StoreRing {
    page: NonNull<XenstoreInterface>,
    req_cons: u32,
    rsp_prod: u32,
    reader: MessageReader,
}

// SAFETY: the ring refers to a page that `new`'s caller guarantees stays
// mapped, so moving the value to another thread moves only the pointer.
unsafe impl Send for StoreRing {}

fn load(pointer: *mut u32) -> u32 {
    // SAFETY: callers pass aligned fields of the mapped page.
    unsafe { AtomicU32::from_ptr(pointer).load(Ordering::Acquire) }
}

fn store_index(pointer: *mut u32, value: u32) {
    // SAFETY: as in `load`.
    unsafe { AtomicU32::from_ptr(pointer).store(value, Ordering::Release) }
}

/// The four indices of the page.
#[derive(Clone, Copy)]
enum Index {
    ReqCons,
    ReqProd,
    RspCons,
    RspProd,
}

impl StoreRing {
    /// Returns the address of one index in the page.
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

    /// Resets the page to an empty, connected ring and takes Dom0's end.
    ///
    /// # Safety
    ///
    /// `page` must point to a ring page that stays mapped and writable for
    /// the life of the returned value, used only by it and the DomU.
    pub unsafe fn new(page: NonNull<XenstoreInterface>) -> StoreRing {
        let interface = page.as_ptr();
        // SAFETY: the caller guarantees the page is mapped and writable.
        unsafe {
            core::ptr::write_bytes(interface.cast::<u8>(), 0, size_of::<XenstoreInterface>());
            addr_of_mut!((*interface).connection).write_volatile(CONNECTED);
        }
        StoreRing { page, req_cons: 0, rsp_prod: 0, reader: MessageReader::default() }
    }

    /// Reads the complete requests of `domid` into `store`, then writes as
    /// much queued output as fits into `rsp[]`.
    pub fn service(&mut self, domid: u16, store: &mut Store) -> ServiceReport {
        let mut report = ServiceReport::default();
        if store.accepts_requests(domid) {
            let req_prod = load(self.index(Index::ReqProd));
            self.read_requests(domid, store, req_prod, &mut report);
        }
        self.write_output(domid, store, &mut report);
        report
    }

    fn read_requests(&mut self, domid: u16, store: &mut Store, req_prod: u32, report: &mut ServiceReport) {
        let page = self.page.as_ptr();
        let available = req_prod.wrapping_sub(self.req_cons) as usize;
        if available > RING_SIZE {
            self.req_cons = req_prod;
            self.reader.reset();
            report.request_reset = true;
            report.moved = true;
            store_index(self.index(Index::ReqCons), self.req_cons);
            return;
        }
        if available == 0 {
            return;
        }
        let mut bytes = Vec::with_capacity(available);
        for offset in 0..available as u32 {
            let index = self.req_cons.wrapping_add(offset) as usize & (RING_SIZE - 1);
            // SAFETY: `index` is below RING_SIZE and the page is mapped.
            bytes.push(unsafe { addr_of!((*page).req[index]).read_volatile() });
        }
        self.req_cons = req_prod;
        store_index(self.index(Index::ReqCons), self.req_cons);
        report.moved = true;

        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (used, result) = self.reader.feed(rest);
            rest = &rest[used..];
            match result {
                Ok(Some(message)) => store.handle(domid, message.header, &message.payload),
                Ok(None) => {}
                Err(OversizedMessage { header }) => {
                    // The payload that follows cannot be distinguished from the
                    // next header, so the rest of this batch goes too.
                    store.queue_error(domid, header, StoreError::TooBig);
                    report.request_reset = true;
                    return;
                }
            }
        }
    }

    fn write_output(&mut self, domid: u16, store: &mut Store, report: &mut ServiceReport) {
        let page = self.page.as_ptr();
        let rsp_cons = load(self.index(Index::RspCons));
        let fill = self.rsp_prod.wrapping_sub(rsp_cons) as usize;
        if fill > RING_SIZE {
            report.response_stalled = true;
            return;
        }
        let bytes = store.take_output(domid, RING_SIZE - fill);
        if bytes.is_empty() {
            return;
        }
        for (offset, &byte) in bytes.iter().enumerate() {
            let index = self.rsp_prod.wrapping_add(offset as u32) as usize & (RING_SIZE - 1);
            // SAFETY: `index` is below RING_SIZE and the page is mapped writable.
            unsafe { addr_of_mut!((*page).rsp[index]).write_volatile(byte) };
        }
        self.rsp_prod = self.rsp_prod.wrapping_add(bytes.len() as u32);
        store_index(self.index(Index::RspProd), self.rsp_prod);
        report.moved = true;
    }
}
