//! Event channels across domains: the hypervisor side of the 2-level ABI.
//!
//! Each domain's ports live in a [`PortTable`] and the pending, mask and
//! selector rules in [`crate::evtchn`], both tested on the host. This module
//! connects ports of two domains: one side allocates an unbound port naming
//! its peer (`alloc_unbound`), the peer binds to it (`bind_interdomain`),
//! `send` on either end raises the other, and closing one end leaves the
//! other unbound toward the closer, as on Xen. The upcall itself is
//! delivered on the way back into the guest ([`super::traps::deliver_events`]).

use super::Hypervisor;
use super::domain::{Domain, PortState};
use crate::evtchn::PortTable;
use hypercalls::{DomId, Errno};

pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_STATUS: u64 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
pub const EVTCHNOP_BIND_IPI: u64 = 7;
pub const EVTCHNOP_BIND_VCPU: u64 = 8;
pub const EVTCHNOP_UNMASK: u64 = 9;
pub const EVTCHNOP_RESET: u64 = 10;

/// VIRQ numbers the hypervisor raises.
pub const VIRQ_TIMER: u32 = crate::evtchn::VIRQ_TIMER;
pub const VIRQ_CONSOLE: u32 = 2;
pub const VIRQ_DOM_EXC: u32 = 3;

/// `alloc_unbound`: a fresh port in `owner` that `remote` may bind to.
pub fn alloc_unbound(hypervisor: &mut Hypervisor, owner: DomId, remote: DomId) -> Result<u32, Errno> {
    if !hypervisor.domains.contains_key(&remote) {
        return Err(Errno::ESRCH);
    }
    let domain = hypervisor.domain(owner).ok_or(Errno::ESRCH)?;
    domain.ports.allocate(PortState::Unbound { remote })
}

/// `bind_interdomain`: connects a fresh port of `caller` to `remote_port`
/// of `remote`, which must be unbound and waiting for `caller`.
pub fn bind_interdomain(hypervisor: &mut Hypervisor, caller: DomId, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
    let peer = hypervisor.domain(remote).ok_or(Errno::ESRCH)?;
    match peer.ports.state(remote_port)? {
        PortState::Unbound { remote: expected } if expected == caller => {}
        _ => return Err(Errno::EINVAL),
    }
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    let local = domain.ports.allocate(PortState::Interdomain { remote, remote_port })?;
    let peer = hypervisor.domain(remote).ok_or(Errno::ESRCH)?;
    peer.ports.set(remote_port, PortState::Interdomain { remote: caller, remote_port: local });
    // Raise the new port, as Xen does, so neither side misses an event sent before the bind.
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    domain.raise(local);
    Ok(local)
}

/// `send`: raises the other end of an interdomain channel, or the caller's
/// own IPI port. Sending on an unbound port is accepted and dropped; on a
/// VIRQ or free port it is `-EINVAL`.
pub fn send(hypervisor: &mut Hypervisor, caller: DomId, port: u32) -> Result<(), Errno> {
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    match domain.ports.state(port)? {
        PortState::Interdomain { remote, remote_port } => {
            if let Some(peer) = hypervisor.domain(remote) {
                peer.raise(remote_port);
            }
            Ok(())
        }
        PortState::Ipi { .. } => {
            domain.raise(port);
            Ok(())
        }
        PortState::Unbound { .. } => Ok(()),
        PortState::Free | PortState::Virq { .. } => Err(Errno::EINVAL),
    }
}

/// Closes `port` of `caller`; an interdomain peer goes back to waiting for
/// `caller` and is raised so it notices. The pending bit stays until the
/// guest clears it, as on Xen.
pub fn close(hypervisor: &mut Hypervisor, caller: DomId, port: u32) -> Result<(), Errno> {
    let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
    let state = domain.ports.close(port)?;
    if let PortState::Interdomain { remote, remote_port } = state
        && let Some(peer) = hypervisor.domain(remote)
        && peer.ports.state(remote_port) == Ok(PortState::Interdomain { remote: caller, remote_port: port })
    {
        peer.ports.set(remote_port, PortState::Unbound { remote: caller });
        peer.raise(remote_port);
    }
    Ok(())
}

/// Closes every port of a domain (`EVTCHNOP_reset`, and domain destruction),
/// telling each interdomain peer.
pub fn close_all(hypervisor: &mut Hypervisor, target: DomId) {
    let ports: alloc::vec::Vec<u32> =
        hypervisor.domain(target).map(|domain| domain.ports.open_ports().map(|(port, _)| port).collect()).unwrap_or_default();
    for port in ports {
        let _ = close(hypervisor, target, port);
    }
}

/// Raises `virq` for the domain if it has a port bound to it.
pub fn send_virq(domain: &mut Domain, virq: u32) {
    if let Some(port) = domain.ports.virq_port(virq) {
        domain.raise(port);
    }
}

/// True when vCPU 0 has an upcall pending, whatever its mask.
pub fn upcall_pending(domain: &Domain) -> bool {
    domain.vcpu_info().evtchn_upcall_pending != 0
}

/// Checks that `port` exists in `table` before it is unmasked.
pub fn check_port(table: &PortTable, port: u32) -> Result<(), Errno> {
    if port as usize >= table.len() {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
