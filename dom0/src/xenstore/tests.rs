use super::*;
use hypercalls::xenstore::{HEADER_SIZE, message};

/// Sends one request from `domid` and returns every message queued for it.
fn request(store: &mut Store, domid: u16, kind: u32, tx_id: u32, payload: &[u8]) -> Vec<Message> {
    store.handle(domid, MessageHeader { kind, req_id: 77, tx_id, len: payload.len() as u32 }, payload);
    drain(store, domid)
}

/// Parses every message queued for `domid`.
fn drain(store: &mut Store, domid: u16) -> Vec<Message> {
    let bytes = store.take_output(domid, usize::MAX);
    let mut reader = MessageReader::default();
    let mut messages = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (used, result) = reader.feed(rest);
        rest = &rest[used..];
        if let Some(message) = result.expect("the store sends valid lengths") {
            messages.push(message);
        }
    }
    assert!(!reader.is_partial(), "output ends inside a message");
    messages
}

/// Sends one request and returns its reply as (type, payload).
fn reply(store: &mut Store, domid: u16, kind: u32, tx_id: u32, payload: &[u8]) -> (u32, Vec<u8>) {
    let messages = request(store, domid, kind, tx_id, payload);
    let first = messages.first().expect("a reply");
    assert_eq!(first.header.req_id, 77, "reply echoes req_id");
    (first.header.kind, first.payload.clone())
}

fn error(name: &str) -> (u32, Vec<u8>) {
    (message::ERROR, format!("{name}\0").into_bytes())
}

fn ok(kind: u32) -> (u32, Vec<u8>) {
    (kind, b"OK\0".to_vec())
}

/// Creates a store with domains 1 and 2 set up the way `xl create` does.
fn two_domains() -> Store {
    let mut store = Store::new();
    for domid in [1u16, 2] {
        let home = domain_home(domid);
        store.mkdir(0, &home).unwrap();
        let mut permissions = Permissions::owned_by(0, Access::None);
        permissions.grant(domid, Access::Read);
        store.set_permissions(0, &home, permissions).unwrap();
        store.write(0, &format!("{home}/name"), format!("guest{domid}").as_bytes()).unwrap();
        store.mkdir(0, &format!("{home}/data")).unwrap();
        store.set_permissions(0, &format!("{home}/data"), Permissions::owned_by(domid, Access::None)).unwrap();
        store.introduce(domid);
    }
    store
}

#[test]
fn canonical_paths() {
    assert_eq!(canonical(3, b"/local/domain/3/a").unwrap(), "/local/domain/3/a");
    assert_eq!(canonical(3, b"data/x").unwrap(), "/local/domain/3/data/x");
    assert_eq!(canonical(0, b"/").unwrap(), "/");
    for bad in [&b""[..], b"/a/", b"/a//b", b"/a b", b"/a\xff", b"/a.b"] {
        assert_eq!(canonical(3, bad), Err(StoreError::Inval), "{bad:?}");
    }
    let long = vec![b'a'; ABS_PATH_MAX];
    let mut absolute = vec![b'/'];
    absolute.extend_from_slice(&long);
    assert_eq!(canonical(3, &absolute), Err(StoreError::TooBig));
    assert_eq!(canonical(3, &long[..REL_PATH_MAX + 1]), Err(StoreError::TooBig));
}

use hypercalls::xenstore::{ABS_PATH_MAX, REL_PATH_MAX};

#[test]
fn write_read_directory_rm() {
    let mut store = Store::new();
    store.write(0, "/a/b/c", b"value").unwrap();
    assert_eq!(store.read(0, "/a/b/c").unwrap(), b"value");
    assert_eq!(store.read(0, "/a/b").unwrap(), b"");
    assert_eq!(store.directory(0, "/a").unwrap(), ["b"]);
    assert_eq!(store.directory(0, "/").unwrap(), ["a", "local", "tool", "vm"]);
    store.remove(0, "/a/b").unwrap();
    assert_eq!(store.read(0, "/a/b/c"), Err(StoreError::NoEnt));
    assert!(store.directory(0, "/a").unwrap().is_empty());
    assert_eq!(store.remove(0, "/"), Err(StoreError::Inval));
    assert_eq!(store.remove(0, "/x/y"), Err(StoreError::NoEnt));
    assert_eq!(store.remove(0, "/a/gone"), Ok(()), "rm of a missing child of an existing node succeeds");
}

#[test]
fn wire_read_write_and_errors() {
    let mut store = two_domains();
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"/local/domain/1/name\0"), (message::READ, b"guest1".to_vec()));
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"name\0"), (message::READ, b"guest1".to_vec()));
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"/local/domain/2/name\0"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"/local/domain/2/nothing\0"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"/local/domain/1/nothing\0"), error("ENOENT"));
    assert_eq!(reply(&mut store, 1, message::READ, 0, b"/local/domain/1/name"), error("EINVAL"), "no NUL");
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"data/greeting\0hello"), ok(message::WRITE));
    assert_eq!(store.read(0, "/local/domain/1/data/greeting").unwrap(), b"hello");
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"name\0evil"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"/local/domain/2/data/x\0v"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"/tool/x\0v"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::DIRECTORY, 0, b"/local/domain/1\0"), (message::DIRECTORY, b"data\0name\0".to_vec()));
    assert_eq!(reply(&mut store, 1, message::DIRECTORY, 0, b"/local/domain\0"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::GET_PERMS, 0, b"/local/domain/1\0"), (message::GET_PERMS, b"n0\0r1\0".to_vec()));
    assert_eq!(reply(&mut store, 1, message::GET_PERMS, 0, b"data/greeting\0"), (message::GET_PERMS, b"n1\0".to_vec()));
    assert_eq!(
        reply(&mut store, 2, message::GET_DOMAIN_PATH, 0, b"2\0"),
        (message::GET_DOMAIN_PATH, b"/local/domain/2\0".to_vec())
    );
    assert_eq!(reply(&mut store, 1, message::INTRODUCE, 0, b"5\x00100\x001\x00"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, 999, 0, b""), error("EINVAL"));
    assert_eq!(reply(&mut store, 1, message::IS_DOMAIN_INTRODUCED, 0, b"2\0"), (message::IS_DOMAIN_INTRODUCED, b"T\0".to_vec()));
}

#[test]
fn rm_needs_write_access() {
    let mut store = two_domains();
    assert_eq!(reply(&mut store, 1, message::RM, 0, b"/local/domain/1/name\0"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"data/a/b\0x"), ok(message::WRITE));
    assert_eq!(reply(&mut store, 1, message::RM, 0, b"data/a\0"), ok(message::RM));
    assert_eq!(store.directory(0, "/local/domain/1/data").unwrap(), Vec::<String>::new());
}

#[test]
fn set_perms_grants_and_keeps_owner() {
    let mut store = two_domains();
    assert_eq!(reply(&mut store, 1, message::WRITE, 0, b"data/shared\0x"), ok(message::WRITE));
    assert_eq!(reply(&mut store, 2, message::READ, 0, b"/local/domain/1/data/shared\0"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::SET_PERMS, 0, b"data/shared\0n1\0r2\0"), ok(message::SET_PERMS));
    assert_eq!(reply(&mut store, 2, message::READ, 0, b"/local/domain/1/data/shared\0"), (message::READ, b"x".to_vec()));
    assert_eq!(reply(&mut store, 2, message::WRITE, 0, b"/local/domain/1/data/shared\0y"), error("EACCES"));
    assert_eq!(reply(&mut store, 1, message::SET_PERMS, 0, b"data/shared\0n2\0"), error("EPERM"));
    assert_eq!(reply(&mut store, 1, message::SET_PERMS, 0, b"data/shared\0x1\0"), error("EINVAL"));
    assert_eq!(reply(&mut store, 1, message::SET_PERMS, 0, b"data/shared\0r99999\0"), error("EINVAL"));
    assert_eq!(reply(&mut store, 1, message::SET_PERMS, 0, b"data/shared\0n1\0r2\0r3\0r4\0r5\0r6\0"), error("E2BIG"));
}

#[test]
fn watch_fires_at_once_and_on_change() {
    let mut store = two_domains();
    let messages = request(&mut store, 1, message::WATCH, 0, b"/local/domain/1\0tok\0");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!((messages[0].header.kind, messages[0].payload.as_slice()), (message::WATCH, &b"OK\0"[..]));
    assert_eq!(messages[1].header.kind, message::WATCH_EVENT);
    assert_eq!(messages[1].header.req_id, 0);
    assert_eq!(messages[1].payload, b"/local/domain/1\0tok\0");

    store.write(0, "/local/domain/1/control/shutdown", b"poweroff").unwrap();
    let events = drain(&mut store, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, b"/local/domain/1/control/shutdown\0tok\0");
    assert!(drain(&mut store, 2).is_empty(), "domain 2 watches nothing");

    store.write(0, "/local/domain/2/name", b"renamed").unwrap();
    assert!(drain(&mut store, 1).is_empty(), "a write outside the watched path does not fire");

    store.remove(0, "/local/domain/1/control").unwrap();
    let events = drain(&mut store, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, b"/local/domain/1/control\0tok\0");

    assert_eq!(reply(&mut store, 1, message::UNWATCH, 0, b"/local/domain/1\0tok\0"), ok(message::UNWATCH));
    assert_eq!(reply(&mut store, 1, message::UNWATCH, 0, b"/local/domain/1\0tok\0"), error("ENOENT"));
    store.write(0, "/local/domain/1/x", b"1").unwrap();
    assert!(drain(&mut store, 1).is_empty(), "a removed watch does not fire");
}

#[test]
fn relative_watch_reports_relative_paths() {
    let mut store = two_domains();
    let messages = request(&mut store, 1, message::WATCH, 0, b"data\0t\0");
    assert_eq!(messages[1].payload, b"data\0t\0");
    store.write(0, "/local/domain/1/data/k", b"v").unwrap();
    assert_eq!(drain(&mut store, 1)[0].payload, b"data/k\0t\0");
}

#[test]
fn watch_on_unreadable_node_stays_silent() {
    let mut store = two_domains();
    request(&mut store, 1, message::WATCH, 0, b"/local/domain/2\0spy\0");
    store.write(0, "/local/domain/2/secret", b"x").unwrap();
    assert!(drain(&mut store, 1).is_empty(), "domain 1 learns nothing of domain 2");
}

#[test]
fn removing_a_parent_fires_watches_below_it() {
    let mut store = two_domains();
    store.write(0, "/local/domain/1/device/vbd/51712/state", b"1").unwrap();
    request(&mut store, 1, message::WATCH, 0, b"/local/domain/1/device/vbd/51712/state\0s\0");
    store.remove(0, "/local/domain/1/device").unwrap();
    let events = drain(&mut store, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, b"/local/domain/1/device/vbd/51712/state\0s\0");
}

#[test]
fn release_domain_watch_fires_on_release() {
    let mut store = two_domains();
    request(&mut store, 1, message::WATCH, 0, b"@releaseDomain\0r\0");
    store.release(2);
    assert_eq!(drain(&mut store, 1)[0].payload, b"@releaseDomain\0r\0");
    assert!(!store.is_introduced(2));
}

#[test]
fn transaction_commits_atomically() {
    let mut store = two_domains();
    let (kind, id) = reply(&mut store, 1, message::TRANSACTION_START, 0, b"\0");
    assert_eq!(kind, message::TRANSACTION_START);
    assert_eq!(id.last(), Some(&0));
    let id: u32 = core::str::from_utf8(&id[..id.len() - 1]).unwrap().parse().unwrap();
    assert_ne!(id, 0);
    request(&mut store, 1, message::WATCH, 0, b"data\0w\0");

    assert_eq!(reply(&mut store, 1, message::WRITE, id, b"data/a\0one"), ok(message::WRITE));
    assert_eq!(reply(&mut store, 1, message::READ, id, b"data/a\0"), (message::READ, b"one".to_vec()));
    assert_eq!(store.read(0, "/local/domain/1/data/a"), Err(StoreError::NoEnt), "not visible before commit");
    assert!(drain(&mut store, 1).is_empty(), "no event before commit");

    let messages = request(&mut store, 1, message::TRANSACTION_END, id, b"T\0");
    assert_eq!(messages.len(), 2, "the reply, then the event: {messages:?}");
    assert_eq!((messages[0].header.kind, messages[0].payload.as_slice()), (message::TRANSACTION_END, &b"OK\0"[..]));
    assert_eq!(messages[1].payload, b"data/a\0w\0");
    assert_eq!(store.read(0, "/local/domain/1/data/a").unwrap(), b"one");
    assert_eq!(reply(&mut store, 1, message::TRANSACTION_END, id, b"T\0"), error("ENOENT"));
}

#[test]
fn transaction_conflict_gives_eagain() {
    let mut store = two_domains();
    store.write(0, "/local/domain/1/data/counter", b"1").unwrap();
    let (_, id) = reply(&mut store, 1, message::TRANSACTION_START, 0, b"\0");
    let id: u32 = core::str::from_utf8(&id[..id.len() - 1]).unwrap().parse().unwrap();
    assert_eq!(reply(&mut store, 1, message::READ, id, b"data/counter\0"), (message::READ, b"1".to_vec()));
    assert_eq!(reply(&mut store, 1, message::WRITE, id, b"data/counter\0" as &[u8]).0, message::WRITE);
    store.write(0, "/local/domain/1/data/counter", b"5").unwrap();
    assert_eq!(reply(&mut store, 1, message::TRANSACTION_END, id, b"T\0"), error("EAGAIN"));
    assert_eq!(store.read(0, "/local/domain/1/data/counter").unwrap(), b"5");
}

#[test]
fn transaction_abort_discards() {
    let mut store = two_domains();
    let (_, id) = reply(&mut store, 1, message::TRANSACTION_START, 0, b"\0");
    let id: u32 = core::str::from_utf8(&id[..id.len() - 1]).unwrap().parse().unwrap();
    reply(&mut store, 1, message::WRITE, id, b"data/x\0v");
    assert_eq!(reply(&mut store, 1, message::TRANSACTION_END, id, b"F\0"), ok(message::TRANSACTION_END));
    assert_eq!(store.read(0, "/local/domain/1/data/x"), Err(StoreError::NoEnt));
    assert_eq!(reply(&mut store, 1, message::READ, 4242, b"data\0"), error("ENOENT"), "unknown transaction");
    assert_eq!(reply(&mut store, 1, message::TRANSACTION_END, 0, b"X\0"), error("EINVAL"));
}

#[test]
fn transaction_quota() {
    let mut store = two_domains();
    for _ in 0..TRANSACTIONS_PER_DOMAIN {
        assert_eq!(reply(&mut store, 1, message::TRANSACTION_START, 0, b"\0").0, message::TRANSACTION_START);
    }
    assert_eq!(reply(&mut store, 1, message::TRANSACTION_START, 0, b"\0"), error("EQUOTA"));
}

#[test]
fn node_and_byte_quotas() {
    let mut store = two_domains();
    let mut created = 0;
    loop {
        let payload = format!("data/n{created}\0v");
        let (kind, body) = reply(&mut store, 1, message::WRITE, 0, payload.as_bytes());
        if kind == message::ERROR {
            assert_eq!(body, b"EQUOTA\0");
            break;
        }
        created += 1;
        assert!(created <= NODES_PER_DOMAIN, "the node quota never stopped domain 1");
    }
    // The data node itself counts toward domain 1's quota.
    assert_eq!(created, NODES_PER_DOMAIN - 1);
    assert_eq!(reply(&mut store, 2, message::WRITE, 0, b"data/fine\0v"), ok(message::WRITE), "quotas are per domain");

    let mut store = two_domains();
    let value = vec![b'x'; VALUE_MAX];
    let mut result = ok(message::WRITE);
    for index in 0..(BYTES_PER_DOMAIN / VALUE_MAX + 2) {
        let mut payload = format!("data/big{index}\0").into_bytes();
        payload.extend_from_slice(&value);
        result = reply(&mut store, 1, message::WRITE, 0, &payload);
        if result != ok(message::WRITE) {
            break;
        }
    }
    assert_eq!(result, error("ENOSPC"));
}

#[test]
fn oversized_value_is_rejected() {
    let mut store = two_domains();
    assert_eq!(store.write(0, "/x", &vec![0u8; VALUE_MAX + 1]), Err(StoreError::TooBig));
}

#[test]
fn watch_quota_and_duplicates() {
    let mut store = two_domains();
    for index in 0..WATCHES_PER_DOMAIN {
        let payload = format!("data\0t{index}\0");
        assert_eq!(reply(&mut store, 1, message::WATCH, 0, payload.as_bytes()), ok(message::WATCH));
    }
    assert_eq!(reply(&mut store, 1, message::WATCH, 0, b"data\0t0\0"), error("EEXIST"));
    assert_eq!(reply(&mut store, 1, message::WATCH, 0, b"data\0more\0"), error("EQUOTA"));
    assert_eq!(reply(&mut store, 1, message::RESET_WATCHES, 0, b""), ok(message::RESET_WATCHES));
    assert_eq!(store.watch_count(1), 0);
}

#[test]
fn full_output_queue_drops_events_not_replies() {
    let mut store = two_domains();
    request(&mut store, 1, message::WATCH, 0, b"data\0t\0");
    let mut writes = 0;
    while store.pending_output(1) < OUTPUT_QUEUE_MAX {
        store.write(0, "/local/domain/1/data/k", b"v").unwrap();
        writes += 1;
        assert!(writes < 100_000, "the queue never filled");
    }
    assert!(!store.accepts_requests(1));
    store.write(0, "/local/domain/1/data/k", b"v").unwrap();
    assert!(store.dropped_events(1) > 0);
    assert!(store.pending_output(1) <= OUTPUT_QUEUE_MAX + 4096 + HEADER_SIZE);
}

#[test]
fn release_and_remove_clean_up() {
    let mut store = two_domains();
    let before = store.node_count();
    reply(&mut store, 2, message::WRITE, 0, b"data/a/b/c\0v");
    request(&mut store, 2, message::WATCH, 0, b"data\0t\0");
    store.release(2);
    store.remove(0, "/local/domain/2").unwrap();
    assert_eq!(store.read(0, "/local/domain/2/name"), Err(StoreError::NoEnt));
    assert_eq!(store.directory(0, "/local/domain").unwrap(), ["1"]);
    assert!(store.node_count() < before);
    assert_eq!(store.tree.usage_of(2), tree::Usage::default(), "no node stays charged to domain 2");
    store.handle(2, MessageHeader { kind: message::READ, req_id: 1, tx_id: 0, len: 2 }, b"a\0");
    assert_eq!(store.pending_output(2), 0, "a released domain gets no replies");
}

#[test]
fn reader_splits_a_stream_fed_byte_by_byte() {
    let mut stream = Vec::new();
    for (kind, payload) in [(message::READ, &b"name\0"[..]), (message::WRITE, b"a\0b"), (message::DIRECTORY, b"")] {
        stream.extend(MessageHeader { kind, req_id: 9, tx_id: 0, len: payload.len() as u32 }.to_bytes());
        stream.extend_from_slice(payload);
    }
    let mut reader = MessageReader::default();
    let mut messages = Vec::new();
    for byte in &stream {
        let (used, result) = reader.feed(core::slice::from_ref(byte));
        assert_eq!(used, 1);
        messages.extend(result.unwrap());
    }
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].payload, b"a\0b");
    assert_eq!(messages[2].header.kind, message::DIRECTORY);
}

#[test]
fn reader_rejects_oversized_length() {
    let mut reader = MessageReader::default();
    let header = MessageHeader { kind: message::WRITE, req_id: 3, tx_id: 0, len: u32::MAX };
    let (used, result) = reader.feed(&header.to_bytes());
    assert_eq!(used, HEADER_SIZE);
    assert_eq!(result, Err(OversizedMessage { header }));
    assert!(!reader.is_partial());
    let limit = MessageHeader { len: PAYLOAD_MAX as u32, ..header };
    let (_, result) = reader.feed(&limit.to_bytes());
    assert_eq!(result, Ok(None), "a payload of exactly PAYLOAD_MAX is allowed");
}

/// Feeds random bytes through the reader into the store, as a hostile
/// DomU's ring would, and checks that nothing panics or grows unbounded.
#[test]
fn random_byte_soup() {
    let mut store = two_domains();
    let mut reader = MessageReader::default();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words: [&[u8]; 8] = [b"data", b"/local/domain/1", b"/", b"\0", b"T\0", b"n1\0r2", b"@releaseDomain", b"x"];
    for _ in 0..20_000 {
        let mut chunk = Vec::new();
        match next() % 3 {
            0 => chunk.extend((0..next() % 64).map(|_| next() as u8)),
            _ => {
                let kind = (next() % 28) as u32;
                let mut payload = Vec::new();
                for _ in 0..next() % 4 {
                    payload.extend_from_slice(words[(next() % 8) as usize]);
                }
                let tx_id = if next() % 4 == 0 { (next() % 12) as u32 } else { 0 };
                let len = if next() % 16 == 0 { next() as u32 } else { payload.len() as u32 };
                chunk.extend(MessageHeader { kind, req_id: 1, tx_id, len }.to_bytes());
                chunk.extend(payload);
            }
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let (used, result) = reader.feed(rest);
            rest = &rest[used..];
            match result {
                Ok(Some(message)) => store.handle(1, message.header, &message.payload),
                Ok(None) => {}
                Err(OversizedMessage { header }) => store.queue_error(1, header, StoreError::TooBig),
            }
        }
        if next() % 8 == 0 {
            store.take_output(1, usize::MAX);
        }
        assert!(store.pending_output(1) <= OUTPUT_QUEUE_MAX + 2 * (PAYLOAD_MAX + HEADER_SIZE));
    }
    assert!(store.tree.usage_of(1).nodes <= NODES_PER_DOMAIN + NODES_PER_TRANSACTION);
    assert_eq!(store.read(1, "name").unwrap(), b"guest1", "domain 1 could not change its name");
}

mod ring_page {
    use super::super::ring::StoreRing;
    use super::*;
    use core::ptr::NonNull;
    use hypercalls::xenstore::{RING_SIZE, XenstoreInterface};

    /// A ring page on the heap, with the DomU's side driven by the test.
    struct Page(Box<XenstoreInterface>);

    impl Page {
        fn new() -> (Page, StoreRing) {
            // SAFETY: the interface consists of integers and byte arrays,
            // for which all-zero bytes are valid.
            let mut page = Page(Box::new(unsafe { core::mem::zeroed() }));
            // SAFETY: the box outlives the ring in every test, and the test
            // touches the page only between calls into the ring.
            let ring = unsafe { StoreRing::new(NonNull::from(&mut *page.0)) };
            (page, ring)
        }

        /// Produces `bytes` into `req[]` as a DomU does.
        fn send(&mut self, bytes: &[u8]) {
            for &byte in bytes {
                let index = self.0.req_prod as usize & (RING_SIZE - 1);
                self.0.req[index] = byte;
                self.0.req_prod = self.0.req_prod.wrapping_add(1);
            }
        }

        /// Consumes everything in `rsp[]` as a DomU does.
        fn receive(&mut self) -> Vec<u8> {
            let mut bytes = Vec::new();
            while self.0.rsp_cons != self.0.rsp_prod {
                bytes.push(self.0.rsp[self.0.rsp_cons as usize & (RING_SIZE - 1)]);
                self.0.rsp_cons = self.0.rsp_cons.wrapping_add(1);
            }
            bytes
        }
    }

    fn read_request(path: &[u8]) -> Vec<u8> {
        let mut bytes = MessageHeader { kind: message::READ, req_id: 5, tx_id: 0, len: path.len() as u32 }.to_bytes().to_vec();
        bytes.extend_from_slice(path);
        bytes
    }

    #[test]
    fn ring_request_gets_reply() {
        let mut store = two_domains();
        let (mut page, mut ring) = Page::new();
        page.send(&read_request(b"name\0"));
        let report = ring.service(1, &mut store);
        assert!(report.moved);
        assert_eq!(page.0.req_cons, page.0.req_prod);
        let reply = page.receive();
        assert_eq!(&reply[16..], b"guest1");
        assert_eq!(MessageHeader::from_bytes(reply[..16].try_into().unwrap()).req_id, 5);
    }

    #[test]
    fn ring_hostile_req_prod_resets() {
        let mut store = two_domains();
        let (mut page, mut ring) = Page::new();
        page.0.req_prod = 5000;
        let report = ring.service(1, &mut store);
        assert!(report.request_reset);
        assert_eq!(page.0.req_cons, 5000);
        page.send(&read_request(b"name\0"));
        ring.service(1, &mut store);
        assert_eq!(&page.receive()[16..], b"guest1", "the ring works again after the reset");
    }

    #[test]
    fn ring_hostile_rsp_cons_stalls_output() {
        let mut store = two_domains();
        let (mut page, mut ring) = Page::new();
        page.0.rsp_cons = 0x8000_0000;
        page.send(&read_request(b"name\0"));
        let report = ring.service(1, &mut store);
        assert!(report.response_stalled);
        assert_eq!(page.0.rsp_prod, 0, "nothing written past a bogus consumer");
        assert!(store.pending_output(1) > 0, "the reply waits in the queue");
        page.0.rsp_cons = 0;
        ring.service(1, &mut store);
        assert_eq!(&page.receive()[16..], b"guest1");
    }

    #[test]
    fn ring_oversized_header_gets_e2big() {
        let mut store = two_domains();
        let (mut page, mut ring) = Page::new();
        page.send(&MessageHeader { kind: message::WRITE, req_id: 9, tx_id: 0, len: 100_000 }.to_bytes());
        page.send(&[0xAA; 64]);
        let report = ring.service(1, &mut store);
        assert!(report.request_reset);
        let reply = page.receive();
        assert_eq!(&reply[16..], b"E2BIG\0");
        page.send(&read_request(b"name\0"));
        ring.service(1, &mut store);
        assert_eq!(&page.receive()[16..], b"guest1");
    }

    #[test]
    fn ring_long_reply_spans_several_services() {
        let mut store = two_domains();
        store.write(0, "/local/domain/1/data/big", &vec![b'z'; 3000]).unwrap();
        let (mut page, mut ring) = Page::new();
        page.send(&read_request(b"data/big\0"));
        let mut reply = Vec::new();
        for _ in 0..5 {
            ring.service(1, &mut store);
            reply.extend(page.receive());
        }
        assert_eq!(reply.len(), 16 + 3000);
        assert!(reply[16..].iter().all(|&byte| byte == b'z'));
    }
}

mod domain_keys {
    use super::super::domain::{DomainKeys, forget, publish, vm_path};
    use super::*;

    fn keys(domid: u16, name: &str) -> DomainKeys<'_> {
        DomainKeys { domid, name, memory_kib: 16384, console_mfn: 0x1234, console_port: 1, store_mfn: 0x1233, store_port: 2 }
    }

    #[test]
    fn publish_writes_libxl_keys() {
        let mut store = Store::new();
        publish(&mut store, &keys(3, "guest3")).unwrap();
        assert_eq!(store.read(0, "/local/domain/3/name").unwrap(), b"guest3");
        assert_eq!(store.read(0, "/local/domain/3/domid").unwrap(), b"3");
        assert_eq!(store.read(0, "/local/domain/3/memory/target").unwrap(), b"16384");
        assert_eq!(store.read(0, "/local/domain/3/console/ring-ref").unwrap(), b"4660");
        assert_eq!(store.read(0, "/local/domain/3/console/port").unwrap(), b"1");
        assert_eq!(store.read(0, "/local/domain/3/vm").unwrap(), vm_path(3).as_bytes());
        assert_eq!(store.read(0, &format!("{}/name", vm_path(3))).unwrap(), b"guest3");
        assert!(store.is_introduced(3));
        assert_eq!(store.read(3, "name").unwrap(), b"guest3", "the domain reads its own keys");
        assert_eq!(store.write(3, "name", b"x"), Err(StoreError::Acces), "but cannot change them");
        assert_eq!(store.write(3, "data/k", b"v"), Ok(()));
        assert_eq!(store.read(4, "/local/domain/3/name"), Err(StoreError::Acces));
    }

    #[test]
    fn forget_removes_everything() {
        let mut store = Store::new();
        let before = store.node_count();
        publish(&mut store, &keys(3, "guest3")).unwrap();
        store.write(3, "data/k", b"v").unwrap();
        forget(&mut store, 3);
        assert_eq!(store.node_count(), before);
        assert!(!store.is_introduced(3));
        assert_eq!(store.directory(0, "/local/domain").unwrap(), Vec::<String>::new());
    }
}
