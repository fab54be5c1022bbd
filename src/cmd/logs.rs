//! nsk logs: a detached nsk container's output, or any runtime's container log read from its
//! file with no daemon: Docker's json-file log, and the CRI format of containerd, CRI-O and
//! Podman's k8s-file driver. `-f` follows the file (across a rotation) until the container's
//! first process exits.

use super::Ctx;
use crate::cli::LogsArgs;
use crate::error::{Context, Error, Result};
use crate::output;
use crate::runtime::LogSource;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    if crate::container::config::validate_name(&a.name).is_ok() && ctx.store.load(&a.name).is_ok() {
        return nsk_logs(ctx, &a);
    }
    let t = crate::target::resolve_container(&ctx.store, &a.name, "read the log of")?;
    let Some(id) = &t.identity else {
        return Err(Error::failed(format!(
            "cannot read the log of {}: process {} is not in a container nsk knows",
            a.name, t.pid
        )));
    };
    let src = id.log.clone().ok_or_else(|| {
        let why = match id.runtime.as_str() {
            "docker" => "its log driver is not json-file, or Docker's config names no log file",
            "containerd" => {
                "containerd keeps no log for a container started without a log URI (ctr run -d discards the output)"
            }
            "podman" => "its log driver is not k8s-file (journald and none keep no file)",
            _ => "its runtime keeps no log file nsk knows",
        };
        Error::failed(format!("cannot read the log of {}: {why}", id.describe()))
    })?;
    let (pid, start) = t.init.unwrap_or((t.pid, t.start_time));
    follow(&src, a.follow, || crate::process::is_running(pid, start))
}

/// Where a line of a runtime's log goes, and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub stderr: bool,
    pub text: Vec<u8>,
}

/// One line of Docker's json-file log: `{"log":"text\n","stream":"stdout","time":"…"}`.
pub fn parse_json_line(l: &[u8]) -> Option<Line> {
    let v: serde_json::Value = serde_json::from_slice(l).ok()?;
    Some(Line {
        stderr: v["stream"] == "stderr",
        text: v["log"].as_str()?.as_bytes().to_vec(),
    })
}

/// One line of the CRI log format: `TIME STREAM P|F TEXT` (P: a partial line, continued by the
/// next; F: the end of one).
pub fn parse_cri_line(l: &[u8]) -> Option<Line> {
    let mut f = l.splitn(4, |b| *b == b' ');
    let _time = f.next()?;
    let stream = f.next()?;
    let tag = f.next()?;
    let text = f.next().unwrap_or(b"");
    let mut text = text.to_vec();
    if tag.first() != Some(&b'P') {
        text.push(b'\n');
    }
    Some(Line {
        stderr: stream == b"stderr",
        text,
    })
}

fn emit(src: &LogSource, line: &[u8], out: &mut impl Write, err: &mut impl Write) {
    let parsed = match src {
        LogSource::JsonFile(_) => parse_json_line(line),
        LogSource::Cri(_) => parse_cri_line(line),
        LogSource::Raw(_) => Some(Line {
            stderr: false,
            text: [line, b"\n"].concat(),
        }),
    };
    if let Some(l) = parsed {
        let _ = if l.stderr {
            err.write_all(&l.text)
        } else {
            out.write_all(&l.text)
        };
    }
}

fn open(p: &Path) -> Result<(std::fs::File, u64)> {
    let f = std::fs::File::open(p).ctx(|| format!("cannot open {}", p.display()))?;
    let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
    Ok((f, ino))
}

/// Print a runtime's log file; with `follow`, keep printing what is appended (a file rotated
/// away is followed to its successor) while `alive` says the container runs.
fn follow(src: &LogSource, follow: bool, alive: impl Fn() -> bool) -> Result<i32> {
    let path: PathBuf = src.path().to_path_buf();
    let (mut f, mut ino) = open(&path)?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut pending: Vec<u8> = vec![];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .ctx(|| format!("cannot read {}", path.display()))?;
        if n > 0 {
            pending.extend_from_slice(&buf[..n]);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                emit(src, &line[..line.len() - 1], &mut out, &mut err);
            }
            continue;
        }
        let _ = out.flush();
        if !follow {
            break;
        }
        // Rotated: the path now names a new file; finish this one, then read that one.
        let rotated = std::fs::metadata(&path).is_ok_and(|m| m.ino() != ino);
        if rotated {
            let (nf, ni) = open(&path)?;
            f = nf;
            ino = ni;
            continue;
        }
        if !alive() {
            // One last read for output written just before the exit.
            let n = f.read(&mut buf).unwrap_or(0);
            pending.extend_from_slice(&buf[..n]);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !pending.is_empty() {
        emit(src, &pending, &mut out, &mut err);
    }
    let _ = out.flush();
    Ok(0)
}

fn nsk_logs(ctx: &Ctx, a: &LogsArgs) -> Result<i32> {
    let st = ctx.store.load(&a.name)?;
    let path = ctx.store.dir(&a.name)?.join("log");
    let mut f = ctx.store.open_file(&a.name, "log").map_err(|e| {
        if e.errno() == Some(nix::errno::Errno::ENOENT) {
            Error::failed(format!(
                "container {} has no log: only detached containers (nsk run -d) keep one",
                a.name
            ))
        } else {
            e
        }
    })?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .ctx(|| format!("cannot read {}", path.display()))?;
        if n > 0 {
            output::print(&String::from_utf8_lossy(&buf[..n]))?;
            continue;
        }
        if !a.follow {
            return Ok(0);
        }
        let running = ctx
            .store
            .load(&a.name)
            .map(|s| s.is_running())
            .unwrap_or(false)
            && st.detached;
        if !running {
            // One last read for output written just before the exit.
            let n = f.read(&mut buf).unwrap_or(0);
            output::print(&String::from_utf8_lossy(&buf[..n]))?;
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json_lines() {
        let l = parse_json_line(
            br#"{"log":"hello \"x\"\n","stream":"stdout","time":"2026-11-30T21:11:40.000000001Z"}"#,
        )
        .unwrap();
        assert_eq!(
            l,
            Line {
                stderr: false,
                text: b"hello \"x\"\n".to_vec()
            }
        );
        assert!(
            parse_json_line(br#"{"log":"e\n","stream":"stderr","time":"t"}"#)
                .unwrap()
                .stderr
        );
        assert!(parse_json_line(b"garbage").is_none());
    }

    #[test]
    fn cri_lines_join_partials() {
        let p = parse_cri_line(b"2026-11-30T21:12:47.555160106Z stdout P hel").unwrap();
        let f = parse_cri_line(b"2026-11-30T21:12:47.555160107Z stdout F lo").unwrap();
        assert_eq!([p.text, f.text].concat(), b"hello\n");
        let e = parse_cri_line(b"2026-11-30T21:12:48Z stderr F warn: x y").unwrap();
        assert_eq!((e.stderr, e.text), (true, b"warn: x y\n".to_vec()));
        assert_eq!(
            parse_cri_line(b"2026-11-30T21:12:48Z stdout F")
                .unwrap()
                .text,
            b"\n"
        );
        assert!(parse_cri_line(b"short").is_none());
    }

    /// The fixture logs of every layout that has one read back as the runtime wrote them.
    #[test]
    fn fixture_logs() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts");
        let cases = [
            ("docker-cgroupfs", b"hello\n".to_vec(), b"oops\n".to_vec()),
            (
                "k8s-containerd-systemd-burstable",
                b"hello\n".to_vec(),
                b"warn\n".to_vec(),
            ),
        ];
        for (name, want_out, want_err) in cases {
            let dir = base.join(name);
            let host = crate::runtime::Host::at(dir.join("root"));
            let text = std::fs::read_to_string(dir.join("cgroup")).unwrap();
            let mut id = crate::runtime::identify(&host, &text).unwrap();
            crate::runtime::meta::enrich(&host, &mut id, None);
            let src = id.log.clone().unwrap();
            let (mut out, mut err) = (vec![], vec![]);
            for line in std::fs::read(src.path()).unwrap().split(|b| *b == b'\n') {
                if !line.is_empty() {
                    emit(&src, line, &mut out, &mut err);
                }
            }
            assert_eq!((out, err), (want_out, want_err), "{name}");
        }
    }
}
