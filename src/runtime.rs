//! Which container runtime a process belongs to, from its cgroup paths (docker, containerd,
//! CRI-O, Podman, Kubernetes, nsk, in their cgroupfs and systemd spellings) and from runc's
//! state directories. Pure parsers: fixtures test them.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub runtime: String,
    pub id: String,
    pub name: Option<String>,
    pub pod_uid: Option<String>,
}

fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Strip `prefix` and `.scope` from a systemd unit name: "docker-<id>.scope" → "<id>".
fn scope_id<'a>(seg: &'a str, prefix: &str) -> Option<&'a str> {
    let id = seg.strip_prefix(prefix)?.strip_suffix(".scope")?;
    is_hex_id(id, 64).then_some(id)
}

/// The pod UID in a kubepods path: "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid_with_underscores>.slice".
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

/// Identify a container from one cgroup path (the part after "N:controllers:").
pub fn from_cgroup_path(path: &str) -> Option<Identity> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let pod = if segs.iter().any(|s| s.starts_with("kubepods")) {
        segs.iter().find_map(|s| pod_uid(s))
    } else {
        None
    };
    let found = |runtime: &str, id: &str| {
        Some(Identity {
            runtime: runtime.into(),
            id: id.into(),
            name: None,
            pod_uid: pod.clone(),
        })
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
            if let Some(id) = scope_id(seg, prefix) {
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

/// Identify from the whole /proc/PID/cgroup text: the first hierarchy that names a container.
pub fn from_proc_cgroup(text: &str) -> Option<Identity> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(from_cgroup_path)
}

/// Directories where runc-based runtimes keep `<id>/state.json`, with the runtime to report.
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
    Some(RuncState {
        runtime: runtime.into(),
        id,
        pid,
        start,
    })
}

/// Every container in the runc-style state directories of this host.
pub fn runc_states() -> Vec<RuncState> {
    let mut v = vec![];
    for (dir, runtime) in RUNC_STATE_DIRS {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path().join("state.json")) {
                v.extend(parse_runc_state(runtime, &t));
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
        assert_eq!(
            id(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(id(&format!("/machine.slice/crio-conmon-{ID}.scope")), None);
    }

    #[test]
    fn kubernetes_spellings() {
        let systemd_uid = UID.replace('-', "_");
        let p = format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{systemd_uid}.slice/cri-containerd-{ID}.scope");
        assert_eq!(
            id(&p),
            Some(("containerd".into(), ID.into(), Some(UID.into())))
        );
        let p = format!("/kubepods.slice/kubepods-pod{systemd_uid}.slice/crio-{ID}.scope");
        assert_eq!(id(&p), Some(("cri-o".into(), ID.into(), Some(UID.into()))));
        let p = format!("/kubepods/besteffort/pod{UID}/{ID}");
        assert_eq!(
            id(&p),
            Some(("kubernetes".into(), ID.into(), Some(UID.into())))
        );
        let p = format!("/kubepods/pod{UID}/{ID}");
        assert_eq!(id(&p).unwrap().2.as_deref(), Some(UID));
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

    #[test]
    fn runc_state_files() {
        let s = parse_runc_state(
            "runc",
            r#"{"id":"web","init_process_pid":4242,"init_process_start":987,"config":{}}"#,
        )
        .unwrap();
        assert_eq!((s.id.as_str(), s.pid, s.start), ("web", 4242, Some(987)));
        let s = parse_runc_state("crun", r#"{"id":"x","pid":7}"#).unwrap();
        assert_eq!(s.pid, 7);
        assert!(parse_runc_state("runc", "not json").is_none());
    }
}
