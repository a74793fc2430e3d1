//! Reader of cpio archives in the new ASCII format (`cpio -o -H newc`) and
//! its CRC variant (`-H crc`).
//!
//! A file's bytes are summed only for the CRC format, whose header carries
//! that sum. The `cpio_reader` crate, used before, summed every file it
//! passed, so each ramdisk lookup behind the 9 MiB DomU kernel cost about
//! 16 million instructions, most of an `xl create`.
//!
//! With the `archive-writer` feature (and in its own tests) the module also
//! writes small archives, [`newc_archive`], for the tests of its readers.
//!
//! Iteration stops at the `TRAILER!!!` entry or at the first entry that is
//! malformed: a bad magic, a field that is not hexadecimal, a name that is
//! not UTF-8, a size that runs past the archive's end, or a CRC mismatch.

/// Bytes of an entry header: a 6-byte magic and thirteen 8-digit hex fields.
const HEADER_SIZE: usize = 110;
const MAGIC_NEWC: &[u8] = b"070701";
const MAGIC_CRC: &[u8] = b"070702";
/// Name of the entry that ends an archive.
const TRAILER: &str = "TRAILER!!!";
/// File type bits of a mode (`S_IFMT`), and the type of a symbolic link,
/// whose contents the CRC check skips, as `cpio_reader` did.
const MODE_TYPE_MASK: u32 = 0o170_000;
const MODE_SYMBOLIC_LINK: u32 = 0o120_000;

/// Index of each header field used here, after the magic.
const FIELD_MODE: usize = 1;
const FIELD_FILE_SIZE: usize = 6;
const FIELD_NAME_SIZE: usize = 11;
const FIELD_CHECK: usize = 12;

/// One archive member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    /// File type and permission bits, as `st_mode`.
    pub mode: u32,
    pub data: &'a [u8],
}

/// Returns the entries of `archive`, in archive order.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries { rest: archive }
}

/// Iterator over the entries of an archive; see [`entries`].
pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        match parse(self.rest) {
            Some((entry, rest)) => {
                self.rest = rest;
                Some(entry)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Parses the entry at the start of `bytes`. Returns it with the bytes after
/// it, or `None` at the trailer or a malformed entry.
fn parse(bytes: &[u8]) -> Option<(Entry<'_>, &[u8])> {
    let header = bytes.get(..HEADER_SIZE)?;
    let crc = match &header[..MAGIC_NEWC.len()] {
        MAGIC_NEWC => false,
        MAGIC_CRC => true,
        _ => return None,
    };
    let field = |index: usize| {
        let start = MAGIC_NEWC.len() + 8 * index;
        parse_hex(&header[start..start + 8])
    };
    let mode = field(FIELD_MODE)?;
    let file_size = usize::try_from(field(FIELD_FILE_SIZE)?).ok()?;
    let name_size = usize::try_from(field(FIELD_NAME_SIZE)?).ok()?;

    // The name size counts the name's terminating NUL.
    let name_end = HEADER_SIZE.checked_add(name_size)?;
    let name = bytes.get(HEADER_SIZE..name_end.checked_sub(1)?)?;
    let name = core::str::from_utf8(name).ok()?;
    if name == TRAILER {
        return None;
    }

    // The data and the next header start at multiples of 4 bytes.
    let data_start = align_to_4(name_end)?;
    let data_end = data_start.checked_add(file_size)?;
    let data = bytes.get(data_start..data_end)?;
    if crc && mode & MODE_TYPE_MASK != MODE_SYMBOLIC_LINK {
        let sum = data.iter().fold(0u32, |sum, &byte| sum.wrapping_add(u32::from(byte)));
        if sum != field(FIELD_CHECK)? {
            return None;
        }
    }
    let rest = bytes.get(align_to_4(data_end)?..).unwrap_or_default();
    Some((Entry { name, mode, data }, rest))
}

fn align_to_4(offset: usize) -> Option<usize> {
    Some(offset.checked_add(3)? & !3)
}

/// Parses 8 hexadecimal digits, in either case.
fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &digit| Some(value << 4 | char::from(digit).to_digit(16)?))
}

/// cpio modes: the file type and rwxr-xr-x or rw-r--r-- permissions.
#[cfg(any(test, feature = "archive-writer"))]
pub const DIRECTORY: u32 = 0o040_755;
#[cfg(any(test, feature = "archive-writer"))]
pub const REGULAR_FILE: u32 = 0o100_644;
#[cfg(any(test, feature = "archive-writer"))]
pub const SYMBOLIC_LINK: u32 = 0o120_777;

/// Writes a cpio newc archive of `(name, mode, contents)` entries, with the
/// trailer, as `cpio -o -H newc` does.
#[cfg(any(test, feature = "archive-writer"))]
pub fn newc_archive(entries: &[(&str, u32, &[u8])]) -> alloc::vec::Vec<u8> {
    let mut archive = alloc::vec::Vec::new();
    for (inode, &(name, mode, contents)) in (1u32..).zip(entries) {
        append_newc_entry(&mut archive, inode, name, mode, contents);
    }
    append_newc_entry(&mut archive, 0, "TRAILER!!!", 0, b"");
    archive
}

#[cfg(any(test, feature = "archive-writer"))]
fn append_newc_entry(archive: &mut alloc::vec::Vec<u8>, inode: u32, name: &str, mode: u32, contents: &[u8]) {
    let name_size = name.len() + 1;
    let fields = [
        inode,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        contents.len() as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name_size as u32,
        0, // check, unused by newc
    ];

    archive.extend_from_slice(b"070701");
    for field in fields {
        archive.extend_from_slice(alloc::format!("{field:08X}").as_bytes());
    }
    archive.extend_from_slice(name.as_bytes());
    archive.push(0);
    pad_to_four(archive);
    archive.extend_from_slice(contents);
    pad_to_four(archive);
}

#[cfg(any(test, feature = "archive-writer"))]
fn pad_to_four(archive: &mut alloc::vec::Vec<u8>) {
    while !archive.len().is_multiple_of(4) {
        archive.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn names(archive: &[u8]) -> Vec<&str> {
        entries(archive).map(|entry| entry.name).collect()
    }

    /// Rewrites the header field `index` of the entry at `offset`.
    fn set_field(archive: &mut [u8], offset: usize, index: usize, value: &[u8; 8]) {
        let start = offset + MAGIC_NEWC.len() + 8 * index;
        archive[start..start + 8].copy_from_slice(value);
    }

    #[test]
    fn reads_entries_until_trailer() {
        let mut archive = newc_archive(&[("etc", DIRECTORY, b""), ("etc/motd", REGULAR_FILE, b"hello\n")]);
        archive.extend_from_slice(b"070701 bytes after the trailer");
        let read: Vec<Entry> = entries(&archive).collect();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], Entry { name: "etc", mode: DIRECTORY, data: b"" });
        assert_eq!(read[1], Entry { name: "etc/motd", mode: REGULAR_FILE, data: b"hello\n" });
    }

    #[test]
    fn aligns_data_and_next_header() {
        // Names of 1 to 4 bytes and data of 1 to 3 bytes cover every padding.
        let archive = newc_archive(&[("a", REGULAR_FILE, b"1"), ("bb", REGULAR_FILE, b"22"), ("ccc", REGULAR_FILE, b"333"), ("dddd", REGULAR_FILE, b"")]);
        let read: Vec<(&str, &[u8])> = entries(&archive).map(|entry| (entry.name, entry.data)).collect();
        assert_eq!(read, [("a", &b"1"[..]), ("bb", b"22"), ("ccc", b"333"), ("dddd", b"")]);
    }

    #[test]
    fn crc_format_checks_sum() {
        let mut archive = newc_archive(&[("f", REGULAR_FILE, b"\x01\x02"), ("g", REGULAR_FILE, b"")]);
        archive[..6].copy_from_slice(MAGIC_CRC);
        set_field(&mut archive, 0, FIELD_CHECK, b"00000003");
        assert_eq!(names(&archive), ["f", "g"]);
        set_field(&mut archive, 0, FIELD_CHECK, b"00000004");
        assert!(names(&archive).is_empty());
    }

    #[test]
    fn crc_format_skips_symbolic_links() {
        let mut archive = newc_archive(&[("link", SYMBOLIC_LINK, b"target")]);
        archive[..6].copy_from_slice(MAGIC_CRC);
        assert_eq!(names(&archive), ["link"]);
    }

    #[test]
    fn malformed_entry_ends_iteration() {
        let good = newc_archive(&[("a", REGULAR_FILE, b"x"), ("b", REGULAR_FILE, b"y")]);
        // The second header starts after the 110-byte header, "a\0" (2 bytes,
        // already aligned) and the data "x" with 3 bytes of padding.
        const SECOND: usize = 116;
        assert_eq!(&good[SECOND..SECOND + 6], MAGIC_NEWC);
        let cases: [(&str, fn(&mut Vec<u8>)); 7] = [
            ("bad magic", |archive| archive[SECOND..SECOND + 6].copy_from_slice(b"070707")),
            ("field not hex", |archive| set_field(archive, SECOND, FIELD_FILE_SIZE, b"0000000g")),
            ("name size 0", |archive| set_field(archive, SECOND, FIELD_NAME_SIZE, b"00000000")),
            ("name past the end", |archive| set_field(archive, SECOND, FIELD_NAME_SIZE, b"7FFFFFFF")),
            ("data past the end", |archive| set_field(archive, SECOND, FIELD_FILE_SIZE, b"FFFFFFFF")),
            ("name not UTF-8", |archive| archive[SECOND + HEADER_SIZE] = 0xFF),
            ("header cut short", |archive| archive.truncate(SECOND + HEADER_SIZE - 1)),
        ];
        for (case, damage) in cases {
            let mut archive = good.clone();
            damage(&mut archive);
            assert_eq!(names(&archive), ["a"], "{case}");
        }
    }

    #[test]
    fn empty_archive_has_no_entries() {
        assert!(names(b"").is_empty());
    }

    #[test]
    fn hex_fields_parse() {
        assert_eq!(parse_hex(b"0000001a"), Some(26));
        assert_eq!(parse_hex(b"FFFFFFFF"), Some(u32::MAX));
        assert_eq!(parse_hex(b"0000 01a"), None);
        assert_eq!(parse_hex(b"+000001a"), None);
    }
}
