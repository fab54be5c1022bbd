//! One pass over every process on the host: which runtime's container each belongs to (from its
//! cgroup paths and the runtimes' own files, with no daemon), and, for `ps --host`, the sets of
//! namespaces no container owns. `target` resolves names through it; `ps`, `top` and `inspect`
//! list with it.

use crate::cgroup::{report, Hierarchy};
use crate::container::state::{State, Store};
use crate::error::{Error, Result};
use crate::inspect::{parse_mounts, with_runtime_mounts, MountEntry};
use crate::ns::KINDS;
use crate::process;
use crate::runtime::{self, meta, Host, Identity};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;

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
    let mnt_kind = crate::ns::index("mnt");
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
                identity: crate::target::nsk_identity(st, pid, start),
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

/// One group of isolated processes on the host: a container, or a set of namespaces no known
/// container owns.
#[derive(Debug, Serialize)]
pub struct Group {
    pub container: Option<Identity>,
    /// The group's first process (earliest start): its init.
    pub pid: i32,
    pub nprocs: usize,
    /// Kinds whose namespace differs from nsk's own.
    pub isolated: Vec<String>,
    pub namespaces: BTreeMap<String, u64>,
    /// The init's memory cgroup (v1) or its cgroup (v2).
    pub cgroup: Option<String>,
    pub memory_current: Option<u64>,
    /// Usage minus inactive file cache, as `docker stats` and the kubelet count it.
    pub memory_working_set: Option<u64>,
    pub memory_max: Option<u64>,
    pub command: Vec<String>,
    /// The first process's mounts (a container's: the runtime's host source for its binds).
    pub mounts: Vec<MountEntry>,
}

/// Scan every process once and group the isolated ones. Processes that vanish mid-scan, and
/// fields denied even to root, are skipped.
pub fn host_groups(store: &Store) -> Result<Vec<Group>> {
    let own = crate::ns::inodes(std::process::id() as i32);
    let hier = Hierarchy::detect().ok();
    let mut ident = Identifier::new(store);
    let (containers, loose) = scan(&mut ident, true)?;
    let mut by_ns: BTreeMap<[Option<u64>; 8], Vec<Proc>> = BTreeMap::new();
    for p in loose {
        by_ns.entry(p.inodes).or_default().push(p);
    }
    let mut all: Vec<(Option<Identity>, Vec<Proc>)> = containers
        .into_iter()
        .map(|(mut i, procs)| {
            ident.finish(&mut i, &procs[0], hier.as_ref());
            (Some(i), procs)
        })
        .collect();
    for (_, mut procs) in by_ns {
        procs.sort_by_key(|p| (p.start, p.pid));
        all.push((None, procs));
    }
    let mut out = vec![];
    let mut memory: HashMap<std::path::PathBuf, crate::cgroup::Memory> = HashMap::new();
    let mut mount_tables: HashMap<u64, Vec<MountEntry>> = HashMap::new();
    let mnt_kind = crate::ns::index("mnt");
    for (identity, procs) in all {
        let first = &procs[0];
        let mut namespaces = BTreeMap::new();
        let mut isolated = vec![];
        for (i, k) in KINDS.iter().enumerate() {
            if let Some(ino) = first.inodes[i] {
                namespaces.insert(k.name.to_string(), ino);
                if own[i] != Some(ino) {
                    isolated.push(k.name.to_string());
                }
            }
        }
        let mut cg_path = None;
        let (mut mem_cur, mut mem_ws, mut mem_max) = (None, None, None);
        if let Some(h) = &hier {
            let (set, paths) = report::of_process(h, &first.cgroup);
            cg_path = paths
                .get("memory")
                .or_else(|| paths.get("unified"))
                .cloned();
            if let Some(d) = set.dir_for("memory") {
                // Namespace sets often share one cgroup (every sandbox of a pod, processes no
                // runtime placed): read each cgroup's files once.
                let m = *memory
                    .entry(d.to_path_buf())
                    .or_insert_with(|| set.memory());
                (mem_cur, mem_ws, mem_max) = (m.current, m.working_set, m.max);
            }
        }
        // An nsk container's first process is its init ("nsk init"): show what it runs.
        let command = match identity
            .as_ref()
            .filter(|i| i.runtime == "nsk")
            .and_then(|i| ident.nsk_state(&i.id))
        {
            Some(st) => st.command.clone(),
            None => crate::process::ProcDir::open(first.pid)
                .and_then(|d| d.read_bytes("cmdline"))
                .map(|b| crate::process::parse_cmdline(&b))
                .unwrap_or_default(),
        };
        // A container's mounts (with its runtime's bind sources); a loose namespace set's are
        // for `inspect PID`: a host with hundreds of them would print megabytes of mount
        // tables. Containers of one mount namespace (a pod's) share one table: parse it once.
        let mounts = match &identity {
            None => vec![],
            Some(i) => {
                let mnt = mnt_kind.and_then(|k| first.inodes[k]);
                let mut list = match mnt.and_then(|n| mount_tables.get(&n)) {
                    Some(list) => list.clone(),
                    None => {
                        let list = fs::read_to_string(format!("/proc/{}/mountinfo", first.pid))
                            .map(|t| parse_mounts(&t).list)
                            .unwrap_or_default();
                        if let Some(n) = mnt {
                            mount_tables.insert(n, list.clone());
                        }
                        list
                    }
                };
                with_runtime_mounts(&mut list, &i.mounts);
                list
            }
        };
        out.push(Group {
            container: identity,
            pid: first.pid,
            nprocs: procs.len(),
            isolated,
            namespaces,
            cgroup: cg_path,
            memory_current: mem_cur,
            memory_working_set: mem_ws,
            memory_max: mem_max,
            command,
            mounts,
        });
    }
    out.sort_by_key(|g| g.pid);
    Ok(out)
}
