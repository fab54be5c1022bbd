use super::Ctx;
use crate::cgroup::{expand_cpu_list, Limits, DEFAULT_CPU_PERIOD_US};
use crate::cli::LimitArgs;
use crate::error::{Error, Result};
use crate::units::{self, format_size, Limit};
use crate::{limit, output};

pub fn limits_from(a: &LimitArgs) -> Result<Limits> {
    let size =
        |opt: &str, v: &Option<String>| v.as_deref().map(|s| units::parse_size(opt, s)).transpose();
    let mut l = Limits {
        memory: size("--memory", &a.memory)?,
        memory_swap: size("--memory-swap", &a.memory_swap)?,
        memory_reservation: size("--memory-reservation", &a.memory_reservation)?,
        cpu_quota_us: a
            .cpus
            .as_deref()
            .map(|s| units::parse_cpus(s, DEFAULT_CPU_PERIOD_US))
            .transpose()?,
        pids: a
            .pids
            .as_deref()
            .map(|s| units::parse_count("--pids", s, 1, 1 << 22, true))
            .transpose()?,
        cpu_shares: a
            .cpu_shares
            .as_deref()
            .map(|s| units::parse_count("--cpu-shares", s, 2, 262_144, false))
            .transpose()?
            .and_then(Limit::value),
        cpu_weight: a
            .cpu_weight
            .as_deref()
            .map(|s| units::parse_count("--cpu-weight", s, 1, 10_000, false))
            .transpose()?
            .and_then(Limit::value),
        io_weight: a
            .io_weight
            .as_deref()
            .map(|s| units::parse_count("--io-weight", s, 1, 10_000, false))
            .transpose()?
            .and_then(Limit::value),
        cpuset_cpus: match &a.cpuset_cpus {
            Some(c) => match expand_cpu_list(c) {
                Some(v) if !v.is_empty() => Some(c.trim().to_string()),
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid --cpuset-cpus '{c}': expected a CPU list (examples: 0, 0-3, 0,2)"
                    )))
                }
            },
            None => None,
        },
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
    let t = crate::target::resolve(&ctx.store, &a.target)
        .map_err(|e| Error::failed(format!("cannot limit {}: {e}", a.target)))?;
    let l = limits_from(&a)?;
    let freeze = if a.freeze {
        Some(true)
    } else if a.thaw {
        Some(false)
    } else {
        None
    };
    let ctx_err = |e: Error| Error::failed(format!("cannot limit {}: {e}", a.target));
    if !a.reset && l.is_empty() && freeze.is_none() {
        // No change asked for: show the cgroup part of inspect.
        let (_, set, paths) = limit::cgroups_of(t.pid).map_err(ctx_err)?;
        let rep = crate::cgroup::report::read(&set, paths);
        if ctx.json {
            output::print_json(&serde_json::to_value(&rep).unwrap_or_default());
        } else {
            output::print(&super::render::render_cgroup(&rep, ctx.color));
        }
        return Ok(0);
    }
    // Who runs the target: its runtime may keep its own pause flag and record of limits.
    let identity = match &t.identity {
        Some(i) => Some(i.clone()),
        None => crate::target::identify(&ctx.store, t.pid).map(|(i, _, _)| i),
    };
    if freeze == Some(false) && !a.force {
        if let Some(why) = limit::thaw_refusal(&ctx.store.root, t.pid, identity.as_ref()) {
            return Err(ctx_err(Error::failed(why)));
        }
    }
    let out = if a.reset {
        let out = limit::reset(&ctx.store.root, t.pid).map_err(ctx_err)?;
        for w in &out.warnings {
            eprintln!("nsk: warning: {}", output::clean(w));
        }
        out
    } else {
        limit::change(&ctx.store.root, t.pid, &l, freeze, a.dry_run, &mut |w| {
            eprintln!("nsk: warning: {}", output::clean(w))
        })
        .map_err(ctx_err)?
    };
    let mut out = out;
    if !a.reset && !a.dry_run && !out.changes.is_empty() {
        if let Some(w) = limit::runtime_view_warning(identity.as_ref(), !l.is_empty(), freeze) {
            eprintln!("nsk: warning: {}", output::clean(&w));
            out.warnings.push(w);
        }
    }
    if !t.still_alive() {
        eprintln!("nsk: warning: process {} exited during the change", t.pid);
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
        output::print_json(&v);
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
        output::print(&output::table(&[head, "BEFORE", "", "AFTER"], rows));
    }
    Ok(0)
}
