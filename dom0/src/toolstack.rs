//! The toolstack's state in Dom0: the DomUs it built, their consoles, and
//! what happens when one stops.
//!
//! Each DomU's console ring lives in one of its pages, which Dom0 keeps
//! mapped. [`Toolstack::poll`] drains every ring into that guest's history
//! (and onto the terminal when attached); input typed while attached goes
//! into the ring. The guest writes the ring indices, so they are checked
//! before every use. When a guest claims more bytes than the ring can contain,
//! its ring is resynchronised and the event logged, nothing more.

use crate::builder::{self, BuildFailure, DomainSpec};
use crate::window::Window;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dom0::config::{self, DomainConfig, ShutdownAction};
use dom0::console_log::ConsoleLog;
use dom0::domname::{self, HypercallFailure};
use dom0::ramdisk::{self, Node};
use guest::hypercall;
use guest::ring_console::ring::ring_fill;
use hypercalls::console::{IN_SIZE, OUT_SIZE, XenconsInterface};
use hypercalls::sched::ShutdownReason;
use hypercalls::sysctl::{DOMINF_SHUTDOWN, DOMINF_SHUTDOWN_SHIFT};
use hypercalls::Errno;
use hypercalls::xenstore::XenstoreInterface;
use core::ptr::NonNull;
use dom0::xenstore::{self, Store, domain::DomainKeys, ring::StoreRing};

/// Seconds `xl create -w` waits for a guest to report that it is ready.
const READY_TIMEOUT_SECONDS: u64 = 60;
const EVTCHNOP_SEND: u64 = 4;

/// One DomU the toolstack manages.
struct Guest {
    name: String,
    config: DomainConfig,
    console_port: u32,
    ring: *mut XenconsInterface,
    /// Console slot of Dom0's mapping window holding the ring.
    console_slot: usize,
    log: ConsoleLog,
    /// The stop already handled, so a preserved domain is reported once.
    handled_stop: bool,
    /// Dom0's end of the xenstore ring and its event channel port.
    store_ring: StoreRing,
    store_port: u32,
    /// Set once a broken xenstore ring has been logged, so it is logged once.
    store_reset_logged: bool,
}

pub struct Toolstack {
    window: Option<Window>,
    guests: BTreeMap<u16, Guest>,
    /// The domain whose console the terminal is attached to.
    pub attached: Option<u16>,
    store: Store,
    ping: dom0::ping::Dom0Responder,
}

/// Reads the guest-written indices of a ring and the bytes between them.
fn volatile_read<T: Copy>(pointer: *const T) -> T {
    // SAFETY: callers pass pointers into a console page Dom0 keeps mapped for
    // the guest's lifetime; the read is a plain copy of integers.
    unsafe { pointer.read_volatile() }
}

fn volatile_write<T: Copy>(pointer: *mut T, value: T) {
    // SAFETY: as in `volatile_read`, for a page mapped writable.
    unsafe { pointer.write_volatile(value) }
}

impl Toolstack {
    pub fn new() -> Self {
        let mut store = Store::new();
        let ping = dom0::ping::Dom0Responder::new(&mut store);
        Toolstack { window: None, guests: BTreeMap::new(), attached: None, store, ping }
    }

    /// Returns the xenstore, for Dom0's own reads and writes.
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    pub fn window(&mut self) -> Result<&Window, String> {
        if self.window.is_none() {
            let window = Window::new().map_err(|errno| format!("xl: cannot set up Dom0's foreign-mapping window: {errno}"))?;
            self.window = Some(window);
        }
        self.window.as_ref().ok_or_else(|| String::from("xl: no foreign-mapping window"))
    }

    /// Lists (id, name) of the managed domains, for name resolution.
    pub fn names(&self) -> Vec<(u16, String)> {
        self.guests.iter().map(|(&id, guest)| (id, guest.name.clone())).collect()
    }

    pub fn name_of(&self, id: u16) -> Option<&str> {
        self.guests.get(&id).map(|guest| guest.name.as_str())
    }

    /// Resolves a `DOM` argument to a DomU managed here.
    pub fn resolve(&self, argument: &str) -> Result<u16, String> {
        self.resolve_for("xl", argument)
    }

    /// Resolves a `DOM` argument of `command`, whose name starts the error line.
    pub fn resolve_for(&self, command: &str, argument: &str) -> Result<u16, String> {
        domname::resolve(argument, &self.names()).map_err(|error| format!("{command}: {error}"))
    }

    /// `xl create`: reads the config and kernel from the ramdisk and builds the domain.
    pub fn create(&mut self, ramdisk: &'static [u8], path: &str) -> Result<u16, String> {
        self.create_with(ramdisk, path, "", "")
    }

    /// `xl create` with `extra` appended to the config's `extra` line and
    /// `name_suffix` to its name, as the benchmarks pass their round count
    /// and start many domains from one config.
    pub fn create_with(&mut self, ramdisk: &'static [u8], path: &str, extra: &str, name_suffix: &str) -> Result<u16, String> {
        let text = match ramdisk::lookup(ramdisk, path) {
            Some(Node::File(text)) => text,
            Some(_) => return Err(format!("xl create: {path} is not a regular file")),
            None => return Err(format!("xl create: config file {path} not found in the Dom0 ramdisk; try 'ls /etc/xen'")),
        };
        let mut config = config::parse(path, text).map_err(|error| format!("xl create: {error}"))?;
        if !extra.is_empty() {
            config.extra = format!("{} {extra}", config.extra);
        }
        config.name.push_str(name_suffix);
        if self.guests.values().any(|guest| guest.name == config.name) || config.name == domname::DOM0_NAME {
            return Err(format!("xl create: a domain named {} already exists; pick another name or destroy it first", config.name));
        }
        self.build(ramdisk, config)
    }

    fn build(&mut self, ramdisk: &'static [u8], config: DomainConfig) -> Result<u16, String> {
        let kernel = match ramdisk::lookup(ramdisk, &config.kernel) {
            Some(Node::File(bytes)) => bytes,
            _ => return Err(format!("xl create: kernel {} of {} not found in the Dom0 ramdisk", config.kernel, config.name)),
        };
        let spec = DomainSpec { name: &config.name, kernel, memory_mib: config.memory_mib, extra: &config.extra };
        let console_slot = (0..builder::MAX_CONSOLE_DOMAINS)
            .find(|slot| self.guests.values().all(|guest| guest.console_slot != *slot))
            .ok_or_else(|| format!("xl create: {} DomUs already run, the most Dom0 serves consoles for; destroy one first", builder::MAX_CONSOLE_DOMAINS))?;
        let window = self.window()?;
        let built =
            builder::build(window, &spec, console_slot).map_err(|failure| describe_failure("create", &config.name, &failure))?;
        let spec_name = config.name.clone();
        let keys = DomainKeys {
            domid: built.id,
            name: &config.name,
            memory_kib: config.memory_mib * 1024,
            console_mfn: built.console_mfn,
            console_port: built.domu_console_port,
            store_mfn: built.store_mfn,
            store_port: built.domu_store_port,
        };
        if let Err(error) = xenstore::domain::publish(&mut self.store, &keys) {
            guest::println!("dom0: xenstore: cannot write the keys of {} (domain {}): {error}", config.name, built.id);
        }
        // SAFETY: the builder mapped the DomU's xenstore page at this address
        // of the window, where it stays until `destroy` unmaps it.
        let store_ring = unsafe { StoreRing::new(NonNull::new_unchecked(built.store_address as *mut XenstoreInterface)) };
        let guest = Guest {
            store_ring,
            store_port: built.store_port,
            store_reset_logged: false,
            name: config.name.clone(),
            config,
            console_port: built.console_port,
            ring: built.console_address as *mut XenconsInterface,
            console_slot,
            log: ConsoleLog::new(),
            handled_stop: false,
        };
        self.guests.insert(built.id, guest);
        if let Err(errno) = builder::set_paused(built.id, false) {
            let _ = self.destroy(built.id);
            let failure = HypercallFailure { subcommand: "create", action: "unpause", domain: &spec_name, detail: "", errno, reason: None };
            return Err(format!("{failure}"));
        }
        Ok(built.id)
    }

    /// Waits until `id` reports it is ready, or fails naming its last boot stage.
    pub fn wait_ready(&mut self, id: u16, mut output: impl FnMut(&[u8])) -> Result<(), String> {
        let deadline = guest::time::system_time_ns().unwrap_or(0) + READY_TIMEOUT_SECONDS * 1_000_000_000;
        loop {
            let _ = self.poll(&mut output);
            let Some(guest) = self.guests.get(&id) else {
                return Err(format!("xl create: domain {id} stopped before it was ready"));
            };
            if guest.log.is_ready() {
                return Ok(());
            }
            if guest::time::system_time_ns().unwrap_or(0) > deadline {
                let stage = guest.log.last_stage().unwrap_or("none");
                // The hypervisor's view of the guest tells a hang from a guest that never ran.
                let state = builder::domain_info(id).map_or_else(
                    |errno| format!("getdomaininfo failed: {errno}"),
                    |info| format!("state flags {:#x}, {} ms of CPU", info.flags, info.cpu_time / 1_000_000),
                );
                return Err(format!(
                    "xl create: {} did not report ready within {READY_TIMEOUT_SECONDS} s; last boot stage reached: {stage} ({state}, {} console bytes); see 'xl console {}'",
                    guest.name,
                    guest.log.len(),
                    guest.name
                ));
            }
            hypercall::yield_now();
        }
    }

    /// Drains every console ring; bytes of the attached guest also go to `output`.
    /// Then applies the on_* action of every guest that stopped. Returns true
    /// when the attached guest stopped, so the terminal went back to Dom0.
    pub fn poll(&mut self, output: &mut impl FnMut(&[u8])) -> bool {
        for (&id, guest) in self.guests.iter_mut() {
            let fresh = drain_ring(guest);
            if !fresh.is_empty() {
                let shown = guest.log.append(&fresh);
                if self.attached == Some(id) {
                    output(&shown);
                }
                let _ = notify(guest.console_port);
            }
            serve_store(id, guest, &mut self.store);
        }
        self.ping.poll(&mut self.store);
        self.handle_stops(output)
    }

    /// Sends terminal input to the attached guest's ring.
    pub fn input(&mut self, bytes: &[u8]) {
        let Some(guest) = self.attached.and_then(|id| self.guests.get_mut(&id)) else { return };
        let ring = guest.ring;
        // SAFETY: the console page stays mapped while the guest is managed.
        let (consumer, producer) = unsafe { (volatile_read(&raw const (*ring).in_cons), volatile_read(&raw const (*ring).in_prod)) };
        let Some(filled) = ring_fill(producer, consumer, IN_SIZE) else {
            log_reset(&guest.name, "input", producer, consumer);
            // SAFETY: as above.
            unsafe { volatile_write(&raw mut (*ring).in_prod, consumer) };
            return;
        };
        let room = IN_SIZE - filled;
        let mut produced = producer;
        for &byte in bytes.iter().take(room) {
            // SAFETY: the index is masked into the 1 KiB input buffer of the mapped page.
            unsafe { volatile_write(&raw mut (*ring).input[produced as usize % IN_SIZE], byte) };
            produced = produced.wrapping_add(1);
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
        // SAFETY: as above.
        unsafe { volatile_write(&raw mut (*ring).in_prod, produced) };
        let _ = notify(guest.console_port);
    }

    /// Starts showing `id`'s console: replays its history first.
    pub fn attach(&mut self, id: u16, mut output: impl FnMut(&[u8])) -> Result<(), String> {
        let guest = self.guests.get(&id).ok_or_else(|| format!("xl console: domain {id} has no console here"))?;
        output(format!("[xl console: attached to {}; Ctrl-] returns to Dom0]\r\n", guest.name).as_bytes());
        output(&guest.log.replay());
        self.attached = Some(id);
        Ok(())
    }

    pub fn destroy(&mut self, id: u16) -> Result<(), String> {
        let name = String::from(self.name_of(id).unwrap_or("?"));
        let (console_slot, dom0_ports) = self
            .guests
            .get(&id)
            .map(|guest| (guest.console_slot, [guest.console_port, guest.store_port]))
            .ok_or_else(|| format!("xl destroy: domain {id} is not managed here"))?;
        let window = self.window()?;
        builder::destroy(window, id, console_slot, &dom0_ports).map_err(|errno| {
            format!("{}", HypercallFailure { subcommand: "destroy", action: "destroy", domain: &name, detail: "", errno, reason: None })
        })?;
        self.guests.remove(&id);
        xenstore::domain::forget(&mut self.store, id);
        if self.attached == Some(id) {
            self.attached = None;
        }
        Ok(())
    }

    /// Applies on_poweroff / on_reboot / on_crash to guests that stopped.
    fn handle_stops(&mut self, output: &mut impl FnMut(&[u8])) -> bool {
        let mut detached = false;
        let stopped: Vec<(u16, u32)> = self
            .guests
            .iter()
            .filter(|(_, guest)| !guest.handled_stop)
            .filter_map(|(&id, _)| {
                let info = builder::domain_info(id).ok()?;
                (info.flags & DOMINF_SHUTDOWN != 0).then_some((id, (info.flags >> DOMINF_SHUTDOWN_SHIFT) & 0xFF))
            })
            .collect();
        for (id, reason) in stopped {
            let Some(guest) = self.guests.get_mut(&id) else { continue };
            let action = match ShutdownReason::try_from(reason) {
                Ok(ShutdownReason::Poweroff) => guest.config.on_poweroff,
                Ok(ShutdownReason::Reboot) => guest.config.on_reboot,
                _ => guest.config.on_crash,
            };
            guest.handled_stop = true;
            if action != ShutdownAction::Destroy
                && ShutdownReason::try_from(reason) == Ok(ShutdownReason::Crash)
                && let Some(why) = builder::last_failure(id)
            {
                // Keep the reason in the guest's console history, so a late
                // `xl console` still shows why the guest crashed.
                let note = format!("\r\n[xl: the hypervisor crashed {}: {why}]\r\n", guest.name);
                let shown = guest.log.append(note.as_bytes());
                if self.attached == Some(id) {
                    output(&shown);
                }
            }
            if self.attached == Some(id) {
                self.attached = None;
                detached = true;
            }
            let name = guest.name.clone();
            let config = guest.config.clone();
            let reason_name = ShutdownReason::try_from(reason).map(ShutdownReason::name).unwrap_or("unknown");
            let message = match action {
                ShutdownAction::Preserve => format!("\r\nxl: {name} stopped ({reason_name}); preserved until 'xl destroy {name}'\r\n"),
                ShutdownAction::Destroy => match self.destroy(id) {
                    Ok(()) => format!("\r\nxl: {name} stopped ({reason_name}) and was destroyed\r\n"),
                    Err(error) => format!("\r\n{error}\r\n"),
                },
                ShutdownAction::Restart => {
                    let _ = self.destroy(id);
                    match self.build(crate_ramdisk(), config) {
                        Ok(new_id) => format!("\r\nxl: {name} stopped ({reason_name}) and was restarted as domain {new_id}\r\n"),
                        Err(error) => format!("\r\nxl: {name} stopped ({reason_name}); restart failed: {error}\r\n"),
                    }
                }
            };
            output(message.as_bytes());
        }
        detached
    }

}

/// Publishes the port of Dom0's `ping` in the store, and serves the
/// guests' rings while Dom0 waits for the reply.
pub struct StoreRendezvous<'a>(pub &'a mut Toolstack);

impl guest::ping::Rendezvous for StoreRendezvous<'_> {
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), String> {
        self.0.store.write(0, path, value).map_err(|error| format!("{error}"))
    }

    fn remove(&mut self, path: &str) {
        if let Err(error) = self.0.store.remove(0, path) {
            guest::println!("ping: cannot remove {path}: {error}");
        }
    }

    fn service(&mut self) {
        let _ = self.0.poll(&mut |bytes: &[u8]| guest::console::write_raw(bytes));
    }
}

fn crate_ramdisk() -> &'static [u8] {
    guest::ramdisk()
}

/// Copies what the guest produced since the last poll, checking its indices.
fn drain_ring(guest: &mut Guest) -> Vec<u8> {
    let ring = guest.ring;
    // SAFETY: the console page stays mapped while the guest is managed.
    let (consumer, producer) = unsafe { (volatile_read(&raw const (*ring).out_cons), volatile_read(&raw const (*ring).out_prod)) };
    let Some(filled) = ring_fill(producer, consumer, OUT_SIZE) else {
        log_reset(&guest.name, "output", producer, consumer);
        // SAFETY: as above.
        unsafe { volatile_write(&raw mut (*ring).out_cons, producer) };
        return Vec::new();
    };
    core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    let mut bytes = Vec::with_capacity(filled);
    for offset in 0..filled as u32 {
        let index = consumer.wrapping_add(offset) as usize % OUT_SIZE;
        // SAFETY: the index is masked into the 2 KiB output buffer of the mapped page.
        bytes.push(unsafe { volatile_read(&raw const (*ring).output[index]) });
    }
    // SAFETY: as above.
    unsafe { volatile_write(&raw mut (*ring).out_cons, consumer.wrapping_add(filled as u32)) };
    bytes
}

/// Moves requests and replies through a guest's xenstore ring, and notifies
/// the guest when anything moved.
fn serve_store(id: u16, guest: &mut Guest, store: &mut Store) {
    let report = guest.store_ring.service(id, store);
    if (report.request_reset || report.response_stalled) && !guest.store_reset_logged {
        guest.store_reset_logged = true;
        guest::println!(
            "dom0: xenstore ring of {} (domain {id}): invalid indices or an oversized message; dropped its pending requests, later cases are not logged",
            guest.name
        );
    }
    if report.moved {
        let _ = notify(guest.store_port);
    }
}

fn log_reset(name: &str, direction: &str, producer: u32, consumer: u32) {
    guest::println!(
        "dom0: console of {name}: {direction} ring indices producer {producer} consumer {consumer} are inconsistent; resynchronised"
    );
}

fn notify(port: u32) -> Result<i64, Errno> {
    let mut request = [port];
    hypercall::event_channel_op(EVTCHNOP_SEND, request.as_mut_ptr().cast())
}

/// Turns a builder failure into `xl`'s one-line error.
fn describe_failure(subcommand: &str, name: &str, failure: &BuildFailure) -> String {
    let action = failure.action.strip_suffix(name).map(str::trim_end).unwrap_or(&failure.action);
    match failure.errno {
        Some(errno) => {
            let (action, detail) = split_detail(action, name, &failure.action);
            let reason = (!failure.detail.is_empty()).then_some(failure.detail.as_str());
            format!("{}", HypercallFailure { subcommand, action, domain: name, detail, errno, reason })
        }
        None => format!("xl {subcommand}: cannot {}: {}", failure.action, failure.detail),
    }
}

/// Splits "set memory of guest1 to 64 MiB" into ("set memory of", "to 64 MiB").
fn split_detail<'a>(action: &'a str, name: &str, full: &'a str) -> (&'a str, &'a str) {
    match full.find(&format!(" {name}")) {
        Some(position) => (&full[..position], full[position + name.len() + 1..].trim_start()),
        None => (action, ""),
    }
}

/// Sends SCHEDOP_remote_shutdown for `id` with `reason`.
pub fn remote_shutdown(id: u16, reason: ShutdownReason) -> Result<i64, Errno> {
    let request = [id as u32, reason as u32];
    hypercall::check(hypercall::raw(
        hypercalls::Hypercall::SchedOp,
        [hypercalls::sched::SCHEDOP_REMOTE_SHUTDOWN, request.as_ptr() as u64, 0, 0, 0],
    ))
}

impl Default for Toolstack {
    fn default() -> Self {
        Toolstack::new()
    }
}
