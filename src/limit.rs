//! Live limit changes on any process's cgroups: planned through the cgroup module (v1 or v2),
//! checked (root cgroup refused, systemd and shared cgroups warned about), journaled with the
//! values they replace, applied with read-back and rollback, and undone by `reset`.

use crate::cgroup::journal::{self, Journal};
pub use crate::cgroup::Change;
use crate::cgroup::{first_line, report, CgroupSet, Hierarchy, Limits, Write};
use crate::error::{Error, Result};
use crate::notice::{Notice, Notify};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// CPUs the kernel has online (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> Option<Vec<u32>> {
    crate::cgroup::expand_cpu_list(&fs::read_to_string("/sys/devices/system/cpu/online").ok()?)
}

/// "0-1,4": a CPU list, compressed into ranges.
pub fn cpu_ranges(cpus: &[u32]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// Every check the kernel would make of these writes, made before anything is written, so a
/// dry run fails exactly as the real change would, with a sentence about what to change:
/// CPUs that do not exist or that the parent cgroup does not allow, a CPU limit above the
/// host's CPU count (Docker refuses it too), and on v1 a memory limit above memory+swap at any
/// step of the write order.
pub fn preflight(set: &CgroupSet, writes: &[Write], l: &Limits) -> Result<()> {
    if let Some(list) = &l.cpuset_cpus {
        let want = crate::cgroup::expand_cpu_list(list).unwrap_or_default();
        if let Some(online) = online_cpus() {
            let missing: Vec<u32> = want
                .iter()
                .copied()
                .filter(|c| !online.contains(c))
                .collect();
            if !missing.is_empty() {
                return Err(Error::failed(format!(
                    "cannot set cpuset.cpus to {list}: CPUs {} do not exist on this host (online: {})",
                    cpu_ranges(&missing),
                    cpu_ranges(&online)
                )));
            }
        }
        // The parent's own set bounds a child's.
        {
            if let Some(allowed) = set.parent_cpus() {
                let outside: Vec<u32> = want
                    .iter()
                    .copied()
                    .filter(|c| !allowed.contains(c))
                    .collect();
                if !outside.is_empty() {
                    return Err(Error::failed(format!(
                        "cannot set cpuset.cpus to {list}: CPUs {} are not in the parent cgroup's cpuset ({})",
                        cpu_ranges(&outside),
                        cpu_ranges(&allowed)
                    )));
                }
            }
        }
    }
    if let Some(crate::units::Limit::Value(q)) = l.cpu_quota_us {
        let period = l
            .cpu_period_us
            .unwrap_or(crate::cgroup::DEFAULT_CPU_PERIOD_US);
        let n = online_cpus().map_or(0, |c| c.len());
        if n > 0 && q > period * n as u64 {
            return Err(Error::invalid(format!(
                "invalid --cpus {}: this host has {n} CPUs (range: 0.01 to {n}.00)",
                q as f64 / period as f64
            )));
        }
    }
    set.check_order(writes)?;
    Ok(())
}

/// Why nsk will not thaw a container its runtime froze, if so: Docker keeps its own paused
/// flag (a thaw behind its back leaves `docker inspect` saying paused and makes `docker
/// unpause` fail), and any runtime's freeze that nsk did not make is the runtime's to undo.
pub fn thaw_refusal(
    state_root: &Path,
    dir: &crate::process::ProcDir,
    identity: Option<&crate::runtime::Identity>,
) -> Option<String> {
    let id = identity?;
    if id.runtime == "nsk" {
        return None;
    }
    let (_, set, _) = cgroups_of(dir).ok()?;
    let file = set.freeze_file()?;
    let cur = first_line(&file);
    let frozen = matches!(cur.as_str(), "FROZEN" | "FREEZING" | "1");
    let by_runtime = id.runtime_paused == Some(true);
    if !frozen && !by_runtime {
        return None;
    }
    let by_nsk = journal::load(&journal::path(state_root, &set))
        .ok()
        .flatten()
        .and_then(|j| j.written.get(&file.display().to_string()).cloned())
        .is_some_and(|w| w == cur);
    if by_nsk && !by_runtime {
        return None;
    }
    let (rt, undo) = match id.runtime.as_str() {
        "docker" => ("Docker", "docker unpause"),
        "podman" => ("Podman", "podman unpause"),
        "containerd" => ("containerd", "ctr task resume"),
        "cri-o" | "kubernetes" => ("its runtime", "the runtime's own resume"),
        _ => ("its runtime", "the runtime's own resume"),
    };
    Some(format!(
        "{} was paused by {rt}, not by nsk: a thaw behind its back leaves {rt} saying paused \
         (and its own resume then fails); use {undo}, or --force to thaw it anyway",
        id.describe()
    ))
}

/// What to say after changing a container whose runtime keeps its own record of its limits.
pub fn runtime_view_warning(
    identity: Option<&crate::runtime::Identity>,
    limits: bool,
    freeze: Option<bool>,
) -> Option<String> {
    let id = identity?;
    if !limits {
        let tool = match id.runtime.as_str() {
            "docker" => "docker inspect",
            "podman" => "podman inspect",
            _ => return None,
        };
        return (freeze == Some(true)).then(|| {
            format!(
                "{} no longer matches: {tool} still says running, since the runtime does not know nsk froze it (thaw it with nsk limit --thaw)",
                id.describe()
            )
        });
    }
    let (tool, fix) = match id.runtime.as_str() {
        "docker" => ("docker inspect", "docker update"),
        "podman" => ("podman inspect", "podman update"),
        "containerd" if id.pod.is_some() => ("crictl inspect", "the pod spec"),
        "cri-o" | "kubernetes" => ("crictl inspect", "the pod spec"),
        _ => return None,
    };
    Some(format!(
        "{} no longer matches: {tool} still shows the runtime's own record of the limits, which \
         nsk does not edit (make a lasting change with {fix})",
        id.describe()
    ))
}

/// The cgroups of a pinned process (read through its held /proc directory), with each
/// controller's path.
pub fn cgroups_of(
    dir: &crate::process::ProcDir,
) -> Result<(Hierarchy, CgroupSet, BTreeMap<String, String>)> {
    let h = Hierarchy::detect()?;
    let text = dir.read("cgroup")?;
    let (set, paths) = report::of_process(&h, &text);
    Ok((h, set, paths))
}

/// Refuse to touch a hierarchy's root cgroup.
fn check_not_root(set: &CgroupSet, h: &Hierarchy, writes: &[Write]) -> Result<()> {
    for w in writes {
        if let Some(d) = set.dir_for(w.controller) {
            if h.mounts.iter().any(|m| m.mountpoint == d) {
                return Err(Error::failed(format!(
                    "refusing to change the root cgroup ({}): the target is not in a cgroup of its own",
                    d.display()
                )));
            }
        }
    }
    Ok(())
}

/// Warnings worth reading before a change lands.
pub fn warnings(set: &CgroupSet, pid: i32, l: &Limits) -> Vec<String> {
    let mut w = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for d in &set.dirs {
        let p = d.path.to_string_lossy();
        if (p.ends_with(".scope") || p.ends_with(".service") || p.ends_with(".slice"))
            && seen.insert(p.to_string())
        {
            w.push(format!(
                "{p} is managed by systemd, which may rewrite this value later"
            ));
        }
    }
    // Processes in the cgroup that are not in the target's PID namespace belong to something else.
    let own_pidns = crate::process::ns_inode(pid, "pid");
    if let Some(d) = set
        .dir_for("memory")
        .or_else(|| set.dirs.first().map(|d| d.path.as_path()))
    {
        if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
            let outside = procs
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .filter(|p| {
                    crate::process::ns_inode(*p, "pid").is_some_and(|n| Some(n) != own_pidns)
                })
                .count();
            if outside > 0 {
                w.push(format!(
                    "{} also holds {outside} process(es) outside the target's PID namespace",
                    d.display()
                ));
            }
        }
    }
    // A host process (in nsk's own PID namespace) whose cgroup also holds processes that are
    // neither it nor its descendants: the limit lands on them too.
    let own = crate::process::ns_inode(std::process::id() as i32, "pid");
    if own.is_some() && own_pidns == own {
        if let Some(d) = set
            .dir_for("memory")
            .or_else(|| set.dirs.first().map(|d| d.path.as_path()))
        {
            let others: Vec<i32> = fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .filter(|p| !descends_from(*p, pid))
                .collect();
            if !others.is_empty() {
                let shown: Vec<String> = others.iter().take(5).map(|p| p.to_string()).collect();
                w.push(format!(
                    "{} also holds {} process(es) that are not {pid} or its children (PIDs {}{}): the limit applies to them too",
                    d.display(),
                    others.len(),
                    shown.join(", "),
                    if others.len() > 5 { ", ..." } else { "" }
                ));
            }
        }
    }
    if let Some(crate::units::Limit::Value(m)) = l.memory {
        let usage = set.memory().current;
        if let Some(u) = usage.filter(|u| *u > m) {
            w.push(format!(
                "the new memory limit {} is below the current usage {}: the kernel will reclaim memory and may OOM-kill processes",
                crate::units::format_size(m),
                crate::units::format_size(u)
            ));
        }
    }
    w
}

/// Is `p` the process `ancestor` or one of its descendants (by the parent PIDs in /proc)?
fn descends_from(mut p: i32, ancestor: i32) -> bool {
    for _ in 0..4096 {
        if p == ancestor {
            return true;
        }
        if p <= 1 {
            return false;
        }
        match fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| crate::process::parse_ppid(&s))
        {
            Some(pp) => p = pp,
            None => return false,
        }
    }
    false
}

fn read_file(set: &CgroupSet, w: &Write) -> Option<(PathBuf, String)> {
    let p = set.dir_for(w.controller)?.join(w.file);
    let v = fs::read_to_string(&p).ok()?;
    Some((p, v.lines().next().unwrap_or("").trim().to_string()))
}

pub struct Outcome {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

/// Plan, check, journal and apply `l` (and a freeze or thaw) on the cgroups of the pinned
/// process `dir`. A dry run makes every check the real change makes and fails the same way.
pub fn change(
    state_root: &Path,
    dir: &crate::process::ProcDir,
    l: &Limits,
    freeze: Option<bool>,
    dry_run: bool,
    notify: &mut Notify,
) -> Result<Outcome> {
    let pid = dir.pid;
    let (h, set, _) = cgroups_of(dir)?;
    let writes = set.plan(l)?;
    check_not_root(&set, &h, &writes)?;
    preflight(&set, &writes, l)?;
    if freeze.is_some() {
        check_not_root(
            &set,
            &h,
            &[Write {
                controller: set.freeze_controller(),
                file: "",
                value: String::new(),
            }],
        )?;
    }
    let warnings = warnings(&set, pid, l);
    for w in &warnings {
        notify(Notice::Warning(w.clone()));
    }
    let mut changes: Vec<Change> = vec![];
    let _lock = if dry_run {
        None
    } else {
        Some(journal::lock(&set)?)
    };
    let mut before = vec![];
    for w in &writes {
        let (p, v) = read_file(&set, w).ok_or_else(|| set.unreadable(w))?;
        before.push((p, v, w.value.clone()));
    }
    if dry_run {
        for (p, b, a) in before {
            changes.push(Change {
                file: p.display().to_string(),
                before: b,
                after: a,
            });
        }
        if let Some(f) = freeze {
            changes.push(Change {
                file: "freeze".into(),
                before: "-".into(),
                after: f.to_string(),
            });
        }
        return Ok(Outcome { changes, warnings });
    }
    // Journal first: a crash half-way still knows the original values.
    let jp = journal::path(state_root, &set);
    let previous = journal::load(&jp)?;
    let mut j = journal::load(&jp)?.unwrap_or(Journal {
        pid,
        ..Default::default()
    });
    for (p, b, _) in &before {
        j.original
            .entry(p.display().to_string())
            .or_insert_with(|| b.clone());
    }
    if freeze.is_some() {
        if let Some(file) = set.freeze_file() {
            j.original
                .entry(file.display().to_string())
                .or_insert_with(|| set.thawed_value().to_string());
        }
    }
    journal::save(&jp, &j)?;
    if let Err(e) = set.apply(&writes) {
        // Rolled back: the journal goes back to what it was.
        match &previous {
            Some(p) => journal::save(&jp, p)?,
            None => journal::forget(&jp),
        }
        return Err(explain(e));
    }
    for (p, b, _) in before {
        let after = first_line(&p);
        j.written.insert(p.display().to_string(), after.clone());
        changes.push(Change {
            file: p.display().to_string(),
            before: b,
            after,
        });
    }
    if let Some(f) = freeze {
        let c = set.set_frozen(f)?;
        j.written.insert(c.file.clone(), c.after.clone());
        changes.push(c);
    }
    // What nsk wrote, so that a reset can tell a value someone changed since.
    journal::save(&jp, &j)?;
    Ok(Outcome { changes, warnings })
}

/// Put back the values from before nsk's first change, and forget the journal.
pub fn reset(state_root: &Path, dir: &crate::process::ProcDir) -> Result<Outcome> {
    let (_, set, _) = cgroups_of(dir)?;
    let _lock = journal::lock(&set)?;
    let jp = journal::path(state_root, &set);
    let j = journal::load(&jp)?
        .ok_or_else(|| Error::failed("nothing to reset: nsk has not changed these cgroups"))?;
    // Only limit files directly in the target's own cgroup directories are ever written back
    // (never cgroup.procs or any other control file a forged journal might name).
    for file in j.original.keys() {
        let p = Path::new(file);
        let inside = p
            .parent()
            .is_some_and(|d| set.dirs.iter().any(|x| x.path == d))
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| journal::FILES.contains(&n))
            && crate::cgroup::on_cgroupfs(p);
        if !inside {
            return Err(Error::failed(format!(
                "refusing to reset: the journal {} names {file}, which is not a file of the target's cgroups",
                jp.display()
            )));
        }
    }
    let mut changes = vec![];
    let mut warnings = vec![];
    // A value someone else set since nsk wrote its own (docker update, the runtime's pause)
    // is theirs: left alone, and named.
    let mut pending: Vec<(String, String)> = vec![];
    for (file, orig) in j.original {
        let now = first_line(&file);
        match j.written.get(&file) {
            Some(w) if !same_reading(w, &now) => warnings.push(format!(
                "{file} was changed to {now} since nsk set it to {w}: left alone (nsk's original value was {})",
                if orig.is_empty() { "empty" } else { &orig }
            )),
            _ => pending.push((file, orig)),
        }
    }
    // Order matters (v1 memory may not exceed memory+swap): retry what the kernel refused
    // until a pass makes no progress.
    let mut last_err = None;
    for _ in 0..3 {
        let mut next = vec![];
        for (file, orig) in pending {
            let before = fs::read_to_string(&file)
                .map(|s| s.lines().next().unwrap_or("").trim().to_string())
                .unwrap_or_default();
            let value = if file.ends_with("freezer.state") && orig == "FREEZING" {
                "THAWED".to_string()
            } else {
                orig.clone()
            };
            let written = match crate::cgroup::write_value(Path::new(&file), &value) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && value.is_empty() => {
                    inherited_cpuset(Path::new(&file), &mut warnings).unwrap_or(Err(e))
                }
                r => r,
            };
            match written {
                Ok(()) => {
                    let after = fs::read_to_string(&file)
                        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
                        .unwrap_or_default();
                    changes.push(Change {
                        file,
                        before,
                        after,
                    });
                }
                Err(e) => {
                    last_err = Some(Error::Io {
                        what: format!("cannot restore '{value}' to {file}"),
                        source: e,
                    });
                    next.push((file, orig));
                }
            }
        }
        pending = next;
        if pending.is_empty() {
            break;
        }
    }
    if !pending.is_empty() {
        return Err(last_err.unwrap_or_else(|| Error::failed("cannot restore the original values")));
    }
    journal::forget(&jp);
    Ok(Outcome { changes, warnings })
}

/// Do two readings of a cgroup file say the same (CPU lists compared as sets)?
fn same_reading(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.contains(['-', ',']) || b.contains(['-', ',']) {
        if let (Some(x), Some(y)) = (
            crate::cgroup::expand_cpu_list(a),
            crate::cgroup::expand_cpu_list(b),
        ) {
            return x == y;
        }
    }
    false
}

/// A v2 `cpuset.cpus` or `cpuset.mems` that was empty inherited its parent's set. Some kernels
/// (6.1 among them) refuse (ENOSPC) to empty the cpuset of a cgroup that holds processes, so the
/// nearest restore is the set it inherited, named explicitly: the same CPUs or nodes, said in a
/// warning.
fn inherited_cpuset(file: &Path, warnings: &mut Vec<String>) -> Option<std::io::Result<()>> {
    let name = file.file_name()?.to_str()?;
    if name != "cpuset.cpus" && name != "cpuset.mems" {
        return None;
    }
    let parent = file.parent()?.parent()?;
    let eff = fs::read_to_string(parent.join(format!("{name}.effective"))).ok()?;
    let eff = eff.trim();
    if eff.is_empty() {
        return None;
    }
    let r = crate::cgroup::write_value(file, eff);
    if r.is_ok() {
        warnings.push(format!(
            "{} was empty (inherited from its parent), but this kernel refuses to empty the cpuset \
             of a cgroup that holds processes: it now names the inherited set {eff} explicitly",
            file.display()
        ));
    }
    Some(r)
}

/// Say what a kernel refusal of a cgroup write means where it is not obvious, by the file
/// refused and the errno.
fn explain(e: Error) -> Error {
    use nix::errno::Errno;
    let Error::CgroupWrite {
        context,
        path,
        value,
        errno,
        hint: None,
    } = e
    else {
        return e;
    };
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let hint = match (file, errno) {
        ("cpuset.cpus", Errno::ERANGE | Errno::EINVAL) => Some(format!(
            "the CPUs must exist on this host, online: {}, and be in the parent cgroup's cpuset",
            online_cpus().map_or_else(|| "?".into(), |c| cpu_ranges(&c))
        )),
        ("memory.limit_in_bytes", Errno::EINVAL) => Some(
            "the memory limit may not exceed memory+swap: raise --memory-swap with it".into(),
        ),
        ("cpu.cfs_quota_us", Errno::EINVAL) => {
            Some("on cgroup v1 a quota may not exceed its parent cgroup's".into())
        }
        (f, Errno::EBUSY) if f.starts_with("memory.") => Some(
            "the kernel could not reclaim enough memory to fit under the new limit: on cgroup v1 it refuses instead of OOM-killing".into(),
        ),
        _ => None,
    };
    Error::CgroupWrite {
        context,
        path,
        value,
        errno,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Version;

    /// A refusal is explained by the file refused and the errno, whatever the path holds.
    #[test]
    fn kernel_refusals_are_explained_by_file_and_errno() {
        let refused = |path: &str, errno: i32| {
            explain(Error::cgroup_write(
                Path::new(path),
                "1",
                std::io::Error::from_raw_os_error(errno),
            ))
        };
        let hint = |e: &Error| match e {
            Error::CgroupWrite { hint, .. } => hint.clone(),
            _ => panic!("{e:?}"),
        };
        let e = refused("/sys/fs/cgroup/cpuset/nsk/a/cpuset.cpus", libc::EINVAL);
        assert!(hint(&e).unwrap().starts_with("the CPUs must exist"), "{e}");
        assert_eq!(e.errno(), Some(nix::errno::Errno::EINVAL));
        let e = refused("/sys/fs/cgroup/cpuset/nsk/a/cpuset.cpus", libc::EBUSY);
        assert_eq!(hint(&e), None);
        let e = refused(
            "/sys/fs/cgroup/memory/nsk/a/memory.limit_in_bytes",
            libc::EINVAL,
        );
        assert!(hint(&e).unwrap().contains("raise --memory-swap"), "{e}");
        assert!(
            e.to_string().ends_with("raise --memory-swap with it)"),
            "{e}"
        );
        let e = refused(
            "/sys/fs/cgroup/memory/nsk/a/memory.memsw.limit_in_bytes",
            libc::EINVAL,
        );
        assert_eq!(hint(&e), None);
        let e = refused("/sys/fs/cgroup/memory/nsk/a/memory.max", libc::EBUSY);
        assert!(hint(&e).unwrap().contains("could not reclaim"), "{e}");
        let e = refused("/sys/fs/cgroup/cpu/nsk/a/cpu.cfs_quota_us", libc::EINVAL);
        assert!(hint(&e).unwrap().contains("parent cgroup's"), "{e}");
        // A directory named like a file is not the file.
        let e = refused("/sys/fs/cgroup/cpuset.cpus/a/pids.max", libc::EINVAL);
        assert_eq!(hint(&e), None);
        // Another kind of error is left as it is.
        let e = explain(Error::failed("x"));
        assert!(matches!(e, Error::Failed(_)));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_ranges(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(cpu_ranges(&[]), "");
        assert!(same_reading("0-1", "0,1"));
        assert!(!same_reading("50000 100000", "70000 100000"));
        assert!(!same_reading("-1", "1"));
    }

    /// A fake v1 memory cgroup: the write order is walked as the kernel would check it.
    #[test]
    fn memory_above_memsw_is_refused_before_any_write() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("memory");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("memory.limit_in_bytes"), "104857600\n").unwrap();
        fs::write(d.join("memory.memsw.limit_in_bytes"), "209715200\n").unwrap();
        let set = CgroupSet {
            version: Version::V1,
            dirs: vec![crate::cgroup::Dir {
                key: "memory".into(),
                path: d.clone(),
            }],
        };
        let mem = |m: u64, s: Option<u64>| Limits {
            memory: Some(crate::units::Limit::Value(m)),
            memory_swap: s.map(crate::units::Limit::Value),
            ..Default::default()
        };
        let l = mem(300 << 20, None);
        let e = preflight(&set, &set.plan(&l).unwrap(), &l)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("above the container's memory+swap limit 200M"),
            "{e}"
        );
        let l = mem(300 << 20, Some(600 << 20));
        preflight(&set, &set.plan(&l).unwrap(), &l).unwrap();
        let l = mem(150 << 20, None);
        preflight(&set, &set.plan(&l).unwrap(), &l).unwrap();
    }

    /// One nsk saving its journal while another forgets its own in the same journal directory:
    /// every save lands.
    #[test]
    fn saving_races_with_forgetting() {
        let t = tempfile::tempdir().unwrap();
        let mine = t.path().join(".limits/a.json");
        let other = t.path().join(".limits/b.json");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let o2 = other.clone();
        let forgetter = std::thread::spawn(move || {
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                journal::forget(&o2);
            }
        });
        let j = Journal {
            pid: 1,
            ..Default::default()
        };
        for _ in 0..2000 {
            journal::save(&mine, &j).unwrap();
            journal::forget(&mine);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        forgetter.join().unwrap();
    }
}
