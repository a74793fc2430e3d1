//! Event channels, 2-level ABI: the parts Dom0's console needs now.
//!
//! A port is bound to a virtual IRQ with `EVTCHNOP_bind_virq`; the
//! hypervisor raises it by setting the port's pending bit in `shared_info`,
//! then, if the port is unmasked, the selector bit and `evtchn_upcall_pending`
//! of the bound vCPU, which wakes a blocked vCPU. The upcall itself is
//! delivered on the way back into the guest ([`super::traps::deliver_events`]).
//! Interdomain channels, IPIs and the rest of the interface come later.

use super::domain::{Domain, NR_VIRQS, PortState};
use hypercalls::Errno;
use hypercalls::shared::EVTCHN_2L_PORTS;

/// Ports a domain may have open.
pub const MAX_PORTS: usize = 1024;

pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_UNMASK: u64 = 9;

/// VIRQ numbers used by the hypervisor.
pub const VIRQ_TIMER: u32 = 0;
pub const VIRQ_CONSOLE: u32 = 2;
pub const VIRQ_DOM_EXC: u32 = 3;

const _: () = assert!(MAX_PORTS <= EVTCHN_2L_PORTS);

/// Binds `virq` on `vcpu` to a fresh port and returns the port number.
pub fn bind_virq(domain: &mut Domain, virq: u32, vcpu: u32) -> Result<u32, Errno> {
    let slot = usize::try_from(virq).ok().filter(|&index| index < NR_VIRQS).ok_or(Errno::EINVAL)?;
    if vcpu != 0 {
        return Err(Errno::ENOENT);
    }
    if domain.virq_ports[slot] != 0 {
        return Err(Errno::EEXIST);
    }
    let port = allocate_port(domain)?;
    domain.ports[port as usize] = PortState::Virq { virq, vcpu };
    domain.virq_ports[slot] = port;
    Ok(port)
}

fn allocate_port(domain: &mut Domain) -> Result<u32, Errno> {
    if domain.ports.is_empty() {
        domain.ports.push(PortState::Free);
    }
    if let Some(index) = domain.ports.iter().skip(1).position(|state| *state == PortState::Free) {
        return Ok(index as u32 + 1);
    }
    if domain.ports.len() >= MAX_PORTS {
        return Err(Errno::ENOSPC);
    }
    domain.ports.push(PortState::Free);
    Ok(domain.ports.len() as u32 - 1)
}

/// Closes `port`; its pending bit stays until the guest clears it, as on Xen.
pub fn close(domain: &mut Domain, port: u32) -> Result<(), Errno> {
    let state = domain.ports.get(port as usize).copied().ok_or(Errno::EINVAL)?;
    match state {
        PortState::Free => return Err(Errno::EINVAL),
        PortState::Virq { virq, .. } => domain.virq_ports[virq as usize] = 0,
    }
    domain.ports[port as usize] = PortState::Free;
    Ok(())
}

/// Raises `virq` for the domain if it has a port bound to it.
pub fn send_virq(domain: &mut Domain, virq: u32) {
    let port = domain.virq_ports.get(virq as usize).copied().unwrap_or(0);
    if port != 0 {
        set_pending(domain, port);
    }
}

/// Marks `port` pending and signals vCPU 0 if it is unmasked (Xen's 2-level
/// rules: an edge already pending, or a selector bit already set, adds nothing).
pub fn set_pending(domain: &mut Domain, port: u32) {
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    let pending = domain.event_word(false, word);
    if pending & bit != 0 {
        return;
    }
    domain.set_event_word(false, word, pending | bit);
    if domain.event_word(true, word) & bit == 0 {
        signal_selector(domain, word);
    }
}

/// Clears the mask bit of `port`; if it was pending, signals it now.
pub fn unmask(domain: &mut Domain, port: u32) -> Result<(), Errno> {
    if port as usize >= domain.ports.len() {
        return Err(Errno::EINVAL);
    }
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    let mask = domain.event_word(true, word);
    domain.set_event_word(true, word, mask & !bit);
    if mask & bit != 0 && domain.event_word(false, word) & bit != 0 {
        signal_selector(domain, word);
    }
    Ok(())
}

fn signal_selector(domain: &mut Domain, word: usize) {
    let mut newly_signalled = false;
    domain.update_vcpu_info(|info| {
        let selector = 1u64 << word;
        if info.evtchn_pending_sel & selector == 0 {
            info.evtchn_pending_sel |= selector;
            info.evtchn_upcall_pending = 1;
            newly_signalled = true;
        }
    });
    if newly_signalled {
        domain.vcpu.blocked = false;
    }
}

/// True when vCPU 0 has an upcall pending, whatever its mask.
pub fn upcall_pending(domain: &Domain) -> bool {
    domain.vcpu_info().evtchn_upcall_pending != 0
}
