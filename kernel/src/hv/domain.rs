//! Domains and their virtual CPUs.

use crate::arch::entry::TrapFrame;
use crate::arch::memory::frame_pointer;
use crate::frames::Mfn;
use alloc::string::String;
use alloc::vec::Vec;
use hypercalls::DomId;
use hypercalls::sched::ShutdownReason;
use hypercalls::shared::{SharedInfo, VcpuInfo};
use hypercalls::trap::TrapInfo;


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainState {
    /// Runnable or blocked; scheduled when not blocked.
    Running,
    /// Stopped by its own request with a reason.
    Shutdown(ShutdownReason),
    /// Stopped by the hypervisor after a fault it could not deliver.
    Crashed,
}

/// The one virtual CPU each domain has for now.
pub struct Vcpu {
    /// Registers saved when the vCPU last left the guest.
    pub frame: TrapFrame,
    /// Machine address of the L4 page table in use.
    pub cr3: u64,
    /// Virtual IDT installed with `set_trap_table`.
    pub trap_table: [TrapInfo; 256],
    pub event_callback: u64,
    pub failsafe_callback: u64,
    /// Kernel stack for bounces from guest user mode (`stack_switch`).
    pub kernel_sp: u64,
    /// Waiting in `SCHEDOP_block` for an event.
    pub blocked: bool,
    /// CPU time used, in TSC ticks.
    pub cpu_tsc: u64,
    /// Set once the vCPU has registers and page tables (`setvcpucontext`).
    pub initialised: bool,
    /// System time (ns) at which `VIRQ_TIMER` fires, from `set_timer_op`.
    pub timer_deadline: Option<u64>,
    /// Ports a `SCHEDOP_poll` waits on; empty when not polling.
    pub poll_ports: Vec<u32>,
    /// System time (ns) at which a `SCHEDOP_poll` gives up, if it has a time-out.
    pub poll_deadline: Option<u64>,
}

impl Vcpu {
    /// Returns a vCPU with no state, waiting for `setvcpucontext`.
    pub fn empty() -> Self {
        Vcpu {
            frame: TrapFrame::default(),
            cr3: 0,
            trap_table: [TrapInfo::default(); 256],
            event_callback: 0,
            failsafe_callback: 0,
            kernel_sp: 0,
            blocked: false,
            cpu_tsc: 0,
            initialised: false,
            timer_deadline: None,
            poll_ports: Vec::new(),
            poll_deadline: None,
        }
    }
}

/// The last hypercall of a domain that failed: the operation, the argument
/// at fault and why, kept so the toolstack can explain an errno.
#[derive(Debug, Clone)]
pub struct FailureRecord {
    pub operation: &'static str,
    pub argument: u64,
    pub reason: String,
}

pub use crate::evtchn::{NR_VIRQS, PortState};

pub struct Domain {
    pub id: DomId,
    pub name: String,
    /// May use privileged hypercalls (`sysctl`, `domctl`, the console).
    pub privileged: bool,
    /// The domain's frames, indexed by pseudo-physical frame number (its P2M).
    pub memory: Vec<Mfn>,
    pub shared_info: Mfn,
    pub ramdisk_bytes: u64,
    pub state: DomainState,
    pub vcpu: Vcpu,
    /// Event-channel ports.
    pub ports: crate::evtchn::PortTable,
    /// Paused by the toolstack (`domctl` pause); new domains start paused.
    pub paused: bool,
    /// Most pages the domain may hold (`domctl` max_mem).
    pub max_pages: u64,
    /// The last failed hypercall made on this domain's behalf.
    pub last_failure: Option<FailureRecord>,
    /// Weight and credit for the scheduler.
    pub account: crate::credit::Account,
    /// The grant table this domain grants from and the grant mappings it holds.
    pub grants: crate::granttab::DomainGrants,
}

impl Domain {
    fn shared_info_pointer(&self) -> *mut SharedInfo {
        frame_pointer(self.shared_info) as *mut SharedInfo
    }

    /// Reads vCPU 0's `vcpu_info` from the shared page.
    ///
    /// The page is guest-writable, so the value is copied out and never
    /// referenced in place; callers treat every field as a guest claim.
    pub fn vcpu_info(&self) -> VcpuInfo {
        // SAFETY: the shared_info frame belongs to this domain for its whole
        // life and is identity-mapped; a volatile copy of plain integers is
        // valid whatever the guest wrote.
        unsafe { core::ptr::addr_of!((*self.shared_info_pointer()).vcpu_info[0]).read_volatile() }
    }

    /// Applies `update` to vCPU 0's `vcpu_info` in the shared page.
    pub fn update_vcpu_info(&self, update: impl FnOnce(&mut VcpuInfo)) {
        let mut info = self.vcpu_info();
        update(&mut info);
        // SAFETY: as in `vcpu_info`; the guest is not running while the
        // hypervisor holds its state, so nothing races with this write.
        unsafe { core::ptr::addr_of_mut!((*self.shared_info_pointer()).vcpu_info[0]).write_volatile(info) };
    }

    /// Reads word `index` of the pending (`mask == false`) or mask bitmap.
    pub fn event_word(&self, mask: bool, index: usize) -> u64 {
        let pointer = self.shared_info_pointer();
        // SAFETY: as in `vcpu_info`; `index` is below 64, checked by the slice index.
        unsafe {
            if mask {
                core::ptr::addr_of!((*pointer).evtchn_mask[index]).read_volatile()
            } else {
                core::ptr::addr_of!((*pointer).evtchn_pending[index]).read_volatile()
            }
        }
    }

    /// Writes word `index` of the pending (`mask == false`) or mask bitmap.
    pub fn set_event_word(&self, mask: bool, index: usize, value: u64) {
        let pointer = self.shared_info_pointer();
        // SAFETY: as in `set_event_word`'s reader.
        unsafe {
            if mask {
                core::ptr::addr_of_mut!((*pointer).evtchn_mask[index]).write_volatile(value)
            } else {
                core::ptr::addr_of_mut!((*pointer).evtchn_pending[index]).write_volatile(value)
            }
        }
    }

    /// Creates an unprivileged domain with no memory, paused, whose vCPU
    /// waits for `setvcpucontext`.
    pub fn new_paused(id: DomId, shared_info: Mfn) -> Self {
        Domain {
            id,
            name: String::new(),
            privileged: false,
            memory: Vec::new(),
            shared_info,
            ramdisk_bytes: 0,
            state: DomainState::Running,
            vcpu: Vcpu::empty(),
            ports: crate::evtchn::PortTable::new(),
            paused: true,
            max_pages: 0,
            last_failure: None,
            account: crate::credit::Account::default(),
            grants: crate::granttab::DomainGrants::default(),
        }
    }

    /// Raises `port` and wakes the vCPU when that makes an upcall pending.
    pub fn raise(&mut self, port: u32) {
        let upcall = crate::evtchn::raise(self, port);
        // A poll ends when one of its ports becomes pending, masked or not.
        let polled = self.vcpu.poll_ports.contains(&port);
        if upcall || polled {
            self.wake();
        }
    }

    /// Unmasks `port`, waking the vCPU when a held-back event becomes pending.
    pub fn unmask(&mut self, port: u32) {
        if crate::evtchn::unmask(self, port) {
            self.wake();
        }
    }

    fn wake(&mut self) {
        if self.vcpu.blocked {
            self.vcpu.blocked = false;
            self.vcpu.poll_ports.clear();
            self.vcpu.poll_deadline = None;
            self.account.wake();
        }
    }

    /// Ends a `SCHEDOP_poll` whose time-out passed.
    pub fn end_poll(&mut self) {
        self.vcpu.poll_deadline = None;
        self.wake();
    }

    pub fn is_runnable(&self) -> bool {
        self.state == DomainState::Running && !self.paused && self.vcpu.initialised && !self.vcpu.blocked
    }

    /// Records a failed operation for the toolstack to report.
    pub fn record_failure(&mut self, operation: &'static str, argument: u64, reason: String) {
        log::debug!("d{}: {operation} failed on {argument:#x}: {reason}", self.id);
        self.last_failure = Some(FailureRecord { operation, argument, reason });
    }
}

impl crate::evtchn::EventBits for Domain {
    fn word(&self, mask: bool, index: usize) -> u64 {
        self.event_word(mask, index)
    }

    fn set_word(&mut self, mask: bool, index: usize, value: u64) {
        self.set_event_word(mask, index, value);
    }

    fn signal_selector(&mut self, index: usize) -> bool {
        let mut fresh = false;
        self.update_vcpu_info(|info| {
            let selector = 1u64 << index;
            if info.evtchn_pending_sel & selector == 0 {
                info.evtchn_pending_sel |= selector;
                info.evtchn_upcall_pending = 1;
                fresh = true;
            }
        });
        fresh
    }
}
