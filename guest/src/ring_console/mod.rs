//! The console frontend of a DomU: a `xencons_interface` page shared with
//! Dom0's console backend, plus an event channel.
//!
//! The domain builder puts the page's MFN and the channel's port in
//! `start_info.console_mfn` and `console_evtchn`. The guest finds the page's
//! PFN in the P2M array (`start_info.mfn_list`) and reaches it at
//! `virt_base + pfn * 4096`, where the builder maps every page of the domain.
//! A `console_mfn` of 0 means that the domain has no console ring, as for
//! Dom0, which writes through `console_io`.
//!
//! [`ring`] contains the index arithmetic and copies, which build on the host
//! for tests. The functions re-exported here drive the domain's one ring
//! from ring 1 and notify the backend.

pub mod ring;

#[cfg(target_os = "none")]
mod frontend;

#[cfg(target_os = "none")]
pub use frontend::{attach, is_attached, is_usable, port, read, resets, write, write_raw};

use core::fmt;

/// Size of a page and of the stride between PFNs in the guest's mapping.
const PAGE_SIZE: u64 = hypercalls::PAGE_SIZE as u64;

/// Reason the console page could not be located.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocateError {
    /// The P2M array does not lie inside the domain's mapped memory.
    P2mOutsideMemory { mfn_list: u64, nr_pages: u64 },
    /// No PFN of the domain has the console's MFN.
    MfnNotInP2m { mfn: u64 },
}

impl fmt::Display for LocateError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LocateError::P2mOutsideMemory { mfn_list, nr_pages } => write!(
                formatter,
                "the P2M array at {mfn_list:#x} with {nr_pages} entries is not inside the domain's memory"
            ),
            LocateError::MfnNotInP2m { mfn } => {
                write!(
                    formatter,
                    "console MFN {mfn:#x} is not in the domain's P2M array"
                )
            }
        }
    }
}

/// Checks that the P2M array, `nr_pages` u64 entries at virtual address
/// `mfn_list`, lies inside the domain's memory, which spans `nr_pages`
/// pages from `virt_base`, and is 8-byte aligned.
pub fn check_p2m_range(virt_base: u64, nr_pages: u64, mfn_list: u64) -> Result<(), LocateError> {
    let outside = LocateError::P2mOutsideMemory { mfn_list, nr_pages };
    let memory_end = nr_pages
        .checked_mul(PAGE_SIZE)
        .and_then(|size| virt_base.checked_add(size))
        .ok_or(outside)?;
    let p2m_end = nr_pages
        .checked_mul(8)
        .and_then(|size| mfn_list.checked_add(size))
        .ok_or(outside)?;
    if mfn_list < virt_base || p2m_end > memory_end || !mfn_list.is_multiple_of(8) {
        return Err(outside);
    }
    Ok(())
}

/// Returns the virtual address at which the page with machine frame `mfn`
/// is mapped, given the domain's P2M array and the address of PFN 0.
pub fn page_address_of_mfn(p2m: &[u64], virt_base: u64, mfn: u64) -> Result<u64, LocateError> {
    let pfn = p2m
        .iter()
        .position(|&entry| entry == mfn)
        .ok_or(LocateError::MfnNotInP2m { mfn })?;
    Ok(virt_base + pfn as u64 * PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x40_0000;

    #[test]
    fn p2m_inside_memory_passes() {
        assert_eq!(check_p2m_range(BASE, 256, BASE + 0x2000), Ok(()));
        // The array may end exactly at the end of memory.
        assert_eq!(
            check_p2m_range(BASE, 256, BASE + 256 * 4096 - 256 * 8),
            Ok(())
        );
    }

    #[test]
    fn p2m_outside_memory_fails() {
        let outside = |mfn_list| LocateError::P2mOutsideMemory {
            mfn_list,
            nr_pages: 256,
        };
        assert_eq!(check_p2m_range(BASE, 256, BASE - 8), Err(outside(BASE - 8)));
        let past_end = BASE + 256 * 4096 - 256 * 8 + 8;
        assert_eq!(check_p2m_range(BASE, 256, past_end), Err(outside(past_end)));
        assert_eq!(check_p2m_range(BASE, 256, BASE + 4), Err(outside(BASE + 4)));
    }

    #[test]
    fn p2m_range_overflow_fails() {
        let huge = u64::MAX / 8;
        assert!(check_p2m_range(BASE, huge, BASE).is_err());
        assert!(check_p2m_range(BASE, 256, u64::MAX - 8).is_err());
    }

    #[test]
    fn console_mfn_maps_to_its_pfn() {
        let p2m = [0x100, 0x2a7, 0x105, 0x9999];
        assert_eq!(page_address_of_mfn(&p2m, BASE, 0x105), Ok(BASE + 2 * 4096));
        assert_eq!(page_address_of_mfn(&p2m, BASE, 0x100), Ok(BASE));
    }

    #[test]
    fn missing_console_mfn_fails() {
        let p2m = [0x100, 0x101];
        assert_eq!(
            page_address_of_mfn(&p2m, BASE, 0x555),
            Err(LocateError::MfnNotInP2m { mfn: 0x555 })
        );
    }
}
