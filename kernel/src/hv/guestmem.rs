//! Checked access to guest memory.
//!
//! A guest virtual address is an allegation. The hypervisor never
//! dereferences one: it walks the guest's page tables (read through its own
//! identity map), requires every level present and, for writes, writable,
//! refuses large pages and the hypervisor's reserved L4 slots, checks that
//! the final frame belongs to the domain and is not a page table it would
//! write, and only then copies through the identity map. Any failure is
//! `-EFAULT`.

use crate::arch::layout;
use crate::arch::memory::{self, frame_pointer};
use crate::arch::paging::{ADDRESS_MASK, HUGE, PRESENT, WRITABLE, read_entry};
use crate::frames::{FRAME_SIZE, Mfn};
use crate::frametable::{FrameTable, FrameType};
use hypercalls::{DomId, Errno};

/// Types that may be copied to and from guest memory byte for byte.
///
/// # Safety
///
/// Implementors are `repr(C)` structs of integers (or arrays of them) with
/// no padding the hypervisor relies on, so any bytes are a valid value.
pub unsafe trait GuestPod: Copy {}

// SAFETY: each type below is repr(C) and made only of integers.
unsafe impl GuestPod for u8 {}
unsafe impl GuestPod for u32 {}
unsafe impl GuestPod for u64 {}
unsafe impl GuestPod for hypercalls::trap::TrapInfo {}
unsafe impl GuestPod for hypercalls::trap::CallbackRegister {}
unsafe impl GuestPod for hypercalls::trap::IretContext {}
unsafe impl GuestPod for hypercalls::sched::SchedShutdown {}
unsafe impl GuestPod for hypercalls::sysctl::Sysctl {}
unsafe impl GuestPod for hypercalls::sysctl::DomainInfo {}
unsafe impl GuestPod for hypercalls::shared::StartInfo {}
unsafe impl GuestPod for hypercalls::domctl::Domctl {}
unsafe impl GuestPod for hypercalls::domctl::VcpuContext {}
unsafe impl GuestPod for hypercalls::domctl::MemoryReservation {}
unsafe impl GuestPod for hypercalls::domctl::GrantOffer {}
unsafe impl GuestPod for hypercalls::grant::MapGrantRef {}
unsafe impl GuestPod for hypercalls::grant::UnmapGrantRef {}
unsafe impl GuestPod for hypercalls::grant::UnmapAndReplace {}
unsafe impl GuestPod for hypercalls::domctl::MachphysMapping {}
unsafe impl GuestPod for hypercalls::grant::SetupTable {}
unsafe impl GuestPod for hypercalls::grant::QuerySize {}
unsafe impl GuestPod for hypercalls::grant::GrantCopy {}
unsafe impl<const N: usize> GuestPod for [u8; N] {}
unsafe impl<const N: usize> GuestPod for [u64; N] {}
unsafe impl<const N: usize> GuestPod for [u32; N] {}

/// The address space of one domain, as seen through its current L4.
#[derive(Clone, Copy)]
pub struct GuestMemory {
    pub domain: DomId,
    pub l4: Mfn,
}

impl GuestMemory {
    pub fn new(domain: DomId, cr3: u64) -> Self {
        GuestMemory { domain, l4: (cr3 & ADDRESS_MASK) >> 12 }
    }

    /// Translates `address` to the machine frame backing it.
    pub fn translate(&self, address: u64, write: bool) -> Result<Mfn, Errno> {
        if !layout::is_canonical(address) || layout::is_reserved(address) {
            return Err(Errno::EFAULT);
        }
        // One hold of the memory lock covers every frame-table check of the
        // walk, because this runs for every copy from or to a guest.
        memory::with(|memory| {
            let mut table = self.l4;
            for level in (1..=4).rev() {
                let index = ((address >> (12 + 9 * (level - 1))) & 0x1FF) as usize;
                let entry = read_entry(table, index);
                if entry & PRESENT == 0 || (write && entry & WRITABLE == 0) {
                    return Err(Errno::EFAULT);
                }
                if level > 1 && entry & HUGE != 0 {
                    return Err(Errno::EFAULT);
                }
                table = (entry & ADDRESS_MASK) >> 12;
                if level > 1 && !self.owns_page_table(&memory.table, table) {
                    return Err(Errno::EFAULT);
                }
            }
            memory.table.check_mappable(self.domain, table, write).map(|_| table).map_err(|_| Errno::EFAULT)
        })
    }

    /// Checks that a table the walk reached is one of the domain's page tables,
    /// so a corrupt entry can never send the walk into foreign memory.
    fn owns_page_table(&self, frames: &FrameTable, mfn: Mfn) -> bool {
        frames.get(mfn).is_some_and(|info| info.owner == self.domain && matches!(info.kind, FrameType::PageTable(_)))
    }

    /// Copies `out.len()` bytes from guest address `address`.
    pub fn read_bytes(&self, address: u64, out: &mut [u8]) -> Result<(), Errno> {
        self.for_each_page(address, out.len(), false, |physical, offset, length| {
            // SAFETY: `physical` is a checked frame of this domain, identity-mapped,
            // and `length` stays inside that page and inside `out`.
            unsafe { core::ptr::copy_nonoverlapping(physical, out[offset..].as_mut_ptr(), length) };
        })
    }

    /// Copies `data` to guest address `address`.
    pub fn write_bytes(&self, address: u64, data: &[u8]) -> Result<(), Errno> {
        // A range inside one page is checked by its one translation before
        // anything is written. A longer range is checked whole first, so a
        // fault part-way leaves no partial write.
        if address % FRAME_SIZE + data.len() as u64 > FRAME_SIZE {
            self.for_each_page(address, data.len(), true, |_, _, _| {})?;
        }
        self.for_each_page(address, data.len(), true, |physical, offset, length| {
            // SAFETY: as in `read_bytes`, for a frame checked writable.
            unsafe { core::ptr::copy_nonoverlapping(data[offset..].as_ptr(), physical, length) };
        })
    }

    pub fn read<T: GuestPod>(&self, address: u64) -> Result<T, Errno> {
        let mut value = core::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: the zeroed value spans size_of::<T>() bytes.
        let bytes = unsafe { core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>()) };
        self.read_bytes(address, bytes)?;
        // SAFETY: T is GuestPod, so any bytes are a valid T.
        Ok(unsafe { value.assume_init() })
    }

    pub fn write<T: GuestPod>(&self, address: u64, value: &T) -> Result<(), Errno> {
        // SAFETY: T is GuestPod: plain integers, readable as bytes.
        let bytes = unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
        self.write_bytes(address, bytes)
    }

    fn for_each_page(
        &self,
        address: u64,
        length: usize,
        write: bool,
        mut copy: impl FnMut(*mut u8, usize, usize),
    ) -> Result<(), Errno> {
        let end = address.checked_add(length as u64).ok_or(Errno::EFAULT)?;
        let mut current = address;
        while current < end {
            let page_offset = current % FRAME_SIZE;
            let chunk = (FRAME_SIZE - page_offset).min(end - current);
            let mfn = self.translate(current, write)?;
            // SAFETY: the frame is identity-mapped and the offset is inside it.
            let physical = unsafe { frame_pointer(mfn).add(page_offset as usize) };
            copy(physical, (current - address) as usize, chunk as usize);
            current += chunk;
        }
        Ok(())
    }
}
