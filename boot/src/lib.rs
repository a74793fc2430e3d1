//! Bootable images and QEMU command lines.
