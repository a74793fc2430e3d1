//! The boot archive: how the `bootloader` path hands over boot modules.
//!
//! GRUB and QEMU's `-kernel` load each module on its own and pass a list. The
//! `bootloader` crate loads one ramdisk only, so its images carry a cpio
//! `newc` archive in that ramdisk, which this module unpacks:
//!
//! - `cmdline`: the hypervisor's command line (optional; a trailing newline
//!   is dropped);
//! - `modules`: one line per boot module, in boot order. A line gives the
//!   name of a file in the archive and, after the first space, the module's
//!   command line, as a `module2` line of `grub.cfg` does. Blank lines and
//!   lines starting with `#` are skipped;
//! - the files the list names.
//!
//! Modules are not copied: each one is the range of the ramdisk that contains
//! the file's bytes, so its physical address is the ramdisk's plus the
//! file's offset in the archive.

use crate::bootinfo::FixedString;

/// Name of the file with the hypervisor's command line.
pub const CMDLINE_FILE: &str = "cmdline";
/// Name of the file that lists the boot modules.
pub const MODULE_LIST_FILE: &str = "modules";

/// Maximum length of a file name kept in an error message.
const MAX_NAME: usize = 64;

/// A reason a boot archive could not be unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveError {
    /// The ramdisk contains no cpio `newc` entry at all.
    NotAnArchive,
    /// The archive has no `modules` file.
    NoModuleList,
    /// The `modules` file or the `cmdline` file is not UTF-8.
    NotText(&'static str),
    /// The `modules` file names a file the archive does not contain.
    MissingFile(FixedString<MAX_NAME>),
    /// The `modules` file names an entry that is not a regular file.
    NotRegular(FixedString<MAX_NAME>),
}

impl core::fmt::Display for ArchiveError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArchiveError::NotAnArchive => write!(formatter, "the ramdisk is not a cpio newc archive"),
            ArchiveError::NoModuleList => {
                write!(formatter, "the boot archive has no `{MODULE_LIST_FILE}` file listing the boot modules")
            }
            ArchiveError::NotText(name) => write!(formatter, "the boot archive's `{name}` file is not UTF-8 text"),
            ArchiveError::MissingFile(name) => write!(
                formatter,
                "the `{MODULE_LIST_FILE}` file names `{}`, which the boot archive does not contain before its end or \
                 before a truncated or corrupt entry",
                name.as_str()
            ),
            ArchiveError::NotRegular(name) => {
                write!(formatter, "the `{MODULE_LIST_FILE}` file names `{}`, which is not a regular file in the boot archive", name.as_str())
            }
        }
    }
}

/// One module found in the archive: its byte range within the archive and
/// its command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveModule<'a> {
    pub offset: usize,
    pub length: usize,
    pub cmdline: &'a str,
}

/// The contents of a boot archive.
pub struct BootArchive<'a> {
    archive: &'a [u8],
    module_list: &'a str,
    /// The hypervisor's command line, empty when the archive has none.
    pub cmdline: &'a str,
}

impl<'a> BootArchive<'a> {
    /// Reads the archive's `cmdline` and `modules` files.
    pub fn parse(archive: &'a [u8]) -> Result<BootArchive<'a>, ArchiveError> {
        if pvbuild::cpio::entries(archive).next().is_none() {
            return Err(ArchiveError::NotAnArchive);
        }
        let module_list = find(archive, MODULE_LIST_FILE).ok_or(ArchiveError::NoModuleList)?;
        let module_list = core::str::from_utf8(module_list).map_err(|_| ArchiveError::NotText(MODULE_LIST_FILE))?;
        let cmdline = match find(archive, CMDLINE_FILE) {
            Some(bytes) => core::str::from_utf8(bytes).map_err(|_| ArchiveError::NotText(CMDLINE_FILE))?,
            None => "",
        };
        Ok(BootArchive { archive, module_list, cmdline: cmdline.trim_end_matches(['\n', '\r']) })
    }

    /// Calls `found` with each listed module, in list order.
    pub fn for_each_module(&self, mut found: impl FnMut(ArchiveModule<'a>)) -> Result<(), ArchiveError> {
        for line in self.module_list.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, cmdline) = line.split_once(' ').unwrap_or((line, ""));
            let bytes = match find(self.archive, name) {
                Some(bytes) => bytes,
                None if has_entry(self.archive, name) => return Err(ArchiveError::NotRegular(FixedString::from_str(name))),
                None => return Err(ArchiveError::MissingFile(FixedString::from_str(name))),
            };
            // The reader hands out sub-slices of the archive, so the offset is
            // the distance between the two start addresses.
            let offset = bytes.as_ptr() as usize - self.archive.as_ptr() as usize;
            found(ArchiveModule { offset, length: bytes.len(), cmdline: cmdline.trim() });
        }
        Ok(())
    }
}

/// Returns true when the archive has an entry called `name` of any type.
fn has_entry(archive: &[u8], name: &str) -> bool {
    pvbuild::cpio::entries(archive).any(|entry| entry.name == name)
}

/// File type bits of a cpio mode, and the type of a regular file.
const MODE_TYPE_MASK: u32 = 0o170_000;
const MODE_REGULAR_FILE: u32 = 0o100_000;

/// Returns the bytes of the regular file `name`, or None.
fn find<'a>(archive: &'a [u8], name: &str) -> Option<&'a [u8]> {
    pvbuild::cpio::entries(archive)
        .find(|entry| entry.name == name && entry.mode & MODE_TYPE_MASK == MODE_REGULAR_FILE)
        .map(|entry| entry.data)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Builds a cpio `newc` archive of regular files, as the `boot` crate does.
    pub fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let entries: Vec<(&str, u32, &[u8])> =
            files.iter().map(|&(name, data)| (name, pvbuild::cpio::REGULAR_FILE, data)).collect();
        pvbuild::cpio::newc_archive(&entries)
    }

    fn modules(archive: &BootArchive<'_>) -> Vec<(usize, usize, String)> {
        let mut found = Vec::new();
        archive
            .for_each_module(|module| found.push((module.offset, module.length, module.cmdline.to_string())))
            .expect("modules");
        found
    }

    #[test]
    fn modules_follow_list_with_offsets() {
        let bytes = archive(&[
            ("cmdline", b"console=com1\n"),
            ("modules", b"# kernel first\ndom0 dom0\n\ndom0.cpio initrd\n"),
            ("dom0.cpio", b"RAMDISK"),
            ("dom0", b"\x7fELF-kernel"),
        ]);
        let parsed = BootArchive::parse(&bytes).expect("archive");
        assert_eq!(parsed.cmdline, "console=com1");
        let found = modules(&parsed);
        assert_eq!(found.len(), 2);
        let (offset, length, cmdline) = &found[0];
        assert_eq!(&bytes[*offset..offset + length], b"\x7fELF-kernel");
        assert_eq!(cmdline, "dom0");
        let (offset, length, cmdline) = &found[1];
        assert_eq!(&bytes[*offset..offset + length], b"RAMDISK");
        assert_eq!(cmdline, "initrd");
    }

    #[test]
    fn empty_module_list_gives_no_modules() {
        let bytes = archive(&[("modules", b"")]);
        let parsed = BootArchive::parse(&bytes).expect("archive");
        assert_eq!(parsed.cmdline, "");
        assert!(modules(&parsed).is_empty());
    }

    #[test]
    fn missing_list_file_and_garbage_are_errors() {
        let bytes = archive(&[("dom0", b"kernel")]);
        assert_eq!(BootArchive::parse(&bytes).err(), Some(ArchiveError::NoModuleList));
        assert_eq!(BootArchive::parse(b"not an archive at all").err(), Some(ArchiveError::NotAnArchive));
        assert_eq!(BootArchive::parse(&[]).err(), Some(ArchiveError::NotAnArchive));
        let bytes = archive(&[("modules", b"\xff\xfe")]);
        assert_eq!(BootArchive::parse(&bytes).err(), Some(ArchiveError::NotText("modules")));
    }

    #[test]
    fn listed_directory_is_not_a_regular_file() {
        let bytes = pvbuild::cpio::newc_archive(&[("modules", pvbuild::cpio::REGULAR_FILE, b"sub\n"), ("sub", pvbuild::cpio::DIRECTORY, b"")]);
        let parsed = BootArchive::parse(&bytes).expect("archive");
        let error = parsed.for_each_module(|_| {}).expect_err("sub is a directory");
        assert_eq!(error, ArchiveError::NotRegular(FixedString::from_str("sub")));
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    #[test]
    fn listed_file_that_is_absent_is_named() {
        let bytes = archive(&[("modules", b"dom0 dom0\n")]);
        let parsed = BootArchive::parse(&bytes).expect("archive");
        let error = parsed.for_each_module(|_| {}).expect_err("dom0 is absent");
        assert_eq!(error, ArchiveError::MissingFile(FixedString::from_str("dom0")));
        assert!(error.to_string().contains("`dom0`"), "{error}");
    }
}
