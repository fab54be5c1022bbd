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

/// Copy what the non-blocking `from` has now to `to`: reads are gathered in `buf` until it is
/// full or `from` has nothing more, then written at once. False when `from` ended (EOF, EIO)
/// or `to` refused a write.
pub fn drain<T: AsFd>(from: &OwnedFd, to: T, buf: &mut [u8]) -> bool {
    use nix::errno::Errno;
    // Leave room for a full PTY read (4 KiB) before going out to write.
    const ROOM: usize = 4096;
    let mut have = 0;
    let open = loop {
        if buf.len() - have < ROOM.min(buf.len()) {
            if write_all(&to, &buf[..have]).is_err() {
                return false;
            }
            have = 0;
        }
        match nix::unistd::read(from, &mut buf[have..]) {
            Ok(0) | Err(Errno::EIO) => break false,
            Ok(n) => have += n,
            Err(Errno::EINTR) => {}
            Err(_) => break true,
        }
    };
    write_all(&to, &buf[..have]).is_ok() && open
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
