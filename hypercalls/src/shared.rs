//! Pages the hypervisor shares with a guest: `start_info`, `shared_info`,
//! `vcpu_info` and `vcpu_time_info`, in Xen's x86_64 layouts.

use core::mem::{offset_of, size_of};

/// Magic at the start of `start_info`. Xen writes `xen-3.0-x86_64` for ring-3
/// 64-bit kernels; Hospes kernels run in ring 1, so a distinct string keeps an
/// unmodified Xen kernel from booting and misbehaving.
pub const START_INFO_MAGIC: &[u8] = b"xen-3.0-x86_64-ring1";

/// `SIF_PRIVILEGED`: the domain may use privileged hypercalls.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// `SIF_INITDOMAIN`: the domain is the initial domain (Dom0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;

/// Length of `start_info.cmd_line` (`MAX_GUEST_CMDLINE`).
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// `start_info`: the page whose address a guest finds in `rsi` at entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    pub magic: [u8; 32],
    pub nr_pages: u64,
    /// Machine address of the `shared_info` page.
    pub shared_info: u64,
    pub flags: u32,
    pub _pad0: u32,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub _pad1: u32,
    /// DomU: console ring MFN. Dom0: `info_off` and `info_size` of the VGA info.
    pub console_mfn: u64,
    /// DomU: console event channel.
    pub console_evtchn: u32,
    pub _pad2: u32,
    /// Virtual address of the bootstrap L4 (the CR3 at entry).
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    /// Virtual address of the P2M array: one MFN (u64) per PFN.
    pub mfn_list: u64,
    /// Virtual address of the initial ramdisk.
    pub mod_start: u64,
    /// Length of the initial ramdisk in bytes, 0 when there is none.
    pub mod_len: u64,
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

impl StartInfo {
    /// Returns a `start_info` with every field zero.
    pub const fn zeroed() -> Self {
        // SAFETY: every field is an integer or an integer array, for which
        // all-zero bytes are a valid value.
        unsafe { core::mem::zeroed() }
    }

    /// Returns the command line up to its first NUL.
    pub fn command_line(&self) -> &[u8] {
        let end = self.cmd_line.iter().position(|&byte| byte == 0).unwrap_or(MAX_GUEST_CMDLINE);
        &self.cmd_line[..end]
    }
}

const _: () = {
    assert!(size_of::<StartInfo>() == 1168);
    assert!(offset_of!(StartInfo, nr_pages) == 32);
    assert!(offset_of!(StartInfo, shared_info) == 40);
    assert!(offset_of!(StartInfo, flags) == 48);
    assert!(offset_of!(StartInfo, store_mfn) == 56);
    assert!(offset_of!(StartInfo, store_evtchn) == 64);
    assert!(offset_of!(StartInfo, console_mfn) == 72);
    assert!(offset_of!(StartInfo, console_evtchn) == 80);
    assert!(offset_of!(StartInfo, pt_base) == 88);
    assert!(offset_of!(StartInfo, nr_pt_frames) == 96);
    assert!(offset_of!(StartInfo, mfn_list) == 104);
    assert!(offset_of!(StartInfo, mod_start) == 112);
    assert!(offset_of!(StartInfo, mod_len) == 120);
    assert!(offset_of!(StartInfo, cmd_line) == 128);
    assert!(offset_of!(StartInfo, first_p2m_pfn) == 1152);
    assert!(offset_of!(StartInfo, nr_p2m_frames) == 1160);
};

/// `vcpu_time_info`: the system time a vCPU computes from its TSC.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct VcpuTimeInfo {
    /// Odd while the hypervisor updates the record (read it like a seqlock).
    pub version: u32,
    pub _pad0: u32,
    pub tsc_timestamp: u64,
    /// Nanoseconds since the hypervisor booted, at `tsc_timestamp`.
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    pub flags: u8,
    pub _pad1: [u8; 2],
}

impl VcpuTimeInfo {
    /// Converts a TSC reading to system time in nanoseconds.
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        let mut delta = tsc.wrapping_sub(self.tsc_timestamp);
        if self.tsc_shift >= 0 {
            delta <<= self.tsc_shift;
        } else {
            delta >>= -self.tsc_shift;
        }
        let scaled = ((delta as u128 * self.tsc_to_system_mul as u128) >> 32) as u64;
        self.system_time.wrapping_add(scaled)
    }
}

const _: () = {
    assert!(size_of::<VcpuTimeInfo>() == 32);
    assert!(offset_of!(VcpuTimeInfo, tsc_timestamp) == 8);
    assert!(offset_of!(VcpuTimeInfo, system_time) == 16);
    assert!(offset_of!(VcpuTimeInfo, tsc_to_system_mul) == 24);
    assert!(offset_of!(VcpuTimeInfo, tsc_shift) == 28);
    assert!(offset_of!(VcpuTimeInfo, flags) == 29);
};

/// `vcpu_info`: per-vCPU event state and time.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct VcpuInfo {
    /// Set by the hypervisor when an unmasked event is pending for this vCPU.
    pub evtchn_upcall_pending: u8,
    /// The guest's virtual interrupt flag: 1 blocks upcalls.
    pub evtchn_upcall_mask: u8,
    pub _pad0: [u8; 6],
    /// Bit i set: look at word i of `evtchn_pending`.
    pub evtchn_pending_sel: u64,
    /// Faulting address of the last page fault bounced to the guest.
    pub cr2: u64,
    pub _arch_pad: u64,
    pub time: VcpuTimeInfo,
}

const _: () = {
    assert!(size_of::<VcpuInfo>() == 64);
    assert!(offset_of!(VcpuInfo, evtchn_upcall_mask) == 1);
    assert!(offset_of!(VcpuInfo, evtchn_pending_sel) == 8);
    assert!(offset_of!(VcpuInfo, cr2) == 16);
    assert!(offset_of!(VcpuInfo, time) == 32);
};

/// `XEN_LEGACY_MAX_VCPUS`: `vcpu_info` slots in `shared_info`.
pub const LEGACY_MAX_VCPUS: usize = 32;
/// Event channel ports the 2-level ABI can name on x86_64 (64 words of 64 bits).
pub const EVTCHN_2L_PORTS: usize = 64 * 64;

/// `shared_info`: one page per domain, mapped by the guest.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; LEGACY_MAX_VCPUS],
    pub evtchn_pending: [u64; 64],
    pub evtchn_mask: [u64; 64],
    pub wc_version: u32,
    pub wc_sec: u32,
    pub wc_nsec: u32,
    pub wc_sec_hi: u32,
    pub arch: ArchSharedInfo,
}

/// `arch_shared_info` for x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct ArchSharedInfo {
    pub max_pfn: u64,
    pub pfn_to_mfn_frame_list_list: u64,
    pub nmi_reason: u64,
    pub p2m_cr3: u64,
    pub p2m_vaddr: u64,
    pub p2m_generation: u64,
}

const _: () = {
    assert!(size_of::<SharedInfo>() == 3136);
    assert!(offset_of!(SharedInfo, evtchn_pending) == 2048);
    assert!(offset_of!(SharedInfo, evtchn_mask) == 2560);
    assert!(offset_of!(SharedInfo, wc_version) == 3072);
    assert!(offset_of!(SharedInfo, wc_sec) == 3076);
    assert!(offset_of!(SharedInfo, wc_nsec) == 3080);
    assert!(offset_of!(SharedInfo, wc_sec_hi) == 3084);
    assert!(offset_of!(SharedInfo, arch) == 3088);
    assert!(size_of::<ArchSharedInfo>() == 48);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_info_layout_matches_xen() {
        assert_eq!(size_of::<StartInfo>(), 1168);
        assert_eq!(offset_of!(StartInfo, shared_info), 40);
        assert_eq!(offset_of!(StartInfo, pt_base), 88);
        assert_eq!(offset_of!(StartInfo, mod_len), 120);
        assert_eq!(offset_of!(StartInfo, cmd_line), 128);
    }

    #[test]
    fn shared_info_layout_matches_xen() {
        assert_eq!(size_of::<SharedInfo>(), 3136);
        assert_eq!(offset_of!(SharedInfo, evtchn_mask), 2560);
        assert_eq!(offset_of!(SharedInfo, arch), 3088);
    }

    #[test]
    fn vcpu_info_layout_matches_xen() {
        assert_eq!(size_of::<VcpuInfo>(), 64);
        assert_eq!(size_of::<VcpuTimeInfo>(), 32);
        assert_eq!(offset_of!(VcpuInfo, time), 32);
        assert_eq!(offset_of!(VcpuTimeInfo, tsc_shift), 28);
    }

    #[test]
    fn system_time_scales_tsc_delta() {
        // 2 GHz TSC: 0.5 ns per tick, so mul = 2^31 with shift 0.
        let time = VcpuTimeInfo {
            tsc_timestamp: 1000,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            ..Default::default()
        };
        assert_eq!(time.system_time_at(1000), 5_000);
        assert_eq!(time.system_time_at(3000), 6_000);
    }

    #[test]
    fn command_line_stops_at_nul() {
        let mut info = StartInfo::zeroed();
        info.cmd_line[..5].copy_from_slice(b"quiet");
        assert_eq!(info.command_line(), b"quiet");
    }
}
