//! The boot information every loader's hand-over is turned into.
//!
//! GRUB (Multiboot2), QEMU's `-kernel` loader (Multiboot1) and the
//! `bootloader` crate's BIOS and UEFI stages describe memory, modules and the
//! framebuffer differently. Each is converted here into one [`BootInfo`], so
//! nothing after the entry depends on which loader ran. The type has a fixed
//! capacity because it is built before the heap exists.

use crate::bootarchive::{ArchiveError, BootArchive};
use multiboot::information::{MemoryManagement, MemoryType, Multiboot, PAddr};

/// Most memory regions kept; firmware maps on PCs have a few dozen at most.
pub const MAX_REGIONS: usize = 64;
/// Most boot modules kept (Dom0 kernel, Dom0 ramdisk, and spares).
pub const MAX_MODULES: usize = 8;
/// Longest command line kept, in bytes.
pub const MAX_CMDLINE: usize = 256;

/// Which loader handed over the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Multiboot1,
    Multiboot2,
    /// The `bootloader` crate, from a BIOS or a UEFI disk image.
    Bootloader,
}

/// A linear framebuffer the firmware or loader set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framebuffer {
    /// Physical address of the first pixel.
    pub address: u64,
    pub width: u32,
    pub height: u32,
    /// Bytes from one line to the next.
    pub pitch: u32,
    pub bits_per_pixel: u8,
}

/// A half-open range of usable physical memory, page-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryRegion {
    pub start: u64,
    pub end: u64,
}

/// A module the loader placed in memory, with its command line.
#[derive(Debug, Clone, Copy)]
pub struct BootModule {
    pub start: u64,
    pub end: u64,
    pub cmdline: FixedString<MAX_CMDLINE>,
}

/// A string copied into a fixed buffer, cut at the capacity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedString<const N: usize> {
    bytes: [u8; N],
    len: usize,
    /// Set when the text was longer than the capacity and got cut.
    truncated: bool,
}

impl<const N: usize> FixedString<N> {
    pub const fn new() -> Self {
        FixedString { bytes: [0; N], len: 0, truncated: false }
    }

    /// Copies `text`, dropping whatever does not fit (at a character boundary).
    pub fn from_str(text: &str) -> Self {
        let mut end = text.len().min(N);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut string = Self::new();
        string.bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        string.len = end;
        string.truncated = end < text.len();
        string
    }

    /// Returns true when the text was cut to fit the capacity.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for FixedString<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for FixedString<N> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), formatter)
    }
}

/// Everything the hypervisor needs from its loader.
#[derive(Debug, Clone)]
pub struct BootInfo {
    pub loader: Loader,
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
    modules: [Option<BootModule>; MAX_MODULES],
    module_count: usize,
    pub cmdline: FixedString<MAX_CMDLINE>,
    pub framebuffer: Option<Framebuffer>,
    /// Memory-map entries the loader reported beyond the capacity.
    pub dropped_regions: usize,
    /// Modules the loader passed beyond [`MAX_MODULES`], or with an end before their start.
    pub dropped_modules: usize,
}

/// Why a loader's hand-over could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootInfoError {
    /// The loader gave no memory map.
    NoMemoryMap,
    /// The Multiboot1 information structure could not be read.
    Unreadable,
    /// The `bootloader` ramdisk is not a usable boot archive.
    Archive(ArchiveError),
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::NoMemoryMap => write!(formatter, "the loader passed no memory map"),
            BootInfoError::Unreadable => write!(formatter, "the loader's information block is malformed"),
            BootInfoError::Archive(error) => write!(formatter, "{error}"),
        }
    }
}

impl BootInfo {
    pub fn new(loader: Loader) -> Self {
        BootInfo {
            loader,
            regions: [MemoryRegion::default(); MAX_REGIONS],
            region_count: 0,
            modules: [None; MAX_MODULES],
            module_count: 0,
            cmdline: FixedString::new(),
            framebuffer: None,
            dropped_regions: 0,
            dropped_modules: 0,
        }
    }

    /// Usable RAM, sorted, page-aligned and free of overlaps.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// Boot modules in loader order: module 0 is the Dom0 kernel.
    pub fn modules(&self) -> impl Iterator<Item = &BootModule> {
        self.modules[..self.module_count].iter().flatten()
    }

    pub fn module(&self, index: usize) -> Option<&BootModule> {
        self.modules.get(index).and_then(Option::as_ref)
    }

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.regions().iter().map(|region| region.end - region.start).sum()
    }

    /// One past the highest usable physical address.
    pub fn max_address(&self) -> u64 {
        self.regions().last().map_or(0, |region| region.end)
    }

    pub fn push_module(&mut self, start: u64, end: u64, cmdline: &str) {
        if self.module_count == MAX_MODULES || end < start {
            self.dropped_modules += 1;
            return;
        }
        self.modules[self.module_count] =
            Some(BootModule { start, end, cmdline: FixedString::from_str(cmdline) });
        self.module_count += 1;
    }

    /// Builds the usable-region list from a loader's raw map: each usable
    /// range minus every reserved range overlapping it, shrunk to whole pages.
    pub fn set_memory_map(&mut self, map: &[RawRegion]) {
        self.region_count = 0;
        for usable in map.iter().filter(|region| region.usable) {
            let mut pieces = Pieces::single(usable.start, usable.end);
            for reserved in map.iter().filter(|region| !region.usable) {
                pieces.subtract(reserved.start, reserved.end);
            }
            for &(start, end) in pieces.as_slice() {
                self.add_usable(start, end);
            }
        }
        self.regions[..self.region_count].sort_unstable_by_key(|region| region.start);
        self.merge_overlaps();
    }

    fn add_usable(&mut self, start: u64, end: u64) {
        let start = start.saturating_add(0xFFF) & !0xFFF;
        let end = end & !0xFFF;
        if start >= end {
            return;
        }
        if self.region_count == MAX_REGIONS {
            self.dropped_regions += 1;
            return;
        }
        self.regions[self.region_count] = MemoryRegion { start, end };
        self.region_count += 1;
    }

    fn merge_overlaps(&mut self) {
        let mut kept = 0;
        for index in 0..self.region_count {
            let region = self.regions[index];
            if kept > 0 && region.start <= self.regions[kept - 1].end {
                let last = &mut self.regions[kept - 1];
                last.end = last.end.max(region.end);
            } else {
                self.regions[kept] = region;
                kept += 1;
            }
        }
        self.region_count = kept;
    }
}

/// One entry of a loader's memory map before normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRegion {
    pub start: u64,
    pub end: u64,
    pub usable: bool,
}

/// Up to [`MAX_PIECES`] disjoint ranges left of one usable range after
/// reserved ranges are cut out of it.
struct Pieces {
    ranges: [(u64, u64); MAX_PIECES],
    count: usize,
}

const MAX_PIECES: usize = 16;

impl Pieces {
    fn single(start: u64, end: u64) -> Pieces {
        let mut ranges = [(0, 0); MAX_PIECES];
        ranges[0] = (start, end);
        Pieces { ranges, count: 1 }
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.count]
    }

    /// Removes `[cut_start, cut_end)` from every range. A range split in two
    /// whose second half finds no room keeps only its first half, which errs
    /// on the side of using less memory.
    fn subtract(&mut self, cut_start: u64, cut_end: u64) {
        let mut result = [(0, 0); MAX_PIECES];
        let mut count = 0;
        for &(start, end) in self.as_slice() {
            if cut_end <= start || cut_start >= end {
                result[count] = (start, end);
                count += 1;
                continue;
            }
            if start < cut_start {
                result[count] = (start, cut_start);
                count += 1;
            }
            if cut_end < end && count < MAX_PIECES {
                result[count] = (cut_end, end);
                count += 1;
            }
        }
        self.ranges = result;
        self.count = count;
    }
}

/// Raw map entries kept before normalisation. OVMF 2022.11 under QEMU
/// reported about 170 through the `bootloader` crate, many of them
/// neighbours of the same kind, which [`collect_raw`] joins.
const MAX_RAW_REGIONS: usize = 4 * MAX_REGIONS;

/// Copies up to [`MAX_RAW_REGIONS`] entries into a buffer, joining each entry
/// to the previous one when it continues it with the same usability. Returns
/// the buffer and how many entries it would have needed.
fn collect_raw(map: impl Iterator<Item = RawRegion>) -> (RawBuffer, usize) {
    let mut buffer = RawBuffer { regions: [RawRegion { start: 0, end: 0, usable: false }; MAX_RAW_REGIONS], count: 0 };
    let mut needed = 0;
    for region in map {
        if let Some(last) = buffer.count.checked_sub(1).map(|index| &mut buffer.regions[index])
            && last.usable == region.usable
            && last.end == region.start
        {
            last.end = region.end.max(last.end);
            continue;
        }
        needed += 1;
        if buffer.count < MAX_RAW_REGIONS {
            buffer.regions[buffer.count] = region;
            buffer.count += 1;
        }
    }
    (buffer, needed)
}

struct RawBuffer {
    regions: [RawRegion; MAX_RAW_REGIONS],
    count: usize,
}

impl core::ops::Deref for RawBuffer {
    type Target = [RawRegion];

    fn deref(&self) -> &[RawRegion] {
        &self.regions[..self.count]
    }
}

/// Converts GRUB's Multiboot2 information.
pub fn from_multiboot2(info: &multiboot2::BootInformation<'_>) -> Result<BootInfo, BootInfoError> {
    let mut boot = BootInfo::new(Loader::Multiboot2);
    let map = info.memory_map_tag().ok_or(BootInfoError::NoMemoryMap)?;
    let raw = map.memory_areas().iter().map(|area| RawRegion {
        start: area.start_address(),
        end: area.end_address(),
        usable: multiboot2::MemoryAreaType::from(area.typ()) == multiboot2::MemoryAreaType::Available,
    });
    let (raw, count) = collect_raw(raw);
    boot.dropped_regions += count.saturating_sub(raw.len());
    boot.set_memory_map(&raw);
    for module in info.module_tags() {
        let cmdline = module.cmdline().unwrap_or("");
        boot.push_module(module.start_address() as u64, module.end_address() as u64, cmdline);
    }
    if let Some(Ok(cmdline)) = info.command_line_tag().map(|tag| tag.cmdline()) {
        boot.cmdline = FixedString::from_str(cmdline);
    }
    // EGA text mode is not a pixel framebuffer, so it is left out.
    if let Some(Ok(tag)) = info.framebuffer_tag()
        && !matches!(tag.buffer_type(), Ok(multiboot2::FramebufferType::Text) | Err(_))
    {
        boot.framebuffer = Some(Framebuffer {
            address: tag.address(),
            width: tag.width(),
            height: tag.height(),
            pitch: tag.pitch(),
            bits_per_pixel: tag.bpp(),
        });
    }
    Ok(boot)
}

/// The parts of the `bootloader` crate's hand-over the entry read, with
/// physical addresses throughout: the memory map, the ramdisk and the
/// framebuffer. The ramdisk is its mapped bytes and the physical address of
/// its first byte, since the loader places it in one contiguous run of frames.
pub struct BootloaderHandover<'a> {
    pub regions: &'a [bootloader_api::info::MemoryRegion],
    pub ramdisk: Option<(&'a [u8], u64)>,
    pub framebuffer: Option<Framebuffer>,
}

/// Converts the `bootloader` crate's hand-over. Only `Usable` memory is
/// usable: the loader marks its own page tables, boot information, the
/// kernel and the ramdisk `Bootloader`, and firmware types stay reserved.
/// The modules and the command line come from the boot archive in the
/// ramdisk (see [`crate::bootarchive`]); without a ramdisk there are none.
pub fn from_bootloader(handover: &BootloaderHandover<'_>) -> Result<BootInfo, BootInfoError> {
    use bootloader_api::info::MemoryRegionKind;

    let mut boot = BootInfo::new(Loader::Bootloader);
    if handover.regions.is_empty() {
        return Err(BootInfoError::NoMemoryMap);
    }
    let raw = handover.regions.iter().map(|region| RawRegion {
        start: region.start,
        end: region.end.max(region.start),
        usable: region.kind == MemoryRegionKind::Usable,
    });
    let (raw, count) = collect_raw(raw);
    boot.dropped_regions += count.saturating_sub(raw.len());
    boot.set_memory_map(&raw);
    boot.framebuffer = handover.framebuffer;

    if let Some((bytes, physical_start)) = handover.ramdisk {
        let archive = BootArchive::parse(bytes).map_err(BootInfoError::Archive)?;
        boot.cmdline = FixedString::from_str(archive.cmdline);
        archive
            .for_each_module(|module| {
                let start = physical_start + module.offset as u64;
                boot.push_module(start, start + module.length as u64, module.cmdline);
            })
            .map_err(BootInfoError::Archive)?;
    }
    Ok(boot)
}

/// Converts Multiboot1 information (QEMU's `-kernel` loader).
pub fn from_multiboot1(info: &Multiboot<'_, '_>) -> Result<BootInfo, BootInfoError> {
    let mut boot = BootInfo::new(Loader::Multiboot1);
    let map = info.memory_regions().ok_or(BootInfoError::NoMemoryMap)?;
    let raw = map.map(|region| RawRegion {
        start: region.base_address(),
        end: region.base_address().saturating_add(region.length()),
        usable: region.memory_type() == MemoryType::Available,
    });
    let (raw, count) = collect_raw(raw);
    boot.dropped_regions += count.saturating_sub(raw.len());
    boot.set_memory_map(&raw);
    if let Some(modules) = info.modules() {
        for module in modules {
            boot.push_module(module.start, module.end, module.string.unwrap_or(""));
        }
    }
    if let Some(cmdline) = info.command_line() {
        boot.cmdline = FixedString::from_str(cmdline);
    }
    if let Some(table) = info.framebuffer_table()
        && !matches!(table.color_info(), Some(multiboot::information::ColorInfoType::Text) | None)
    {
        boot.framebuffer = Some(Framebuffer {
            address: table.addr,
            width: table.width,
            height: table.height,
            pitch: table.pitch,
            bits_per_pixel: table.bpp,
        });
    }
    Ok(boot)
}

/// Reads Multiboot1 structures through the hypervisor's identity map of low memory.
pub struct IdentityMapped;

impl MemoryManagement for IdentityMapped {
    unsafe fn paddr_to_slice(&self, addr: PAddr, length: usize) -> Option<&'static [u8]> {
        if addr == 0 || addr.checked_add(length as u64)? > u32::MAX as u64 + 1 {
            return None;
        }
        // SAFETY: the caller (the multiboot crate, on the hypervisor's behalf)
        // names a range the loader wrote below 4 GiB, which the boot page
        // tables map one to one and nothing frees before the conversion ends.
        Some(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, length) })
    }

    unsafe fn allocate(&mut self, _length: usize) -> Option<(PAddr, &mut [u8])> {
        None
    }

    unsafe fn deallocate(&mut self, _addr: PAddr) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(start: u64, end: u64) -> RawRegion {
        RawRegion { start, end, usable: true }
    }

    fn reserved(start: u64, end: u64) -> RawRegion {
        RawRegion { start, end, usable: false }
    }

    #[test]
    fn memory_map_aligns_and_sorts() {
        let mut boot = BootInfo::new(Loader::Multiboot2);
        let map = [usable(0x10_0000, 0x800_0000), usable(0x500, 0x9_FC00)];
        boot.set_memory_map(&map);
        assert_eq!(
            boot.regions(),
            &[MemoryRegion { start: 0x1000, end: 0x9_F000 }, MemoryRegion { start: 0x10_0000, end: 0x800_0000 }]
        );
    }

    #[test]
    fn memory_map_reserved_wins_over_usable() {
        let mut boot = BootInfo::new(Loader::Multiboot1);
        let map = [usable(0, 0x100_0000), reserved(0x20_0000, 0x30_0000), reserved(0xF0_0000, 0x200_0000)];
        boot.set_memory_map(&map);
        assert_eq!(
            boot.regions(),
            &[MemoryRegion { start: 0, end: 0x20_0000 }, MemoryRegion { start: 0x30_0000, end: 0xF0_0000 }]
        );
    }

    #[test]
    fn memory_map_merges_overlapping_usable() {
        let mut boot = BootInfo::new(Loader::Multiboot2);
        let map = [usable(0x10_0000, 0x40_0000), usable(0x30_0000, 0x50_0000)];
        boot.set_memory_map(&map);
        assert_eq!(boot.regions(), &[MemoryRegion { start: 0x10_0000, end: 0x50_0000 }]);
        assert_eq!(boot.usable_bytes(), 0x40_0000);
        assert_eq!(boot.max_address(), 0x50_0000);
    }

    #[test]
    fn modules_beyond_capacity_are_counted() {
        let mut boot = BootInfo::new(Loader::Multiboot2);
        for index in 0..MAX_MODULES as u64 + 2 {
            boot.push_module(index * 0x1000, index * 0x1000 + 10, "m");
        }
        assert_eq!(boot.modules().count(), MAX_MODULES);
        assert_eq!(boot.dropped_modules, 2);
        assert_eq!(boot.dropped_regions, 0);
    }

    #[test]
    fn fixed_string_cuts_at_char_boundary() {
        let text = "é".repeat(200);
        let fixed: FixedString<MAX_CMDLINE> = FixedString::from_str(&text);
        assert_eq!(fixed.as_str().len(), 256);
        assert!(fixed.is_truncated());
        let odd: FixedString<3> = FixedString::from_str("éé");
        assert_eq!(odd.as_str(), "é");
        assert!(odd.is_truncated());
        let fits: FixedString<4> = FixedString::from_str("éé");
        assert!(!fits.is_truncated());
    }

    #[test]
    fn multiboot2_conversion_reads_map_modules_cmdline() {
        use multiboot2::{Builder, CommandLineTag, MemoryArea, MemoryAreaType, MemoryMapTag, ModuleTag};
        let bytes = Builder::new()
            .cmdline(CommandLineTag::new("console=com1 dom0_mem=64"))
            .mmap(MemoryMapTag::new(&[
                MemoryArea::new(0, 0x9_FC00, MemoryAreaType::Available),
                MemoryArea::new(0xF_0000, 0x1_0000, MemoryAreaType::Reserved),
                MemoryArea::new(0x10_0000, 0x3FF0_0000, MemoryAreaType::Available),
            ]))
            .add_module(ModuleTag::new(0x20_0000, 0x30_0000, "dom0"))
            .add_module(ModuleTag::new(0x30_0000, 0x31_0000, "initrd"))
            .build();
        // SAFETY: `bytes` is a complete, aligned Multiboot2 information block
        // built just above and alive for the whole call.
        let info = unsafe { multiboot2::BootInformation::load(core::ptr::from_ref(&*bytes).cast()) }.expect("valid info");
        let boot = from_multiboot2(&info).expect("conversion");
        assert_eq!(boot.loader, Loader::Multiboot2);
        assert_eq!(boot.regions().len(), 2);
        assert_eq!(boot.regions()[1], MemoryRegion { start: 0x10_0000, end: 0x4000_0000 });
        let modules: Vec<_> = boot.modules().collect();
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].start, 0x20_0000);
        assert_eq!(modules[0].cmdline.as_str(), "dom0");
        assert_eq!(modules[1].end, 0x31_0000);
        assert_eq!(boot.cmdline.as_str(), "console=com1 dom0_mem=64");
    }

    #[test]
    fn multiboot2_without_modules_or_framebuffer() {
        use multiboot2::{Builder, MemoryArea, MemoryAreaType, MemoryMapTag};
        let bytes = Builder::new()
            .mmap(MemoryMapTag::new(&[MemoryArea::new(0x10_0000, 0x100_0000, MemoryAreaType::Available)]))
            .build();
        // SAFETY: as in the test above.
        let info = unsafe { multiboot2::BootInformation::load(core::ptr::from_ref(&*bytes).cast()) }.expect("valid info");
        let boot = from_multiboot2(&info).expect("conversion");
        assert_eq!(boot.modules().count(), 0);
        assert_eq!(boot.framebuffer, None);
        assert_eq!(boot.cmdline.as_str(), "");
    }

    #[test]
    fn multiboot2_without_map_is_an_error() {
        let bytes = multiboot2::Builder::new().build();
        // SAFETY: as in the test above.
        let info = unsafe { multiboot2::BootInformation::load(core::ptr::from_ref(&*bytes).cast()) }.expect("valid info");
        assert_eq!(from_multiboot2(&info).err(), Some(BootInfoError::NoMemoryMap));
    }

    fn region(start: u64, end: u64, kind: bootloader_api::info::MemoryRegionKind) -> bootloader_api::info::MemoryRegion {
        bootloader_api::info::MemoryRegion { start, end, kind }
    }

    #[test]
    fn bootloader_map_keeps_only_usable_and_cuts_overlaps() {
        use bootloader_api::info::MemoryRegionKind::{Bootloader, UnknownBios, UnknownUefi, Usable};
        let regions = [
            region(0x1000, 0x9_F000, Usable),
            region(0x10_0000, 0x200_0000, Usable),
            // The loader's own frames, reported inside a usable range.
            region(0x40_0000, 0x60_0000, Bootloader),
            // Two usable entries overlapping each other.
            region(0x180_0000, 0x300_0000, Usable),
            // Firmware types stay reserved, even where they overlap usable RAM.
            region(0x280_0000, 0x290_0000, UnknownUefi(9)),
            region(0xE_0000, 0x10_0000, UnknownBios(2)),
            // An inverted entry is ignored rather than trusted.
            region(0x500_0000, 0x400_0000, Usable),
        ];
        let handover = BootloaderHandover { regions: &regions, ramdisk: None, framebuffer: None };
        let boot = from_bootloader(&handover).expect("conversion");
        assert_eq!(boot.loader, Loader::Bootloader);
        assert_eq!(
            boot.regions(),
            &[
                MemoryRegion { start: 0x1000, end: 0x9_F000 },
                MemoryRegion { start: 0x10_0000, end: 0x40_0000 },
                MemoryRegion { start: 0x60_0000, end: 0x280_0000 },
                MemoryRegion { start: 0x290_0000, end: 0x300_0000 },
            ]
        );
        assert_eq!(boot.modules().count(), 0);
        assert_eq!(boot.cmdline.as_str(), "");
    }

    #[test]
    fn raw_map_joins_neighbours_of_one_kind() {
        use bootloader_api::info::MemoryRegionKind::{Usable, UnknownUefi};
        // A UEFI-sized map: 600 one-page entries alternating between runs of
        // usable and reserved memory, far more than MAX_RAW_REGIONS.
        let regions: Vec<_> = (0..600u64)
            .map(|page| {
                let kind = if (page / 10) % 2 == 0 { Usable } else { UnknownUefi(6) };
                region(0x10_0000 + page * 0x1000, 0x10_1000 + page * 0x1000, kind)
            })
            .collect();
        let handover = BootloaderHandover { regions: &regions, ramdisk: None, framebuffer: None };
        let boot = from_bootloader(&handover).expect("conversion");
        assert_eq!(boot.dropped_regions, 0);
        assert_eq!(boot.regions().len(), 30);
        assert_eq!(boot.regions()[1], MemoryRegion { start: 0x10_0000 + 20 * 0x1000, end: 0x10_0000 + 30 * 0x1000 });
    }

    #[test]
    fn bootloader_without_regions_is_an_error() {
        let handover = BootloaderHandover { regions: &[], ramdisk: None, framebuffer: None };
        assert_eq!(from_bootloader(&handover).err(), Some(BootInfoError::NoMemoryMap));
    }

    #[test]
    fn bootloader_ramdisk_archive_gives_modules_at_physical_addresses() {
        use crate::bootarchive::tests::archive;
        use bootloader_api::info::MemoryRegionKind::Usable;
        let bytes = archive(&[
            ("cmdline", b"console=com1 dom0_mem=96\n"),
            ("modules", b"dom0 dom0\ndom0.cpio initrd\n"),
            ("dom0", b"\x7fELF"),
            ("dom0.cpio", b"0707"),
        ]);
        let regions = [region(0x10_0000, 0x4000_0000, Usable)];
        let framebuffer = Framebuffer { address: 0xFD00_0000, width: 1280, height: 720, pitch: 5120, bits_per_pixel: 32 };
        let handover =
            BootloaderHandover { regions: &regions, ramdisk: Some((&bytes, 0x80_0000)), framebuffer: Some(framebuffer) };
        let boot = from_bootloader(&handover).expect("conversion");
        assert_eq!(boot.cmdline.as_str(), "console=com1 dom0_mem=96");
        assert_eq!(boot.framebuffer, Some(framebuffer));
        let modules: Vec<_> = boot.modules().collect();
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].cmdline.as_str(), "dom0");
        assert_eq!(modules[0].end - modules[0].start, 4);
        let offset = (modules[0].start - 0x80_0000) as usize;
        assert_eq!(&bytes[offset..offset + 4], b"\x7fELF");
        assert_eq!(modules[1].cmdline.as_str(), "initrd");
        let offset = (modules[1].start - 0x80_0000) as usize;
        assert_eq!(&bytes[offset..offset + 4], b"0707");
    }

    #[test]
    fn bootloader_empty_module_list_and_broken_archive() {
        use crate::bootarchive::tests::archive;
        use bootloader_api::info::MemoryRegionKind::Usable;
        let regions = [region(0x10_0000, 0x4000_0000, Usable)];
        let empty = archive(&[("modules", b"")]);
        let handover = BootloaderHandover { regions: &regions, ramdisk: Some((&empty, 0x80_0000)), framebuffer: None };
        assert_eq!(from_bootloader(&handover).expect("conversion").modules().count(), 0);

        let unlisted = archive(&[("modules", b"dom0 dom0\n")]);
        let handover = BootloaderHandover { regions: &regions, ramdisk: Some((&unlisted, 0x80_0000)), framebuffer: None };
        assert!(matches!(from_bootloader(&handover), Err(BootInfoError::Archive(ArchiveError::MissingFile(_)))));
    }

    /// Serves a fake physical memory image to the multiboot crate.
    struct FakeMemory(&'static [u8]);

    impl MemoryManagement for FakeMemory {
        unsafe fn paddr_to_slice(&self, addr: PAddr, length: usize) -> Option<&'static [u8]> {
            let start = addr as usize;
            self.0.get(start..start.checked_add(length)?)
        }
        unsafe fn allocate(&mut self, _length: usize) -> Option<(PAddr, &mut [u8])> {
            None
        }
        unsafe fn deallocate(&mut self, _addr: PAddr) {}
    }

    fn put32(image: &mut [u8], offset: usize, value: u32) {
        image[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn put64(image: &mut [u8], offset: usize, value: u64) {
        image[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn multiboot1_conversion_reads_map_and_modules() {
        // Layout: info at 0x100, mmap at 0x200, module list at 0x300, strings at 0x400.
        let mut image = vec![0u8; 0x1000];
        put32(&mut image, 0x100, (1 << 2) | (1 << 3) | (1 << 6)); // cmdline, mods, mmap
        put32(&mut image, 0x100 + 16, 0x400); // cmdline
        put32(&mut image, 0x100 + 20, 2); // mods_count
        put32(&mut image, 0x100 + 24, 0x300); // mods_addr
        put32(&mut image, 0x100 + 44, 2 * 24); // mmap_length
        put32(&mut image, 0x100 + 48, 0x200); // mmap_addr
        for (index, (base, length, kind)) in [(0u64, 0x9_F000u64, 1u32), (0x10_0000, 0x1000_0000, 1)].iter().enumerate() {
            let entry = 0x200 + index * 24;
            put32(&mut image, entry, 20);
            put64(&mut image, entry + 4, *base);
            put64(&mut image, entry + 12, *length);
            put32(&mut image, entry + 20, *kind);
        }
        for (index, (start, end, name)) in [(0x20_0000u32, 0x28_0000u32, 0x410u32), (0x28_0000, 0x29_0000, 0x420)].iter().enumerate() {
            let entry = 0x300 + index * 16;
            put32(&mut image, entry, *start);
            put32(&mut image, entry + 4, *end);
            put32(&mut image, entry + 8, *name);
        }
        image[0x400..0x40C].copy_from_slice(b"console=com1");
        image[0x410..0x414].copy_from_slice(b"dom0");
        image[0x420..0x426].copy_from_slice(b"initrd");
        let image: &'static [u8] = Box::leak(image.into_boxed_slice());
        let mut memory = FakeMemory(image);
        // SAFETY: 0x100 holds a Multiboot1 information block in `image`, and
        // FakeMemory bounds-checks every translation.
        let info = unsafe { Multiboot::from_ptr(0x100, &mut memory) }.expect("info");
        let boot = from_multiboot1(&info).expect("conversion");
        assert_eq!(boot.loader, Loader::Multiboot1);
        assert_eq!(boot.regions(), &[MemoryRegion { start: 0, end: 0x9_F000 }, MemoryRegion { start: 0x10_0000, end: 0x1010_0000 }]);
        let modules: Vec<_> = boot.modules().collect();
        assert_eq!(modules.len(), 2);
        assert_eq!(modules[0].cmdline.as_str(), "dom0");
        assert_eq!(modules[1].start, 0x28_0000);
        assert_eq!(boot.cmdline.as_str(), "console=com1");
    }
}
