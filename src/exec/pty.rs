//! The host side of a PTY: the caller's terminal in raw mode (restored on every exit path),
//! window size kept in step, and the copy loop between the terminal and the PTY master.

use crate::error::{Context, Result};
use crate::sys;
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Puts a terminal in raw mode and restores its settings when dropped.
pub struct RawMode {
    fd: BorrowedFd<'static>,
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin if it is a terminal; None otherwise.
    pub fn stdin() -> Result<Option<RawMode>> {
        let fd: BorrowedFd<'static> = sys::stdin_fd();
        if !nix::unistd::isatty(fd).unwrap_or(false) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(fd).ctx(|| "cannot read the terminal settings")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSADRAIN, &raw)
            .ctx(|| "cannot set the terminal to raw mode")?;
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copy the caller's window size (from stdin, else stdout) to the PTY.
pub fn sync_winsize(master: &OwnedFd) {
    let ws = sys::get_winsize(std::io::stdin()).or_else(|_| sys::get_winsize(std::io::stdout()));
    if let Ok(ws) = ws {
        let _ = sys::set_winsize(master, &ws);
    }
}

/// Write all of `buf` to `fd`, retrying on EINTR/EAGAIN.
pub fn write_all<F: AsFd>(fd: F, mut buf: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
    use nix::errno::Errno;
    while !buf.is_empty() {
        match nix::unistd::write(&fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut p = [nix::poll::PollFd::new(
                    fd.as_fd(),
                    nix::poll::PollFlags::POLLOUT,
                )];
                let _ = nix::poll::poll(&mut p, nix::poll::PollTimeout::NONE);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copy what the non-blocking `from` has now to `to`, each read written out at once, until
/// `from` has nothing more or 16 reads were made (a writer that never pauses must not keep
/// the caller from its signals and its other input). False when `from` ended (EOF, EIO) or
/// `to` refused a write.
///
/// Writing each read at once keeps the pipeline moving: the reader on the other side drains
/// one chunk while the next is read here. Gathering reads into one large write was measured
/// slower (`bench/run.sh pty`: 1.45x the time of `script` alone, against 1.06x), because a PTY
/// takes a large write in 2 KiB pieces and the writer sleeps until the reader makes room,
/// while nothing is read from `from`.
pub fn drain<T: AsFd>(from: &OwnedFd, to: T, buf: &mut [u8]) -> bool {
    use nix::errno::Errno;
    for _ in 0..16 {
        match nix::unistd::read(from, buf) {
            Ok(0) | Err(Errno::EIO) => return false,
            Ok(n) => {
                if write_all(&to, &buf[..n]).is_err() {
                    return false;
                }
            }
            Err(Errno::EINTR) => {}
            Err(_) => return true,
        }
    }
    true
}

/// In a process that is inside a container (its mount namespace and root): allocate a PTY from
/// the container's own devpts, send the master to the host side, wait for its go-ahead (the
/// window size is set by then), and keep the slave. Nothing inside can then reach the caller's
/// terminal, through TIOCSTI or otherwise.
pub fn open_in_container(chan: &super::channel::Channel) -> Result<OwnedFd> {
    use super::channel::Msg;
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "cannot open /dev/ptmx in the container")?;
    nix::pty::grantpt(&master).ctx(|| "grantpt")?;
    nix::pty::unlockpt(&master).ctx(|| "unlockpt")?;
    let name = nix::pty::ptsname_r(&master).ctx(|| "ptsname")?;
    let slave = nix::fcntl::open(
        std::path::Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("cannot open {name} in the container"))?;
    chan.send(&Msg::Pty, Some(master.as_fd()))?;
    match chan.recv()? {
        Some((Msg::Go, _)) => Ok(slave),
        _ => sys::exit_now(125),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, OFlag};

    /// Everything the non-blocking `fd` has now.
    fn available(fd: &OwnedFd) -> Vec<u8> {
        let (mut out, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = nix::unistd::read(fd, &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn drain_copies_in_order_a_bounded_batch_per_call_and_reports_the_end() {
        let nb = OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
        let (from_r, from_w) = nix::unistd::pipe2(nb).unwrap();
        let (to_r, to_w) = nix::unistd::pipe2(nb).unwrap();
        // Room in both pipes for everything, so that no write waits.
        fcntl(&from_w, FcntlArg::F_SETPIPE_SZ(1 << 20)).unwrap();
        fcntl(&to_w, FcntlArg::F_SETPIPE_SZ(1 << 20)).unwrap();
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        write_all(&from_w, &data).unwrap();
        let mut buf = vec![0u8; 1000];
        // 40 reads' worth: each call stops after 16 reads, with the source still open.
        assert!(drain(&from_r, &to_w, &mut buf));
        assert_eq!(
            available(&to_r),
            data[..16_000],
            "the first batch, in order"
        );
        assert!(drain(&from_r, &to_w, &mut buf));
        assert_eq!(available(&to_r), data[16_000..32_000], "the second batch");
        // The last 8 reads, then nothing for now (EAGAIN): still open.
        assert!(drain(&from_r, &to_w, &mut buf));
        assert!(drain(&from_r, &to_w, &mut buf));
        assert_eq!(available(&to_r), data[32_000..], "the rest, nothing twice");
        // The writer closed: the end is reported.
        drop(from_w);
        assert!(!drain(&from_r, &to_w, &mut buf));
        // A closed reader on the other side is a refused write.
        let (r2, w2) = nix::unistd::pipe2(nb).unwrap();
        write_all(&w2, b"more").unwrap();
        drop(to_r);
        assert!(!drain(&r2, &to_w, &mut buf));
    }
}
