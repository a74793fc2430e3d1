//! The shell's platform in ring 1: the console, and the hypercalls behind
//! the shell's commands.

use alloc::format;
use alloc::string::String;
use dom0::line::Output;
use domu::shell::Platform;
use guest::hypercall;
use hypercalls::Errno;
use hypercalls::sched::ShutdownReason;

/// `VIRQ_CONSOLE`: input on the hypervisor's serial console.
const VIRQ_CONSOLE: u32 = 2;

/// Source and destination of console bytes.
enum Console {
    /// The ring that `start_info` names, served by Dom0's console backend.
    Ring,
    /// `console_io`, the hypervisor's own console, used when `start_info`
    /// names no ring. Only a domain booted as Dom0 gets input this way.
    Hypervisor,
}

/// The console and hypercalls of this domain.
pub struct HypercallPlatform {
    console: Console,
    /// Whether console input raises an event, so that waiting for it may block.
    input_raises_event: bool,
    /// Set after the first failed `console_io` read, so that only the first is logged.
    read_failed: bool,
}

impl HypercallPlatform {
    /// Attaches to the console ring, or falls back to `console_io` when
    /// `start_info` names none or it cannot be found.
    pub fn attach() -> HypercallPlatform {
        let console = match guest::ring_console::attach() {
            Ok(true) => Console::Ring,
            Ok(false) => Console::Hypervisor,
            Err(error) => {
                guest::println!(
                    "domu: cannot attach the console ring: {error}; writing through console_io"
                );
                Console::Hypervisor
            }
        };
        if let Err(error) = guest::xenstore::attach() {
            guest::println!("domu: cannot attach the xenstore ring: {error}; xs-* commands fail with ENOENT");
        }
        HypercallPlatform {
            console,
            input_raises_event: false,
            read_failed: false,
        }
    }

    /// Arranges for console input to raise an event. The ring's event
    /// channel needs nothing more, but `console_io` input needs
    /// `VIRQ_CONSOLE` bound, as Dom0 does. On failure input is polled.
    pub fn enable_input_events(&mut self) -> Result<(), String> {
        if let Console::Hypervisor = self.console {
            guest::events::bind_virq(VIRQ_CONSOLE)
                .map_err(|errno| format!("cannot bind VIRQ_CONSOLE: {errno}"))?;
        }
        self.input_raises_event = true;
        Ok(())
    }

    /// Waits for console input, reads it into `buffer` and returns its
    /// length, which is never 0. Blocks in the hypervisor while there is
    /// none, or yields the CPU in a loop when input raises no event.
    pub fn wait_for_input(&mut self, buffer: &mut [u8]) -> usize {
        if self.input_raises_event {
            return guest::wait::block_until(|| {
                self.print_watch_events();
                Some(self.read(buffer)).filter(|&count| count > 0)
            });
        }
        loop {
            let count = self.read(buffer);
            if count > 0 {
                return count;
            }
            hypercall::yield_now();
        }
    }

    /// Prints the xenstore watch events that arrived, for `xs-watch`.
    fn print_watch_events(&mut self) {
        while let Some((path, token)) = guest::xenstore::take_event() {
            let line = domu::xenstore_commands::describe_event(&path, &token);
            self.write(b"\r\n");
            self.write(line.as_bytes());
            self.write(b"\r\n");
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> usize {
        match self.console {
            Console::Ring => guest::ring_console::read(buffer),
            Console::Hypervisor => match hypercall::console_read(buffer) {
                Ok(count) => count,
                Err(errno) => {
                    if !self.read_failed {
                        self.read_failed = true;
                        guest::println!(
                            "domu: console_io read failed: {errno}; taken as no input, later failures are not logged"
                        );
                    }
                    0
                }
            },
        }
    }
}

impl Output for HypercallPlatform {
    fn write(&mut self, bytes: &[u8]) {
        match self.console {
            Console::Ring => guest::ring_console::write_raw(bytes),
            Console::Hypervisor => guest::console::write_raw(bytes),
        }
    }
}

impl Platform for HypercallPlatform {
    fn system_time_ns(&mut self) -> Option<u64> {
        guest::time::system_time_ns()
    }

    fn ring(&self) -> u8 {
        guest::current_ring()
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Errno {
        hypercall::shutdown(reason)
    }

    fn crash(&mut self) -> &'static str {
        guest::traps::fault_without_handlers()
    }

    fn xenstore_request(&mut self, kind: u32, payload: &[u8]) -> Result<alloc::vec::Vec<u8>, hypercalls::xenstore::StoreError> {
        guest::xenstore::request(kind, 0, payload)
    }
}
