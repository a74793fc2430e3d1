//! Hostile cases a ring-1 guest runs against the hypervisor, XTF-style.
//!
//! Each case does one thing the hypervisor must refuse or contain and
//! checks the exact outcome: the errno a hypercall returns, or the vector,
//! error code and RIP of the exception the hypervisor bounces back. Where
//! state must not change (a page-table entry, the GDT, bytes a refused write
//! aimed at), the case reads it before and after. The cases come in tables,
//! one row per case, grouped by the case classes of Xen's test framework
//! (A14 trap registration, A17 privileged instructions, A41 bad pointers,
//! A42 unknown hypercalls, A04/A01 frame ownership and page-table frames).
//!
//! The cases run in ring 1 of any domain built on this runtime. Those for
//! console and sysctl hypercalls expect the results a privileged domain gets.
//! None of them crashes the domain when the hypervisor behaves; [`iret`]
//! contains the one that does.

pub mod check;

#[cfg(target_os = "none")]
mod calls;
#[cfg(target_os = "none")]
mod grant;
#[cfg(target_os = "none")]
mod instructions;
#[cfg(target_os = "none")]
pub mod iret;
#[cfg(target_os = "none")]
mod m2p;
#[cfg(target_os = "none")]
mod mapping;
#[cfg(target_os = "none")]
mod memory;
#[cfg(target_os = "none")]
mod mmu;
#[cfg(target_os = "none")]
mod pointers;
#[cfg(target_os = "none")]
mod privilege;
#[cfg(target_os = "none")]
mod registration;
#[cfg(target_os = "none")]
mod timer;
#[cfg(target_os = "none")]
mod evtchn;

/// Suites an unprivileged DomU runs with `selftest=NAME` on its command line.
pub const DOMU_SUITES: &[&str] = &["mmu", "privilege", "timer", "grant", "evtchn"];

#[cfg(target_os = "none")]
pub use suite::{Report, Suite};

#[cfg(target_os = "none")]
mod suite {
    use alloc::boxed::Box;
    use alloc::string::String;
    use alloc::vec::Vec;

    /// One hostile case: a class ID such as `A41`, a name, and the code
    /// that runs it and checks its outcome.
    pub struct Case {
        pub id: &'static str,
        pub name: String,
        pub run: Box<dyn Fn() -> Result<(), String>>,
    }

    impl Case {
        pub fn new(id: &'static str, name: impl Into<String>, run: impl Fn() -> Result<(), String> + 'static) -> Case {
            Case { id, name: name.into(), run: Box::new(run) }
        }
    }

    /// The outcome of one case: `Err` contains what happened and what was expected.
    pub struct Report {
        pub id: &'static str,
        pub name: String,
        pub result: Result<(), String>,
    }

    /// Every case, in the order they run.
    pub struct Suite {
        cases: Vec<Case>,
    }

    impl Suite {
        /// Builds the case tables. Nothing hostile runs until [`Suite::run`].
        pub fn new() -> Suite {
            let mut cases = Vec::new();
            super::calls::add_cases(&mut cases);
            super::registration::add_cases(&mut cases);
            super::pointers::add_cases(&mut cases);
            super::memory::add_cases(&mut cases);
            super::instructions::add_cases(&mut cases);
            super::mapping::add_cases(&mut cases);
            super::calls::add_log_case(&mut cases);
            Suite { cases }
        }

        /// Builds the DomU suite `name`, one of [`super::DOMU_SUITES`]:
        /// `mmu` (A01, A02, A04, A05, A07 and the M2P), `privilege` (A46, then the A17
        /// instruction cases), `timer`, `grant` (A23, A24, A26, A27, A29) or `evtchn` (A30,
        /// A32, A33). Returns `None` for any other name.
        pub fn for_domu(name: &str) -> Option<Suite> {
            let mut cases = Vec::new();
            match name {
                "mmu" => {
                    super::mmu::add_cases(&mut cases);
                    super::m2p::add_cases(&mut cases);
                }
                "privilege" => {
                    super::privilege::add_cases(&mut cases);
                    super::instructions::add_cases(&mut cases);
                }
                "timer" => super::timer::add_cases(&mut cases),
                "grant" => super::grant::add_cases(&mut cases),
                "evtchn" => super::evtchn::add_cases(&mut cases),
                _ => return None,
            }
            Some(Suite { cases })
        }

        pub fn len(&self) -> usize {
            self.cases.len()
        }

        pub fn is_empty(&self) -> bool {
            self.cases.is_empty()
        }

        /// Runs case `index` and returns its report.
        ///
        /// # Panics
        ///
        /// If `index` is not below [`Suite::len`].
        pub fn run(&self, index: usize) -> Report {
            let case = &self.cases[index];
            Report { id: case.id, name: case.name.clone(), result: (case.run)() }
        }
    }

    impl Default for Suite {
        fn default() -> Self {
            Suite::new()
        }
    }
}
