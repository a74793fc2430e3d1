//! Records of the expected-fault guard in [`crate::traps`].

/// An exception the guest's handler received while a guard was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    /// The error code the hypervisor bounced, 0 for vectors without one.
    pub error_code: u64,
    /// The RIP in the bounced frame.
    pub rip: u64,
}

/// The result of one guarded snippet: the fault the handler recorded, if
/// any, and the addresses of the snippet's first instruction and of the
/// instruction after it. A fault reports `start` as its RIP; a trap such as
/// `int3` reports `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guarded {
    pub fault: Option<Fault>,
    pub start: u64,
    pub end: u64,
}
