//! `xencons_interface`: the console ring a DomU shares with Dom0.

use core::mem::{offset_of, size_of};

/// Bytes in the input ring (backend to guest).
pub const IN_SIZE: usize = 1024;
/// Bytes in the output ring (guest to backend).
pub const OUT_SIZE: usize = 2048;

/// The console page. Indices are free-running and masked on use.
#[repr(C)]
pub struct XenconsInterface {
    pub input: [u8; IN_SIZE],
    pub output: [u8; OUT_SIZE],
    pub in_cons: u32,
    pub in_prod: u32,
    pub out_cons: u32,
    pub out_prod: u32,
    pub connection: u8,
}

const _: () = {
    assert!(offset_of!(XenconsInterface, output) == 1024);
    assert!(offset_of!(XenconsInterface, in_cons) == 3072);
    assert!(offset_of!(XenconsInterface, out_prod) == 3084);
    assert!(offset_of!(XenconsInterface, connection) == 3088);
    assert!(size_of::<XenconsInterface>() <= crate::PAGE_SIZE);
};
