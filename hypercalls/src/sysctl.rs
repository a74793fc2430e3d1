//! `sysctl`: privileged host-wide queries, with Xen's versioned header.

use core::mem::{offset_of, size_of};

/// `XEN_SYSCTL_INTERFACE_VERSION` of the Xen tree this ABI follows.
pub const INTERFACE_VERSION: u32 = 0x16;

pub const READCONSOLE: u32 = 1;
pub const PHYSINFO: u32 = 3;
pub const GETDOMAININFOLIST: u32 = 6;

/// `struct xen_sysctl`: a command, the interface version and a 128-byte payload.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Sysctl {
    pub cmd: u32,
    pub interface_version: u32,
    pub payload: [u64; 16],
}

impl Sysctl {
    /// Builds a request for `cmd` carrying `payload` (at most 128 bytes).
    pub fn new<T: Copy>(cmd: u32, payload: T) -> Sysctl {
        const { assert!(size_of::<T>() <= 128) };
        let mut sysctl = Sysctl { cmd, interface_version: INTERFACE_VERSION, payload: [0; 16] };
        // SAFETY: the payload array is 128 bytes, at least size_of::<T>() by the
        // assertion above, and u64-aligned, which covers every payload type here.
        unsafe { (sysctl.payload.as_mut_ptr() as *mut T).write(payload) };
        sysctl
    }

    /// Reads the payload as `T`.
    pub fn payload<T: Copy>(&self) -> T {
        const { assert!(size_of::<T>() <= 128) };
        // SAFETY: as in `new`; every payload type here is plain integers, for
        // which any bytes are a valid value.
        unsafe { (self.payload.as_ptr() as *const T).read() }
    }

    /// Stores `payload` as the output of the request.
    pub fn set_payload<T: Copy>(&mut self, payload: T) {
        *self = Sysctl::new(self.cmd, payload);
    }
}

const _: () = {
    assert!(size_of::<Sysctl>() == 136);
    assert!(offset_of!(Sysctl, payload) == 8);
};

/// `xen_sysctl_readconsole`: read the hypervisor's console ring.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ReadConsole {
    /// Nonzero: empty the ring after reading.
    pub clear: u8,
    /// Nonzero: start at `index`, not at the oldest byte still kept.
    pub incremental: u8,
    pub _pad: u16,
    /// In: first byte to read (incremental). Out: the index after the last byte read.
    pub index: u32,
    /// Guest virtual address of the buffer.
    pub buffer: u64,
    /// In: buffer size. Out: bytes read.
    pub count: u32,
    pub _pad2: u32,
}

const _: () = {
    assert!(size_of::<ReadConsole>() == 24);
    assert!(offset_of!(ReadConsole, buffer) == 8);
    assert!(offset_of!(ReadConsole, count) == 16);
};

/// `xen_sysctl_physinfo`: host CPU and memory figures.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PhysInfo {
    pub threads_per_core: u32,
    pub cores_per_socket: u32,
    pub nr_cpus: u32,
    pub max_cpu_id: u32,
    pub nr_nodes: u32,
    pub max_node_id: u32,
    pub cpu_khz: u32,
    pub capabilities: u32,
    pub arch_capabilities: u32,
    pub _pad: u32,
    pub total_pages: u64,
    pub free_pages: u64,
    pub scrub_pages: u64,
    pub outstanding_pages: u64,
    pub max_mfn: u64,
    pub hw_cap: [u32; 8],
}

/// `PhysInfo::capabilities` bit: the host can run PV guests.
pub const PHYSCAP_PV: u32 = 1 << 1;

const _: () = {
    assert!(size_of::<PhysInfo>() == 112);
    assert!(offset_of!(PhysInfo, total_pages) == 40);
    assert!(offset_of!(PhysInfo, free_pages) == 48);
    assert!(offset_of!(PhysInfo, max_mfn) == 72);
};

/// `xen_sysctl_getdomaininfolist`: fill `buffer` with up to `max_domains`
/// [`DomainInfo`] records, starting at `first_domain`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct GetDomainInfoList {
    pub first_domain: u16,
    pub _pad: u16,
    pub max_domains: u32,
    pub buffer: u64,
    /// Out: records written.
    pub num_domains: u32,
    pub _pad2: u32,
}

const _: () = {
    assert!(size_of::<GetDomainInfoList>() == 24);
    assert!(offset_of!(GetDomainInfoList, buffer) == 8);
    assert!(offset_of!(GetDomainInfoList, num_domains) == 16);
};

/// `xen_domctl_getdomaininfo`: one domain's state, as `xl list` shows it.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct DomainInfo {
    pub domain: u16,
    pub _pad: u16,
    /// `DOMINF_*` bits; the shutdown reason sits in bits 16-23.
    pub flags: u32,
    pub tot_pages: u64,
    pub max_pages: u64,
    pub outstanding_pages: u64,
    pub shr_pages: u64,
    pub paged_pages: u64,
    pub shared_info_frame: u64,
    /// CPU time used, in nanoseconds.
    pub cpu_time: u64,
    pub nr_online_vcpus: u32,
    pub max_vcpu_id: u32,
    pub ssidref: u32,
    pub handle: [u8; 16],
    pub cpupool: u32,
    pub gpaddr_bits: u8,
    pub _pad2: [u8; 7],
    pub arch_config: u64,
}

pub const DOMINF_DYING: u32 = 1 << 0;
pub const DOMINF_SHUTDOWN: u32 = 1 << 2;
pub const DOMINF_PAUSED: u32 = 1 << 3;
pub const DOMINF_BLOCKED: u32 = 1 << 4;
pub const DOMINF_RUNNING: u32 = 1 << 5;
/// Shift of the shutdown reason inside `DomainInfo::flags`.
pub const DOMINF_SHUTDOWN_SHIFT: u32 = 16;

const _: () = {
    assert!(size_of::<DomainInfo>() == 112);
    assert!(offset_of!(DomainInfo, tot_pages) == 8);
    assert!(offset_of!(DomainInfo, cpu_time) == 56);
    assert!(offset_of!(DomainInfo, nr_online_vcpus) == 64);
    assert!(offset_of!(DomainInfo, handle) == 76);
    assert!(offset_of!(DomainInfo, cpupool) == 92);
    assert!(offset_of!(DomainInfo, arch_config) == 104);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_payload_round_trips() {
        let request = ReadConsole { count: 77, buffer: 0x1000, ..Default::default() };
        let sysctl = Sysctl::new(READCONSOLE, request);
        assert_eq!(sysctl.interface_version, INTERFACE_VERSION);
        let back: ReadConsole = sysctl.payload();
        assert_eq!(back.count, 77);
        assert_eq!(back.buffer, 0x1000);
    }

    #[test]
    fn domain_info_layout_matches_xen() {
        assert_eq!(size_of::<DomainInfo>(), 112);
        assert_eq!(offset_of!(DomainInfo, shared_info_frame), 48);
    }
}
