//! The hypercall dispatcher and its handlers.
//!
//! A guest calls through its hypercall page, which raises vector 0x82 with
//! the number in `rax` and arguments in `rdi`, `rsi`, `rdx`, `r10`, `r8`.
//! [`dispatch`] decodes the number and routes it. Each handler treats every
//! argument as hostile and returns a value or a Xen errno. Handlers copy
//! guest structures in once, validate the copy, prepare all output, and
//! change hypervisor state last.

use super::Hypervisor;
use super::domain::Domain;
use super::event;
use super::guestmem::GuestMemory;
use super::traps;
use crate::arch::layout;
use crate::arch::memory;
use crate::arch::power;
use crate::arch::serial::CONSOLE;
use hypercalls::number::{callback, consoleio, xenver};
use hypercalls::sched::{self, SchedShutdown, ShutdownReason};
use hypercalls::sysctl::{self, DomainInfo, GetDomainInfoList, PhysInfo, ReadConsole, Sysctl};
use hypercalls::trap::{CallbackRegister, IretContext, TrapInfo, VGCF_IN_SYSCALL};
use hypercalls::{DomId, Errno, Hypercall};
use log::info;

/// The next step of a vCPU after a hypercall.
pub enum Outcome {
    /// Store the value in `rax` and return to the caller.
    Return(i64),
    /// Registers were replaced wholesale (`iret`): leave `rax` alone.
    Replaced,
    /// A batch was preempted: re-execute the hypercall instruction with these
    /// arguments in `rdi`, `rsi`, `rdx`, `r10` and `r8` (see [`crate::batch`]).
    Continue([u64; 5]),
}

/// The result of a preemptible handler.
pub enum Completion {
    /// The call finished with this return value.
    Value(i64),
    /// The call stopped early; it resumes with these arguments.
    Continue([u64; 5]),
}

/// Time a batch may run before it becomes a continuation, in milliseconds
/// (a tenth of a PIT tick). Xen preempts when a softirq is pending, such as
/// its timer; a fixed budget bounds the delay the same way. A 512-entry `mmu_update`
/// stays well inside it: about 0.26 million instructions under `-icount`
/// and 0.13 ms under TCG (`cargo xtask bench`, QEMU 7.2).
const BATCH_BUDGET_MS: u64 = 1;

/// Returns the TSC value at which a batch starting now must yield.
pub fn batch_deadline() -> u64 {
    crate::arch::time::rdtsc().saturating_add(crate::arch::time::tsc_khz().saturating_mul(BATCH_BUDGET_MS))
}

/// Returns true once the TSC passed `deadline`.
pub fn past(deadline: u64) -> bool {
    crate::arch::time::rdtsc() >= deadline
}

/// Xen's capability string, with the ring-1 marker Hospes guests check.
const CAPABILITIES: &str = "xen-3.0-x86_64-ring1";
/// `XENVER_platform_parameters`: start of the hypervisor's reserved range.
const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// `XENFEAT_dom0` in feature word 0.
const XENFEAT_DOM0: u32 = 1 << 11;
/// Bytes copied per step of `console_io`.
const CONSOLE_CHUNK: usize = 256;

/// Routes one hypercall from domain `caller`.
pub fn dispatch(hypervisor: &mut Hypervisor, caller: DomId) -> Outcome {
    let Some(domain) = hypervisor.domain(caller) else {
        return Outcome::Return(Errno::ESRCH.to_return());
    };
    let frame = &domain.vcpu.frame;
    let number = frame.rax;
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8];
    let memory = GuestMemory::new(caller, domain.vcpu.cr3);

    let result = match Hypercall::try_from(number) {
        Ok(Hypercall::SetTrapTable) => set_trap_table(domain, memory, args[0]),
        Ok(Hypercall::SetCallbacks) => set_callbacks(domain, args[0], args[1], args[2]),
        Ok(Hypercall::CallbackOp) => callback_op(domain, memory, args[0], args[1]),
        Ok(Hypercall::StackSwitch) => stack_switch(domain, args[1]),
        Ok(Hypercall::ConsoleIo) => console_io(domain, memory, args[0], args[1], args[2]),
        Ok(Hypercall::XenVersion) => xen_version(domain, memory, args[0], args[1]),
        Ok(Hypercall::SchedOp) if args[0] == sched::SCHEDOP_REMOTE_SHUTDOWN => remote_shutdown(hypervisor, caller, memory, args[1]),
        Ok(Hypercall::SchedOp) => sched_op(domain, memory, args[0], args[1]),
        Ok(Hypercall::SchedOpCompat) => sched_op_compat(domain, args[0], args[1]),
        Ok(Hypercall::UpdateVaMapping) => super::mmu::update_va_mapping(domain, args[0], args[1]),
        Ok(Hypercall::MmuUpdate) => match super::mmu::mmu_update(hypervisor, caller, memory, args[0], args[1], args[2], args[3]) {
            Ok(Completion::Continue(next)) => return Outcome::Continue(next),
            Ok(Completion::Value(value)) => Ok(value),
            Err(errno) => Err(errno),
        },
        Ok(Hypercall::MmuextOp) => match super::mmu::mmuext_op(hypervisor, caller, memory, args[0], args[1], args[2], args[3]) {
            Ok(Completion::Continue(next)) => return Outcome::Continue(next),
            Ok(Completion::Value(value)) => Ok(value),
            Err(errno) => Err(errno),
        },
        Ok(Hypercall::EventChannelOp) => event_channel_op(hypervisor, caller, memory, args[0], args[1]),
        Ok(Hypercall::EventChannelOpCompat) => match memory.read::<u32>(args[0]) {
            // The legacy form carries the command in the struct, followed by the arguments.
            Ok(command) => event_channel_op(hypervisor, caller, memory, command as u64, args[0] + 4),
            Err(errno) => Err(errno),
        },
        Ok(Hypercall::Iret) => return iret(domain, memory),
        Ok(Hypercall::Sysctl) => sysctl(hypervisor, caller, memory, args[0]),
        Ok(Hypercall::Domctl) => super::domctl::domctl(hypervisor, caller, memory, args[0]),
        Ok(Hypercall::MemoryOp) => super::domctl::memory_op(hypervisor, caller, memory, args[0], args[1]),
        Ok(Hypercall::GrantTableOp) => match super::grant::grant_table_op(hypervisor, caller, memory, args[0], args[1], args[2]) {
            Ok(Completion::Continue(next)) => return Outcome::Continue(next),
            Ok(Completion::Value(value)) => Ok(value),
            Err(errno) => Err(errno),
        },
        Ok(Hypercall::SetTimerOp) => set_timer_op(domain, args[0]),
        Ok(other) => {
            log::debug!("d{caller}: hypercall {other:?} ({number}) is not implemented: ENOSYS");
            Err(Errno::ENOSYS)
        }
        Err(number) => {
            log::debug!("d{caller}: unknown hypercall number {number:#x}: ENOSYS");
            Err(Errno::ENOSYS)
        }
    };
    Outcome::Return(result.unwrap_or_else(Errno::to_return))
}

type HyperResult = Result<i64, Errno>;

fn valid_guest_address(address: u64) -> bool {
    layout::is_canonical(address) && !layout::is_reserved(address)
}

/// `set_trap_table(trap_info *)`: installs the virtual IDT. The array ends at
/// an entry whose address is 0; a NULL pointer clears every entry. At most
/// 256 entries are read, and nothing changes unless all of them are valid.
fn set_trap_table(domain: &mut Domain, memory: GuestMemory, table: u64) -> HyperResult {
    let mut updated = domain.vcpu.trap_table;
    if table == 0 {
        updated = [TrapInfo::default(); 256];
    } else {
        for index in 0..256u64 {
            let address = table.checked_add(index * 16).ok_or(Errno::EFAULT)?;
            let entry: TrapInfo = memory.read(address)?;
            if entry.address == 0 {
                break;
            }
            if !valid_guest_address(entry.address) {
                return Err(Errno::EINVAL);
            }
            updated[entry.vector as usize] = entry;
        }
    }
    domain.vcpu.trap_table = updated;
    Ok(0)
}

/// `set_callbacks(event, failsafe, syscall)` on x86_64.
fn set_callbacks(domain: &mut Domain, event_address: u64, failsafe: u64, syscall: u64) -> HyperResult {
    for address in [event_address, failsafe, syscall] {
        if address != 0 && !valid_guest_address(address) {
            return Err(Errno::EINVAL);
        }
    }
    domain.vcpu.event_callback = event_address;
    domain.vcpu.failsafe_callback = failsafe;
    Ok(0)
}

/// `callback_op(cmd, arg)`: register the event or failsafe entry point.
fn callback_op(domain: &mut Domain, memory: GuestMemory, command: u64, argument: u64) -> HyperResult {
    match command {
        callback::OP_REGISTER => {
            let request: CallbackRegister = memory.read(argument)?;
            if !valid_guest_address(request.address) {
                return Err(Errno::EINVAL);
            }
            match request.kind {
                callback::TYPE_EVENT => domain.vcpu.event_callback = request.address,
                callback::TYPE_FAILSAFE => domain.vcpu.failsafe_callback = request.address,
                callback::TYPE_SYSCALL | callback::TYPE_NMI => return Err(Errno::EOPNOTSUPP),
                _ => return Err(Errno::ENOSYS),
            }
            Ok(0)
        }
        callback::OP_UNREGISTER => Err(Errno::EINVAL),
        _ => Err(Errno::ENOSYS),
    }
}

/// `stack_switch(ss, sp)`: the kernel stack for bounces from user mode.
fn stack_switch(domain: &mut Domain, stack_pointer: u64) -> HyperResult {
    if !valid_guest_address(stack_pointer) {
        return Err(Errno::EINVAL);
    }
    domain.vcpu.kernel_sp = stack_pointer;
    Ok(0)
}

/// `console_io(cmd, count, buffer)`: the hypervisor console, Dom0 only.
/// Writes pass through unchanged; reads return buffered serial input.
fn console_io(domain: &mut Domain, memory: GuestMemory, command: u64, count: u64, buffer: u64) -> HyperResult {
    if !domain.privileged {
        return Err(Errno::EPERM);
    }
    // The ABI's count is a C int: anything that is not a non-negative 32-bit value is invalid.
    let count = u32::try_from(count).ok().filter(|&count| count <= i32::MAX as u32).ok_or(Errno::EINVAL)? as usize;
    match command {
        consoleio::WRITE => {
            let mut done = 0;
            let mut chunk = [0u8; CONSOLE_CHUNK];
            while done < count {
                let length = (count - done).min(CONSOLE_CHUNK);
                memory.read_bytes(buffer + done as u64, &mut chunk[..length])?;
                CONSOLE.lock().write_raw(&chunk[..length]);
                done += length;
            }
            Ok(0)
        }
        consoleio::READ => {
            let mut chunk = [0u8; CONSOLE_CHUNK];
            let length = count.min(CONSOLE_CHUNK);
            // Check the destination before taking input, so a bad pointer loses nothing.
            memory.write_bytes(buffer, &chunk[..length])?;
            let read = CONSOLE.lock().read_input(&mut chunk[..length]);
            memory.write_bytes(buffer, &chunk[..read])?;
            Ok(read as i64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `xen_version(cmd, arg)`.
fn xen_version(domain: &mut Domain, memory: GuestMemory, command: u64, argument: u64) -> HyperResult {
    match command {
        xenver::VERSION => Ok(((hypercalls::VERSION_MAJOR << 16) | hypercalls::VERSION_MINOR) as i64),
        xenver::EXTRAVERSION => write_string::<{ xenver::EXTRAVERSION_LEN }>(memory, argument, hypercalls::EXTRA_VERSION),
        xenver::CAPABILITIES => write_string::<{ xenver::CAPABILITIES_LEN }>(memory, argument, CAPABILITIES),
        xenver::CHANGESET => write_string::<{ xenver::CHANGESET_LEN }>(memory, argument, env!("CARGO_PKG_VERSION")),
        xenver::COMPILE_INFO => {
            let mut info = [0u8; 144];
            copy_string(&mut info[..64], "rustc");
            copy_string(&mut info[64..80], "hospes");
            memory.write(argument, &info)?;
            Ok(0)
        }
        xenver::PLATFORM_PARAMETERS => memory.write(argument, &HYPERVISOR_VIRT_START).map(|_| 0),
        xenver::GET_FEATURES => {
            let index: u32 = memory.read(argument)?;
            let features = if index == 0 && domain.privileged { XENFEAT_DOM0 } else { 0 };
            memory.write(argument + 4, &features).map(|_| 0)
        }
        xenver::PAGESIZE => Ok(4096),
        _ => Err(Errno::ENOSYS),
    }
}

fn copy_string(out: &mut [u8], text: &str) {
    let length = text.len().min(out.len() - 1);
    out[..length].copy_from_slice(&text.as_bytes()[..length]);
}

fn write_string<const N: usize>(memory: GuestMemory, address: u64, text: &str) -> HyperResult {
    let mut buffer = [0u8; N];
    copy_string(&mut buffer, text);
    memory.write(address, &buffer).map(|_| 0)
}

/// `sched_op(cmd, arg)`.
fn sched_op(domain: &mut Domain, memory: GuestMemory, command: u64, argument: u64) -> HyperResult {
    if command == sched::SCHEDOP_SHUTDOWN {
        let request: SchedShutdown = memory.read(argument)?;
        return shutdown(domain, request.reason as u64);
    }
    if command == sched::SCHEDOP_POLL {
        return poll(domain, memory, argument);
    }
    yield_or_block(domain, command)
}

/// Most ports one `SCHEDOP_poll` may name, as on Xen.
const MAX_POLL_PORTS: u32 = 128;

/// `SCHEDOP_poll(sched_poll *)`: sleeps until one of the listed ports is
/// pending (masked or not) or the absolute time-out passes (0: none).
/// Returns at once when a port is already pending. Errors: `EINVAL` for
/// more than 128 ports or a port the domain has never allocated,
/// `EFAULT` for an unreadable list.
fn poll(domain: &mut Domain, memory: GuestMemory, argument: u64) -> HyperResult {
    let [ports_address, count, timeout]: [u64; 3] = memory.read(argument)?;
    let count = count as u32;
    if count > MAX_POLL_PORTS {
        return Err(Errno::EINVAL);
    }
    let mut ports = alloc::vec::Vec::with_capacity(count as usize);
    for index in 0..count as u64 {
        let port: u32 = memory.read(ports_address.checked_add(index * 4).ok_or(Errno::EFAULT)?)?;
        if port == 0 || port as usize >= domain.ports.len() {
            return Err(Errno::EINVAL);
        }
        ports.push(port);
    }
    let pending = ports.iter().any(|&port| domain.event_word(false, port as usize / 64) & (1 << (port % 64)) != 0);
    let now = crate::arch::time::uptime_ns();
    if pending || (timeout != 0 && timeout <= now) {
        return Ok(0);
    }
    domain.vcpu.poll_ports = ports;
    domain.vcpu.poll_deadline = (timeout != 0).then_some(timeout);
    domain.vcpu.blocked = true;
    Ok(0)
}

/// Legacy `sched_op_compat(cmd, arg)`: the shutdown reason is the argument itself.
fn sched_op_compat(domain: &mut Domain, command: u64, argument: u64) -> HyperResult {
    if command == sched::SCHEDOP_SHUTDOWN {
        return shutdown(domain, argument);
    }
    yield_or_block(domain, command)
}

fn yield_or_block(domain: &mut Domain, command: u64) -> HyperResult {
    match command {
        sched::SCHEDOP_YIELD => {
            domain.account.yielded = true;
            Ok(0)
        }
        sched::SCHEDOP_BLOCK => {
            block(domain);
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// `SCHEDOP_remote_shutdown`: the control domain stops another domain with
/// a reason, as if it had called `SCHEDOP_shutdown` itself.
fn remote_shutdown(hypervisor: &mut Hypervisor, caller: DomId, memory: GuestMemory, argument: u64) -> HyperResult {
    if !hypervisor.domain(caller).is_some_and(|domain| domain.privileged) {
        return Err(Errno::EPERM);
    }
    let [target, reason]: [u32; 2] = memory.read(argument)?;
    let target = target as u16;
    if target == 0 {
        return Err(Errno::EINVAL);
    }
    let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
    let before = domain.state;
    let result = shutdown(domain, reason as u64);
    super::domctl::notify_state_change(hypervisor, target, before);
    result
}

/// Longest delay `set_timer_op` takes literally; Xen treats later or negative
/// deadlines as a guest bug and fires after 100 ms instead.
const TIMER_CLAMP_NS: u64 = 1 << 50;
const TIMER_FALLBACK_NS: u64 = 100_000_000;

/// `set_timer_op(deadline)`: one-shot `VIRQ_TIMER` at an absolute system
/// time in nanoseconds; 0 cancels. A deadline already past fires at once.
fn set_timer_op(domain: &mut Domain, deadline: u64) -> HyperResult {
    if deadline == 0 {
        domain.vcpu.timer_deadline = None;
        return Ok(0);
    }
    let now = crate::arch::time::uptime_ns();
    let sane = (deadline as i64) > 0 && deadline.saturating_sub(now) < TIMER_CLAMP_NS;
    domain.vcpu.timer_deadline = Some(if sane { deadline } else { now + TIMER_FALLBACK_NS });
    Ok(0)
}

/// `SCHEDOP_block`: enables event delivery, then sleeps unless an event is
/// already pending, so a wake-up between the check and the sleep is never lost.
fn block(domain: &mut Domain) {
    domain.update_vcpu_info(|info| info.evtchn_upcall_mask = 0);
    if !event::upcall_pending(domain) {
        domain.vcpu.blocked = true;
    }
}

fn shutdown(domain: &mut Domain, reason: u64) -> HyperResult {
    let reason = u32::try_from(reason).ok().and_then(|value| ShutdownReason::try_from(value).ok()).ok_or(Errno::EINVAL)?;
    if reason == ShutdownReason::Suspend || reason == ShutdownReason::SoftReset {
        return Err(Errno::EOPNOTSUPP);
    }
    info!("d{}: domain requested shutdown ({})", domain.id, reason.name());
    if domain.id == 0 {
        match reason {
            ShutdownReason::Poweroff => {
                info!("Dom0 shut down: powering off");
                power::power_off()
            }
            ShutdownReason::Reboot => {
                info!("Dom0 asked for a reboot: resetting the machine");
                power::reboot()
            }
            _ => {
                traps::crash(domain, "Dom0 shut down with reason crash");
                return Ok(0);
            }
        }
    }
    domain.state = super::domain::DomainState::Shutdown(reason);
    Ok(0)
}

/// `event_channel_op(cmd, arg)`: VIRQs and interdomain channels.
fn event_channel_op(hypervisor: &mut Hypervisor, caller: DomId, memory: GuestMemory, command: u64, argument: u64) -> HyperResult {
    match command {
        event::EVTCHNOP_BIND_VIRQ => {
            let [virq, vcpu, _]: [u32; 3] = memory.read(argument)?;
            // Check the output slot before binding, so a fault leaves no half-made port.
            memory.write(argument + 8, &0u32)?;
            let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
            let port = domain.ports.bind_virq(virq, vcpu)?;
            memory.write(argument + 8, &port)?;
        }
        event::EVTCHNOP_ALLOC_UNBOUND => {
            let [domains, _]: [u32; 2] = memory.read(argument)?;
            let owner = resolve_self(caller, domains as u16);
            let remote = resolve_self(caller, (domains >> 16) as u16);
            let privileged = hypervisor.domain(caller).is_some_and(|domain| domain.privileged);
            if owner != caller && !privileged {
                return Err(Errno::EPERM);
            }
            memory.write(argument + 4, &0u32)?;
            let port = event::alloc_unbound(hypervisor, owner, remote)?;
            memory.write(argument + 4, &port)?;
        }
        event::EVTCHNOP_BIND_INTERDOMAIN => {
            let [remote, remote_port, _]: [u32; 3] = memory.read(argument)?;
            let remote = resolve_self(caller, remote as u16);
            memory.write(argument + 8, &0u32)?;
            let port = event::bind_interdomain(hypervisor, caller, remote, remote_port)?;
            memory.write(argument + 8, &port)?;
        }
        event::EVTCHNOP_SEND => {
            let port: u32 = memory.read(argument)?;
            event::send(hypervisor, caller, port)?;
        }
        event::EVTCHNOP_CLOSE => {
            let port: u32 = memory.read(argument)?;
            event::close(hypervisor, caller, port)?;
        }
        event::EVTCHNOP_UNMASK => {
            let port: u32 = memory.read(argument)?;
            let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
            event::check_port(&domain.ports, port)?;
            domain.unmask(port);
        }
        event::EVTCHNOP_BIND_IPI => {
            let [vcpu, _]: [u32; 2] = memory.read(argument)?;
            memory.write(argument + 4, &0u32)?;
            let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
            let port = domain.ports.bind_ipi(vcpu)?;
            memory.write(argument + 4, &port)?;
        }
        event::EVTCHNOP_BIND_VCPU => {
            let [port, vcpu]: [u32; 2] = memory.read(argument)?;
            let domain = hypervisor.domain(caller).ok_or(Errno::ESRCH)?;
            domain.ports.bind_vcpu(port, vcpu)?;
        }
        event::EVTCHNOP_STATUS => {
            let [dom, port, _, _, _, _]: [u32; 6] = memory.read(argument)?;
            let target = resolve_other(hypervisor, caller, dom as u16)?;
            let domain = hypervisor.domain(target).ok_or(Errno::ESRCH)?;
            let [state, vcpu, first, second] = domain.ports.status(port)?;
            memory.write(argument + 8, &[state, vcpu, first, second])?;
        }
        event::EVTCHNOP_RESET => {
            let dom: [u8; 2] = memory.read(argument)?;
            let target = resolve_other(hypervisor, caller, u16::from_le_bytes(dom))?;
            event::close_all(hypervisor, target);
        }
        _ => return Err(Errno::ENOSYS),
    }
    Ok(0)
}

/// Resolves a domain argument that names the caller or, for the control
/// domain only, another existing domain.
fn resolve_other(hypervisor: &mut Hypervisor, caller: DomId, requested: DomId) -> Result<DomId, Errno> {
    let target = resolve_self(caller, requested);
    if target != caller && !hypervisor.domain(caller).is_some_and(|domain| domain.privileged) {
        return Err(Errno::EPERM);
    }
    if hypervisor.domain(target).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(target)
}

/// Replaces `DOMID_SELF` with the caller's id.
fn resolve_self(caller: DomId, requested: DomId) -> DomId {
    if requested == hypercalls::DOMID_SELF { caller } else { requested }
}

/// `iret`: returns from a guest handler to the context in the
/// `iret_context` on the guest stack, restoring the upcall mask from its IF.
fn iret(domain: &mut Domain, memory: GuestMemory) -> Outcome {
    let context: IretContext = match memory.read(domain.vcpu.frame.rsp) {
        Ok(context) => context,
        Err(errno) => {
            traps::crash(domain, "iret frame on the guest stack is unreadable");
            return Outcome::Return(errno.to_return());
        }
    };
    let mut frame = domain.vcpu.frame;
    frame.rax = context.rax;
    if context.flags & VGCF_IN_SYSCALL == 0 {
        frame.r11 = context.r11;
        frame.rcx = context.rcx;
    }
    frame.rip = context.rip;
    frame.cs = context.cs;
    frame.rflags = context.rflags;
    frame.rsp = context.rsp;
    frame.ss = context.ss;
    if !traps::sanitize_return_frame(&mut frame) {
        let reason = alloc::format!("iret to invalid rip {:#x}", context.rip);
        traps::crash(domain, &reason);
        return Outcome::Replaced;
    }
    let mask = u8::from(context.rflags & (1 << 9) == 0);
    domain.vcpu.frame = frame;
    domain.update_vcpu_info(|info| info.evtchn_upcall_mask = mask);
    Outcome::Replaced
}

/// `sysctl(xen_sysctl *)`: host-wide queries for the control domain.
fn sysctl(hypervisor: &mut Hypervisor, caller: DomId, memory: GuestMemory, argument: u64) -> HyperResult {
    let privileged = hypervisor.domain(caller).is_some_and(|domain| domain.privileged);
    if !privileged {
        return Err(Errno::EPERM);
    }
    let mut request: Sysctl = memory.read(argument)?;
    if request.interface_version != sysctl::INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    match request.cmd {
        sysctl::READCONSOLE => {
            let mut query: ReadConsole = request.payload();
            let mut buffer = alloc::vec![0u8; query.count.min(64 * 1024) as usize];
            let (read, next) = {
                let console = CONSOLE.lock();
                let start = if query.incremental != 0 { query.index } else { console.log.oldest() };
                console.log.read(start, &mut buffer)
            };
            memory.write_bytes(query.buffer, &buffer[..read])?;
            // Clear only after the copy succeeded, as Xen does, so a buffer the
            // guest cannot write leaves the log as it was.
            if query.clear != 0 {
                CONSOLE.lock().log.clear();
            }
            query.count = read as u32;
            query.index = next;
            request.set_payload(query);
        }
        sysctl::PHYSINFO => {
            let (total, free, max_mfn) =
                memory::with(|memory| (memory.frames.total_frames(), memory.frames.free_frames(), memory.table.len()));
            let info = PhysInfo {
                threads_per_core: 1,
                cores_per_socket: 1,
                nr_cpus: 1,
                nr_nodes: 1,
                cpu_khz: crate::arch::time::tsc_khz() as u32,
                capabilities: sysctl::PHYSCAP_PV,
                total_pages: total,
                free_pages: free,
                max_mfn: max_mfn.saturating_sub(1),
                ..Default::default()
            };
            request.set_payload(info);
        }
        sysctl::GETDOMAININFOLIST => {
            let mut query: GetDomainInfoList = request.payload();
            let records: alloc::vec::Vec<DomainInfo> = hypervisor
                .domains
                .values()
                .filter(|domain| domain.id >= query.first_domain)
                .take(query.max_domains as usize)
                .map(domain_info)
                .collect();
            for (index, record) in records.iter().enumerate() {
                memory.write(query.buffer + (index * size_of::<DomainInfo>()) as u64, record)?;
            }
            query.num_domains = records.len() as u32;
            request.set_payload(query);
        }
        other => {
            log::debug!("d{caller}: sysctl command {other} is not implemented: ENOSYS");
            return Err(Errno::ENOSYS);
        }
    }
    memory.write(argument, &request)?;
    Ok(0)
}

/// Fills Xen's `getdomaininfo` record for a domain.
pub fn domain_info(domain: &Domain) -> DomainInfo {
    use super::domain::DomainState;
    let paused = if domain.paused { sysctl::DOMINF_PAUSED } else { 0 };
    let flags = paused | match domain.state {
        DomainState::Running if domain.vcpu.blocked => sysctl::DOMINF_BLOCKED,
        DomainState::Running => sysctl::DOMINF_RUNNING,
        DomainState::Shutdown(reason) => sysctl::DOMINF_SHUTDOWN | (reason as u32) << sysctl::DOMINF_SHUTDOWN_SHIFT,
        DomainState::Crashed => sysctl::DOMINF_SHUTDOWN | (ShutdownReason::Crash as u32) << sysctl::DOMINF_SHUTDOWN_SHIFT,
    };
    let khz = crate::arch::time::tsc_khz().max(1);
    DomainInfo {
        domain: domain.id,
        flags,
        tot_pages: domain.memory.len() as u64,
        max_pages: domain.max_pages,
        shared_info_frame: domain.shared_info,
        cpu_time: (domain.vcpu.cpu_tsc as u128 * 1_000_000 / khz as u128) as u64,
        nr_online_vcpus: 1,
        max_vcpu_id: 0,
        ..Default::default()
    }
}
