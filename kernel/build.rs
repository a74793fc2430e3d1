//! Links each hypervisor binary with its own script when built for bare metal:
//! `hospes` at 1 MiB for GRUB and QEMU's multiboot loader, `hospes-bootloader`
//! in the top 2 GiB for the `bootloader` crate. Both scripts include
//! `sections.ld`, the layout they share.

fn main() {
    for script in ["linker.ld", "linker-bootloader.ld", "sections.ld"] {
        println!("cargo:rerun-if-changed={script}");
    }
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "none" {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-link-arg-bins=-L{dir}");
        println!("cargo:rustc-link-arg-bin=hospes=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bin=hospes-bootloader=-T{dir}/linker-bootloader.ld");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=0x1000");
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
