//! The keys the toolstack writes for each DomU, as Xen's libxl does, and
//! their removal when the domain goes.

use super::{Access, Permissions, Store, domain_home};
use alloc::format;
use alloc::string::String;
use hypercalls::xenstore::StoreError;

/// Directories under a domain's home that the domain owns and may fill.
pub const WRITABLE_DIRECTORIES: [&str; 4] = ["attr", "control", "data", "device"];

/// The values the toolstack publishes for a new DomU.
pub struct DomainKeys<'a> {
    pub domid: u16,
    pub name: &'a str,
    pub memory_kib: u64,
    pub console_mfn: u64,
    /// The DomU's port of its console channel.
    pub console_port: u32,
    pub store_mfn: u64,
    /// The DomU's port of its xenstore channel.
    pub store_port: u32,
}

/// Returns the `/vm` path of a domain. Hospes domains have no UUID, so the
/// domain id fills the last field of a nil-style UUID.
pub fn vm_path(domid: u16) -> String {
    format!("/vm/00000000-0000-0000-0000-{domid:012}")
}

/// Writes a new domain's keys and opens its connection. The home and
/// `/vm` entry belong to Dom0 and are readable by the domain, and the
/// [`WRITABLE_DIRECTORIES`] belong to the domain.
pub fn publish(store: &mut Store, keys: &DomainKeys<'_>) -> Result<(), StoreError> {
    let domid = keys.domid;
    let home = domain_home(domid);
    let vm = vm_path(domid);
    let mut readable = Permissions::owned_by(0, Access::None);
    readable.grant(domid, Access::Read);

    for directory in [&home, &vm] {
        store.mkdir(0, directory)?;
        store.set_permissions(0, directory, readable.clone())?;
    }
    store.write(0, &format!("{vm}/name"), keys.name.as_bytes())?;
    let values = [
        ("name", String::from(keys.name)),
        ("domid", format!("{domid}")),
        ("vm", vm.clone()),
        ("memory/target", format!("{}", keys.memory_kib)),
        ("memory/static-max", format!("{}", keys.memory_kib)),
        ("console/ring-ref", format!("{}", keys.console_mfn)),
        ("console/port", format!("{}", keys.console_port)),
        ("console/type", String::from("xenconsoled")),
        ("store/ring-ref", format!("{}", keys.store_mfn)),
        ("store/port", format!("{}", keys.store_port)),
    ];
    for (key, value) in values {
        store.write(0, &format!("{home}/{key}"), value.as_bytes())?;
    }
    for directory in WRITABLE_DIRECTORIES {
        let path = format!("{home}/{directory}");
        store.mkdir(0, &path)?;
        store.set_permissions(0, &path, Permissions::owned_by(domid, Access::None))?;
    }
    publish_ping_directory(store, domid)?;
    store.introduce(domid);
    Ok(())
}

/// Creates the directory where other domains ask `domid` to answer `ping`
/// (see `guest::ping`). The domain owns it and every domain may read and
/// write it, so any domain can add a request node.
pub fn publish_ping_directory(store: &mut Store, domid: u16) -> Result<(), StoreError> {
    let path = guest::ping::directory(domid);
    store.mkdir(0, &path)?;
    store.set_permissions(0, &path, Permissions::owned_by(domid, Access::Both))
}

/// Closes a domain's connection and removes its home and `/vm` entry.
pub fn forget(store: &mut Store, domid: u16) {
    store.release(domid);
    let _ = store.remove(0, &domain_home(domid));
    let _ = store.remove(0, &vm_path(domid));
}
