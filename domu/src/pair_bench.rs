//! The `bench=pair` benchmarks, timed against a `bench=peer` domain (see
//! `domu::bench_peer`): an event-channel round trip, a grant copy of one
//! page, and a grant map plus unmap of one page.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use domu::bench_peer::{self, REQUEST};
use domu::grant_commands::{checksum, pattern_byte};
use guest::bench::measure;
use guest::ping::{CONNECT_TIMEOUT_NS, Rendezvous};
use hypercalls::grant::{CopyPointer, GNTCOPY_SOURCE_GREF, GNTMAP_HOST_MAP, GNTST_OKAY, GrantCopy, GrantHandle, GrantRef, status_name};
use hypercalls::xenstore::message;
use hypercalls::{DOMID_SELF, DomId};

use crate::grant_pages::machine_frame;
use crate::platform::StoreRendezvous;

const PAGE_SIZE: usize = 4096;

#[repr(C, align(4096))]
struct Page([u8; PAGE_SIZE]);

/// Destination of the grant copies.
static mut DEST: Page = Page([0; PAGE_SIZE]);
/// The page whose address maps the peer's grant. Its own frame is mapped
/// back afterwards.
static mut WINDOW: Page = Page([0; PAGE_SIZE]);

/// Present, writable, accessed, dirty.
const WRITABLE_PTE: u64 = 0x63;

/// Time the pinger spins before the ping-pong, two ticks of the
/// hypervisor's 100 Hz timer. A tick that lands while it spins ends the
/// boost its earlier blocking xenstore requests gave it, which would let it
/// win the CPU from the woken peer.
const SETTLE_NS: u64 = 20_000_000;

/// Runs the three benchmarks from domain `own` against `peer`, `rounds`
/// rounds each, and passes their result lines to `emit`.
pub fn run(own: DomId, peer: DomId, rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), String> {
    pingpong(own, peer, rounds, emit)?;
    let node = format!("{}/{own}", bench_peer::directory(peer));
    let gref = request_grant(peer, &node)?;
    let result = grant_copy(peer, gref, rounds, emit).and_then(|()| grant_map_unmap(peer, gref, rounds, emit));
    StoreRendezvous.remove(&node);
    result
}

/// Times round trips over an event channel to `peer`'s ping responder:
/// send, then wait for the reply's upcall (see `guest::ping::round_trip`).
fn pingpong(own: DomId, peer: DomId, rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), String> {
    let mut rendezvous = StoreRendezvous;
    let channel = guest::ping::open(own, peer, &mut rendezvous)?;
    guest::events::take(channel.port);
    let settled = now_ns().saturating_add(SETTLE_NS);
    while now_ns() < settled {
        core::hint::spin_loop();
    }
    let port = channel.port;
    let result = measure("evtchn-pingpong", rounds, 1, emit, &mut || guest::ping::round_trip(port));
    guest::ping::close(channel, &mut rendezvous);
    result
}

fn now_ns() -> u64 {
    guest::time::system_time_ns().unwrap_or(0)
}

/// Writes the grant request at `node` and waits for `peer` to reply with a
/// grant reference. The peer sets up its directory after it boots, so
/// early writes may fail and are retried until [`CONNECT_TIMEOUT_NS`].
fn request_grant(peer: DomId, node: &str) -> Result<GrantRef, String> {
    let deadline = now_ns().saturating_add(CONNECT_TIMEOUT_NS);
    let seconds = CONNECT_TIMEOUT_NS / 1_000_000_000;
    while let Err(error) = StoreRendezvous.write(node, REQUEST) {
        if now_ns() > deadline {
            return Err(format!("cannot write {node} for {seconds} s: {error}; is domain {peer} a bench=peer domain?"));
        }
        guest::hypercall::yield_now();
    }
    let mut path = Vec::from(node.as_bytes());
    path.push(0);
    loop {
        if let Ok(value) = guest::xenstore::request(message::READ, 0, &path)
            && let Some(gref) = bench_peer::parse_reference(&value)
        {
            return Ok(gref);
        }
        if now_ns() > deadline {
            return Err(format!("domain {peer} did not reply to the grant request at {node} within {seconds} s"));
        }
        guest::hypercall::yield_now();
    }
}

/// Returns the checksum of the page that a peer offers as `gref`.
fn expected_checksum(gref: GrantRef) -> u32 {
    checksum((0..PAGE_SIZE).map(|index| pattern_byte(gref, index)))
}

/// Returns the checksum of the page at `address`.
fn page_checksum(address: u64) -> u32 {
    let bytes = address as *const u8;
    // SAFETY: callers pass DEST or WINDOW while a frame is mapped there; the
    // reads are volatile because a peer may write a granted page.
    checksum((0..PAGE_SIZE).map(|index| unsafe { bytes.add(index).read_volatile() }))
}

/// Times `GNTTABOP_copy` of 4096 bytes from `peer`'s grant `gref` into
/// [`DEST`], then checks that DEST contains the peer's pattern.
fn grant_copy(peer: DomId, gref: GrantRef, rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), String> {
    let dest = &raw mut DEST;
    // SAFETY: DEST is this image's page and only this function touches it.
    unsafe { (*dest).0.fill(0) };
    let op = GrantCopy {
        source: CopyPointer { reference_or_frame: u64::from(gref), domid: peer, ..Default::default() },
        dest: CopyPointer { reference_or_frame: machine_frame(dest as u64), domid: DOMID_SELF, ..Default::default() },
        len: PAGE_SIZE as u16,
        flags: GNTCOPY_SOURCE_GREF,
        ..Default::default()
    };
    measure("grant-copy-4k", rounds, 1, emit, &mut || copy(op))?;
    let (copied, expected) = (page_checksum(dest as u64), expected_checksum(gref));
    if copied != expected {
        return Err(format!("the page copied from gref {gref} of domain {peer} has checksum {copied:#010x}, expected {expected:#010x}"));
    }
    Ok(())
}

fn copy(op: GrantCopy) -> Result<(), String> {
    let done = guest::grant::copy(op).map_err(|errno| format!("grant_table_op(copy) failed: {errno}"))?;
    if done.status != GNTST_OKAY {
        return Err(format!("copy of gref {} failed: status {} ({})", op.source.reference_or_frame, done.status, status_name(done.status)));
    }
    Ok(())
}

/// Times `GNTTABOP_map_grant_ref` of `peer`'s grant `gref` at [`WINDOW`]
/// followed by `GNTTABOP_unmap_grant_ref`. A first, untimed mapping checks
/// that the window then shows the peer's pattern. Afterwards the window's
/// own frame is mapped back.
fn grant_map_unmap(peer: DomId, gref: GrantRef, rounds: u32, emit: &mut dyn FnMut(&str)) -> Result<(), String> {
    let window = (&raw const WINDOW) as u64;
    let handle = map(window, peer, gref)?;
    let mapped = page_checksum(window);
    let result = unmap(window, handle).and_then(|()| {
        let expected = expected_checksum(gref);
        if mapped != expected {
            return Err(format!("the mapping of gref {gref} of domain {peer} has checksum {mapped:#010x}, expected {expected:#010x}"));
        }
        measure("grant-map-unmap", rounds, 1, emit, &mut || unmap(window, map(window, peer, gref)?))
    });
    guest::hypercall::update_va_mapping(window, machine_frame(window) << 12 | WRITABLE_PTE)
        .map_err(|errno| format!("mapping the window's own frame back failed: {errno}"))?;
    result
}

fn map(window: u64, peer: DomId, gref: GrantRef) -> Result<GrantHandle, String> {
    let op = guest::grant::map(window, GNTMAP_HOST_MAP, gref, peer)
        .map_err(|errno| format!("grant_table_op(map_grant_ref) failed: {errno}"))?;
    if op.status != GNTST_OKAY {
        return Err(format!("map of gref {gref} of domain {peer} failed: status {} ({})", op.status, status_name(op.status)));
    }
    Ok(op.handle)
}

fn unmap(window: u64, handle: GrantHandle) -> Result<(), String> {
    let op = guest::grant::unmap(window, handle).map_err(|errno| format!("grant_table_op(unmap_grant_ref) failed: {errno}"))?;
    if op.status != GNTST_OKAY {
        return Err(format!("unmap of handle {handle} failed: status {} ({})", op.status, status_name(op.status)));
    }
    Ok(())
}
