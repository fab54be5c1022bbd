use super::render::{kv, opt, render_cgroup};
use super::Ctx;
use crate::cli::InspectArgs;
use crate::error::{Error, Result};
use crate::inspect::{self, Inspection};
use crate::output;

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    let what = |e: Error| e.context(format!("cannot inspect {}", a.target));
    let t = crate::target::resolve(&ctx.store, &a.target).map_err(what)?;
    let i = inspect::inspect(&ctx.store, &t).map_err(what)?;
    if ctx.json {
        output::print_json(&serde_json::to_value(&i).unwrap_or_default())?;
    } else {
        output::print(&render(&i, ctx.color))?;
    }
    Ok(0)
}

pub fn render(i: &Inspection, color: bool) -> String {
    let mut s = String::new();
    let title = |t: &str| output::paint(t, 1, color) + "\n";
    s += &title(&format!("PROCESS {}", i.pid));
    let ids = |x: &Option<inspect::Ids>| {
        x.as_ref().map_or("-".into(), |x| {
            format!("{} (effective {})", x.real, x.effective)
        })
    };
    let mut rows = vec![
        (
            "command",
            if i.cmdline.is_empty() {
                format!("[{}]", opt(&i.comm))
            } else {
                i.cmdline.join(" ")
            },
        ),
        ("ppid", opt(&i.ppid)),
        (
            "nspid",
            i.nspid
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" → "),
        ),
        ("state", opt(&i.state)),
        ("exe", opt(&i.exe)),
        ("uid", ids(&i.uid)),
        ("gid", ids(&i.gid)),
        (
            "uid map",
            i.uid_map
                .iter()
                .map(|m| format!("{} {} {}", m[0], m[1], m[2]))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("cwd", opt(&i.cwd)),
        ("root", opt(&i.root)),
        (
            "seccomp",
            match (&i.seccomp, i.seccomp_filters) {
                (Some(m), Some(n)) if m == "filter" => format!("filter ({n})"),
                (m, _) => opt(m),
            },
        ),
        (
            "lsm",
            match &i.lsm_label {
                Some(l) => match &l.mode {
                    Some(m) => format!("{} ({m})", l.value),
                    None => l.value.clone(),
                },
                None => "none".into(),
            },
        ),
        ("no_new_privs", opt(&i.no_new_privs)),
    ];
    if let Some(c) = &i.capabilities {
        let short = |v: &Vec<String>| {
            if v.len() >= 40 {
                "all".to_string()
            } else if v.is_empty() {
                "none".into()
            } else {
                v.iter()
                    .map(|c| c.trim_start_matches("CAP_").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        rows.push(("caps", short(&c.effective)));
        rows.push(("bounding", short(&c.bounding)));
    }
    if i.kernel_thread {
        rows.push(("kind", "kernel thread".into()));
    }
    s += &kv(rows);
    if let Some(c) = &i.container {
        s += &title("CONTAINER");
        s += &kv(container_rows(c));
    }
    s += &title("NAMESPACES");
    let rows = i
        .namespaces
        .iter()
        .map(|(k, n)| {
            vec![
                k.clone().into(),
                n.inode.to_string().into(),
                if n.isolated {
                    output::colored("isolated", 33, color)
                } else {
                    "host".into()
                },
                n.processes.to_string().into(),
            ]
        })
        .collect();
    s += &output::table(&["KIND", "INODE", "", "PROCS"], rows)
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect::<String>();
    if let Some(c) = &i.cgroup {
        s += &render_cgroup(c, color);
    }
    if let Some(n) = &i.network {
        s += &title(&format!("NETWORK (hostname {})", opt(&i.hostname)));
        let rows = n
            .iter()
            .map(|f| vec![f.name.clone(), f.state.clone(), f.addresses.join(" ")])
            .collect();
        s += &output::table(&["IFACE", "STATE", "ADDRESSES"], rows)
            .lines()
            .map(|l| format!("  {l}\n"))
            .collect::<String>();
    }
    if let Some(m) = &i.mounts {
        s += &title("MOUNTS");
        // What the runtime mounted for the container (binds and volumes) and the filesystems
        // under it; the kernel's own (/proc, /sys, /dev and their children) are counted only.
        let shown: Vec<Vec<String>> = m
            .list
            .iter()
            .filter(|e| {
                e.destination != "/"
                    && !["/proc", "/sys", "/dev"]
                        .iter()
                        .any(|k| e.destination == *k || e.destination.starts_with(&format!("{k}/")))
            })
            .map(|e| {
                vec![
                    e.destination.clone(),
                    e.source.clone(),
                    e.kind.clone(),
                    if e.ro { "ro" } else { "rw" }.into(),
                ]
            })
            .collect();
        if !shown.is_empty() {
            s += &output::table(&["DESTINATION", "SOURCE", "TYPE", "MODE"], shown)
                .lines()
                .map(|l| format!("  {l}\n"))
                .collect::<String>();
        }
        let mut rows = vec![("count", m.count.to_string())];
        if let Some(r) = &m.root {
            rows.push(("root", format!("{} ({})", r.fstype, r.source)));
            if !r.lower.is_empty() {
                rows.push(("lower", r.lower.join(":")));
            }
            if let Some(u) = &r.upper {
                rows.push(("upper", u.clone()));
            }
        }
        s += &kv(rows);
    }
    if !i.unreadable.is_empty() {
        s += &title("UNREADABLE");
        s += &kv(i
            .unreadable
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect());
    }
    s
}

/// The CONTAINER section: who runs it and what its runtime's files say.
fn container_rows(c: &crate::runtime::Identity) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("runtime", c.runtime.clone()),
        ("id", c.id.clone()),
        ("name", opt(&c.name)),
        ("image", opt(&c.image)),
        ("status", opt(&c.status)),
    ];
    if let (Some(at), Some(up)) = (&c.started_at, c.uptime_seconds) {
        rows.push(("started", format!("{at} ({})", output::uptime(up))));
    }
    if let Some(p) = &c.pod {
        rows.push(("pod", format!("{}/{}", opt(&p.namespace), opt(&p.name))));
        rows.push(("pod container", opt(&p.container)));
    }
    if c.pod.as_ref().and_then(|p| p.uid.as_ref()).is_some() || c.pod_uid.is_some() {
        rows.push((
            "pod uid",
            opt(&c
                .pod
                .as_ref()
                .and_then(|p| p.uid.clone())
                .or(c.pod_uid.clone())),
        ));
    }
    if !c.labels.is_empty() {
        rows.push((
            "labels",
            c.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    rows
}
