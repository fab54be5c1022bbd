//! Facts about host processes read from /proc, race-aware: a PID can vanish or be reused
//! between two reads, so callers compare start times.

use crate::error::{Context, Error, Result};
use std::fs;

/// Start time of `pid` (clock ticks after boot), the identity that survives PID reuse checks.
pub fn start_time(pid: i32) -> Result<u64> {
    let stat = procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .map_err(|e| proc_error(pid, e))?;
    Ok(stat.starttime)
}

/// Is `pid` still the process that started at `start`, and not a zombie?
pub fn is_running(pid: i32, start: u64) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|st| st.starttime == start && st.state != 'Z' && st.state != 'X')
}

/// Map a procfs error to nsk's: a vanished process is "no such process".
pub fn proc_error(pid: i32, e: procfs::ProcError) -> Error {
    use procfs::ProcError::*;
    match e {
        NotFound(_) => Error::Os {
            what: format!("process {pid}"),
            errno: nix::errno::Errno::ESRCH,
        },
        PermissionDenied(_) => Error::Os {
            what: format!("process {pid}"),
            errno: nix::errno::Errno::EACCES,
        },
        Io(e, _) => Error::Io {
            what: format!("cannot read /proc/{pid}"),
            source: e,
        },
        e => Error::failed(format!("cannot read /proc/{pid}: {e}")),
    }
}

/// Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces and parentheses,
/// so fields are counted after the last ')'.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Namespace inode of `pid` for `kind` ("pid", "mnt", ...).
pub fn ns_inode(pid: i32, kind: &str) -> Result<u64> {
    let p = format!("/proc/{pid}/ns/{kind}");
    let l = fs::read_link(&p).ctx(|| format!("cannot read {p}"))?;
    parse_ns_link(&l.to_string_lossy()).ok_or_else(|| Error::failed(format!("cannot parse {p}")))
}

/// "pid:[4026531836]" → 4026531836.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    s.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// A process pinned by pidfd: the handle is opened first and the start time checked after, so
/// a PID that was reused in between is never signalled. None if the process is gone.
pub fn pin(pid: i32, start: u64) -> Option<std::os::fd::OwnedFd> {
    let fd = crate::sys::pidfd_open(pid).ok()?;
    is_running(pid, start).then_some(fd)
}

/// Wait until a pinned process exits; false on timeout.
pub fn wait_exit(pidfd: &std::os::fd::OwnedFd, timeout: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut p = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut p, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) if left.is_zero() => return false,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(s), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn ns_links() {
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4026531836));
        assert_eq!(parse_ns_link("pid:4026531836"), None);
    }

    #[test]
    fn self_start_time() {
        assert!(start_time(std::process::id() as i32).unwrap() > 0);
        assert!(start_time(i32::MAX).is_err());
    }
}
