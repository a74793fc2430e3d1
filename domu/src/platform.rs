//! The shell's platform in ring 1: the console, and the hypercalls behind
//! the shell's commands.

use alloc::format;
use alloc::string::String;
use dom0::line::Output;
use domu::shell::Platform;
use guest::hypercall;
use hypercalls::Errno;
use hypercalls::sched::ShutdownReason;
use hypercalls::xenstore::message;

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
    /// Replies to `ping` from other domains; `None` when the domain does not
    /// know its id or could not watch its `data/ping` directory.
    responder: Option<guest::ping::Responder>,
    /// Request nodes named by watch events, waiting to be read outside the
    /// masked section of [`Self::wait_for_input`].
    ping_requests: alloc::vec::Vec<alloc::vec::Vec<u8>>,
    /// State of the `grant-*` commands, and the pages a peer offers.
    grants: crate::grant_pages::GrantPages,
    /// This domain's id while it serves grant requests as a benchmark peer
    /// (see `domu::bench_peer`), set by [`Self::serve_as_peer`].
    peer_of: Option<hypercalls::DomId>,
    /// Grant request nodes named by watch events, waiting to be read outside
    /// the masked section of [`Self::wait_for_input`].
    grant_requests: alloc::vec::Vec<alloc::vec::Vec<u8>>,
}

/// Most request nodes of each kind queued between two reads; more are dropped.
const MAX_PING_REQUESTS: usize = 32;

/// Work found while waiting in [`HypercallPlatform::wait_for_input`].
enum Wake {
    Input(usize),
    Requests,
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
            responder: start_responder(),
            ping_requests: alloc::vec::Vec::new(),
            grants: crate::grant_pages::GrantPages::new(),
            peer_of: None,
            grant_requests: alloc::vec::Vec::new(),
        }
    }

    /// Makes this domain a benchmark peer: creates its grant request
    /// directory, readable and writable by every domain, and watches it. The
    /// requests are served while the shell waits for input.
    pub fn serve_as_peer(&mut self) -> Result<(), String> {
        let own = domu::Identity::parse(guest::start_info().command_line())
            .identity
            .domid
            .ok_or_else(|| String::from("no domid= on the command line, so requests cannot be told apart"))?;
        let directory = domu::bench_peer::directory(own);
        let request = |kind: u32, words: &[&[u8]]| {
            let mut payload = alloc::vec::Vec::new();
            for word in words {
                payload.extend_from_slice(word);
                payload.push(0);
            }
            guest::xenstore::request(kind, 0, &payload).map_err(|error| format!("{error}"))
        };
        request(message::MKDIR, &[directory.as_bytes()]).map_err(|error| format!("cannot create {directory}: {error}"))?;
        // The first entry names the owner and what every other domain may do.
        let permissions = format!("b{own}");
        request(message::SET_PERMS, &[directory.as_bytes(), permissions.as_bytes()])
            .map_err(|error| format!("cannot set the permissions of {directory}: {error}"))?;
        request(message::WATCH, &[directory.as_bytes(), domu::bench_peer::WATCH_TOKEN.as_bytes()])
            .map_err(|error| format!("cannot watch {directory}: {error}"))?;
        self.peer_of = Some(own);
        Ok(())
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
            loop {
                // xenstore requests block with their own masking, so the
                // ping requests are read after the masked check.
                let wake = guest::wait::block_until(|| {
                    self.print_watch_events();
                    self.answer_pings();
                    if !self.ping_requests.is_empty() || !self.grant_requests.is_empty() {
                        return Some(Wake::Requests);
                    }
                    Some(self.read(buffer)).filter(|&count| count > 0).map(Wake::Input)
                });
                match wake {
                    Wake::Input(count) => return count,
                    Wake::Requests => {
                        self.read_ping_requests();
                        self.read_grant_requests();
                    }
                }
            }
        }
        loop {
            self.print_watch_events();
            self.read_ping_requests();
            self.read_grant_requests();
            self.answer_pings();
            let count = self.read(buffer);
            if count > 0 {
                return count;
            }
            hypercall::yield_now();
        }
    }

    /// Prints the xenstore watch events that arrived, for `xs-watch`, and
    /// queues those of the ping watch.
    fn print_watch_events(&mut self) {
        while let Some((path, token)) = guest::xenstore::take_event() {
            if token == guest::ping::WATCH_TOKEN.as_bytes() {
                if self.responder.is_some() && self.ping_requests.len() < MAX_PING_REQUESTS {
                    self.ping_requests.push(path);
                }
                continue;
            }
            if token == domu::bench_peer::WATCH_TOKEN.as_bytes() {
                if self.peer_of.is_some() && self.grant_requests.len() < MAX_PING_REQUESTS {
                    self.grant_requests.push(path);
                }
                continue;
            }
            let line = domu::xenstore_commands::describe_event(&path, &token);
            self.write(b"\r\n");
            self.write(line.as_bytes());
            self.write(b"\r\n");
        }
    }

    /// Sends a reply to each event on the responder's channels.
    fn answer_pings(&mut self) {
        let Some(mut responder) = self.responder.take() else { return };
        responder.service(&mut |line: &str| self.print_line(line));
        self.responder = Some(responder);
    }

    /// Reads the request nodes that watch events named and binds to their
    /// ports.
    fn read_ping_requests(&mut self) {
        let Some(mut responder) = self.responder.take() else { return };
        let directory = guest::ping::directory(responder.own());
        for (name, value) in read_child_nodes(&directory, core::mem::take(&mut self.ping_requests)) {
            if let Some(problem) = responder.request(&name, &value) {
                self.print_line(&problem);
            }
        }
        self.responder = Some(responder);
    }

    /// Reads the grant request nodes that watch events named, grants each
    /// requesting domain a page and writes the grant reference into its
    /// node. Nodes without an open request, such as those already replied
    /// to, are skipped, and invalid ones are logged.
    fn read_grant_requests(&mut self) {
        let Some(own) = self.peer_of else { return };
        let directory = domu::bench_peer::directory(own);
        for (name, value) in read_child_nodes(&directory, core::mem::take(&mut self.grant_requests)) {
            let requester = match domu::bench_peer::parse_request(&name, &value, own) {
                Ok(Some(requester)) => requester,
                Ok(None) => continue,
                Err(problem) => {
                    self.print_line(&format!("bench peer: ignored a grant request: {problem}"));
                    continue;
                }
            };
            let line = match self.grants.offer(requester) {
                Ok((gref, _)) => {
                    let payload = format!("{directory}/{requester}\0{gref}");
                    match guest::xenstore::request(message::WRITE, 0, payload.as_bytes()) {
                        Ok(_) => format!("bench peer: granted gref={gref} to domain {requester}"),
                        Err(error) => format!("bench peer: granted gref={gref} to domain {requester}, but cannot write it: {error}"),
                    }
                }
                Err(error) => format!("bench peer: cannot grant a page to domain {requester}: {error}"),
            };
            self.print_line(&line);
        }
    }

    /// Writes `line` on a line of its own, as output that interrupts the prompt.
    fn print_line(&mut self, line: &str) {
        self.write(b"\r\n");
        self.write(line.as_bytes());
        self.write(b"\r\n");
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

    fn ping(&mut self, own: u16, remote: u16, count: u32) {
        let mut emit = |line: &str| {
            self.write(line.as_bytes());
            self.write(b"\r\n");
        };
        match guest::ping::ping(own, remote, count, &mut StoreRendezvous, &mut emit) {
            Ok(trips) => emit(&trips.summary(remote)),
            Err(error) => emit(&error),
        }
    }

    fn grant_offer(&mut self, peer: hypercalls::DomId) -> Result<(u32, u32), String> {
        self.grants.offer(peer)
    }

    fn grant_map(&mut self, granter: hypercalls::DomId, gref: u32, writable: bool) -> Result<(u32, u32), String> {
        self.grants.map(granter, gref, writable)
    }

    fn grant_read(&mut self, handle: u32) -> Result<u32, String> {
        self.grants.read(handle)
    }

    fn grant_unmap(&mut self, handle: u32) -> Result<(), String> {
        self.grants.unmap(handle)
    }

    fn grant_flags(&mut self, gref: u32) -> Result<u16, String> {
        self.grants.read_flags(gref)
    }

    fn grant_revoke(&mut self, gref: u32) -> Result<domu::grant_commands::Revoke, String> {
        self.grants.revoke(gref)
    }
}

/// Publishes the pinger's port through the domain's xenstore ring.
pub(crate) struct StoreRendezvous;

impl guest::ping::Rendezvous for StoreRendezvous {
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), String> {
        let mut payload = alloc::vec::Vec::from(path.as_bytes());
        payload.push(0);
        payload.extend_from_slice(value);
        guest::xenstore::request(message::WRITE, 0, &payload).map(|_| ()).map_err(|error| format!("{error}"))
    }

    fn remove(&mut self, path: &str) {
        let mut payload = alloc::vec::Vec::from(path.as_bytes());
        payload.push(0);
        if let Err(error) = guest::xenstore::request(message::RM, 0, &payload) {
            guest::println!("ping: cannot remove {path}: {error}");
        }
    }
}

/// Reads the nodes directly below `directory` that watch events named at
/// `paths`, and returns each one's name and value. An event for the
/// directory itself, which the store sends when the watch is set up, reads
/// its first [`MAX_PING_REQUESTS`] nodes, because requests written before
/// the watch existed raise no event of their own. Events for deeper nodes
/// and for nodes already removed are skipped.
fn read_child_nodes(directory: &str, paths: alloc::vec::Vec<alloc::vec::Vec<u8>>) -> alloc::vec::Vec<(alloc::vec::Vec<u8>, alloc::vec::Vec<u8>)> {
    let prefix = format!("{directory}/");
    let mut names = alloc::vec::Vec::new();
    for path in paths {
        if path == directory.as_bytes() {
            let mut payload = alloc::vec::Vec::from(directory.as_bytes());
            payload.push(0);
            if let Ok(listing) = guest::xenstore::request(message::DIRECTORY, 0, &payload) {
                let listed = listing.split(|&byte| byte == 0).filter(|name| !name.is_empty());
                names.extend(listed.take(MAX_PING_REQUESTS).map(<[u8]>::to_vec));
            }
            continue;
        }
        let Some(name) = path.strip_prefix(prefix.as_bytes()) else { continue };
        if !name.contains(&b'/') {
            names.push(name.to_vec());
        }
    }
    let mut nodes = alloc::vec::Vec::new();
    for name in names {
        let mut payload = alloc::vec::Vec::from(prefix.as_bytes());
        payload.extend_from_slice(&name);
        payload.push(0);
        if let Ok(value) = guest::xenstore::request(message::READ, 0, &payload) {
            nodes.push((name, value));
        }
    }
    nodes
}

/// Watches this domain's ping directory and returns the responder, or
/// `None`, with a log line, when the domain id or the watch is missing.
fn start_responder() -> Option<guest::ping::Responder> {
    let Some(own) = domu::Identity::parse(guest::start_info().command_line()).identity.domid else {
        guest::println!("domu: no domid= on the command line; this domain does not answer ping");
        return None;
    };
    if !guest::xenstore::is_attached() {
        return None;
    }
    let mut payload = alloc::vec::Vec::from(guest::ping::directory(own).as_bytes());
    payload.push(0);
    payload.extend_from_slice(guest::ping::WATCH_TOKEN.as_bytes());
    payload.push(0);
    if let Err(error) = guest::xenstore::request(message::WATCH, 0, &payload) {
        guest::println!("domu: cannot watch {}: {error}; this domain does not answer ping", guest::ping::directory(own));
        return None;
    }
    Some(guest::ping::Responder::new(own))
}
