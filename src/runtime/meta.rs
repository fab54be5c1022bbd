//! What the runtimes' own files say about a container, read without asking any daemon: Docker's
//! `config.v2.json` and `hostconfig.json`, Podman's container storage (`containers.json`, the
//! bundle's `config.json`, labels from its state database), the OCI `config.json` of containerd's
//! and CRI-O's containers (whose annotations carry Kubernetes' pod name, namespace and container
//! name) and kubelet's log directories. Whatever is missing stays None: a daemon that is hung,
//! or gone, costs nothing here.

use super::{Host, Identity, LogSource, MountSpec, Pod, CONTAINERD_TASKS};
use serde_json::Value;
use std::collections::BTreeMap;

/// Docker's data root: `data-root` in /etc/docker/daemon.json, else /var/lib/docker.
pub fn docker_root(host: &Host) -> String {
    host.json("/etc/docker/daemon.json")
        .and_then(|v| v["data-root"].as_str().map(String::from))
        .unwrap_or_else(|| "/var/lib/docker".into())
}

/// Docker's config of a container (`<data-root>/containers/<id>/config.v2.json`).
pub fn docker_config(host: &Host, id: &str) -> Option<Value> {
    host.json(format!(
        "{}/containers/{id}/config.v2.json",
        docker_root(host)
    ))
}

/// CRI-O's OCI config of a container: in the container storage's run or lib directory.
pub fn crio_config(host: &Host, id: &str) -> Option<Value> {
    let v = [
        "/run/containers/storage/overlay-containers",
        "/var/lib/containers/storage/overlay-containers",
    ]
    .iter()
    .find_map(|d| host.json(format!("{d}/{id}/userdata/config.json")))?;
    let ann = &v["annotations"];
    (ann.get("io.kubernetes.cri-o.ContainerType").is_some()
        && ann["io.container.manager"] != "libpod")
        .then_some(v)
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(String::from)
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The bind mounts of an OCI config, with their host source (the kernel's mount table has the
/// rest, and shows a bind's source only as a path inside some filesystem).
pub fn oci_mounts(cfg: &Value) -> Vec<MountSpec> {
    cfg["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let opts: Vec<&str> = m["options"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str())
                .collect();
            let bind = m["type"] == "bind" || opts.iter().any(|o| *o == "bind" || *o == "rbind");
            bind.then_some(())?;
            Some(MountSpec {
                source: s(&m["source"])?,
                destination: s(&m["destination"])?,
                kind: "bind".into(),
                ro: opts.contains(&"ro"),
            })
        })
        .collect()
}

/// Add what the runtime's files say to an identity found from cgroups or state directories.
pub fn enrich(host: &Host, id: &mut Identity, bundle: Option<&str>) {
    match id.runtime.as_str() {
        "docker" => docker(host, id),
        "podman" => podman(host, id),
        "containerd" => containerd(host, id),
        "cri-o" => crio(host, id),
        "runc" | "crun" => {
            if let Some(cfg) = bundle.and_then(|b| host.json(format!("{b}/config.json"))) {
                id.mounts = oci_mounts(&cfg);
            }
        }
        _ => {}
    }
    if id.pod.is_some() || id.pod_uid.is_some() {
        kubelet(host, id);
    }
}

fn docker(host: &Host, id: &mut Identity) {
    let root = docker_root(host);
    let Some(c) = docker_config(host, &id.id) else {
        return;
    };
    id.name = s(&c["Name"]).map(|n| n.trim_start_matches('/').to_string());
    id.image = s(&c["Config"]["Image"]);
    id.labels = string_map(&c["Config"]["Labels"]);
    let st = &c["State"];
    let paused = st["Paused"].as_bool() == Some(true);
    id.runtime_paused = Some(paused);
    id.status = Some(
        if paused {
            "paused"
        } else if st["Restarting"].as_bool() == Some(true) {
            "restarting"
        } else if st["Running"].as_bool() == Some(true) {
            "running"
        } else if st["Dead"].as_bool() == Some(true) {
            "dead"
        } else {
            "exited"
        }
        .into(),
    );
    if let Some(mps) = c["MountPoints"].as_object() {
        for m in mps.values() {
            let kind = s(&m["Type"]).unwrap_or_else(|| "bind".into());
            let source = s(&m["Source"]).unwrap_or_else(|| match s(&m["Name"]) {
                Some(n) if kind == "volume" => format!("{root}/volumes/{n}/_data"),
                _ => String::new(),
            });
            if let Some(d) = s(&m["Destination"]) {
                id.mounts.push(MountSpec {
                    source,
                    destination: d,
                    kind,
                    ro: m["RW"].as_bool() == Some(false),
                });
            }
        }
        id.mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
    }
    let driver = host
        .json(format!("{root}/containers/{}/hostconfig.json", id.id))
        .and_then(|h| s(&h["LogConfig"]["Type"]))
        .unwrap_or_else(|| "json-file".into());
    if let Some(p) = s(&c["LogPath"]) {
        if driver == "json-file" {
            id.log = Some(LogSource::JsonFile(host.path(p)));
        }
    }
    // dockershim (Kubernetes on Docker) labels its containers with the pod's names.
    let l = &id.labels;
    if let Some(ns) = l.get("io.kubernetes.pod.namespace") {
        id.pod = Some(Pod {
            namespace: Some(ns.clone()),
            name: l.get("io.kubernetes.pod.name").cloned(),
            uid: l.get("io.kubernetes.pod.uid").cloned(),
            container: l.get("io.kubernetes.container.name").cloned(),
        });
    }
}

/// Podman's storage root: root's, or the rootless owner's under their home.
fn podman_storage(host: &Host, owner: Option<u32>) -> String {
    match owner {
        Some(uid) if uid != 0 => {
            let home = host
                .read("/etc/passwd")
                .and_then(|p| {
                    p.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() >= 6 && f[2] == uid.to_string()).then(|| f[5].to_string())
                    })
                })
                .unwrap_or_else(|| format!("/home/{uid}"));
            format!("{home}/.local/share/containers/storage")
        }
        _ => "/var/lib/containers/storage".into(),
    }
}

fn podman(host: &Host, id: &mut Identity) {
    let storage = podman_storage(host, id.owner_uid);
    if let Some(list) = host.json(format!("{storage}/overlay-containers/containers.json")) {
        if let Some(c) = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id.id.as_str())
        {
            id.name = c["names"].as_array().and_then(|n| n.first()).and_then(s);
            let md: Value = c["metadata"]
                .as_str()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            id.image = s(&md["image-name"]);
        }
    }
    let userdata = format!("{storage}/overlay-containers/{}/userdata", id.id);
    if let Some(cfg) = host.json(format!("{userdata}/config.json")) {
        id.mounts = oci_mounts(&cfg);
    }
    let log = format!("{userdata}/ctr.log");
    if host.exists(&log) {
        id.log = Some(LogSource::Cri(host.path(&log)));
    }
    // Labels live only in Podman's state database, as the JSON of the container's config.
    for db in ["bolt_state.db", "db.sql"] {
        if let Some(cfg) = libpod_config(host, &format!("{storage}/libpod/{db}"), &id.id) {
            id.labels = string_map(&cfg["labels"]);
            if id.name.is_none() {
                id.name = s(&cfg["name"]);
            }
            if id.image.is_none() {
                id.image = s(&cfg["rootfsImageName"]);
            }
            break;
        }
    }
}

/// The JSON config Podman keeps for container `id` in its state database (BoltDB or SQLite),
/// found in the file's bytes: both store the document whole. Bounded to 64 MiB.
pub fn libpod_config(host: &Host, db: &str, id: &str) -> Option<Value> {
    use std::io::Read;
    let mut buf = vec![];
    std::fs::File::open(host.path(db))
        .ok()?
        .take(64 << 20)
        .read_to_end(&mut buf)
        .ok()?;
    let needle = format!("\"id\":\"{id}\"");
    let start_marks = [b"{\"spec\":".as_slice()];
    let mut from = 0;
    while let Some(i) = find(&buf[from..], needle.as_bytes()).map(|i| i + from) {
        from = i + 1;
        for mark in start_marks {
            let Some(start) = rfind(&buf[..i], mark) else {
                continue;
            };
            let mut it = serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<Value>();
            if let Some(Ok(v)) = it.next() {
                if v["id"] == id {
                    return Some(v);
                }
            }
        }
    }
    None
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).rposition(|w| w == n)
}

/// Kubernetes' names from CRI annotations: containerd's `io.kubernetes.cri.*`, CRI-O's
/// `io.kubernetes.pod.*` and `io.kubernetes.container.name`.
fn cri_pod(ann: &Value) -> Option<Pod> {
    let g = |k: &str| s(&ann[k]);
    let sandbox = g("io.kubernetes.cri.container-type").as_deref() == Some("sandbox")
        || g("io.kubernetes.cri-o.ContainerType").as_deref() == Some("sandbox");
    let p = Pod {
        namespace: g("io.kubernetes.cri.sandbox-namespace")
            .or_else(|| g("io.kubernetes.pod.namespace")),
        name: g("io.kubernetes.cri.sandbox-name").or_else(|| g("io.kubernetes.pod.name")),
        uid: g("io.kubernetes.cri.sandbox-uid").or_else(|| g("io.kubernetes.pod.uid")),
        container: if sandbox {
            Some("POD".into())
        } else {
            g("io.kubernetes.cri.container-name").or_else(|| g("io.kubernetes.container.name"))
        },
    };
    (p.namespace.is_some() || p.name.is_some()).then_some(p)
}

fn containerd(host: &Host, id: &mut Identity) {
    let ns = id.namespace.clone().unwrap_or_else(|| "k8s.io".into());
    let Some(cfg) = host.json(format!("{CONTAINERD_TASKS}/{ns}/{}/config.json", id.id)) else {
        return;
    };
    id.mounts = oci_mounts(&cfg);
    let ann = &cfg["annotations"];
    id.image = s(&ann["io.kubernetes.cri.image-name"]);
    id.pod = cri_pod(ann);
    id.name = match &id.pod {
        Some(p) => p.container.clone(),
        // ctr and nerdctl: the id is the name (nerdctl also keeps one in an annotation).
        None => s(&ann["nerdctl/name"]).or_else(|| Some(id.id.clone())),
    };
    if let Some(uid) = id.pod.as_ref().and_then(|p| p.uid.clone()) {
        id.pod_uid.get_or_insert(uid);
    }
}

fn crio(host: &Host, id: &mut Identity) {
    let Some(cfg) = crio_config(host, &id.id) else {
        return;
    };
    id.mounts = oci_mounts(&cfg);
    let ann = &cfg["annotations"];
    id.image = s(&ann["io.kubernetes.cri-o.ImageName"]);
    if let Some(l) = ann["io.kubernetes.cri-o.Labels"]
        .as_str()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
    {
        id.labels = string_map(&l);
    }
    id.pod = cri_pod(ann);
    id.name = id
        .pod
        .as_ref()
        .and_then(|p| p.container.clone())
        .or_else(|| s(&ann["io.kubernetes.cri-o.Name"]));
    if let Some(p) = s(&ann["io.kubernetes.cri-o.LogPath"]) {
        id.log = Some(LogSource::Cri(host.path(p)));
    }
    if let Some(uid) = id.pod.as_ref().and_then(|p| p.uid.clone()) {
        id.pod_uid.get_or_insert(uid);
    }
}

/// kubelet's log layout: `/var/log/containers/<pod>_<ns>_<container>-<id>.log` (a symlink into
/// `/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log`) names the pod and container of any
/// CRI container; `/var/log/pods/<ns>_<pod>_<uid>` names a pod by its uid.
fn kubelet(host: &Host, id: &mut Identity) {
    let suffix = format!("-{}.log", id.id);
    let link = host
        .list("/var/log/containers")
        .into_iter()
        .find(|n| n.ends_with(&suffix));
    let mut pod = id.pod.clone().unwrap_or_default();
    if let Some(l) = &link {
        let stem = &l[..l.len() - suffix.len()];
        let f: Vec<&str> = stem.splitn(3, '_').collect();
        if f.len() == 3 {
            pod.name.get_or_insert(f[0].into());
            pod.namespace.get_or_insert(f[1].into());
            pod.container.get_or_insert(f[2].into());
        }
        if id.log.is_none() {
            id.log = Some(LogSource::Cri(
                host.follow(format!("/var/log/containers/{l}")),
            ));
        }
    }
    let uid = pod.uid.clone().or(id.pod_uid.clone());
    if let Some(uid) = &uid {
        pod.uid = Some(uid.clone());
        let tail = format!("_{uid}");
        if let Some(d) = host
            .list("/var/log/pods")
            .into_iter()
            .find(|d| d.ends_with(&tail))
        {
            let f: Vec<&str> = d[..d.len() - tail.len()].splitn(2, '_').collect();
            if f.len() == 2 {
                pod.namespace.get_or_insert(f[0].into());
                pod.name.get_or_insert(f[1].into());
            }
            if id.log.is_none() {
                if let Some(c) = &pod.container {
                    // The newest restart's file: "<restart count>.log".
                    let dir = format!("/var/log/pods/{d}/{c}");
                    let newest = host
                        .list(&dir)
                        .into_iter()
                        .filter_map(|n| Some((n.strip_suffix(".log")?.parse::<u64>().ok()?, n)))
                        .max();
                    if let Some((_, n)) = newest {
                        id.log = Some(LogSource::Cri(host.path(format!("{dir}/{n}"))));
                    }
                }
            }
        }
    }
    if pod != Pod::default() {
        if id.name.is_none() {
            id.name = pod.container.clone();
        }
        id.pod = Some(pod);
    }
}
