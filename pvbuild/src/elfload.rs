//! Checks a PV kernel's ELF image and plans where each byte goes.
//!
//! The image comes from a boot module (Dom0) or, later, from Dom0 itself, so
//! every field is checked before anything is copied: the machine type, the
//! segment bounds inside the file, the addresses against the guest's virtual
//! base and size limit, and the Xen notes the builder relies on.

use elf::ElfBytes;
use elf::abi::{EM_X86_64, ET_EXEC, PF_W, PF_X, PT_LOAD, PT_NOTE};
use elf::endian::LittleEndian;
use elf::note::Note;
use hypercalls::elfnote;

/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 8;

/// A loadable segment: `file_size` bytes from `offset`, then zeros up to `mem_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    pub vaddr: u64,
    pub offset: u64,
    pub file_size: u64,
    pub mem_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// What the domain builder needs to know about a kernel image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelImage {
    pub entry: u64,
    /// Virtual address of pseudo-physical address 0 (`XEN_ELFNOTE_VIRT_BASE`).
    pub virt_base: u64,
    /// Virtual address of the page to fill with hypercall stubs.
    pub hypercall_page: Option<u64>,
    /// One past the last byte of the image in memory, page-aligned.
    pub virt_end: u64,
    segments: [Segment; MAX_SEGMENTS],
    segment_count: usize,
}

impl KernelImage {
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.segment_count]
    }

    /// Pages the image occupies from `virt_base`.
    pub fn pages(&self) -> u64 {
        (self.virt_end - self.virt_base) / 4096
    }
}

/// Why an image was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// Not an ELF file, or its headers are cut short.
    Malformed,
    /// Not a 64-bit little-endian x86_64 executable.
    WrongMachine,
    NoSegments,
    TooManySegments,
    /// A segment's file range lies outside the image.
    SegmentOutsideFile,
    /// A segment lies below the virtual base, wraps, or exceeds the size limit.
    SegmentOutOfRange,
    SegmentsOverlap,
    /// The entry point is not inside an executable segment.
    BadEntry,
    /// The hypercall page note names an address outside the image or not page-aligned.
    BadHypercallPage,
}

impl ImageError {
    pub const fn describe(self) -> &'static str {
        match self {
            ImageError::Malformed => "not an ELF file or truncated headers",
            ImageError::WrongMachine => "not a 64-bit little-endian x86_64 executable",
            ImageError::NoSegments => "no loadable segments",
            ImageError::TooManySegments => "too many loadable segments",
            ImageError::SegmentOutsideFile => "a segment's data lies outside the file",
            ImageError::SegmentOutOfRange => "a segment lies outside the guest's allowed address range",
            ImageError::SegmentsOverlap => "loadable segments overlap",
            ImageError::BadEntry => "the entry point is outside every executable segment",
            ImageError::BadHypercallPage => "the HYPERCALL_PAGE note is not a page inside the image",
        }
    }
}

/// Parses and checks `bytes` as a kernel to load at or above the virtual
/// base its notes name, within `max_bytes` of it.
pub fn parse(bytes: &[u8], max_bytes: u64) -> Result<KernelImage, ImageError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|_| ImageError::Malformed)?;
    if file.ehdr.class != elf::file::Class::ELF64 || file.ehdr.e_machine != EM_X86_64 || file.ehdr.e_type != ET_EXEC {
        return Err(ImageError::WrongMachine);
    }
    let headers = file.segments().ok_or(ImageError::NoSegments)?;

    let mut image = KernelImage {
        entry: file.ehdr.e_entry,
        virt_base: u64::MAX,
        hypercall_page: None,
        virt_end: 0,
        segments: [Segment::default(); MAX_SEGMENTS],
        segment_count: 0,
    };
    let mut noted_base = None;
    for header in headers.iter() {
        match header.p_type {
            PT_LOAD if header.p_memsz > 0 => {
                if image.segment_count == MAX_SEGMENTS {
                    return Err(ImageError::TooManySegments);
                }
                let file_end = header.p_offset.checked_add(header.p_filesz).ok_or(ImageError::SegmentOutsideFile)?;
                if file_end > bytes.len() as u64 || header.p_filesz > header.p_memsz {
                    return Err(ImageError::SegmentOutsideFile);
                }
                image.segments[image.segment_count] = Segment {
                    vaddr: header.p_vaddr,
                    offset: header.p_offset,
                    file_size: header.p_filesz,
                    mem_size: header.p_memsz,
                    writable: header.p_flags & PF_W != 0,
                    executable: header.p_flags & PF_X != 0,
                };
                image.segment_count += 1;
            }
            PT_NOTE => {
                let notes = file.segment_data_as_notes(&header).map_err(|_| ImageError::Malformed)?;
                for note in notes {
                    let Note::Unknown(note) = note else { continue };
                    if trim_nul(note.name) != elfnote::OWNER {
                        continue;
                    }
                    let value = note_number(note.desc);
                    match note.n_type as u32 {
                        elfnote::HYPERCALL_PAGE => image.hypercall_page = value,
                        elfnote::VIRT_BASE => noted_base = value,
                        elfnote::ENTRY => image.entry = value.unwrap_or(image.entry),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if image.segment_count == 0 {
        return Err(ImageError::NoSegments);
    }

    let lowest = image.segments().iter().map(|segment| segment.vaddr).min().unwrap_or(0);
    image.virt_base = noted_base.unwrap_or(lowest & !0xFFF);
    check_ranges(&mut image, max_bytes)?;
    Ok(image)
}

fn trim_nul(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|&byte| byte == 0).unwrap_or(name.len());
    &name[..end]
}

fn note_number(desc: &[u8]) -> Option<u64> {
    match desc.len() {
        4 => Some(u32::from_le_bytes(desc.try_into().ok()?) as u64),
        8 => Some(u64::from_le_bytes(desc.try_into().ok()?)),
        _ => None,
    }
}

fn check_ranges(image: &mut KernelImage, max_bytes: u64) -> Result<(), ImageError> {
    let limit = image.virt_base.checked_add(max_bytes).ok_or(ImageError::SegmentOutOfRange)?;
    let mut end = image.virt_base;
    for (index, segment) in image.segments().iter().enumerate() {
        let segment_end = segment.vaddr.checked_add(segment.mem_size).ok_or(ImageError::SegmentOutOfRange)?;
        if segment.vaddr < image.virt_base || segment_end > limit {
            return Err(ImageError::SegmentOutOfRange);
        }
        for other in &image.segments()[index + 1..] {
            if segment.vaddr < other.vaddr + other.mem_size && other.vaddr < segment_end {
                return Err(ImageError::SegmentsOverlap);
            }
        }
        end = end.max(segment_end);
    }
    image.virt_end = end.div_ceil(4096) * 4096;

    let entry_ok = image.segments().iter().any(|segment| {
        segment.executable && (segment.vaddr..segment.vaddr + segment.mem_size).contains(&image.entry)
    });
    if !entry_ok {
        return Err(ImageError::BadEntry);
    }
    if let Some(page) = image.hypercall_page
        && (page % 4096 != 0 || page < image.virt_base || page + 4096 > image.virt_end)
    {
        return Err(ImageError::BadHypercallPage);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One segment for the test image builder: (vaddr, data, mem_size, flags).
    pub(crate) type TestSegment<'a> = (u64, &'a [u8], u64, u32);

    /// Builds an ELF64 x86_64 executable with the given loadable segments and Xen notes.
    pub(crate) fn build_elf(entry: u64, segments: &[TestSegment<'_>], notes: &[(u32, u64)]) -> Vec<u8> {
        let phnum = segments.len() + usize::from(!notes.is_empty());
        let header_size = 64 + 56 * phnum;
        let mut note_bytes = Vec::new();
        for &(kind, value) in notes {
            note_bytes.extend_from_slice(&4u32.to_le_bytes());
            note_bytes.extend_from_slice(&8u32.to_le_bytes());
            note_bytes.extend_from_slice(&kind.to_le_bytes());
            note_bytes.extend_from_slice(b"Xen\0");
            note_bytes.extend_from_slice(&value.to_le_bytes());
        }
        let mut file = vec![0u8; header_size];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2; // ELFCLASS64
        file[5] = 1; // little endian
        file[6] = 1; // EV_CURRENT
        file[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        file[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        file[20..24].copy_from_slice(&1u32.to_le_bytes());
        file[24..32].copy_from_slice(&entry.to_le_bytes());
        file[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        file[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        file[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        file[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
        let mut headers = Vec::new();
        for &(vaddr, data, mem_size, flags) in segments {
            let offset = file.len() as u64;
            file.extend_from_slice(data);
            headers.push((PT_LOAD, flags, offset, vaddr, data.len() as u64, mem_size));
        }
        if !notes.is_empty() {
            while file.len() % 4 != 0 {
                file.push(0);
            }
            let offset = file.len() as u64;
            file.extend_from_slice(&note_bytes);
            headers.push((PT_NOTE, 4, offset, 0, note_bytes.len() as u64, note_bytes.len() as u64));
        }
        for (index, (kind, flags, offset, vaddr, file_size, mem_size)) in headers.into_iter().enumerate() {
            let at = 64 + index * 56;
            file[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            file[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            file[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            file[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            file[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
            file[at + 32..at + 40].copy_from_slice(&file_size.to_le_bytes());
            file[at + 40..at + 48].copy_from_slice(&mem_size.to_le_bytes());
            let align: u64 = if kind == PT_NOTE { 4 } else { 4096 };
            file[at + 48..at + 56].copy_from_slice(&align.to_le_bytes());
        }
        file
    }

    const RX: u32 = PF_X | 4;
    const RW: u32 = PF_W | 4;

    #[test]
    fn parse_reads_segments_and_notes() {
        let code = [0x90u8; 32];
        let elf = build_elf(
            0x40_0000,
            &[(0x40_0000, &code, 0x2000, RX), (0x40_2000, &[1, 2, 3], 0x3000, RW)],
            &[(elfnote::HYPERCALL_PAGE, 0x40_1000), (elfnote::VIRT_BASE, 0x40_0000)],
        );
        let image = parse(&elf, 64 << 20).expect("valid image");
        assert_eq!(image.entry, 0x40_0000);
        assert_eq!(image.virt_base, 0x40_0000);
        assert_eq!(image.hypercall_page, Some(0x40_1000));
        assert_eq!(image.virt_end, 0x40_5000);
        assert_eq!(image.pages(), 5);
        assert_eq!(image.segments().len(), 2);
        assert!(image.segments()[1].writable);
        assert_eq!(image.segments()[1].file_size, 3);
    }

    #[test]
    fn parse_rejects_garbage_and_truncation() {
        assert_eq!(parse(b"not an elf at all", 1 << 20), Err(ImageError::Malformed));
        let elf = build_elf(0x40_0000, &[(0x40_0000, &[0x90; 16], 0x1000, RX)], &[]);
        assert!(parse(&elf[..70], 1 << 20).is_err());
    }

    #[test]
    fn parse_rejects_segment_beyond_file() {
        let mut elf = build_elf(0x40_0000, &[(0x40_0000, &[0x90; 16], 0x1000, RX)], &[]);
        let file_size_at = 64 + 32;
        elf[file_size_at..file_size_at + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
        elf[file_size_at + 8..file_size_at + 16].copy_from_slice(&0x10_0000u64.to_le_bytes());
        assert_eq!(parse(&elf, 64 << 20), Err(ImageError::SegmentOutsideFile));
    }

    #[test]
    fn parse_rejects_oversized_and_wrapping_images() {
        let elf = build_elf(0x40_0000, &[(0x40_0000, &[0x90; 16], 0x200_0000, RX)], &[]);
        assert_eq!(parse(&elf, 16 << 20), Err(ImageError::SegmentOutOfRange));
        let wrapping = build_elf(0x40_0000, &[(u64::MAX - 0xFFF, &[0x90; 16], 0x2000, RX)], &[(elfnote::VIRT_BASE, 0x40_0000)]);
        assert_eq!(parse(&wrapping, 16 << 20), Err(ImageError::SegmentOutOfRange));
    }

    #[test]
    fn parse_rejects_overlap_bad_entry_and_bad_hypercall_page() {
        let overlap = build_elf(0x40_0000, &[(0x40_0000, &[0x90; 16], 0x2000, RX), (0x40_1000, &[0; 4], 0x1000, RW)], &[]);
        assert_eq!(parse(&overlap, 64 << 20), Err(ImageError::SegmentsOverlap));
        let entry_in_data = build_elf(0x40_1000, &[(0x40_0000, &[0x90; 16], 0x1000, RX), (0x40_1000, &[0; 4], 0x1000, RW)], &[]);
        assert_eq!(parse(&entry_in_data, 64 << 20), Err(ImageError::BadEntry));
        let misaligned = build_elf(0x40_0000, &[(0x40_0000, &[0x90; 16], 0x2000, RX)], &[(elfnote::HYPERCALL_PAGE, 0x40_0800)]);
        assert_eq!(parse(&misaligned, 64 << 20), Err(ImageError::BadHypercallPage));
    }
}
