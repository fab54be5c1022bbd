//! Turn what the user typed into one pinned process: a pidfd plus the start time read before it
//! was opened, so a PID that dies and is reused in between is never taken for it.
//!
//! TARGET is a PID, an nsk container name, a container's name or id (or a unique id prefix of at
//! least 4 characters) in any runtime, `NAMESPACE/POD[/CONTAINER]` for Kubernetes, or
//! `RUNTIME://NAME-OR-ID` to pick one runtime. Containers are found with no daemon: by scanning
//! `/proc/*/cgroup` and the runtimes' state directories, and named from the runtimes' files.

use crate::cgroup::Hierarchy;
use crate::container::state::{State, Store};
use crate::error::{Error, Result};
use crate::process;
use crate::runtime::{self, meta, Host, Identity};
use std::collections::{BTreeMap, HashMap};
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
        _ => Err(Error::failed(
            "the process exited (its PID may have been reused)",
        )),
    }
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

/// One process seen by a scan of /proc.
pub struct Proc {
    pub pid: i32,
    pub start: u64,
    pub inodes: [Option<u64>; 8],
    pub cgroup: String,
}

/// Names the container of each distinct /proc/PID/cgroup text once: nsk's own containers by id
/// (any cgroup parent), the runtimes' cgroup spellings and task directories, then runc-style
/// state directories (every process with the cgroups of a state's init belongs to it).
pub struct Identifier {
    host: Host,
    nsk: BTreeMap<String, State>,
    runc_by_cgroup: BTreeMap<String, (Identity, Option<String>)>,
    cache: HashMap<String, Option<Identity>>,
    bundles: BTreeMap<(String, String), String>,
}

impl Identifier {
    pub fn new(store: &Store) -> Identifier {
        let host = Host::real();
        let nsk = store
            .names()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| store.load(&n).ok().map(|s| (s.id.clone(), s)))
            .collect();
        let mut runc_by_cgroup = BTreeMap::new();
        let mut bundles = BTreeMap::new();
        for r in runtime::runc_states(&host) {
            if let Some(b) = &r.bundle {
                bundles.insert((r.runtime.clone(), r.id.clone()), b.clone());
            }
            if let Ok(text) = fs::read_to_string(format!("/proc/{}/cgroup", r.pid)) {
                let alive = process::start_time(r.pid)
                    .ok()
                    .is_some_and(|s| r.start.is_none_or(|rs| rs == s));
                if alive {
                    runc_by_cgroup.insert(text, (Identity::new(&r.runtime, &r.id), r.bundle));
                }
            }
        }
        Identifier {
            host,
            nsk,
            runc_by_cgroup,
            cache: HashMap::new(),
            bundles,
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Every nsk container in the store.
    pub fn nsk_states(&self) -> impl Iterator<Item = &State> {
        self.nsk.values()
    }

    /// The nsk container with this id, if it is in the store.
    pub fn nsk_state(&self, id: &str) -> Option<&State> {
        self.nsk.get(id)
    }

    /// The OCI bundle a runc-style state directory names for a container.
    pub fn bundle(&self, i: &Identity) -> Option<&str> {
        self.bundles
            .get(&(i.runtime.clone(), i.id.clone()))
            .map(String::as_str)
    }

    /// The container a /proc/PID/cgroup text names (bare: not yet enriched).
    pub fn of_cgroup(&mut self, text: &str) -> Option<Identity> {
        if let Some(c) = self.cache.get(text) {
            return c.clone();
        }
        let mut id = None;
        for line in text.lines() {
            let last = line.rsplit('/').next().unwrap_or("");
            if let Some(st) = self.nsk.get(last) {
                let mut i = Identity::new("nsk", last);
                i.name = Some(st.name.clone());
                id = Some(i);
                break;
            }
        }
        if id.is_none() {
            id = runtime::identify(&self.host, text);
        }
        if id.is_none() {
            id = self.runc_by_cgroup.get(text).map(|(i, _)| i.clone());
        }
        self.cache.insert(text.to_string(), id.clone());
        id
    }

    /// Fill in what the runtime's files and the kernel say: name, image, labels, mounts, log,
    /// pod, status (the runtime's, else paused when frozen) and uptime of the first process.
    pub fn finish(&self, i: &mut Identity, first: &Proc, hier: Option<&Hierarchy>) {
        if i.runtime == "nsk" {
            if let Some(st) = self.nsk.get(&i.id) {
                i.name = Some(st.name.clone());
                i.image = st.image.clone();
                i.status = Some(st.status.as_str().into());
            }
        } else {
            let bundle = self.bundle(i).map(String::from);
            meta::enrich(&self.host, i, bundle.as_deref());
            if i.name.is_none() && matches!(i.runtime.as_str(), "runc" | "crun") {
                i.name = Some(i.id.clone());
            }
        }
        let frozen = hier
            .map(|h| crate::cgroup::report::of_process(h, &first.cgroup).0)
            .and_then(|set| set.frozen());
        if frozen.is_some() && i.status.as_deref() != Some("paused") {
            i.status = Some("paused".into());
        } else if i.status.is_none() {
            i.status = Some("running".into());
        }
        if let Some((at, up)) = started(first.start) {
            i.started_at = Some(at);
            i.uptime_seconds = Some(up);
        }
    }
}

/// When a process that started `ticks` clock ticks after boot started (RFC 3339), and how many
/// seconds ago.
pub fn started(ticks: u64) -> Option<(String, u64)> {
    // The boot time and the clock tick rate hold until reboot: read once (/proc/stat is long).
    static BOOT: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    let (btime, hz) = (*BOOT.get_or_init(|| {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let btime: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&h| h > 0)
            .map_or(100, |h| h as u64);
        Some((btime, hz))
    }))?;
    let at = btime + ticks / hz;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some((crate::clock::rfc3339(at), now.saturating_sub(at)))
}

/// Containers with their processes (first: the init), and the isolated processes no container owns.
pub type Scanned = (Vec<(Identity, Vec<Proc>)>, Vec<Proc>);

/// Every process of the host, grouped: containers by (runtime, id), in start order. With
/// `loose`, isolated processes that no container owns come back too, one group per process
/// (the caller groups them by namespaces).
pub fn scan(ident: &mut Identifier, loose: bool) -> Result<Scanned> {
    let own = crate::ns::inodes(std::process::id() as i32);
    let rd = fs::read_dir("/proc").map_err(|e| Error::Io {
        what: "cannot read /proc".into(),
        source: e,
    })?;
    let mut groups: BTreeMap<(String, String), (Identity, Vec<Proc>)> = BTreeMap::new();
    let mut others = vec![];
    let mnt_kind = crate::ns::KINDS.iter().position(|k| k.name == "mnt");
    let mut buf = [0u8; 64];
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(dir) = process::ProcDir::open(pid) else {
            continue;
        };
        // Every runtime gives a container a mount namespace of its own: a process in nsk's
        // needs no cgroup read unless it is isolated otherwise (a loose set). Most processes of
        // a host are such, and /proc/PID/cgroup is the costliest file of the scan.
        let host_mnt = mnt_kind.is_some_and(|k| {
            own[k].is_some() && dir.ns_inode(&crate::ns::KINDS[k], &mut buf) == own[k]
        });
        let mut inodes = [None; 8];
        if host_mnt {
            if !loose {
                continue;
            }
            inodes = dir.ns_inodes();
            if !inodes.iter().zip(&own).any(|(a, b)| a.is_some() && a != b) {
                continue;
            }
        }
        let Ok(cgroup) = dir.read("cgroup") else {
            continue;
        };
        let id = ident.of_cgroup(&cgroup);
        if !host_mnt && (loose || id.is_some()) {
            inodes = dir.ns_inodes();
        }
        if id.is_none() {
            let isolated = inodes.iter().zip(&own).any(|(a, b)| a.is_some() && a != b);
            if !loose || !isolated {
                continue;
            }
        }
        let Ok(start) = dir.stat().map(|s| s.start_time) else {
            continue;
        };
        let p = Proc {
            pid,
            start,
            inodes,
            cgroup,
        };
        match id {
            Some(i) => groups
                .entry((i.runtime.clone(), i.id.clone()))
                .or_insert_with(|| (i, vec![]))
                .1
                .push(p),
            None => others.push(p),
        }
    }
    let mut out: Vec<(Identity, Vec<Proc>)> = groups.into_values().collect();
    for (_, procs) in &mut out {
        procs.sort_by_key(|p| (p.start, p.pid));
    }
    Ok((out, others))
}

/// A container found on the host: its identity (enriched) and its first process.
pub struct Found {
    pub identity: Identity,
    pub pid: i32,
    pub start: u64,
}

/// Every container on the host, enriched from the runtimes' files.
pub fn containers(store: &Store) -> Result<Vec<Found>> {
    let mut ident = Identifier::new(store);
    let (groups, _) = scan(&mut ident, false)?;
    let hier = Hierarchy::detect().ok();
    let mut out: Vec<Found> = groups
        .into_iter()
        .map(|(mut i, procs)| {
            ident.finish(&mut i, &procs[0], hier.as_ref());
            Found {
                identity: i,
                pid: procs[0].pid,
                start: procs[0].start,
            }
        })
        .collect();
    // nsk containers whose cgroups do not name them (none at all, rootless): by their state.
    for st in ident.nsk.values() {
        if out
            .iter()
            .any(|f| f.identity.runtime == "nsk" && f.identity.id == st.id)
        {
            continue;
        }
        if let (Some(pid), Some(start), true) = (st.pid, st.start_time, st.is_running()) {
            out.push(Found {
                identity: nsk_identity(st, pid, start),
                pid,
                start,
            });
        }
    }
    Ok(out)
}

/// The identity of `pid`'s container (enriched), with its first process.
pub fn identify(store: &Store, pid: i32) -> Option<(Identity, i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut ident = Identifier::new(store);
    let bare = ident.of_cgroup(&text)?;
    let f = containers(store)
        .ok()?
        .into_iter()
        .find(|f| f.identity.runtime == bare.runtime && f.identity.id == bare.id)?;
    Some((f.identity, f.pid, f.start))
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
    let all = containers(store)?;
    let mut scored: Vec<(u8, Found)> = all
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
    if let Some((at, up)) = started(start) {
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
        i.pod = pod.map(|[ns, p, c]| runtime::Pod {
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
