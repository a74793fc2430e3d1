//! Dom0's ramdisk: a cpio `newc` archive of `dom0/rootfs/` plus guest kernels.
//!
//! Entry names are relative (`etc/motd`), every directory has its own entry
//! before its contents, and entries are sorted by name. Owner, group and
//! modification time are 0, so the same inputs give the same bytes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const MODE_DIRECTORY: u32 = 0o040000;
const MODE_REGULAR: u32 = 0o100000;
const MODE_SYMLINK: u32 = 0o120000;
const PERMISSION_BITS: u32 = 0o7777;

/// The source of one archive entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Directory { permissions: u32 },
    File { path: PathBuf, permissions: u32 },
    Symlink { target: String },
}

/// Counts of what [`build_ramdisk`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamdiskSummary {
    /// Entries in the archive, directories included, the trailer excluded.
    pub entries: usize,
    /// Size of the archive in bytes.
    pub bytes: u64,
}

/// Writes the archive of `rootfs` plus `extra_files` to `output`.
///
/// A missing `rootfs` directory counts as empty. Each extra file is a pair of
/// its relative name in the archive (such as `boot/domu`) and its path on the
/// host. Missing parent directories of an extra file are added. An extra file whose name
/// is already in `rootfs` is an error.
pub fn build_ramdisk(
    rootfs: &Path,
    extra_files: &[(String, PathBuf)],
    output: &Path,
) -> Result<RamdiskSummary> {
    let file = File::create(output).map_err(|error| Error::io("create", output, error))?;
    let mut writer = BufWriter::new(file);
    let entries = write_ramdisk(rootfs, extra_files, &mut writer)?;
    writer
        .flush()
        .map_err(|error| Error::io("write", output, error))?;
    let bytes = fs::metadata(output)
        .map_err(|error| Error::io("read the size of", output, error))?
        .len();
    Ok(RamdiskSummary { entries, bytes })
}

/// Writes the archive of `rootfs` plus `extra_files` to `writer`, as
/// [`build_ramdisk`] describes, and returns the number of entries.
pub fn write_ramdisk<W: Write>(
    rootfs: &Path,
    extra_files: &[(String, PathBuf)],
    writer: W,
) -> Result<usize> {
    let mut entries = BTreeMap::new();
    if rootfs.exists() {
        collect_tree(rootfs, rootfs, &mut entries)?;
    }
    for (name, path) in extra_files {
        add_extra_file(name, path, &mut entries)?;
    }

    let mut writer = writer;
    for (inode, (name, source)) in entries.iter().enumerate() {
        // Inode 0 is avoided because some readers take it as "no inode".
        let inode = u32::try_from(inode + 1)
            .map_err(|_| Error::new("ramdisk has more than 2^32 entries"))?;
        writer = write_entry(writer, inode, name, source)?;
    }
    cpio::newc::trailer(writer)
        .map_err(|error| Error::new(format!("failed to write the cpio trailer: {error}")))?;
    Ok(entries.len())
}

/// Adds every entry under `directory` to `entries`, named relative to `rootfs`.
fn collect_tree(
    rootfs: &Path,
    directory: &Path,
    entries: &mut BTreeMap<String, Source>,
) -> Result<()> {
    let listing = fs::read_dir(directory).map_err(|error| Error::io("list", directory, error))?;
    for item in listing {
        let item = item.map_err(|error| Error::io("list", directory, error))?;
        let path = item.path();
        let name = archive_name(rootfs, &path)?;
        let metadata =
            fs::symlink_metadata(&path).map_err(|error| Error::io("read", &path, error))?;
        let permissions = metadata.permissions().mode() & PERMISSION_BITS;
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            entries.insert(name, Source::Directory { permissions });
            collect_tree(rootfs, &path, entries)?;
        } else if file_type.is_file() {
            entries.insert(name, Source::File { path, permissions });
        } else if file_type.is_symlink() {
            let target =
                fs::read_link(&path).map_err(|error| Error::io("read the link", &path, error))?;
            let target = target.to_str().ok_or_else(|| {
                Error::new(format!(
                    "symbolic link {} points to a non-UTF-8 path; rename its target",
                    path.display()
                ))
            })?;
            entries.insert(
                name,
                Source::Symlink {
                    target: target.to_string(),
                },
            );
        } else {
            return Err(Error::new(format!(
                "{} is not a file, directory or symbolic link; remove it from the ramdisk tree",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Returns the archive name of `path`: relative to `rootfs`, `/`-separated.
fn archive_name(rootfs: &Path, path: &Path) -> Result<String> {
    let relative = path.strip_prefix(rootfs).map_err(|_| {
        Error::new(format!(
            "{} is outside the ramdisk tree {}",
            path.display(),
            rootfs.display()
        ))
    })?;
    let name = relative.to_str().ok_or_else(|| {
        Error::new(format!(
            "{} is not a UTF-8 path; rename it to put it in the ramdisk",
            path.display()
        ))
    })?;
    Ok(name.to_string())
}

fn add_extra_file(name: &str, path: &Path, entries: &mut BTreeMap<String, Source>) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !valid {
        return Err(Error::new(format!(
            "invalid ramdisk path '{name}': use a relative path such as 'boot/domu' \
             without empty, '.' or '..' parts"
        )));
    }
    if entries.contains_key(name) {
        return Err(Error::new(format!(
            "ramdisk path '{name}' exists in dom0/rootfs and is also a built binary's place; \
             remove one of them"
        )));
    }

    // Add each parent directory that the tree did not already have.
    let mut parent_end = 0;
    while let Some(offset) = name[parent_end..].find('/') {
        parent_end += offset;
        let parent = &name[..parent_end];
        match entries.get(parent) {
            Some(Source::Directory { .. }) => {}
            Some(_) => {
                return Err(Error::new(format!(
                    "ramdisk path '{parent}' in dom0/rootfs is not a directory, \
                     but '{name}' needs it to be one"
                )));
            }
            None => {
                entries.insert(parent.to_string(), Source::Directory { permissions: 0o755 });
            }
        }
        parent_end += 1;
    }

    let metadata = fs::metadata(path).map_err(|error| Error::io("read", path, error))?;
    if !metadata.is_file() {
        return Err(Error::new(format!(
            "{} is not a regular file, so it cannot be ramdisk entry '{name}'",
            path.display()
        )));
    }
    entries.insert(
        name.to_string(),
        Source::File {
            path: path.to_path_buf(),
            permissions: metadata.permissions().mode() & PERMISSION_BITS,
        },
    );
    Ok(())
}

fn write_entry<W: Write>(writer: W, inode: u32, name: &str, source: &Source) -> Result<W> {
    let write_error =
        |error: io::Error| Error::new(format!("failed to write ramdisk entry '{name}': {error}"));
    let header = cpio::newc::Builder::new(name).ino(inode);
    match source {
        Source::Directory { permissions } => {
            let header = header.mode(MODE_DIRECTORY | permissions).nlink(2);
            header.write(writer, 0).finish().map_err(write_error)
        }
        Source::Symlink { target } => {
            let size = entry_size(name, target.len() as u64)?;
            let mut entry = header.mode(MODE_SYMLINK | 0o777).write(writer, size);
            entry.write_all(target.as_bytes()).map_err(write_error)?;
            entry.finish().map_err(write_error)
        }
        Source::File { path, permissions } => {
            let mut file = File::open(path).map_err(|error| Error::io("open", path, error))?;
            let length = file
                .metadata()
                .map_err(|error| Error::io("read", path, error))?
                .len();
            let size = entry_size(name, length)?;
            let mut entry = header.mode(MODE_REGULAR | permissions).write(writer, size);
            let copied = io::copy(&mut file, &mut entry)
                .map_err(|error| Error::io("copy into the ramdisk", path, error))?;
            if copied != length {
                return Err(Error::new(format!(
                    "{} changed size while it was copied into the ramdisk \
                     ({length} bytes expected, {copied} copied); build again",
                    path.display()
                )));
            }
            entry.finish().map_err(write_error)
        }
    }
}

/// Returns `length` as a cpio `newc` size field, which has 32 bits.
fn entry_size(name: &str, length: u64) -> Result<u32> {
    u32::try_from(length).map_err(|_| {
        Error::new(format!(
            "ramdisk entry '{name}' has {length} bytes, more than the 4 GiB a cpio newc entry can hold"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;
    use std::io::Read;

    /// An entry read back from an archive.
    #[derive(Debug, PartialEq, Eq)]
    struct ReadEntry {
        name: String,
        mode: u32,
        data: Vec<u8>,
    }

    fn read_archive(bytes: &[u8]) -> Vec<ReadEntry> {
        let mut entries = Vec::new();
        let mut input = bytes;
        loop {
            let mut reader = cpio::NewcReader::new(input).expect("valid cpio header");
            if reader.entry().is_trailer() {
                break;
            }
            let name = reader.entry().name().to_string();
            let mode = reader.entry().mode();
            let mut data = Vec::new();
            reader.read_to_end(&mut data).expect("read entry data");
            entries.push(ReadEntry { name, mode, data });
            input = reader.finish().expect("skip to next entry");
        }
        entries
    }

    fn set_mode(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("set permissions");
    }

    #[test]
    fn ramdisk_round_trips_tree() {
        let scratch = ScratchDir::new("ramdisk-tree");
        let rootfs = scratch.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc/xen")).expect("create tree");
        fs::write(rootfs.join("etc/motd"), b"welcome to Hospes\n").expect("write motd");
        fs::write(rootfs.join("etc/xen/guest.cfg"), b"memory = 64\n").expect("write cfg");
        fs::write(rootfs.join("empty"), b"").expect("write empty file");
        std::os::unix::fs::symlink("etc/motd", rootfs.join("motd")).expect("create symlink");
        set_mode(&rootfs.join("etc"), 0o755);
        set_mode(&rootfs.join("etc/xen"), 0o750);
        set_mode(&rootfs.join("etc/motd"), 0o644);
        set_mode(&rootfs.join("etc/xen/guest.cfg"), 0o600);
        set_mode(&rootfs.join("empty"), 0o644);

        let mut archive = Vec::new();
        let count = write_ramdisk(&rootfs, &[], &mut archive).expect("write archive");
        let entries = read_archive(&archive);

        assert_eq!(count, 6);
        let expected = [
            ("empty", 0o100644, &b""[..]),
            ("etc", 0o040755, b""),
            ("etc/motd", 0o100644, b"welcome to Hospes\n"),
            ("etc/xen", 0o040750, b""),
            ("etc/xen/guest.cfg", 0o100600, b"memory = 64\n"),
            ("motd", 0o120777, b"etc/motd"),
        ];
        let expected: Vec<ReadEntry> = expected
            .iter()
            .map(|(name, mode, data)| ReadEntry {
                name: name.to_string(),
                mode: *mode,
                data: data.to_vec(),
            })
            .collect();
        assert_eq!(entries, expected);
    }

    #[test]
    fn ramdisk_adds_extra_file_and_parents() {
        let scratch = ScratchDir::new("ramdisk-extra");
        let rootfs = scratch.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).expect("create tree");
        let kernel = scratch.path().join("domu");
        fs::write(&kernel, b"\x7fELF guest").expect("write kernel");
        set_mode(&kernel, 0o755);

        let extra = [("boot/guests/domu".to_string(), kernel)];
        let mut archive = Vec::new();
        write_ramdisk(&rootfs, &extra, &mut archive).expect("write archive");
        let entries = read_archive(&archive);

        let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(names, ["boot", "boot/guests", "boot/guests/domu", "etc"]);
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!(entries[2].mode, 0o100755);
        assert_eq!(entries[2].data, b"\x7fELF guest");
    }

    #[test]
    fn ramdisk_without_rootfs_is_empty_archive() {
        let scratch = ScratchDir::new("ramdisk-missing");
        let mut archive = Vec::new();
        let count = write_ramdisk(&scratch.path().join("no-such-dir"), &[], &mut archive)
            .expect("write archive");
        assert_eq!(count, 0);
        assert!(read_archive(&archive).is_empty());
        assert!(archive.starts_with(b"070701"));
    }

    #[test]
    fn ramdisk_rejects_duplicate_extra_file() {
        let scratch = ScratchDir::new("ramdisk-duplicate");
        let rootfs = scratch.path().join("rootfs");
        fs::create_dir_all(rootfs.join("boot")).expect("create tree");
        fs::write(rootfs.join("boot/domu"), b"old").expect("write file");
        let kernel = scratch.path().join("domu");
        fs::write(&kernel, b"new").expect("write kernel");

        let extra = [("boot/domu".to_string(), kernel)];
        let error = write_ramdisk(&rootfs, &extra, Vec::new()).expect_err("duplicate name");
        assert!(error.message().contains("'boot/domu'"), "{error}");
    }

    #[test]
    fn ramdisk_rejects_invalid_extra_names() {
        let scratch = ScratchDir::new("ramdisk-names");
        let kernel = scratch.path().join("domu");
        fs::write(&kernel, b"guest").expect("write kernel");
        for name in [
            "/boot/domu",
            "boot//domu",
            "../domu",
            "boot/./domu",
            "",
            "boot/",
        ] {
            let extra = [(name.to_string(), kernel.clone())];
            let result = write_ramdisk(&scratch.path().join("rootfs"), &extra, Vec::new());
            let error = result.expect_err(name);
            assert!(error.message().contains("invalid ramdisk path"), "{error}");
        }
    }

    #[test]
    fn ramdisk_bytes_do_not_depend_on_mtime() {
        let scratch = ScratchDir::new("ramdisk-reproducible");
        let rootfs = scratch.path().join("rootfs");
        fs::create_dir_all(&rootfs).expect("create tree");
        fs::write(rootfs.join("motd"), b"hello").expect("write file");
        let mut first = Vec::new();
        write_ramdisk(&rootfs, &[], &mut first).expect("write archive");

        fs::write(rootfs.join("motd"), b"hello").expect("rewrite file");
        let mut second = Vec::new();
        write_ramdisk(&rootfs, &[], &mut second).expect("write archive");
        assert_eq!(first, second);
    }

    #[test]
    fn build_ramdisk_reports_size() {
        let scratch = ScratchDir::new("ramdisk-summary");
        let rootfs = scratch.path().join("rootfs");
        fs::create_dir_all(&rootfs).expect("create tree");
        fs::write(rootfs.join("motd"), b"hello").expect("write file");
        let output = scratch.path().join("dom0.cpio");
        let summary = build_ramdisk(&rootfs, &[], &output).expect("build ramdisk");
        assert_eq!(summary.entries, 1);
        assert_eq!(summary.bytes, fs::metadata(&output).expect("stat").len());
        // newc pads the whole archive to a multiple of 4 bytes.
        assert_eq!(summary.bytes % 4, 0);
    }
}
