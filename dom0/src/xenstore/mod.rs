//! The XenStore: a tree of small values that domains share through Dom0,
//! with Xen's wire protocol, permissions, watches and transactions.
//!
//! Dom0 (domain 0) has full access and uses the methods directly. A DomU
//! reaches the store through messages from its ring, which
//! [`Store::handle`] answers by queueing replies on that domain's
//! connection; watch events are queued there too. The caller moves queued
//! bytes to the ring with [`Store::take_output`].
//!
//! A DomU is hostile. Its paths, lengths and counts are checked, and the
//! quotas below bound what it can make Dom0 store for it.

pub mod domain;
mod path;
mod perms;
mod reader;
pub mod ring;
mod tree;

#[cfg(test)]
mod tests;

pub use path::{canonical, domain_home};
pub use perms::{Access, Permissions};
pub use reader::{Message, MessageReader, OversizedMessage};

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hypercalls::xenstore::{MessageHeader, PAYLOAD_MAX, StoreError, message};
use tree::{Change, Node, Transaction, Tree, View};

/// Nodes one DomU may own (Xen's default `quota-nr-entries-per-domain`).
pub const NODES_PER_DOMAIN: usize = 1000;
/// Bytes of paths and values one DomU's nodes may hold. Hospes sets this
/// bound so that domains cannot together fill Dom0's heap; Xen has none.
pub const BYTES_PER_DOMAIN: usize = 256 * 1024;
/// Largest value of one node, in bytes.
pub const VALUE_MAX: usize = PAYLOAD_MAX;
/// Watches one DomU may hold (Xen's default `quota-nr-watches-per-domain`).
pub const WATCHES_PER_DOMAIN: usize = 128;
/// Transactions one DomU may hold open (Xen's default `quota-max-transaction`).
pub const TRANSACTIONS_PER_DOMAIN: usize = 10;
/// Nodes one transaction may read or change.
pub const NODES_PER_TRANSACTION: usize = 64;
/// Bytes of replies and events queued for a connection. Past this, requests
/// wait ([`Store::accepts_requests`]) and watch events are dropped.
pub const OUTPUT_QUEUE_MAX: usize = 64 * 1024;

/// One watch: a path prefix and the token sent back with each event.
struct Watch {
    path: String,
    token: Vec<u8>,
    /// Set when the watch was given as a relative path, so events name
    /// paths relative to the domain's home.
    relative: bool,
}

/// A DomU's connection: its watches, transactions and queued output.
#[derive(Default)]
struct Connection {
    watches: Vec<Watch>,
    transactions: BTreeMap<u32, Transaction>,
    next_transaction: u32,
    output: VecDeque<u8>,
    /// Watch events dropped because the queue was full.
    dropped_events: u64,
}

/// The store: the tree and the connections of the DomUs.
pub struct Store {
    tree: Tree,
    connections: BTreeMap<u16, Connection>,
    /// The first event of a watch just added, queued after the OK reply.
    initial_event: Option<(u16, Vec<u8>)>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// Creates a store with `/`, `/local`, `/local/domain`, `/vm` and
    /// `/tool`, all owned by Dom0 and hidden from others.
    pub fn new() -> Store {
        let mut store = Store { tree: Tree::new(Permissions::owned_by(0, Access::None)), connections: BTreeMap::new(), initial_event: None };
        for path in ["/local", "/local/domain", "/vm", "/tool"] {
            let _ = store.mkdir(0, path);
        }
        store
    }

    /// Opens the connection of `domid`, whose ring the caller serves.
    pub fn introduce(&mut self, domid: u16) {
        self.connections.insert(domid, Connection { next_transaction: 1, ..Connection::default() });
    }

    /// Closes the connection of `domid`: its watches, transactions and
    /// queued output go, and `@releaseDomain` watches fire.
    pub fn release(&mut self, domid: u16) {
        self.connections.remove(&domid);
        self.fire(&[Change::Written(String::from("@releaseDomain"))]);
    }

    /// Returns whether `domid` has a connection.
    pub fn is_introduced(&self, domid: u16) -> bool {
        self.connections.contains_key(&domid)
    }

    /// Returns true when `domid`'s queued output is small enough that the
    /// caller should read its next request.
    pub fn accepts_requests(&self, domid: u16) -> bool {
        self.connections.get(&domid).is_some_and(|connection| connection.output.len() < OUTPUT_QUEUE_MAX)
    }

    /// Removes up to `max` queued bytes for `domid`'s ring.
    pub fn take_output(&mut self, domid: u16, max: usize) -> Vec<u8> {
        let Some(connection) = self.connections.get_mut(&domid) else { return Vec::new() };
        let count = max.min(connection.output.len());
        connection.output.drain(..count).collect()
    }

    /// Returns the number of queued output bytes of `domid`.
    pub fn pending_output(&self, domid: u16) -> usize {
        self.connections.get(&domid).map_or(0, |connection| connection.output.len())
    }

    /// Returns how many watch events of `domid` were dropped because its
    /// queue was full.
    pub fn dropped_events(&self, domid: u16) -> u64 {
        self.connections.get(&domid).map_or(0, |connection| connection.dropped_events)
    }

    /// Returns the number of watches `domid` holds.
    pub fn watch_count(&self, domid: u16) -> usize {
        self.connections.get(&domid).map_or(0, |connection| connection.watches.len())
    }

    /// Returns the number of nodes in the tree.
    pub fn node_count(&self) -> usize {
        self.tree.len()
    }

    /// Answers one request of `domid` and queues the reply, followed by any
    /// watch events it caused. A request of a domain with no connection is
    /// ignored.
    pub fn handle(&mut self, domid: u16, header: MessageHeader, payload: &[u8]) {
        if !self.connections.contains_key(&domid) {
            return;
        }
        let mut fired = Vec::new();
        let result = self.dispatch(domid, &header, payload, &mut fired);
        match result {
            Ok(body) => self.queue(domid, header.kind, header.req_id, header.tx_id, &body),
            Err(error) => self.queue_error(domid, header, error),
        }
        if let Some((watcher, body)) = self.initial_event.take() {
            self.queue_event(watcher, &body);
        }
        self.fire(&fired);
    }

    /// Queues an `XS_ERROR` reply to `request`.
    pub fn queue_error(&mut self, domid: u16, request: MessageHeader, error: StoreError) {
        let mut body = Vec::from(error.name().as_bytes());
        body.push(0);
        self.queue(domid, message::ERROR, request.req_id, request.tx_id, &body);
    }

    fn queue(&mut self, domid: u16, kind: u32, req_id: u32, tx_id: u32, body: &[u8]) {
        let Some(connection) = self.connections.get_mut(&domid) else { return };
        let header = MessageHeader { kind, req_id, tx_id, len: body.len() as u32 };
        connection.output.extend(header.to_bytes());
        connection.output.extend(body);
    }

    fn dispatch(
        &mut self,
        domid: u16,
        header: &MessageHeader,
        payload: &[u8],
        fired: &mut Vec<Change>,
    ) -> Result<Vec<u8>, StoreError> {
        let ok = || Vec::from(&b"OK\0"[..]);
        match header.kind {
            message::READ => self.with_view(domid, header.tx_id, |view| read(view, domid, &node_path(domid, payload)?)),
            message::DIRECTORY => {
                self.with_view(domid, header.tx_id, |view| directory(view, domid, &node_path(domid, payload)?))
            }
            message::GET_PERMS => {
                self.with_view(domid, header.tx_id, |view| get_perms(view, domid, &node_path(domid, payload)?))
            }
            message::WRITE => {
                let end = payload.iter().position(|&byte| byte == 0).ok_or(StoreError::Inval)?;
                let path = canonical(domid, &payload[..end])?;
                let value = &payload[end + 1..];
                self.with_view(domid, header.tx_id, |view| write(view, domid, &path, value, fired)).map(|()| ok())
            }
            message::MKDIR => {
                let path = node_path(domid, payload)?;
                self.with_view(domid, header.tx_id, |view| mkdir(view, domid, &path, fired)).map(|()| ok())
            }
            message::RM => {
                let path = node_path(domid, payload)?;
                self.with_view(domid, header.tx_id, |view| remove(view, domid, &path, fired)).map(|()| ok())
            }
            message::SET_PERMS => {
                let strings = split_strings(payload)?;
                let (path, entries) = strings.split_first().ok_or(StoreError::Inval)?;
                let path = canonical(domid, path)?;
                let permissions = Permissions::parse(entries)?;
                self.with_view(domid, header.tx_id, |view| set_perms(view, domid, &path, permissions, fired)).map(|()| ok())
            }
            message::WATCH => self.watch(domid, payload).map(|()| ok()),
            message::UNWATCH => self.unwatch(domid, payload).map(|()| ok()),
            message::TRANSACTION_START => {
                if header.tx_id != 0 {
                    return Err(StoreError::Busy);
                }
                let id = self.start_transaction(domid)?;
                Ok(format!("{id}\0").into_bytes())
            }
            message::TRANSACTION_END => {
                let commit = match split_strings(payload)?.as_slice() {
                    [b"T"] => true,
                    [b"F"] => false,
                    _ => return Err(StoreError::Inval),
                };
                self.end_transaction(domid, header.tx_id, commit, fired).map(|()| ok())
            }
            message::GET_DOMAIN_PATH => {
                let strings = split_strings(payload)?;
                let [digits] = strings.as_slice() else { return Err(StoreError::Inval) };
                let target = parse_domid(digits)?;
                Ok(format!("{}\0", domain_home(target)).into_bytes())
            }
            message::RESET_WATCHES => {
                if let Some(connection) = self.connections.get_mut(&domid) {
                    connection.watches.clear();
                    connection.transactions.clear();
                }
                Ok(ok())
            }
            // Only Dom0 may manage domains, and Dom0 uses the methods directly.
            message::INTRODUCE | message::RELEASE | message::RESUME | message::SET_TARGET => Err(StoreError::Acces),
            message::IS_DOMAIN_INTRODUCED => {
                let strings = split_strings(payload)?;
                let [digits] = strings.as_slice() else { return Err(StoreError::Inval) };
                let introduced = self.is_introduced(parse_domid(digits)?);
                Ok(Vec::from(if introduced { &b"T\0"[..] } else { &b"F\0"[..] }))
            }
            _ => Err(StoreError::Inval),
        }
    }

    /// Runs `operation` on the base tree or on transaction `tx_id` of `domid`.
    fn with_view<T>(
        &mut self,
        domid: u16,
        tx_id: u32,
        operation: impl FnOnce(&mut View<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let transaction = match tx_id {
            0 => None,
            id => {
                let connection = self.connections.get_mut(&domid).ok_or(StoreError::NoEnt)?;
                let transaction = connection.transactions.get_mut(&id).ok_or(StoreError::NoEnt)?;
                if transaction.size() > NODES_PER_TRANSACTION {
                    return Err(StoreError::Quota);
                }
                Some(transaction)
            }
        };
        let mut view = View { tree: &mut self.tree, transaction };
        operation(&mut view)
    }

    fn start_transaction(&mut self, domid: u16) -> Result<u32, StoreError> {
        let connection = self.connections.get_mut(&domid).ok_or(StoreError::NoEnt)?;
        if domid != 0 && connection.transactions.len() >= TRANSACTIONS_PER_DOMAIN {
            return Err(StoreError::Quota);
        }
        let mut id = connection.next_transaction;
        while id == 0 || connection.transactions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        connection.next_transaction = id.wrapping_add(1);
        connection.transactions.insert(id, Transaction::default());
        Ok(id)
    }

    fn end_transaction(&mut self, domid: u16, id: u32, commit: bool, fired: &mut Vec<Change>) -> Result<(), StoreError> {
        let connection = self.connections.get_mut(&domid).ok_or(StoreError::NoEnt)?;
        let transaction = connection.transactions.remove(&id).ok_or(StoreError::NoEnt)?;
        if !commit {
            return Ok(());
        }
        if !transaction.is_current(&self.tree) {
            return Err(StoreError::Again);
        }
        // NOTE: quotas are checked against the base tree while the
        // transaction runs, so a commit may exceed a domain's quota by at
        // most NODES_PER_TRANSACTION nodes.
        fired.extend(transaction.changes.iter().cloned());
        transaction.apply(&mut self.tree);
        Ok(())
    }

    fn watch(&mut self, domid: u16, payload: &[u8]) -> Result<(), StoreError> {
        let (path, token, relative) = watch_arguments(domid, payload)?;
        let connection = self.connections.get_mut(&domid).ok_or(StoreError::NoEnt)?;
        if connection.watches.iter().any(|watch| watch.path == path && watch.token == token) {
            return Err(StoreError::Exist);
        }
        if domid != 0 && connection.watches.len() >= WATCHES_PER_DOMAIN {
            return Err(StoreError::Quota);
        }
        connection.watches.push(Watch { path: path.clone(), token: token.clone(), relative });
        // Xen fires a new watch once at once, so the watcher reads the
        // current state after registering. `handle` sends it after the OK.
        self.initial_event = Some((domid, event_body(domid, &path, &token, relative)));
        Ok(())
    }

    fn unwatch(&mut self, domid: u16, payload: &[u8]) -> Result<(), StoreError> {
        let (path, token, _) = watch_arguments(domid, payload)?;
        let connection = self.connections.get_mut(&domid).ok_or(StoreError::NoEnt)?;
        let before = connection.watches.len();
        connection.watches.retain(|watch| !(watch.path == path && watch.token == token));
        if connection.watches.len() == before { Err(StoreError::NoEnt) } else { Ok(()) }
    }

    fn queue_event(&mut self, domid: u16, body: &[u8]) {
        let Some(connection) = self.connections.get_mut(&domid) else { return };
        if connection.output.len() >= OUTPUT_QUEUE_MAX {
            connection.dropped_events += 1;
            return;
        }
        self.queue(domid, message::WATCH_EVENT, 0, 0, body);
    }

    /// Queues a watch event for every watch that `changes` trigger and
    /// whose domain may read the node.
    fn fire(&mut self, changes: &[Change]) {
        let mut events: Vec<(u16, Vec<u8>)> = Vec::new();
        for change in changes {
            let (changed, removed) = match change {
                Change::Written(path) => (path.as_str(), false),
                Change::Removed(path) => (path.as_str(), true),
            };
            for (&domid, connection) in &self.connections {
                for watch in &connection.watches {
                    let event_path = if path::is_within(changed, &watch.path) {
                        changed
                    } else if removed && path::is_within(&watch.path, changed) {
                        watch.path.as_str()
                    } else {
                        continue;
                    };
                    if !self.may_see(domid, event_path, removed) {
                        continue;
                    }
                    events.push((domid, event_body(domid, event_path, &watch.token, watch.relative)));
                }
            }
        }
        for (domid, body) in events {
            self.queue_event(domid, &body);
        }
    }

    /// Returns whether `domid` may learn of a change at `path`: it must be
    /// able to read the node, or for a removed node, its nearest existing
    /// ancestor. Special `@` paths are visible to every watcher.
    fn may_see(&self, domid: u16, path: &str, removed: bool) -> bool {
        if path.starts_with('@') {
            return true;
        }
        let mut current = Some(path);
        while let Some(candidate) = current {
            if let Some(node) = self.tree.get(candidate) {
                return node.permissions.access_of(domid).reads();
            }
            if !removed {
                return false;
            }
            current = path::parent(candidate);
        }
        false
    }

    // Dom0's direct operations, used by the toolstack and the shell.

    /// Reads a node's value as `domid`.
    pub fn read(&mut self, domid: u16, path: &str) -> Result<Vec<u8>, StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        read(&mut self.base_view(), domid, &path)
    }

    /// Writes a node as `domid`, creating it and missing ancestors, and
    /// fires the watches.
    pub fn write(&mut self, domid: u16, path: &str, value: &[u8]) -> Result<(), StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        let mut fired = Vec::new();
        write(&mut self.base_view(), domid, &path, value, &mut fired)?;
        self.fire(&fired);
        Ok(())
    }

    /// Creates a node with an empty value unless it exists.
    pub fn mkdir(&mut self, domid: u16, path: &str) -> Result<(), StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        let mut fired = Vec::new();
        mkdir(&mut self.base_view(), domid, &path, &mut fired)?;
        self.fire(&fired);
        Ok(())
    }

    /// Removes a node and its subtree, and fires the watches.
    pub fn remove(&mut self, domid: u16, path: &str) -> Result<(), StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        let mut fired = Vec::new();
        remove(&mut self.base_view(), domid, &path, &mut fired)?;
        self.fire(&fired);
        Ok(())
    }

    /// Lists a node's children.
    pub fn directory(&mut self, domid: u16, path: &str) -> Result<Vec<String>, StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        let node = readable(&mut self.base_view(), domid, &path)?;
        Ok(node.children.into_iter().collect())
    }

    /// Returns a node's permissions.
    pub fn permissions(&mut self, domid: u16, path: &str) -> Result<Permissions, StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        Ok(readable(&mut self.base_view(), domid, &path)?.permissions)
    }

    /// Replaces a node's permissions.
    pub fn set_permissions(&mut self, domid: u16, path: &str, permissions: Permissions) -> Result<(), StoreError> {
        let path = canonical(domid, path.as_bytes())?;
        let mut fired = Vec::new();
        set_perms(&mut self.base_view(), domid, &path, permissions, &mut fired)?;
        self.fire(&fired);
        Ok(())
    }

    fn base_view(&mut self) -> View<'_> {
        View { tree: &mut self.tree, transaction: None }
    }
}


/// Returns the node path of a request whose payload is `path\0`.
fn node_path(domid: u16, payload: &[u8]) -> Result<String, StoreError> {
    match split_strings(payload)?.as_slice() {
        [path] => canonical(domid, path),
        _ => Err(StoreError::Inval),
    }
}

/// Splits a payload of NUL-terminated strings. The payload must end with a
/// NUL, as every Xen request but `XS_WRITE` does.
fn split_strings(payload: &[u8]) -> Result<Vec<&[u8]>, StoreError> {
    let body = payload.strip_suffix(b"\0").ok_or(StoreError::Inval)?;
    Ok(body.split(|&byte| byte == 0).collect())
}

/// Parses a decimal domain id.
fn parse_domid(digits: &[u8]) -> Result<u16, StoreError> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(StoreError::Inval);
    }
    let value = digits.iter().fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
    u16::try_from(value).map_err(|_| StoreError::Inval)
}

/// Parses `path\0token\0` of a watch request into (absolute path, token,
/// whether the path was relative).
fn watch_arguments(domid: u16, payload: &[u8]) -> Result<(String, Vec<u8>, bool), StoreError> {
    let strings = split_strings(payload)?;
    let [raw_path, token] = strings.as_slice() else { return Err(StoreError::Inval) };
    if path::SPECIAL_WATCHES.iter().any(|special| special.as_bytes() == *raw_path) {
        return Ok((String::from_utf8_lossy(raw_path).into_owned(), Vec::from(*token), false));
    }
    let relative = raw_path.first() != Some(&b'/');
    Ok((canonical(domid, raw_path)?, Vec::from(*token), relative))
}

/// Builds the `path\0token\0` body of a watch event. A relative watch
/// gets paths relative to the domain's home, as in Xen.
fn event_body(domid: u16, path: &str, token: &[u8], relative: bool) -> Vec<u8> {
    let home = domain_home(domid);
    let shown = match path.strip_prefix(home.as_str()).and_then(|rest| rest.strip_prefix('/')) {
        Some(rest) if relative => rest,
        _ => path,
    };
    let mut body = Vec::with_capacity(shown.len() + token.len() + 2);
    body.extend_from_slice(shown.as_bytes());
    body.push(0);
    body.extend_from_slice(token);
    body.push(0);
    body
}

/// Returns the node at `path` if `domid` may read it. A node the domain
/// cannot read gives EACCES even when it does not exist below a node the
/// domain cannot read, so that names do not leak.
fn readable(view: &mut View<'_>, domid: u16, path: &str) -> Result<Node, StoreError> {
    match view.get(path) {
        Some(node) if node.permissions.access_of(domid).reads() => Ok(node),
        Some(_) => Err(StoreError::Acces),
        None => {
            let ancestor = nearest_existing(view, path);
            if ancestor.permissions.access_of(domid).reads() { Err(StoreError::NoEnt) } else { Err(StoreError::Acces) }
        }
    }
}

/// Returns the nearest existing ancestor of `path`; `/` always exists.
fn nearest_existing(view: &mut View<'_>, path: &str) -> Node {
    let mut current = path::parent(path);
    while let Some(candidate) = current {
        if let Some(node) = view.get(candidate) {
            return node;
        }
        current = path::parent(candidate);
    }
    Node::new(Vec::new(), Permissions::owned_by(0, Access::None))
}

fn read(view: &mut View<'_>, domid: u16, path: &str) -> Result<Vec<u8>, StoreError> {
    readable(view, domid, path).map(|node| node.value)
}

fn directory(view: &mut View<'_>, domid: u16, path: &str) -> Result<Vec<u8>, StoreError> {
    let node = readable(view, domid, path)?;
    let mut body = Vec::new();
    for child in &node.children {
        body.extend_from_slice(child.as_bytes());
        body.push(0);
    }
    Ok(body)
}

fn get_perms(view: &mut View<'_>, domid: u16, path: &str) -> Result<Vec<u8>, StoreError> {
    let node = readable(view, domid, path)?;
    let mut body = Vec::new();
    for entry in node.permissions.to_strings() {
        body.extend_from_slice(entry.as_bytes());
        body.push(0);
    }
    Ok(body)
}

/// Checks the quotas of a DomU that is about to own `new_nodes` more nodes
/// and `new_bytes` more bytes.
fn check_quota(view: &View<'_>, domid: u16, new_nodes: usize, new_bytes: usize) -> Result<(), StoreError> {
    if domid == 0 {
        return Ok(());
    }
    let usage = view.tree.usage_of(domid);
    if usage.nodes + new_nodes > NODES_PER_DOMAIN {
        return Err(StoreError::Quota);
    }
    if usage.bytes + new_bytes > BYTES_PER_DOMAIN {
        return Err(StoreError::NoSpc);
    }
    Ok(())
}

/// Creates `path` and its missing ancestors, or replaces its value. New
/// nodes take their parent's permissions; a DomU becomes their owner.
fn write(view: &mut View<'_>, domid: u16, path: &str, value: &[u8], fired: &mut Vec<Change>) -> Result<(), StoreError> {
    if value.len() > VALUE_MAX {
        return Err(StoreError::TooBig);
    }
    if let Some(mut node) = view.get(path) {
        if !node.permissions.access_of(domid).writes() {
            return Err(StoreError::Acces);
        }
        let grows = value.len().saturating_sub(node.value.len());
        if node.permissions.owner() == domid {
            check_quota(view, domid, 0, grows)?;
        }
        node.value = Vec::from(value);
        view.put(path, node);
        view.changed(Change::Written(String::from(path)), fired);
        return Ok(());
    }

    // Find the missing ancestors, nearest first, and check the existing one.
    let mut missing = alloc::vec![String::from(path)];
    let mut ancestor = path::parent(path).map(String::from);
    let mut parent_node = loop {
        let Some(candidate) = ancestor else { return Err(StoreError::Inval) };
        if let Some(node) = view.get(&candidate) {
            break node;
        }
        ancestor = path::parent(&candidate).map(String::from);
        missing.push(candidate);
    };
    if !parent_node.permissions.access_of(domid).writes() {
        return Err(StoreError::Acces);
    }
    let new_bytes = missing.iter().map(String::len).sum::<usize>() + value.len();
    check_quota(view, domid, missing.len(), new_bytes)?;

    let mut parent_path = path::parent(missing.last().map_or(path, String::as_str)).map(String::from).unwrap_or_default();
    for (index, node_path) in missing.iter().enumerate().rev() {
        parent_node.children.insert(String::from(path::base_name(node_path)));
        let permissions = if domid == 0 { parent_node.permissions.clone() } else { parent_node.permissions.with_owner(domid) };
        view.put(&parent_path, parent_node);
        let node_value = if index == 0 { Vec::from(value) } else { Vec::new() };
        parent_node = Node::new(node_value, permissions);
        parent_path = node_path.clone();
    }
    view.put(&parent_path, parent_node);
    view.changed(Change::Written(String::from(path)), fired);
    Ok(())
}

fn mkdir(view: &mut View<'_>, domid: u16, path: &str, fired: &mut Vec<Change>) -> Result<(), StoreError> {
    match view.get(path) {
        Some(node) if node.permissions.access_of(domid).writes() => Ok(()),
        Some(_) => Err(StoreError::Acces),
        None => write(view, domid, path, b"", fired),
    }
}

/// Removes `path` and its subtree. The caller needs write access to the node.
fn remove(view: &mut View<'_>, domid: u16, path: &str, fired: &mut Vec<Change>) -> Result<(), StoreError> {
    if path == "/" {
        return Err(StoreError::Inval);
    }
    let Some(node) = view.get(path) else {
        // Xen returns ENOENT only when the parent is missing too.
        return match path::parent(path).map(|parent| view.get(parent)) {
            Some(Some(parent)) if parent.permissions.access_of(domid).reads() => Ok(()),
            Some(Some(_)) => Err(StoreError::Acces),
            _ => Err(StoreError::NoEnt),
        };
    };
    if !node.permissions.access_of(domid).writes() {
        return Err(StoreError::Acces);
    }
    view.changed(Change::Removed(String::from(path)), fired);
    view.remove_subtree(path);
    Ok(())
}

/// Replaces a node's permissions. The caller needs write access, and a
/// DomU may not give its node away to another owner.
fn set_perms(
    view: &mut View<'_>,
    domid: u16,
    path: &str,
    permissions: Permissions,
    fired: &mut Vec<Change>,
) -> Result<(), StoreError> {
    let mut node = readable(view, domid, path)?;
    if !node.permissions.access_of(domid).writes() {
        return Err(StoreError::Acces);
    }
    if domid != 0 && permissions.owner() != node.permissions.owner() {
        return Err(StoreError::Perm);
    }
    node.permissions = permissions;
    view.put(path, node);
    view.changed(Change::Written(String::from(path)), fired);
    Ok(())
}
