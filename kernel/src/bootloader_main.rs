//! The hypervisor built for the `bootloader` crate's BIOS and UEFI images.
//!
//! Same code as the multiboot binary (`main.rs`), linked in the top 2 GiB by
//! `linker-bootloader.ld`. `entry_point!` stores the loader configuration in
//! the image and defines `_start`, which hands over to
//! [`kernel::arch::bootloader::start`].

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
bootloader_api::entry_point!(kernel::arch::bootloader::start, config = &kernel::arch::bootloader::CONFIG);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("hospes-bootloader runs on bare metal, not on the host: build and boot it with `cargo xtask run --boot bios` or `--boot uefi`");
    std::process::exit(2);
}
