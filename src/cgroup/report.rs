//! What a process's cgroups say: paths, limits, usage, events and pressure, read from cgroupfs
//! the same way on v1, hybrid and v2 hosts. Unlimited values are None (null in JSON); a file
//! that cannot be read is named in `unreadable` with the reason.

use super::{CgroupSet, Dir, Hierarchy, Version};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

#[derive(Debug, Default, Serialize)]
pub struct Limits {
    pub memory_max: Option<u64>,
    /// Memory plus swap (docker's meaning) on v1 and v2 alike.
    pub memory_swap_max: Option<u64>,
    /// v1 memory.soft_limit_in_bytes, v2 memory.low.
    pub memory_reservation: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    /// v1 cpu.shares.
    pub cpu_shares: Option<u64>,
    /// v2 cpu.weight.
    pub cpu_weight: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_max: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Usage {
    pub memory_current: Option<u64>,
    /// What `docker stats` and the kubelet show: usage minus the inactive file cache (which the
    /// kernel reclaims first), v2 `inactive_file`, v1 `total_inactive_file` of memory.stat.
    pub memory_working_set: Option<u64>,
    pub memory_peak: Option<u64>,
    pub swap_current: Option<u64>,
    pub pids_current: Option<u64>,
    pub cpu_usage_usec: Option<u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub version: Option<Version>,
    /// Controller → path in its hierarchy (v1), or "unified" → path (v2).
    pub paths: BTreeMap<String, String>,
    pub limits: Limits,
    pub usage: Usage,
    pub events: BTreeMap<String, u64>,
    /// The controllers enabled for this cgroup (v2's cgroup.controllers; None on v1, where each
    /// mounted controller has its own hierarchy). Limits of a controller not listed are null.
    pub controllers: Option<Vec<String>>,
    /// Whether the freezer holds the cgroup (v2 cgroup.events, v1 freezer.state FROZEN or
    /// FREEZING); None when there is no freezer to ask.
    pub frozen: Option<bool>,
    /// PSI per resource ("cpu", "memory", "io") → "some"/"full" → avg10, avg60, avg300, total.
    pub pressure: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unreadable: BTreeMap<String, String>,
}

/// The cgroups of a process from its /proc/PID/cgroup text, and the path of each controller.
pub fn of_process(h: &Hierarchy, proc_cgroup: &str) -> (CgroupSet, BTreeMap<String, String>) {
    let mut set = CgroupSet {
        version: h.version,
        dirs: vec![],
    };
    let mut paths = BTreeMap::new();
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mount = if ctrls.is_empty() {
            h.mounts.iter().find(|m| m.v2)
        } else {
            let mut want: Vec<&str> = ctrls.split(',').collect();
            want.sort();
            h.mounts.iter().find(|m| {
                !m.v2
                    && m.controllers
                        .iter()
                        .map(|s| s.as_str())
                        .eq(want.iter().copied())
            })
        };
        let Some(m) = mount else { continue };
        set.dirs.push(Dir {
            key: m.key(),
            path: m.mountpoint.join(path.trim_start_matches('/')),
        });
        if m.v2 {
            paths.insert("unified".into(), path.to_string());
        } else {
            for c in &m.controllers {
                paths.insert(c.clone(), path.to_string());
            }
        }
    }
    (set, paths)
}

pub(super) struct Reader<'a> {
    pub(super) set: &'a CgroupSet,
    unreadable: BTreeMap<String, String>,
}

impl Reader<'_> {
    pub(super) fn raw(&mut self, controller: &str, file: &str) -> Option<String> {
        let dir = self.set.dir_for(controller)?;
        self.raw_in(dir, file)
    }

    pub(super) fn raw_in(&mut self, dir: &Path, file: &str) -> Option<String> {
        match fs::read_to_string(dir.join(file)) {
            Ok(s) => Some(s.trim().to_string()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => {
                let why = crate::error::errno_text(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(0),
                ));
                self.unreadable.insert(file.to_string(), why);
                None
            }
        }
    }

    /// A byte or count value; "max", -1 and v1's huge "unlimited" numbers are None.
    pub(super) fn num(&mut self, controller: &str, file: &str) -> Option<u64> {
        let s = self.raw(controller, file)?;
        parse_limit(&s)
    }
}

pub fn parse_limit(s: &str) -> Option<u64> {
    if s == "max" || s == "-1" {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v < 1 << 62)
}

/// Usage minus the inactive file cache (`key` of memory.stat), never below zero.
pub fn working_set(usage: Option<u64>, stat: Option<String>, key: &str) -> Option<u64> {
    let u = usage?;
    let inactive = stat
        .as_deref()
        .and_then(|s| super::parse_keyed(s, key))
        .unwrap_or(0);
    Some(u.saturating_sub(inactive))
}

/// Parse a PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00 total=0").
pub fn parse_pressure(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(kind) = f.next() else { continue };
        let vals: BTreeMap<String, f64> = f
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        out.insert(kind.to_string(), vals);
    }
    out
}

/// Read everything nsk shows about a set of cgroups.
pub fn read(set: &CgroupSet, paths: BTreeMap<String, String>) -> Report {
    let mut r = Reader {
        set,
        unreadable: BTreeMap::new(),
    };
    let mut rep = Report {
        version: Some(set.version),
        paths,
        ..Default::default()
    };
    match set.version {
        Version::V2 => super::v2::read(&mut r, &mut rep),
        _ => super::v1::read(&mut r, &mut rep),
    }
    let l = &mut rep.limits;
    let u = &mut rep.usage;
    l.cpus = match (l.cpu_quota_us, l.cpu_period_us) {
        (Some(q), Some(p)) if p > 0 => Some((q as f64 / p as f64 * 1000.0).round() / 1000.0),
        _ => None,
    };
    l.cpuset_cpus = r
        .raw("cpuset", "cpuset.cpus.effective")
        .or_else(|| r.raw("cpuset", "cpuset.cpus"))
        .filter(|s| !s.is_empty());
    l.pids_max = r.num("pids", "pids.max");
    u.pids_current = r.num("pids", "pids.current");
    if let Some(s) = r.raw("pids", "pids.events") {
        if let Some(v) = super::parse_keyed(&s, "max") {
            rep.events.insert("pids_max".into(), v);
        }
    }
    // Pressure lives in cgroup2 directories: on a hybrid host only in one of the process's own
    // (the host's root directory would pass the whole host's pressure off as its).
    if let Some(d) = super::probe::pressure_dir(set, &rep.paths).map(Path::to_path_buf) {
        for res in ["cpu", "memory", "io"] {
            if let Some(s) = r.raw_in(&d, &format!("{res}.pressure")) {
                rep.pressure.insert(res.into(), parse_pressure(&s));
            }
        }
    }
    rep.unreadable = r.unreadable;
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hybrid() -> Hierarchy {
        Hierarchy::from_mountinfo(super::super::tests::HYBRID).unwrap()
    }

    #[test]
    fn paths_by_controller() {
        let text = "9:name=systemd:/\n8:pids:/docker/abc\n4:memory:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/\n";
        let (set, paths) = of_process(&hybrid(), text);
        assert_eq!(paths["memory"], "/docker/abc");
        assert_eq!(paths["pids"], "/docker/abc");
        assert_eq!(paths["unified"], "/");
        assert_eq!(
            set.dir_for("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/docker/abc")
        );
    }

    #[test]
    fn limits_on_fixture_trees() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("c");
        fs::create_dir(&d).unwrap();
        for (f, v) in [
            ("memory.max", "104857600"),
            ("memory.swap.max", "max"),
            ("memory.low", "0"),
            ("memory.current", "123"),
            ("memory.events", "low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\n"),
            ("cpu.max", "50000 100000"),
            ("cpu.weight", "100"),
            ("cpu.stat", "usage_usec 456\nuser_usec 400\n"),
            ("pids.max", "50"),
            ("pids.current", "1"),
            ("memory.pressure", "some avg10=1.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3\n"),
            ("cgroup.controllers", "cpu memory pids"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ] {
            fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        let set = CgroupSet {
            version: Version::V2,
            dirs: vec![Dir {
                key: "unified".into(),
                path: d,
            }],
        };
        let r = read(&set, BTreeMap::new());
        assert_eq!(r.limits.memory_max, Some(104857600));
        assert_eq!(r.limits.memory_swap_max, None);
        assert_eq!(r.limits.memory_reservation, None);
        assert_eq!(r.limits.cpus, Some(0.5));
        assert_eq!(
            (r.limits.cpu_quota_us, r.limits.cpu_period_us),
            (Some(50000), Some(100000))
        );
        assert_eq!(r.limits.pids_max, Some(50));
        assert_eq!(r.usage.cpu_usage_usec, Some(456));
        assert_eq!(r.events["oom_kill"], 1);
        assert_eq!(r.pressure["memory"]["some"]["avg10"], 1.5);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["limits"]["memory_swap_max"], serde_json::Value::Null);
        assert_eq!(j["version"], "v2");
        assert_eq!(
            j["controllers"],
            serde_json::json!(["cpu", "memory", "pids"])
        );
        assert_eq!(j["frozen"], true);
    }

    #[test]
    fn v1_freezer_state_and_no_controller_list() {
        let t = tempfile::tempdir().unwrap();
        let set = CgroupSet {
            version: Version::Hybrid,
            dirs: vec![Dir {
                key: "freezer".into(),
                path: t.path().to_path_buf(),
            }],
        };
        for (state, frozen) in [("FROZEN", true), ("FREEZING", true), ("THAWED", false)] {
            fs::write(t.path().join("freezer.state"), format!("{state}\n")).unwrap();
            let r = read(&set, BTreeMap::new());
            assert_eq!(r.frozen, Some(frozen), "{state}");
            assert_eq!(r.controllers, None);
        }
    }

    #[test]
    fn v1_unlimited_is_null() {
        assert_eq!(parse_limit("9223372036854771712"), None);
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_limit("max"), None);
        assert_eq!(parse_limit("4096"), Some(4096));
    }
}
