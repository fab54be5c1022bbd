use super::Ctx;
use crate::cgroup::{Limits, DEFAULT_CPU_PERIOD_US};
use crate::cli::{LimitArgs, LimitSet};
use crate::error::{Error, Result};
use crate::notice::Notice;
use crate::units::{format_size, Cpus, Limit};
use crate::{limit, output};

pub fn limits_from(a: &LimitSet) -> Result<Limits> {
    let mut l = Limits {
        memory: a.memory.map(|s| s.0),
        memory_swap: a.memory_swap.map(|s| s.0),
        memory_reservation: a.memory_reservation.map(|s| s.0),
        cpu_quota_us: a.cpus.map(Cpus::quota_us),
        pids: a.pids.map(|p| p.0),
        cpu_shares: a.cpu_shares.map(|v| v.0),
        cpu_weight: a.cpu_weight.map(|v| v.0),
        io_weight: a.io_weight.map(|v| v.0),
        cpuset_cpus: a.cpuset_cpus.as_ref().map(|c| c.as_str().to_string()),
        cpu_period_us: None,
    };
    if l.cpu_quota_us.is_some() {
        l.cpu_period_us = Some(DEFAULT_CPU_PERIOD_US);
    }
    if l.cpu_shares.is_some() && l.cpu_weight.is_some() {
        return Err(Error::invalid(
            "give --cpu-shares or --cpu-weight, not both (nsk converts between them)",
        ));
    }
    if let (Some(Limit::Value(m)), Some(Limit::Value(s))) = (l.memory, l.memory_swap) {
        if s < m {
            return Err(Error::invalid(format!(
                "invalid --memory-swap {}: it is memory plus swap and must be at least --memory {}",
                format_size(s),
                format_size(m)
            )));
        }
    }
    Ok(l)
}

fn humanize(file: &str, v: &str) -> String {
    let bytes = file.contains("memory.") && !file.contains("pressure") && !file.contains("events");
    match v.parse::<u64>() {
        Ok(n) if bytes && n >= 1 << 62 => format!("{v} (max)"),
        Ok(n) if bytes && n >= 1024 => format!("{v} ({})", format_size(n)),
        _ => v.to_string(),
    }
}

pub fn limit(ctx: &Ctx, a: LimitArgs) -> Result<i32> {
    let ctx_err = |e: Error| e.context(format!("cannot limit {}", a.target));
    let t = crate::target::resolve(&ctx.store, &a.target).map_err(ctx_err)?;
    let l = limits_from(&a.set)?;
    let freeze = if a.set.freeze {
        Some(true)
    } else if a.set.thaw {
        Some(false)
    } else {
        None
    };
    if !a.reset && l.is_empty() && freeze.is_none() {
        // No change asked for: show the cgroup part of inspect.
        let (_, set, paths) = limit::cgroups_of(&t.dir).map_err(ctx_err)?;
        let rep = crate::cgroup::report::read(&set, paths);
        if ctx.json {
            output::print_json(&serde_json::to_value(&rep).unwrap_or_default())?;
        } else {
            output::print(&super::render::render_cgroup(&rep, ctx.color))?;
        }
        return Ok(0);
    }
    // Who runs the target: its runtime may keep its own pause flag and record of limits.
    let identity = match &t.identity {
        Some(i) => Some(i.clone()),
        None => crate::scan::identify(&ctx.store, t.pid).map(|(i, _, _)| i),
    };
    if freeze == Some(false) && !a.force {
        if let Some(why) = limit::thaw_refusal(&ctx.store.root, &t.dir, identity.as_ref()) {
            return Err(ctx_err(Error::failed(why)));
        }
    }
    let mut notices = super::Notices::stderr();
    let mut notify = |n: Notice<'_>| notices.show(n);
    let mut out = if a.reset {
        let out = limit::reset(&ctx.store.root, &t.dir).map_err(ctx_err)?;
        for w in &out.warnings {
            notify(Notice::Warning(w.clone()));
        }
        out
    } else {
        limit::change(&ctx.store.root, &t.dir, &l, freeze, a.dry_run, &mut notify)
            .map_err(ctx_err)?
    };
    if !a.reset && !a.dry_run && !out.changes.is_empty() {
        if let Some(w) = limit::runtime_view_warning(identity.as_ref(), !l.is_empty(), freeze) {
            notify(Notice::Warning(w.clone()));
            out.warnings.push(w);
        }
    }
    if !t.still_alive() {
        notify(Notice::Warning(format!(
            "process {} exited during the change",
            t.pid
        )));
    }
    if ctx.json {
        let v = serde_json::json!({
            "pid": t.pid,
            "container": identity,
            "dry_run": a.dry_run,
            "reset": a.reset,
            "warnings": out.warnings,
            "changes": out.changes,
        });
        output::print_json(&v)?;
    } else {
        let rows = out
            .changes
            .iter()
            .map(|c| {
                vec![
                    c.file.clone(),
                    humanize(&c.file, &c.before),
                    "→".into(),
                    humanize(&c.file, &c.after),
                ]
            })
            .collect();
        let head = if a.dry_run {
            "FILE (dry run: nothing written)"
        } else {
            "FILE"
        };
        output::print(&output::table(&[head, "BEFORE", "", "AFTER"], rows))?;
    }
    Ok(0)
}
