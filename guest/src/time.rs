//! System time from `vcpu_info[0].time` in `shared_info`.
//!
//! The hypervisor publishes a TSC timestamp, the system time at that
//! timestamp and a TSC-to-nanoseconds scale. A reading of the TSC turns into
//! nanoseconds since the hypervisor booted (Xen's "system time").

use hypercalls::shared::VcpuTimeInfo;

/// Reads the CPU's time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the counter. The hypervisor leaves CR4.TSD
    // clear, so it does not fault in ring 1.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Returns a consistent copy of vCPU 0's time record.
///
/// The hypervisor makes `version` odd while it rewrites the record, so the
/// copy is retried until `version` is even and the same before and after.
pub fn vcpu_time() -> VcpuTimeInfo {
    let shared = crate::entry::shared_info();
    loop {
        // SAFETY: shared_info is mapped for the domain's whole life. The
        // reads are volatile because the hypervisor writes the record
        // between guest instructions.
        let (before, copy, after) = unsafe {
            let time = core::ptr::addr_of!((*shared).vcpu_info[0].time);
            let before = core::ptr::addr_of!((*time).version).read_volatile();
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            let copy = time.read_volatile();
            core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
            let after = core::ptr::addr_of!((*time).version).read_volatile();
            (before, copy, after)
        };
        if before % 2 == 0 && before == after {
            return copy;
        }
        core::hint::spin_loop();
    }
}

/// Returns the system time in nanoseconds, or `None` while the hypervisor
/// has published no TSC scale (`tsc_to_system_mul` is 0).
pub fn system_time_ns() -> Option<u64> {
    let time = vcpu_time();
    if time.tsc_to_system_mul == 0 {
        return None;
    }
    Some(time.system_time_at(rdtsc()))
}
