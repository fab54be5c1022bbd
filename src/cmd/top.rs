//! `nsk top` / `nsk stats`: refresh, sort, render; `q` quits on a terminal.

use super::Ctx;
use crate::cgroup::Hierarchy;
use crate::cli::TopArgs;
use crate::error::{Error, Result};
use crate::top;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which containers TARGET names: (runtime, id) of each.
fn keys(ctx: &Ctx, targets: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for t in targets {
        let r = crate::target::resolve(&ctx.store, t)?;
        let id = match r.identity {
            Some(i) => i,
            None => {
                crate::target::identify(&ctx.store, r.pid)
                    .ok_or_else(|| Error::failed(format!("{t} is in no container")))?
                    .0
            }
        };
        out.push((id.runtime, id.id));
    }
    Ok(out)
}

/// Wait `d`; on a terminal in raw mode, return true as soon as q (or Ctrl-C, Ctrl-D) is typed.
fn wait(d: Duration, keys_on: bool) -> bool {
    if !keys_on {
        std::thread::sleep(d);
        return false;
    }
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let end = std::time::Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let fd = crate::sys::stdin_fd();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => {
                let mut b = [0u8; 16];
                match nix::unistd::read(fd, &mut b) {
                    Ok(0) | Err(_) => return true,
                    Ok(n) => {
                        if b[..n].iter().any(|c| matches!(c, b'q' | b'Q' | 3 | 4)) {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    if !(0.1..=3600.0).contains(&a.interval) {
        return Err(Error::invalid(format!(
            "invalid interval {}: from 0.1 to 3600 seconds (example: -i 2)",
            a.interval
        )));
    }
    let h = Hierarchy::detect()?;
    let only = if a.targets.is_empty() {
        None
    } else {
        Some(keys(ctx, &a.targets)?)
    };
    let interval = Duration::from_secs_f64(a.interval);
    let interactive = !ctx.json && !a.no_stream && std::io::stdout().is_terminal();
    let raw = if interactive {
        crate::pty::RawMode::stdin()?
    } else {
        None
    };
    let mut prev = top::sample(&ctx.store, &h, only.as_deref())?;
    let first = if a.no_stream {
        interval.min(Duration::from_secs(1))
    } else {
        interval
    };
    let mut pause = first;
    loop {
        if wait(pause, raw.is_some()) {
            break;
        }
        pause = interval;
        let now = top::sample(&ctx.store, &h, only.as_deref())?;
        let mut rows = top::rows(&prev, &now);
        top::sort(&mut rows, a.sort);
        let text = if ctx.json {
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let v = serde_json::json!({
                "time": (t * 1000.0).round() / 1000.0,
                "interval_seconds": if a.no_stream { first.as_secs_f64() } else { a.interval },
                "containers": rows,
            });
            format!("{v}\n")
        } else if raw.is_some() {
            let body = top::render(&rows);
            format!(
                "\x1b[H\x1b[2J{} containers, every {}s, sorted by {:?} (q quits)\n{}",
                rows.len(),
                a.interval,
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
    Ok(0)
}
