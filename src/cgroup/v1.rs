//! cgroup v1: one directory per hierarchy, limits in per-controller files.

use super::report::{working_set, Reader, Report};
use super::{CgroupSet, Limits, Mount, Write};
use crate::error::{Context, Error, Result};
use crate::units::Limit;
use std::fs;
use std::path::Path;

/// Create the missing ancestors of `rel` in hierarchy `m` (the leaf itself is created by the
/// caller). cpuset ancestors get their parent's cpus and mems, without which no task fits; an
/// existing one is checked too, since the nsk that just created it may not have got that far
/// (as runc does). Every ancestor nsk creates goes to `log` first. In a cpuset hierarchy,
/// returns the cpus and mems of the leaf's parent, for the leaf (`set_cpuset`).
pub(super) fn prepare_parents(
    m: &Mount,
    rel: &str,
    log: &mut dyn super::ParentLog,
) -> Result<Option<Cpuset>> {
    let mut cur = m.mountpoint.clone();
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let cpuset = m.controllers.iter().any(|c| c == "cpuset");
    let mut values = None;
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        super::create_parent(&cur, log)?;
        if cpuset {
            values = Some(init_cpuset(&cur)?);
        }
    }
    match values {
        Some(v) => Ok(Some(v)),
        // The leaf's parent is the hierarchy's root.
        None if cpuset => Cpuset::read(&cur).map(Some),
        None => Ok(None),
    }
}

/// A cpuset's cpuset.cpus and cpuset.mems (trimmed; empty when unset).
pub(super) struct Cpuset {
    cpus: String,
    mems: String,
}

const CPUSET_FILES: [&str; 2] = ["cpuset.cpus", "cpuset.mems"];

impl Cpuset {
    fn read(dir: &Path) -> Result<Cpuset> {
        let [cpus, mems] = CPUSET_FILES.map(|f| {
            let p = dir.join(f);
            super::read_small(&p)
                .map(|v| v.trim().to_string())
                .ctx(|| format!("cannot read {}", p.display()))
        });
        Ok(Cpuset {
            cpus: cpus?,
            mems: mems?,
        })
    }
}

/// Give `dir` its parent's cpus or mems where its own are empty; returns `dir`'s.
pub(super) fn init_cpuset(dir: &Path) -> Result<Cpuset> {
    let mut own = Cpuset::read(dir)?;
    if !own.cpus.is_empty() && !own.mems.is_empty() {
        return Ok(own);
    }
    let parent = Cpuset::read(dir.parent().unwrap_or(dir))?;
    for (f, v, inherited) in [
        (CPUSET_FILES[0], &mut own.cpus, parent.cpus),
        (CPUSET_FILES[1], &mut own.mems, parent.mems),
    ] {
        if v.is_empty() {
            let p = dir.join(f);
            fs::write(&p, &inherited).ctx(|| format!("cannot write {}", p.display()))?;
            *v = inherited;
        }
    }
    Ok(own)
}

/// Give a cpuset cgroup just created its parent's cpus and mems (a new cpuset has none, or
/// the parent's with cgroup.clone_children: written either way, without reading it first).
pub(super) fn set_cpuset(dir: &Path, parent: &Cpuset) -> Result<()> {
    for (f, v) in CPUSET_FILES.iter().zip([&parent.cpus, &parent.mems]) {
        let p = dir.join(f);
        fs::write(&p, v).ctx(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

fn bytes(l: Limit) -> String {
    match l {
        Limit::Max => "-1".into(),
        Limit::Value(v) => v.to_string(),
    }
}

fn read_u64(set: &CgroupSet, controller: &str, file: &str) -> Option<u64> {
    let s = super::read_small(&set.dir_for(controller)?.join(file)).ok()?;
    let s = s.trim();
    if s == "-1" || s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

pub(super) fn plan(set: &CgroupSet, l: &Limits) -> Result<Vec<Write>> {
    let mut w = vec![];
    let mem = l.memory.map(|m| Write {
        controller: "memory",
        file: "memory.limit_in_bytes",
        value: bytes(m),
    });
    let swap = match l.memory_swap {
        None => None,
        Some(s) => {
            let has = set
                .dir_for("memory")
                .is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
            if !has {
                if s != Limit::Max {
                    return Err(Error::failed(
                        "cannot limit memory+swap: swap accounting is off on this host (memory.memsw.* is missing; boot with swapaccount=1)",
                    ));
                }
                None
            } else {
                Some(Write {
                    controller: "memory",
                    file: "memory.memsw.limit_in_bytes",
                    value: bytes(s),
                })
            }
        }
    };
    // memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: when the new memory
    // limit is above the current memsw limit, raise memsw first; otherwise lower memory first.
    let new_mem = l.memory.map(|m| m.value().unwrap_or(u64::MAX));
    let cur_memsw = read_u64(set, "memory", "memory.memsw.limit_in_bytes").unwrap_or(u64::MAX);
    match (mem, swap) {
        (Some(m), Some(s)) if new_mem.unwrap_or(0) > cur_memsw => w.extend([s, m]),
        (m, s) => w.extend(m.into_iter().chain(s)),
    }
    if let Some(q) = l.cpu_quota_us {
        let period = l.cpu_period_us.unwrap_or(super::DEFAULT_CPU_PERIOD_US);
        w.push(Write {
            controller: "cpu",
            file: "cpu.cfs_period_us",
            value: period.to_string(),
        });
        w.push(Write {
            controller: "cpu",
            file: "cpu.cfs_quota_us",
            value: bytes(q),
        });
    }
    if let Some(p) = l.pids {
        let v = match p {
            Limit::Max => "max".into(),
            Limit::Value(v) => v.to_string(),
        };
        w.push(Write {
            controller: "pids",
            file: "pids.max",
            value: v,
        });
    }
    if let Some(r) = l.memory_reservation {
        w.push(Write {
            controller: "memory",
            file: "memory.soft_limit_in_bytes",
            value: bytes(r),
        });
    }
    if let Some(s) = l.cpu_shares.or(l.cpu_weight.map(super::weight_to_shares)) {
        w.push(Write {
            controller: "cpu",
            file: "cpu.shares",
            value: s.to_string(),
        });
    }
    if let Some(c) = &l.cpuset_cpus {
        w.push(Write {
            controller: "cpuset",
            file: "cpuset.cpus",
            value: c.clone(),
        });
    }
    if let Some(iw) = l.io_weight {
        if !(10..=1000).contains(&iw) {
            return Err(Error::invalid(format!(
                "invalid --io-weight {iw}: cgroup v1 blkio.weight takes 10 to 1000"
            )));
        }
        let has = set
            .dir_for("blkio")
            .is_some_and(|d| d.join("blkio.weight").exists());
        if !has {
            return Err(Error::failed(
                "cannot set --io-weight: this kernel has no blkio.weight (on cgroup v1 it needs the BFQ I/O scheduler)",
            ));
        }
        w.push(Write {
            controller: "blkio",
            file: "blkio.weight",
            value: iw.to_string(),
        });
    }
    Ok(w)
}

/// Check the order of `writes` against the current values: memory.limit_in_bytes may never
/// exceed memory.memsw.limit_in_bytes at any step, or the kernel refuses the write.
pub(super) fn check_order(set: &CgroupSet, writes: &[Write]) -> Result<()> {
    // Walk the write order: memory.limit_in_bytes may never exceed memsw at any step.
    if let Some(d) = set.dir_for("memory") {
        let memsw_file = d.join("memory.memsw.limit_in_bytes");
        if memsw_file.exists() {
            let num = |s: &str| match s.trim() {
                "-1" | "max" => u64::MAX,
                v => v.parse().unwrap_or(u64::MAX),
            };
            let mut mem = num(&super::first_line(d.join("memory.limit_in_bytes")));
            let mut memsw = num(&super::first_line(&memsw_file));
            for w in writes.iter().filter(|w| w.controller == "memory") {
                match w.file {
                    "memory.limit_in_bytes" => mem = num(&w.value),
                    "memory.memsw.limit_in_bytes" => memsw = num(&w.value),
                    _ => continue,
                }
                if mem != u64::MAX && mem & !4095 > memsw {
                    return Err(Error::failed(format!(
                        "cannot set the memory limit to {}: it is above the container's memory+swap limit {} \
                         (memory.memsw.limit_in_bytes); raise --memory-swap with it",
                        crate::units::format_size(mem),
                        crate::units::format_size(memsw)
                    )));
                }
                if memsw != u64::MAX && mem == u64::MAX {
                    return Err(Error::failed(format!(
                        "cannot remove the memory limit while memory+swap stays at {}: give --memory-swap max as well",
                        crate::units::format_size(memsw)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The v1 files of a set's limits, usage, freezer state and memory events (one hierarchy per
/// controller; swap as memory+swap minus memory).
pub(super) fn read(r: &mut Reader, rep: &mut Report) {
    let l = &mut rep.limits;
    let u = &mut rep.usage;
    l.memory_max = r.num("memory", "memory.limit_in_bytes");
    l.memory_swap_max = r.num("memory", "memory.memsw.limit_in_bytes");
    l.memory_reservation = r.num("memory", "memory.soft_limit_in_bytes");
    l.cpu_quota_us = r.num("cpu", "cpu.cfs_quota_us");
    l.cpu_period_us = r.num("cpu", "cpu.cfs_period_us");
    l.cpu_shares = r.num("cpu", "cpu.shares");
    u.memory_current = r.num("memory", "memory.usage_in_bytes");
    u.memory_working_set = working_set(
        u.memory_current,
        r.raw("memory", "memory.stat"),
        "total_inactive_file",
    );
    u.memory_peak = r.num("memory", "memory.max_usage_in_bytes");
    let memsw = r.num("memory", "memory.memsw.usage_in_bytes");
    u.swap_current = memsw
        .zip(u.memory_current)
        .map(|(t, m)| t.saturating_sub(m));
    u.cpu_usage_usec = r.num("cpuacct", "cpuacct.usage").map(|ns| ns / 1000);
    if let Some(s) = r.raw("memory", "memory.oom_control") {
        for k in ["oom_kill", "under_oom"] {
            if let Some(v) = super::parse_keyed(&s, k) {
                rep.events.insert(k.to_string(), v);
            }
        }
    }
    rep.frozen = r
        .raw("freezer", "freezer.state")
        .map(|s| s == "FROZEN" || s == "FREEZING");
    if let Some(v) = r.num("memory", "memory.failcnt") {
        rep.events.insert("max".into(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpuset_dir(d: &Path, cpus: &str, mems: &str) {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("cpuset.cpus"), cpus).unwrap();
        fs::write(d.join("cpuset.mems"), mems).unwrap();
    }

    /// An ancestor without cpus or mems gets its parent's; one with them is only read; the leaf
    /// gets its parent's values without being read.
    #[test]
    fn cpuset_parents_are_filled_and_the_leaf_gets_its_parents() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().to_path_buf();
        cpuset_dir(&root, "0-3\n", "0\n");
        cpuset_dir(&root.join("empty"), "\n", "\n");
        cpuset_dir(&root.join("set"), "2\n", "0\n");
        let m = Mount {
            controllers: vec!["cpuset".into()],
            mountpoint: root.clone(),
            v2: false,
        };
        let read = |d: &str| fs::read_to_string(root.join(d).join("cpuset.cpus")).unwrap();
        let leaf = prepare_parents(&m, "empty/c1", &mut vec![])
            .unwrap()
            .unwrap();
        assert_eq!((read("empty").as_str(), leaf.cpus.as_str()), ("0-3", "0-3"));
        let leaf = prepare_parents(&m, "set/c1", &mut vec![]).unwrap().unwrap();
        assert_eq!((leaf.cpus.as_str(), leaf.mems.as_str()), ("2", "0"));
        assert_eq!(read("set"), "2\n", "a parent with cpus is not written");
        let leaf = prepare_parents(&m, "c1", &mut vec![]).unwrap().unwrap();
        assert_eq!(leaf.cpus, "0-3", "below the root, the root's");
        fs::create_dir(root.join("c1")).unwrap();
        set_cpuset(&root.join("c1"), &leaf).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("c1/cpuset.mems")).unwrap(),
            "0"
        );
        let plain = Mount {
            controllers: vec!["memory".into()],
            ..m
        };
        assert!(prepare_parents(&plain, "set/c1", &mut vec![])
            .unwrap()
            .is_none());
    }
}
