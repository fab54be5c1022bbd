//! nsk's side while a child it started runs, for `nsk run` and `nsk enter` alike: its setup
//! conversation (the PTY master handed over, the window size set before it goes on), then the
//! signals nsk forwards, the PTY proxied to the caller's terminal, and its exit status. TERM,
//! INT and HUP always end nsk promptly: a child still running a grace period after one is killed.

use super::channel::{Channel, Msg};
use super::pty;
use crate::error::{Context, Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};

/// Signals nsk forwards to the container.
const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// The signals nsk forwards, read from a signalfd; those that arrive while a child is still
/// being set up wait in `deferred` until `supervise` forwards them.
pub struct Signals {
    fd: SignalFd,
    deferred: std::cell::RefCell<Vec<Signal>>,
}

impl Signals {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn read_signal(&self) -> Option<Signal> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(si)) => {
                    if let Ok(s) = Signal::try_from(si.ssi_signo as i32) {
                        return Some(s);
                    }
                }
                _ => return None,
            }
        }
    }
}

pub fn block_signals() -> Result<Signals> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    set.thread_block().ctx(|| "cannot block signals")?;
    let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "cannot create a signalfd")?;
    Ok(Signals {
        fd,
        deferred: Default::default(),
    })
}

/// How the setup conversation with a child ended, when it did not end with Ready.
pub enum SetupEnd {
    /// The child reported a failure (with nsk's exit code).
    Failed(Error),
    /// The channel closed: the child exec'd (it is close-on-exec) or died.
    Closed,
}

/// The host side of a child's setup (run's init, enter's joining process): take the PTY master
/// when one comes (setting the window size before letting the child go on), and return at
/// Ready (`until_ready`) or when the channel closes. With `watch` (the child and nsk's
/// signalfd), TERM, INT or HUP sent to nsk meanwhile kill the child and end the setup at once
/// (exit 128+N): a setup never holds nsk.
pub fn await_setup(
    parent: &Channel,
    until_ready: bool,
    watch: Option<(Pid, &Signals)>,
) -> std::result::Result<Option<OwnedFd>, SetupEnd> {
    let mut master = None;
    loop {
        if let Some((child, sigs)) = watch {
            let mut fds = [
                PollFd::new(parent.fd(), PollFlags::POLLIN),
                PollFd::new(sigs.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(SetupEnd::Failed(Error::Os {
                        what: "cannot wait for the setup".into(),
                        errno: e,
                    }))
                }
            }
            let sig_ready = fds[1].revents().is_some_and(|r| !r.is_empty());
            let chan_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
            if sig_ready {
                while let Some(s) = sigs.read_signal() {
                    match s {
                        Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP => {
                            let _ = kill(child, Signal::SIGKILL);
                            return Err(SetupEnd::Failed(Error::Exit {
                                msg: format!("interrupted by {s} during setup"),
                                code: 128 + s as i32,
                            }));
                        }
                        // supervise checks for an ended child itself.
                        Signal::SIGCHLD => {}
                        s => sigs.deferred.borrow_mut().push(s),
                    }
                }
            }
            if !chan_ready {
                continue;
            }
        }
        match parent.recv().map_err(SetupEnd::Failed)? {
            Some((Msg::Pty, Some(fd))) => {
                pty::sync_winsize(&fd);
                master = Some(fd);
                parent.send(&Msg::Go, None).map_err(SetupEnd::Failed)?;
            }
            Some((Msg::Ready { .. }, _)) if until_ready => return Ok(master),
            Some((Msg::Fail { msg, code }, _)) => {
                return Err(SetupEnd::Failed(if code == 125 {
                    Error::failed(msg)
                } else {
                    Error::Exit { msg, code }
                }));
            }
            Some((m, _)) => {
                return Err(SetupEnd::Failed(Error::failed(format!(
                    "unexpected message during setup: {m:?}"
                ))))
            }
            None if until_ready => return Err(SetupEnd::Closed),
            None => return Ok(master),
        }
    }
}

/// How long the command has to end after TERM, INT or HUP reached nsk, before nsk kills it.
const GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The command did not end within the grace period after `sig`: SIGKILL it, give it a moment
/// to be reaped (a v1-frozen process is not), and report it as ended by `sig`.
fn kill_after_grace(child: Pid, sigs: &Signals, sig: Signal) -> i32 {
    let _ = kill(child, Signal::SIGKILL);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    while std::time::Instant::now() < deadline {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                let mut fds = [PollFd::new(sigs.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(20u8));
                while sigs.read_signal().is_some() {}
            }
            _ => break,
        }
    }
    sig as i32
}

/// Forward signals, proxy the PTY, and wait for init. Returns the command's raw wait status.
/// TERM, INT and HUP are forwarded too, and end nsk within GRACE and a little more: a command
/// that is still running then (it ignores the signal, it is stopped or frozen, a process inside
/// ptraces it) is killed.
pub fn supervise(
    init: Pid,
    chan: &Channel,
    master: Option<OwnedFd>,
    sigs: &Signals,
    raw: Option<pty::RawMode>,
) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut reported: Option<i32> = None;
    let mut chan_open = true;
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    // The proxy's buffer, only with a PTY: without one it would be 64 KiB zeroed for nothing.
    let mut buf = vec![0u8; if master.is_some() { 64 * 1024 } else { 0 }];
    if let Some(m) = &master {
        let _ = nix::fcntl::fcntl(
            m,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
    }
    // After TERM, INT or HUP reached nsk: the signal, and when the command is killed if it has
    // not ended by then (nsk always ends promptly).
    let mut ending: Option<(Signal, std::time::Instant)> = None;
    // A child that ended during its setup was reported by a SIGCHLD that the setup read.
    let mut early = match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, c)) => Some(c << 8),
        Ok(WaitStatus::Signaled(_, s, _)) => Some(s as i32),
        _ => None,
    };
    for s in sigs.deferred.take() {
        if s == Signal::SIGWINCH {
            if let Some(m) = &master {
                pty::sync_winsize(m);
            }
        } else {
            let _ = kill(init, s);
        }
    }
    let init_status = loop {
        if let Some(d) = early.take() {
            break d;
        }
        if let Some((sig, at)) = ending {
            if std::time::Instant::now() >= at {
                break kill_after_grace(init, sigs, sig);
            }
        }
        let mut fds = vec![PollFd::new(sigs.as_fd(), PollFlags::POLLIN)];
        let ci = chan_open.then(|| {
            fds.push(PollFd::new(chan.fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let si = stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let mi = match (&master, master_open) {
            (Some(m), true) => {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let timeout = match ending {
            Some((_, at)) => PollTimeout::try_from(
                at.saturating_duration_since(std::time::Instant::now())
                    .as_millis()
                    .max(1) as i32,
            )
            .unwrap_or(PollTimeout::ZERO),
            None => PollTimeout::NONE,
        };
        if poll(&mut fds, timeout).is_err() {
            continue;
        }
        let ready =
            |i: Option<usize>| i.is_some_and(|i| fds[i].revents().is_some_and(|r| !r.is_empty()));
        let (sig_ready, c_ready, s_ready, m_ready) =
            (ready(Some(0)), ready(ci), ready(si), ready(mi));
        drop(fds);
        if m_ready {
            // Copy what is there (the master is non-blocking) before polling again: a PTY
            // hands out at most 4 KiB per read, and each read goes out at once.
            let m = master.as_ref().expect("master polled");
            if !pty::drain(m, &stdout, &mut buf) {
                master_open = false;
            }
        }
        if s_ready {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) | Err(nix::errno::Errno::EBADF) => {
                    stdin_open = false
                }
                Ok(n) => {
                    if let Some(m) = &master {
                        let _ = pty::write_all(m, &buf[..n]);
                    }
                }
                Err(_) => {}
            }
        }
        if c_ready {
            match chan.recv() {
                Ok(Some((Msg::Exit { status }, _))) => reported = Some(status),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => chan_open = false,
            }
        }
        if sig_ready {
            let mut done = None;
            while let Some(sig) = sigs.read_signal() {
                match Some(sig) {
                    Some(Signal::SIGCHLD) => match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(_, c)) => done = Some(c << 8),
                        Ok(WaitStatus::Signaled(_, s, _)) => done = Some(s as i32),
                        _ => {}
                    },
                    Some(Signal::SIGWINCH) if master.is_some() => {
                        pty::sync_winsize(master.as_ref().expect("master"))
                    }
                    Some(s) => {
                        let _ = kill(init, s);
                        if matches!(s, Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP) {
                            // From the first one, the command has GRACE to end.
                            ending.get_or_insert((s, std::time::Instant::now() + GRACE));
                        }
                    }
                    None => {}
                }
            }
            if let Some(d) = done {
                break d;
            }
        }
    };
    // Drain what the command wrote last, and the exit report.
    if let (Some(m), true) = (&master, master_open) {
        let _ = nix::fcntl::fcntl(
            m,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while let Ok(n) = nix::unistd::read(m, &mut buf) {
            if n == 0 || pty::write_all(&stdout, &buf[..n]).is_err() {
                break;
            }
        }
    }
    if reported.is_none() && chan_open {
        if let Ok(Some((Msg::Exit { status }, _))) = chan.recv() {
            reported = Some(status);
        }
    }
    drop(raw);
    reported.unwrap_or(init_status)
}
