//! Dom0's side of `ping` (see `guest::ping`): the `ping DOM COUNT`
//! command's arguments, and the responder that answers DomUs pinging
//! domain 0.
//!
//! Dom0 hosts the store, so it sets no watch: the toolstack's poll lists
//! `/local/domain/0/data/ping` and takes the request nodes it has not
//! seen yet.

use crate::xenstore::{Access, Permissions, Store};
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use hypercalls::xenstore::StoreError;

/// Most request nodes read in one poll; the rest wait for the next poll.
pub const MAX_REQUESTS_PER_POLL: usize = 16;

/// The request nodes of Dom0's ping directory already handed out.
pub struct RequestScanner {
    /// (node name, value) of every request handed out and still present.
    seen: BTreeSet<(String, Vec<u8>)>,
}

impl RequestScanner {
    /// Creates Dom0's ping directory, writable by every domain, and a
    /// scanner for it.
    pub fn new(store: &mut Store) -> Result<RequestScanner, StoreError> {
        let path = guest::ping::directory(0);
        store.mkdir(0, &path)?;
        store.set_permissions(0, &path, Permissions::owned_by(0, Access::Both))?;
        Ok(RequestScanner { seen: BTreeSet::new() })
    }

    /// Returns the request nodes that appeared or changed since the last
    /// call, as (name, value), and forgets the ones that went away.
    pub fn new_requests(&mut self, store: &mut Store) -> Vec<(String, Vec<u8>)> {
        let directory = guest::ping::directory(0);
        let Ok(names) = store.directory(0, &directory) else {
            self.seen.clear();
            return Vec::new();
        };
        let present: BTreeSet<(String, Vec<u8>)> = names
            .into_iter()
            .filter_map(|name| {
                let value = store.read(0, &alloc::format!("{directory}/{name}")).ok()?;
                Some((name, value))
            })
            .collect();
        let fresh: Vec<(String, Vec<u8>)> =
            present.difference(&self.seen).take(MAX_REQUESTS_PER_POLL).cloned().collect();
        self.seen.retain(|entry| present.contains(entry));
        self.seen.extend(fresh.iter().cloned());
        fresh
    }
}

#[cfg(target_os = "none")]
pub use runtime::Dom0Responder;

#[cfg(target_os = "none")]
mod runtime {
    use super::RequestScanner;
    use crate::xenstore::Store;

    /// Replies to pings from DomUs while the toolstack polls.
    pub struct Dom0Responder {
        scanner: Option<RequestScanner>,
        responder: guest::ping::Responder,
    }

    impl Dom0Responder {
        /// Creates Dom0's ping directory in `store`. When that fails, the
        /// error is logged and Dom0 does not answer pings.
        pub fn new(store: &mut Store) -> Dom0Responder {
            let scanner = RequestScanner::new(store)
                .inspect_err(|error| guest::println!("dom0: cannot create {}: {error}; Dom0 does not answer ping", guest::ping::directory(0)))
                .ok();
            Dom0Responder { scanner, responder: guest::ping::Responder::new(0) }
        }

        /// Binds to the ports of new requests and answers pending events,
        /// printing log lines and each finished channel's count.
        pub fn poll(&mut self, store: &mut Store) {
            let Some(scanner) = self.scanner.as_mut() else { return };
            for (name, value) in scanner.new_requests(store) {
                if let Some(problem) = self.responder.request(name.as_bytes(), &value) {
                    guest::println!("{problem}");
                }
            }
            self.responder.service(&mut |line: &str| guest::println!("{line}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_is_writable_by_guests() {
        let mut store = Store::new();
        RequestScanner::new(&mut store).expect("scanner");
        store.introduce(3);
        assert_eq!(store.write(3, "/local/domain/0/data/ping/3", b"7"), Ok(()));
        assert_eq!(store.read(3, "/local/domain/0/data/ping/3"), Ok(b"7".to_vec()));
        assert_eq!(store.read(3, "/local/domain/0/name"), Err(StoreError::Acces), "the rest of Dom0's home stays hidden");
    }

    #[test]
    fn scanner_reports_each_request_once() {
        let mut store = Store::new();
        let mut scanner = RequestScanner::new(&mut store).expect("scanner");
        assert!(scanner.new_requests(&mut store).is_empty());
        store.write(0, "/local/domain/0/data/ping/2", b"5").unwrap();
        assert_eq!(scanner.new_requests(&mut store), [(String::from("2"), b"5".to_vec())]);
        assert!(scanner.new_requests(&mut store).is_empty(), "an unchanged node is not reported again");
    }

    #[test]
    fn scanner_reports_rewritten_and_recreated_nodes() {
        let mut store = Store::new();
        let mut scanner = RequestScanner::new(&mut store).expect("scanner");
        store.write(0, "/local/domain/0/data/ping/2", b"5").unwrap();
        scanner.new_requests(&mut store);
        store.write(0, "/local/domain/0/data/ping/2", b"6").unwrap();
        assert_eq!(scanner.new_requests(&mut store), [(String::from("2"), b"6".to_vec())]);
        store.remove(0, "/local/domain/0/data/ping/2").unwrap();
        assert!(scanner.new_requests(&mut store).is_empty());
        store.write(0, "/local/domain/0/data/ping/2", b"6").unwrap();
        assert_eq!(scanner.new_requests(&mut store).len(), 1, "a node written again after removal is new");
    }

    #[test]
    fn scanner_limits_requests_per_poll() {
        let mut store = Store::new();
        let mut scanner = RequestScanner::new(&mut store).expect("scanner");
        for domid in 1..=MAX_REQUESTS_PER_POLL + 4 {
            store.write(0, &alloc::format!("/local/domain/0/data/ping/{domid}"), b"1").unwrap();
        }
        assert_eq!(scanner.new_requests(&mut store).len(), MAX_REQUESTS_PER_POLL);
        assert_eq!(scanner.new_requests(&mut store).len(), 4);
    }
}
