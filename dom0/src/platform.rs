//! The [`Platform`] the shell runs on: hypercalls to the hypervisor.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use dom0::{AttackReport, Platform, TrapReport};
use guest::hypercall;
use hypercalls::number::xenver;
use hypercalls::sched::ShutdownReason;
use hypercalls::sysctl::{self, DomainInfo, GetDomainInfoList, PhysInfo, ReadConsole, Sysctl};
use hypercalls::Errno;

/// Most domains `domain_count` asks about in one call.
const MAX_DOMAINS: usize = 256;
/// Size of the buffer `xl dmesg` reads the hypervisor log into.
const DMESG_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub struct HypercallPlatform {
    /// The hostile cases of `selftest attack`, built on its first run.
    attacks: Option<guest::attack::Suite>,
}

impl HypercallPlatform {
    fn attacks(&mut self) -> &guest::attack::Suite {
        self.attacks.get_or_insert_with(guest::attack::Suite::new)
    }
}

fn string_from(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&byte| byte == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

impl Platform for HypercallPlatform {
    fn write(&mut self, bytes: &[u8]) {
        guest::console::write_raw(bytes);
    }

    fn xen_version(&self) -> (u32, u32) {
        hypercall::version()
    }

    fn xen_extra_version(&self) -> Result<String, Errno> {
        let mut buffer = [0u8; xenver::EXTRAVERSION_LEN];
        hypercall::xen_version(xenver::EXTRAVERSION, buffer.as_mut_ptr())?;
        Ok(string_from(&buffer))
    }

    fn xen_capabilities(&self) -> Result<String, Errno> {
        let mut buffer = vec![0u8; xenver::CAPABILITIES_LEN];
        hypercall::xen_version(xenver::CAPABILITIES, buffer.as_mut_ptr())?;
        Ok(string_from(&buffer))
    }

    fn physinfo(&self) -> Result<PhysInfo, Errno> {
        let mut request = Sysctl::new(sysctl::PHYSINFO, PhysInfo::default());
        hypercall::sysctl(&mut request)?;
        Ok(request.payload())
    }

    fn domain_count(&self) -> Result<u32, Errno> {
        let mut records = vec![DomainInfo::default(); MAX_DOMAINS];
        let query = GetDomainInfoList {
            first_domain: 0,
            max_domains: MAX_DOMAINS as u32,
            buffer: records.as_mut_ptr() as u64,
            ..Default::default()
        };
        let mut request = Sysctl::new(sysctl::GETDOMAININFOLIST, query);
        hypercall::sysctl(&mut request)?;
        Ok(request.payload::<GetDomainInfoList>().num_domains)
    }

    fn read_dmesg(&mut self) -> Result<Vec<u8>, Errno> {
        let mut buffer = vec![0u8; DMESG_BYTES];
        let query = ReadConsole { buffer: buffer.as_mut_ptr() as u64, count: DMESG_BYTES as u32, ..Default::default() };
        let mut request = Sysctl::new(sysctl::READCONSOLE, query);
        hypercall::sysctl(&mut request)?;
        let read = request.payload::<ReadConsole>().count as usize;
        buffer.truncate(read.min(DMESG_BYTES));
        Ok(buffer)
    }

    fn current_ring(&self) -> u8 {
        guest::current_ring()
    }

    fn ramdisk(&self) -> &'static [u8] {
        guest::ramdisk()
    }

    fn poweroff(&mut self) {
        let errno = hypercall::shutdown(ShutdownReason::Poweroff);
        guest::println!("dom0: poweroff was refused: {errno}");
    }

    fn selftest_trap(&mut self) -> Result<TrapReport, &'static str> {
        let fault = guest::traps::expect_fault_hlt().ok_or("hlt in ring 1 did not fault")?;
        Ok(TrapReport { vector: fault.vector, error_code: fault.error_code, rip: fault.rip })
    }

    fn selftest_domain(&mut self) -> Vec<(String, bool)> {
        crate::selftest_domain::run()
    }

    fn selftest_crash(&mut self) -> &'static str {
        guest::traps::fault_without_handlers()
    }

    fn attack_case_count(&mut self) -> usize {
        self.attacks().len()
    }

    fn run_attack_case(&mut self, index: usize) -> AttackReport {
        let report = self.attacks().run(index);
        AttackReport { id: String::from(report.id), name: report.name, failure: report.result.err() }
    }

    fn selftest_iret(&mut self) -> String {
        guest::attack::iret::iret_to_non_canonical_rip()
    }
}
