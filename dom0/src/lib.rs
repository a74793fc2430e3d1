//! The host-testable core of Dom0: the console shell, its line editor and its
//! commands. The `dom0` binary supplies a [`Platform`] backed by hypercalls
//! and feeds console input to a [`Shell`].

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod attack;
pub mod commands;
pub mod config;
pub mod console_log;
pub mod domname;
pub mod line;
pub mod ping;
pub mod ramdisk;
pub mod shell;
pub mod xl;
pub mod xl_list;
pub mod xenstore;
pub mod xenstore_shell;

#[cfg(test)]
mod testing;

pub use attack::AttackReport;
pub use commands::{Platform, TrapReport};
pub use shell::Shell;

/// The shell's prompt.
pub const PROMPT: &str = "dom0> ";
