//! Test doubles shared by the unit tests: a recording [`Platform`] and a
//! writer of cpio newc archives.

use alloc::string::String;
use alloc::vec::Vec;

use hypercalls::Errno;
use hypercalls::sysctl::PhysInfo;

use crate::attack::AttackReport;
use crate::commands::{Platform, TrapReport};

/// Platform that records output and calls and returns canned hypercall results.
pub struct MockPlatform {
    pub output: Vec<u8>,
    pub version: (u32, u32),
    pub extra: Result<String, Errno>,
    pub capabilities: Result<String, Errno>,
    pub physinfo: Result<PhysInfo, Errno>,
    pub domains: Result<u32, Errno>,
    pub dmesg: Result<Vec<u8>, Errno>,
    pub ring: u8,
    pub ramdisk: &'static [u8],
    pub trap: Result<TrapReport, &'static str>,
    pub poweroff_calls: u32,
    pub selftest_calls: u32,
    pub crash_calls: u32,
    pub xl_commands: Vec<crate::xl::XlCommand>,
    pub xl_result: Result<(), String>,
    /// Reports `run_attack_case` returns, by index.
    pub attacks: Vec<AttackReport>,
    /// Indexes `run_attack_case` was called with, in order.
    pub attack_runs: Vec<usize>,
    pub iret_calls: u32,
    /// The store the `xenstore-*` commands use.
    pub store: crate::xenstore::Store,
    /// (domain, count) of every `ping` call, in order.
    pub pings: Vec<(String, u32)>,
    /// What `ping` returns.
    pub ping_result: Result<(), String>,
}

impl MockPlatform {
    /// Creates a platform that looks like one vCPU and 128 MiB under Hospes 4.19.
    pub fn new() -> MockPlatform {
        let physinfo = PhysInfo {
            nr_cpus: 1,
            cpu_khz: 2_994_000,
            total_pages: 128 * 256,
            free_pages: 61 * 256 + 100,
            ..PhysInfo::default()
        };
        MockPlatform {
            output: Vec::new(),
            version: (4, 19),
            extra: Ok(String::from("-hospes")),
            capabilities: Ok(String::from("xen-3.0-x86_64")),
            physinfo: Ok(physinfo),
            domains: Ok(1),
            dmesg: Ok(b"(XEN) Hospes starting\n".to_vec()),
            ring: 1,
            ramdisk: &[],
            trap: Err("the mock platform has no trap result set"),
            poweroff_calls: 0,
            selftest_calls: 0,
            crash_calls: 0,
            xl_commands: Vec::new(),
            xl_result: Ok(()),
            attacks: Vec::new(),
            attack_runs: Vec::new(),
            iret_calls: 0,
            store: crate::xenstore::Store::new(),
            pings: Vec::new(),
            ping_result: Ok(()),
        }
    }

    /// Returns the output so far as text, with invalid UTF-8 replaced.
    pub fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Returns the output split at CR LF. Fails the test when a line ends
    /// with a bare LF or the output does not end with CR LF.
    pub fn lines(&self) -> Vec<String> {
        let text = self.output_text();
        if text.is_empty() {
            return Vec::new();
        }
        assert!(
            text.ends_with("\r\n"),
            "output does not end with CR LF: {text:?}"
        );
        assert_eq!(
            text.matches('\n').count(),
            text.matches("\r\n").count(),
            "output has an LF without CR: {text:?}"
        );
        let body = &text[..text.len() - 2];
        body.split("\r\n").map(String::from).collect()
    }
}

impl Platform for MockPlatform {
    fn write(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    fn xen_version(&self) -> (u32, u32) {
        self.version
    }

    fn xen_extra_version(&self) -> Result<String, Errno> {
        self.extra.clone()
    }

    fn xen_capabilities(&self) -> Result<String, Errno> {
        self.capabilities.clone()
    }

    fn physinfo(&self) -> Result<PhysInfo, Errno> {
        self.physinfo
    }

    fn domain_count(&self) -> Result<u32, Errno> {
        self.domains
    }

    fn read_dmesg(&mut self) -> Result<Vec<u8>, Errno> {
        self.dmesg.clone()
    }

    fn current_ring(&self) -> u8 {
        self.ring
    }

    fn ramdisk(&self) -> &'static [u8] {
        self.ramdisk
    }

    fn poweroff(&mut self) {
        self.poweroff_calls += 1;
    }

    fn selftest_trap(&mut self) -> Result<TrapReport, &'static str> {
        self.selftest_calls += 1;
        self.trap
    }

    fn xl_domain(&mut self, command: crate::xl::XlCommand) -> Result<(), String> {
        self.xl_commands.push(command);
        self.xl_result.clone()
    }

    fn selftest_domain(&mut self) -> Vec<(String, bool)> {
        vec![("create".to_string(), true), ("destroy returns memory".to_string(), false)]
    }

    fn selftest_crash(&mut self) -> &'static str {
        self.crash_calls += 1;
        "the mock does not crash"
    }

    fn attack_case_count(&mut self) -> usize {
        self.attacks.len()
    }

    fn run_attack_case(&mut self, index: usize) -> AttackReport {
        self.attack_runs.push(index);
        self.attacks[index].clone()
    }

    fn selftest_iret(&mut self) -> String {
        self.iret_calls += 1;
        String::from("the mock does not crash")
    }

    fn xenstore(&mut self) -> &mut crate::xenstore::Store {
        &mut self.store
    }

    fn ping(&mut self, domain: &str, count: u32) -> Result<(), String> {
        self.pings.push((String::from(domain), count));
        self.ping_result.clone()
    }
}

pub use pvbuild::cpio::{DIRECTORY, REGULAR_FILE, SYMBOLIC_LINK, newc_archive};

/// Packs the `dom0/rootfs` tree of this crate into a newc archive, with
/// names like `./etc/motd`, as `find . | cpio -o -H newc` run there does.
pub fn rootfs_archive() -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs");
    let mut files: Vec<(String, u32, Vec<u8>)> = Vec::new();
    collect_tree(&root, ".", &mut files);

    let entries: Vec<(&str, u32, &[u8])> = files
        .iter()
        .map(|(name, mode, contents)| (name.as_str(), *mode, contents.as_slice()))
        .collect();
    newc_archive(&entries)
}

fn collect_tree(directory: &std::path::Path, name: &str, files: &mut Vec<(String, u32, Vec<u8>)>) {
    files.push((String::from(name), DIRECTORY, Vec::new()));

    let listing = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()));
    let mut children: Vec<std::fs::DirEntry> = listing
        .map(|entry| {
            entry.unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()))
        })
        .collect();
    children.sort_by_key(std::fs::DirEntry::file_name);

    for child in children {
        let path = child.path();
        let child_name = alloc::format!("{name}/{}", child.file_name().to_string_lossy());
        if path.is_dir() {
            collect_tree(&path, &child_name, files);
        } else {
            let contents = std::fs::read(&path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            files.push((child_name, REGULAR_FILE, contents));
        }
    }
}

/// Runs one command line on `platform` and returns the lines it printed.
pub fn run_on(platform: &mut MockPlatform, line: &str) -> Vec<String> {
    platform.output.clear();
    crate::commands::run(line, platform);
    platform.lines()
}

/// Runs one command line on a fresh mock and returns the lines it printed.
pub fn output_of(line: &str) -> Vec<String> {
    run_on(&mut MockPlatform::new(), line)
}
