//! Cgroups: detection of the host's layout (v1, hybrid, pure v2), a container's set of cgroup
//! directories, and typed limits written in kernel units through one interface with a v1 and a
//! v2 implementation. Every function takes paths, so unit tests run on fixture trees.

mod freeze;
pub mod journal;
pub mod probe;
pub mod report;

pub use freeze::Change;
mod v1;
mod v2;

use crate::error::{Context, Error, Result};
use crate::units::Limit;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    /// Controllers on v1 hierarchies only.
    V1,
    /// v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
    /// One cgroup2 hierarchy.
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::Hybrid => "hybrid",
            Version::V2 => "v2",
        }
    }
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Controllers bound to it (`["cpu", "cpuacct"]`, `["name=systemd"]`); empty for cgroup2.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    pub v2: bool,
}

impl Mount {
    /// The key used in state files and JSON: controllers joined by ',' or "unified".
    pub fn key(&self) -> String {
        if self.v2 {
            "unified".into()
        } else {
            self.controllers.join(",")
        }
    }
}

/// Every cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub version: Version,
    pub mounts: Vec<Mount>,
}

const V1_NON_CONTROLLER_OPTS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
];

impl Hierarchy {
    /// Detect the host's hierarchies: a pure cgroup v2 host without reading the mountinfo
    /// (`pure_v2`), any other from /proc/self/mountinfo.
    pub fn detect() -> Result<Hierarchy> {
        if let Some(h) = Hierarchy::pure_v2() {
            return Ok(h);
        }
        let text = fs::read_to_string("/proc/self/mountinfo")
            .ctx(|| "cannot read /proc/self/mountinfo")?;
        Hierarchy::from_mountinfo(&text).ok_or_else(|| {
            Error::failed("no cgroup filesystem is mounted (looked in /proc/self/mountinfo)")
        })
    }

    /// A pure cgroup v2 host, told without the mountinfo, whose reading grows with the host's
    /// mounts (about 1 ms with 1,000, as on a busy Kubernetes node, for every run, enter and
    /// limit): the kernel has no v1 hierarchy at all (/proc/self/cgroup lists only the unified
    /// one), and /sys/fs/cgroup is where a cgroup2 filesystem is mounted (its parent is not one).
    /// The mountinfo would then show that mount as the only cgroup hierarchy that counts; with
    /// any v1 hierarchy, or cgroup2 elsewhere, it is read.
    pub fn pure_v2() -> Option<Hierarchy> {
        use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
        let root = Path::new("/sys/fs/cgroup");
        let fs_is = |p: &Path| statfs(p).ok().map(|s| s.filesystem_type());
        // A v1 or hybrid host fails the first statfs (a tmpfs there) and costs no more.
        let mounted = fs_is(root) == Some(CGROUP2_SUPER_MAGIC)
            && fs_is(Path::new("/sys/fs")).is_some_and(|t| t != CGROUP2_SUPER_MAGIC);
        if !mounted {
            return None;
        }
        let cg = read_small(Path::new("/proc/self/cgroup")).ok()?;
        only_unified(&cg).then(|| Hierarchy {
            version: Version::V2,
            mounts: vec![Mount {
                controllers: vec![],
                mountpoint: root.to_path_buf(),
                v2: true,
            }],
        })
    }

    /// Parse mountinfo text. Returns None when no cgroup hierarchy is mounted.
    pub fn from_mountinfo(text: &str) -> Option<Hierarchy> {
        let mut mounts: Vec<Mount> = Vec::new();
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            // Most mounts are not cgroups: decide on the type before splitting the line.
            if !post.starts_with("cgroup") {
                continue;
            }
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 5 || post.len() < 3 {
                continue;
            }
            let mountpoint = PathBuf::from(unescape_mountinfo(pre[4]));
            let m = match post[0] {
                "cgroup2" => Mount {
                    controllers: vec![],
                    mountpoint,
                    v2: true,
                },
                "cgroup" => {
                    let mut c: Vec<String> = post[2]
                        .split(',')
                        .filter(|o| {
                            !V1_NON_CONTROLLER_OPTS.contains(o) && !o.starts_with("release_agent=")
                        })
                        .map(String::from)
                        .collect();
                    c.sort();
                    Mount {
                        controllers: c,
                        mountpoint,
                        v2: false,
                    }
                }
                _ => continue,
            };
            // The same hierarchy may be mounted twice (bind mounts): keep the first.
            if !mounts
                .iter()
                .any(|x| x.v2 == m.v2 && x.controllers == m.controllers)
            {
                mounts.push(m);
            }
        }
        let has_v1 = mounts
            .iter()
            .any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
        let has_v2 = mounts.iter().any(|m| m.v2);
        let version = match (has_v1, has_v2) {
            (true, true) => Version::Hybrid,
            (true, false) => Version::V1,
            (false, true) => Version::V2,
            (false, false) => return None,
        };
        if version == Version::V2 {
            mounts.retain(|m| m.v2);
        }
        Some(Hierarchy { version, mounts })
    }

    /// The mount that carries `controller` (v1 name, e.g. "memory"); on v2 the unified mount.
    pub fn mount_for(&self, controller: &str) -> Option<&Mount> {
        match self.version {
            Version::V2 => self.mounts.iter().find(|m| m.v2),
            _ => self
                .mounts
                .iter()
                .find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller)),
        }
    }
}

/// Whether a /proc/PID/cgroup text names the unified hierarchy and no other: lines
/// "ID:CONTROLLERS:PATH", the unified one "0::PATH".
fn only_unified(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| l.starts_with("0::"))
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One cgroup directory of a container (or process) in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    /// Hierarchy key: "memory", "cpu,cpuacct", "name=systemd", "unified".
    pub key: String,
    /// Absolute path of the directory.
    pub path: PathBuf,
}

/// Memory of a cgroup, in bytes; None where unreadable or (max) unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub current: Option<u64>,
    /// Usage minus the inactive file cache, as `docker stats` and the kubelet count it.
    pub working_set: Option<u64>,
    pub max: Option<u64>,
}

/// The cgroup directories of one container, one per hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupSet {
    pub version: Version,
    pub dirs: Vec<Dir>,
}

/// One file write of a limit change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The controller whose hierarchy holds the file ("memory", "cpu", "pids", ...).
    pub controller: &'static str,
    pub file: &'static str,
    pub value: String,
}

/// Limits as the user asked for them, in kernel units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Limit>,
    /// Memory plus swap in bytes (docker's --memory-swap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<Limit>,
    /// CPU quota in microseconds per `cpu_period_us`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota_us: Option<Limit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Limit>,
    /// Soft memory limit: v1 memory.soft_limit_in_bytes, v2 memory.low.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<Limit>,
    /// v1 cpu.shares (converted to cpu.weight on v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// v2 cpu.weight (converted to cpu.shares on v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_weight: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// v2 io.weight, v1 blkio.weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_weight: Option<u64>,
}

/// runc's conversion of cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The inverse of `shares_to_weight`.
pub fn weight_to_shares(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    2 + (weight.clamp(1, 10_000) - 1) * 262_142 / 9999
}

pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

impl Limits {
    /// docker's default: with --memory and no --memory-swap, memory plus swap is twice the
    /// memory limit (where swap can be limited at all).
    pub fn with_default_swap(mut self, set: &CgroupSet) -> Limits {
        if let (Some(Limit::Value(m)), None) = (self.memory, self.memory_swap) {
            if set.supports_swap_limit() {
                self.memory_swap = Some(Limit::Value(m.saturating_mul(2)));
            }
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// The controllers these limits need.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut c = vec![];
        if self.memory.is_some() || self.memory_swap.is_some() {
            c.push("memory");
        }
        if self.cpu_quota_us.is_some() {
            c.push("cpu");
        }
        if self.pids.is_some() {
            c.push("pids");
        }
        if self.memory_reservation.is_some() && !c.contains(&"memory") {
            c.push("memory");
        }
        if (self.cpu_shares.is_some() || self.cpu_weight.is_some()) && !c.contains(&"cpu") {
            c.push("cpu");
        }
        if self.cpuset_cpus.is_some() {
            c.push("cpuset");
        }
        c
    }

    /// Check relations between values (memory+swap not below memory).
    pub fn validate(&self) -> Result<()> {
        if let (Some(Limit::Value(m)), Some(Limit::Value(s))) = (self.memory, self.memory_swap) {
            if s < m {
                return Err(Error::invalid(format!(
                    "invalid --memory-swap {}: it is memory plus swap and must be at least --memory {}",
                    crate::units::format_size(s),
                    crate::units::format_size(m)
                )));
            }
        }
        if self.memory_swap.is_some() && self.memory.is_none() {
            return Err(Error::invalid(
                "--memory-swap needs --memory as well (example: --memory 256M --memory-swap 512M)",
            ));
        }
        Ok(())
    }

    /// Short human summary for tables: "mem=256M pids=50 cpus=0.5".
    pub fn summary(&self) -> String {
        let mut parts = vec![];
        let f = |l: Limit| match l {
            Limit::Max => "max".to_string(),
            Limit::Value(v) => crate::units::format_size(v),
        };
        if let Some(m) = self.memory {
            parts.push(format!("mem={}", f(m)));
        }
        if let Some(s) = self.memory_swap {
            parts.push(format!("mem+swap={}", f(s)));
        }
        if let Some(q) = self.cpu_quota_us {
            let p = self.cpu_period_us.unwrap_or(DEFAULT_CPU_PERIOD_US);
            match q {
                Limit::Max => parts.push("cpus=max".into()),
                Limit::Value(q) => parts.push(format!("cpus={}", q as f64 / p as f64)),
            }
        }
        if let Some(p) = self.pids {
            parts.push(match p {
                Limit::Max => "pids=max".into(),
                Limit::Value(v) => format!("pids={v}"),
            });
        }
        parts.join(" ")
    }
}

/// Values that files read back as when unlimited (v1 prints a huge number, v2 prints "max").
fn is_unlimited(s: &str) -> bool {
    s == "max" || s == "-1" || s.parse::<u64>().is_ok_and(|v| v >= 1 << 62)
}

/// Does the value read back from a file match what was written? The kernel rounds byte limits
/// down to the page size and prints "unlimited" in its own way.
fn same_value(wanted: &str, got: &str) -> bool {
    // Multi-line files (io.weight: "default N" then per-device lines) are compared on line 1.
    let g = if wanted.contains('\n') {
        got
    } else {
        got.lines().next().unwrap_or("")
    };
    if let (Some(a), Some(b)) = (expand_cpu_list(wanted), expand_cpu_list(g)) {
        if wanted.contains(['-', ',']) || g.contains(['-', ',']) {
            return a == b;
        }
    }
    let (w, g) = (wanted.trim(), g.trim());
    if w == g {
        return true;
    }
    let (wf, gf): (Vec<&str>, Vec<&str>) = (
        w.split_whitespace().collect(),
        g.split_whitespace().collect(),
    );
    if wf.len() != gf.len() {
        return false;
    }
    wf.iter().zip(&gf).all(|(w, g)| {
        w == g
            || (is_unlimited(w) && is_unlimited(g))
            || matches!((w.parse::<u64>(), g.parse::<u64>()), (Ok(a), Ok(b)) if a & !4095 == b)
    })
}

/// Expand a CPU list ("0-2,5") into its members; None if it is not one.
pub fn expand_cpu_list(s: &str) -> Option<Vec<u32>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(vec![]);
    }
    let mut v = vec![];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b || b - a > 65536 {
                    return None;
                }
                v.extend(a..=b);
            }
            None => v.push(part.trim().parse().ok()?),
        }
    }
    v.sort();
    v.dedup();
    Some(v)
}

/// Where nsk records the parent cgroups it creates, before it creates them: only those are
/// ever removed again, and a crash right after a creation cannot leak one.
pub trait ParentLog {
    /// `p` does not exist and nsk is about to create it.
    fn will_create(&mut self, p: &Path) -> Result<()>;
    /// `p`, recorded by `will_create`, was made by someone else after all.
    fn not_created(&mut self, p: &Path);
}

impl ParentLog for Vec<PathBuf> {
    fn will_create(&mut self, p: &Path) -> Result<()> {
        self.push(p.to_path_buf());
        Ok(())
    }
    fn not_created(&mut self, p: &Path) {
        self.retain(|x| x != p);
    }
}

/// Create directory `p` of a parent cgroup, recording it first. Ok(true) when nsk made it.
pub(crate) fn create_parent(p: &Path, log: &mut dyn ParentLog) -> Result<bool> {
    let fresh = !p.exists();
    if fresh {
        log.will_create(p)?;
    }
    match fs::create_dir(p) {
        Ok(()) => {
            if !fresh {
                // Removed between the look and the mkdir: nsk's now.
                log.will_create(p)?;
            }
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            if fresh {
                log.not_created(p);
            }
            Ok(false)
        }
        Err(e) => {
            if fresh {
                log.not_created(p);
            }
            Err(e).ctx(|| format!("cannot create cgroup {}", p.display()))
        }
    }
}

/// Create `leaf` (`rel` in hierarchy `m`) and the parents it needs, set up to take tasks.
fn create_leaf(
    m: &Mount,
    leaf: &Path,
    rel: &str,
    needed: &[&str],
    log: &mut dyn ParentLog,
) -> Result<()> {
    // Only ever below the hierarchy's own mount, on a cgroup filesystem.
    if !on_cgroupfs(&m.mountpoint) || !leaf.starts_with(&m.mountpoint) {
        return Err(Error::failed(format!(
            "refusing to create {}: not below the cgroup mount {}",
            leaf.display(),
            m.mountpoint.display()
        )));
    }
    let cpuset = match m.v2 {
        true => {
            v2::prepare_parents(&m.mountpoint, rel, needed, log)?;
            None
        }
        false => v1::prepare_parents(m, rel, log)?,
    };
    match fs::create_dir(leaf) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return Err(Error::failed(format!(
                "cgroup {} already exists",
                leaf.display()
            )))
        }
        Err(e) => return Err(e).ctx(|| format!("cannot create cgroup {}", leaf.display())),
    }
    if let Some(mut c) = cpuset {
        // EACCES: the values are not a subset of the parent's. The parent read was removed
        // (left empty by another nsk) and made again by a third one, not yet filled in, or
        // its values changed since: take them (filling an empty one) and try again.
        let mut tries = 0;
        while let Err(e) = v1::set_cpuset(leaf, &c) {
            if tries == 5 || e.errno() != Some(nix::errno::Errno::EACCES) {
                return Err(e);
            }
            tries += 1;
            c = v1::init_cpuset(leaf.parent().unwrap_or(leaf))?;
        }
    }
    Ok(())
}

/// An error that means a cgroup directory went away under us (ENOENT for a path, ENODEV for a
/// file of a removed cgroup).
fn vanished(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(nix::errno::Errno::ENOENT | nix::errno::Errno::ENODEV)
    )
}

impl CgroupSet {
    /// The directories `rel` (e.g. "nsk/<id>") names in every hierarchy a container joins: on
    /// v1 and hybrid hosts each v1 hierarchy with a resource controller (not `devices`, whose
    /// rules nsk does not set, nor named ones like `name=systemd`); on v2 the one hierarchy.
    /// Nothing is created: the caller records the paths first, so a crash cannot leak them.
    pub fn planned(h: &Hierarchy, rel: &str) -> CgroupSet {
        let rel = rel.trim_start_matches('/');
        let joined = |m: &&Mount| match h.version {
            Version::V2 => m.v2,
            _ => {
                !m.v2
                    && !m
                        .controllers
                        .iter()
                        .any(|c| c.starts_with("name=") || c == "devices")
            }
        };
        let dirs = h
            .mounts
            .iter()
            .filter(joined)
            .map(|m| Dir {
                key: m.key(),
                path: m.mountpoint.join(rel),
            })
            .collect();
        CgroupSet {
            version: h.version,
            dirs,
        }
    }

    /// The ancestors of the planned directories below each hierarchy's mount (`rel` without its
    /// last component), the parents `create` makes when they are missing.
    pub fn parents(&self, rel: &str) -> Vec<PathBuf> {
        let depth = rel.split('/').filter(|c| !c.is_empty()).count();
        self.dirs
            .iter()
            .flat_map(|d| d.path.ancestors().skip(1).take(depth.saturating_sub(1)))
            .map(Path::to_path_buf)
            .collect()
    }

    /// Create the planned directories. On failure, the leaves created are removed again. The
    /// ancestors nsk has to create (and no others) go to `log`, each before it is created: only
    /// those are ever removed again.
    pub fn create(
        &self,
        h: &Hierarchy,
        rel: &str,
        needed: &[&str],
        log: &mut dyn ParentLog,
    ) -> Result<()> {
        let r = self.create_inner(h, rel, needed, log);
        if r.is_err() {
            let _ = self.remove();
        }
        r
    }

    fn create_inner(
        &self,
        h: &Hierarchy,
        rel: &str,
        needed: &[&str],
        log: &mut dyn ParentLog,
    ) -> Result<()> {
        let rel = rel.trim_start_matches('/');
        for c in needed {
            if h.mount_for(c).is_none() {
                return Err(Error::failed(format!(
                    "the {c} cgroup controller is not mounted on this host; cannot apply that limit"
                )));
            }
        }
        for d in &self.dirs {
            let Some(m) = h.mounts.iter().find(|m| m.key() == d.key) else {
                continue;
            };
            // The parent is shared: another nsk may remove it (left empty) between our making
            // sure it exists and creating the leaf, or while we set it up. Start over then.
            let mut tries = 0;
            loop {
                match create_leaf(m, &d.path, rel, needed, log) {
                    Err(e) if tries < 20 && vanished(&e) => tries += 1,
                    r => break r?,
                }
            }
        }
        Ok(())
    }

    /// Move `pid` into every directory of the set.
    pub fn attach(&self, pid: i32) -> Result<()> {
        for d in &self.dirs {
            let f = d.path.join("cgroup.procs");
            fs::write(&f, pid.to_string())
                .ctx(|| format!("cannot move {pid} into {}", f.display()))?;
        }
        Ok(())
    }

    /// The `tasks` files of the set's v1 directories, open for writing, in the set's order: a
    /// process that is handed them joins those cgroups with `join_self_v1`, from anywhere (the
    /// container's init, once the host's cgroupfs is out of its sight). Write access to these
    /// files, and to nothing else of the host's cgroupfs, is what it gets.
    pub fn v1_tasks_files(&self) -> Result<Vec<std::os::fd::OwnedFd>> {
        self.v1_dirs()
            .map(|d| {
                let f = d.join("tasks");
                nix::fcntl::open(
                    &f,
                    nix::fcntl::OFlag::O_WRONLY
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ctx(|| format!("cannot open {}", f.display()))
            })
            .collect()
    }

    /// Check that the `tasks` files `v1_tasks_files` opened are still those at the set's paths
    /// (same file by device and inode): a directory renamed or replaced in between would have
    /// taken a process that joined through them under a name nsk does not know.
    pub fn check_tasks_files(&self, files: &[std::os::fd::OwnedFd]) -> Result<()> {
        for (d, f) in self.v1_dirs().zip(files) {
            let opened = nix::sys::stat::fstat(f).ctx(|| format!("cannot stat {}", d.display()))?;
            let now = nix::sys::stat::lstat(&d.join("tasks")).ok();
            if now.is_none_or(|n| (n.st_dev, n.st_ino) != (opened.st_dev, opened.st_ino)) {
                return Err(Error::failed(format!(
                    "cgroup {} was renamed or replaced while the container started",
                    d.display()
                )));
            }
        }
        Ok(())
    }

    /// Move the calling single-threaded process into the set's v1 cgroups by writing "0" to
    /// their `tasks` files (`v1_tasks_files`, opened by whoever could reach them). The kernel
    /// moves a task that moves itself without taking the global threadgroup lock, whose RCU
    /// grace period makes a `cgroup.procs` write take milliseconds.
    pub fn join_self_v1(&self, tasks: &[std::os::fd::OwnedFd]) -> Result<()> {
        for (d, fd) in self.v1_dirs().zip(tasks) {
            nix::unistd::write(fd, b"0").ctx(|| format!("cannot join cgroup {}", d.display()))?;
        }
        Ok(())
    }

    /// The set's v1 directories (all but the unified one), in order.
    pub fn v1_dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs
            .iter()
            .filter(|d| d.key != "unified")
            .map(|d| d.path.as_path())
    }
}

impl CgroupSet {
    /// The one directory a process joins to be in every cgroup of the set (and that clone3 can
    /// start a child in): the unified directory on pure v2. None on v1 and hybrid hosts, where
    /// a process joins each hierarchy.
    pub fn join_dir(&self) -> Option<&Path> {
        self.v2_dir().filter(|_| self.version == Version::V2)
    }

    /// The cgroup2 directory of the set, if any (pure v2, or the unified mount of a hybrid host).
    pub fn v2_dir(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.key == "unified")
            .map(|d| d.path.as_path())
    }

    /// What says the freezer holds these cgroups ("freezer.state FROZEN", "cgroup.freeze 1"):
    /// the v1 freezer, or the cgroup2 core freezer (which a hybrid host has too). None when
    /// nothing is frozen or freezing.
    pub fn frozen(&self) -> Option<String> {
        if let Some(d) = self.v2_dir() {
            let frozen = read_keyed(&d.join("cgroup.events"), "frozen") == Some(1);
            let freezing =
                fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
            if frozen || freezing {
                return Some(format!(
                    "{} {}",
                    if freezing {
                        "cgroup.freeze"
                    } else {
                        "cgroup.events frozen"
                    },
                    1
                ));
            }
        }
        let d = self
            .dirs
            .iter()
            .find(|d| d.key != "unified" && d.key.split(',').any(|c| c == "freezer"))?;
        let st = fs::read_to_string(d.path.join("freezer.state")).ok()?;
        let st = st.trim();
        (st == "FROZEN" || st == "FREEZING").then(|| format!("freezer.state {st}"))
    }

    /// The CPUs the parent cgroup allows a child (v1 its cpuset.cpus, v2 its
    /// cpuset.cpus.effective); None where unreadable or empty.
    pub fn parent_cpus(&self) -> Option<Vec<u32>> {
        let parent = self.dir_for("cpuset")?.parent()?;
        let f = match self.version {
            Version::V2 => "cpuset.cpus.effective",
            _ => "cpuset.cpus",
        };
        expand_cpu_list(&first_line(parent.join(f))).filter(|a| !a.is_empty())
    }

    /// Check that `writes` (from `plan`) can be made in their order from the current values.
    pub fn check_order(&self, writes: &[Write]) -> Result<()> {
        match self.version {
            Version::V2 => Ok(()),
            _ => v1::check_order(self, writes),
        }
    }

    /// Why `w`'s file cannot be read: its controller is not mounted (v1) or not enabled for the
    /// cgroup (v2, where the file exists only once the parent's subtree_control enables it).
    pub fn unreadable(&self, w: &Write) -> Error {
        let c = w.controller;
        let Some(dir) = self.dir_for(c) else {
            return Error::failed(format!(
                "the {c} cgroup controller is not mounted on this host"
            ));
        };
        if self.version == Version::V2 {
            let on = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if !on.split_whitespace().any(|x| x == c) {
                return Error::failed(format!(
                    "the {c} controller is not enabled for cgroup {} (its cgroup.controllers: {}); \
                     the parent's cgroup.subtree_control must enable it",
                    dir.display(),
                    if on.trim().is_empty() {
                        "none"
                    } else {
                        on.trim()
                    }
                ));
            }
        }
        let p = dir.join(w.file);
        let what = || format!("cannot read {}", p.display());
        fs::read_to_string(&p)
            .ctx(what)
            .err()
            .unwrap_or_else(|| Error::failed(what()))
    }

    /// Memory usage, working set and limit, as `ps --all` and `top` show them.
    pub fn memory(&self) -> Memory {
        let Some(d) = self.dir_for("memory") else {
            return Memory::default();
        };
        let (cur, max, inactive) = match self.version {
            Version::V2 => ("memory.current", "memory.max", "inactive_file"),
            _ => (
                "memory.usage_in_bytes",
                "memory.limit_in_bytes",
                "total_inactive_file",
            ),
        };
        let read = |f: &str| fs::read_to_string(d.join(f)).ok();
        let current = read(cur).and_then(|s| s.trim().parse().ok());
        Memory {
            current,
            working_set: report::working_set(current, read("memory.stat"), inactive),
            max: read(max).and_then(|s| report::parse_limit(s.trim())),
        }
    }

    /// The directory holding `controller`'s files.
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        let key_has = |k: &str| k.split(',').any(|c| c == controller);
        match self.version {
            Version::V2 => self.dirs.iter().find(|d| d.key == "unified"),
            _ => self
                .dirs
                .iter()
                .find(|d| d.key != "unified" && key_has(&d.key)),
        }
        .map(|d| d.path.as_path())
    }

    /// The file writes that set `l` here, in a safe order.
    pub fn plan(&self, l: &Limits) -> Result<Vec<Write>> {
        match self.version {
            Version::V2 => v2::plan(self, l),
            _ => v1::plan(self, l),
        }
    }

    /// Apply writes in order, reading each value back. If one fails, the values already written
    /// are put back and the error names the file, the value and why.
    pub fn apply(&self, writes: &[Write]) -> Result<()> {
        let mut done: Vec<(PathBuf, String)> = vec![];
        for w in writes {
            let r = self.apply_one(w, &mut done);
            if let Err(e) = r {
                for (path, old) in done.iter().rev() {
                    let _ = write_value(path, old);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn apply_one(&self, w: &Write, done: &mut Vec<(PathBuf, String)>) -> Result<()> {
        let dir = self.dir_for(w.controller).ok_or_else(|| {
            Error::failed(format!(
                "the {} cgroup controller is not available",
                w.controller
            ))
        })?;
        let path = dir.join(w.file);
        let old = read_small(&path).ctx(|| format!("cannot read {}", path.display()))?;
        write_value(&path, &w.value).map_err(|e| Error::cgroup_write(&path, &w.value, e))?;
        done.push((path.clone(), old.trim().to_string()));
        let got = read_small(&path).ctx(|| format!("cannot read back {}", path.display()))?;
        if !same_value(&w.value, &got) {
            return Err(Error::failed(format!(
                "wrote '{}' to {} but it reads back as '{}'",
                w.value,
                path.display(),
                got.trim()
            )));
        }
        Ok(())
    }

    /// Whether memory plus swap can be limited here (v1 memsw files, v2 memory.swap.max).
    pub fn supports_swap_limit(&self) -> bool {
        let file = match self.version {
            Version::V2 => "memory.swap.max",
            _ => "memory.memsw.limit_in_bytes",
        };
        self.dir_for("memory")
            .is_some_and(|d| d.join(file).exists())
    }

    /// How many times the kernel OOM-killed a process in this cgroup (None if unknown).
    pub fn oom_kills(&self) -> Option<u64> {
        let dir = self.dir_for("memory")?;
        match self.version {
            Version::V2 => read_keyed(&dir.join("memory.events"), "oom_kill"),
            _ => read_keyed(&dir.join("memory.oom_control"), "oom_kill"),
        }
    }

    /// Check a set read back from a state file before anything acts on it: every directory must
    /// be `<mount point of its hierarchy on this host>/<parent>/<id>`, the cgroup nsk made for
    /// the container with that id under that parent, on a cgroup filesystem when it exists.
    pub fn check_made_for(&self, parent: &str, id: &str) -> Result<()> {
        crate::container::config::validate_cgroup_parent(parent)?;
        if !crate::container::state::valid_id(id) {
            return Err(Error::failed(format!("'{id}' is not a container id")));
        }
        let h = Hierarchy::detect()?;
        if self.version != h.version {
            return Err(Error::failed(format!(
                "its cgroups were made on a cgroup {} host, this one is {}",
                self.version.as_str(),
                h.version.as_str()
            )));
        }
        for d in &self.dirs {
            let Some(m) = h.mounts.iter().find(|m| m.key() == d.key) else {
                return Err(Error::failed(format!(
                    "it names cgroup {} of hierarchy '{}', which this host does not mount",
                    d.path.display(),
                    d.key
                )));
            };
            let want = m.mountpoint.join(parent).join(id);
            if d.path != want {
                return Err(Error::failed(format!(
                    "it names cgroup {}, not the one nsk made for it ({})",
                    d.path.display(),
                    want.display()
                )));
            }
            if d.path.exists() && !on_cgroupfs(&d.path) {
                return Err(Error::failed(format!(
                    "{} is not on a cgroup filesystem",
                    d.path.display()
                )));
            }
        }
        Ok(())
    }

    /// Remove every directory (leaf first), waiting briefly for dying tasks to leave. Missing
    /// directories are fine: removal is idempotent. Empty parents named `parent` are removed too.
    pub fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = rmdir_retry(&d.path) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Remove the ancestors of each leaf that `made_by_nsk` says nsk created, deepest first,
    /// while they are empty (they are shared by all containers under the same parent). Returns
    /// those removed.
    pub fn remove_parents(&self, made_by_nsk: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut gone = vec![];
        for d in &self.dirs {
            for p in d.path.ancestors().skip(1) {
                if !made_by_nsk(p) {
                    break;
                }
                // Recorded, but never made (nsk was killed between the two): gone already.
                if fs::symlink_metadata(p).is_err_and(|e| e.raw_os_error() == Some(libc::ENOENT)) {
                    gone.push(p.to_path_buf());
                    continue;
                }
                if !on_cgroupfs(p) {
                    break;
                }
                match fs::remove_dir(p) {
                    Ok(()) => gone.push(p.to_path_buf()),
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => gone.push(p.to_path_buf()),
                    Err(_) => break,
                }
            }
        }
        gone
    }
}

/// The container's own view of its cgroups, read-only (tools and runtimes size themselves from
/// it), mounted from inside the container's cgroup namespace. Best effort: a user namespace may
/// not mount v1 hierarchies.
pub fn mount_view(h: &Hierarchy) {
    let base = Path::new("/sys/fs/cgroup");
    let ro = nix::mount::MsFlags::MS_NOSUID
        | nix::mount::MsFlags::MS_NODEV
        | nix::mount::MsFlags::MS_NOEXEC
        | nix::mount::MsFlags::MS_RDONLY;
    if h.version == Version::V2 {
        let _ = nix::mount::mount(Some("cgroup2"), base, Some("cgroup2"), ro, None::<&str>);
        return;
    }
    if nix::mount::mount(
        Some("tmpfs"),
        base,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )
    .is_err()
    {
        return;
    }
    for m in &h.mounts {
        let name = m
            .mountpoint
            .file_name()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| m.key().into());
        let target = base.join(name);
        if fs::create_dir(&target).is_err() {
            continue;
        }
        let (fstype, data) = if m.v2 {
            ("cgroup2", String::new())
        } else {
            ("cgroup", m.controllers.join(","))
        };
        let _ = nix::mount::mount(
            Some("cgroup"),
            &target,
            Some(fstype),
            ro,
            Some(data.as_str()),
        );
    }
    let _ = nix::mount::mount(
        None::<&str>,
        base,
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT
            | nix::mount::MsFlags::MS_RDONLY
            | nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        None::<&str>,
    );
}

/// The text of a small cgroup file (a value, a short list): opened and read to its end, with no
/// stat for a size (cgroup files report none).
pub(crate) fn read_small(p: &Path) -> std::io::Result<String> {
    use std::io::{ErrorKind, Read};
    let mut f = fs::File::open(p)?;
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 512]);
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(buf).map_err(|_| ErrorKind::InvalidData.into())
}

/// Is `p` on a cgroup filesystem (v1 or v2)? Paths read back from state files are acted on only
/// when they are, so a damaged or forged file cannot point nsk at anything else.
pub fn on_cgroupfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| is_cgroupfs(&s))
}

fn is_cgroupfs(s: &nix::sys::statfs::Statfs) -> bool {
    use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
    let t = s.filesystem_type();
    t == CGROUP_SUPER_MAGIC || t == CGROUP2_SUPER_MAGIC
}

fn rmdir_retry(p: &Path) -> Result<()> {
    match nix::sys::statfs::statfs(p) {
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Ok(s) if is_cgroupfs(&s) => {}
        _ => {
            return Err(Error::failed(format!(
                "refusing to remove {}: not a cgroup directory",
                p.display()
            )))
        }
    }
    let mut delay = std::time::Duration::from_millis(1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e).ctx(|| format!("cannot remove cgroup {}", p.display())),
        }
    }
}

/// The first line of a cgroup file, trimmed ("" when unreadable).
pub fn first_line(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p)
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Write one value to a cgroup file in a single write(2), newline-terminated. An empty value is
/// written as a lone newline: that is how the kernel is told "empty" (a v2 `cpuset.cpus` that
/// inherits its parent's CPUs), where writing zero bytes would change nothing.
pub fn write_value(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(format!("{value}\n").as_bytes())
}

/// Read `key N` from a flat keyed file (memory.events, memory.oom_control, memory.stat).
pub fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    parse_keyed(&text, key)
}

pub fn parse_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_hybrid() {
        let h = Hierarchy::from_mountinfo(HYBRID).unwrap();
        assert_eq!(h.version, Version::Hybrid);
        assert_eq!(h.mounts.len(), 7);
        assert_eq!(
            h.mount_for("memory").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/memory")
        );
        assert_eq!(h.mount_for("cpuset").unwrap().key(), "cpuset");
        assert_eq!(h.mounts[5].key(), "name=systemd");
        assert_eq!(h.mounts[6].key(), "unified");
        let set = CgroupSet::planned(&h, "nsk/abc");
        let keys: Vec<&str> = set.dirs.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["cpu", "cpuacct", "cpuset", "memory", "pids"]);
        assert_eq!(
            set.dir_for("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/nsk/abc")
        );
        assert_eq!(set.v2_dir(), None);
    }

    #[test]
    fn only_a_cgroup_list_of_the_unified_hierarchy_alone_is_pure_v2() {
        assert!(only_unified("0::/user.slice/session-1.scope\n"));
        assert!(only_unified("0::/\n"));
        // Hybrid and v1: controllers' hierarchies, or a named one, besides the unified.
        assert!(!only_unified(
            "12:pids:/\n1:name=systemd:/init.scope\n0::/init.scope\n"
        ));
        assert!(!only_unified("1:name=systemd:/\n0::/\n"));
        assert!(!only_unified(
            "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"
        ));
        assert!(!only_unified(""));
    }

    #[test]
    fn detects_v1_and_v2() {
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Hierarchy::from_mountinfo(&v1).unwrap().version, Version::V1);
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::from_mountinfo(v2).unwrap();
        assert_eq!(h.version, Version::V2);
        assert_eq!(
            h.mount_for("memory").unwrap().mountpoint,
            Path::new("/sys/fs/cgroup")
        );
        assert!(Hierarchy::from_mountinfo("1 2 0:1 / / rw - ext4 /dev/vda rw\n").is_none());
        let combined =
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n";
        let h = Hierarchy::from_mountinfo(combined).unwrap();
        assert_eq!(h.mounts[0].key(), "cpu,cpuacct");
        assert_eq!(
            h.mounts[0].mountpoint,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
    }

    #[test]
    fn readback_comparison() {
        assert!(same_value("33554432", "33554432\n"));
        assert!(same_value("33554433", "33554432"));
        assert!(same_value("-1", "9223372036854771712"));
        assert!(same_value("max", "max\n"));
        assert!(same_value("50000 100000", "50000 100000\n"));
        assert!(same_value("max 100000", "max 100000"));
        assert!(!same_value("50", "max"));
        assert!(!same_value("50000 100000", "max 100000"));
        assert!(same_value("0,1", "0-1\n"));
        assert!(!same_value("0", "0-1"));
        assert!(same_value("default 200", "default 200\n8:0 100\n"));
        assert_eq!(expand_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(expand_cpu_list("x"), None);
    }

    /// `tasks` files opened by path are still those of the set's directories, and a directory
    /// renamed or replaced since is told.
    #[test]
    fn tasks_files_are_checked_against_their_paths() {
        let t = tempfile::tempdir().unwrap();
        let dirs: Vec<Dir> = ["memory", "pids"]
            .iter()
            .map(|k| {
                let path = t.path().join(k).join("c1");
                fs::create_dir_all(&path).unwrap();
                fs::write(path.join("tasks"), "").unwrap();
                Dir {
                    key: k.to_string(),
                    path,
                }
            })
            .collect();
        let set = CgroupSet {
            version: Version::V1,
            dirs,
        };
        let files = set.v1_tasks_files().unwrap();
        set.check_tasks_files(&files).unwrap();
        let pids = t.path().join("pids");
        fs::rename(pids.join("c1"), pids.join("c1-moved")).unwrap();
        let e = set.check_tasks_files(&files).unwrap_err().to_string();
        assert!(e.contains("pids/c1 was renamed or replaced"), "{e}");
        fs::create_dir(pids.join("c1")).unwrap();
        fs::write(pids.join("c1/tasks"), "").unwrap();
        assert!(
            set.check_tasks_files(&files).is_err(),
            "a new directory of the name"
        );
    }

    #[test]
    fn keyed_files() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(parse_keyed(t, "oom_kill"), Some(3));
        assert_eq!(parse_keyed(t, "oom"), None);
    }

    #[test]
    fn shares_and_weights_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10000), 262144);
        assert_eq!(weight_to_shares(100), 2597);
    }

    #[test]
    fn limits_validate() {
        let l = Limits {
            memory_swap: Some(Limit::Value(1 << 20)),
            ..Default::default()
        };
        assert!(l
            .validate()
            .unwrap_err()
            .to_string()
            .contains("needs --memory"));
        let l = Limits {
            memory: Some(Limit::Value(2 << 20)),
            memory_swap: Some(Limit::Value(1 << 20)),
            ..Default::default()
        };
        assert!(l
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least --memory 2M"));
    }

    fn fixture(files: &[(&str, &str, &str)]) -> (tempfile::TempDir, Vec<Dir>) {
        let t = tempfile::tempdir().unwrap();
        let mut dirs: Vec<Dir> = vec![];
        for (key, file, value) in files {
            let d = t.path().join(key.replace(',', "_"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join(file), format!("{value}\n")).unwrap();
            if !dirs.iter().any(|x| x.key == *key) {
                dirs.push(Dir {
                    key: key.to_string(),
                    path: d,
                });
            }
        }
        (t, dirs)
    }

    fn read(d: &[Dir], key: &str, file: &str) -> String {
        let dir = &d.iter().find(|x| x.key == key).unwrap().path;
        fs::read_to_string(dir.join(file))
            .unwrap()
            .trim()
            .to_string()
    }

    const UNLIMITED_V1: &str = "9223372036854771712";

    fn run_limits() -> Limits {
        Limits {
            memory: Some(Limit::Value(256 << 20)),
            memory_swap: Some(Limit::Value(512 << 20)),
            cpu_quota_us: Some(Limit::Value(50_000)),
            cpu_period_us: Some(100_000),
            pids: Some(Limit::Value(50)),
            ..Default::default()
        }
    }

    #[test]
    fn v2_plan_and_apply_on_a_fixture_tree() {
        let (_t, dirs) = fixture(&[
            ("unified", "memory.max", "max"),
            ("unified", "memory.swap.max", "max"),
            ("unified", "cpu.max", "max 100000"),
            ("unified", "pids.max", "max"),
        ]);
        let set = CgroupSet {
            version: Version::V2,
            dirs,
        };
        let w = set.plan(&run_limits()).unwrap();
        let got: Vec<(&str, &str)> = w.iter().map(|w| (w.file, w.value.as_str())).collect();
        assert_eq!(
            got,
            [
                ("memory.max", "268435456"),
                ("memory.swap.max", "268435456"),
                ("cpu.max", "50000 100000"),
                ("pids.max", "50")
            ],
            "docker's memory-swap is memory plus swap: v2 swap.max gets the difference"
        );
        set.apply(&w).unwrap();
        assert_eq!(read(&set.dirs, "unified", "cpu.max"), "50000 100000");
        assert_eq!(read(&set.dirs, "unified", "memory.swap.max"), "268435456");
        let w = set
            .plan(&Limits {
                memory: Some(Limit::Max),
                memory_swap: Some(Limit::Max),
                pids: Some(Limit::Max),
                ..Default::default()
            })
            .unwrap();
        set.apply(&w).unwrap();
        assert_eq!(read(&set.dirs, "unified", "memory.max"), "max");
        assert_eq!(read(&set.dirs, "unified", "pids.max"), "max");
    }

    #[test]
    fn v1_plan_orders_memory_and_memsw() {
        let (_t, dirs) = fixture(&[
            ("memory", "memory.limit_in_bytes", UNLIMITED_V1),
            ("memory", "memory.memsw.limit_in_bytes", UNLIMITED_V1),
            ("cpu,cpuacct", "cpu.cfs_period_us", "100000"),
            ("cpu,cpuacct", "cpu.cfs_quota_us", "-1"),
            ("pids", "pids.max", "max"),
        ]);
        let set = CgroupSet {
            version: Version::V1,
            dirs,
        };
        // Lowering from unlimited: memory first, then memory+swap.
        let w = set.plan(&run_limits()).unwrap();
        let files: Vec<&str> = w.iter().map(|w| w.file).collect();
        assert_eq!(
            files,
            [
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "cpu.cfs_period_us",
                "cpu.cfs_quota_us",
                "pids.max"
            ]
        );
        set.apply(&w).unwrap();
        assert_eq!(
            read(&set.dirs, "memory", "memory.memsw.limit_in_bytes"),
            "536870912"
        );
        assert_eq!(read(&set.dirs, "cpu,cpuacct", "cpu.cfs_quota_us"), "50000");
        // Raising memory above the current memory+swap: memory+swap must go first.
        let up = Limits {
            memory: Some(Limit::Value(1 << 30)),
            memory_swap: Some(Limit::Value(2 << 30)),
            ..Default::default()
        };
        let files: Vec<&str> = set.plan(&up).unwrap().iter().map(|w| w.file).collect();
        assert_eq!(
            files,
            ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        );
        // Unlimited is -1 on v1.
        let w = set
            .plan(&Limits {
                cpu_quota_us: Some(Limit::Max),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(w[1].value, "-1");
    }

    #[test]
    fn a_failed_write_rolls_back_the_ones_before_it() {
        let (_t, dirs) = fixture(&[
            ("unified", "memory.max", "max"),
            ("unified", "cpu.max", "max 100000"),
        ]);
        // pids.max is a directory here: writing it fails after memory.max and cpu.max.
        fs::create_dir(dirs[0].path.join("pids.max")).unwrap();
        let set = CgroupSet {
            version: Version::V2,
            dirs,
        };
        let w = set
            .plan(&Limits {
                memory: Some(Limit::Value(1 << 20)),
                cpu_quota_us: Some(Limit::Value(20_000)),
                cpu_period_us: Some(100_000),
                pids: Some(Limit::Value(9)),
                ..Default::default()
            })
            .unwrap();
        let e = set.apply(&w).unwrap_err().to_string();
        assert!(e.contains("pids.max"), "{e}");
        assert_eq!(read(&set.dirs, "unified", "memory.max"), "max");
        assert_eq!(read(&set.dirs, "unified", "cpu.max"), "max 100000");
    }

    #[test]
    fn swap_limits_need_swap_accounting() {
        let (_t, dirs) = fixture(&[("memory", "memory.limit_in_bytes", UNLIMITED_V1)]);
        let set = CgroupSet {
            version: Version::V1,
            dirs,
        };
        assert!(!set.supports_swap_limit());
        let l = Limits {
            memory: Some(Limit::Value(1 << 20)),
            ..Default::default()
        }
        .with_default_swap(&set);
        assert_eq!(
            l.memory_swap, None,
            "no default swap limit where swap is not accounted"
        );
        let e = set
            .plan(&Limits {
                memory: Some(Limit::Value(1 << 20)),
                memory_swap: Some(Limit::Value(2 << 20)),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("swap accounting is off"), "{e}");
    }
}
