//! The [`Platform`] the shell runs on: hypercalls to the hypervisor.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use crate::toolstack::{self, Toolstack};
use alloc::format;
use dom0::domname::HypercallFailure;
use dom0::xl::XlCommand;
use dom0::{AttackReport, Platform, TrapReport};
use guest::hypercall;
use hypercalls::number::xenver;
use hypercalls::sched::ShutdownReason;
use hypercalls::sysctl::{self, DomainInfo, GetDomainInfoList, PhysInfo, ReadConsole, Sysctl};
use hypercalls::Errno;

/// Maximum number of domains `domain_count` reads in one call.
const MAX_DOMAINS: usize = 256;
/// Size of the buffer `xl dmesg` reads the hypervisor log into.
const DMESG_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub struct HypercallPlatform {
    /// The hostile cases of `selftest attack`, built on its first run.
    attacks: Option<guest::attack::Suite>,
    toolstack: Toolstack,
}

/// Ctrl-]: detaches the terminal from a guest console, as in Xen's `xl console`.
const DETACH: u8 = 0x1D;

impl HypercallPlatform {
    /// Drains guest consoles and handles guests that stopped; returns true
    /// when the attached guest stopped and the terminal is Dom0's again.
    pub fn poll_guests(&mut self) -> bool {
        self.toolstack.poll(&mut |bytes: &[u8]| guest::console::write_raw(bytes))
    }

    pub fn attached_console(&self) -> bool {
        self.toolstack.attached.is_some()
    }

    /// Sends a typed byte to the attached guest; Ctrl-] detaches and brings
    /// the Dom0 prompt back.
    pub fn console_input(&mut self, byte: u8, shell: &mut dom0::Shell) {
        if byte == DETACH {
            self.toolstack.attached = None;
            guest::console::write_raw(b"\r\n");
            shell.start_prompt(self);
            return;
        }
        self.toolstack.input(&[byte]);
    }

    fn domain_command(&mut self, command: XlCommand) -> Result<(), String> {
        let output = |bytes: &[u8]| guest::console::write_raw(bytes);
        match command {
            XlCommand::Create { path, console, wait } => {
                let id = self.toolstack.create(guest::ramdisk(), &path)?;
                if wait {
                    self.toolstack.wait_ready(id, output)?;
                }
                if console {
                    self.toolstack.attach(id, output)?;
                }
                Ok(())
            }
            XlCommand::List { domain } => self.list(domain.as_deref()),
            XlCommand::Console(target) => {
                let id = self.resolve_guest(&target)?;
                self.toolstack.attach(id, output)
            }
            XlCommand::Destroy(target) => self.destroy(&target),
            XlCommand::Sharing => self.sharing(),
            XlCommand::Pause(target) => self.set_paused(&target, true),
            XlCommand::Unpause(target) => self.set_paused(&target, false),
            XlCommand::SchedCredit { domain, weight } => self.sched_credit(domain.as_deref(), weight),
            XlCommand::EvtchnList(target) => self.evtchn_list(&target),
            XlCommand::Shutdown(target) => self.stop(&target, ShutdownReason::Poweroff, "shutdown"),
            XlCommand::Reboot(target) => self.stop(&target, ShutdownReason::Reboot, "reboot"),
        }
    }

    fn attacks(&mut self) -> &guest::attack::Suite {
        self.attacks.get_or_insert_with(guest::attack::Suite::new)
    }
}

impl HypercallPlatform {
    /// Resolves a `DOM` argument to a DomU this toolstack built.
    fn resolve_guest(&self, target: &str) -> Result<u16, String> {
        let id = self.toolstack.resolve(target)?;
        if id == 0 {
            return Err(format!("xl: {target} is Dom0; this command works on DomUs only"));
        }
        Ok(id)
    }

    fn set_paused(&mut self, target: &str, paused: bool) -> Result<(), String> {
        let id = self.resolve_guest(target)?;
        let (subcommand, action) = if paused { ("pause", "pause") } else { ("unpause", "unpause") };
        crate::builder::set_paused(id, paused).map_err(|errno| {
            let failure = HypercallFailure { subcommand, action, domain: target, detail: "", errno, reason: None };
            format!("{failure}")
        })
    }

    fn stop(&mut self, target: &str, reason: ShutdownReason, subcommand: &str) -> Result<(), String> {
        let id = self.resolve_guest(target)?;
        toolstack::remote_shutdown(id, reason).map(|_| ()).map_err(|errno| {
            let failure = HypercallFailure { subcommand, action: "shut down", domain: target, detail: "", errno, reason: None };
            format!("{failure}")
        })?;
        let _ = self.poll_guests();
        Ok(())
    }

    /// `xl sched-credit`: Xen's `Name ID Weight Cap` table, or sets one weight.
    fn sched_credit(&mut self, target: Option<&str>, weight: Option<u16>) -> Result<(), String> {
        let ids: Vec<u16> = match target {
            Some(target) => alloc::vec![self.toolstack.resolve(target)?],
            None => crate::builder::list_domains()
                .map_err(|errno| format!("xl sched-credit: cannot list domains: {}", errno.name()))?
                .iter()
                .map(|record| record.domain)
                .collect(),
        };
        let mut rows = Vec::new();
        for id in ids {
            let name = if id == 0 { dom0::domname::DOM0_NAME } else { self.toolstack.name_of(id).unwrap_or("(null)") };
            let current = crate::builder::sched_credit(id, weight).map_err(|errno| {
                let action = if weight.is_some() { "set the weight of" } else { "read the weight of" };
                format!("{}", HypercallFailure { subcommand: "sched-credit", action, domain: name, detail: "", errno, reason: None })
            })?;
            rows.push(format!("{name:<33} {id:>4} {current:>6} {:>4}", 0));
        }
        if weight.is_none() {
            guest::console::write(b"Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n");
            guest::console::write(format!("{:<33} {:>4} {:>6} {:>4}\n", "Name", "ID", "Weight", "Cap").as_bytes());
            for row in rows {
                guest::console::write(row.as_bytes());
                guest::console::write(b"\n");
            }
        }
        Ok(())
    }

    /// `xl evtchn-list DOM`: every open port of a domain, from `EVTCHNOP_status`.
    fn evtchn_list(&mut self, target: &str) -> Result<(), String> {
        let id = self.toolstack.resolve(target)?;
        let ports = port_statuses(id).map_err(|errno| {
            let failure = HypercallFailure { subcommand: "evtchn-list", action: "read the event channels of", domain: target, detail: "", errno, reason: None };
            format!("{failure}")
        })?;
        for line in dom0::xl::format_ports(&ports) {
            guest::console::write(line.as_bytes());
            guest::console::write(b"\n");
        }
        Ok(())
    }

    /// `xl sharing`: the channels and grants that connect domains now.
    fn sharing(&mut self) -> Result<(), String> {
        let records = crate::builder::list_domains().map_err(|errno| format!("xl sharing: cannot list domains: {}", errno.name()))?;
        let mut ports = Vec::new();
        let mut offers = Vec::new();
        for record in &records {
            let id = record.domain;
            let failed = |what: &str, errno: Errno| format!("xl sharing: cannot read the {what} of domain {id}: {}", errno.name());
            for status in port_statuses(id).map_err(|errno| failed("event channels", errno))? {
                ports.push((id, status));
            }
            offers.extend(grant_offers(id).map_err(|errno| failed("grants", errno))?);
        }
        // A grant may name a domain that does not exist (any more); "(null)"
        // is kept for live domains without a name, as `xl list` shows them.
        let name = |id: u16| match (id, self.toolstack.name_of(id)) {
            (0, _) => String::from(dom0::domname::DOM0_NAME),
            (_, Some(name)) => String::from(name),
            (_, None) if records.iter().any(|record| record.domain == id) => String::from(dom0::xl_list::NO_NAME),
            (_, None) => String::from("(no such domain)"),
        };
        for line in dom0::xl::format_sharing(&ports, &offers, name) {
            guest::console::write(line.as_bytes());
            guest::console::write(b"\n");
        }
        Ok(())
    }

    /// `xl destroy DOM`: reports what peers still map of the domain first.
    fn destroy(&mut self, target: &str) -> Result<(), String> {
        let id = self.resolve_guest(target)?;
        if let Ok(offers) = grant_offers(id) {
            // The dying domain's mappings of its own grants disappear with it.
            for offer in offers.iter().filter(|offer| offer.pins > 0 && offer.peer != id) {
                let peer = if offer.peer == 0 { String::from(dom0::domname::DOM0_NAME) } else { String::from(self.toolstack.name_of(offer.peer).unwrap_or("(null)")) };
                let line = format!(
                    "xl destroy: {target} still has grant ref {} mapped {} time(s) by {peer} ({}); its frame stays allocated until unmapped\n",
                    offer.gref, offer.pins, offer.peer
                );
                guest::console::write(line.as_bytes());
            }
        }
        self.toolstack.destroy(id)
    }

    /// `xl list [DOM]` in Xen's columns.
    fn list(&mut self, filter: Option<&str>) -> Result<(), String> {
        let records = crate::builder::list_domains().map_err(|errno| format!("xl list: cannot list domains: {}", errno.name()))?;
        let wanted = match filter {
            Some(target) => Some(self.toolstack.resolve(target)?),
            None => None,
        };
        let shown: Vec<DomainInfo> =
            records.into_iter().filter(|record| wanted.is_none_or(|id| record.domain == id)).collect();
        for line in dom0::xl_list::format_list(&shown, &self.toolstack.names()) {
            guest::console::write(line.as_bytes());
            guest::console::write(b"\n");
        }
        Ok(())
    }
}

/// Reads the state of every port of `domain` with `EVTCHNOP_status`.
fn port_statuses(domain: u16) -> Result<Vec<dom0::xl::PortStatus>, Errno> {
    const EVTCHNOP_STATUS: u64 = 5;
    const MAX_PORTS: u32 = 1024;
    let mut ports = Vec::new();
    for port in 1..MAX_PORTS {
        let mut request = [domain as u32, port, 0, 0, 0, 0];
        hypercall::event_channel_op(EVTCHNOP_STATUS, request.as_mut_ptr().cast())?;
        let [_, _, status, vcpu, first, second] = request;
        ports.push(dom0::xl::PortStatus { port, status, vcpu, first: first & 0xFFFF, second });
    }
    Ok(ports)
}

/// Lists the grants `domain` offers, from the hypervisor's Hospes domctl.
fn grant_offers(domain: u16) -> Result<Vec<dom0::xl::Offer>, Errno> {
    use hypercalls::domctl::{self, Domctl, GrantList, GrantOffer};
    const MAX_OFFERS: usize = 2048;
    let mut records = vec![GrantOffer::default(); MAX_OFFERS];
    let query = GrantList { buffer: records.as_mut_ptr() as u64, max: MAX_OFFERS as u32, count: 0 };
    let mut request = Domctl::new(domctl::HOSPES_GRANT_LIST, domain, query);
    hypercall::domctl(&mut request)?;
    let count = request.payload::<GrantList>().count as usize;
    Ok(records[..count.min(MAX_OFFERS)]
        .iter()
        .map(|record| dom0::xl::Offer {
            granter: domain,
            gref: record.gref,
            peer: record.peer,
            readonly: record.flags & hypercalls::grant::GTF_READONLY != 0,
            frame: record.frame,
            pins: record.pins,
        })
        .collect())
}

fn string_from(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&byte| byte == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

impl Platform for HypercallPlatform {
    fn xl_domain(&mut self, command: XlCommand) -> Result<(), String> {
        self.domain_command(command)
    }

    fn console_attached(&self) -> bool {
        self.toolstack.attached.is_some()
    }

    fn bench(&mut self, arguments: &[String]) -> Result<(), String> {
        crate::bench::run(&mut self.toolstack, arguments)
    }

    fn ping(&mut self, domain: &str, count: u32) -> Result<(), String> {
        let remote = match domain {
            "0" | dom0::domname::DOM0_NAME => return Err(String::from("ping: DOM 0 is Dom0 itself; name a DomU")),
            _ => self.toolstack.resolve_for("ping", domain)?,
        };
        let mut emit = |line: &str| guest::println!("{line}");
        let trips = guest::ping::ping(0, remote, count, &mut toolstack::StoreRendezvous(&mut self.toolstack), &mut emit)?;
        emit(&trips.summary(remote));
        Ok(())
    }

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
        crate::selftest_domain::run(self.toolstack.window())
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

    fn xenstore(&mut self) -> &mut dom0::xenstore::Store {
        self.toolstack.store()
    }
}
