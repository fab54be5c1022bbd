//! Turn what the user typed into one pinned process: a pidfd plus the start time read before it
//! was opened, so a PID that dies and is reused in between is never taken for it.
//!
//! TARGET is a PID, an nsk container name, a container's name or id (or a unique id prefix of at
//! least 4 characters) in any runtime, `NAMESPACE/POD[/CONTAINER]` for Kubernetes, or
//! `RUNTIME://NAME-OR-ID` to pick one runtime. Containers are found with no daemon, by the host
//! scan (`scan`), and named from the runtimes' files.

use crate::cgroup::Hierarchy;
use crate::container::state::{State, Store};
use crate::error::{Error, Result};
use crate::process;
use crate::runtime::Identity;
use std::fs;
use std::os::fd::OwnedFd;

#[derive(Debug)]
pub struct Target {
    pub pid: i32,
    pub start_time: u64,
    /// None where the kernel has no pidfd_open (before 5.3).
    pub pidfd: Option<OwnedFd>,
    /// Its /proc directory, held open: every read of the target goes through it, so none can
    /// land on another process that took the PID after the target exited.
    pub dir: process::ProcDir,
    pub identity: Option<Identity>,
    /// The container's first process (its init), where the target is a container.
    pub init: Option<(i32, u64)>,
}

impl Target {
    /// An error from a read through the held /proc directory, said as the pin check says it
    /// when the process has exited (such reads fail with ESRCH, even once the PID is reused).
    pub fn read_error(&self, e: Error) -> Error {
        match e.errno() {
            Some(nix::errno::Errno::ESRCH) if !self.still_alive() => exited(),
            _ => e,
        }
    }

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
        // Once the process is gone, reads through its held directory fail (ESRCH).
        self.dir
            .stat()
            .is_ok_and(|s| s.start_time == self.start_time && s.state != 'Z' && s.state != 'X')
    }
}

/// Pin `pid` whose start time was read as `start`: open a pidfd and its /proc directory, then
/// check the start time again, through that directory.
fn pin(pid: i32, start: u64, identity: Option<Identity>) -> Result<Target> {
    let pidfd = match crate::sys::pidfd_open(pid) {
        Ok(fd) => Some(fd),
        Err(nix::errno::Errno::ESRCH) => return Err(no_such_process()),
        Err(_) => None,
    };
    let Ok(dir) = process::ProcDir::open(pid) else {
        return Err(no_such_process());
    };
    match dir.stat() {
        Ok(s) if s.start_time == start => Ok(Target {
            pid,
            start_time: start,
            pidfd,
            dir,
            identity,
            init: None,
        }),
        _ => Err(exited()),
    }
}

/// What nsk says of a pinned process that is gone: its PID may already name another one.
pub fn exited() -> Error {
    Error::failed("the process exited (its PID may have been reused)")
}

fn no_such_process() -> Error {
    Error::NotFound("no such process".into())
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

/// Runtime names accepted before `://`.
fn runtime_alias(r: &str) -> Option<&'static str> {
    Some(match r.to_ascii_lowercase().as_str() {
        "docker" | "moby" => "docker",
        "podman" | "libpod" => "podman",
        "containerd" | "ctr" => "containerd",
        "cri-o" | "crio" => "cri-o",
        "k8s" | "kubernetes" | "kube" => "kubernetes",
        "runc" => "runc",
        "crun" => "crun",
        "nsk" => "nsk",
        _ => return None,
    })
}

/// Does `f` match what the user typed? 2: exact name or id (or pod path), 1: id prefix, 0: no.
fn matches(i: &Identity, runtime: Option<&str>, what: &str) -> u8 {
    if let Some(r) = runtime {
        let ok = match r {
            "kubernetes" => i.pod.is_some() || i.runtime == "kubernetes",
            r => i.runtime == r,
        };
        if !ok {
            return 0;
        }
    }
    if what.contains('/') {
        let f: Vec<&str> = what.split('/').collect();
        let Some(p) = &i.pod else { return 0 };
        let ok = f.len() <= 3
            && p.namespace.as_deref() == Some(f[0])
            && p.name.as_deref() == f.get(1).copied()
            && match f.get(2) {
                Some(c) => p.container.as_deref() == Some(*c),
                // A pod alone means its containers, not its sandbox.
                None => p.container.as_deref() != Some("POD"),
            };
        return if ok { 2 } else { 0 };
    }
    if i.name.as_deref() == Some(what) || i.id == what {
        return 2;
    }
    if what.len() >= 4 && i.id.starts_with(what) {
        return 1;
    }
    0
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
    let (runtime, what) = match spec.split_once("://") {
        Some((r, w)) => {
            let r = runtime_alias(r).ok_or_else(|| {
                Error::invalid(format!(
                    "unknown runtime '{r}' in '{spec}' (docker, podman, containerd, cri-o, kubernetes, runc, crun, nsk)"
                ))
            })?;
            if w.is_empty() {
                return Err(Error::invalid(format!("'{spec}' names no container")));
            }
            (Some(r), w)
        }
        None => (None, spec),
    };
    if matches!(runtime, None | Some("nsk"))
        && crate::container::config::validate_name(what).is_ok()
    {
        // A directory by that name that nsk cannot trust is an error, not "no such container".
        let loaded = match store.load(what) {
            Ok(st) => Some(st),
            Err(Error::NotFound(_)) => None,
            Err(e) if e.errno().is_some() => None,
            Err(e) => return Err(e),
        };
        if let Some(st) = loaded {
            return match (st.status, st.pid, st.start_time) {
                (crate::container::state::Status::Running, Some(pid), Some(start)) => {
                    let id = nsk_identity(&st, pid, start);
                    let (cpid, cstart) = nsk_command(pid, start);
                    let mut t = pin(cpid, cstart, Some(id))?;
                    t.init = Some((pid, start));
                    Ok(t)
                }
                _ => Err(Error::failed(format!("container {what} is not running"))),
            };
        }
    }
    let all = crate::scan::containers(store)?;
    let mut scored: Vec<(u8, crate::scan::Found)> = all
        .into_iter()
        .filter_map(|f| {
            let m = matches(&f.identity, runtime, what);
            (m > 0).then_some((m, f))
        })
        .collect();
    let best = scored.iter().map(|(m, _)| *m).max().unwrap_or(0);
    scored.retain(|(m, _)| *m == best);
    match scored.len() {
        0 if numeric => Err(no_such_process()),
        0 if !what.contains('/') && what.len() < 4 => Err(Error::NotFound(
            "no such container or process (a container id prefix needs at least 4 characters)"
                .into(),
        )),
        0 => Err(Error::NotFound("no such container or process".into())),
        1 => {
            let (_, f) = scored.pop().expect("one candidate");
            let (pid, start) = if f.identity.runtime == "nsk" {
                nsk_command(f.pid, f.start)
            } else {
                (f.pid, f.start)
            };
            let mut t = pin(pid, start, Some(f.identity))?;
            t.init = Some((f.pid, f.start));
            Ok(t)
        }
        _ => {
            let list: Vec<String> = scored.iter().map(|(_, f)| f.identity.describe()).collect();
            Err(Error::failed(format!(
                "'{spec}' is ambiguous: {} (name one with RUNTIME://NAME-OR-ID, or a longer id)",
                list.join(", ")
            )))
        }
    }
}

/// Resolve for a verb that also takes nsk container names (stop, kill, logs): a target nothing
/// matches reads "no such container: NAME", as for a name missing from the store.
pub fn resolve_container(store: &Store, spec: &str, verb: &str) -> Result<Target> {
    resolve(store, spec).map_err(|e| {
        // What is no container name and no other runtime's spelling either (`../x`, `a//b`)
        // reads as the invalid name it is.
        let path_like = !spec.contains("://")
            && spec.contains('/')
            && spec
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        if path_like {
            if let Err(bad) = crate::container::config::validate_name(spec) {
                return bad;
            }
        }
        match e {
            Error::NotFound(_) => crate::container::state::no_such(spec),
            e => e.context(format!("cannot {verb} {spec}")),
        }
    })
}

pub(crate) fn nsk_identity(st: &State, pid: i32, start: u64) -> Identity {
    let mut i = Identity::new("nsk", &st.id);
    i.name = Some(st.name.clone());
    i.image = st.image.clone();
    i.status = Some(st.status.as_str().into());
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let set = Hierarchy::detect()
        .ok()
        .map(|h| crate::cgroup::report::of_process(&h, &cg).0);
    if set.is_some_and(|s| s.frozen().is_some()) {
        i.status = Some("paused".into());
    }
    if let Some((at, up)) = crate::scan::started(start) {
        i.started_at = Some(at);
        i.uptime_seconds = Some(up);
    }
    i
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
        let e = resolve(&store, "dockr://x").unwrap_err().to_string();
        assert!(e.contains("unknown runtime 'dockr'"), "{e}");
    }

    fn ident(runtime: &str, id: &str, name: Option<&str>, pod: Option<[&str; 3]>) -> Identity {
        let mut i = Identity::new(runtime, id);
        i.name = name.map(String::from);
        i.pod = pod.map(|[ns, p, c]| crate::runtime::Pod {
            namespace: Some(ns.into()),
            name: Some(p.into()),
            uid: None,
            container: Some(c.into()),
        });
        i
    }

    #[test]
    fn target_spellings() {
        let web = ident("docker", "8ec816d70f7d0000", Some("web"), None);
        let api = ident(
            "containerd",
            "abcd1234",
            Some("api"),
            Some(["prod", "api-7f9c", "api"]),
        );
        let pause = ident(
            "containerd",
            "abcd9999",
            Some("POD"),
            Some(["prod", "api-7f9c", "POD"]),
        );
        assert_eq!(matches(&web, None, "web"), 2);
        assert_eq!(matches(&web, Some("docker"), "web"), 2);
        assert_eq!(matches(&web, Some("podman"), "web"), 0);
        assert_eq!(matches(&web, None, "8ec8"), 1);
        assert_eq!(matches(&web, None, "8ec"), 0);
        assert_eq!(matches(&api, None, "prod/api-7f9c"), 2);
        assert_eq!(matches(&pause, None, "prod/api-7f9c"), 0);
        assert_eq!(matches(&pause, None, "prod/api-7f9c/POD"), 2);
        assert_eq!(matches(&api, None, "prod/api-7f9c/api"), 2);
        assert_eq!(matches(&api, None, "prod/api-7f9c/web"), 0);
        assert_eq!(matches(&api, Some("kubernetes"), "prod/api-7f9c"), 2);
        assert_eq!(matches(&web, Some("kubernetes"), "web"), 0);
        assert_eq!(api.describe(), "containerd://prod/api-7f9c/api (abcd1234)");
        assert_eq!(web.describe(), "docker://web (8ec816d70f7d)");
    }
}
