//! The node tree, and transactions as overlays on it.
//!
//! A transaction copies nothing when it starts. It keeps the nodes it
//! changed in an overlay and the generation of every base node it looked
//! at. Ending it with commit applies the overlay only when none of those
//! base nodes changed meanwhile, which gives Xen's EAGAIN semantics.

use super::path;
use super::perms::Permissions;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

/// One node: a value, child names and permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub value: Vec<u8>,
    pub children: BTreeSet<String>,
    pub permissions: Permissions,
    /// Stamp of the last change, from [`Tree::generation`].
    pub generation: u64,
}

impl Node {
    pub fn new(value: Vec<u8>, permissions: Permissions) -> Node {
        Node { value, children: BTreeSet::new(), permissions, generation: 0 }
    }
}

/// What one domain's nodes take up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub nodes: usize,
    pub bytes: usize,
}

/// Every committed node, by absolute path.
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    generation: u64,
    /// Nodes and bytes (path plus value) owned by each domain, for quotas.
    owned: BTreeMap<u16, Usage>,
}

impl Tree {
    /// Creates a tree holding only `/` with `root` permissions.
    pub fn new(root: Permissions) -> Tree {
        let mut tree = Tree { nodes: BTreeMap::new(), generation: 0, owned: BTreeMap::new() };
        tree.put(String::from("/"), Node::new(Vec::new(), root));
        tree
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Stores `node` at `path` with a fresh generation.
    pub fn put(&mut self, path: String, mut node: Node) {
        self.generation += 1;
        node.generation = self.generation;
        let usage = self.owned.entry(node.permissions.owner()).or_default();
        usage.nodes += 1;
        usage.bytes += path.len() + node.value.len();
        let length = path.len();
        if let Some(old) = self.nodes.insert(path, node) {
            self.release_owner(old.permissions.owner(), length + old.value.len());
        }
    }

    /// Removes the node at `path` alone, not its children.
    pub fn delete(&mut self, path: &str) {
        if let Some(old) = self.nodes.remove(path) {
            self.release_owner(old.permissions.owner(), path.len() + old.value.len());
        }
    }

    fn release_owner(&mut self, owner: u16, bytes: usize) {
        if let Some(usage) = self.owned.get_mut(&owner) {
            usage.nodes -= 1;
            usage.bytes -= bytes;
            if usage.nodes == 0 {
                self.owned.remove(&owner);
            }
        }
    }

    /// Returns what the nodes `domid` owns take up.
    pub fn usage_of(&self, domid: u16) -> Usage {
        self.owned.get(&domid).copied().unwrap_or_default()
    }

    /// Returns the total number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// A change that fires watches once it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The node was written or created.
    Written(String),
    /// The node and its subtree were removed.
    Removed(String),
}

/// An open transaction of one connection.
#[derive(Default)]
pub struct Transaction {
    /// Changed nodes; `None` marks a removal.
    overlay: BTreeMap<String, Option<Node>>,
    /// Generation of each base node read, `None` when it did not exist.
    read_set: BTreeMap<String, Option<u64>>,
    pub changes: Vec<Change>,
}

impl Transaction {
    /// Returns the number of nodes the transaction touched, for its quota.
    pub fn size(&self) -> usize {
        self.overlay.len() + self.read_set.len()
    }

    /// Returns true when no base node it read changed since it read it.
    pub fn is_current(&self, tree: &Tree) -> bool {
        self.read_set.iter().all(|(path, generation)| tree.get(path).map(|node| node.generation) == *generation)
    }

    /// Applies the overlay to `tree`.
    pub fn apply(self, tree: &mut Tree) {
        for (path, node) in self.overlay {
            match node {
                Some(node) => tree.put(path, node),
                None => tree.delete(&path),
            }
        }
    }
}

/// The tree as one request sees it: the base tree, or a transaction's
/// overlay on it.
pub struct View<'a> {
    pub tree: &'a mut Tree,
    pub transaction: Option<&'a mut Transaction>,
}

impl View<'_> {
    /// Returns a copy of the node at `path`.
    pub fn get(&mut self, path: &str) -> Option<Node> {
        let Some(transaction) = self.transaction.as_deref_mut() else {
            return self.tree.get(path).cloned();
        };
        if let Some(node) = transaction.overlay.get(path) {
            return node.clone();
        }
        let node = self.tree.get(path);
        transaction.read_set.entry(String::from(path)).or_insert(node.map(|node| node.generation));
        node.cloned()
    }

    pub fn put(&mut self, path: &str, node: Node) {
        match self.transaction.as_deref_mut() {
            Some(transaction) => {
                transaction.overlay.insert(String::from(path), Some(node));
            }
            None => self.tree.put(String::from(path), node),
        }
    }

    /// Removes `path` and every node below it, and unlinks it from its parent.
    pub fn remove_subtree(&mut self, path: &str) {
        let mut pending = alloc::vec![String::from(path)];
        while let Some(current) = pending.pop() {
            if let Some(node) = self.get(&current) {
                pending.extend(node.children.iter().map(|child| path::join(&current, child)));
            }
            match self.transaction.as_deref_mut() {
                Some(transaction) => {
                    transaction.overlay.insert(current, None);
                }
                None => self.tree.delete(&current),
            }
        }
        if let Some(parent_path) = path::parent(path)
            && let Some(mut parent) = self.get(parent_path)
        {
            parent.children.remove(path::base_name(path));
            self.put(parent_path, parent);
        }
    }

    /// Records a change for the watches, now or at commit.
    pub fn changed(&mut self, change: Change, fired: &mut Vec<Change>) {
        match self.transaction.as_deref_mut() {
            Some(transaction) => transaction.changes.push(change),
            None => fired.push(change),
        }
    }
}
