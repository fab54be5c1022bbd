//! The container launcher: validated config, host side (spawn), PID 1 (init), filesystem
//! (rootfs) and the state store.

pub mod config;
pub mod init;
pub mod rootfs;
pub mod spawn;
pub mod state;
