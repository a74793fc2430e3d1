//! Xen errno values. Hypercalls return the negated value in `rax`.

/// An error a hypercall returns to its caller, with Xen's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EIO = 5,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENOSPC = 28,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
    ETIMEDOUT = 110,
}

const ALL: [Errno; 23] = [
    Errno::EPERM,
    Errno::ENOENT,
    Errno::ESRCH,
    Errno::EIO,
    Errno::E2BIG,
    Errno::ENOEXEC,
    Errno::EBADF,
    Errno::EAGAIN,
    Errno::ENOMEM,
    Errno::EACCES,
    Errno::EFAULT,
    Errno::EBUSY,
    Errno::EEXIST,
    Errno::ENODEV,
    Errno::EINVAL,
    Errno::ENOSPC,
    Errno::ERANGE,
    Errno::ENAMETOOLONG,
    Errno::ENOSYS,
    Errno::ENOTEMPTY,
    Errno::EOVERFLOW,
    Errno::EOPNOTSUPP,
    Errno::ETIMEDOUT,
];

impl Errno {
    /// Returns the value a hypercall leaves in `rax` for this error.
    pub const fn to_return(self) -> i64 {
        -(self as i32 as i64)
    }

    /// Decodes a hypercall's return value: `None` when it is not a known errno.
    pub fn from_return(value: i64) -> Option<Errno> {
        ALL.iter().copied().find(|errno| errno.to_return() == value)
    }

    /// Returns the symbolic name, as `xl` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EIO => "EIO",
            Errno::E2BIG => "E2BIG",
            Errno::ENOEXEC => "ENOEXEC",
            Errno::EBADF => "EBADF",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::ERANGE => "ERANGE",
            Errno::ENAMETOOLONG => "ENAMETOOLONG",
            Errno::ENOSYS => "ENOSYS",
            Errno::ENOTEMPTY => "ENOTEMPTY",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::EOPNOTSUPP => "EOPNOTSUPP",
            Errno::ETIMEDOUT => "ETIMEDOUT",
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Result of a hypervisor-side operation: a value for `rax` or an errno.
pub type HyperResult<T = i64> = Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_xen() {
        assert_eq!(Errno::EPERM.to_return(), -1);
        assert_eq!(Errno::EFAULT.to_return(), -14);
        assert_eq!(Errno::EINVAL.to_return(), -22);
        assert_eq!(Errno::ENOSYS.to_return(), -38);
        assert_eq!(Errno::EOPNOTSUPP.to_return(), -95);
    }

    #[test]
    fn errno_round_trips_every_value() {
        for errno in ALL {
            assert_eq!(Errno::from_return(errno.to_return()), Some(errno));
        }
        assert_eq!(Errno::from_return(0), None);
        assert_eq!(Errno::from_return(-4), None);
    }
}
