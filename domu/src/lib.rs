//! The host-testable core of the DomU kernel: its identity from the command
//! line, the console shell and its commands. The `domu` binary supplies a
//! [`shell::Platform`] backed by hypercalls and feeds console input to a
//! [`shell::Shell`].

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod bench_peer;
pub mod grant_commands;
pub mod identity;
pub mod selftest;
pub mod shell;
pub mod terminal;
pub mod xenstore_commands;

pub use identity::Identity;
pub use shell::{Platform, Shell};
