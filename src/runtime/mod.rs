//! Which container runtime a process belongs to, with no daemon: from its cgroup paths (Docker,
//! containerd, CRI-O, Podman, Kubernetes, nsk, in their cgroupfs and systemd spellings), from the
//! runtimes' task directories (containerd's `/<namespace>/<id>` cgroups name no runtime) and from
//! runc's and crun's state directories. Every file is read through a [`Host`], so fixture trees
//! test each layout, including those that cannot run on the test machine.

pub mod meta;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the host's files are: `/`, or a fixture tree standing in for it.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// The real host.
    pub fn real() -> Host {
        Host { root: "/".into() }
    }

    /// A tree laid out like a host's `/` (fixtures).
    pub fn at(root: impl Into<PathBuf>) -> Host {
        Host { root: root.into() }
    }

    /// The file that `abs` (an absolute path on the host) names here.
    pub fn path(&self, abs: impl AsRef<Path>) -> PathBuf {
        let abs = abs.as_ref();
        self.root.join(abs.strip_prefix("/").unwrap_or(abs))
    }

    /// The file `abs` names here, following a symlink whose target is absolute (kubelet's
    /// `/var/log/containers` links) inside this tree.
    pub fn follow(&self, abs: impl AsRef<Path>) -> PathBuf {
        let p = self.path(&abs);
        match std::fs::read_link(&p) {
            Ok(t) if t.is_absolute() => self.path(t),
            _ => p,
        }
    }

    pub fn read(&self, abs: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.path(abs)).ok()
    }

    pub fn json(&self, abs: impl AsRef<Path>) -> Option<serde_json::Value> {
        serde_json::from_str(&self.read(abs)?).ok()
    }

    pub fn exists(&self, abs: impl AsRef<Path>) -> bool {
        self.path(abs).exists()
    }

    /// Names in a directory (empty when it cannot be read).
    pub fn list(&self, abs: impl AsRef<Path>) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Kubernetes' names for a container, from the runtime's annotations or kubelet's log paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    /// The container's name in the pod spec; "POD" for the sandbox (pause) container.
    pub container: Option<String>,
}

/// A mount as the runtime configured it (host source, destination inside, type, read-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    pub source: String,
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ro: bool,
}

/// Where a container's output is kept, and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// Docker's json-file driver: one `{"log","stream","time"}` object per line.
    JsonFile(PathBuf),
    /// The CRI format (containerd, CRI-O, Podman's k8s-file): `TIME STREAM F|P TEXT`.
    Cri(PathBuf),
    /// nsk's own: the raw output of a detached container.
    Raw(PathBuf),
}

impl LogSource {
    pub fn path(&self) -> &Path {
        match self {
            LogSource::JsonFile(p) | LogSource::Cri(p) | LogSource::Raw(p) => p,
        }
    }
}

/// Who runs a container, and what its runtime's own files say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// nsk, docker, podman, containerd, cri-o, kubernetes (a kubepods container whose runtime left
    /// no file nsk knows), runc or crun.
    pub runtime: String,
    pub id: String,
    pub name: Option<String>,
    pub image: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// running, paused, restarting, exited, … (the runtime's word where it keeps one; else
    /// paused when the freezer holds the cgroup, running otherwise).
    pub status: Option<String>,
    /// When the container's first process started (RFC 3339, from the kernel).
    pub started_at: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub pod: Option<Pod>,
    pub pod_uid: Option<String>,
    /// The runtime's containerd namespace (containerd and Docker's moby) or rootless owner.
    #[serde(skip)]
    pub namespace: Option<String>,
    /// Rootless: the uid whose user manager runs the container.
    #[serde(skip)]
    pub owner_uid: Option<u32>,
    /// The runtime keeps its own paused flag (Docker): a thaw behind its back confuses it.
    #[serde(skip)]
    pub runtime_paused: Option<bool>,
    #[serde(skip)]
    pub mounts: Vec<MountSpec>,
    #[serde(skip)]
    pub log: Option<LogSource>,
}

impl Identity {
    pub fn new(runtime: &str, id: &str) -> Identity {
        Identity {
            runtime: runtime.into(),
            id: id.into(),
            ..Default::default()
        }
    }

    /// "docker web (8ec816d70f7d)": how a candidate is named in messages.
    pub fn describe(&self) -> String {
        let short: String = self.id.chars().take(12).collect();
        let mut s = format!("{}://", self.runtime);
        match (&self.pod, &self.name) {
            (Some(p), _) if p.namespace.is_some() && p.name.is_some() => {
                s += &format!(
                    "{}/{}",
                    p.namespace.as_deref().unwrap_or(""),
                    p.name.as_deref().unwrap_or("")
                );
                if let Some(c) = &p.container {
                    s += &format!("/{c}");
                }
                s += &format!(" ({short})");
            }
            (_, Some(n)) if *n != self.id => s += &format!("{n} ({short})"),
            _ => s += &self.id,
        }
        s
    }
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Strip `prefix` and an optional `.scope` from a cgroup name: "docker-<id>.scope" → "<id>",
/// "libpod-<id>" (Podman's cgroupfs manager) → "<id>".
fn prefixed_id<'a>(seg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = seg.strip_prefix(prefix)?;
    let id = rest.strip_suffix(".scope").unwrap_or(rest);
    is_hex_id(id, 64).then_some(id)
}

/// The pod UID in a kubepods path: "pod<uid>" (cgroupfs) or
/// "kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd).
fn pod_uid(seg: &str) -> Option<String> {
    let s = seg.strip_suffix(".slice").unwrap_or(seg);
    let i = s.rfind("pod")?;
    let uid = &s[i + 3..];
    let ok = uid.len() == 36
        && uid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '_');
    ok.then(|| uid.replace('_', "-"))
}

/// The uid of a systemd user manager in a path ("user@1000.service"): rootless containers.
fn owner_uid(segs: &[&str]) -> Option<u32> {
    segs.iter().find_map(|s| {
        s.strip_prefix("user@")?
            .strip_suffix(".service")?
            .parse()
            .ok()
    })
}

/// Identify a container from one cgroup path (the part after "N:controllers:"), from the path
/// alone. A Kubernetes container whose path does not name its runtime comes back as runtime
/// "kubernetes"; [`identify`] asks the runtimes' files which one it is.
pub fn from_cgroup_path(path: &str) -> Option<Identity> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let pod = if segs.iter().any(|s| s.starts_with("kubepods")) {
        segs.iter().find_map(|s| pod_uid(s))
    } else {
        None
    };
    let owner = owner_uid(&segs);
    let found = |runtime: &str, id: &str| {
        let mut i = Identity::new(runtime, id);
        i.pod_uid = pod.clone();
        i.owner_uid = owner;
        Some(i)
    };
    for (i, seg) in segs.iter().enumerate().rev() {
        if seg.contains("conmon") {
            continue;
        }
        for (prefix, runtime) in [
            ("docker-", "docker"),
            ("cri-containerd-", "containerd"),
            ("crio-", "cri-o"),
            ("libpod-", "podman"),
        ] {
            if let Some(id) = prefixed_id(seg, prefix) {
                return found(runtime, id);
            }
        }
        if is_hex_id(seg, 64) {
            let parent = if i > 0 { segs[i - 1] } else { "" };
            if parent == "docker" {
                return found("docker", seg);
            }
            if pod.is_some() {
                return found("kubernetes", seg);
            }
            if parent.starts_with("libpod") || parent == "machine.slice" {
                return found("podman", seg);
            }
        }
        // nsk's own default parent; containers under another --cgroup-parent are matched by id
        // against the state store instead.
        if is_hex_id(seg, 32) && i > 0 && segs[i - 1] == "nsk" {
            return found("nsk", seg);
        }
    }
    None
}

/// containerd's task directory of a container (`<namespace>/<id>`), where its OCI config is.
pub const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";

/// A containerd container (or Docker's, whose tasks live in containerd's `moby` namespace) named
/// by a cgroup path: the path is `/<namespace>/<id>` (or ends so, under a parent) and that task
/// directory holds an OCI config whose cgroupsPath is this path.
fn containerd_task(host: &Host, path: &str) -> Option<Identity> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() < 2 {
        return None;
    }
    let (ns, id) = (segs[segs.len() - 2], segs[segs.len() - 1]);
    if ns.starts_with('.') || id.starts_with('.') {
        return None;
    }
    let cfg = host.json(format!("{CONTAINERD_TASKS}/{ns}/{id}/config.json"))?;
    let cg = cfg["linux"]["cgroupsPath"].as_str().unwrap_or("");
    // cgroupsPath is "/ns/id" (cgroupfs) or "slice:prefix:name" (systemd, matched above by name).
    if !cg.is_empty() && !cg.contains(':') && cg.trim_end_matches('/') != path.trim_end_matches('/')
    {
        return None;
    }
    let mut i = Identity::new(if ns == "moby" { "docker" } else { "containerd" }, id);
    i.namespace = Some(ns.to_string());
    Some(i)
}

/// Which runtime runs a Kubernetes container whose cgroup path does not say: the first whose
/// files know the id.
fn kubernetes_runtime(host: &Host, id: &str) -> &'static str {
    if meta::docker_config(host, id).is_some() {
        "docker"
    } else if host.exists(format!("{CONTAINERD_TASKS}/k8s.io/{id}/config.json")) {
        "containerd"
    } else if meta::crio_config(host, id).is_some() {
        "cri-o"
    } else {
        "kubernetes"
    }
}

/// Identify from the whole /proc/PID/cgroup text: the first hierarchy that names a container,
/// refined with the runtimes' files (no daemon is asked).
pub fn identify(host: &Host, text: &str) -> Option<Identity> {
    // A v1 process names its cgroup once per hierarchy, mostly the same path: try each once.
    let mut paths: Vec<&str> = vec![];
    for p in text.lines().filter_map(|l| l.splitn(3, ':').nth(2)) {
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    let mut id = paths.iter().find_map(|p| from_cgroup_path(p));
    if id.is_none() {
        id = paths.iter().find_map(|p| containerd_task(host, p));
    }
    let mut id = id?;
    match id.runtime.as_str() {
        "kubernetes" => id.runtime = kubernetes_runtime(host, &id.id).into(),
        "containerd" if id.namespace.is_none() => id.namespace = Some("k8s.io".into()),
        "docker" if id.namespace.is_none() => id.namespace = Some("moby".into()),
        _ => {}
    }
    Some(id)
}

/// Identify from the whole /proc/PID/cgroup text, from the paths alone.
pub fn from_proc_cgroup(text: &str) -> Option<Identity> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(from_cgroup_path)
}

/// Directories where runc-based runtimes keep `<id>/state.json`, with the runtime to report
/// when the bundle does not say (runc's own root also holds Podman's and CRI-O's containers).
pub const RUNC_STATE_DIRS: &[(&str, &str)] = &[
    ("/run/runc", "runc"),
    ("/run/docker/runtime-runc/moby", "docker"),
    ("/run/containerd/runc/k8s.io", "containerd"),
    ("/run/containerd/runc/default", "containerd"),
    ("/run/containerd/runc/moby", "docker"),
    ("/run/crun", "crun"),
];

/// A container found in a runtime's state directory.
#[derive(Debug, Clone)]
pub struct RuncState {
    pub runtime: String,
    pub id: String,
    pub pid: i32,
    /// Start time of that PID as recorded by runc (clock ticks), when present.
    pub start: Option<u64>,
    /// The OCI bundle (runc's `bundle=` label), whose path names the runtime that made it.
    pub bundle: Option<String>,
}

/// Parse a runc/crun state.json.
pub fn parse_runc_state(runtime: &str, text: &str) -> Option<RuncState> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let pid = v
        .get("init_process_pid")
        .or_else(|| v.get("pid"))?
        .as_i64()? as i32;
    let id = v.get("id")?.as_str()?.to_string();
    let start = v.get("init_process_start").and_then(|s| s.as_u64());
    let bundle = v["config"]["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str()?.strip_prefix("bundle="))
        .next()
        .or_else(|| v.get("bundle").and_then(|b| b.as_str()))
        .map(String::from);
    Some(RuncState {
        runtime: runtime.into(),
        id,
        pid,
        start,
        bundle,
    })
}

/// Parse crun's state file (`<root>/<id>/status`: "pid", "process-start-time", "bundle"; the
/// id is the directory's name).
pub fn parse_crun_status(runtime: &str, id: &str, text: &str) -> Option<RuncState> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(RuncState {
        runtime: runtime.into(),
        id: id.into(),
        pid: i32::try_from(v.get("pid")?.as_i64()?).ok()?,
        start: v.get("process-start-time").and_then(|s| s.as_u64()),
        bundle: v.get("bundle").and_then(|b| b.as_str()).map(String::from),
    })
}

/// The runtime that made a bundle, from where it lives (and, for containers storage, from its
/// config's annotations: Podman and CRI-O share that layout).
fn bundle_runtime(host: &Host, bundle: &str, fallback: &str) -> (String, Option<String>) {
    if let Some(rest) = bundle.strip_prefix(&format!("{CONTAINERD_TASKS}/")) {
        let ns = rest.split('/').next().unwrap_or("");
        let rt = if ns == "moby" { "docker" } else { "containerd" };
        return (rt.into(), Some(ns.into()));
    }
    if bundle.contains("/containers/storage/") {
        let cfg = host.json(format!("{bundle}/config.json"));
        let ann = cfg.as_ref().map(|c| &c["annotations"]);
        let libpod = ann.is_some_and(|a| a["io.container.manager"] == "libpod");
        let crio = ann.is_some_and(|a| a.get("io.kubernetes.cri-o.ContainerType").is_some());
        if libpod || !crio {
            return ("podman".into(), None);
        }
        return ("cri-o".into(), None);
    }
    if bundle.starts_with("/run/docker/") || bundle.starts_with("/var/lib/docker/") {
        return ("docker".into(), Some("moby".into()));
    }
    (fallback.into(), None)
}

/// Every container in the runc-style state directories of this host (rootless ones under
/// `/run/user/UID/{runc,crun}` too), with the runtime its bundle names.
pub fn runc_states(host: &Host) -> Vec<RuncState> {
    let mut dirs: Vec<(String, &str)> = RUNC_STATE_DIRS
        .iter()
        .map(|(d, r)| (d.to_string(), *r))
        .collect();
    for uid in host.list("/run/user") {
        dirs.push((format!("/run/user/{uid}/runc"), "runc"));
        dirs.push((format!("/run/user/{uid}/crun"), "crun"));
    }
    let mut v = vec![];
    for (dir, runtime) in dirs {
        for name in host.list(&dir) {
            // runc writes state.json, crun status.
            let found = match host.read(format!("{dir}/{name}/state.json")) {
                Some(t) => parse_runc_state(runtime, &t),
                None => host
                    .read(format!("{dir}/{name}/status"))
                    .and_then(|t| parse_crun_status(runtime, &name, &t)),
            };
            if let Some(mut s) = found {
                if let Some(b) = &s.bundle {
                    s.runtime = bundle_runtime(host, b, runtime).0;
                }
                v.push(s);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e8a1c2b7d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081";
    const UID: &str = "5d8b1a2c-3e4f-4a5b-8c9d-0e1f2a3b4c5d";

    fn id(path: &str) -> Option<(String, String, Option<String>)> {
        from_cgroup_path(path).map(|i| (i.runtime, i.id, i.pod_uid))
    }

    #[test]
    fn docker_spellings() {
        assert_eq!(
            id(&format!("/docker/{ID}")),
            Some(("docker".into(), ID.into(), None))
        );
        assert_eq!(
            id(&format!("/system.slice/docker-{ID}.scope")),
            Some(("docker".into(), ID.into(), None))
        );
    }

    #[test]
    fn cri_and_podman_spellings() {
        assert_eq!(
            id(&format!("/system.slice/cri-containerd-{ID}.scope"))
                .unwrap()
                .0,
            "containerd"
        );
        assert_eq!(
            id(&format!("/machine.slice/crio-{ID}.scope")).unwrap().0,
            "cri-o"
        );
        assert_eq!(
            id(&format!("/machine.slice/libpod-{ID}.scope")).unwrap().0,
            "podman"
        );
        assert_eq!(
            id(&format!("/machine.slice/libpod-{ID}.scope/container"))
                .unwrap()
                .1,
            ID
        );
        // Podman's cgroupfs manager: no .scope, and conmon beside the container.
        assert_eq!(
            id(&format!("/libpod_parent/libpod-{ID}")),
            Some(("podman".into(), ID.into(), None))
        );
        assert_eq!(id("/libpod_parent/conmon"), None);
        assert_eq!(
            id(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(id(&format!("/machine.slice/crio-conmon-{ID}.scope")), None);
        let rootless = format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
        );
        let r = from_cgroup_path(&rootless).unwrap();
        assert_eq!((r.runtime.as_str(), r.owner_uid), ("podman", Some(1000)));
    }

    #[test]
    fn kubernetes_spellings() {
        let systemd_uid = UID.replace('-', "_");
        for qos in ["burstable", "besteffort"] {
            let p = format!("/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{systemd_uid}.slice/cri-containerd-{ID}.scope");
            assert_eq!(
                id(&p),
                Some(("containerd".into(), ID.into(), Some(UID.into())))
            );
        }
        let p = format!("/kubepods.slice/kubepods-pod{systemd_uid}.slice/crio-{ID}.scope");
        assert_eq!(id(&p), Some(("cri-o".into(), ID.into(), Some(UID.into()))));
        let p = format!("/kubepods/besteffort/pod{UID}/{ID}");
        assert_eq!(
            id(&p),
            Some(("kubernetes".into(), ID.into(), Some(UID.into())))
        );
        let p = format!("/kubepods/pod{UID}/{ID}");
        assert_eq!(id(&p).unwrap().2.as_deref(), Some(UID));
        // CRI-O with the cgroupfs driver.
        let p = format!("/kubepods/burstable/pod{UID}/crio-{ID}");
        assert_eq!(id(&p).unwrap().0, "cri-o");
    }

    #[test]
    fn nsk_and_plain_paths() {
        assert_eq!(
            id("/nsk/0123456789abcdef0123456789abcdef").unwrap().0,
            "nsk"
        );
        assert_eq!(id("/"), None);
        assert_eq!(id("/user.slice/user-1000.slice/session-2.scope"), None);
        assert_eq!(
            id("/process_api/764125fbd7fc18d2f15911d79aa1e7c2"),
            None,
            "32 hex digits alone are not nsk's"
        );
    }

    #[test]
    fn whole_proc_cgroup_files() {
        let v1 = format!("12:pids:/docker/{ID}\n11:memory:/docker/{ID}\n0::/\n");
        assert_eq!(from_proc_cgroup(&v1).unwrap().id, ID);
        let v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(from_proc_cgroup(&v2).unwrap().runtime, "docker");
        assert!(from_proc_cgroup("0::/init.scope\n").is_none());
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hosts")
    }

    /// Every layout in tests/fixtures/hosts (written by make.py there): the identity and
    /// metadata nsk reads from the cgroup text and the runtime's files equal expect.json's.
    #[test]
    fn every_host_layout() {
        let mut seen = 0;
        for e in std::fs::read_dir(fixtures()).unwrap().flatten() {
            let dir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if !dir.join("cgroup").exists() {
                continue;
            }
            seen += 1;
            let host = Host::at(dir.join("root"));
            let text = std::fs::read_to_string(dir.join("cgroup")).unwrap();
            let want: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("expect.json")).unwrap()).unwrap();
            let got = identify(&host, &text).map(|mut i| {
                meta::enrich(&host, &mut i, None);
                i
            });
            let Some(i) = got else {
                assert!(
                    want.is_null(),
                    "{name}: no container found, expected {want}"
                );
                continue;
            };
            assert!(!want.is_null(), "{name}: found {i:?}, expected none");
            let mut v = serde_json::to_value(&i).unwrap();
            v["mounts"] = serde_json::to_value(&i.mounts).unwrap();
            v["runtime_paused"] = serde_json::json!(i.runtime_paused);
            v["log"] = match &i.log {
                None => serde_json::Value::Null,
                Some(l) => {
                    let kind = match l {
                        LogSource::JsonFile(_) => "json-file",
                        LogSource::Cri(_) => "cri",
                        LogSource::Raw(_) => "raw",
                    };
                    let rel = l.path().strip_prefix(dir.join("root")).unwrap_or_else(|_| {
                        panic!("{name}: log {} outside the fixture", l.path().display())
                    });
                    assert!(
                        l.path().exists(),
                        "{name}: {} is missing",
                        l.path().display()
                    );
                    serde_json::json!([kind, format!("/{}", rel.display())])
                }
            };
            for (k, w) in want.as_object().unwrap() {
                assert_eq!(&v[k], w, "{name}: {k} in {v:#}");
            }
        }
        assert!(seen >= 20, "only {seen} fixture layouts found");
    }

    #[test]
    fn runc_state_dirs_name_the_runtime_by_bundle() {
        let dir = fixtures().join("runc-states");
        let host = Host::at(dir.join("root"));
        let want: Vec<(String, String, i32)> =
            serde_json::from_slice(&std::fs::read(dir.join("expect.json")).unwrap()).unwrap();
        let mut got: Vec<(String, String, i32)> = runc_states(&host)
            .into_iter()
            .map(|s| (s.runtime, s.id, s.pid))
            .collect();
        got.sort_by_key(|g| g.2);
        assert_eq!(got, want);
    }

    #[test]
    fn runc_state_files() {
        let s = parse_runc_state(
            "runc",
            r#"{"id":"web","init_process_pid":4242,"init_process_start":987,"config":{"labels":["bundle=/b"]}}"#,
        )
        .unwrap();
        assert_eq!((s.id.as_str(), s.pid, s.start), ("web", 4242, Some(987)));
        assert_eq!(s.bundle.as_deref(), Some("/b"));
        let s = parse_runc_state("crun", r#"{"id":"x","pid":7}"#).unwrap();
        assert_eq!(s.pid, 7);
        let s = parse_crun_status(
            "crun",
            "web",
            r#"{"pid":139179,"process-start-time":263473330,"cgroup-path":"/web","bundle":"/b","owner":"root"}"#,
        )
        .unwrap();
        assert_eq!(
            (s.id.as_str(), s.pid, s.start, s.bundle.as_deref()),
            ("web", 139179, Some(263473330), Some("/b"))
        );
        assert!(parse_runc_state("runc", "not json").is_none());
    }
}
