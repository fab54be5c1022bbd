//! `nsk top`: every container of the host (all runtimes and nsk's own), one row each, with rates
//! from two reads of its cgroups (through the cgroup module: v1, hybrid and v2 alike) and of its
//! init's /proc/PID/net/dev (the container's network namespace, no setns).

use crate::cgroup::{report, Hierarchy, Version};
pub use crate::cli::SortKey;
use crate::container::state::Store;
use crate::error::Result;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

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

/// Bytes read and written: v2 io.stat (rbytes, wbytes of every device), v1
/// blkio.throttle.io_service_bytes_recursive (Read, Write lines).
pub fn parse_io(text: &str, v2: bool) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines() {
        if v2 {
            for kv in line.split_whitespace().skip(1) {
                match kv.split_once('=') {
                    Some(("rbytes", v)) => r += v.parse::<u64>().unwrap_or(0),
                    Some(("wbytes", v)) => w += v.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        } else {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 3 {
                match f[1] {
                    "Read" => r += f[2].parse::<u64>().unwrap_or(0),
                    "Write" => w += f[2].parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    (r, w)
}

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
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() >= 9 {
            rx += f[0];
            tx += f[8];
        }
    }
    (rx, tx)
}

/// Read every container once. A container that exits meanwhile is left out.
pub fn sample(
    store: &Store,
    h: &Hierarchy,
    only: Option<&[(String, String)]>,
) -> Result<Vec<Sample>> {
    let own_net = crate::process::ns_inode(std::process::id() as i32, "net");
    let mut out = vec![];
    for f in crate::scan::containers(store)? {
        let i = &f.identity;
        if let Some(keys) = only {
            if !keys.iter().any(|(r, id)| *r == i.runtime && *id == i.id) {
                continue;
            }
        }
        let Ok(cg) = std::fs::read_to_string(format!("/proc/{}/cgroup", f.pid)) else {
            continue;
        };
        let (set, paths) = report::of_process(h, &cg);
        let rep = report::read(&set, paths);
        let mut unreadable: Vec<String> = rep.unreadable.keys().cloned().collect();
        let v2 = set.version == Version::V2;
        let io = set
            .dir_for(if v2 { "io" } else { "blkio" })
            .and_then(|d| {
                let file = if v2 {
                    "io.stat"
                } else {
                    "blkio.throttle.io_service_bytes_recursive"
                };
                std::fs::read_to_string(d.join(file)).ok()
            })
            .map(|t| parse_io(&t, v2));
        if io.is_none() {
            unreadable.push("io".into());
        }
        // The network of the container's namespace; none to show where it is the host's.
        let net_ns = crate::process::ns_inode(f.pid, "net");
        let net = if net_ns.is_some() && net_ns != own_net {
            std::fs::read_to_string(format!("/proc/{}/net/dev", f.pid))
                .ok()
                .map(|t| parse_net_dev(&t))
        } else {
            None
        };
        let mut psi = BTreeMap::new();
        for res in ["cpu", "memory", "io"] {
            let v = rep
                .pressure
                .get(res)
                .and_then(|p| p.get("some"))
                .and_then(|s| s.get("avg10"))
                .copied();
            if v.is_none() {
                unreadable.push(format!("{res}.pressure"));
            }
            psi.insert(res.to_string(), v);
        }
        // The process may have exited while its files were read: then it is not shown.
        if !crate::process::is_running(f.pid, f.start) {
            continue;
        }
        out.push(Sample {
            runtime: i.runtime.clone(),
            id: i.id.clone(),
            name: i
                .name
                .clone()
                .unwrap_or_else(|| i.id.chars().take(12).collect()),
            pid: f.pid,
            at: Instant::now(),
            cpu_usec: rep.usage.cpu_usage_usec,
            cpus_limit: rep.limits.cpus,
            mem_ws: rep.usage.memory_working_set,
            mem_limit: rep.limits.memory_max,
            pids: rep.usage.pids_current,
            pids_limit: rep.limits.pids_max,
            io,
            net,
            psi,
            oom_kills: rep.events.get("oom_kill").copied(),
            high: rep.events.get("high").copied(),
            unreadable,
        });
    }
    Ok(out)
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
    fn io_files() {
        assert_eq!(
            parse_io(
                "8:0 rbytes=100 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n",
                true
            ),
            (101, 22)
        );
        assert_eq!(
            parse_io("8:0 Read 10\n8:0 Write 5\n8:0 Total 15\nTotal 15\n", false),
            (10, 5)
        );
    }

    #[test]
    fn net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(t), (1000, 300));
    }
}
