//! `ping`: round trips of events over an interdomain event channel, timed
//! with the TSC.
//!
//! The pinger allocates an unbound port for the responder and writes its
//! number to the xenstore node `/local/domain/<responder>/data/ping/<pinger>`.
//! The responder watches its `data/ping` directory, binds to the port and
//! sends one event back for every event it receives. When the pinger closes
//! its end, the responder's port goes back to unbound, and the responder
//! prints how many events it answered and closes its port too.
//!
//! The responder reads node names and port numbers that any domain may
//! write, so [`parse_request`] checks them and the caller ignores bad ones.

use alloc::format;
use alloc::string::String;

/// Maximum number of events one `ping` sends.
pub const MAX_COUNT: u32 = 10_000;
/// Nanoseconds the pinger waits for the responder to bind its port.
pub const CONNECT_TIMEOUT_NS: u64 = 5_000_000_000;
/// Nanoseconds the pinger waits for each reply.
pub const REPLY_TIMEOUT_NS: u64 = 1_000_000_000;
/// Token of the responder's xenstore watch.
pub const WATCH_TOKEN: &str = "ping";
/// Maximum number of channels one responder serves at a time. Later
/// requests are ignored with a log line.
pub const MAX_SESSIONS: usize = 16;
/// Highest domain id a request may name, because ids from
/// `DOMID_FIRST_RESERVED` (0x7FF0) on name special domains.
const MAX_DOMID: u16 = 0x7FEF;
/// Highest port a domain may have, below the hypervisor's `MAX_PORTS` (1024).
const MAX_PORT: u32 = 1023;

/// Returns the directory where requests to ping `domid` are written.
pub fn directory(domid: u16) -> String {
    format!("/local/domain/{domid}/data/ping")
}

/// Parses a decimal number of at most `max`, digits only.
pub fn parse_decimal(text: &[u8], max: u32) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = text.iter().fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
    u32::try_from(value).ok().filter(|&value| value <= max)
}

/// Parses the COUNT of `ping DOM COUNT`: 1 to [`MAX_COUNT`].
pub fn parse_count(text: &str) -> Result<u32, String> {
    match parse_decimal(text.as_bytes(), MAX_COUNT) {
        Some(count) if count > 0 => Ok(count),
        _ => Err(format!("ping: invalid COUNT '{text}'; expected a whole number from 1 to {MAX_COUNT}")),
    }
}

/// Parses the arguments `DOM COUNT` of a DomU's `ping`, where DOM is a
/// domain id other than `own`.
pub fn parse_arguments(argument: &str, own: u16) -> Result<(u16, u32), String> {
    let words: alloc::vec::Vec<&str> = argument.split(' ').filter(|word| !word.is_empty()).collect();
    let [domain, count] = words.as_slice() else {
        return Err(String::from("ping: wrong number of arguments; usage: ping DOM COUNT"));
    };
    let remote = parse_decimal(domain.as_bytes(), u32::from(MAX_DOMID))
        .map(|value| value as u16)
        .ok_or_else(|| format!("ping: invalid DOM '{domain}'; expected a domain id from 0 to {MAX_DOMID}"))?;
    if remote == own {
        return Err(format!("ping: DOM {remote} is this domain; name another domain"));
    }
    Ok((remote, parse_count(count)?))
}

/// Parses one request node: its name `pinger` (a domain id) and its value
/// `port`. Returns (pinger, port), or a description of what is invalid.
pub fn parse_request(name: &[u8], value: &[u8], own: u16) -> Result<(u16, u32), String> {
    let shown_name = String::from_utf8_lossy(name);
    let pinger = parse_decimal(name, u32::from(MAX_DOMID))
        .map(|value| value as u16)
        .ok_or_else(|| format!("invalid domain id '{shown_name}'"))?;
    if pinger == own {
        return Err(format!("domain id {pinger} is this domain"));
    }
    let port = parse_decimal(value, MAX_PORT)
        .filter(|&port| port > 0)
        .ok_or_else(|| format!("invalid port '{}' from domain {pinger}", String::from_utf8_lossy(value)))?;
    Ok((pinger, port))
}

/// Round-trip times of one `ping`, in nanoseconds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundTrips {
    pub sent: u32,
    pub replies: u32,
    pub min: u64,
    pub max: u64,
    pub total: u64,
}

impl RoundTrips {
    /// Records one reply that took `nanoseconds`.
    pub fn record(&mut self, nanoseconds: u64) {
        self.min = if self.replies == 0 { nanoseconds } else { self.min.min(nanoseconds) };
        self.max = self.max.max(nanoseconds);
        self.total = self.total.saturating_add(nanoseconds);
        self.replies += 1;
    }

    /// Returns the mean round trip, 0 with no replies.
    pub fn average(&self) -> u64 {
        self.total.checked_div(u64::from(self.replies)).unwrap_or(0)
    }

    /// Formats the summary line of a ping to `remote`.
    pub fn summary(&self, remote: u16) -> String {
        format!(
            "ping {remote}: {} sent, {} replies, rtt min/avg/max = {}/{}/{} ns",
            self.sent,
            self.replies,
            self.min,
            self.average(),
            self.max
        )
    }
}

/// Formats the line a pinger prints for one reply.
pub fn reply_line(remote: u16, sequence: u32, nanoseconds: u64) -> String {
    format!("reply from {remote}: seq={sequence} time={nanoseconds} ns")
}

/// Formats the line a responder prints when a pinger closed its channel.
pub fn answered_line(pinger: u16, answered: u64) -> String {
    format!("ping from {pinger}: answered {answered} events")
}

#[cfg(target_os = "none")]
pub use runtime::{Channel, Rendezvous, Responder, close, open, ping, round_trip};

#[cfg(target_os = "none")]
mod runtime {
    use super::{
        CONNECT_TIMEOUT_NS, MAX_SESSIONS, REPLY_TIMEOUT_NS, RoundTrips, answered_line, directory, reply_line,
    };
    use crate::events::{self, PortStatus};
    use crate::hypercall;
    use crate::time;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// The store access the pinger publishes its port through: a DomU's
    /// xenstore ring, or the store Dom0 hosts.
    pub trait Rendezvous {
        /// Writes `value` at `path`.
        fn write(&mut self, path: &str, value: &[u8]) -> Result<(), String>;
        /// Removes `path`. The implementation logs a failure and goes on.
        fn remove(&mut self, path: &str);
        /// Runs between checks while the pinger waits, as Dom0 serves its
        /// guests' rings there.
        fn service(&mut self) {}
    }

    fn now_ns() -> u64 {
        time::system_time_ns().unwrap_or(0)
    }

    /// Pings `remote` `count` times from domain `own`, printing a line per
    /// reply through `emit`, and returns the round trips. Fails when the
    /// channel cannot be set up or `remote` does not bind within
    /// [`CONNECT_TIMEOUT_NS`].
    pub fn ping(
        own: u16,
        remote: u16,
        count: u32,
        rendezvous: &mut impl Rendezvous,
        emit: &mut impl FnMut(&str),
    ) -> Result<RoundTrips, String> {
        let channel = open(own, remote, rendezvous)?;
        let trips = exchange(remote, channel.port, count, rendezvous, emit);
        close(channel, rendezvous);
        Ok(trips)
    }

    /// An interdomain channel from a pinger to a responder, made by [`open`].
    pub struct Channel {
        /// The pinger's end.
        pub port: u32,
        /// The request node that names `port` to the responder.
        node: String,
    }

    /// Allocates a port for `remote`, publishes it as domain `own`'s request
    /// and waits until `remote` has bound to it. Fails when the port cannot
    /// be allocated or published, or `remote` does not bind within
    /// [`CONNECT_TIMEOUT_NS`]; the port and node are removed again then.
    pub fn open(own: u16, remote: u16, rendezvous: &mut impl Rendezvous) -> Result<Channel, String> {
        let port = events::alloc_unbound(remote).map_err(|errno| format!("ping: cannot allocate a port for domain {remote}: {errno}"))?;
        let node = format!("{}/{own}", directory(remote));
        if let Err(error) = rendezvous.write(&node, format!("{port}").as_bytes()) {
            let _ = events::close(port);
            return Err(format!("ping: cannot write {node}: {error}"));
        }
        let channel = Channel { port, node };
        if let Err(error) = connect(remote, port, rendezvous) {
            close(channel, rendezvous);
            return Err(error);
        }
        Ok(channel)
    }

    /// Closes the pinger's end of `channel` and removes its request node.
    pub fn close(channel: Channel, rendezvous: &mut impl Rendezvous) {
        let _ = events::close(channel.port);
        rendezvous.remove(&channel.node);
    }

    /// Sends one event on `port` and waits for the reply, as the interdomain
    /// round trip that `cargo xtask bench` times. Fails when the send fails
    /// or no reply arrives within [`REPLY_TIMEOUT_NS`].
    ///
    /// The wait spins instead of blocking. A blocked pinger is boosted when
    /// the reply wakes it. The credit scheduler then settles in one of two
    /// orders, depending on where timer ticks land. Either the responder
    /// runs at once on the pinger's send, or it runs only when the pinger
    /// blocks, one more hypercall per round trip. A pinger that does not
    /// block loses its boost at a timer tick and never gets it back, so the
    /// woken responder runs at once, and the reply's upcall is delivered on
    /// the way back from the send.
    // NOTE: a responder with less credit than the pinger and no boost does
    // not run on the pinger's send, so the pinger spins until the next
    // timer tick. Rounds with such waits averaged 19,140 to 59,129
    // instructions per round trip under icount instead of 9,142, and
    // yielding in the wait made whole runs settle at about 10,100. The
    // bench gives the responder the maximum credit weight to avoid both.
    pub fn round_trip(port: u32) -> Result<(), String> {
        events::send(port).map_err(|errno| format!("ping: send on port {port} failed: {errno}"))?;
        if events::take(port) {
            return Ok(());
        }
        let deadline = now_ns().saturating_add(REPLY_TIMEOUT_NS);
        while !events::take(port) {
            if now_ns() > deadline {
                return Err(format!("ping: no reply on port {port} within {} ms", REPLY_TIMEOUT_NS / 1_000_000));
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// Waits until `remote` has bound to `port`.
    fn connect(remote: u16, port: u32, rendezvous: &mut impl Rendezvous) -> Result<(), String> {
        let deadline = now_ns().saturating_add(CONNECT_TIMEOUT_NS);
        loop {
            match events::status(port) {
                Ok(PortStatus::Interdomain { .. }) => return Ok(()),
                Ok(PortStatus::Unbound { .. }) => {}
                Ok(other) => return Err(format!("ping: port {port} is in state {other:?}, expected interdomain")),
                Err(errno) => return Err(format!("ping: cannot read the status of port {port}: {errno}")),
            }
            if now_ns() > deadline {
                return Err(format!(
                    "ping: domain {remote} did not answer: its port stayed unbound for {} s; is the domain running?",
                    CONNECT_TIMEOUT_NS / 1_000_000_000
                ));
            }
            rendezvous.service();
            hypercall::yield_now();
        }
    }

    /// Sends `count` events one at a time, each after the previous reply
    /// or its time-out.
    fn exchange(remote: u16, port: u32, count: u32, rendezvous: &mut impl Rendezvous, emit: &mut impl FnMut(&str)) -> RoundTrips {
        let mut trips = RoundTrips::default();
        for sequence in 1..=count {
            events::take(port);
            let clock = time::vcpu_time();
            let start = time::rdtsc();
            if let Err(errno) = events::send(port) {
                emit(&format!("ping {remote}: send failed: {errno}; stopped"));
                break;
            }
            trips.sent += 1;
            let deadline = now_ns().saturating_add(REPLY_TIMEOUT_NS);
            let replied = loop {
                if events::take(port) {
                    break true;
                }
                if now_ns() > deadline {
                    break false;
                }
                rendezvous.service();
                hypercall::yield_now();
            };
            let end = time::rdtsc();
            if !replied {
                emit(&format!("ping {remote}: seq={sequence} timed out after {} ms", REPLY_TIMEOUT_NS / 1_000_000));
                continue;
            }
            if !matches!(events::status(port), Ok(PortStatus::Interdomain { .. })) {
                emit(&format!("ping {remote}: domain {remote} closed the channel; stopped"));
                break;
            }
            let nanoseconds = clock.system_time_at(end).wrapping_sub(clock.system_time_at(start));
            trips.record(nanoseconds);
            emit(&reply_line(remote, sequence, nanoseconds));
        }
        trips
    }

    /// One channel a responder serves.
    struct Session {
        pinger: u16,
        /// The pinger's port, as its request named it.
        remote_port: u32,
        port: u32,
        answered: u64,
    }

    /// The responder side: binds to the ports that pingers publish and
    /// answers each event with one event.
    pub struct Responder {
        own: u16,
        sessions: Vec<Session>,
    }

    impl Responder {
        pub const fn new(own: u16) -> Responder {
            Responder { own, sessions: Vec::new() }
        }

        /// Returns the domain this responder runs in.
        pub fn own(&self) -> u16 {
            self.own
        }

        /// Handles one request node named `name` with value `value`: binds
        /// to the pinger's port. Returns a log line for an invalid or failed
        /// request, `None` when it is served or already was.
        pub fn request(&mut self, name: &[u8], value: &[u8]) -> Option<String> {
            let (pinger, remote_port) = match super::parse_request(name, value, self.own) {
                Ok(request) => request,
                Err(problem) => return Some(format!("ping: ignored a request: {problem}")),
            };
            if self.sessions.iter().any(|session| session.pinger == pinger && session.remote_port == remote_port) {
                return None;
            }
            if self.sessions.len() >= MAX_SESSIONS {
                return Some(format!("ping: ignored a request from domain {pinger}: already serving {MAX_SESSIONS} channels"));
            }
            let port = match events::bind_interdomain(pinger, remote_port) {
                Ok(port) => port,
                Err(errno) => return Some(format!("ping: ignored a request from domain {pinger}: cannot bind to its port {remote_port}: {errno}")),
            };
            // The hypervisor raised the new port at the bind; that event is
            // no ping, so it must not be answered.
            events::discard_pending(port);
            self.sessions.push(Session { pinger, remote_port, port, answered: 0 });
            None
        }

        /// Answers the events that arrived on every channel, and closes the
        /// channels whose pinger went away, printing the count of each
        /// through `emit`.
        pub fn service(&mut self, emit: &mut impl FnMut(&str)) {
            self.sessions.retain_mut(|session| {
                if !events::take(session.port) {
                    return true;
                }
                match events::status(session.port) {
                    Ok(PortStatus::Interdomain { remote, .. }) if remote == session.pinger => {
                        if events::send(session.port).is_ok() {
                            session.answered += 1;
                        }
                        true
                    }
                    _ => {
                        emit(&answered_line(session.pinger, session.answered));
                        let _ = events::close(session.port);
                        false
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        assert_eq!(parse_arguments("2 10", 1), Ok((2, 10)));
        assert_eq!(parse_arguments(" 0   3 ", 2), Ok((0, 3)));
    }

    #[test]
    fn arguments_reject_bad_values() {
        assert!(parse_arguments("2", 1).unwrap_err().contains("usage: ping DOM COUNT"));
        assert!(parse_arguments("2 3 4", 1).unwrap_err().contains("usage"));
        assert!(parse_arguments("x 3", 1).unwrap_err().contains("invalid DOM 'x'"));
        assert!(parse_arguments("32752 3", 1).unwrap_err().contains("invalid DOM"));
        assert!(parse_arguments("1 3", 1).unwrap_err().contains("is this domain"));
        assert!(parse_arguments("2 0", 1).unwrap_err().contains("invalid COUNT '0'"));
        assert!(parse_arguments("2 -1", 1).unwrap_err().contains("invalid COUNT"));
        assert!(parse_arguments("2 10001", 1).unwrap_err().contains("invalid COUNT"));
        assert!(parse_arguments("2 99999999999", 1).unwrap_err().contains("invalid COUNT"));
    }

    #[test]
    fn request_accepts_valid_node() {
        assert_eq!(parse_request(b"1", b"5", 2), Ok((1, 5)));
        assert_eq!(parse_request(b"0", b"1023", 2), Ok((0, 1023)));
    }

    #[test]
    fn request_rejects_hostile_values() {
        assert!(parse_request(b"", b"5", 2).is_err());
        assert!(parse_request(b"../1", b"5", 2).is_err());
        assert!(parse_request(b"2", b"5", 2).unwrap_err().contains("this domain"));
        assert!(parse_request(b"32752", b"5", 2).is_err());
        assert!(parse_request(b"99999999999", b"5", 2).is_err());
        assert!(parse_request(b"1", b"0", 2).is_err());
        assert!(parse_request(b"1", b"1024", 2).is_err());
        assert!(parse_request(b"1", b"", 2).is_err());
        assert!(parse_request(b"1", b" 5", 2).is_err());
        assert!(parse_request(b"1", b"\xff\x00", 2).unwrap_err().contains("invalid port"));
    }

    #[test]
    fn round_trips_statistics() {
        let mut trips = RoundTrips { sent: 3, ..RoundTrips::default() };
        assert_eq!(trips.average(), 0);
        trips.record(300);
        trips.record(100);
        trips.record(500);
        assert_eq!((trips.min, trips.max, trips.average(), trips.replies), (100, 500, 300, 3));
        assert_eq!(trips.summary(2), "ping 2: 3 sent, 3 replies, rtt min/avg/max = 100/300/500 ns");
    }

    #[test]
    fn round_trips_single_reply() {
        let mut trips = RoundTrips::default();
        trips.record(42);
        assert_eq!((trips.min, trips.max, trips.average()), (42, 42, 42));
    }

    #[test]
    fn lines_match_their_format() {
        assert_eq!(reply_line(2, 1, 900), "reply from 2: seq=1 time=900 ns");
        assert_eq!(answered_line(1, 10), "ping from 1: answered 10 events");
        assert_eq!(directory(5), "/local/domain/5/data/ping");
    }
}
