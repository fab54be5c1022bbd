//! Running a command, or a job, inside namespaces that are not nsk's own: what `nsk run`'s init,
//! `nsk enter` and the readers of `nsk inspect` share.
//!
//! - [`channel`]: the socket pair a child reports its setup on (and passes fds over);
//! - [`pty`]: a terminal allocated inside the container, and the proxy to the caller's;
//! - [`supervise`]: nsk's side while a child runs (signals forwarded, the PTY proxied, TERM,
//!   INT and HUP ending nsk promptly, the exit status);
//! - [`command`]: the PATH search and exit codes of the command itself;
//! - [`user`]: the user and groups it runs as, from the container's own files;
//! - [`job`]: a short job run inside a pinned process's namespaces, its answer sent back;
//! - [`fork_into`]: the child itself, cloned straight into a cgroup where the kernel can.
//!
//! `container` (nsk's own containers) and `enter` (anyone's) stand on this module; it stands on
//! `sys`, `process` and `error` only.

pub mod channel;
pub mod command;
pub mod job;
pub mod pty;
pub mod supervise;
pub mod user;

use crate::sys;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::os::fd::AsFd;

/// Fork a child with `flags` (new namespaces), straight into the cgroup v2 directory `cgroup`
/// when one is given (clone3 with CLONE_INTO_CGROUP). Kernels without clone3, or that refuse
/// it for these arguments, get clone(2): the child then starts in nsk's cgroup and the second
/// value is false, so the caller moves it. Returns None in the child.
pub fn fork_into<F: AsFd>(
    flags: CloneFlags,
    cgroup: Option<F>,
) -> Result<(Option<Pid>, bool), Errno> {
    let into = cgroup.is_some();
    match sys::clone3_fork(flags, cgroup) {
        Err(Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL) => {
            sys::clone_fork(flags).map(|p| (p, false))
        }
        r => r.map(|p| (p, into)),
    }
}

/// Join the namespaces in `ns` but a PID one (a PID namespace applies to children; the caller
/// forks into it): in one setns(2) on the target's pidfd, atomically, where the kernel takes it
/// (5.8+); else file by file, in the order of the namespace table (user first, mount last).
pub fn join_namespaces(
    pidfd: Option<&std::os::fd::OwnedFd>,
    ns: &[(&'static crate::ns::NsKind, std::os::fd::OwnedFd)],
) -> Result<(), String> {
    let flags = ns
        .iter()
        .filter(|(k, _)| k.name != "pid")
        .fold(CloneFlags::empty(), |f, (k, _)| f | k.flag);
    if flags.is_empty() {
        return Ok(());
    }
    if let Some(pfd) = pidfd {
        if nix::sched::setns(pfd, flags).is_ok() {
            return Ok(());
        }
    }
    for (k, f) in ns {
        if k.name == "pid" {
            continue;
        }
        nix::sched::setns(f, k.flag).map_err(|e| {
            format!(
                "cannot join the {} namespace: {}",
                k.name,
                crate::error::errno_text(e)
            )
        })?;
    }
    Ok(())
}
