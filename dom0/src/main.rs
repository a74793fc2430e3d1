//! Dom0: the control domain's kernel, running in ring 1.
//!
//! It prints a banner through `console_io`, binds `VIRQ_CONSOLE` so serial
//! input wakes it, and runs the shell on console bytes; with no input it
//! blocks in the hypervisor until the next event.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod builder;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod window;
#[cfg(target_os = "none")]
mod selftest_domain;
#[cfg(target_os = "none")]
mod toolstack;

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
fn guest_main() -> ! {
    use guest::{hypercall, println};

    guest::bench::mark_entry();
    let (major, minor) = hypercall::version();
    let ring = guest::current_ring();
    println!(
        "Hospes Dom0 {} on Xen ABI {major}.{minor}{}, running in ring {ring}, {} MiB, ramdisk {} bytes",
        env!("CARGO_PKG_VERSION"),
        hypercalls::EXTRA_VERSION,
        guest::start_info().nr_pages / 256,
        guest::ramdisk().len()
    );
    const VIRQ_CONSOLE: u32 = 2;
    const VIRQ_DOM_EXC: u32 = 3;
    let console_port = match guest::events::bind_virq(VIRQ_CONSOLE) {
        Ok(port) => Some(port),
        Err(errno) => {
            println!("dom0: cannot bind VIRQ_CONSOLE: {errno}; console input is polled");
            None
        }
    };
    if let Err(errno) = guest::events::bind_virq(VIRQ_DOM_EXC) {
        println!("dom0: cannot bind VIRQ_DOM_EXC: {errno}; stopped domains are noticed at the next console event");
    }

    let mut platform = platform::HypercallPlatform::default();
    let mut shell = dom0::Shell::new();
    shell.start(&mut platform);
    let mut buffer = [0u8; 64];
    loop {
        // Check for work with upcalls masked, so an event arriving after the
        // check still ends the block (see guest::wait).
        let mut detached = false;
        let read = guest::wait::block_until(|| {
            detached |= platform.poll_guests();
            if detached {
                return Some(Ok(0));
            }
            match hypercall::console_read(&mut buffer) {
                Ok(0) if console_port.is_some() => None,
                other => Some(other),
            }
        });
        if detached {
            shell.start_prompt(&mut platform);
        }
        match read {
            Ok(0) => hypercall::yield_now(),
            Ok(count) => {
                for &byte in &buffer[..count] {
                    if platform.attached_console() {
                        platform.console_input(byte, &mut shell);
                    } else {
                        shell.feed(byte, &mut platform);
                    }
                }
            }
            Err(errno) => {
                println!("dom0: console read failed: {errno}; retrying");
                hypercall::yield_now();
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("dom0 is a guest kernel for the Hospes hypervisor; boot it with `cargo xtask run`");
    std::process::exit(2);
}
