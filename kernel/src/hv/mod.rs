//! The hypervisor proper: domains, their entry and exit, hypercalls.
//!
//! All domain state sits in one [`Hypervisor`] behind one lock. The
//! hypervisor runs with interrupts off on one CPU, so the lock is never
//! contended; it is there so that every access is explicit. Lock order:
//! [`HYPERVISOR`], then `arch::memory::MEMORY`, then the console.

pub mod build;
pub mod domain;
pub mod domctl;
pub mod entry;
pub mod event;
pub mod grant;
pub mod guestmem;
pub mod hypercall;
pub mod mmu;
pub mod sched;
pub mod traps;

use crate::arch::power;
use crate::bootinfo::BootInfo;
use alloc::collections::BTreeMap;
use domain::Domain;
use hypercalls::DomId;
use log::{error, info};
use spin::Mutex;

pub struct Hypervisor {
    pub domains: BTreeMap<DomId, Domain>,
    /// The domain whose vCPU runs (or ran last).
    pub current: DomId,
    /// TSC when the current vCPU last entered the guest.
    pub entered_at: u64,
    /// Where the search for a free domain id starts, so ids are not reused
    /// at once after a destroy (as on Xen).
    pub next_domid: DomId,
}

pub static HYPERVISOR: Mutex<Option<Hypervisor>> = Mutex::new(None);

impl Hypervisor {
    pub fn domain(&mut self, id: DomId) -> Option<&mut Domain> {
        self.domains.get_mut(&id)
    }
}

/// Builds Dom0 from the boot modules and enters it; never returns.
pub fn start(boot: &BootInfo) -> ! {
    let dom0 = match build::build_dom0(boot) {
        Ok(domain) => domain,
        Err(problem) => {
            error!("boot: dom0 build: {problem}");
            power::fail(power::EXIT_HYPERVISOR_FAILED)
        }
    };
    info!(
        "boot: dom0 build: {} MiB, kernel at {:#x}, start_info at {:#x}, ramdisk {} bytes",
        dom0.memory.len() / 256,
        dom0.vcpu.frame.rip,
        dom0.vcpu.frame.rsi,
        dom0.ramdisk_bytes
    );
    let (used, free) = crate::arch::memory::heap_usage();
    info!(
        "boot: dom0 entry: ring 1 at rip {:#x}, rsp {:#x}; hypervisor heap {} KiB used, {} KiB free",
        dom0.vcpu.frame.rip,
        dom0.vcpu.frame.rsp,
        used / 1024,
        free / 1024
    );
    let mut domains = BTreeMap::new();
    domains.insert(0, dom0);
    *HYPERVISOR.lock() = Some(Hypervisor { domains, current: 0, entered_at: 0, next_domid: 1 });
    sched::run_next()
}
