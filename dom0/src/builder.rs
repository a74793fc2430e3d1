//! The DomU builder: creates a domain and loads a PV kernel into it, the
//! way Xen's libxenguest does, through privileged hypercalls only.
//!
//! Steps: create the domain paused, set its memory limit and populate its
//! memory, and connect its console event channel. Then write the kernel, P2M
//! array, `start_info` and bootstrap page tables into its frames through
//! Dom0's foreign-mapping window. Last, fill its hypercall page, pin its L4,
//! set its vCPU context, and unpause it. Any failure destroys the half-built domain, so
//! nothing stays allocated.

use crate::window::{WINDOW_SLOTS, Window};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest::hypercall::{self, MmuextOp};
use hypercalls::domctl::{self, CreateDomain, Domctl, HypercallInit, MaxMem, MemoryReservation, VcpuContext, VcpuContextRequest};
use hypercalls::shared::{START_INFO_MAGIC, StartInfo};
use hypercalls::sysctl::DomainInfo;
use hypercalls::Errno;
use pvbuild::{domlayout, elfload};

/// Window slots used while building; the rest hold ring pages.
pub const BUILD_SLOTS: usize = 256;
/// Most DomUs whose console and xenstore pages fit in the window at once.
pub const MAX_CONSOLE_DOMAINS: usize = (WINDOW_SLOTS - BUILD_SLOTS) / 2;
/// First window slot for console pages, one per running DomU.
pub const CONSOLE_SLOT_BASE: usize = BUILD_SLOTS;
/// First window slot for xenstore pages, one per running DomU.
pub const STORE_SLOT_BASE: usize = CONSOLE_SLOT_BASE + MAX_CONSOLE_DOMAINS;

const MMUEXT_PIN_L4_TABLE: u32 = 3;
const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;

/// The description of a domain to build.
pub struct DomainSpec<'a> {
    pub name: &'a str,
    pub kernel: &'a [u8],
    pub memory_mib: u64,
    pub extra: &'a str,
}

/// A built, running domain and the Dom0 end of its console.
pub struct BuiltDomain {
    pub id: u16,
    /// Dom0's port of the console event channel.
    pub console_port: u32,
    /// Address of Dom0's mapping of the console ring.
    pub console_address: u64,
    /// Machine frame of the console ring and the DomU's console port, for xenstore.
    pub console_mfn: u64,
    pub domu_console_port: u32,
    /// Dom0's port of the xenstore event channel.
    pub store_port: u32,
    /// Address of Dom0's mapping of the xenstore ring.
    pub store_address: u64,
    /// Machine frame of the xenstore ring and the DomU's xenstore port.
    pub store_mfn: u64,
    pub domu_store_port: u32,
}

/// Why a build failed: the step, and the errno or a description.
pub struct BuildFailure {
    pub action: String,
    pub errno: Option<Errno>,
    pub detail: String,
}

impl BuildFailure {
    fn new(action: String, errno: Errno, detail: String) -> Self {
        BuildFailure { action, errno: Some(errno), detail }
    }
}

fn domctl_call(command: u32, domain: u16, payload: impl Copy) -> Result<Domctl, Errno> {
    let mut request = Domctl::new(command, domain, payload);
    hypercall::domctl(&mut request)?;
    Ok(request)
}

/// Reads a domain's `getdomaininfo` record.
pub fn domain_info(domain: u16) -> Result<DomainInfo, Errno> {
    domctl_call(domctl::GETDOMAININFO, domain, ()).map(|reply| reply.payload())
}

/// Builds and starts a domain whose console and xenstore rings Dom0 maps at
/// ring slot `console` (below [`MAX_CONSOLE_DOMAINS`]); on failure destroys
/// what was made.
pub fn build(window: &Window, spec: &DomainSpec<'_>, console: usize) -> Result<BuiltDomain, BuildFailure> {
    let config = CreateDomain { max_vcpus: 1, ..Default::default() };
    let id = domctl_call(domctl::CREATEDOMAIN, 0, config)
        .map_err(|errno| BuildFailure::new(format!("create domain {}", spec.name), errno, String::new()))?
        .domain;
    let mut dom0_ports = Vec::new();
    match fill(window, id, spec, console, &mut dom0_ports) {
        Ok(built) => Ok(built),
        Err(mut failure) => {
            if failure.detail.is_empty()
                && let Some(reason) = last_failure(id)
            {
                failure.detail = reason;
            }
            let _ = window.unmap(0, BUILD_SLOTS);
            let _ = window.unmap(CONSOLE_SLOT_BASE + console, 1);
            let _ = window.unmap(STORE_SLOT_BASE + console, 1);
            let _ = domctl_call(domctl::DESTROYDOMAIN, id, ());
            close_ports(&dom0_ports);
            Err(failure)
        }
    }
}

/// Returns the reason the hypervisor recorded for the domain's last failed
/// operation, such as "cr3 is not a pinned L4 of the domain".
pub fn last_failure(domain: u16) -> Option<String> {
    use hypercalls::domctl::LastFailure;
    let reply = domctl_call(domctl::HOSPES_LAST_FAILURE, domain, LastFailure::default()).ok()?;
    let record: LastFailure = reply.payload();
    let end = record.reason.iter().position(|&byte| byte == 0).unwrap_or(record.reason.len());
    Some(String::from_utf8_lossy(&record.reason[..end]).into_owned())
}

fn free_mib() -> u64 {
    let mut request = hypercalls::sysctl::Sysctl::new(hypercalls::sysctl::PHYSINFO, hypercalls::sysctl::PhysInfo::default());
    match hypercall::sysctl(&mut request) {
        Ok(_) => request.payload::<hypercalls::sysctl::PhysInfo>().free_pages / 256,
        Err(_) => 0,
    }
}

/// Fills the new domain `id`. Each port Dom0 opens to it is pushed on
/// `dom0_ports`, so the caller can close them if the build fails.
fn fill(
    window: &Window,
    id: u16,
    spec: &DomainSpec<'_>,
    ring_slot: usize,
    dom0_ports: &mut Vec<u32>,
) -> Result<BuiltDomain, BuildFailure> {
    let console_slot = CONSOLE_SLOT_BASE + ring_slot;
    let store_slot = STORE_SLOT_BASE + ring_slot;
    let name = spec.name;
    let nr_pages = spec.memory_mib * 256;
    let memory_action = || format!("set memory of {name} to {} MiB", spec.memory_mib);

    let image = elfload::parse(spec.kernel, nr_pages * 4096).map_err(|problem| BuildFailure {
        action: format!("load the kernel of {name}"),
        errno: Some(Errno::ENOEXEC),
        detail: problem.describe().into(),
    })?;
    let layout = domlayout::plan(image.virt_base, nr_pages, image.pages(), 0, true).map_err(|problem| BuildFailure {
        action: memory_action(),
        errno: Some(Errno::EINVAL),
        detail: format!("{problem:?}: the kernel and its tables do not fit; raise memory"),
    })?;

    let free = free_mib();
    if spec.memory_mib > free {
        return Err(BuildFailure::new(memory_action(), Errno::ENOMEM, format!("{free} MiB free")));
    }
    domctl_call(domctl::MAX_MEM, id, MaxMem { max_memkb: nr_pages * 4 })
        .map_err(|errno| BuildFailure::new(memory_action(), errno, String::new()))?;
    let mut p2m: Vec<u64> = (0..nr_pages).collect();
    let mut reservation =
        MemoryReservation { extent_start: p2m.as_mut_ptr() as u64, nr_extents: nr_pages, domid: id, ..Default::default() };
    let given = hypercall::memory_op(domctl::XENMEM_POPULATE_PHYSMAP, (&raw mut reservation).cast())
        .map_err(|errno| BuildFailure::new(memory_action(), errno, String::new()))?;
    if given as u64 != nr_pages {
        return Err(BuildFailure::new(memory_action(), Errno::ENOMEM, format!("{} MiB free", free_mib())));
    }

    let console_pfn = layout.console_pfn.ok_or_else(|| BuildFailure::new(memory_action(), Errno::EINVAL, "no console page".into()))?;
    let (domu_port, console_port) = connect_console(id, dom0_ports)
        .map_err(|errno| BuildFailure::new(format!("connect the console of {name}"), errno, String::new()))?;
    let store_pfn = layout.store_pfn.ok_or_else(|| BuildFailure::new(memory_action(), Errno::EINVAL, "no xenstore page".into()))?;
    let (domu_store_port, store_port) = connect_console(id, dom0_ports)
        .map_err(|errno| BuildFailure::new(format!("connect the xenstore ring of {name}"), errno, String::new()))?;

    let info = domain_info(id).map_err(|errno| BuildFailure::new(format!("query {name}"), errno, String::new()))?;
    let mut start_info = StartInfo::zeroed();
    start_info.magic[..START_INFO_MAGIC.len()].copy_from_slice(START_INFO_MAGIC);
    start_info.nr_pages = nr_pages;
    start_info.shared_info = info.shared_info_frame << 12;
    start_info.console_mfn = p2m[console_pfn as usize];
    start_info.console_evtchn = domu_port;
    start_info.store_mfn = p2m[store_pfn as usize];
    start_info.store_evtchn = domu_store_port;
    start_info.pt_base = layout.address_of(layout.page_table_pfn);
    start_info.nr_pt_frames = layout.page_tables.total();
    start_info.mfn_list = layout.address_of(layout.p2m_pfn);
    let command_line = format!("name={name} domid={id} {}", spec.extra);
    let length = command_line.len().min(start_info.cmd_line.len() - 1);
    start_info.cmd_line[..length].copy_from_slice(&command_line.as_bytes()[..length]);

    let writer = ImageWriter { window, domain: id, p2m: &p2m };
    writer.write_contents(&image, spec.kernel, &layout, &start_info).map_err(|errno| {
        BuildFailure::new(format!("load the kernel of {name}"), errno, "mapping its memory failed".into())
    })?;

    if let Some(address) = image.hypercall_page {
        let frame = p2m[((address - image.virt_base) / 4096) as usize];
        domctl_call(domctl::HYPERCALL_INIT, id, HypercallInit { gmfn: frame })
            .map_err(|errno| BuildFailure::new(format!("write the hypercall page of {name}"), errno, String::new()))?;
    }
    let l4 = p2m[layout.page_table_pfn as usize];
    hypercall::mmuext_op(&[MmuextOp { command: MMUEXT_PIN_L4_TABLE, argument: l4, ..Default::default() }], id)
        .map_err(|errno| BuildFailure::new(format!("pin the page tables of {name}"), errno, String::new()))?;

    let context = VcpuContext {
        rip: image.entry,
        rsp: layout.address_of(layout.stack_pfn + 1),
        rsi: layout.address_of(layout.start_info_pfn),
        rflags: 0x202,
        cr3: l4 << 12,
        ..Default::default()
    };
    let request = VcpuContextRequest { vcpu: 0, _pad: 0, context: &context as *const VcpuContext as u64 };
    domctl_call(domctl::SETVCPUCONTEXT, id, request)
        .map_err(|errno| BuildFailure::new(format!("set the vCPU context of {name}"), errno, String::new()))?;

    window
        .map(id, console_slot, &[p2m[console_pfn as usize]])
        .map_err(|errno| BuildFailure::new(format!("map the console of {name}"), errno, String::new()))?;
    window
        .map(id, store_slot, &[p2m[store_pfn as usize]])
        .map_err(|errno| BuildFailure::new(format!("map the xenstore ring of {name}"), errno, String::new()))?;
    // The caller unpauses the domain once its end of the rings is ready:
    // a guest that ran first could write a request Dom0 would then wipe.
    Ok(BuiltDomain {
        id,
        console_port,
        console_address: Window::address(console_slot),
        console_mfn: p2m[console_pfn as usize],
        domu_console_port: domu_port,
        store_port,
        store_address: Window::address(store_slot),
        store_mfn: p2m[store_pfn as usize],
        domu_store_port,
    })
}

/// Allocates a console or xenstore channel: an unbound port in the DomU for Dom0,
/// then Dom0's end bound to it, which is pushed on `dom0_ports`. Returns
/// (DomU port, Dom0 port).
fn connect_console(domain: u16, dom0_ports: &mut Vec<u32>) -> Result<(u32, u32), Errno> {
    let mut unbound = [domain as u32, 0];
    hypercall::event_channel_op(EVTCHNOP_ALLOC_UNBOUND, unbound.as_mut_ptr().cast())?;
    let domu_port = unbound[1];
    let mut bind = [domain as u32, domu_port, 0];
    hypercall::event_channel_op(EVTCHNOP_BIND_INTERDOMAIN, bind.as_mut_ptr().cast())?;
    dom0_ports.push(bind[2]);
    Ok((domu_port, bind[2]))
}

/// Writes into a domain's pages through the window, one chunk of
/// [`BUILD_SLOTS`] pages at a time.
struct ImageWriter<'a> {
    window: &'a Window,
    domain: u16,
    p2m: &'a [u64],
}

impl ImageWriter<'_> {
    fn write_contents(
        &self,
        image: &elfload::KernelImage,
        kernel: &[u8],
        layout: &domlayout::DomainLayout,
        start_info: &StartInfo,
    ) -> Result<(), Errno> {
        let p2m_bytes: Vec<u8> = self.p2m.iter().flat_map(|mfn| mfn.to_le_bytes()).collect();
        // SAFETY: StartInfo is repr(C) integers, readable as bytes.
        let start_info_bytes = unsafe {
            core::slice::from_raw_parts((start_info as *const StartInfo).cast::<u8>(), size_of::<StartInfo>())
        };
        let mut entries: Vec<(u64, usize, u64)> = layout.page_table_entries(self.p2m).collect();
        entries.sort_unstable_by_key(|&(table, _, _)| table);

        let bootstrap = layout.bootstrap_pages();
        let mut first = 0;
        while first < bootstrap {
            let count = (bootstrap - first).min(BUILD_SLOTS as u64);
            let chunk = first..first + count;
            self.window.map(self.domain, 0, &self.p2m[chunk.start as usize..chunk.end as usize])?;
            for segment in image.segments() {
                let data = &kernel[segment.offset as usize..(segment.offset + segment.file_size) as usize];
                self.copy(&chunk, (segment.vaddr - image.virt_base) as usize, data);
            }
            self.copy(&chunk, (layout.p2m_pfn * 4096) as usize, &p2m_bytes);
            self.copy(&chunk, (layout.start_info_pfn * 4096) as usize, start_info_bytes);
            for &(table, index, entry) in entries.iter().filter(|(table, _, _)| chunk.contains(table)) {
                let address = Window::address((table - chunk.start) as usize) + index as u64 * 8;
                // SAFETY: the table's page is mapped writable at that slot of the window.
                unsafe { (address as *mut u64).write_volatile(entry) };
            }
            self.window.unmap(0, count as usize)?;
            first += count;
        }
        Ok(())
    }

    /// Copies the part of `data` (placed at byte `offset` of the domain's
    /// pseudo-physical memory) that falls inside the mapped `chunk`.
    fn copy(&self, chunk: &core::ops::Range<u64>, offset: usize, data: &[u8]) {
        let chunk_start = chunk.start as usize * 4096;
        let chunk_end = chunk.end as usize * 4096;
        let start = offset.max(chunk_start);
        let end = (offset + data.len()).min(chunk_end);
        if start >= end {
            return;
        }
        let target = (Window::address(0) as usize + (start - chunk_start)) as *mut u8;
        // SAFETY: [start, end) lies inside the chunk, which is mapped writable
        // from window slot 0, and inside `data` by construction.
        unsafe { core::ptr::copy_nonoverlapping(data[start - offset..].as_ptr(), target, end - start) };
    }
}

/// Destroys a domain, releases Dom0's mappings of its rings at slot
/// `console` and closes Dom0's ports to it. A port left open would stay
/// unbound, waiting for the dead domain, and use up Dom0's port table.
pub fn destroy(window: &Window, domain: u16, console: usize, dom0_ports: &[u32]) -> Result<(), Errno> {
    window.unmap(CONSOLE_SLOT_BASE + console, 1)?;
    window.unmap(STORE_SLOT_BASE + console, 1)?;
    domctl_call(domctl::DESTROYDOMAIN, domain, ())?;
    close_ports(dom0_ports);
    Ok(())
}

/// Closes Dom0's `ports`, logging any that fails to close.
fn close_ports(ports: &[u32]) {
    for &port in ports {
        if let Err(errno) = guest::events::close(port) {
            guest::println!("dom0: failed to close event channel port {port}: {errno}");
        }
    }
}

/// Pauses or unpauses a domain.
pub fn set_paused(domain: u16, paused: bool) -> Result<(), Errno> {
    let command = if paused { domctl::PAUSEDOMAIN } else { domctl::UNPAUSEDOMAIN };
    domctl_call(command, domain, ()).map(|_| ())
}

/// Reads a domain's credit-scheduler weight, or sets it when `weight` is given.
pub fn sched_credit(domain: u16, weight: Option<u16>) -> Result<u16, Errno> {
    use hypercalls::domctl::SchedulerOp;
    let command = if weight.is_some() { domctl::SCHEDOP_PUTINFO } else { domctl::SCHEDOP_GETINFO };
    let query = SchedulerOp { sched_id: domctl::SCHEDULER_CREDIT, cmd: command, weight: weight.unwrap_or(0), cap: 0 };
    let reply = domctl_call(domctl::SCHEDULER_OP, domain, query)?;
    Ok(weight.unwrap_or(reply.payload::<SchedulerOp>().weight))
}

/// Lists every domain's record.
pub fn list_domains() -> Result<Vec<DomainInfo>, Errno> {
    use hypercalls::sysctl::{self, GetDomainInfoList, Sysctl};
    let mut records = vec![DomainInfo::default(); 256];
    let query = GetDomainInfoList { max_domains: 256, buffer: records.as_mut_ptr() as u64, ..Default::default() };
    let mut request = Sysctl::new(sysctl::GETDOMAININFOLIST, query);
    hypercall::sysctl(&mut request)?;
    records.truncate(request.payload::<GetDomainInfoList>().num_domains as usize);
    Ok(records)
}
