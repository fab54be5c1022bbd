//! Turn what the user typed (a PID, an nsk container name, a runtime's container id or a unique
//! prefix of at least 4 characters) into one pinned process: a pidfd plus the start time read
//! before it was opened, so a PID that dies and is reused in between is never taken for it.

use crate::container::state::Store;
use crate::error::{Error, Result};
use crate::process;
use crate::runtime::{self, Identity};
use std::collections::BTreeMap;
use std::fs;
use std::os::fd::OwnedFd;

#[derive(Debug)]
pub struct Target {
    pub pid: i32,
    pub start_time: u64,
    /// None where the kernel has no pidfd_open (before 5.3).
    pub pidfd: Option<OwnedFd>,
    pub identity: Option<Identity>,
}

impl Target {
    /// Is the pinned process still the one we resolved? Its pidfd says whether it has exited
    /// (even if its PID already names another process); the start time covers kernels without
    /// pidfds. Called after every path-based open under /proc/PID: what those opens found is
    /// the target's only if it is still alive afterwards.
    pub fn still_alive(&self) -> bool {
        if let Some(fd) = &self.pidfd {
            if process::wait_exit(fd, std::time::Duration::ZERO) {
                return false;
            }
        }
        process::is_running(self.pid, self.start_time)
    }
}

/// Pin `pid` whose start time was read as `start`: open a pidfd, then check the start time again.
fn pin(pid: i32, start: u64, identity: Option<Identity>) -> Result<Target> {
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(fd) => Some(fd),
        Err(nix::errno::Errno::ESRCH) => return Err(no_such_process()),
        Err(_) => None,
    };
    match process::start_time(pid) {
        Ok(s) if s == start => Ok(Target {
            pid,
            start_time: start,
            pidfd,
            identity,
        }),
        _ => Err(Error::failed(
            "the process exited (its PID may have been reused)",
        )),
    }
}

fn no_such_process() -> Error {
    Error::Os {
        what: "no such process".into(),
        errno: nix::errno::Errno::ESRCH,
    }
    .simplify()
}

impl Error {
    /// "no such process: no such process" reads badly: keep one.
    fn simplify(self) -> Error {
        match self {
            Error::Os {
                errno: nix::errno::Errno::ESRCH,
                ..
            } => Error::failed("no such process"),
            e => e,
        }
    }
}

/// An nsk container's own process: its init's first child (the command, PID 2 inside). Its
/// environment, working directory and capabilities are the container's; init's are nsk's.
/// Falls back to init when the command is gone.
fn nsk_command(init: i32, init_start: u64) -> (i32, u64) {
    let children =
        fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap_or_default();
    let first = children
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
        .filter_map(|c| process::start_time(c).ok().map(|s| (s, c)))
        .min();
    match first {
        Some((s, c)) => (c, s),
        None => (init, init_start),
    }
}

/// The identity of `pid`: an nsk container (matched by id in the state store), a runc-style
/// state directory, or the runtime named by its cgroup paths.
pub fn identify(store: &Store, pid: i32) -> Option<Identity> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let nsk = nsk_ids(store);
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        if let Some(last) = path.rsplit('/').next() {
            if let Some(name) = nsk.get(last) {
                return Some(Identity {
                    runtime: "nsk".into(),
                    id: last.into(),
                    name: Some(name.clone()),
                    pod_uid: None,
                });
            }
        }
    }
    let mut id = runtime::from_proc_cgroup(&text);
    if let Some(i) = &mut id {
        if i.runtime == "nsk" {
            i.name = nsk.get(&i.id).cloned();
        } else if i.runtime == "docker" {
            i.name = docker_name(&i.id);
        }
    }
    id.or_else(|| {
        let st = process::start_time(pid).ok();
        runtime::runc_states()
            .into_iter()
            .find(|r| r.pid == pid && (r.start.is_none() || r.start == st))
            .map(|r| Identity {
                runtime: r.runtime,
                id: r.id,
                name: None,
                pod_uid: None,
            })
    })
}

/// docker's name for a container, from its config on disk (no daemon needed).
fn docker_name(id: &str) -> Option<String> {
    let t =
        std::fs::read_to_string(format!("/var/lib/docker/containers/{id}/config.v2.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&t).ok()?;
    Some(v.get("Name")?.as_str()?.trim_start_matches('/').to_string())
}

/// id → name of every nsk container in the store.
fn nsk_ids(store: &Store) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for n in store.names().unwrap_or_default() {
        if let Ok(st) = store.load(&n) {
            m.insert(st.id, st.name);
        }
    }
    m
}

/// A container found while searching by id: its identity and the PID of its first process.
struct Candidate {
    identity: Identity,
    pid: i32,
    start: u64,
}

/// Resolve a target typed by the user.
pub fn resolve(store: &Store, spec: &str) -> Result<Target> {
    if spec.is_empty() {
        return Err(Error::invalid("empty target"));
    }
    // A number is a PID first. A container id can also start with digits only (about one id
    // prefix of 8 in 40): when no such process exists, it is looked up as an id prefix too.
    let numeric = spec.bytes().all(|b| b.is_ascii_digit());
    if numeric {
        match spec.parse::<i32>() {
            Ok(pid) if pid > 0 => match process::start_time(pid) {
                // The runtime identity of a bare PID is looked up only by those who show it.
                Ok(start) => return pin(pid, start, None),
                Err(e)
                    if !matches!(
                        e.errno(),
                        Some(nix::errno::Errno::ESRCH | nix::errno::Errno::ENOENT)
                    ) =>
                {
                    return Err(e)
                }
                Err(_) if spec.len() < 4 => return Err(no_such_process()),
                Err(_) => {}
            },
            _ if spec.len() < 4 => return Err(Error::invalid(format!("invalid PID {spec}"))),
            _ => {}
        }
    }
    if crate::container::config::validate_name(spec).is_ok() {
        // A directory by that name that nsk cannot trust is an error, not "no such container".
        let loaded = match store.load(spec) {
            Ok(st) => Some(st),
            Err(Error::NotFound(_)) => None,
            Err(e) if e.errno().is_some() => None,
            Err(e) => return Err(e),
        };
        if let Some(st) = loaded {
            return match (st.status, st.pid, st.start_time) {
                (crate::container::state::Status::Running, Some(pid), Some(start)) => {
                    let id = Identity {
                        runtime: "nsk".into(),
                        id: st.id.clone(),
                        name: Some(st.name.clone()),
                        pod_uid: None,
                    };
                    let (pid, start) = nsk_command(pid, start);
                    pin(pid, start, Some(id))
                }
                _ => Err(Error::failed(format!("container {spec} is not running"))),
            };
        }
    }
    if spec.len() < 4 {
        return Err(Error::failed(
            "no such container or process (a container id prefix needs at least 4 characters)",
        ));
    }
    let mut found: BTreeMap<(String, String), Candidate> = BTreeMap::new();
    let mut add = |c: Candidate| {
        let key = (c.identity.runtime.clone(), c.identity.id.clone());
        match found.get(&key) {
            Some(old) if old.start <= c.start => {}
            _ => {
                found.insert(key, c);
            }
        }
    };
    for (id, name) in nsk_ids(store) {
        if id.starts_with(spec) {
            if let Ok(st) = store.load(&name) {
                if let (Some(pid), Some(start), true) = (st.pid, st.start_time, st.is_running()) {
                    let (pid, start) = nsk_command(pid, start);
                    add(Candidate {
                        identity: Identity {
                            runtime: "nsk".into(),
                            id,
                            name: Some(name),
                            pod_uid: None,
                        },
                        pid,
                        start,
                    });
                }
            }
        }
    }
    for r in runtime::runc_states() {
        if r.id.starts_with(spec) {
            if let Ok(start) = process::start_time(r.pid) {
                if r.start.is_none() || r.start == Some(start) {
                    add(Candidate {
                        identity: Identity {
                            runtime: r.runtime,
                            id: r.id,
                            name: None,
                            pod_uid: None,
                        },
                        pid: r.pid,
                        start,
                    });
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(dir) = process::ProcDir::open(pid) else {
                continue;
            };
            let Ok(text) = dir.read("cgroup") else {
                continue;
            };
            let Some(mut idn) = runtime::from_proc_cgroup(&text) else {
                continue;
            };
            if !idn.id.starts_with(spec) {
                continue;
            }
            let Ok(start) = dir.stat().map(|s| s.start_time) else {
                continue;
            };
            if idn.runtime == "docker" {
                idn.name = docker_name(&idn.id);
            }
            add(Candidate {
                identity: idn,
                pid,
                start,
            });
        }
    }
    // The same container seen through its cgroup and a runc state dir counts once.
    let mut by_id: BTreeMap<String, Candidate> = BTreeMap::new();
    for ((_, id), c) in found {
        match by_id.get(&id) {
            Some(old) if old.start <= c.start => {}
            _ => {
                by_id.insert(id, c);
            }
        }
    }
    match by_id.len() {
        0 if numeric => Err(no_such_process()),
        0 => Err(Error::failed("no such container or process")),
        1 => {
            let c = by_id.into_values().next().expect("one candidate");
            pin(c.pid, c.start, Some(c.identity))
        }
        _ => {
            let list: Vec<String> = by_id
                .values()
                .map(|c| format!("{} {}", c.identity.runtime, c.identity.id))
                .collect();
            Err(Error::failed(format!(
                "'{spec}' is ambiguous: {}",
                list.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id whose prefix is all digits is found when no process has that number as its PID.
    #[test]
    fn numeric_id_prefix_when_no_such_pid() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::new(t.path().to_path_buf());
        // A process in a PID namespace of its own, as a container's init is.
        let mut unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "30"])
            .spawn()
            .expect("unshare (util-linux) runs, as root");
        let u = unshare.id();
        let mut init = 0;
        for _ in 0..500 {
            let c =
                std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).unwrap_or_default();
            if let Some(p) = c.split_whitespace().next() {
                init = p.parse().unwrap();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(init > 0, "unshare started no child");
        let start = process::start_time(init).unwrap();
        let pidns = process::ns_inode(init, "pid").unwrap();
        let id = format!("12345678{}", "a".repeat(24));
        let mut st = crate::container::state::tests::test_state("num", &id);
        store.create(&st, "nsk").unwrap();
        st.status = crate::container::state::Status::Running;
        st.pid = Some(init);
        st.start_time = Some(start);
        st.namespaces.insert("pid".into(), pidns);
        store.save(&st).unwrap();
        // 12345678 is above any pid_max, so no process has it.
        let tgt = resolve(&store, "12345678").unwrap();
        assert_eq!(
            tgt.identity.as_ref().map(|i| i.id.as_str()),
            Some(id.as_str())
        );
        let e = resolve(&store, "87654321").unwrap_err().to_string();
        assert!(e.contains("no such process"), "{e}");
        assert!(resolve(&store, "0")
            .unwrap_err()
            .to_string()
            .contains("invalid PID"));
        let _ = unshare.kill();
        let _ = unshare.wait();
    }
}
