//! Event channels, 2-level ABI: the port table of one domain and the
//! pending/mask/selector rules, kept free of hardware so they are tested on
//! the host.
//!
//! Port states and their transitions:
//!
//! ```text
//!   Free --bind_virq--> Virq        Free --bind_ipi--> Ipi
//!   Free --alloc_unbound--> Unbound{remote} --peer binds--> Interdomain{remote, port}
//!   Interdomain --peer closes--> Unbound{closer}        any --close--> Free
//! ```
//!
//! Raising a port follows Xen's 2-level rules: set the pending bit; if it was
//! already set, nothing more (the edge is signalled). If the port is not
//! masked and the selector bit of its word was clear, set the selector bit
//! and `evtchn_upcall_pending`. Unmasking a pending port signals it then, so
//! an event held back by the mask is delivered exactly once.

use alloc::vec::Vec;
use hypercalls::{DomId, Errno};

/// Number of virtual IRQs (`NR_VIRQS`).
pub const NR_VIRQS: usize = 24;
/// Ports a domain may have open; port 0 is never handed out.
pub const MAX_PORTS: usize = 1024;
/// `VIRQ_TIMER`, a per-vCPU VIRQ that cannot move to another vCPU.
pub const VIRQ_TIMER: u32 = 0;

const _: () = assert!(MAX_PORTS <= hypercalls::shared::EVTCHN_2L_PORTS);

/// State of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Free,
    /// Bound to a virtual IRQ for a vCPU.
    Virq { virq: u32, vcpu: u32 },
    /// Allocated, waiting for `remote` to bind to it.
    Unbound { remote: DomId },
    /// Connected to `remote_port` of `remote`.
    Interdomain { remote: DomId, remote_port: u32 },
    /// An inter-processor interrupt to a vCPU of the same domain.
    Ipi { vcpu: u32 },
}

/// `EVTCHNSTAT_*` values of `EVTCHNOP_status`.
pub const EVTCHNSTAT_CLOSED: u32 = 0;
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
pub const EVTCHNSTAT_VIRQ: u32 = 4;
pub const EVTCHNSTAT_IPI: u32 = 5;

/// The ports of one domain.
#[derive(Debug, Clone)]
pub struct PortTable {
    states: Vec<PortState>,
    virq_ports: [u32; NR_VIRQS],
}

impl Default for PortTable {
    fn default() -> Self {
        PortTable::new()
    }
}

impl PortTable {
    pub const fn new() -> Self {
        PortTable { states: Vec::new(), virq_ports: [0; NR_VIRQS] }
    }

    /// Ports that exist (free or not), port 0 included.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.len() <= 1
    }

    /// Returns the state of a port the guest named; `EINVAL` for port 0 or
    /// one never allocated.
    pub fn state(&self, port: u32) -> Result<PortState, Errno> {
        self.states.get(port as usize).copied().filter(|_| port != 0).ok_or(Errno::EINVAL)
    }

    /// Sets the state of an existing port (the peer side of a bind or close).
    pub fn set(&mut self, port: u32, state: PortState) {
        if let Some(slot) = self.states.get_mut(port as usize).filter(|_| port != 0) {
            *slot = state;
        }
    }

    /// Takes the lowest free port and gives it `state`; `ENOSPC` at the limit.
    pub fn allocate(&mut self, state: PortState) -> Result<u32, Errno> {
        if self.states.is_empty() {
            self.states.push(PortState::Free);
        }
        let port = match self.states.iter().skip(1).position(|state| *state == PortState::Free) {
            Some(index) => index + 1,
            None if self.states.len() >= MAX_PORTS => return Err(Errno::ENOSPC),
            None => {
                self.states.push(PortState::Free);
                self.states.len() - 1
            }
        };
        self.states[port] = state;
        Ok(port as u32)
    }

    /// `bind_virq`: `EINVAL` for an unknown VIRQ, `ENOENT` for a vCPU other
    /// than 0, `EEXIST` when the VIRQ is already bound.
    pub fn bind_virq(&mut self, virq: u32, vcpu: u32) -> Result<u32, Errno> {
        let slot = usize::try_from(virq).ok().filter(|&index| index < NR_VIRQS).ok_or(Errno::EINVAL)?;
        if vcpu != 0 {
            return Err(Errno::ENOENT);
        }
        if self.virq_ports[slot] != 0 {
            return Err(Errno::EEXIST);
        }
        let port = self.allocate(PortState::Virq { virq, vcpu })?;
        self.virq_ports[slot] = port;
        Ok(port)
    }

    /// Port bound to `virq`, if any.
    pub fn virq_port(&self, virq: u32) -> Option<u32> {
        self.virq_ports.get(virq as usize).copied().filter(|&port| port != 0)
    }

    /// `bind_ipi`: `ENOENT` for a vCPU other than 0.
    pub fn bind_ipi(&mut self, vcpu: u32) -> Result<u32, Errno> {
        if vcpu != 0 {
            return Err(Errno::ENOENT);
        }
        self.allocate(PortState::Ipi { vcpu })
    }

    /// `bind_vcpu`: IPI ports and `VIRQ_TIMER` cannot move (`EINVAL`); the
    /// only vCPU is 0 (`ENOENT` otherwise).
    pub fn bind_vcpu(&self, port: u32, vcpu: u32) -> Result<(), Errno> {
        match self.state(port)? {
            PortState::Free | PortState::Ipi { .. } => Err(Errno::EINVAL),
            PortState::Virq { virq, .. } if virq == VIRQ_TIMER => Err(Errno::EINVAL),
            _ if vcpu != 0 => Err(Errno::ENOENT),
            _ => Ok(()),
        }
    }

    /// Frees `port` and returns what it was; `EINVAL` for a free port.
    pub fn close(&mut self, port: u32) -> Result<PortState, Errno> {
        let state = self.state(port)?;
        if let PortState::Virq { virq, .. } = state {
            self.virq_ports[virq as usize] = 0;
        }
        if state == PortState::Free {
            return Err(Errno::EINVAL);
        }
        self.states[port as usize] = PortState::Free;
        Ok(state)
    }

    /// `status`: (status, vcpu, first union word, second union word).
    pub fn status(&self, port: u32) -> Result<[u32; 4], Errno> {
        if port as usize >= MAX_PORTS {
            return Err(Errno::EINVAL);
        }
        let state = self.states.get(port as usize).copied().unwrap_or(PortState::Free);
        Ok(match state {
            PortState::Free => [EVTCHNSTAT_CLOSED, 0, 0, 0],
            PortState::Unbound { remote } => [EVTCHNSTAT_UNBOUND, 0, remote as u32, 0],
            PortState::Interdomain { remote, remote_port } => [EVTCHNSTAT_INTERDOMAIN, 0, remote as u32, remote_port],
            PortState::Virq { virq, vcpu } => [EVTCHNSTAT_VIRQ, vcpu, virq, 0],
            PortState::Ipi { vcpu } => [EVTCHNSTAT_IPI, vcpu, 0, 0],
        })
    }

    /// Lists every port that is not free, with its state.
    pub fn open_ports(&self) -> impl Iterator<Item = (u32, PortState)> + '_ {
        self.states.iter().enumerate().skip(1).filter(|(_, state)| **state != PortState::Free).map(|(port, state)| (port as u32, *state))
    }
}

/// The 2-level pending and mask bitmaps and vCPU 0's selector, as a domain's
/// `shared_info` contains them.
pub trait EventBits {
    /// Reads word `index` of the pending (`mask == false`) or mask bitmap.
    fn word(&self, mask: bool, index: usize) -> u64;
    fn set_word(&mut self, mask: bool, index: usize, value: u64);
    /// Sets selector bit `index`; if it was clear, also sets
    /// `evtchn_upcall_pending` and returns true.
    fn signal_selector(&mut self, index: usize) -> bool;
}

/// Raises `port`; returns true when vCPU 0 must be woken (a new upcall).
pub fn raise(bits: &mut impl EventBits, port: u32) -> bool {
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    let pending = bits.word(false, word);
    if pending & bit != 0 {
        return false;
    }
    bits.set_word(false, word, pending | bit);
    bits.word(true, word) & bit == 0 && bits.signal_selector(word)
}

/// Clears the mask of `port` and signals it if it was masked and pending;
/// returns true when vCPU 0 must be woken.
pub fn unmask(bits: &mut impl EventBits, port: u32) -> bool {
    let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
    let mask = bits.word(true, word);
    bits.set_word(true, word, mask & !bit);
    mask & bit != 0 && bits.word(false, word) & bit != 0 && bits.signal_selector(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitmaps in plain arrays, with the selector and upcall flag.
    struct FakeBits {
        pending: [u64; 64],
        mask: [u64; 64],
        selector: u64,
        upcall: bool,
    }

    impl Default for FakeBits {
        fn default() -> Self {
            FakeBits { pending: [0; 64], mask: [0; 64], selector: 0, upcall: false }
        }
    }

    impl EventBits for FakeBits {
        fn word(&self, mask: bool, index: usize) -> u64 {
            if mask { self.mask[index] } else { self.pending[index] }
        }
        fn set_word(&mut self, mask: bool, index: usize, value: u64) {
            if mask {
                self.mask[index] = value;
            } else {
                self.pending[index] = value;
            }
        }
        fn signal_selector(&mut self, index: usize) -> bool {
            let fresh = self.selector & (1 << index) == 0;
            self.selector |= 1 << index;
            if fresh {
                self.upcall = true;
            }
            fresh
        }
    }

    #[test]
    fn virq_binding_errors() {
        let mut table = PortTable::new();
        assert_eq!(table.bind_virq(24, 0), Err(Errno::EINVAL));
        assert_eq!(table.bind_virq(u32::MAX, 0), Err(Errno::EINVAL));
        assert_eq!(table.bind_virq(2, 1), Err(Errno::ENOENT));
        let port = table.bind_virq(2, 0).expect("bind");
        assert_eq!(port, 1);
        assert_eq!(table.bind_virq(2, 0), Err(Errno::EEXIST));
        assert_eq!(table.virq_port(2), Some(1));
        table.close(port).expect("close");
        assert_eq!(table.virq_port(2), None);
        assert_eq!(table.bind_virq(2, 0), Ok(1));
    }

    #[test]
    fn ports_run_out_at_the_limit() {
        let mut table = PortTable::new();
        for expected in 1..MAX_PORTS as u32 {
            assert_eq!(table.allocate(PortState::Unbound { remote: 0 }), Ok(expected));
        }
        assert_eq!(table.allocate(PortState::Unbound { remote: 0 }), Err(Errno::ENOSPC));
        table.close(500).expect("close");
        assert_eq!(table.allocate(PortState::Ipi { vcpu: 0 }), Ok(500));
    }

    #[test]
    fn close_and_state_reject_bad_ports() {
        let mut table = PortTable::new();
        assert_eq!(table.close(0), Err(Errno::EINVAL));
        assert_eq!(table.close(7), Err(Errno::EINVAL));
        let port = table.bind_ipi(0).expect("ipi");
        assert_eq!(table.close(port), Ok(PortState::Ipi { vcpu: 0 }));
        assert_eq!(table.close(port), Err(Errno::EINVAL));
        assert_eq!(table.state(0), Err(Errno::EINVAL));
        assert_eq!(table.bind_ipi(3), Err(Errno::ENOENT));
    }

    #[test]
    fn status_reports_each_state() {
        let mut table = PortTable::new();
        let unbound = table.allocate(PortState::Unbound { remote: 4 }).unwrap();
        let connected = table.allocate(PortState::Interdomain { remote: 5, remote_port: 9 }).unwrap();
        let virq = table.bind_virq(3, 0).unwrap();
        let ipi = table.bind_ipi(0).unwrap();
        assert_eq!(table.status(unbound), Ok([EVTCHNSTAT_UNBOUND, 0, 4, 0]));
        assert_eq!(table.status(connected), Ok([EVTCHNSTAT_INTERDOMAIN, 0, 5, 9]));
        assert_eq!(table.status(virq), Ok([EVTCHNSTAT_VIRQ, 0, 3, 0]));
        assert_eq!(table.status(ipi), Ok([EVTCHNSTAT_IPI, 0, 0, 0]));
        assert_eq!(table.status(900), Ok([EVTCHNSTAT_CLOSED, 0, 0, 0]));
        assert_eq!(table.status(MAX_PORTS as u32), Err(Errno::EINVAL));
        assert_eq!(table.open_ports().count(), 4);
    }

    #[test]
    fn bind_vcpu_rules() {
        let mut table = PortTable::new();
        let timer = table.bind_virq(VIRQ_TIMER, 0).unwrap();
        let console = table.bind_virq(2, 0).unwrap();
        let ipi = table.bind_ipi(0).unwrap();
        assert_eq!(table.bind_vcpu(timer, 0), Err(Errno::EINVAL));
        assert_eq!(table.bind_vcpu(ipi, 0), Err(Errno::EINVAL));
        assert_eq!(table.bind_vcpu(console, 0), Ok(()));
        assert_eq!(table.bind_vcpu(console, 1), Err(Errno::ENOENT));
        assert_eq!(table.bind_vcpu(99, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn raise_signals_once_per_edge() {
        let mut bits = FakeBits::default();
        assert!(raise(&mut bits, 70));
        assert_eq!(bits.pending[1], 1 << 6);
        assert!(bits.upcall);
        assert!(!raise(&mut bits, 70), "an edge already pending adds nothing");
        bits.upcall = false;
        assert!(!raise(&mut bits, 71), "selector already set: no new upcall");
        assert!(!bits.upcall);
    }

    #[test]
    fn masked_event_delivered_once_on_unmask() {
        let mut bits = FakeBits::default();
        bits.mask[0] = 1 << 5;
        assert!(!raise(&mut bits, 5), "masked: pending but no upcall");
        assert_eq!(bits.pending[0], 1 << 5);
        assert!(!bits.upcall);
        assert!(unmask(&mut bits, 5));
        assert!(bits.upcall);
        assert_eq!(bits.mask[0], 0);
        bits.upcall = false;
        bits.selector = 0;
        assert!(!unmask(&mut bits, 5), "a second unmask signals nothing");
        assert!(!bits.upcall);
    }

    #[test]
    fn unmask_of_idle_port_signals_nothing() {
        let mut bits = FakeBits::default();
        bits.mask[0] = 1 << 9;
        assert!(!unmask(&mut bits, 9));
        assert!(!bits.upcall);
    }
}
