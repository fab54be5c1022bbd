use super::Ctx;
use crate::cli::PsArgs;
use crate::container::state::{parse_rfc3339, State, Status};
use crate::error::Result;
use crate::output;

/// A container directory as `ps` sees it: a full state, or one whose state is unreadable
/// (half-created by a run that was killed).
enum Row {
    Full(Box<State>),
    Broken(String),
}

pub fn ps(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let mut rows = vec![];
    for name in ctx.store.names()? {
        match ctx.store.load(&name) {
            Ok(st) => {
                if a.all || st.status == Status::Running {
                    rows.push(Row::Full(Box::new(st)));
                }
            }
            Err(_) if a.all => rows.push(Row::Broken(name)),
            Err(_) => {}
        }
    }
    if ctx.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| match r {
                Row::Full(st) => serde_json::to_value(st).unwrap_or_default(),
                Row::Broken(n) => serde_json::json!({"name": n, "status": "created"}),
            })
            .collect();
        output::print_json(&serde_json::Value::Array(v));
        return Ok(0);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
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
                    st.name.clone(),
                    st.pid
                        .filter(|_| st.status == Status::Running)
                        .map_or("-".into(), |p| p.to_string()),
                    output::paint(&status, color, ctx.color),
                    parse_rfc3339(&st.created).map_or_else(
                        || st.created.clone(),
                        |t| output::ago(now.saturating_sub(t)),
                    ),
                    st.rootfs
                        .as_ref()
                        .map_or("host /".into(), |r| r.display().to_string()),
                    cmd,
                    match st.limits.summary() {
                        s if s.is_empty() => "-".into(),
                        s => s,
                    },
                ]
            }
            Row::Broken(n) => vec![
                n.clone(),
                "-".into(),
                "created".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        })
        .collect();
    output::print(&output::table(
        &[
            "NAME", "PID", "STATUS", "CREATED", "ROOTFS", "COMMAND", "LIMITS",
        ],
        table_rows,
    ));
    Ok(0)
}
