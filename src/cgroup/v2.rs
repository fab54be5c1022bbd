//! cgroup v2: one directory, controllers enabled from the parent's cgroup.subtree_control.

use super::report::{parse_limit, working_set, Reader, Report};
use super::{CgroupSet, Limits, Write};
use crate::error::{Context, Result};
use crate::units::Limit;
use std::fs;
use std::path::Path;

/// Create the missing ancestors of `rel` and enable, in the subtree_control of every ancestor,
/// the controllers the leaf needs (and any others available, so later limits can be set).
/// Every ancestor nsk creates goes to `log` first.
pub(super) fn prepare_parents(
    root: &Path,
    rel: &str,
    needed: &[&str],
    log: &mut dyn super::ParentLog,
) -> Result<()> {
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut cur = root.to_path_buf();
    enable_controllers(&cur, needed, false)?;
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        let created = super::create_parent(&cur, log)?;
        enable_controllers(&cur, needed, created)?;
    }
    Ok(())
}

/// Enable in `dir`'s subtree_control the `needed` controllers (an error if one is not offered)
/// and, for a cgroup nsk created (`all`), every controller it is offered.
fn enable_controllers(dir: &Path, needed: &[&str], all: bool) -> Result<()> {
    let avail = fs::read_to_string(dir.join("cgroup.controllers"))
        .ctx(|| format!("cannot read {}/cgroup.controllers", dir.display()))?;
    let on = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let avail: Vec<&str> = avail.split_whitespace().collect();
    let on: Vec<&str> = on.split_whitespace().collect();
    for n in needed {
        if !avail.contains(n) {
            return Err(crate::error::Error::failed(format!(
                "the {n} controller is not enabled for {} (cgroup.controllers: {})",
                dir.display(),
                avail.join(" ")
            )));
        }
    }
    let want: Vec<String> = avail
        .iter()
        .filter(|c| !on.contains(c) && (all || needed.contains(c)))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        return Ok(());
    }
    let f = dir.join("cgroup.subtree_control");
    fs::write(&f, want.join(" "))
        .ctx(|| format!("cannot enable {} in {}", want.join(" "), f.display()))
}

fn val(l: Limit) -> String {
    match l {
        Limit::Max => "max".into(),
        Limit::Value(v) => v.to_string(),
    }
}

pub(super) fn plan(set: &CgroupSet, l: &Limits) -> Result<Vec<Write>> {
    let mut w = vec![];
    if let Some(m) = l.memory {
        w.push(Write {
            controller: "memory",
            file: "memory.max",
            value: val(m),
        });
    }
    if let Some(s) = l.memory_swap {
        // docker's memory-swap is memory plus swap; v2 limits swap alone.
        let mem = match l.memory {
            Some(m) => m.value(),
            None => set
                .dir_for("memory")
                .and_then(|d| fs::read_to_string(d.join("memory.max")).ok())
                .and_then(|s| s.trim().parse().ok()),
        };
        let swap = match (s, mem) {
            (Limit::Max, _) | (_, None) => "max".to_string(),
            (Limit::Value(t), Some(m)) => t.saturating_sub(m).to_string(),
        };
        let has = set
            .dir_for("memory")
            .is_some_and(|d| d.join("memory.swap.max").exists());
        if has {
            w.push(Write {
                controller: "memory",
                file: "memory.swap.max",
                value: swap,
            });
        } else if s != Limit::Max {
            return Err(crate::error::Error::failed(
                "cannot limit memory+swap: this kernel has no swap controller (memory.swap.max is missing)",
            ));
        }
    }
    if let Some(q) = l.cpu_quota_us {
        let period = l.cpu_period_us.unwrap_or(super::DEFAULT_CPU_PERIOD_US);
        w.push(Write {
            controller: "cpu",
            file: "cpu.max",
            value: format!("{} {period}", val(q)),
        });
    }
    if let Some(p) = l.pids {
        w.push(Write {
            controller: "pids",
            file: "pids.max",
            value: val(p),
        });
    }
    if let Some(r) = l.memory_reservation {
        w.push(Write {
            controller: "memory",
            file: "memory.low",
            value: val(r),
        });
    }
    if let Some(wt) = l.cpu_weight.or(l.cpu_shares.map(super::shares_to_weight)) {
        w.push(Write {
            controller: "cpu",
            file: "cpu.weight",
            value: wt.to_string(),
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
        if !(1..=10000).contains(&iw) {
            return Err(crate::error::Error::invalid(format!(
                "invalid --io-weight {iw}: cgroup v2 io.weight takes 1 to 10000"
            )));
        }
        w.push(Write {
            controller: "io",
            file: "io.weight",
            value: format!("default {iw}"),
        });
    }
    Ok(w)
}

/// The v2 files of a set's limits, usage, controllers, freezer state and memory events.
pub(super) fn read(r: &mut Reader, rep: &mut Report) {
    let set = r.set;
    let l = &mut rep.limits;
    let u = &mut rep.usage;
    l.memory_max = r.num("memory", "memory.max");
    let swap = r.num("memory", "memory.swap.max");
    l.memory_swap_max = match (l.memory_max, swap) {
        (Some(m), Some(s)) => Some(m.saturating_add(s)),
        _ => None,
    };
    l.memory_reservation = r.num("memory", "memory.low").filter(|v| *v > 0);
    if let Some(s) = r.raw("cpu", "cpu.max") {
        let mut f = s.split_whitespace();
        l.cpu_quota_us = f.next().and_then(parse_limit);
        l.cpu_period_us = f.next().and_then(|p| p.parse().ok());
    }
    l.cpu_weight = r.num("cpu", "cpu.weight");
    u.memory_current = r.num("memory", "memory.current");
    u.memory_working_set = working_set(
        u.memory_current,
        r.raw("memory", "memory.stat"),
        "inactive_file",
    );
    u.memory_peak = r.num("memory", "memory.peak");
    u.swap_current = r.num("memory", "memory.swap.current");
    u.cpu_usage_usec = r
        .raw("cpu", "cpu.stat")
        .and_then(|s| super::parse_keyed(&s, "usage_usec"));
    rep.controllers = set.v2_dir().and_then(|d| {
        r.raw_in(d, "cgroup.controllers")
            .map(|s| s.split_whitespace().map(String::from).collect())
    });
    rep.frozen = set
        .v2_dir()
        .and_then(|d| r.raw_in(d, "cgroup.events"))
        .and_then(|s| super::parse_keyed(&s, "frozen"))
        .map(|v| v == 1);
    if let Some(s) = r.raw("memory", "memory.events") {
        for line in s.lines() {
            if let Some((k, v)) = line.split_once(' ') {
                if let Ok(v) = v.parse() {
                    rep.events.insert(k.to_string(), v);
                }
            }
        }
    }
}
