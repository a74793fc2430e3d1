//! Path syntax: which names a request may use, and how relative names
//! resolve to a domain's home.

use alloc::format;
use alloc::string::String;
use hypercalls::xenstore::{ABS_PATH_MAX, REL_PATH_MAX, StoreError};

/// Returns `/local/domain/<domid>`, the home of a domain's relative paths.
pub fn domain_home(domid: u16) -> String {
    format!("/local/domain/{domid}")
}

/// Special watch paths that name domain events, not nodes.
pub const SPECIAL_WATCHES: [&str; 2] = ["@introduceDomain", "@releaseDomain"];

/// Turns a path from a request of `domid` into an absolute node path.
///
/// A path without a leading `/` is relative to the domain's home. Paths may
/// contain ASCII letters, digits and `-/_@`, must not contain an empty
/// component or end with `/` (except `/` itself), and are at most
/// [`ABS_PATH_MAX`] bytes when absolute or [`REL_PATH_MAX`] bytes when
/// relative, as in Xen's xenstored.
pub fn canonical(domid: u16, raw: &[u8]) -> Result<String, StoreError> {
    let absolute = raw.first() == Some(&b'/');
    let limit = if absolute { ABS_PATH_MAX } else { REL_PATH_MAX };
    if raw.is_empty() || raw.len() > limit {
        return Err(if raw.is_empty() { StoreError::Inval } else { StoreError::TooBig });
    }
    let allowed = |byte: &u8| byte.is_ascii_alphanumeric() || b"-/_@".contains(byte);
    if !raw.iter().all(allowed) {
        return Err(StoreError::Inval);
    }
    // Every byte is ASCII, so the conversion cannot fail.
    let text = core::str::from_utf8(raw).map_err(|_| StoreError::Inval)?;
    let path = if absolute { String::from(text) } else { format!("{}/{text}", domain_home(domid)) };
    if path.len() > ABS_PATH_MAX {
        return Err(StoreError::TooBig);
    }
    if path != "/" && (path.ends_with('/') || path.contains("//")) {
        return Err(StoreError::Inval);
    }
    Ok(path)
}

/// Returns the parent of an absolute path; `/` has none.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let cut = path.rfind('/')?;
    Some(if cut == 0 { "/" } else { &path[..cut] })
}

/// Returns the last component of an absolute path.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Returns `parent/name` for an absolute parent path.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" { format!("/{name}") } else { format!("{parent}/{name}") }
}

/// Returns true when `path` is `ancestor` or lies below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return path.starts_with('/');
    }
    path == ancestor || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}
