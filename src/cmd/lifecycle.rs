//! stop, kill, rm: signals go through a pidfd opened on the recorded PID and checked against
//! the recorded start time, so a reused PID is never signalled.

use super::Ctx;
use crate::cli::{KillArgs, RmArgs, StopArgs};
use crate::container::spawn;
use crate::container::state::{State, Status};
use crate::error::{Context, Error, Result};
use crate::{output, process, sys};
use std::time::Duration;

fn pinned(st: &State) -> Option<std::os::fd::OwnedFd> {
    st.pin()
}

/// SIGTERM, wait up to `grace`, then SIGKILL; returns once the init is gone.
fn stop_one(st: &State, grace: Duration) -> Result<()> {
    let Some(fd) = pinned(st) else { return Ok(()) };
    terminate(&fd, grace, &format!("container {}", st.name))
}

/// A container of another runtime (or any target but an nsk name): its first process, pinned.
fn runtime_init(ctx: &Ctx, spec: &str, verb: &str) -> Result<(std::os::fd::OwnedFd, String)> {
    let t = crate::target::resolve_container(&ctx.store, spec, verb)?;
    let what = t
        .identity
        .as_ref()
        .map_or_else(|| format!("process {}", t.pid), |i| i.describe());
    let (pid, start) = t.init.unwrap_or((t.pid, t.start_time));
    let fd = process::pin(pid, start)
        .ok_or_else(|| Error::failed(format!("cannot {verb} {spec}: {what} is not running")))?;
    Ok((fd, what))
}

fn is_nsk(ctx: &Ctx, name: &str) -> bool {
    crate::container::config::validate_name(name).is_ok()
        && ctx.store.dir(name).is_ok_and(|d| d.is_dir())
}

/// SIGTERM, wait up to `grace`, then SIGKILL, all through the pidfd; returns once it is gone.
fn terminate(fd: &std::os::fd::OwnedFd, grace: Duration, what: &str) -> Result<()> {
    let ctx = || format!("cannot signal {what}");
    match sys::pidfd_send_signal(fd, libc::SIGTERM) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(e).ctx(ctx),
    }
    if process::wait_exit(fd, grace) {
        return Ok(());
    }
    match sys::pidfd_send_signal(fd, libc::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => return Err(e).ctx(ctx),
    }
    if !process::wait_exit(fd, Duration::from_secs(10)) {
        return Err(Error::failed(format!("{what} did not exit after SIGKILL")));
    }
    Ok(())
}

/// A frozen container cannot act on SIGTERM (nor, on cgroup v1, die of SIGKILL): thaw it
/// first, and say so. Its cgroups are checked to be the ones nsk made for it.
fn thaw_if_frozen(ctx: &Ctx, name: &str, st: &State) -> Result<()> {
    let Some(set) = &st.cgroups else {
        return Ok(());
    };
    if st.pin().is_none() {
        return Ok(());
    }
    spawn::check_removable(&ctx.store, name, st)?;
    if set.is_frozen() {
        eprintln!("nsk: container {name} is frozen: thawing it first");
        set.set_frozen(false)
            .map_err(|e| e.context(format!("cannot thaw container {name}")))?;
    }
    Ok(())
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<i32> {
    for n in &a.names {
        if is_nsk(ctx, n) {
            // Waits for a run still setting the container up.
            let _lock = ctx.store.lock(n)?;
            let st = ctx.store.load(n)?;
            thaw_if_frozen(ctx, n, &st)?;
            stop_one(&st, a.time.duration())?;
        } else {
            // Another runtime's container: its init gets TERM, then KILL; the runtime sees it
            // exit (and applies its restart policy).
            let (fd, what) = runtime_init(ctx, n, "stop")?;
            terminate(&fd, a.time.duration(), &what)?;
        }
        output::print(&format!("{n}\n"))?;
    }
    Ok(0)
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32> {
    let sig = a.signal.0;
    if !is_nsk(ctx, &a.name) {
        let (fd, what) = runtime_init(ctx, &a.name, "kill")?;
        sys::pidfd_send_signal(&fd, sig as i32).ctx(|| format!("cannot send {sig} to {what}"))?;
        return Ok(0);
    }
    let st = ctx.store.load(&a.name)?;
    let fd =
        pinned(&st).ok_or_else(|| Error::failed(format!("container {} is not running", a.name)))?;
    sys::pidfd_send_signal(&fd, sig as i32)
        .ctx(|| format!("cannot send {sig} to container {}", a.name))?;
    Ok(0)
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    ctx.store.sweep_stale();
    for n in &a.names {
        let _lock = match ctx.store.lock(n) {
            Ok(l) => l,
            Err(Error::NotFound(_)) if a.force => continue,
            Err(e) => return Err(e),
        };
        // A damaged state is reported, never "repaired" by deleting what nsk cannot account
        // for: the container may still run on its overlay, in its cgroups.
        let st = ctx.store.load(n)?;
        spawn::check_removable(&ctx.store, n, &st)?;
        match st.status {
            Status::Running => {
                if !a.force {
                    return Err(Error::failed(format!(
                        "container {n} is running: stop it first, or use nsk rm -f {n}"
                    )));
                }
                thaw_if_frozen(ctx, n, &st)?;
                stop_one(&st, Duration::ZERO)?;
            }
            Status::Created => {
                let m = ctx.store.marker(n)?;
                if m.creator_alive() {
                    return Err(Error::failed(format!(
                        "container {n} is being created by nsk process {}: not removing it from under that run",
                        m.creator_pid
                    )));
                }
            }
            _ => {}
        }
        spawn::remove(&ctx.store, n, &st)?;
        output::print(&format!("{n}\n"))?;
    }
    Ok(0)
}
