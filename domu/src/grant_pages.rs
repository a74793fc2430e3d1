//! The pages and grant table behind the shell's `grant-*` commands.
//!
//! The domain offers pages from [`OFFERED`], one per ref from
//! [`FIRST_REF`], and maps peers' grants at the pages of [`WINDOWS`], whose
//! own frames are mapped back after each unmap. The grant table frame is
//! set up on first use and mapped at [`TABLE`], whose own frame then stays
//! unmapped. The domain has one vCPU and the shell runs one command at a
//! time, so the statics are never accessed concurrently.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU16, Ordering};

use domu::grant_commands::{Revoke, checksum, pattern_byte};
use hypercalls::grant::{GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTST_OKAY, GTF_PERMIT_ACCESS, GrantEntryV1, GrantHandle, GrantRef, status_name};
use hypercalls::DomId;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

const PAGES: usize = 4;
/// Xen reserves refs 0-7 for the toolstack.
const FIRST_REF: GrantRef = 8;
/// Present, writable, accessed, dirty.
const WRITABLE_PTE: u64 = 0x63;

static mut TABLE: Page = Page([0; 4096]);
static mut OFFERED: [Page; PAGES] = [const { Page([0; 4096]) }; PAGES];
static mut WINDOWS: [Page; PAGES] = [const { Page([0; 4096]) }; PAGES];

/// Which offer pages are granted and which windows hold a mapping.
pub struct GrantPages {
    table_ready: bool,
    offered: [bool; PAGES],
    windows: [Option<GrantHandle>; PAGES],
}

impl GrantPages {
    pub const fn new() -> GrantPages {
        GrantPages { table_ready: false, offered: [false; PAGES], windows: [None; PAGES] }
    }

    /// Sets up a one-frame grant table and maps it at [`TABLE`], once.
    fn ensure_table(&mut self) -> Result<(), String> {
        if self.table_ready {
            return Ok(());
        }
        let mut frames = [0u64; 1];
        let op = guest::grant::setup_table(&mut frames).map_err(|errno| format!("setup_table failed: {errno}"))?;
        if op.status != GNTST_OKAY {
            return Err(format!("setup_table failed: status {} ({})", op.status, status_name(op.status)));
        }
        guest::hypercall::update_va_mapping(&raw const TABLE as u64, frames[0] << 12 | WRITABLE_PTE)
            .map_err(|errno| format!("mapping grant table frame {:#x} failed: {errno}", frames[0]))?;
        self.table_ready = true;
        Ok(())
    }

    fn entry(&mut self, gref: GrantRef) -> Result<*mut GrantEntryV1, String> {
        self.ensure_table()?;
        let entries = 4096 / size_of::<GrantEntryV1>() as u32;
        if gref >= entries {
            return Err(format!("gref {gref} is outside the one-frame table of {entries} entries"));
        }
        Ok((&raw mut TABLE).cast::<GrantEntryV1>().wrapping_add(gref as usize))
    }

    /// Returns the flags of entry `gref` as an atomic.
    fn flags(&mut self, gref: GrantRef) -> Result<&'static AtomicU16, String> {
        let entry = self.entry(gref)?;
        // SAFETY: the entry lies in the table frame mapped at TABLE, `flags`
        // is its first, 2-byte aligned field, and the hypervisor updates it
        // with atomic operations too.
        Ok(unsafe { AtomicU16::from_ptr(core::ptr::addr_of_mut!((*entry).flags)) })
    }

    pub fn offer(&mut self, peer: DomId) -> Result<(GrantRef, u32), String> {
        self.ensure_table()?;
        let slot = self.offered.iter().position(|&used| !used).ok_or(format!("all {PAGES} offer pages are granted"))?;
        let gref = FIRST_REF + slot as GrantRef;
        let page = (&raw mut OFFERED).cast::<Page>().wrapping_add(slot);
        // SAFETY: the page is this image's and is not granted, so no peer maps it.
        let bytes = unsafe { &mut (*page).0 };
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = pattern_byte(gref, index);
        }
        let sum = checksum(bytes.iter().copied());
        let frame = machine_frame(page as u64);
        let entry = self.entry(gref)?;
        // SAFETY: as in `flags`. The grant protocol writes domid and frame
        // before the flags that make the entry valid.
        unsafe {
            core::ptr::addr_of_mut!((*entry).domid).write_volatile(peer);
            core::ptr::addr_of_mut!((*entry).frame).write_volatile(frame as u32);
        }
        self.flags(gref)?.store(GTF_PERMIT_ACCESS, Ordering::SeqCst);
        self.offered[slot] = true;
        Ok((gref, sum))
    }

    pub fn map(&mut self, granter: DomId, gref: GrantRef, writable: bool) -> Result<(GrantHandle, u32), String> {
        let slot = self.windows.iter().position(Option::is_none).ok_or(format!("all {PAGES} map windows hold a mapping"))?;
        let flags = GNTMAP_HOST_MAP | if writable { 0 } else { GNTMAP_READONLY };
        let op = guest::grant::map(window(slot), flags, gref, granter)
            .map_err(|errno| format!("grant_table_op(map_grant_ref) failed: {errno}"))?;
        if op.status != GNTST_OKAY {
            return Err(format!("map of gref {gref} of domain {granter} failed: status {} ({})", op.status, status_name(op.status)));
        }
        self.windows[slot] = Some(op.handle);
        Ok((op.handle, window_checksum(slot)))
    }

    fn window_of(&self, handle: GrantHandle) -> Result<usize, String> {
        self.windows.iter().position(|&held| held == Some(handle)).ok_or(format!("no mapping has handle {handle}"))
    }

    pub fn read(&mut self, handle: GrantHandle) -> Result<u32, String> {
        Ok(window_checksum(self.window_of(handle)?))
    }

    pub fn unmap(&mut self, handle: GrantHandle) -> Result<(), String> {
        let slot = self.window_of(handle)?;
        let op = guest::grant::unmap(window(slot), handle)
            .map_err(|errno| format!("grant_table_op(unmap_grant_ref) failed: {errno}"))?;
        if op.status != GNTST_OKAY {
            return Err(format!("unmap of handle {handle} failed: status {} ({})", op.status, status_name(op.status)));
        }
        self.windows[slot] = None;
        let pte = machine_frame(window(slot)) << 12 | WRITABLE_PTE;
        guest::hypercall::update_va_mapping(window(slot), pte)
            .map_err(|errno| format!("unmapped, but mapping the window page back failed: {errno}"))?;
        Ok(())
    }

    pub fn read_flags(&mut self, gref: GrantRef) -> Result<u16, String> {
        Ok(self.flags(gref)?.load(Ordering::SeqCst))
    }

    /// Ends grant `gref` as Linux's `gnttab_end_foreign_access_ref` does:
    /// the compare-exchange fails while the hypervisor has set an in-use flag.
    pub fn revoke(&mut self, gref: GrantRef) -> Result<Revoke, String> {
        let slot = gref.checked_sub(FIRST_REF).map(|slot| slot as usize).filter(|&slot| slot < PAGES && self.offered[slot]);
        let Some(slot) = slot else {
            return Err(format!("gref {gref} is not a page this domain offered"));
        };
        match self.flags(gref)?.compare_exchange(GTF_PERMIT_ACCESS, 0, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => {
                self.offered[slot] = false;
                Ok(Revoke::Revoked)
            }
            Err(flags) => Ok(Revoke::InUse(flags)),
        }
    }
}

fn window(slot: usize) -> u64 {
    (&raw const WINDOWS).cast::<Page>().wrapping_add(slot) as u64
}

fn window_checksum(slot: usize) -> u32 {
    let bytes = window(slot) as *const u8;
    // SAFETY: the window is mapped, by a grant or by its own frame.
    checksum((0..4096).map(|index| unsafe { bytes.add(index).read_volatile() }))
}

/// Returns the machine frame behind `address`, a page of this image.
pub(crate) fn machine_frame(address: u64) -> u64 {
    let pfn = (address - guest::virt_base()) / 4096;
    let list = guest::start_info().mfn_list as *const u64;
    // SAFETY: the builder maps `mfn_list` with one u64 per page of the
    // domain, and the image's pages lie below `nr_pages`.
    unsafe { list.add(pfn as usize).read_volatile() }
}
