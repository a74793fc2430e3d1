//! Plans the bootstrap layout of a new PV domain, in Xen's order.
//!
//! Pseudo-physical page `pfn` is mapped at `virt_base + pfn * 4096`. The
//! region starts with the kernel image, then the ramdisk, the P2M array, the
//! `start_info` page, the bootstrap page tables and a one-page stack. Hospes
//! maps every page of the domain this way, not only the bootstrap region as
//! Xen does, so a guest starts with all its memory reachable; page-table
//! pages are mapped read-only.

use crate::PAGE_SIZE as FRAME_SIZE;

/// Where each part of the bootstrap region lives, as page numbers (PFNs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainLayout {
    pub virt_base: u64,
    pub nr_pages: u64,
    pub kernel_pages: u64,
    pub ramdisk_pfn: u64,
    pub ramdisk_pages: u64,
    pub p2m_pfn: u64,
    pub p2m_pages: u64,
    pub start_info_pfn: u64,
    /// The xenstore ring page of a DomU, right after `start_info` as on Xen.
    pub store_pfn: Option<u64>,
    /// The console ring page of a DomU, after the xenstore page as on Xen.
    pub console_pfn: Option<u64>,
    /// First page-table page; the L4 comes first, then L3s, L2s and L1s.
    pub page_table_pfn: u64,
    pub page_tables: PageTableCount,
    pub stack_pfn: u64,
}

/// Page-table pages needed to map a range, per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageTableCount {
    pub l3: u64,
    pub l2: u64,
    pub l1: u64,
}

impl PageTableCount {
    /// All pages, the L4 included.
    pub fn total(&self) -> u64 {
        1 + self.l3 + self.l2 + self.l1
    }
}

/// Why a domain's memory cannot hold its bootstrap region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    /// The bootstrap region needs this many pages, more than the domain has.
    TooSmall { needed: u64 },
    /// The mapping would leave the lower half of the address space.
    AddressOverflow,
}

/// Counts the tables that map `pages` pages from `virt_base`.
pub fn page_table_count(virt_base: u64, pages: u64) -> Option<PageTableCount> {
    if pages == 0 {
        return Some(PageTableCount::default());
    }
    let last = virt_base.checked_add((pages - 1).checked_mul(FRAME_SIZE)?)?;
    let span = |shift: u32| (last >> shift) - (virt_base >> shift) + 1;
    Some(PageTableCount { l3: span(39), l2: span(30), l1: span(21) })
}

/// Lays out a domain of `nr_pages` pages whose kernel occupies
/// `kernel_pages` from `virt_base` and whose ramdisk is `ramdisk_bytes` long,
/// with a xenstore and a console ring page when `ring_pages` is set (DomUs).
pub fn plan(
    virt_base: u64,
    nr_pages: u64,
    kernel_pages: u64,
    ramdisk_bytes: u64,
    ring_pages: bool,
) -> Result<DomainLayout, LayoutError> {
    if virt_base % FRAME_SIZE != 0 {
        return Err(LayoutError::AddressOverflow);
    }
    let end = nr_pages.checked_mul(FRAME_SIZE).and_then(|bytes| virt_base.checked_add(bytes));
    if end.is_none_or(|end| end > 1 << 47) {
        return Err(LayoutError::AddressOverflow);
    }
    let page_tables = page_table_count(virt_base, nr_pages).ok_or(LayoutError::AddressOverflow)?;
    let ramdisk_pages = ramdisk_bytes.div_ceil(FRAME_SIZE);
    let p2m_pages = (nr_pages * 8).div_ceil(FRAME_SIZE);

    let ramdisk_pfn = kernel_pages;
    let p2m_pfn = ramdisk_pfn + ramdisk_pages;
    let start_info_pfn = p2m_pfn + p2m_pages;
    let store_pfn = ring_pages.then_some(start_info_pfn + 1);
    let console_pfn = ring_pages.then_some(start_info_pfn + 2);
    let page_table_pfn = start_info_pfn + 1 + 2 * u64::from(ring_pages);
    let stack_pfn = page_table_pfn + page_tables.total();
    let needed = stack_pfn + 1;
    if needed > nr_pages {
        return Err(LayoutError::TooSmall { needed });
    }
    Ok(DomainLayout {
        virt_base,
        nr_pages,
        kernel_pages,
        ramdisk_pfn,
        ramdisk_pages,
        p2m_pfn,
        p2m_pages,
        start_info_pfn,
        store_pfn,
        console_pfn,
        page_table_pfn,
        page_tables,
        stack_pfn,
    })
}

impl DomainLayout {
    /// Virtual address of a page.
    pub fn address_of(&self, pfn: u64) -> u64 {
        self.virt_base + pfn * FRAME_SIZE
    }

    /// Returns the page-table level a page holds, if it is a page-table page.
    pub fn page_table_level(&self, pfn: u64) -> Option<u8> {
        let index = pfn.checked_sub(self.page_table_pfn)?;
        let counts = self.page_tables;
        if index == 0 {
            Some(4)
        } else if index < 1 + counts.l3 {
            Some(3)
        } else if index < 1 + counts.l3 + counts.l2 {
            Some(2)
        } else if index < counts.total() {
            Some(1)
        } else {
            None
        }
    }

    /// Lists every entry of the bootstrap page tables as (page-table PFN,
    /// index, entry), given the domain's P2M. Every page is mapped from the
    /// virtual base; page-table pages are mapped read-only. The L4's
    /// hypervisor slots are left empty: the hypervisor fills them on pin.
    pub fn page_table_entries<'a>(&'a self, p2m: &'a [u64]) -> impl Iterator<Item = (u64, usize, u64)> + 'a {
        const PRESENT: u64 = 1;
        const WRITABLE: u64 = 2;
        const ACCESSED: u64 = 0x20;
        const DIRTY: u64 = 0x40;
        let counts = self.page_tables;
        let base = self.virt_base;
        let l4 = self.page_table_pfn;
        let l3_first = l4 + 1;
        let l2_first = l3_first + counts.l3;
        let l1_first = l2_first + counts.l2;
        let table = PRESENT | WRITABLE | ACCESSED;
        (0..self.nr_pages.min(p2m.len() as u64)).flat_map(move |pfn| {
            let address = self.address_of(pfn);
            let l3 = l3_first + ((address >> 39) - (base >> 39));
            let l2 = l2_first + ((address >> 30) - (base >> 30));
            let l1 = l1_first + ((address >> 21) - (base >> 21));
            let leaf = if self.page_table_level(pfn).is_some() { PRESENT | ACCESSED } else { PRESENT | WRITABLE | ACCESSED | DIRTY };
            let index = |shift: u32| ((address >> shift) & 0x1FF) as usize;
            [
                (l4, index(39), p2m[l3 as usize] << 12 | table),
                (l3, index(30), p2m[l2 as usize] << 12 | table),
                (l2, index(21), p2m[l1 as usize] << 12 | table),
                (l1, index(12), p2m[pfn as usize] << 12 | leaf),
            ]
        })
    }

    /// Pages in the bootstrap region, from page 0 to the stack included.
    pub fn bootstrap_pages(&self) -> u64 {
        self.stack_pfn + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_table_count_for_aligned_and_straddling_ranges() {
        assert_eq!(page_table_count(0x40_0000, 512), Some(PageTableCount { l3: 1, l2: 1, l1: 1 }));
        assert_eq!(page_table_count(0x40_0000, 513), Some(PageTableCount { l3: 1, l2: 1, l1: 2 }));
        assert_eq!(page_table_count(0x3FE0_0000, 1024), Some(PageTableCount { l3: 1, l2: 2, l1: 2 }));
        assert_eq!(page_table_count(u64::MAX - 0xFFF, 2), None);
    }

    #[test]
    fn plan_orders_regions_like_xen() {
        let layout = plan(0x40_0000, 16384, 100, 5000, false).expect("fits");
        assert_eq!(layout.ramdisk_pfn, 100);
        assert_eq!(layout.ramdisk_pages, 2);
        assert_eq!(layout.p2m_pfn, 102);
        assert_eq!(layout.p2m_pages, 32);
        assert_eq!(layout.start_info_pfn, 134);
        assert_eq!(layout.page_table_pfn, 135);
        assert_eq!(layout.page_tables.total(), 1 + 1 + 1 + 32);
        assert_eq!(layout.stack_pfn, 135 + 35);
        assert_eq!(layout.address_of(layout.start_info_pfn), 0x40_0000 + 134 * 4096);
    }

    #[test]
    fn plan_puts_ring_pages_after_start_info() {
        let layout = plan(0x40_0000, 4096, 20, 0, true).expect("fits");
        assert_eq!(layout.store_pfn, Some(layout.start_info_pfn + 1));
        assert_eq!(layout.console_pfn, Some(layout.start_info_pfn + 2));
        assert_eq!(layout.page_table_pfn, layout.start_info_pfn + 3);
        let plain = plan(0x40_0000, 4096, 20, 0, false).expect("fits");
        assert_eq!(plain.store_pfn, None);
        assert_eq!(plain.console_pfn, None);
        assert_eq!(plain.page_table_pfn, plain.start_info_pfn + 1);
    }

    #[test]
    fn plan_names_page_table_levels() {
        let layout = plan(0x40_0000, 2048, 10, 0, false).expect("fits");
        let first = layout.page_table_pfn;
        assert_eq!(layout.page_table_level(first), Some(4));
        assert_eq!(layout.page_table_level(first + 1), Some(3));
        assert_eq!(layout.page_table_level(first + 2), Some(2));
        assert_eq!(layout.page_table_level(first + 3), Some(1));
        assert_eq!(layout.page_table_level(first + 6), Some(1));
        assert_eq!(layout.page_table_level(first + 7), None);
        assert_eq!(layout.page_table_level(first - 1), None);
    }

    #[test]
    fn page_table_entries_map_every_page() {
        let layout = plan(0x40_0000, 1024, 4, 0, false).expect("fits");
        let p2m: Vec<u64> = (0..1024).map(|pfn| 0x1000 + pfn).collect();
        let entries: Vec<_> = layout.page_table_entries(&p2m).collect();
        assert_eq!(entries.len(), 4 * 1024);
        let l1_first = layout.page_table_pfn + 3;
        let leaf = |pfn: u64| {
            let address = layout.address_of(pfn);
            let table = l1_first + (address >> 21) - (layout.virt_base >> 21);
            let index = ((address >> 12) & 0x1FF) as usize;
            entries.iter().find(|&&(pt, slot, _)| pt == table && slot == index)
        };
        let (_, _, first) = leaf(0).expect("page 0 mapped");
        assert_eq!(*first, 0x1000 << 12 | 0x63);
        let table_page = layout.page_table_pfn + 1;
        let (_, _, table_entry) = leaf(table_page).expect("table page mapped");
        assert_eq!(*table_entry & 0x2, 0, "page tables are mapped read-only");
        let (l4, index, l3_entry) = entries[0];
        assert_eq!((l4, index), (layout.page_table_pfn, 0));
        assert_eq!(l3_entry >> 12, 0x1000 + layout.page_table_pfn + 1);
    }

    #[test]
    fn plan_rejects_small_domains_and_overflow() {
        assert_eq!(plan(0x40_0000, 10, 8, 0, false), Err(LayoutError::TooSmall { needed: 8 + 1 + 1 + 4 + 1 }));
        assert_eq!(plan(0x7FFF_FFFF_F000, 16, 1, 0, false), Err(LayoutError::AddressOverflow));
        assert_eq!(plan(0x40_0123, 64, 1, 0, false), Err(LayoutError::AddressOverflow));
    }
}
