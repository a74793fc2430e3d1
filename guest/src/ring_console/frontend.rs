//! The one console ring of this domain, driven from ring 1.

use super::ring::ConsoleRing;
use super::{LocateError, check_p2m_range, page_address_of_mfn};
use crate::hypercall;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use hypercalls::console::XenconsInterface;
use spin::Mutex;

/// `EVTCHNOP_send`: raise the remote end of an interdomain channel.
const EVTCHNOP_SEND: u64 = 4;

struct Frontend {
    ring: ConsoleRing,
    port: u32,
}

static FRONTEND: Mutex<Option<Frontend>> = Mutex::new(None);
/// Set after the first failed notification, so that only the first is logged.
static NOTIFY_FAILED: AtomicBool = AtomicBool::new(false);
/// Set after the first index reset, so that only the first is logged.
static RESET_LOGGED: AtomicBool = AtomicBool::new(false);

/// Attaches to the console ring that `start_info` names. Returns `Ok(false)`
/// when `console_mfn` is 0, so the domain has no ring and must use
/// `console_io`. Attaching again replaces the previous ring.
pub fn attach() -> Result<bool, LocateError> {
    let info = crate::start_info();
    if info.console_mfn == 0 {
        return Ok(false);
    }

    let virt_base = crate::virt_base();
    check_p2m_range(virt_base, info.nr_pages, info.mfn_list)?;
    // SAFETY: the range check above keeps the array inside the domain's
    // memory, which the builder mapped readable at virt_base, and aligned.
    // Nothing in this kernel writes the P2M array.
    let p2m =
        unsafe { core::slice::from_raw_parts(info.mfn_list as *const u64, info.nr_pages as usize) };
    let address = page_address_of_mfn(p2m, virt_base, info.console_mfn)?;

    let interface =
        NonNull::new(address as *mut XenconsInterface).ok_or(LocateError::MfnNotInP2m {
            mfn: info.console_mfn,
        })?;
    // SAFETY: the page is one of the domain's own pages, mapped writable for
    // the domain's life. The builder reserved it for the console, so only
    // this frontend and the backend use it.
    let ring = unsafe { ConsoleRing::new(interface) };
    *FRONTEND.lock() = Some(Frontend {
        ring,
        port: info.console_evtchn,
    });
    Ok(true)
}

/// Returns whether [`attach`] found a console ring.
pub fn is_attached() -> bool {
    FRONTEND.lock().is_some()
}

/// Returns true when a ring is attached and free to use now: false before
/// [`attach`], and false while the ring is in use by interrupted code (a
/// fault inside a console write), so a fault report never waits on itself.
pub fn is_usable() -> bool {
    FRONTEND.try_lock().is_some_and(|frontend| frontend.is_some())
}

/// Returns the console's event channel port, once attached.
pub fn port() -> Option<u32> {
    FRONTEND.lock().as_ref().map(|frontend| frontend.port)
}

/// Returns how often the backend's indices were out of range, so that the
/// frontend dropped ring contents to start again from the backend's index.
pub fn resets() -> u32 {
    FRONTEND
        .lock()
        .as_ref()
        .map_or(0, |frontend| frontend.ring.resets())
}

/// Writes bytes to the console ring, turning `\n` into `\r\n` for the
/// terminal. Waits while the ring is full, as [`write_raw`] describes.
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

/// Writes bytes to the console ring unchanged and notifies the backend.
///
/// While the ring is full, the guest notifies the backend and yields the
/// CPU until the backend has consumed output. Yielding, unlike blocking,
/// does not depend on the backend sending an event after it consumes, but
/// a backend that never consumes keeps this function waiting. Does nothing
/// before [`attach`] has found a ring.
pub fn write_raw(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let (written, port, resets) = {
            let mut guard = FRONTEND.lock();
            let Some(frontend) = guard.as_mut() else {
                return;
            };
            (
                frontend.ring.write(bytes),
                frontend.port,
                frontend.ring.resets(),
            )
        };
        log_first_reset(resets);
        notify(port);
        bytes = &bytes[written..];
        if !bytes.is_empty() {
            hypercall::yield_now();
        }
    }
}

/// Reads console input into `buffer` and returns the number of bytes read,
/// 0 when there is none or before [`attach`] has found a ring. Notifies the
/// backend when it freed space in the ring.
pub fn read(buffer: &mut [u8]) -> usize {
    let (count, port, resets) = {
        let mut guard = FRONTEND.lock();
        let Some(frontend) = guard.as_mut() else {
            return 0;
        };
        (
            frontend.ring.read(buffer),
            frontend.port,
            frontend.ring.resets(),
        )
    };
    log_first_reset(resets);
    if count > 0 {
        notify(port);
    }
    count
}

/// Raises the backend's end of the console channel.
fn notify(port: u32) {
    let mut request = [port];
    if let Err(errno) = hypercall::event_channel_op(EVTCHNOP_SEND, request.as_mut_ptr().cast())
        && !NOTIFY_FAILED.swap(true, Ordering::Relaxed)
    {
        crate::println!(
            "guest console: EVTCHNOP_send on port {port} failed: {errno}; later failures are not logged"
        );
    }
}

/// Logs through `console_io` the first time the backend's indices were out
/// of range. The ring itself is no place to report a broken backend.
fn log_first_reset(resets: u32) {
    if resets > 0 && !RESET_LOGGED.swap(true, Ordering::Relaxed) {
        crate::println!(
            "guest console: the backend moved the ring indices out of range; dropped the ring contents"
        );
    }
}
