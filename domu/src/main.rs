//! DomU: a small unprivileged guest kernel, running in ring 1.
//!
//! It attaches to the console ring that `start_info` names, or writes
//! through `console_io` when it has none (as when it is booted in place of
//! Dom0 for testing). It reports its boot stages and then readiness on the
//! console (see `guest::boot_status`), and runs the shell on console input.
//! With no input it blocks in the hypervisor until the console's event
//! channel wakes it.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod platform;

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
fn guest_main() -> ! {
    use core::fmt::Write;
    use dom0::line::Output;
    use domu::terminal::Text;
    use guest::boot_status::{READY, Stage};

    let mut platform = platform::HypercallPlatform::attach();
    platform.write(Stage::Runtime.report());

    if let Err(problem) = platform.enable_input_events() {
        let _ = writeln!(
            Text(&mut platform),
            "domu: {problem}; console input is polled"
        );
    }
    platform.write(Stage::Console.report());

    let info = guest::start_info();
    let parsed = domu::Identity::parse(info.command_line());
    for warning in &parsed.warnings {
        let _ = writeln!(Text(&mut platform), "domu: {warning}");
    }
    let mut shell = domu::Shell::new(parsed.identity, info.nr_pages);
    platform.write(Stage::Shell.report());

    let identity = shell.identity();
    let _ = writeln!(
        Text(&mut platform),
        "Hospes DomU {} (domain {}) ready, running in ring {}",
        identity.name,
        identity.domid_text(),
        guest::current_ring()
    );
    platform.write(READY);

    shell.start(&mut platform);
    let mut buffer = [0u8; 64];
    loop {
        let count = platform.wait_for_input(&mut buffer);
        for &byte in &buffer[..count] {
            shell.feed(byte, &mut platform);
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("domu is a guest kernel for the Hospes hypervisor; the Dom0 toolstack boots it");
    std::process::exit(2);
}
