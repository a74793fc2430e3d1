//! The choice between QEMU's TCG emulator and KVM.
//!
//! `/dev/kvm` alone does not mean hardware KVM: on some hosts it is `kvm-pvm`,
//! a software hypervisor that kills guests executing `int n` and mishandles
//! ring-1 checks. Only the `kvm_intel` or `kvm_amd` module in `/sys/module`
//! shows hardware virtualization, so detection looks there.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::Error;

/// A QEMU accelerator (`-accel NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's own CPU emulator. Slower, works on every host.
    Tcg,
    /// The host kernel's KVM.
    Kvm,
}

impl Accel {
    /// Returns QEMU's name for this accelerator.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Accel {
    type Err = Error;

    fn from_str(text: &str) -> Result<Accel, Error> {
        match text {
            "tcg" => Ok(Accel::Tcg),
            "kvm" => Ok(Accel::Kvm),
            other => Err(Error::new(format!(
                "invalid accelerator '{other}': use 'tcg' or 'kvm'"
            ))),
        }
    }
}

/// An accelerator and the reason it was chosen, to print before booting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    /// The chosen accelerator.
    pub accel: Accel,
    /// One sentence saying why.
    pub reason: String,
}

impl fmt::Display for AccelChoice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} ({})", self.accel, self.reason)
    }
}

/// Kernel modules that provide hardware KVM.
const HARDWARE_KVM_MODULES: [&str; 2] = ["kvm_intel", "kvm_amd"];

/// Returns the accelerator the user requested through `source` (such as
/// `--accel kvm`), with a warning when KVM is requested on a host that has no
/// hardware KVM. `root` is the file system root, `/` outside tests.
pub fn requested(accel: Accel, source: &str, root: &Path) -> AccelChoice {
    let mut reason = format!("requested with {source}");
    if accel == Accel::Kvm && hardware_kvm_module(root).is_none() {
        reason.push_str(
            "; warning: no kvm_intel or kvm_amd module is loaded, so /dev/kvm, if present, \
             is not hardware KVM and guests may fail on `int n`",
        );
    }
    AccelChoice { accel, reason }
}

/// Chooses KVM when the host has hardware KVM and `/dev/kvm`, and TCG
/// otherwise. `root` is the file system root, `/` outside tests.
pub fn detect(root: &Path) -> AccelChoice {
    let device = root.join("dev/kvm");
    match hardware_kvm_module(root) {
        Some(module) if device.exists() => AccelChoice {
            accel: Accel::Kvm,
            reason: format!("/sys/module/{module} exists, so /dev/kvm is hardware KVM"),
        },
        Some(module) => AccelChoice {
            accel: Accel::Tcg,
            reason: format!("/sys/module/{module} exists but /dev/kvm is missing"),
        },
        None if device.exists() => AccelChoice {
            accel: Accel::Tcg,
            reason: "/dev/kvm exists but no kvm_intel or kvm_amd module is loaded, \
                     so it is a software hypervisor such as kvm-pvm, not hardware KVM"
                .to_string(),
        },
        None => AccelChoice {
            accel: Accel::Tcg,
            reason: "the host has no KVM".to_string(),
        },
    }
}

fn hardware_kvm_module(root: &Path) -> Option<&'static str> {
    HARDWARE_KVM_MODULES
        .into_iter()
        .find(|module| root.join("sys/module").join(module).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::ScratchDir;
    use std::fs;

    /// Creates a fake file system root with the given directories and empty files.
    fn fake_root(name: &str, directories: &[&str], files: &[&str]) -> ScratchDir {
        let root = ScratchDir::new(&format!("accel-{name}"));
        for directory in directories {
            fs::create_dir_all(root.path().join(directory)).expect("create fake directory");
        }
        for file in files {
            let path = root.path().join(file);
            fs::create_dir_all(path.parent().expect("file has a parent")).expect("create parent");
            fs::write(path, b"").expect("create fake file");
        }
        root
    }

    #[test]
    fn detect_picks_kvm_with_intel_module() {
        let root = fake_root("intel", &["sys/module/kvm_intel"], &["dev/kvm"]);
        let choice = detect(root.path());
        assert_eq!(choice.accel, Accel::Kvm);
        assert!(choice.reason.contains("kvm_intel"), "{}", choice.reason);
    }

    #[test]
    fn detect_picks_kvm_with_amd_module() {
        let root = fake_root(
            "amd",
            &["sys/module/kvm_amd", "sys/module/kvm"],
            &["dev/kvm"],
        );
        assert_eq!(detect(root.path()).accel, Accel::Kvm);
    }

    #[test]
    fn detect_ignores_pvm_dev_kvm() {
        let root = fake_root(
            "pvm",
            &["sys/module/kvm", "sys/module/kvm_pvm"],
            &["dev/kvm"],
        );
        let choice = detect(root.path());
        assert_eq!(choice.accel, Accel::Tcg);
        assert!(
            choice.reason.contains("not hardware KVM"),
            "{}",
            choice.reason
        );
    }

    #[test]
    fn detect_needs_dev_kvm() {
        let root = fake_root("nodev", &["sys/module/kvm_intel"], &[]);
        let choice = detect(root.path());
        assert_eq!(choice.accel, Accel::Tcg);
        assert!(
            choice.reason.contains("/dev/kvm is missing"),
            "{}",
            choice.reason
        );
    }

    #[test]
    fn detect_without_kvm_picks_tcg() {
        let root = fake_root("none", &["sys/module"], &[]);
        assert_eq!(detect(root.path()).accel, Accel::Tcg);
    }

    #[test]
    fn requested_kvm_warns_without_hardware() {
        let root = fake_root("request", &["sys/module/kvm_pvm"], &["dev/kvm"]);
        let choice = requested(Accel::Kvm, "--accel kvm", root.path());
        assert_eq!(choice.accel, Accel::Kvm);
        assert!(choice.reason.starts_with("requested with --accel kvm"));
        assert!(choice.reason.contains("warning"), "{}", choice.reason);

        let choice = requested(Accel::Tcg, "--accel tcg", root.path());
        assert_eq!(choice.reason, "requested with --accel tcg");
    }

    #[test]
    fn accel_parses_names() {
        assert_eq!("tcg".parse::<Accel>().ok(), Some(Accel::Tcg));
        assert_eq!("kvm".parse::<Accel>().ok(), Some(Accel::Kvm));
        let error = "hvf".parse::<Accel>().expect_err("hvf is not supported");
        assert!(error.message().contains("'hvf'"), "{error}");
    }
}
