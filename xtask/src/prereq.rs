//! Host prerequisites: the Rust toolchain parts and the Debian packages that
//! build and boot the images, how to check them and how to install them.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use boot::Workspace;

/// Rust target of the hypervisor and guests.
const TARGET: &str = boot::cargo::TARGET;

/// Rustup component that ships llvm-objcopy. Rustup lists it with the host
/// triple appended, such as `llvm-tools-x86_64-unknown-linux-gnu`.
const LLVM_TOOLS: &str = "llvm-tools";

/// Directory of GRUB's BIOS modules, which grub-mkrescue puts on the ISO.
const GRUB_I386_PC_DIR: &str = "/usr/lib/grub/i386-pc";

/// A host tool or file and the Debian package that provides it.
struct HostTool {
    /// Program name on PATH, or an absolute path to a directory.
    name: &'static str,
    /// Debian package that provides it.
    package: &'static str,
    /// Purpose on this project, for the doctor's table.
    purpose: &'static str,
}

const HOST_TOOLS: [HostTool; 6] = [
    HostTool {
        name: "qemu-system-x86_64",
        package: "qemu-system-x86",
        purpose: "runs the machine",
    },
    HostTool {
        name: "grub-mkrescue",
        package: "grub-common",
        purpose: "builds the GRUB ISO",
    },
    HostTool {
        name: GRUB_I386_PC_DIR,
        package: "grub-pc-bin",
        purpose: "GRUB for BIOS machines, put on the ISO",
    },
    HostTool {
        name: "xorriso",
        package: "xorriso",
        purpose: "writes the ISO for grub-mkrescue",
    },
    HostTool {
        name: "mformat",
        package: "mtools",
        purpose: "writes EFI images for grub-mkrescue",
    },
    HostTool {
        name: boot::qemu::OVMF_FIRMWARE,
        package: "ovmf",
        purpose: "UEFI firmware for `run --boot uefi` and the UEFI test",
    },
];

/// Host tools only the `bootloader` disk images need.
const DISK_IMAGE_PACKAGES: [&str; 1] = ["ovmf"];

/// Components the disk-image tool's nightly needs: the standard library's
/// sources for `-Zbuild-std`, and llvm-tools, which the loader's build uses.
const NIGHTLY_COMPONENTS: [&str; 2] = ["rust-src", LLVM_TOOLS];

/// The set of images the prerequisites are checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The GRUB ISO and the `--direct` files: the pinned stable toolchain and
    /// the Debian packages for GRUB and QEMU.
    Multiboot,
    /// Those plus the `bootloader` disk images: the pinned nightly with its
    /// components, and OVMF.
    All,
}

/// How to install a missing prerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// `rustup toolchain install` in this directory, which installs what its
    /// rust-toolchain.toml lists.
    Rustup(PathBuf),
    /// This Debian package.
    Apt(&'static str),
    /// Something xtask cannot install. The text is the instruction for the user.
    Manual(String),
}

/// The result of checking one prerequisite.
#[derive(Debug, Clone)]
pub struct Check {
    /// Name of the checked tool, file or toolchain part.
    pub name: String,
    /// Purpose on this project, for the doctor's table.
    pub purpose: &'static str,
    /// Path or state found, or `None` when it is missing.
    pub found: Option<String>,
    /// How to install it when it is missing.
    pub fix: Fix,
}

impl Check {
    pub fn is_missing(&self) -> bool {
        self.found.is_none()
    }
}

/// Checks every prerequisite, toolchains first.
pub fn check_all(workspace: &Workspace) -> Vec<Check> {
    let mut checks = check_toolchain(workspace);
    checks.extend(check_nightly(workspace));
    checks.extend(check_host_tools(Needs::All));
    checks
}

/// Checks the nightly that builds the disk-image tool and its components.
pub fn check_nightly(workspace: &Workspace) -> Vec<Check> {
    let dir = boot::diskimage::tool_dir(workspace);
    let channel = match toolchain_channel(&dir) {
        Ok(channel) => channel,
        Err(message) => {
            return vec![Check {
                name: "boot/diskimage/rust-toolchain.toml".to_string(),
                purpose: "pins the disk-image tool's nightly",
                found: None,
                fix: Fix::Manual(message),
            }];
        }
    };
    let fix = Fix::Rustup(dir.clone());
    let Some(components) = rustup_list(&dir, &["component", "list", "--installed", "--toolchain", &channel]) else {
        return vec![Check {
            name: format!("Rust toolchain {channel}"),
            purpose: "builds the bootloader crate's stages for the disk images",
            found: None,
            fix,
        }];
    };
    let mut checks = vec![Check {
        name: format!("Rust toolchain {channel}"),
        purpose: "builds the bootloader crate's stages for the disk images",
        found: Some("installed".to_string()),
        fix: fix.clone(),
    }];
    for component in NIGHTLY_COMPONENTS {
        checks.push(Check {
            name: format!("component {component} ({channel})"),
            purpose: "needed by the bootloader crate's build",
            found: components.iter().any(|line| line.starts_with(component)).then(|| "installed".to_string()),
            fix: fix.clone(),
        });
    }
    checks
}

/// Checks rustup, the pinned toolchain, its x86_64-unknown-none target and
/// its llvm-tools component.
pub fn check_toolchain(workspace: &Workspace) -> Vec<Check> {
    let channel = match toolchain_channel(&workspace.root) {
        Ok(channel) => channel,
        Err(message) => {
            return vec![Check {
                name: "rust-toolchain.toml".to_string(),
                purpose: "pins the Rust toolchain",
                found: None,
                fix: Fix::Manual(message),
            }];
        }
    };
    if find_in_path("rustup").is_none() {
        return vec![Check {
            name: "rustup".to_string(),
            purpose: "installs the pinned Rust toolchain",
            found: None,
            fix: Fix::Manual(
                "install rustup (https://rustup.rs), then run `cargo xtask doctor` again"
                    .to_string(),
            ),
        }];
    }

    let root = &workspace.root;
    let targets = rustup_list(root, &["target", "list", "--installed", "--toolchain", &channel]);
    let Some(targets) = targets else {
        return vec![Check {
            name: format!("Rust toolchain {channel}"),
            purpose: "compiles everything",
            found: None,
            fix: Fix::Rustup(root.clone()),
        }];
    };
    let components =
        rustup_list(root, &["component", "list", "--installed", "--toolchain", &channel]).unwrap_or_default();

    let target_installed = targets.iter().any(|line| line == TARGET);
    let llvm_tools_installed = components.iter().any(|line| line.starts_with(LLVM_TOOLS));
    vec![
        Check {
            name: format!("Rust toolchain {channel}"),
            purpose: "compiles everything",
            found: Some("installed".to_string()),
            fix: Fix::Rustup(root.clone()),
        },
        Check {
            name: format!("target {TARGET}"),
            purpose: "builds the hypervisor and guests",
            found: target_installed.then(|| "installed".to_string()),
            fix: Fix::Rustup(root.clone()),
        },
        Check {
            name: format!("component {LLVM_TOOLS}"),
            purpose: "llvm-objcopy makes the ELF32 copy for --direct",
            found: llvm_tools_installed.then(|| "installed".to_string()),
            fix: Fix::Rustup(root.clone()),
        },
    ]
}

/// Checks QEMU, GRUB, xorriso and mtools, and OVMF when `needs` is All.
pub fn check_host_tools(needs: Needs) -> Vec<Check> {
    HOST_TOOLS
        .iter()
        .filter(|tool| needs == Needs::All || !DISK_IMAGE_PACKAGES.contains(&tool.package))
        .map(|tool| {
            let found = if tool.name.starts_with('/') {
                Path::new(tool.name).exists().then(|| "present".to_string())
            } else {
                find_in_path(tool.name).map(|path| path.display().to_string())
            };
            Check {
                name: tool.name.to_string(),
                purpose: tool.purpose,
                found,
                fix: Fix::Apt(tool.package),
            }
        })
        .collect()
}

/// Returns the Debian packages of the missing checks, each once, in order.
pub fn missing_packages(checks: &[Check]) -> Vec<&'static str> {
    let mut packages = Vec::new();
    for check in checks.iter().filter(|check| check.is_missing()) {
        if let Fix::Apt(package) = check.fix
            && !packages.contains(&package)
        {
            packages.push(package);
        }
    }
    packages
}

/// Returns the shell command that installs `packages` with apt-get, using
/// `sudo` when this process is not root.
pub fn apt_install_line(packages: &[&str], as_root: bool) -> String {
    let packages = packages.join(" ");
    if as_root {
        format!("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {packages}")
    } else {
        format!(
            "sudo apt-get update && \
             sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y {packages}"
        )
    }
}

/// Returns the command that installs the toolchain parts `dir`'s
/// rust-toolchain.toml lists, for messages.
pub fn rustup_line(dir: &Path) -> String {
    format!("(cd {} && rustup toolchain install)", dir.display())
}

/// Installs what is missing for `needs`, where xtask can: the toolchain
/// parts through rustup always, and Debian packages through apt-get when
/// running as root. Returns an error with the commands to run by hand
/// otherwise.
pub fn ensure(workspace: &Workspace, needs: Needs) -> Result<(), String> {
    ensure_toolchain(|| check_toolchain(workspace))?;
    if needs == Needs::All {
        ensure_toolchain(|| check_nightly(workspace))?;
    }

    let packages = missing_packages(&check_host_tools(needs));
    if packages.is_empty() {
        return Ok(());
    }
    let as_root = is_root();
    if !as_root || find_in_path("apt-get").is_none() {
        return Err(format!(
            "missing Debian packages: {}; install them with `{}`, \
             then run this command again (`cargo xtask doctor` lists every check)",
            packages.join(" "),
            apt_install_line(&packages, as_root)
        ));
    }
    eprintln!(
        "xtask: installing missing Debian packages: {}",
        packages.join(" ")
    );
    install_packages(&packages)?;
    let still_missing = missing_packages(&check_host_tools(needs));
    if !still_missing.is_empty() {
        return Err(format!(
            "Debian packages {} are still missing after apt-get install; read apt-get's output above",
            still_missing.join(" ")
        ));
    }
    Ok(())
}

/// Runs `rustup toolchain install` in the directory the first missing check
/// of `checks` names, then checks again.
fn ensure_toolchain(checks: impl Fn() -> Vec<Check>) -> Result<(), String> {
    let Some(check) = checks().into_iter().find(Check::is_missing) else {
        return Ok(());
    };
    let dir = match &check.fix {
        Fix::Rustup(dir) => dir.clone(),
        Fix::Manual(message) => return Err(format!("{} is missing: {message}", check.name)),
        Fix::Apt(package) => return Err(format!("{} is missing: install the Debian package {package}", check.name)),
    };
    eprintln!("xtask: {} is missing; running `{}`", check.name, rustup_line(&dir));
    install_toolchain(&dir)?;
    if let Some(check) = checks().into_iter().find(Check::is_missing) {
        return Err(format!(
            "{} is still missing after `rustup toolchain install`; run `{}` and read its output",
            check.name,
            rustup_line(&dir)
        ));
    }
    Ok(())
}

fn install_toolchain(dir: &Path) -> Result<(), String> {
    let status = Command::new("rustup")
        .args(["toolchain", "install"])
        .current_dir(dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .map_err(|error| format!("failed to start rustup: {error}"))?;
    if !status.success() {
        return Err(format!("`{}` failed ({status}); read rustup's output above", rustup_line(dir)));
    }
    Ok(())
}

fn install_packages(packages: &[&str]) -> Result<(), String> {
    let update = Command::new("apt-get")
        .arg("update")
        .status()
        .map_err(|error| format!("failed to start apt-get: {error}"))?;
    if !update.success() {
        return Err(format!(
            "`apt-get update` failed ({update}); read its output above"
        ));
    }
    let install = Command::new("apt-get")
        .args(["install", "-y"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|error| format!("failed to start apt-get: {error}"))?;
    if !install.success() {
        return Err(format!(
            "`DEBIAN_FRONTEND=noninteractive apt-get install -y {}` failed ({install}); \
             read apt-get's output above",
            packages.join(" ")
        ));
    }
    Ok(())
}

/// Returns the `channel` that rust-toolchain.toml in `root` pins.
pub fn toolchain_channel(root: &Path) -> Result<String, String> {
    let path = root.join("rust-toolchain.toml");
    let text = fs::read_to_string(&path)
        .map_err(|error| format!("failed to read {}: {error}", path.display()))?;
    boot::cargo::parse_channel(&text).ok_or_else(|| {
        format!(
            "{} has no `channel = \"...\"` line; restore it from git",
            path.display()
        )
    })
}


/// Runs rustup with `arguments` in `dir` and returns its output lines, or
/// `None` when it fails (for example, when the toolchain is missing).
fn rustup_list(dir: &Path, arguments: &[&str]) -> Option<Vec<String>> {
    let output = Command::new("rustup")
        .args(arguments)
        .current_dir(dir)
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().map(|line| line.trim().to_string()).collect())
}

/// Returns the first executable file called `name` in the PATH directories.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;

    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| {
            fs::metadata(candidate)
                .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Returns whether this process runs with effective user id 0.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| effective_uid(&status))
        == Some(0)
}

/// Returns the effective user id from the text of `/proc/self/status`, whose
/// `Uid:` line lists the real, effective, saved and file-system ids.
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_channel_reads_pinned_version() {
        let text = "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"x86_64-unknown-none\"]\n";
        assert_eq!(boot::cargo::parse_channel(text).as_deref(), Some("1.95.0"));
        assert_eq!(boot::cargo::parse_channel("[toolchain]\nprofile = \"minimal\"\n"), None);
        assert_eq!(boot::cargo::parse_channel("channel = \"\"\n"), None);
    }

    #[test]
    fn workspace_toolchain_file_has_channel() {
        let workspace = Workspace::locate();
        let channel = toolchain_channel(&workspace.root).expect("rust-toolchain.toml is readable");
        assert!(!channel.is_empty());
    }

    #[test]
    fn effective_uid_is_second_number() {
        let status = "Name:\txtask\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\txtask\n"), None);
    }

    #[test]
    fn missing_packages_are_unique_apt_fixes() {
        let check = |name: &str, found: bool, fix: Fix| Check {
            name: name.to_string(),
            purpose: "test",
            found: found.then(|| "yes".to_string()),
            fix,
        };
        let checks = [
            check("target", false, Fix::Rustup(PathBuf::from("/src/hospes"))),
            check("qemu-system-x86_64", false, Fix::Apt("qemu-system-x86")),
            check("grub-mkrescue", true, Fix::Apt("grub-common")),
            check("xorriso", false, Fix::Apt("xorriso")),
            check("xorriso again", false, Fix::Apt("xorriso")),
        ];
        assert_eq!(missing_packages(&checks), ["qemu-system-x86", "xorriso"]);
    }

    #[test]
    fn apt_install_line_adds_sudo_for_users() {
        assert_eq!(
            apt_install_line(&["xorriso", "mtools"], true),
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y xorriso mtools"
        );
        assert_eq!(
            apt_install_line(&["xorriso"], false),
            "sudo apt-get update && \
             sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y xorriso"
        );
    }

    #[test]
    fn host_tools_cover_every_package() {
        let packages: Vec<&str> = HOST_TOOLS.iter().map(|tool| tool.package).collect();
        assert_eq!(
            packages,
            [
                "qemu-system-x86",
                "grub-common",
                "grub-pc-bin",
                "xorriso",
                "mtools",
                "ovmf"
            ]
        );
        let multiboot: Vec<String> = check_host_tools(Needs::Multiboot).into_iter().map(|check| check.name).collect();
        assert!(!multiboot.iter().any(|name| name.contains("OVMF")), "{multiboot:?}");
        assert!(check_host_tools(Needs::All).iter().any(|check| check.name == boot::qemu::OVMF_FIRMWARE));
    }

    #[test]
    fn nightly_checks_name_channel_and_dir() {
        let workspace = Workspace::locate();
        let checks = check_nightly(&workspace);
        assert!(checks[0].name.starts_with("Rust toolchain nightly-"), "{}", checks[0].name);
        assert_eq!(checks[0].fix, Fix::Rustup(boot::diskimage::tool_dir(&workspace)));
    }

    #[test]
    fn find_in_path_finds_shell() {
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-program-hospes").is_none());
    }
}
