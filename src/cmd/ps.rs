use super::Ctx;
use crate::cli::PsArgs;
use crate::clock::parse_rfc3339;
use crate::container::state::{Loaded, State, Status};
use crate::error::Result;
use crate::output;

/// A container directory as `ps` sees it: a full state, or one whose state cannot be trusted
/// (reported as damaged, with the reason on stderr).
enum Row {
    Full(Box<State>),
    Damaged(String, String),
}

pub fn ps(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    if a.host {
        return host(ctx);
    }
    let mut rows = vec![];
    for name in ctx.store.names()? {
        match ctx.store.read(&name) {
            Ok(Loaded::Ok(st)) => {
                if a.all || st.status == Status::Running {
                    rows.push(Row::Full(st));
                }
            }
            Ok(Loaded::Damaged(why)) => {
                eprintln!(
                    "nsk: warning: container {name} has a damaged state: {}",
                    output::clean(&why)
                );
                if a.all {
                    rows.push(Row::Damaged(name, why));
                }
            }
            // Removed meanwhile.
            Err(_) => {}
        }
    }
    if ctx.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| match r {
                Row::Full(st) => serde_json::to_value(st).unwrap_or_default(),
                Row::Damaged(n, why) => {
                    serde_json::json!({"name": n, "status": "damaged", "error": why})
                }
            })
            .collect();
        output::print_json(&serde_json::Value::Array(v))?;
        return Ok(0);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let images = crate::image::Cache::new(&ctx.store.root)
        .list()
        .unwrap_or_default();
    let table_rows = rows
        .iter()
        .map(|r| match r {
            Row::Full(st) => {
                let status = st.status_text();
                let color = match st.status {
                    Status::Running => 32,
                    Status::OomKilled => 31,
                    Status::Exited if st.exit_code.unwrap_or(0) != 0 => 31,
                    _ => 33,
                };
                let mut cmd = st.command.join(" ");
                if cmd.chars().count() > 40 {
                    cmd = cmd.chars().take(39).collect::<String>() + "…";
                }
                vec![
                    st.name.clone().into(),
                    st.pid
                        .filter(|_| st.status == Status::Running)
                        .map_or("-".into(), |p| p.to_string())
                        .into(),
                    output::colored(status, color, ctx.color),
                    parse_rfc3339(&st.created)
                        .map_or_else(
                            || st.created.clone(),
                            |t| output::ago(now.saturating_sub(t)),
                        )
                        .into(),
                    match (&st.image, &st.rootfs) {
                        (Some(id), _) => images
                            .iter()
                            .find(|m| &m.id == id)
                            .map_or_else(|| id.clone(), crate::image::display_name),
                        (None, Some(r)) => r.display().to_string(),
                        (None, None) => "host /".into(),
                    }
                    .into(),
                    cmd.into(),
                    match st.limits.summary() {
                        s if s.is_empty() => "-".into(),
                        s => s,
                    }
                    .into(),
                ]
            }
            Row::Damaged(n, _) => [n.as_str(), "-", "damaged", "-", "-", "-", "-"]
                .map(output::Cell::from)
                .into(),
        })
        .collect();
    output::print(&output::table(
        &[
            "NAME", "PID", "STATUS", "CREATED", "ROOTFS", "COMMAND", "LIMITS",
        ],
        table_rows,
    ))?;
    Ok(0)
}

/// `nsk ps --host`: every group of isolated processes on the host.
fn host(ctx: &Ctx) -> Result<i32> {
    let groups = crate::scan::host_groups(&ctx.store)?;
    if ctx.json {
        output::print_json(&serde_json::to_value(&groups).unwrap_or_default())?;
        return Ok(0);
    }
    let size = crate::units::format_size;
    let rows = groups
        .iter()
        .map(|g| {
            let c = g.container.as_ref();
            let container = match c {
                Some(c) => format!(
                    "{} {}",
                    c.runtime,
                    match &c.pod {
                        Some(p) if p.namespace.is_some() => format!(
                            "{}/{}/{}",
                            p.namespace.as_deref().unwrap_or("-"),
                            p.name.as_deref().unwrap_or("-"),
                            p.container.as_deref().unwrap_or("-")
                        ),
                        _ => c
                            .name
                            .clone()
                            .unwrap_or_else(|| c.id.chars().take(12).collect()),
                    }
                ),
                None => "-".into(),
            };
            let mem = match (g.memory_current, g.memory_max) {
                (Some(u), m) => format!(
                    "{} ({} raw) / {}",
                    size(g.memory_working_set.unwrap_or(u)),
                    size(u),
                    m.map_or_else(|| "max".to_string(), size)
                ),
                _ => "-".into(),
            };
            let mut cmd = g.command.join(" ");
            if cmd.chars().count() > 40 {
                cmd = cmd.chars().take(39).collect::<String>() + "…";
            }
            let dash = || "-".to_string();
            vec![
                container,
                c.map_or_else(dash, |c| c.id.chars().take(12).collect()),
                c.and_then(|c| c.image.clone()).unwrap_or_else(dash),
                c.and_then(|c| c.status.clone()).unwrap_or_else(dash),
                c.and_then(|c| c.uptime_seconds)
                    .map_or_else(dash, output::uptime),
                g.pid.to_string(),
                g.nprocs.to_string(),
                g.isolated.join(","),
                mem,
                cmd,
            ]
        })
        .collect();
    output::print(&output::table(
        &[
            "CONTAINER",
            "ID",
            "IMAGE",
            "STATUS",
            "UPTIME",
            "PID",
            "NPROCS",
            "ISOLATED",
            "MEMORY (WORKING SET)",
            "COMMAND",
        ],
        rows,
    ))?;
    Ok(0)
}
