//! Node permissions in Xen's notation: a list such as `n0 r1 w2`, whose
//! first entry names the owner and the access of every domain the list does
//! not name, and whose later entries grant access to one domain each.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hypercalls::xenstore::StoreError;

/// Most entries in one node's list, as Xen's default `quota-nr-perms` (5).
pub const MAX_PERMISSION_ENTRIES: usize = 5;

/// Access that one entry grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    None,
    Read,
    Write,
    Both,
}

impl Access {
    fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    fn from_letter(letter: u8) -> Option<Access> {
        match letter {
            b'n' => Some(Access::None),
            b'r' => Some(Access::Read),
            b'w' => Some(Access::Write),
            b'b' => Some(Access::Both),
            _ => None,
        }
    }

    /// Returns true when this access includes reading.
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }

    /// Returns true when this access includes writing.
    pub fn writes(self) -> bool {
        matches!(self, Access::Write | Access::Both)
    }
}

/// A node's permission list, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    entries: Vec<(u16, Access)>,
}

impl Permissions {
    /// Creates a list whose owner is `owner` and which gives others `others`.
    pub fn owned_by(owner: u16, others: Access) -> Permissions {
        Permissions { entries: alloc::vec![(owner, others)] }
    }

    /// Returns the owning domain.
    pub fn owner(&self) -> u16 {
        self.entries[0].0
    }

    /// Returns a copy with a different owner and the same grants.
    pub fn with_owner(&self, owner: u16) -> Permissions {
        let mut copy = self.clone();
        copy.entries[0].0 = owner;
        copy
    }

    /// Adds or replaces the grant for `domid`.
    pub fn grant(&mut self, domid: u16, access: Access) {
        match self.entries[1..].iter_mut().find(|(id, _)| *id == domid) {
            Some(entry) => entry.1 = access,
            None => self.entries.push((domid, access)),
        }
    }

    /// Returns the access of `domid`: Dom0 and the owner have full access,
    /// a domain named in a later entry has that entry's access, and any
    /// other domain has the first entry's access.
    pub fn access_of(&self, domid: u16) -> Access {
        if domid == 0 || domid == self.owner() {
            return Access::Both;
        }
        self.entries[1..]
            .iter()
            .find(|(id, _)| *id == domid)
            .map_or(self.entries[0].1, |&(_, access)| access)
    }

    /// Parses the NUL-separated entries of an `XS_SET_PERMS` request.
    pub fn parse(strings: &[&[u8]]) -> Result<Permissions, StoreError> {
        if strings.is_empty() || strings.len() > MAX_PERMISSION_ENTRIES {
            return Err(if strings.is_empty() { StoreError::Inval } else { StoreError::TooBig });
        }
        let entries = strings
            .iter()
            .map(|text| {
                let (&letter, digits) = text.split_first().ok_or(StoreError::Inval)?;
                let access = Access::from_letter(letter).ok_or(StoreError::Inval)?;
                if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(StoreError::Inval);
                }
                let domid = digits.iter().fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'));
                let domid = u16::try_from(domid).map_err(|_| StoreError::Inval)?;
                Ok((domid, access))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Permissions { entries })
    }

    /// Returns each entry as Xen writes it, such as `r1`.
    pub fn to_strings(&self) -> Vec<String> {
        self.entries.iter().map(|(domid, access)| format!("{}{domid}", access.letter())).collect()
    }
}
