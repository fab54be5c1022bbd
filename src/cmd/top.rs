//! `nsk top` / `nsk stats`: refresh, sort, render; `q` quits on a terminal.

use super::Ctx;
use crate::cgroup::Hierarchy;
use crate::cli::TopArgs;
use crate::error::{Context, Error, Result};
use crate::top;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which containers TARGET names: (runtime, id) of each.
fn keys(ctx: &Ctx, targets: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for t in targets {
        let r = crate::target::resolve(&ctx.store, t)?;
        let id = match r.identity {
            Some(i) => i,
            None => {
                crate::scan::identify(&ctx.store, r.pid)
                    .ok_or_else(|| Error::failed(format!("{t} is in no container")))?
                    .0
            }
        };
        out.push((id.runtime, id.id));
    }
    Ok(out)
}

/// Why the loop ends early.
enum Quit {
    Key,
    Signal(i32),
}

/// In raw mode the terminal sends no SIGINT; TERM, INT, HUP and QUIT are read from a signalfd
/// instead of killing nsk, so that the terminal is always restored.
struct Keys {
    sigs: SignalFd,
}

impl Keys {
    fn new() -> Result<Keys> {
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ] {
            set.add(s);
        }
        set.thread_block().ctx(|| "cannot block signals")?;
        let sigs = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .ctx(|| "cannot create a signalfd")?;
        Ok(Keys { sigs })
    }

    /// Wait `d`, or less if q (Ctrl-C, Ctrl-D) is typed or a signal comes.
    fn wait(&self, d: Duration) -> Option<Quit> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let end = std::time::Instant::now() + d;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let fd = crate::sys::stdin_fd();
            let mut fds = [
                PollFd::new(fd, PollFlags::POLLIN),
                PollFd::new(self.sigs.as_fd(), PollFlags::POLLIN),
            ];
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            if !matches!(poll(&mut fds, ms), Ok(n) if n > 0) {
                continue;
            }
            if fds[1].any().unwrap_or(false) {
                let sig = self
                    .sigs
                    .read_signal()
                    .ok()
                    .flatten()
                    .map(|s| s.ssi_signo as i32)
                    .unwrap_or(libc::SIGTERM);
                return Some(Quit::Signal(sig));
            }
            if fds[0].any().unwrap_or(false) {
                let mut b = [0u8; 16];
                match nix::unistd::read(fd, &mut b) {
                    Ok(0) | Err(_) => return Some(Quit::Key),
                    Ok(n) if b[..n].iter().any(|c| matches!(c, b'q' | b'Q' | 3 | 4)) => {
                        return Some(Quit::Key)
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    let h = Hierarchy::detect()?;
    let only = if a.targets.is_empty() {
        None
    } else {
        Some(keys(ctx, &a.targets)?)
    };
    let interval = a.interval.duration();
    let interactive = !ctx.json && !a.no_stream && std::io::stdout().is_terminal();
    let keys = if interactive && std::io::stdin().is_terminal() {
        Some(Keys::new()?)
    } else {
        None
    };
    let raw = if keys.is_some() {
        crate::exec::pty::RawMode::stdin()?
    } else {
        None
    };
    let mut sampler = top::Sampler::new(&ctx.store, &h, only);
    let mut prev = sampler.sample()?;
    let first = if a.no_stream {
        interval.min(Duration::from_secs(1))
    } else {
        interval
    };
    let mut pause = first;
    let mut code = 0;
    loop {
        let quit = match &keys {
            Some(k) => k.wait(pause),
            None => {
                std::thread::sleep(pause);
                None
            }
        };
        match quit {
            Some(Quit::Key) => break,
            Some(Quit::Signal(s)) => {
                code = 128 + s;
                break;
            }
            None => {}
        }
        pause = interval;
        let now = sampler.sample()?;
        let mut rows = top::rows(&prev, &now);
        top::sort(&mut rows, a.sort);
        let text = if ctx.json {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            /// One refresh, serialized straight from the rows.
            #[derive(serde::Serialize)]
            struct Frame<'r> {
                time: f64,
                interval_seconds: f64,
                containers: &'r [top::Row],
            }
            let f = Frame {
                time: (t * 1000.0).round() / 1000.0,
                interval_seconds: if a.no_stream {
                    first.as_secs_f64()
                } else {
                    a.interval.seconds()
                },
                containers: &rows,
            };
            let mut v = serde_json::to_string(&f).map_err(|e| Error::failed(e.to_string()))?;
            v.push('\n');
            v
        } else if raw.is_some() {
            let body = top::render(&rows);
            format!(
                "\x1b[H\x1b[2J{} containers, every {}s, sorted by {:?} (q quits)\n{}",
                rows.len(),
                a.interval.seconds(),
                a.sort,
                body
            )
            .replace('\n', "\r\n")
        } else {
            format!("{}\n", top::render(&rows))
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            // The reader went away (a closed pipe): done.
            break;
        }
        if a.no_stream {
            break;
        }
        prev = now;
    }
    drop(raw);
    Ok(code)
}
