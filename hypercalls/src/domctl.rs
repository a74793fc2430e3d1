//! `domctl`: the toolstack's privileged per-domain operations, and the
//! `memory_op` reservation it uses to give a new domain memory.
//!
//! Like Xen's, these structures are not a stable ABI: the header carries
//! [`INTERFACE_VERSION`] and the hypervisor rejects any other with `EACCES`.
//! Command numbers follow Xen. `setvcpucontext` takes Hospes' own
//! [`VcpuContext`], a subset of Xen's `vcpu_guest_context` sized for ring-1
//! guests, because Xen's carries ring-3 selectors and state Hospes has not.

use core::mem::{offset_of, size_of};

/// `XEN_DOMCTL_INTERFACE_VERSION` of the Xen tree this ABI follows.
pub const INTERFACE_VERSION: u32 = 0x18;

pub const CREATEDOMAIN: u32 = 1;
pub const DESTROYDOMAIN: u32 = 2;
pub const PAUSEDOMAIN: u32 = 3;
pub const UNPAUSEDOMAIN: u32 = 4;
pub const GETDOMAININFO: u32 = 5;
pub const MAX_MEM: u32 = 11;
pub const SETVCPUCONTEXT: u32 = 12;
pub const SCHEDULER_OP: u32 = 16;
pub const HYPERCALL_INIT: u32 = 22;
/// Hospes extension: read the last failure the hypervisor recorded for a
/// domain ([`LastFailure`]), so `xl` can explain an errno.
pub const HOSPES_LAST_FAILURE: u32 = 0x4801;
/// Hospes extension: list a domain's grant offers into a buffer of
/// [`GrantOffer`] records ([`GrantList`] payload), for `xl sharing`.
pub const HOSPES_GRANT_LIST: u32 = 0x4802;

/// `struct xen_domctl`: command, version, target domain, 128-byte payload.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Domctl {
    pub cmd: u32,
    pub interface_version: u32,
    pub domain: u16,
    pub _pad: [u16; 3],
    pub payload: [u64; 16],
}

const _: () = {
    assert!(size_of::<Domctl>() == 144);
    assert!(offset_of!(Domctl, domain) == 8);
    assert!(offset_of!(Domctl, payload) == 16);
};

impl Domctl {
    /// Builds a request for `cmd` on `domain` carrying `payload` (at most 128 bytes).
    pub fn new<T: Copy>(cmd: u32, domain: u16, payload: T) -> Domctl {
        const { assert!(size_of::<T>() <= 128) };
        let mut domctl = Domctl { cmd, interface_version: INTERFACE_VERSION, domain, _pad: [0; 3], payload: [0; 16] };
        // SAFETY: the payload array is 128 bytes and u64-aligned, enough for
        // any T of at most 128 bytes with alignment up to 8.
        unsafe { (domctl.payload.as_mut_ptr() as *mut T).write(payload) };
        domctl
    }

    /// Reads the payload as `T`, a plain-integer structure.
    pub fn payload<T: Copy>(&self) -> T {
        const { assert!(size_of::<T>() <= 128) };
        // SAFETY: as in `new`; the payload types here are plain integers,
        // valid for any bytes.
        unsafe { (self.payload.as_ptr() as *const T).read() }
    }

    /// Stores `payload` as the output of the request.
    pub fn set_payload<T: Copy>(&mut self, payload: T) {
        *self = Domctl::new(self.cmd, self.domain, payload);
    }
}

/// `xen_domctl_createdomain`, the fields Hospes reads.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct CreateDomain {
    pub ssidref: u32,
    pub handle: [u8; 16],
    pub flags: u32,
    pub iommu_opts: u32,
    pub max_vcpus: u32,
    pub max_evtchn_port: u32,
    pub max_grant_frames: i32,
    pub max_maptrack_frames: i32,
    pub grant_opts: u32,
    pub altp2m_opts: u32,
    pub vmtrace_size: u32,
    pub cpupool_id: u32,
    pub arch_emulation_flags: u32,
    pub arch_misc_flags: u32,
}

const _: () = assert!(offset_of!(CreateDomain, flags) == 20 && offset_of!(CreateDomain, max_vcpus) == 28);

/// `xen_domctl_max_mem`: the domain's memory limit.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MaxMem {
    pub max_memkb: u64,
}

/// The payload of [`HOSPES_LAST_FAILURE`]: NUL-padded text fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LastFailure {
    /// The failed operation, such as `populate_physmap`.
    pub operation: [u8; 24],
    /// The argument at fault.
    pub argument: u64,
    /// Why it failed, such as `ENOMEM, 900 MiB free`.
    pub reason: [u8; 96],
}

impl Default for LastFailure {
    fn default() -> Self {
        LastFailure { operation: [0; 24], argument: 0, reason: [0; 96] }
    }
}

const _: () = assert!(size_of::<LastFailure>() == 128);

/// The payload of [`HOSPES_GRANT_LIST`].
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct GrantList {
    /// Guest address of an array of `max` records.
    pub buffer: u64,
    pub max: u32,
    /// Out: records written.
    pub count: u32,
}

/// One grant a domain offers: the reference, the entry and its mappings now.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct GrantOffer {
    pub gref: u32,
    /// The domain allowed to use the grant.
    pub peer: u16,
    /// The entry's `GTF_*` flags.
    pub flags: u16,
    /// The granted frame.
    pub frame: u64,
    /// Mappings that use the grant now.
    pub pins: u32,
    pub _pad: u32,
}

const _: () = assert!(size_of::<GrantOffer>() == 24 && size_of::<GrantList>() == 16);

/// `xen_domctl_hypercall_init`: the frame to fill with hypercall stubs.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct HypercallInit {
    pub gmfn: u64,
}

/// `XEN_SCHEDULER_CREDIT`: the scheduler id of the credit scheduler.
pub const SCHEDULER_CREDIT: u32 = 5;
/// `XEN_DOMCTL_SCHEDOP_putinfo`: set a domain's scheduling parameters.
pub const SCHEDOP_PUTINFO: u32 = 0;
/// `XEN_DOMCTL_SCHEDOP_getinfo`: read them.
pub const SCHEDOP_GETINFO: u32 = 1;

/// `xen_domctl_scheduler_op` with the credit scheduler's parameters.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SchedulerOp {
    pub sched_id: u32,
    pub cmd: u32,
    /// Relative share of the CPU, 1 to 65535; 0 in `putinfo` leaves it unchanged.
    pub weight: u16,
    /// Upper bound in percent of one CPU; 0 means none.
    pub cap: u16,
}

/// `xen_domctl_vcpucontext`: a vCPU number and the address of its context.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct VcpuContextRequest {
    pub vcpu: u32,
    pub _pad: u32,
    pub context: u64,
}

/// The initial state of a vCPU of a ring-1 guest (Hospes' `vcpu_guest_context`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct VcpuContext {
    pub rip: u64,
    pub rsp: u64,
    pub rsi: u64,
    pub rflags: u64,
    /// Machine address of the L4, already pinned by the builder.
    pub cr3: u64,
    pub event_callback: u64,
    pub failsafe_callback: u64,
    pub kernel_sp: u64,
}

const _: () = assert!(size_of::<VcpuContext>() == 64);

pub const XENMEM_INCREASE_RESERVATION: u64 = 0;
pub const XENMEM_DECREASE_RESERVATION: u64 = 1;
pub const XENMEM_MAXIMUM_RAM_PAGE: u64 = 2;
pub const XENMEM_CURRENT_RESERVATION: u64 = 3;
pub const XENMEM_MAXIMUM_RESERVATION: u64 = 4;
pub const XENMEM_POPULATE_PHYSMAP: u64 = 6;
pub const XENMEM_MACHPHYS_MAPPING: u64 = 12;

/// `xen_machphys_mapping`: where the read-only M2P is mapped in every guest
/// and the highest machine frame it covers.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct MachphysMapping {
    pub v_start: u64,
    pub v_end: u64,
    pub max_mfn: u64,
}

const _: () = assert!(core::mem::size_of::<MachphysMapping>() == 24);

/// `xen_memory_reservation`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MemoryReservation {
    /// Address of an array of `nr_extents` frame numbers: GPFNs in, MFNs out.
    pub extent_start: u64,
    pub nr_extents: u64,
    pub extent_order: u32,
    pub mem_flags: u32,
    pub domid: u16,
    pub _pad: [u16; 3],
}

const _: () = {
    assert!(size_of::<MemoryReservation>() == 32);
    assert!(offset_of!(MemoryReservation, extent_order) == 16);
    assert!(offset_of!(MemoryReservation, domid) == 24);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domctl_payload_round_trips() {
        let request = Domctl::new(MAX_MEM, 3, MaxMem { max_memkb: 4096 });
        assert_eq!(request.interface_version, INTERFACE_VERSION);
        assert_eq!(request.domain, 3);
        assert_eq!(request.payload::<MaxMem>().max_memkb, 4096);
    }

    #[test]
    fn reservation_layout_matches_xen() {
        assert_eq!(size_of::<MemoryReservation>(), 32);
        assert_eq!(offset_of!(MemoryReservation, nr_extents), 8);
        assert_eq!(offset_of!(MemoryReservation, mem_flags), 20);
    }
}
