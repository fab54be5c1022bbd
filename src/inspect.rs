//! Everything the kernel says about one process: identity, credentials, namespaces (and who
//! shares them), cgroups, network, hostname and mounts. Each part that cannot be read is named
//! in `unreadable` with the reason; the rest is still reported.

use crate::cgroup::{report, Hierarchy};
use crate::container::state::Store;
use crate::error::{errno_text, Result};
use crate::ns::{self, KINDS};
use crate::runtime::Identity;
use crate::target::Target;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;

#[derive(Debug, Serialize)]
pub struct Ids {
    pub real: u32,
    pub effective: u32,
}

#[derive(Debug, Serialize)]
pub struct Caps {
    pub effective: Vec<String>,
    pub bounding: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct NsInfo {
    pub inode: u64,
    /// Differs from the namespace nsk itself runs in.
    pub isolated: bool,
    /// How many processes on the host are in it.
    pub processes: usize,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Iface {
    pub name: String,
    pub state: String,
    pub addresses: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RootMount {
    pub fstype: String,
    pub source: String,
    pub lower: Vec<String>,
    pub upper: Option<String>,
}

/// One mount as the process sees it: where (destination), what (source: the runtime's host path
/// for a bind mount it configured, else the path inside the mounted filesystem or the device),
/// the filesystem type (`bind` for a runtime's bind mount) and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountEntry {
    pub source: String,
    pub destination: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub ro: bool,
}

#[derive(Debug, Serialize)]
pub struct Mounts {
    pub count: usize,
    pub root: Option<RootMount>,
    pub list: Vec<MountEntry>,
}

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub pid: i32,
    pub ppid: Option<i32>,
    pub nspid: Vec<i32>,
    pub cmdline: Vec<String>,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub state: Option<String>,
    pub kernel_thread: bool,
    pub uid: Option<Ids>,
    pub gid: Option<Ids>,
    pub uid_map: Vec<[u64; 3]>,
    pub gid_map: Vec<[u64; 3]>,
    pub capabilities: Option<Caps>,
    pub seccomp: Option<String>,
    /// How many seccomp filters confine it (Linux 5.9+).
    pub seccomp_filters: Option<u32>,
    /// Its AppArmor profile or SELinux context, where such an LSM is active.
    pub lsm_label: Option<crate::confine::Label>,
    pub no_new_privs: Option<bool>,
    pub cwd: Option<String>,
    pub root: Option<String>,
    pub container: Option<Identity>,
    pub namespaces: BTreeMap<String, NsInfo>,
    pub cgroup: Option<report::Report>,
    pub network: Option<Vec<Iface>>,
    pub hostname: Option<String>,
    pub mounts: Option<Mounts>,
    pub unreadable: BTreeMap<String, String>,
}

/// Why a field could not be read, in a few words (the errno's text where there is one).
fn why(e: &crate::error::Error) -> String {
    match e.errno() {
        Some(nix::errno::Errno::ESRCH) => "no such process (it may have exited)".into(),
        Some(n) => errno_text(n),
        None => e.to_string(),
    }
}

/// Capability names for a bitmask.
pub fn cap_names(mask: u64) -> Vec<String> {
    let mut v: Vec<(u8, String)> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .map(|c| (c.index(), c.to_string()))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

fn parse_id_map(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| [f[0], f[1], f[2]])
        })
        .collect()
}

/// The root mount of a mountinfo (the entry whose mount point is "/", last one wins) and the
/// number of mounts.
pub fn parse_mounts(mountinfo: &str) -> Mounts {
    let mut root = None;
    let mut count = 0;
    let mut list = vec![];
    for line in mountinfo.lines() {
        count += 1;
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let inner = pre.get(3).copied().unwrap_or("/");
        let device = post.get(1).copied().unwrap_or("");
        list.push(MountEntry {
            source: crate::cgroup::unescape_mountinfo(if inner != "/" { inner } else { device }),
            destination: crate::cgroup::unescape_mountinfo(pre.get(4).copied().unwrap_or("")),
            kind: post.first().copied().unwrap_or("").into(),
            ro: pre.get(5).is_some_and(|o| o.split(',').any(|o| o == "ro")),
        });
        if pre.get(4) != Some(&"/") {
            continue;
        }
        let opts = post.get(2).copied().unwrap_or("");
        let opt = |k: &str| {
            opts.split(',')
                .find_map(|o| o.strip_prefix(k))
                .map(String::from)
        };
        root = Some(RootMount {
            fstype: post.first().copied().unwrap_or("").into(),
            source: post.get(1).copied().unwrap_or("").into(),
            lower: opt("lowerdir=")
                .map(|l| l.split(':').map(String::from).collect())
                .unwrap_or_default(),
            upper: opt("upperdir="),
        });
    }
    Mounts { count, root, list }
}

/// The runtime's word on its bind mounts: their host source and type, by destination.
pub fn with_runtime_mounts(list: &mut [MountEntry], spec: &[crate::runtime::MountSpec]) {
    for m in list.iter_mut() {
        if let Some(s) = spec
            .iter()
            .find(|s| s.destination == m.destination && (s.kind == "bind" || s.kind == "volume"))
        {
            if !s.source.is_empty() {
                m.source = s.source.clone();
            }
            m.kind = s.kind.clone();
        }
    }
}

/// Count, for each namespace inode of interest, the processes on the host that are in it.
fn count_sharers(want: &[(usize, u64)]) -> Vec<usize> {
    let mut counts = vec![0; want.len()];
    let Ok(rd) = fs::read_dir("/proc") else {
        return counts;
    };
    let mut buf = [0u8; 64];
    for e in rd.flatten() {
        let Some(dir) = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse().ok())
            .and_then(|pid| crate::process::ProcDir::open(pid).ok())
        else {
            continue;
        };
        for (i, (k, ino)) in want.iter().enumerate() {
            if dir.ns_inode(&KINDS[*k], &mut buf) == Some(*ino) {
                counts[i] += 1;
            }
        }
    }
    counts
}

/// Interfaces and hostname, read from inside the target's network and UTS namespaces by a job
/// (nsk itself never changes namespace).
fn net_and_hostname(t: &Target) -> std::result::Result<(Vec<Iface>, String), String> {
    let kinds = [ns::kind("net"), ns::kind("uts")].map(|k| k.expect("in the namespace table"));
    crate::exec::job::in_namespaces(t, &kinds, || {
        let host = nix::unistd::gethostname()
            .map_err(errno_text)?
            .to_string_lossy()
            .into_owned();
        let mut ifs: BTreeMap<String, Iface> = BTreeMap::new();
        for a in nix::ifaddrs::getifaddrs().map_err(errno_text)? {
            let up = a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
            let e = ifs
                .entry(a.interface_name.clone())
                .or_insert_with(|| Iface {
                    name: a.interface_name.clone(),
                    state: (if up { "up" } else { "down" }).into(),
                    addresses: vec![],
                });
            let addr = a.address.as_ref().and_then(|s| {
                if let Some(v4) = s.as_sockaddr_in() {
                    let bits = a
                        .netmask
                        .as_ref()
                        .and_then(|m| m.as_sockaddr_in())
                        .map(|m| u32::from(m.ip()).count_ones())
                        .unwrap_or(32);
                    Some(format!("{}/{bits}", v4.ip()))
                } else if let Some(v6) = s.as_sockaddr_in6() {
                    let bits = a
                        .netmask
                        .as_ref()
                        .and_then(|m| m.as_sockaddr_in6())
                        .map(|m| u128::from(m.ip()).count_ones())
                        .unwrap_or(128);
                    Some(format!("{}/{bits}", v6.ip()))
                } else {
                    None
                }
            });
            e.addresses.extend(addr);
        }
        Ok((ifs.into_values().collect(), host))
    })
}

/// Inspect a pinned target.
pub fn inspect(store: &Store, t: &Target) -> Result<Inspection> {
    let pid = t.pid;
    let mut un: BTreeMap<String, String> = BTreeMap::new();
    // Every read goes through the target's held /proc directory.
    let dir = &t.dir;
    let stat_text = dir.read("stat").map_err(|e| t.read_error(e))?;
    let stat = crate::process::parse_stat(&stat_text);
    let status_text = dir.read("status");
    let status = match &status_text {
        Ok(s) => crate::process::parse_creds(s),
        Err(e) => {
            un.insert("status".into(), why(e));
            None
        }
    };
    let kernel_thread = stat.as_ref().is_some_and(|s| s.flags & 0x0020_0000 != 0);
    let cmdline = dir
        .read_bytes("cmdline")
        .map(|b| crate::process::parse_cmdline(&b))
        .unwrap_or_default();
    let mut path_of = |what: &str| match dir.read_link(what) {
        Ok(p) => Some(p.display().to_string()),
        Err(e) => {
            if !kernel_thread {
                un.insert(what.into(), why(&e));
            }
            None
        }
    };
    let exe = path_of("exe");
    let cwd = path_of("cwd");
    let root = path_of("root");
    let map = |f: &str, un: &mut BTreeMap<String, String>| match dir.read(f) {
        Ok(t) => parse_id_map(&t),
        Err(e) => {
            un.insert(f.into(), why(&e));
            vec![]
        }
    };
    let uid_map = map("uid_map", &mut un);
    let gid_map = map("gid_map", &mut un);

    // Namespaces, compared with nsk's own, and how many processes share each.
    let own = ns::inodes(std::process::id() as i32);
    let theirs = dir.ns_inodes();
    let mut want = vec![];
    for (i, k) in KINDS.iter().enumerate() {
        match theirs[i] {
            Some(ino) => want.push((i, ino)),
            None => {
                if std::path::Path::new(&format!("/proc/self/ns/{}", k.name)).exists() {
                    let e = dir
                        .read_link(&format!("ns/{}", k.name))
                        .err()
                        .map(|e| why(&e))
                        .unwrap_or_else(|| "unreadable".into());
                    un.insert(format!("namespaces.{}", k.name), e);
                }
            }
        }
    }
    let counts = count_sharers(&want);
    let mut namespaces = BTreeMap::new();
    for ((i, ino), n) in want.iter().zip(counts) {
        namespaces.insert(
            KINDS[*i].name.to_string(),
            NsInfo {
                inode: *ino,
                isolated: own[*i] != Some(*ino),
                processes: n,
            },
        );
    }

    let cgroup = match (Hierarchy::detect(), dir.read("cgroup")) {
        (Ok(h), Ok(text)) if !kernel_thread => {
            let (set, paths) = report::of_process(&h, &text);
            Some(report::read(&set, paths))
        }
        (_, Err(e)) => {
            un.insert("cgroup".into(), why(&e));
            None
        }
        (Err(e), _) => {
            un.insert("cgroup".into(), e.to_string());
            None
        }
        _ => None,
    };
    let (network, hostname) = if kernel_thread {
        (None, None)
    } else {
        match net_and_hostname(t) {
            Ok((n, h)) => (Some(n), Some(h)),
            Err(e) => {
                un.insert("network".into(), e);
                (None, None)
            }
        }
    };
    let container = match t.identity.clone() {
        Some(i) => Some(i),
        None => crate::scan::identify(store, pid).map(|(i, _, _)| i),
    };
    let mounts = match dir.read("mountinfo") {
        Ok(t) if !kernel_thread => {
            let mut m = parse_mounts(&t);
            if let Some(c) = &container {
                with_runtime_mounts(&mut m.list, &c.mounts);
            }
            Some(m)
        }
        Ok(_) => None,
        Err(e) => {
            un.insert("mounts".into(), why(&e));
            None
        }
    };
    let (seccomp, seccomp_filters) = status_text
        .as_deref()
        .map_or((None, None), crate::confine::parse_seccomp);
    let lsm_label = crate::confine::label_of(dir);
    if !t.still_alive() {
        un.insert("process".into(), "exited while it was inspected".into());
    }
    Ok(Inspection {
        pid,
        ppid: crate::process::parse_ppid(&stat_text),
        nspid: status
            .as_ref()
            .map(|s| s.nspid.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| vec![pid]),
        cmdline,
        comm: crate::process::parse_comm(&stat_text),
        exe,
        state: stat.as_ref().map(|s| s.state.to_string()),
        kernel_thread,
        uid: status.as_ref().map(|s| Ids {
            real: s.uid,
            effective: s.euid,
        }),
        gid: status.as_ref().map(|s| Ids {
            real: s.gid,
            effective: s.egid,
        }),
        uid_map,
        gid_map,
        capabilities: status.as_ref().map(|s| Caps {
            effective: cap_names(s.cap_eff),
            bounding: cap_names(s.cap_bnd),
        }),
        seccomp: seccomp.map(|m| m.as_str().to_string()),
        seccomp_filters,
        lsm_label,
        no_new_privs: status.as_ref().map(|s| s.no_new_privs),
        cwd,
        root,
        container,
        namespaces,
        cgroup,
        network,
        hostname,
        mounts,
        unreadable: un,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names() {
        assert_eq!(cap_names(0), Vec::<String>::new());
        assert_eq!(cap_names(1 | 1 << 21), vec!["CAP_CHOWN", "CAP_SYS_ADMIN"]);
    }

    #[test]
    fn id_maps() {
        assert_eq!(
            parse_id_map("         0          0 4294967295\n"),
            vec![[0, 0, 4294967295]]
        );
        assert_eq!(
            parse_id_map("0 1000 1\n1 100000 65536\n"),
            vec![[0, 1000, 1], [1, 100000, 65536]]
        );
    }

    #[test]
    fn overlay_root_mount() {
        let mi = "\
100 90 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w
101 100 0:51 / /proc rw - proc proc rw
";
        let m = parse_mounts(mi);
        assert_eq!(m.count, 2);
        let r = m.root.unwrap();
        assert_eq!(
            (r.fstype.as_str(), r.lower.clone(), r.upper.as_deref()),
            (
                "overlay",
                vec!["/l1".to_string(), "/l2".to_string()],
                Some("/u")
            )
        );
    }
}
