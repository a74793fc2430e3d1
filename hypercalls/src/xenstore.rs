//! The XenStore wire protocol (Xen's `io/xs_wire.h`): message types, the
//! message header, error names and the ring page a domain shares with the
//! store daemon.

use core::mem::{offset_of, size_of};

/// XenStore message types (`enum xsd_sockmsg_type`).
pub mod message {
    /// `XS_CONTROL`, also called `XS_DEBUG`.
    pub const CONTROL: u32 = 0;
    pub const DIRECTORY: u32 = 1;
    pub const READ: u32 = 2;
    pub const GET_PERMS: u32 = 3;
    pub const WATCH: u32 = 4;
    pub const UNWATCH: u32 = 5;
    pub const TRANSACTION_START: u32 = 6;
    pub const TRANSACTION_END: u32 = 7;
    pub const INTRODUCE: u32 = 8;
    pub const RELEASE: u32 = 9;
    pub const GET_DOMAIN_PATH: u32 = 10;
    pub const WRITE: u32 = 11;
    pub const MKDIR: u32 = 12;
    pub const RM: u32 = 13;
    pub const SET_PERMS: u32 = 14;
    /// Sent by the store only: `path\0token\0`, with `req_id` and `tx_id` 0.
    pub const WATCH_EVENT: u32 = 15;
    /// Sent by the store only: an error name such as `EINVAL\0`.
    pub const ERROR: u32 = 16;
    pub const IS_DOMAIN_INTRODUCED: u32 = 17;
    pub const RESUME: u32 = 18;
    pub const SET_TARGET: u32 = 19;
    /// Number 20 was `XS_RESTRICT`, which Xen removed.
    pub const RESET_WATCHES: u32 = 21;
    pub const DIRECTORY_PART: u32 = 22;
    pub const GET_FEATURE: u32 = 23;
    pub const SET_FEATURE: u32 = 24;
    pub const GET_QUOTA: u32 = 25;
    pub const SET_QUOTA: u32 = 26;
    /// Never a valid type.
    pub const INVALID: u32 = 0xFFFF;
}

/// Largest payload of one message, in bytes (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = 4096;
/// Longest absolute path, in bytes (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = 3072;
/// Longest path relative to a domain's home, in bytes (`XENSTORE_REL_PATH_MAX`).
pub const REL_PATH_MAX: usize = 2048;

/// Bytes in each of the two rings of the page (`XENSTORE_RING_SIZE`).
pub const RING_SIZE: usize = 1024;

/// Header of every message (`struct xsd_sockmsg`), followed by `len` payload bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageHeader {
    /// One of the [`message`] types.
    pub kind: u32,
    /// Chosen by the requester and copied into the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length in bytes, at most [`PAYLOAD_MAX`].
    pub len: u32,
}

/// Size of [`MessageHeader`] on the wire.
pub const HEADER_SIZE: usize = 16;

impl MessageHeader {
    /// Returns the header as its 16 little-endian wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut bytes = [0u8; HEADER_SIZE];
        for (chunk, value) in bytes.chunks_exact_mut(4).zip([self.kind, self.req_id, self.tx_id, self.len]) {
            chunk.copy_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    /// Reads a header from its 16 wire bytes.
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> MessageHeader {
        let word = |index: usize| {
            let mut value = [0u8; 4];
            value.copy_from_slice(&bytes[index * 4..index * 4 + 4]);
            u32::from_le_bytes(value)
        };
        MessageHeader { kind: word(0), req_id: word(1), tx_id: word(2), len: word(3) }
    }
}

/// `server_features` bit: the store supports reconnection.
pub const SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `server_features` bit: the store reports ring errors in `error`.
pub const SERVER_FEATURE_ERROR: u32 = 2;
/// `connection` value while the ring is in use.
pub const CONNECTED: u32 = 0;
/// `connection` value while the guest asks for a reconnection.
pub const RECONNECT: u32 = 1;
/// `error` value: no error.
pub const ERROR_NONE: u32 = 0;
/// `error` value: a communication error.
pub const ERROR_COMM: u32 = 1;
/// `error` value: the ring indices were out of range.
pub const ERROR_RINGIDX: u32 = 2;
/// `error` value: a message broke the protocol.
pub const ERROR_PROTO: u32 = 3;

/// The ring page (`struct xenstore_domain_interface`). The guest produces
/// requests into `req` and the store produces replies and watch events
/// into `rsp`. Indices are free-running and masked by `RING_SIZE - 1`.
#[repr(C)]
pub struct XenstoreInterface {
    pub req: [u8; RING_SIZE],
    pub rsp: [u8; RING_SIZE],
    pub req_cons: u32,
    pub req_prod: u32,
    pub rsp_cons: u32,
    pub rsp_prod: u32,
    pub server_features: u32,
    pub connection: u32,
    pub error: u32,
    pub evtchn_port: u32,
}

const _: () = {
    assert!(size_of::<MessageHeader>() == HEADER_SIZE);
    assert!(offset_of!(MessageHeader, len) == 12);
    assert!(offset_of!(XenstoreInterface, rsp) == 1024);
    assert!(offset_of!(XenstoreInterface, req_cons) == 2048);
    assert!(offset_of!(XenstoreInterface, req_prod) == 2052);
    assert!(offset_of!(XenstoreInterface, rsp_cons) == 2056);
    assert!(offset_of!(XenstoreInterface, rsp_prod) == 2060);
    assert!(offset_of!(XenstoreInterface, server_features) == 2064);
    assert!(offset_of!(XenstoreInterface, connection) == 2068);
    assert!(offset_of!(XenstoreInterface, error) == 2072);
    assert!(offset_of!(XenstoreInterface, evtchn_port) == 2076);
    assert!(size_of::<XenstoreInterface>() == 2080);
    assert!(RING_SIZE.is_power_of_two());
};

/// An error the store returns in an `XS_ERROR` reply, named as in Xen's
/// `xsd_errors` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    Inval,
    Acces,
    Exist,
    IsDir,
    NoEnt,
    NoMem,
    NoSpc,
    Io,
    NotEmpty,
    NoSys,
    RoFs,
    Busy,
    Again,
    IsConn,
    TooBig,
    Perm,
    /// `EQUOTA`: the domain reached one of its quotas (oxenstored's name).
    Quota,
}

impl StoreError {
    /// Returns the name sent on the wire, without the NUL.
    pub fn name(self) -> &'static str {
        match self {
            StoreError::Inval => "EINVAL",
            StoreError::Acces => "EACCES",
            StoreError::Exist => "EEXIST",
            StoreError::IsDir => "EISDIR",
            StoreError::NoEnt => "ENOENT",
            StoreError::NoMem => "ENOMEM",
            StoreError::NoSpc => "ENOSPC",
            StoreError::Io => "EIO",
            StoreError::NotEmpty => "ENOTEMPTY",
            StoreError::NoSys => "ENOSYS",
            StoreError::RoFs => "EROFS",
            StoreError::Busy => "EBUSY",
            StoreError::Again => "EAGAIN",
            StoreError::IsConn => "EISCONN",
            StoreError::TooBig => "E2BIG",
            StoreError::Perm => "EPERM",
            StoreError::Quota => "EQUOTA",
        }
    }

    /// Parses an error name as received on the wire, NUL or not.
    pub fn from_name(name: &[u8]) -> Option<StoreError> {
        let name = name.strip_suffix(b"\0").unwrap_or(name);
        ALL_ERRORS.iter().copied().find(|error| error.name().as_bytes() == name)
    }
}

const ALL_ERRORS: [StoreError; 17] = [
    StoreError::Inval,
    StoreError::Acces,
    StoreError::Exist,
    StoreError::IsDir,
    StoreError::NoEnt,
    StoreError::NoMem,
    StoreError::NoSpc,
    StoreError::Io,
    StoreError::NotEmpty,
    StoreError::NoSys,
    StoreError::RoFs,
    StoreError::Busy,
    StoreError::Again,
    StoreError::IsConn,
    StoreError::TooBig,
    StoreError::Perm,
    StoreError::Quota,
];

impl core::fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_little_endian() {
        let header = MessageHeader { kind: message::WRITE, req_id: 7, tx_id: 0x0102_0304, len: 4096 };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..4], &[11, 0, 0, 0]);
        assert_eq!(&bytes[8..12], &[4, 3, 2, 1]);
        assert_eq!(MessageHeader::from_bytes(&bytes), header);
    }

    #[test]
    fn error_names_round_trip() {
        for error in ALL_ERRORS {
            assert_eq!(StoreError::from_name(error.name().as_bytes()), Some(error));
        }
        assert_eq!(StoreError::from_name(b"EACCES\0"), Some(StoreError::Acces));
        assert_eq!(StoreError::from_name(b"EWHAT"), None);
    }

    #[test]
    fn message_numbers_match_xen() {
        assert_eq!(message::GET_DOMAIN_PATH, 10);
        assert_eq!(message::WATCH_EVENT, 15);
        assert_eq!(message::ERROR, 16);
        assert_eq!(message::RESET_WATCHES, 21);
    }
}
