//! `nsk top`: every container of the host (all runtimes and nsk's own), one row each, with rates
//! from two reads of its cgroups (through the cgroup module: v1, hybrid and v2 alike) and of its
//! init's /proc/PID/net/dev (the container's network namespace, no setns).

use crate::cgroup::probe::{read_into, Held, Probe, PSI};
use crate::cgroup::{report, Hierarchy};
pub use crate::cli::SortKey;
use crate::container::state::Store;
use crate::error::{Error, Result};
use crate::process::ProcDir;
use crate::runtime::Identity;
use crate::scan::Identifier;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// One read of one container.
#[derive(Debug, Clone)]
pub struct Sample {
    pub runtime: String,
    pub id: String,
    pub name: String,
    pub pid: i32,
    pub at: Instant,
    pub cpu_usec: Option<u64>,
    pub cpus_limit: Option<f64>,
    pub mem_ws: Option<u64>,
    pub mem_limit: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    pub io: Option<(u64, u64)>,
    pub net: Option<(u64, u64)>,
    pub psi: BTreeMap<String, Option<f64>>,
    pub oom_kills: Option<u64>,
    pub high: Option<u64>,
    pub unreadable: Vec<String>,
}

/// One row: a sample and the rates since the previous one.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub runtime: String,
    pub id: String,
    pub pid: i32,
    /// Percent of one core.
    pub cpu_percent: Option<f64>,
    /// Percent of the container's CPU limit (of the host's CPUs without one).
    pub cpu_limit_percent: Option<f64>,
    pub cpus_limit: Option<f64>,
    pub memory_working_set: Option<u64>,
    pub memory_limit: Option<u64>,
    pub memory_percent: Option<f64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    pub block_read_bps: Option<f64>,
    pub block_write_bps: Option<f64>,
    pub net_rx_bps: Option<f64>,
    pub net_tx_bps: Option<f64>,
    /// PSI `some avg10` per resource (cpu, memory, io); null where unreadable (cgroup v1).
    pub psi_some_avg10: BTreeMap<String, Option<f64>>,
    pub oom_kills: Option<u64>,
    /// An OOM kill or memory.high throttling happened since the previous read.
    pub memory_event: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

fn host_cpus() -> f64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0)
}

pub use crate::cgroup::probe::parse_io;

/// Received and sent bytes of every interface but lo, from /proc/PID/net/dev.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let mut f = rest
            .split_whitespace()
            .map(|x| x.parse::<u64>().unwrap_or(0));
        if let (Some(r), Some(t)) = (f.next(), f.nth(7)) {
            rx += r;
            tx += t;
        }
    }
    (rx, tx)
}

/// A full scan of /proc (and of the runtimes' files) at least this often; in between only new
/// processes are looked at.
const FULL_SCAN: Duration = Duration::from_secs(30);
/// Refreshes during which a process that belongs to no container is looked at again: a
/// runtime moves a container's first process into its cgroups just after starting it.
const YOUNG: u64 = 2;

/// What stays the same about a container between refreshes.
struct Tracked {
    name: String,
    pid: i32,
    start: u64,
    probe: Probe,
    /// Where there is no pidfd: its first process's /proc directory, held open (reads through
    /// it fail once that process has exited, even if its PID is reused), else its path.
    proc: Option<ProcDir>,
    /// A pidfd on the first process, where the kernel has them: one poll of all of them says
    /// which have exited.
    pidfd: Option<OwnedFd>,
    /// /proc/PID/net/dev, where the container has a network namespace of its own.
    net_dev: Option<Held>,
}

/// A process seen by the last scan: in which refresh it was first seen, and whether it belongs
/// to a container.
#[derive(Clone, Copy)]
struct Seen {
    first: u64,
    container: bool,
}

/// Reads every container once a refresh. Containers are found once and kept (name, cgroup file
/// paths, network namespace); a refresh reads /proc's directory and only the processes new since
/// the last one, then each container's figures. A full scan runs every 30 seconds and whenever
/// a container's first process is gone.
pub struct Sampler<'a> {
    store: &'a Store,
    h: &'a Hierarchy,
    only: Option<Vec<Key>>,
    ident: Option<Identifier>,
    /// Each /proc/PID/cgroup text seen, and the container it names.
    known: HashMap<String, Option<Identity>>,
    seen: HashMap<i32, Seen>,
    tracked: BTreeMap<Key, Tracked>,
    refresh: u64,
    last_full: Option<Instant>,
    own_net: Option<u64>,
    /// Descriptors the tracked containers may hold; past them, files are opened on each read.
    fd_budget: usize,
    /// A container's first process exited: scan everything next time.
    lost: bool,
    buf: Vec<u8>,
}

type Key = (String, String);

fn key(i: &Identity) -> Key {
    (i.runtime.clone(), i.id.clone())
}

/// Start time and liveness from a /proc/PID/stat file, through `buf`.
fn started_at(stat: &Path, buf: &mut Vec<u8>) -> Option<u64> {
    let st = crate::process::parse_stat(read_into(stat, buf, &mut vec![])?)?;
    (st.state != 'Z' && st.state != 'X').then_some(st.start_time)
}

/// The text of /proc/PID/`rel` through a held /proc directory.
fn proc_text<'b>(d: &ProcDir, rel: &str, buf: &'b mut Vec<u8>) -> Option<&'b str> {
    let fd = d.open_at(rel, nix::fcntl::OFlag::O_RDONLY).ok()?;
    std::str::from_utf8(crate::cgroup::probe::pread_all(&fd, buf).ok()?).ok()
}

impl<'a> Sampler<'a> {
    pub fn new(store: &'a Store, h: &'a Hierarchy, only: Option<Vec<(String, String)>>) -> Self {
        // Every container holds a few descriptors (its cgroup directories, its /proc directory,
        // a pidfd): take the soft limit up to the hard one, as a host with 1,000 containers needs.
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let mut fds = 1024;
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            fds = soft;
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                fds = hard;
            }
        }
        Sampler {
            store,
            h,
            only,
            ident: None,
            known: HashMap::new(),
            seen: HashMap::new(),
            tracked: BTreeMap::new(),
            refresh: 0,
            last_full: None,
            own_net: crate::process::ns_inode(std::process::id() as i32, "net"),
            // What discovery itself opens (state files, /proc) stays below the limit.
            fd_budget: (fds as usize).saturating_sub(256),
            lost: false,
            buf: Vec::with_capacity(8192),
        }
    }

    fn wanted(&self, k: &Key) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(k))
    }

    /// Find new containers and forget those whose first process is gone.
    fn discover(&mut self) -> Result<()> {
        self.refresh += 1;
        let rd = std::fs::read_dir("/proc").map_err(|e| Error::Io {
            what: "cannot read /proc".into(),
            source: e,
        })?;
        let pids: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .collect();
        let lost = {
            let now: std::collections::HashSet<i32> = pids.iter().copied().collect();
            self.tracked.values().any(|t| !now.contains(&t.pid))
        };
        // A container whose first process is gone may live on in its other processes.
        let lost = lost || std::mem::take(&mut self.lost);
        let full = lost || self.last_full.is_none_or(|t| t.elapsed() >= FULL_SCAN);
        let mut rebuilt = false;
        if full {
            self.ident = Some(Identifier::new(self.store));
            self.known.clear();
            // Processes of containers are known for good (unless one lost its first process);
            // every other one is looked at again.
            if lost {
                self.seen.clear();
            } else {
                self.seen.retain(|_, s| s.container);
            }
            self.last_full = Some(Instant::now());
            rebuilt = true;
        }
        // Containers not tracked yet: their earliest process, and its cgroup text.
        let mut new: BTreeMap<Key, (u64, i32, Identity, String)> = BTreeMap::new();
        let mut found: std::collections::HashSet<Key> = Default::default();
        let mut seen = HashMap::with_capacity(pids.len());
        for pid in pids {
            let prev = self.seen.remove(&pid);
            if let Some(s) = prev {
                if s.container || self.refresh - s.first > YOUNG {
                    seen.insert(pid, s);
                    continue;
                }
            }
            let first = prev.map_or(self.refresh, |s| s.first);
            let Some(text) = read_into(
                Path::new(&format!("/proc/{pid}/cgroup")),
                &mut self.buf,
                &mut vec![],
            )
            .map(str::to_string) else {
                continue;
            };
            let id = match self.known.get(&text) {
                Some(id) => id.clone(),
                None => {
                    let ident = self
                        .ident
                        .get_or_insert_with(|| Identifier::new(self.store));
                    let mut id = ident.of_cgroup(&text);
                    // A cgroup never seen before may be a container started since the runtimes'
                    // files were read: read them again, once a refresh.
                    if id.is_none() && !rebuilt {
                        let mut fresh = Identifier::new(self.store);
                        id = fresh.of_cgroup(&text);
                        self.ident = Some(fresh);
                        rebuilt = true;
                    }
                    self.known.insert(text.clone(), id.clone());
                    id
                }
            };
            seen.insert(
                pid,
                Seen {
                    first,
                    container: id.is_some(),
                },
            );
            let Some(id) = id else { continue };
            let k = key(&id);
            if self.tracked.contains_key(&k) || !self.wanted(&k) {
                continue;
            }
            let Some(start) = started_at(Path::new(&format!("/proc/{pid}/stat")), &mut self.buf)
            else {
                continue;
            };
            found.insert(k.clone());
            match new.get(&k) {
                Some((s, p, ..)) if (*s, *p) <= (start, pid) => {}
                _ => {
                    new.insert(k, (start, pid, id, text));
                }
            }
        }
        self.seen = seen;
        let Some(ident) = self.ident.as_ref() else {
            return Ok(());
        };
        for (k, (start, pid, mut id, text)) in new {
            let first = crate::scan::Proc {
                pid,
                start,
                inodes: [None; 8],
                cgroup: text,
            };
            ident.finish(&mut id, &first, Some(self.h));
            if let Some(t) = self.track(&id, pid, start, &first.cgroup) {
                self.tracked.insert(k, t);
            }
        }
        // nsk containers whose cgroups do not name them (none at all, rootless): by their state.
        if full {
            let mut extra = vec![];
            for st in ident.nsk_states() {
                let k = ("nsk".to_string(), st.id.clone());
                if self.tracked.contains_key(&k) || found.contains(&k) || !self.wanted(&k) {
                    continue;
                }
                if let (Some(pid), Some(start), true) = (st.pid, st.start_time, st.is_running()) {
                    let cg =
                        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                    extra.push((
                        k,
                        crate::target::nsk_identity(st, pid, start),
                        pid,
                        start,
                        cg,
                    ));
                }
            }
            for (k, id, pid, start, cg) in extra {
                if let Some(t) = self.track(&id, pid, start, &cg) {
                    self.tracked.insert(k, t);
                }
            }
        }
        Ok(())
    }

    /// None when the process is gone already. Out of descriptors, it makes do with paths.
    fn track(&self, i: &Identity, pid: i32, start: u64, cgroup: &str) -> Option<Tracked> {
        // A probe's files, net/dev, and a pidfd or /proc directory.
        let hold = (self.tracked.len() + 1) * (crate::cgroup::probe::HELD + 2) <= self.fd_budget;
        let proc = ProcDir::open(pid).ok();
        let pidfd = hold.then(|| crate::sys::pidfd_open(pid).ok()).flatten();
        // The handles are of the process found only if it still is the one that started then.
        let stat = format!("/proc/{pid}/stat");
        let now = match &proc {
            Some(d) => d.stat().ok()?.start_time,
            None => started_at(Path::new(&stat), &mut vec![])?,
        };
        if now != start {
            return None;
        }
        let (set, paths) = report::of_process(self.h, cgroup);
        let net = match &proc {
            Some(d) => d.ns_inode(crate::ns::kind("net")?, &mut [0u8; 64]),
            None => crate::process::ns_inode(pid, "net"),
        };
        let dev = format!("/proc/{pid}/net/dev");
        let net_dev = if net.is_some() && net != self.own_net {
            match proc.as_ref().filter(|_| hold) {
                Some(d) => d
                    .open_at("net/dev", nix::fcntl::OFlag::O_RDONLY)
                    .ok()
                    .map(|fd| Held::from_fd(dev.into(), fd)),
                None => Held::open(dev.into(), false),
            }
        } else {
            None
        };
        Some(Tracked {
            name: i
                .name
                .clone()
                .unwrap_or_else(|| i.id.chars().take(12).collect()),
            pid,
            start,
            probe: Probe::new(&set, &paths, hold),
            // Kept only where there is no pidfd to tell when the process exits.
            proc: if pidfd.is_some() || !hold { None } else { proc },
            pidfd,
            net_dev,
        })
    }

    /// Read every container once. A container that exits meanwhile is left out.
    pub fn sample(&mut self) -> Result<Vec<Sample>> {
        self.discover()?;
        let mut out = Vec::with_capacity(self.tracked.len());
        for ((runtime, id), t) in &self.tracked {
            let f = t.probe.read(&mut self.buf);
            let net = t
                .net_dev
                .as_ref()
                .and_then(|f| f.text(&mut self.buf, &mut vec![]))
                .map(parse_net_dev);
            out.push(Sample {
                runtime: runtime.clone(),
                id: id.clone(),
                name: t.name.clone(),
                pid: t.pid,
                at: Instant::now(),
                cpu_usec: f.cpu_usec,
                cpus_limit: f.cpus_limit,
                mem_ws: f.mem_ws,
                mem_limit: f.mem_limit,
                pids: f.pids,
                pids_limit: f.pids_limit,
                io: f.io,
                net,
                psi: PSI
                    .iter()
                    .zip(f.psi)
                    .map(|(r, v)| (r.to_string(), v))
                    .collect(),
                oom_kills: f.oom_kills,
                high: f.high,
                unreadable: f.unreadable,
            });
        }
        // The processes may have exited while their files were read: those are not shown.
        let gone = self.exited();
        if !gone.is_empty() {
            out.retain(|s| !gone.contains(&(s.runtime.clone(), s.id.clone())));
            for k in gone {
                self.tracked.remove(&k);
            }
            self.lost = true;
        }
        Ok(out)
    }

    /// The tracked containers whose first process has exited: one poll of every pidfd, and a
    /// read of /proc/PID/stat where there is none.
    fn exited(&mut self) -> Vec<Key> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut gone = vec![];
        let mut keys = vec![];
        let mut fds = vec![];
        for (k, t) in &self.tracked {
            match &t.pidfd {
                Some(fd) => {
                    keys.push(k);
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
                None => {
                    let now = match &t.proc {
                        Some(d) => proc_text(d, "stat", &mut self.buf)
                            .and_then(crate::process::parse_stat)
                            .filter(|st| !matches!(st.state, 'Z' | 'X'))
                            .map(|st| st.start_time),
                        None => {
                            started_at(Path::new(&format!("/proc/{}/stat", t.pid)), &mut self.buf)
                        }
                    };
                    if now != Some(t.start) {
                        gone.push(k.clone());
                    }
                }
            }
        }
        if !fds.is_empty() && poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
            for (k, p) in keys.iter().zip(&fds) {
                if p.any().unwrap_or(true) {
                    gone.push((*k).clone());
                }
            }
        }
        gone
    }
}

fn rate(a: Option<u64>, b: Option<u64>, secs: f64) -> Option<f64> {
    let (a, b) = (a?, b?);
    (secs > 0.0).then(|| b.saturating_sub(a) as f64 / secs)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rows of the containers in `now`, with rates against `before` (a container new since then has
/// no rates yet).
pub fn rows(before: &[Sample], now: &[Sample]) -> Vec<Row> {
    let prev: HashMap<(&str, &str), &Sample> = before
        .iter()
        .map(|s| ((s.runtime.as_str(), s.id.as_str()), s))
        .collect();
    let ncpu = host_cpus();
    now.iter()
        .map(|s| {
            let p = prev.get(&(s.runtime.as_str(), s.id.as_str()));
            let secs = p
                .map(|p| s.at.duration_since(p.at).as_secs_f64())
                .unwrap_or(0.0);
            let cpu = p
                .and_then(|p| rate(p.cpu_usec, s.cpu_usec, secs))
                .map(|usec_per_s| round2(usec_per_s / 10_000.0));
            let io_r = p.and_then(|p| rate(p.io.map(|x| x.0), s.io.map(|x| x.0), secs));
            let io_w = p.and_then(|p| rate(p.io.map(|x| x.1), s.io.map(|x| x.1), secs));
            let rx = p.and_then(|p| rate(p.net.map(|x| x.0), s.net.map(|x| x.0), secs));
            let tx = p.and_then(|p| rate(p.net.map(|x| x.1), s.net.map(|x| x.1), secs));
            let grew =
                |a: Option<u64>, b: Option<u64>| matches!((a, b), (Some(a), Some(b)) if b > a);
            let memory_event =
                p.is_some_and(|p| grew(p.oom_kills, s.oom_kills) || grew(p.high, s.high));
            Row {
                name: s.name.clone(),
                runtime: s.runtime.clone(),
                id: s.id.clone(),
                pid: s.pid,
                cpu_percent: cpu,
                cpu_limit_percent: cpu.map(|c| round2(c / s.cpus_limit.unwrap_or(ncpu).min(ncpu))),
                cpus_limit: s.cpus_limit,
                memory_working_set: s.mem_ws,
                memory_limit: s.mem_limit,
                memory_percent: s
                    .mem_ws
                    .zip(s.mem_limit)
                    .filter(|(_, l)| *l > 0)
                    .map(|(w, l)| round2(w as f64 * 100.0 / l as f64)),
                pids: s.pids,
                pids_limit: s.pids_limit,
                block_read_bps: io_r.map(round2),
                block_write_bps: io_w.map(round2),
                net_rx_bps: rx.map(round2),
                net_tx_bps: tx.map(round2),
                psi_some_avg10: s.psi.clone(),
                oom_kills: s.oom_kills,
                memory_event,
                unreadable: s.unreadable.clone(),
            }
        })
        .collect()
}

pub fn sort(rows: &mut [Row], key: SortKey) {
    let k = |r: &Row| -> f64 {
        match key {
            SortKey::Cpu => r.cpu_percent.unwrap_or(-1.0),
            SortKey::Mem => r.memory_working_set.map(|v| v as f64).unwrap_or(-1.0),
            SortKey::Io => r.block_read_bps.unwrap_or(0.0) + r.block_write_bps.unwrap_or(0.0),
            SortKey::Pids => r.pids.map(|v| v as f64).unwrap_or(-1.0),
            SortKey::Oom => r.oom_kills.map(|v| v as f64).unwrap_or(-1.0),
        }
    };
    rows.sort_by(|a, b| {
        k(b).partial_cmp(&k(a))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.name.cmp(&b.name))
    });
}

fn size(v: Option<u64>) -> String {
    v.map(crate::units::format_size)
        .unwrap_or_else(|| "-".into())
}

fn bps(v: Option<f64>) -> String {
    v.map(|b| format!("{}/s", crate::units::format_size(b as u64)))
        .unwrap_or_else(|| "-".into())
}

fn pct(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "-".into())
}

/// The table of one refresh.
pub fn render(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let psi = |k: &str| {
                r.psi_some_avg10
                    .get(k)
                    .copied()
                    .flatten()
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".into())
            };
            vec![
                format!(
                    "{}{}",
                    if r.memory_event { "!" } else { "" },
                    crate::output::clean(&r.name)
                ),
                format!(
                    "{} {}",
                    r.runtime,
                    r.id.chars().take(12).collect::<String>()
                ),
                format!("{} / {}", pct(r.cpu_percent), pct(r.cpu_limit_percent)),
                format!(
                    "{} / {} {}",
                    size(r.memory_working_set),
                    size(r.memory_limit),
                    pct(r.memory_percent)
                ),
                format!(
                    "{} / {}",
                    r.pids.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                    r.pids_limit
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "-".into())
                ),
                format!("{} / {}", bps(r.block_read_bps), bps(r.block_write_bps)),
                format!("{} / {}", bps(r.net_rx_bps), bps(r.net_tx_bps)),
                format!("{} {} {}", psi("cpu"), psi("memory"), psi("io")),
                r.oom_kills
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    crate::output::table(
        &[
            "NAME",
            "RUNTIME ID",
            "CPU % (CORE / LIMIT)",
            "MEM WS / LIMIT %",
            "PIDS",
            "BLOCK R / W",
            "NET RX / TX",
            "PSI CPU MEM IO",
            "OOM",
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(t), (1000, 300));
    }
}
