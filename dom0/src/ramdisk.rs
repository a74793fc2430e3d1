//! Read-only view of the Dom0 ramdisk, a cpio archive (newc, as `cpio -H newc`
//! writes it) that the boot loader hands to Dom0.
//!
//! Paths have no current directory: `etc/motd`, `/etc/motd` and `./etc/motd`
//! name the same file, and `..` stops at the root. A directory exists when the
//! archive has an entry for it or for anything below it, because archives made
//! from a file list often leave out the directory entries.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// File type bits of a cpio mode (`S_IFMT`).
const MODE_TYPE_MASK: u32 = 0o170_000;
const MODE_DIRECTORY: u32 = 0o040_000;
const MODE_REGULAR_FILE: u32 = 0o100_000;

/// Kind of object that a path names in the ramdisk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node<'a> {
    Directory,
    /// A regular file, with its contents.
    File(&'a [u8]),
    /// A symbolic link, device node, FIFO or socket. The shell lists its name
    /// but does not print its contents.
    Special,
}

/// One name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub is_directory: bool,
}

/// Splits `path` into its components, dropping empty ones and `.` and
/// resolving `..` against the root.
pub fn components(path: &str) -> Vec<&str> {
    let mut components = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            name => components.push(name),
        }
    }
    components
}

/// Finds what `path` names in `archive`, or `None` when nothing is there.
pub fn lookup<'a>(archive: &'a [u8], path: &str) -> Option<Node<'a>> {
    let target = components(path);
    if target.is_empty() {
        return Some(Node::Directory);
    }

    let mut has_children = false;
    for entry in pvbuild::cpio::entries(archive) {
        let entry_path = components(entry.name);
        if entry_path == target {
            return Some(node_of(&entry));
        }
        if entry_path.starts_with(&target) {
            has_children = true;
        }
    }
    has_children.then_some(Node::Directory)
}

/// Lists the names directly inside `directory`, sorted by name. The caller
/// checks with [`lookup`] that `directory` is a directory.
pub fn list(archive: &[u8], directory: &str) -> Vec<DirectoryEntry> {
    let parent = components(directory);
    let mut names: BTreeMap<&str, bool> = BTreeMap::new();
    for entry in pvbuild::cpio::entries(archive) {
        let entry_path = components(entry.name);
        if entry_path.len() <= parent.len() || !entry_path.starts_with(&parent) {
            continue;
        }

        let name = entry_path[parent.len()];
        let is_directory =
            entry_path.len() > parent.len() + 1 || node_of(&entry) == Node::Directory;
        let known = names.entry(name).or_insert(false);
        *known |= is_directory;
    }

    names
        .into_iter()
        .map(|(name, is_directory)| DirectoryEntry {
            name: String::from(name),
            is_directory,
        })
        .collect()
}

/// Returns true when `archive` contains at least one entry that the reader accepts.
pub fn has_entries(archive: &[u8]) -> bool {
    pvbuild::cpio::entries(archive).any(|entry| !components(entry.name).is_empty())
}

fn node_of<'a>(entry: &pvbuild::cpio::Entry<'a>) -> Node<'a> {
    match entry.mode & MODE_TYPE_MASK {
        MODE_DIRECTORY => Node::Directory,
        MODE_REGULAR_FILE => Node::File(entry.data),
        _ => Node::Special,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{DIRECTORY, REGULAR_FILE, SYMBOLIC_LINK, newc_archive};

    fn sample() -> Vec<u8> {
        newc_archive(&[
            (".", DIRECTORY, b""),
            ("./etc", DIRECTORY, b""),
            ("./etc/motd", REGULAR_FILE, b"hello\n"),
            ("./etc/hospes/release", REGULAR_FILE, b"Hospes 0.1.0\n"),
            ("./etc/empty", DIRECTORY, b""),
            ("./boot", SYMBOLIC_LINK, b"etc"),
            ("./init", REGULAR_FILE, b""),
        ])
    }

    fn names(entries: &[DirectoryEntry]) -> Vec<(&str, bool)> {
        entries
            .iter()
            .map(|entry| (entry.name.as_str(), entry.is_directory))
            .collect()
    }

    #[test]
    fn components_normalize_paths() {
        assert_eq!(components("/etc/motd"), ["etc", "motd"]);
        assert_eq!(components("./etc//motd/"), ["etc", "motd"]);
        assert_eq!(components("etc/../etc/./motd"), ["etc", "motd"]);
        assert_eq!(components("/../.."), Vec::<&str>::new());
        assert_eq!(components(""), Vec::<&str>::new());
    }

    #[test]
    fn lookup_finds_files_and_directories() {
        let archive = sample();
        assert_eq!(lookup(&archive, "/etc/motd"), Some(Node::File(b"hello\n")));
        assert_eq!(lookup(&archive, "etc"), Some(Node::Directory));
        assert_eq!(lookup(&archive, "/"), Some(Node::Directory));
        assert_eq!(lookup(&archive, "/etc/empty/"), Some(Node::Directory));
        assert_eq!(lookup(&archive, "boot"), Some(Node::Special));
        assert_eq!(lookup(&archive, "init"), Some(Node::File(b"")));
    }

    #[test]
    fn lookup_infers_missing_directory_entries() {
        assert_eq!(lookup(&sample(), "/etc/hospes"), Some(Node::Directory));
    }

    #[test]
    fn lookup_misses() {
        let archive = sample();
        assert_eq!(lookup(&archive, "/etc/nope"), None);
        assert_eq!(lookup(&archive, "/et"), None);
        assert_eq!(lookup(&archive, "/etc/motd/more"), None);
    }

    #[test]
    fn list_top_level() {
        let listing = list(&sample(), "/");
        assert_eq!(
            names(&listing),
            [("boot", false), ("etc", true), ("init", false)]
        );
    }

    #[test]
    fn list_subdirectory() {
        let listing = list(&sample(), "etc");
        assert_eq!(
            names(&listing),
            [("empty", true), ("hospes", true), ("motd", false)]
        );
    }

    #[test]
    fn list_empty_directory() {
        assert!(list(&sample(), "etc/empty").is_empty());
    }

    #[test]
    fn names_without_dot_prefix() {
        let archive = newc_archive(&[
            ("etc/motd", REGULAR_FILE, b"x"),
            ("/sbin/init", REGULAR_FILE, b""),
        ]);
        assert_eq!(lookup(&archive, "/etc/motd"), Some(Node::File(b"x")));
        assert_eq!(names(&list(&archive, "")), [("etc", true), ("sbin", true)]);
    }

    #[test]
    fn empty_and_garbage_archives_have_no_entries() {
        assert!(!has_entries(b""));
        assert!(!has_entries(b"not a cpio archive"));
        assert!(!has_entries(&newc_archive(&[(".", DIRECTORY, b"")])));
        assert!(has_entries(&sample()));
        assert_eq!(lookup(b"garbage", "etc"), None);
        assert!(list(b"garbage", "/").is_empty());
    }

    #[test]
    fn truncated_archives_never_panic() {
        let archive = sample();
        for length in 0..archive.len() {
            let prefix = &archive[..length];
            let _ = lookup(prefix, "/etc/hospes/release");
            let _ = list(prefix, "/etc");
            let _ = has_entries(prefix);
        }
    }

    #[test]
    fn corrupted_archives_never_panic() {
        let original = sample();
        let mut state: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..2_000 {
            let mut archive = original.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let index = (state % archive.len() as u64) as usize;
                archive[index] = (state >> 32) as u8;
            }
            let _ = lookup(&archive, "/etc/motd");
            let _ = list(&archive, "/");
        }
    }
}
