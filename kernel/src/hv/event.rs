//! Event channels, 2-level ABI: VIRQs and interdomain channels.
//!
//! A port is bound to a virtual IRQ with `EVTCHNOP_bind_virq`, or connects
//! two domains: one side allocates an unbound port naming its peer
//! (`alloc_unbound`), the peer binds to it (`bind_interdomain`), and `send`
//! on either end raises the other. Raising a port sets its pending bit in
//! `shared_info` and, if the port is unmasked, the selector bit and
//! `evtchn_upcall_pending` of vCPU 0, which wakes a blocked vCPU. The upcall
//! itself is delivered on the way back into the guest
//! ([`super::traps::deliver_events`]).
//!
//! Port states: `Free -> Unbound{remote} -> Interdomain{remote, port}`, and
//! `Free -> Virq`. Closing one end of an interdomain channel leaves the
//! other end `Unbound` toward the closer, as on Xen.

use super::Hypervisor;
use super::domain::{Domain, NR_VIRQS, PortState};
use hypercalls::DomId;
use hypercalls::Errno;
use hypercalls::shared::EVTCHN_2L_PORTS;

/// Ports a domain may have open.
pub const MAX_PORTS: usize = 1024;

pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_STATUS: u64 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
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

fn port_state(domain: &Domain, port: u32) -> Result<PortState, Errno> {
    domain.ports.get(port as usize).copied().filter(|_| port != 0).ok_or(Errno::EINVAL)
}

/// `alloc_unbound`: a fresh port in `owner` that `remote` may bind to.
pub fn alloc_unbound(hypervisor: &mut Hypervisor, owner: DomId, remote: DomId) -> Result<u32, Errno> {
    if !hypervisor.domains.contains_key(&remote) {
        return Err(Errno::ESRCH);
    }
    let domain = hypervisor.domain(owner).ok_or(Errno::ESRCH)?;
    let port = allocate_port(domain)?;
    domain.ports[port as usize] = PortState::Unbound { remote };
    Ok(port)
}

/// `bind_interdomain`: connects a fresh port of `caller` to `remote_port`
/// of `remote`, which must be unbound and waiting for `caller`.
pub fn bind_interdomain(hypervisor: &mut Hypervisor, caller: DomId, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
    let peer = hypervisor.domain(remote).ok_or(Errno::ESRCH)?;
    match port_state(peer, remote_port)? {
        PortState::Unbound { remote: expected } if expected == caller => {}
        _ => return Err(Errno::EINVAL),
    }
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    let local = allocate_port(domain)?;
    domain.ports[local as usize] = PortState::Interdomain { remote, remote_port };
    let peer = hypervisor.domain(remote).ok_or(Errno::ESRCH)?;
    peer.ports[remote_port as usize] = PortState::Interdomain { remote: caller, remote_port: local };
    // Raise the new port, as Xen does, so neither side misses an event sent before the bind.
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    set_pending(domain, local);
    Ok(local)
}

/// `send`: raises the other end of an interdomain channel. Sending on an
/// unbound port is accepted and dropped; on a VIRQ or free port it is `-EINVAL`.
pub fn send(hypervisor: &mut Hypervisor, caller: DomId, port: u32) -> Result<(), Errno> {
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    match port_state(domain, port)? {
        PortState::Interdomain { remote, remote_port } => {
            if let Some(peer) = hypervisor.domain(remote) {
                set_pending(peer, remote_port);
            }
            Ok(())
        }
        PortState::Unbound { .. } => Ok(()),
        PortState::Free | PortState::Virq { .. } => Err(Errno::EINVAL),
    }
}

/// Closes `port` of `caller`; an interdomain peer goes back to waiting for
/// `caller`. The pending bit stays until the guest clears it, as on Xen.
pub fn close(hypervisor: &mut Hypervisor, caller: DomId, port: u32) -> Result<(), Errno> {
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    let state = port_state(domain, port)?;
    match state {
        PortState::Free => return Err(Errno::EINVAL),
        PortState::Virq { virq, .. } => domain.virq_ports[virq as usize] = 0,
        PortState::Unbound { .. } => {}
        PortState::Interdomain { .. } => {}
    }
    domain.ports[port as usize] = PortState::Free;
    if let PortState::Interdomain { remote, remote_port } = state
        && let Some(peer) = hypervisor.domain(remote)
        && let Some(slot) = peer.ports.get_mut(remote_port as usize)
    {
        *slot = PortState::Unbound { remote: caller };
        set_pending(peer, remote_port);
    }
    Ok(())
}

/// Closes every port of a dying domain, telling each interdomain peer.
pub fn close_all(hypervisor: &mut Hypervisor, dying: DomId) {
    let count = hypervisor.domain(dying).map_or(0, |domain| domain.ports.len());
    for port in 1..count as u32 {
        let _ = close(hypervisor, dying, port);
    }
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
    if newly_signalled && domain.vcpu.blocked {
        domain.vcpu.blocked = false;
        domain.account.wake();
    }
}

/// True when vCPU 0 has an upcall pending, whatever its mask.
pub fn upcall_pending(domain: &Domain) -> bool {
    domain.vcpu_info().evtchn_upcall_pending != 0
}
