//! Text renderings more than one command prints: key-value blocks and the cgroup section that
//! `nsk inspect` and `nsk limit` both show.

use crate::output;
use crate::units::format_size;

pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), |x| x.to_string())
}

pub fn size(v: Option<u64>) -> String {
    v.map_or_else(|| "max".into(), format_size)
}

pub fn kv(rows: Vec<(&str, String)>) -> String {
    output::table(
        &["", ""],
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    )
    .lines()
    .skip(1)
    .map(|l| format!("  {l}\n"))
    .collect()
}

/// The cgroup section (also what `nsk limit TARGET` shows with no change).
pub fn render_cgroup(c: &crate::cgroup::report::Report, color: bool) -> String {
    let mut s = String::new();
    let title = |t: &str| output::paint(t, 1, color) + "\n";
    s += &title(&format!("CGROUP {}", c.version.map_or("-", |v| v.as_str())));
    let l = &c.limits;
    let u = &c.usage;
    // On v2 a controller the parent does not enable for this cgroup has no files here.
    let on = |ctrl: &str, v: String| match &c.controllers {
        Some(cs) if !cs.iter().any(|x| x == ctrl) => "not enabled".to_string(),
        _ => v,
    };
    let mut rows = vec![
        (
            "path",
            c.paths
                .get("memory")
                .or_else(|| c.paths.get("unified"))
                .cloned()
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "memory",
            on(
                "memory",
                match u.memory_working_set {
                    Some(ws) => format!(
                        "{} working set, {} usage / {}",
                        format_size(ws),
                        u.memory_current.map_or("-".into(), format_size),
                        size(l.memory_max)
                    ),
                    None => format!(
                        "{} / {}",
                        u.memory_current.map_or("-".into(), format_size),
                        size(l.memory_max)
                    ),
                },
            ),
        ),
        ("memory+swap", on("memory", size(l.memory_swap_max))),
        (
            "cpus",
            on("cpu", l.cpus.map_or("max".into(), |c| c.to_string())),
        ),
        (
            "pids",
            on(
                "pids",
                format!(
                    "{} / {}",
                    opt(&u.pids_current),
                    l.pids_max.map_or("max".into(), |p| p.to_string())
                ),
            ),
        ),
        (
            "cpu time",
            u.cpu_usage_usec
                .map_or("-".into(), |us| format!("{:.2}s", us as f64 / 1e6)),
        ),
    ];
    if let Some(cs) = &c.controllers {
        let list = if cs.is_empty() {
            "none".into()
        } else {
            cs.join(" ")
        };
        rows.insert(1, ("controllers", list));
    }
    if c.frozen == Some(true) {
        rows.push(("frozen", "yes: no task runs until thawed".into()));
    }
    if let Some(p) = u.memory_peak {
        rows.push(("memory peak", format_size(p)));
    }
    if let Some(c) = &l.cpuset_cpus {
        rows.push(("cpuset", c.clone()));
    }
    if !c.events.is_empty() {
        rows.push((
            "events",
            c.events
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    for (res, p) in &c.pressure {
        if let Some(some) = p.get("some") {
            rows.push((
                "pressure",
                format!(
                    "{res} some avg10={}",
                    some.get("avg10").copied().unwrap_or(0.0)
                ),
            ));
        }
    }
    s += &kv(rows);
    s
}
