//! The Dom0 builder: turns boot module 0 (a PV kernel ELF) and module 1
//! (its ramdisk) into a running domain, the way Xen's `dom0_build.c` does.
//!
//! Steps: check the ELF, take the domain's frames, plan the bootstrap layout,
//! copy the kernel and ramdisk, write the hypercall page, the P2M array and
//! `start_info`, build the page tables (every page mapped from the virtual
//! base, page tables read-only, the entry area in its reserved slot), set up
//! `shared_info`, and point vCPU 0 at the entry in ring 1.

use super::domain::Domain;
use crate::arch::entry::TrapFrame;
use crate::arch::memory::{self, frame_pointer, zero_frame};
use crate::arch::paging::write_entry;
use crate::bootinfo::BootInfo;
use pvbuild::domlayout::{self, DomainLayout};
use pvbuild::elfload::{self, KernelImage};
use crate::frames::{FRAME_SIZE, Mfn};
use crate::frametable::{FrameType, PageType};
use super::mmu::IdentityTables;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use hypercalls::selectors;
use hypercalls::shared::{self, START_INFO_MAGIC, StartInfo};

/// Dom0's memory when the command line has no `dom0_mem=`.
const DEFAULT_DOM0_MIB: u64 = 128;
/// Memory the hypervisor keeps back from Dom0 when sizing it.
const HYPERVISOR_RESERVE_MIB: u64 = 16;

/// A reason Dom0 could not be built.
pub enum BuildError {
    /// No module 0; the loader decides which advice fits.
    MissingKernel(crate::bootinfo::Loader),
    BadKernel(elfload::ImageError),
    Layout(domlayout::LayoutError),
    OutOfMemory { wanted_mib: u64, free_mib: u64 },
    BadOption(String),
    /// The builder's own page tables failed validation: a hypervisor bug.
    Tables(crate::frametable::FrameError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::MissingKernel(crate::bootinfo::Loader::Bootloader) => write!(
                formatter,
                "no Dom0 kernel: the boot archive lists no modules; add a line `dom0 dom0` to its `modules` file"
            ),
            BuildError::MissingKernel(crate::bootinfo::Loader::Multiboot1) => {
                write!(formatter, "no Dom0 kernel: the loader passed no modules; give QEMU `-initrd 'dom0 dom0,dom0.cpio initrd'`")
            }
            BuildError::MissingKernel(crate::bootinfo::Loader::Multiboot2) => {
                write!(formatter, "no Dom0 kernel: the loader passed no modules; add `module2 /boot/dom0` after the multiboot2 line")
            }
            BuildError::BadKernel(problem) => write!(formatter, "the Dom0 kernel (module 1) is unusable: {}", problem.describe()),
            BuildError::Layout(domlayout::LayoutError::TooSmall { needed }) => write!(
                formatter,
                "Dom0's memory is too small for its kernel, ramdisk and tables: {needed} pages needed; raise dom0_mem"
            ),
            BuildError::Layout(domlayout::LayoutError::AddressOverflow) => {
                write!(formatter, "Dom0's memory would not fit below the kernel's virtual base limit; lower dom0_mem")
            }
            BuildError::OutOfMemory { wanted_mib, free_mib } => {
                write!(formatter, "dom0_mem={wanted_mib} MiB but only {free_mib} MiB are free; lower dom0_mem")
            }
            BuildError::BadOption(text) => write!(formatter, "{text}"),
            BuildError::Tables(error) => write!(formatter, "the bootstrap page tables failed validation ({error:?}): a builder bug"),
        }
    }
}

/// Reads `dom0_mem=` (MiB, or with a K, M or G suffix) from the command line.
fn dom0_mem_mib(cmdline: &str) -> Result<Option<u64>, BuildError> {
    let Some(value) = cmdline.split_whitespace().find_map(|word| word.strip_prefix("dom0_mem=")) else {
        return Ok(None);
    };
    let (digits, scale_kib) = match value.as_bytes().last() {
        Some(b'G' | b'g') => (&value[..value.len() - 1], 1024 * 1024),
        Some(b'M' | b'm') => (&value[..value.len() - 1], 1024),
        Some(b'K' | b'k') => (&value[..value.len() - 1], 1),
        _ => (value, 1024),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| BuildError::BadOption(alloc::format!("invalid dom0_mem value '{value}': use MiB, e.g. dom0_mem=128M")))?;
    Ok(Some(number.saturating_mul(scale_kib) / 1024))
}

/// Returns the bytes of a boot module, read through the identity map.
fn module_bytes(boot: &BootInfo, index: usize) -> Option<&'static [u8]> {
    let module = boot.module(index)?;
    let length = usize::try_from(module.end.checked_sub(module.start)?).ok()?;
    // SAFETY: the loader placed the module in RAM below 4 GiB; the frame
    // allocator reserved its frames, so nothing else writes them, and the
    // identity map covers them for the hypervisor's whole life.
    Some(unsafe { core::slice::from_raw_parts(module.start as usize as *const u8, length) })
}

pub fn build_dom0(boot: &BootInfo) -> Result<Domain, BuildError> {
    let kernel = module_bytes(boot, 0).ok_or(BuildError::MissingKernel(boot.loader))?;
    let ramdisk = module_bytes(boot, 1).unwrap_or(&[]);
    let command_line = boot.module(0).map(|module| module.cmdline.as_str()).unwrap_or("");

    let free_mib = memory::with(|memory| memory.frames.free_frames()) / 256;
    let wanted_mib = dom0_mem_mib(boot.cmdline.as_str())?
        .unwrap_or_else(|| DEFAULT_DOM0_MIB.min(free_mib.saturating_sub(HYPERVISOR_RESERVE_MIB)));
    if wanted_mib == 0 || wanted_mib + HYPERVISOR_RESERVE_MIB > free_mib {
        return Err(BuildError::OutOfMemory { wanted_mib, free_mib });
    }
    let nr_pages = wanted_mib * 256;

    let image = elfload::parse(kernel, nr_pages * FRAME_SIZE).map_err(BuildError::BadKernel)?;
    let layout = domlayout::plan(image.virt_base, nr_pages, image.pages(), ramdisk.len() as u64, false).map_err(BuildError::Layout)?;
    let frames = allocate_frames(0, nr_pages).ok_or(BuildError::OutOfMemory { wanted_mib, free_mib })?;

    load_kernel(&image, kernel, &frames);
    copy_into(&frames, layout.ramdisk_pfn * FRAME_SIZE, ramdisk);
    let p2m_bytes: Vec<u8> = frames.iter().flat_map(|mfn| mfn.to_le_bytes()).collect();
    copy_into(&frames, layout.p2m_pfn * FRAME_SIZE, &p2m_bytes);
    let l4 = build_page_tables(&layout, &frames, 0)?;
    let shared_info = make_shared_info(0).ok_or(BuildError::OutOfMemory { wanted_mib, free_mib })?;

    let mut start_info = StartInfo::zeroed();
    start_info.magic[..START_INFO_MAGIC.len()].copy_from_slice(START_INFO_MAGIC);
    start_info.nr_pages = nr_pages;
    start_info.shared_info = shared_info * FRAME_SIZE;
    start_info.flags = shared::SIF_PRIVILEGED | shared::SIF_INITDOMAIN;
    start_info.pt_base = layout.address_of(layout.page_table_pfn);
    start_info.nr_pt_frames = layout.page_tables.total();
    start_info.mfn_list = layout.address_of(layout.p2m_pfn);
    start_info.mod_start = if ramdisk.is_empty() { 0 } else { layout.address_of(layout.ramdisk_pfn) };
    start_info.mod_len = ramdisk.len() as u64;
    let length = command_line.len().min(shared::MAX_GUEST_CMDLINE - 1);
    start_info.cmd_line[..length].copy_from_slice(&command_line.as_bytes()[..length]);
    // SAFETY: StartInfo is repr(C) integers, so its bytes may be read as a slice.
    let start_info_bytes = unsafe {
        core::slice::from_raw_parts((&raw const start_info).cast::<u8>(), core::mem::size_of::<StartInfo>())
    };
    copy_into(&frames, layout.start_info_pfn * FRAME_SIZE, start_info_bytes);

    let frame = TrapFrame {
        rip: image.entry,
        cs: selectors::GUEST_KERNEL_CS as u64,
        rflags: 0x202,
        rsp: layout.address_of(layout.stack_pfn + 1),
        ss: selectors::GUEST_KERNEL_SS as u64,
        rsi: layout.address_of(layout.start_info_pfn),
        ..TrapFrame::default()
    };
    let mut dom0 = Domain::new_paused(0, shared_info);
    dom0.name = "Domain-0".to_string();
    dom0.privileged = true;
    dom0.max_pages = nr_pages;
    dom0.memory = frames;
    dom0.ramdisk_bytes = ramdisk.len() as u64;
    dom0.paused = false;
    dom0.vcpu.frame = frame;
    dom0.vcpu.cr3 = l4 * FRAME_SIZE;
    dom0.vcpu.initialised = true;
    Ok(dom0)
}

/// Takes `count` zeroed frames for `domain`, frame `i` backing its guest
/// frame `i` in the M2P; on shortage returns every frame taken.
fn allocate_frames(domain: hypercalls::DomId, count: u64) -> Option<Vec<Mfn>> {
    memory::with(|memory| {
        let mut frames = Vec::with_capacity(count as usize);
        for _ in 0..count {
            match memory.frames.allocate() {
                Some(mfn) => frames.push(mfn),
                None => {
                    for &mfn in &frames {
                        memory.frames.free(mfn);
                    }
                    return None;
                }
            }
        }
        for (pfn, &mfn) in frames.iter().enumerate() {
            zero_frame(mfn);
            memory.table.assign(mfn, domain, FrameType::Plain);
            memory.m2p.set(mfn, pfn as u64);
        }
        Some(frames)
    })
}

/// Copies `data` into the domain's pseudo-physical memory at byte `offset`.
fn copy_into(frames: &[Mfn], offset: u64, data: &[u8]) {
    let mut done = 0usize;
    while done < data.len() {
        let position = offset + done as u64;
        let page = (position / FRAME_SIZE) as usize;
        let within = (position % FRAME_SIZE) as usize;
        let length = (FRAME_SIZE as usize - within).min(data.len() - done);
        // SAFETY: the layout placed `data` inside the domain's pages, every
        // one of which is a frame the builder owns and the identity map covers.
        unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), frame_pointer(frames[page]).add(within), length) };
        done += length;
    }
}

fn load_kernel(image: &KernelImage, kernel: &[u8], frames: &[Mfn]) {
    for segment in image.segments() {
        let offset = segment.vaddr - image.virt_base;
        let data = &kernel[segment.offset as usize..(segment.offset + segment.file_size) as usize];
        copy_into(frames, offset, data);
    }
    if let Some(address) = image.hypercall_page {
        copy_into(frames, address - image.virt_base, &hypercalls::page::build());
    }
}

/// Builds the bootstrap page tables in the layout's page-table pages and
/// pins them; returns the L4's frame.
fn build_page_tables(layout: &DomainLayout, frames: &[Mfn], domain: hypercalls::DomId) -> Result<Mfn, BuildError> {
    let l4 = frames[layout.page_table_pfn as usize];
    for (table, index, entry) in layout.page_table_entries(frames) {
        write_entry(frames[table as usize], index, entry);
    }

    // Pinning validates the whole tree, types every table and installs the
    // entry area in the L4; the second reference is the one vCPU 0's CR3 holds.
    memory::with(|memory| {
        memory.table.pin(&mut IdentityTables, l4, 4, domain)?;
        memory.table.get_type(&mut IdentityTables, l4, PageType::Table(4))
    })
    .map_err(BuildError::Tables)?;
    Ok(l4)
}

/// Takes the `shared_info` frame for `domain`, with every vCPU's events masked.
pub fn make_shared_info(domain: hypercalls::DomId) -> Option<Mfn> {
    memory::with(|memory| {
        let mfn = memory.frames.allocate()?;
        zero_frame(mfn);
        memory.table.assign(mfn, domain, FrameType::SharedInfo);
        let pointer = frame_pointer(mfn) as *mut shared::SharedInfo;
        for vcpu in 0..shared::LEGACY_MAX_VCPUS {
            // SAFETY: the frame is fresh, identity-mapped and page-sized, and
            // no guest maps it yet.
            unsafe { core::ptr::addr_of_mut!((*pointer).vcpu_info[vcpu].evtchn_upcall_mask).write(1) };
        }
        Some(mfn)
    })
}
