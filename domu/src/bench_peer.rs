//! The protocol between the two DomUs of the interdomain benchmarks: a
//! `bench=peer` domain that replies to pings and offers grants, and a
//! `bench=pair peer=ID` domain that times event-channel round trips and
//! grant operations against it.
//!
//! The peer creates [`directory`] in its xenstore home, owned by itself and
//! readable and writable by every domain, and watches it. The measuring
//! domain writes [`REQUEST`] to the node named after its own domain id. The
//! peer grants that domain one writable page and replaces the node's value
//! with the grant reference in decimal. Any domain may write in the
//! directory, so the peer checks the node ([`parse_request`]), the measuring
//! domain checks the reply ([`parse_reference`]), and the hypervisor checks
//! the grant itself.

use alloc::format;
use alloc::string::String;
use hypercalls::grant::GrantRef;
use guest::ping::parse_decimal;
use hypercalls::{DOMID_FIRST_RESERVED, DomId};

/// Token of the peer's watch on its request directory.
pub const WATCH_TOKEN: &str = "bench-peer";

/// Value of a request node before the peer replies.
pub const REQUEST: &[u8] = b"request";

/// Returns the directory where domains ask peer `domid` for a grant.
pub fn directory(domid: DomId) -> String {
    format!("/local/domain/{domid}/data/bench-peer")
}

/// Parses a domain id below `DOMID_FIRST_RESERVED`.
fn parse_domid(text: &[u8]) -> Option<DomId> {
    parse_decimal(text, u32::from(DOMID_FIRST_RESERVED) - 1).map(|value| value as DomId)
}

/// Parses one node of the request directory, named `name` with value
/// `value`, as seen by peer `own`. Returns the domain to grant a page to,
/// `None` for a node that contains no open request (such as one the peer
/// has replied to), or a description of an invalid node name.
pub fn parse_request(name: &[u8], value: &[u8], own: DomId) -> Result<Option<DomId>, String> {
    let requester =
        parse_domid(name).ok_or_else(|| format!("invalid domain id '{}'", String::from_utf8_lossy(name)))?;
    if requester == own {
        return Err(format!("domain id {requester} is this domain"));
    }
    Ok((value == REQUEST).then_some(requester))
}

/// Parses the peer's reply in a request node: the grant reference, or
/// `None` while the node still contains [`REQUEST`] or anything but digits.
pub fn parse_reference(value: &[u8]) -> Option<GrantRef> {
    parse_decimal(value, u32::MAX)
}

/// Parses the `peer=ID` word of a `bench=pair` command line, for domain `own`.
pub fn parse_peer(command_line: &[u8], own: DomId) -> Result<DomId, String> {
    let text = guest::bench::option(command_line, "peer")
        .ok_or_else(|| String::from("no peer=ID on the command line; start it with 'bench domu CFG ROUNDS PEER'"))?;
    let peer = parse_domid(text.as_bytes())
        .ok_or_else(|| format!("invalid peer={text}: expected a domain id below {DOMID_FIRST_RESERVED}"))?;
    if peer == own {
        return Err(format!("peer={peer} is this domain; name another domain"));
    }
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_accepts_open_request() {
        assert_eq!(parse_request(b"3", REQUEST, 2), Ok(Some(3)));
        assert_eq!(parse_request(b"0", REQUEST, 2), Ok(Some(0)));
    }

    #[test]
    fn request_skips_replied_node() {
        assert_eq!(parse_request(b"3", b"8", 2), Ok(None));
        assert_eq!(parse_request(b"3", b"", 2), Ok(None));
        assert_eq!(parse_request(b"3", b"request ", 2), Ok(None));
    }

    #[test]
    fn request_rejects_hostile_names() {
        assert!(parse_request(b"", REQUEST, 2).unwrap_err().contains("invalid domain id ''"));
        assert!(parse_request(b"../3", REQUEST, 2).is_err());
        assert!(parse_request(b"32752", REQUEST, 2).is_err());
        assert!(parse_request(b"99999999999", REQUEST, 2).is_err());
        assert!(parse_request(b"\xff", REQUEST, 2).is_err());
        assert!(parse_request(b"2", REQUEST, 2).unwrap_err().contains("this domain"));
    }

    #[test]
    fn reference_parses_digits_only() {
        assert_eq!(parse_reference(b"8"), Some(8));
        assert_eq!(parse_reference(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_reference(REQUEST), None);
        assert_eq!(parse_reference(b""), None);
        assert_eq!(parse_reference(b"-1"), None);
        assert_eq!(parse_reference(b"4294967296"), None);
    }

    #[test]
    fn peer_comes_from_command_line() {
        assert_eq!(parse_peer(b"bench=pair rounds=2 peer=5 domid=6", 6), Ok(5));
        assert!(parse_peer(b"bench=pair domid=6", 6).unwrap_err().contains("no peer=ID"));
        assert!(parse_peer(b"peer=x", 6).unwrap_err().contains("invalid peer=x"));
        assert!(parse_peer(b"peer=32752", 6).unwrap_err().contains("invalid peer=32752"));
        assert!(parse_peer(b"peer=6", 6).unwrap_err().contains("is this domain"));
    }

    #[test]
    fn directory_path() {
        assert_eq!(directory(4), "/local/domain/4/data/bench-peer");
    }
}
