//! The few cgroup files a live view reads on every refresh, their paths resolved once per
//! container and read into one reusable buffer: usage, the limits shown next to it (cheap to
//! read, so never cached), OOM events and pressure. v1, hybrid and v2 alike.

use super::{report, CgroupSet, Version};
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A file read on every refresh: held open and read again from offset 0 (cgroupfs and procfs
/// generate the text anew on each read from the start), or, once descriptors run out, opened
/// each time by path.
#[derive(Debug)]
pub struct Held {
    path: PathBuf,
    fd: Option<OwnedFd>,
}

impl Held {
    /// None where the file does not exist. With `hold` false it is only looked for, and opened
    /// on each read.
    pub fn open(path: PathBuf, hold: bool) -> Option<Held> {
        use nix::fcntl::OFlag;
        if !hold {
            return match std::fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                _ => Some(Held { path, fd: None }),
            };
        }
        match nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => Some(Held { path, fd: Some(fd) }),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ENODEV | Errno::ESRCH) => None,
            // Out of descriptors, or unreadable (said on each read): by path.
            Err(_) => Some(Held { path, fd: None }),
        }
    }

    /// A file opened already (through a held directory).
    pub fn from_fd(path: PathBuf, fd: OwnedFd) -> Held {
        Held { path, fd: Some(fd) }
    }

    /// Its text now, through `buf`; a file that exists but cannot be read is named in `un`.
    pub fn text<'b>(&self, buf: &'b mut Vec<u8>, un: &mut Vec<String>) -> Option<&'b str> {
        let r = match &self.fd {
            Some(fd) => pread_all(fd, buf),
            None => {
                use nix::fcntl::OFlag;
                nix::fcntl::open(
                    &self.path,
                    OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .and_then(|fd| pread_all(&fd, buf))
            }
        };
        match r {
            Ok(b) => std::str::from_utf8(b).ok(),
            Err(e) => {
                if !matches!(e, Errno::ENOENT | Errno::ENODEV | Errno::ESRCH) {
                    if let Some(n) = self.path.file_name().and_then(|n| n.to_str()) {
                        un.push(n.to_string());
                    }
                }
                None
            }
        }
    }
}

/// Where one container's figures are read from.
#[derive(Debug)]
pub struct Probe {
    v2: bool,
    cpu_usage: Option<Held>,
    /// v2 cpu.max, or v1 cpu.cfs_quota_us and cpu.cfs_period_us.
    cpu_max: [Option<Held>; 2],
    mem_usage: Option<Held>,
    mem_stat: Option<Held>,
    mem_max: Option<Held>,
    /// v2 memory.events, v1 memory.oom_control.
    mem_events: Option<Held>,
    pids_current: Option<Held>,
    pids_max: Option<Held>,
    io: Option<Held>,
    /// cpu, memory and io.pressure of the container's own cgroup2 directory.
    pressure: [Option<Held>; 3],
}

/// One read.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub cpu_usec: Option<u64>,
    pub cpus_limit: Option<f64>,
    pub mem_ws: Option<u64>,
    pub mem_limit: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    /// Bytes read and written.
    pub io: Option<(u64, u64)>,
    /// PSI `some avg10` of cpu, memory and io.
    pub psi: [Option<f64>; 3],
    pub oom_kills: Option<u64>,
    /// v2's memory.high throttling events.
    pub high: Option<u64>,
    /// Files that exist but could not be read, and "io" / "RES.pressure" where there is none.
    pub unreadable: Vec<String>,
}

pub const PSI: [&str; 3] = ["cpu", "memory", "io"];

/// The most descriptors a probe holds (v1: ten hierarchies' files and three pressure files).
pub const HELD: usize = 13;

/// The cgroup2 directory whose pressure files are the container's: on v2 its cgroup; on a
/// hybrid host only where its runtime gave it a cgroup2 directory of its own (the same path as
/// its v1 cgroups, as runc and crun make), not the root or a parent it merely sits in.
pub fn pressure_dir<'a>(set: &'a CgroupSet, paths: &BTreeMap<String, String>) -> Option<&'a Path> {
    let d = set.v2_dir()?;
    match set.version {
        Version::V2 => Some(d),
        _ => {
            let p = paths.get("unified")?;
            let own = p != "/"
                && paths
                    .iter()
                    .any(|(k, v)| k != "unified" && !k.starts_with("name=") && v == p);
            own.then_some(d)
        }
    }
}

impl Probe {
    /// With `hold`, its files are held open (`HELD` descriptors at most).
    pub fn new(set: &CgroupSet, paths: &BTreeMap<String, String>, hold: bool) -> Probe {
        let v2 = set.version == Version::V2;
        let at = |d: Option<&Path>, name: &str| Held::open(d?.join(name), hold);
        let f = |c: &str| set.dir_for(c);
        let pdir = pressure_dir(set, paths);
        let pressure = PSI.map(|res| at(pdir, &format!("{res}.pressure")));
        if v2 {
            Probe {
                v2,
                cpu_usage: at(f("cpu"), "cpu.stat"),
                cpu_max: [at(f("cpu"), "cpu.max"), None],
                mem_usage: at(f("memory"), "memory.current"),
                mem_stat: at(f("memory"), "memory.stat"),
                mem_max: at(f("memory"), "memory.max"),
                mem_events: at(f("memory"), "memory.events"),
                pids_current: at(f("pids"), "pids.current"),
                pids_max: at(f("pids"), "pids.max"),
                io: at(f("io"), "io.stat"),
                pressure,
            }
        } else {
            Probe {
                v2,
                cpu_usage: at(f("cpuacct"), "cpuacct.usage"),
                cpu_max: [
                    at(f("cpu"), "cpu.cfs_quota_us"),
                    at(f("cpu"), "cpu.cfs_period_us"),
                ],
                mem_usage: at(f("memory"), "memory.usage_in_bytes"),
                mem_stat: at(f("memory"), "memory.stat"),
                mem_max: at(f("memory"), "memory.limit_in_bytes"),
                mem_events: at(f("memory"), "memory.oom_control"),
                pids_current: at(f("pids"), "pids.current"),
                pids_max: at(f("pids"), "pids.max"),
                io: at(f("blkio"), "blkio.throttle.io_service_bytes_recursive"),
                pressure,
            }
        }
    }

    fn text<'b>(
        &self,
        f: &Option<Held>,
        buf: &'b mut Vec<u8>,
        un: &mut Vec<String>,
    ) -> Option<&'b str> {
        f.as_ref()?.text(buf, un)
    }

    /// Read every figure; `buf` is reused between files and calls.
    pub fn read(&self, buf: &mut Vec<u8>) -> Figures {
        let mut out = Figures::default();
        let mut un: Vec<String> = vec![];
        let num = |f: &Option<Held>, buf: &mut Vec<u8>, un: &mut Vec<String>| {
            self.text(f, buf, un)
                .and_then(|s| report::parse_limit(s.trim()))
        };
        if self.v2 {
            out.cpu_usec = self
                .text(&self.cpu_usage, buf, &mut un)
                .and_then(|s| super::parse_keyed(s, "usage_usec"));
            if let Some(s) = self.text(&self.cpu_max[0], buf, &mut un) {
                let mut f = s.split_whitespace();
                let q = f.next().and_then(report::parse_limit);
                let per = f.next().and_then(|p| p.parse::<u64>().ok());
                out.cpus_limit = cpus(q, per);
            }
        } else {
            out.cpu_usec = num(&self.cpu_usage, buf, &mut un).map(|ns| ns / 1000);
            let q = num(&self.cpu_max[0], buf, &mut un);
            let per = num(&self.cpu_max[1], buf, &mut un);
            out.cpus_limit = cpus(q, per);
        }
        let usage = num(&self.mem_usage, buf, &mut un);
        let key = if self.v2 {
            "inactive_file"
        } else {
            "total_inactive_file"
        };
        let inactive = self
            .text(&self.mem_stat, buf, &mut un)
            .and_then(|s| super::parse_keyed(s, key));
        out.mem_ws = usage.map(|u| u.saturating_sub(inactive.unwrap_or(0)));
        out.mem_limit = num(&self.mem_max, buf, &mut un);
        if let Some(s) = self.text(&self.mem_events, buf, &mut un) {
            out.oom_kills = super::parse_keyed(s, "oom_kill");
            if self.v2 {
                out.high = super::parse_keyed(s, "high");
            }
        }
        out.pids = num(&self.pids_current, buf, &mut un);
        out.pids_limit = num(&self.pids_max, buf, &mut un);
        out.io = self
            .text(&self.io, buf, &mut un)
            .map(|s| parse_io(s, self.v2));
        if out.io.is_none() {
            un.push("io".into());
        }
        for (k, res) in PSI.iter().enumerate() {
            out.psi[k] = self
                .text(&self.pressure[k], buf, &mut un)
                .and_then(some_avg10);
            if out.psi[k].is_none() {
                un.push(format!("{res}.pressure"));
            }
        }
        out.unreadable = un;
        out
    }
}

/// The whole of an open file from offset 0, read into `buf` (kept at its size between calls,
/// so nothing is zeroed or allocated again), without the size query and seek of
/// `read_to_end`.
pub fn pread_all<'b>(fd: &impl AsFd, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Errno> {
    if buf.len() < 16384 {
        buf.resize(16384, 0);
    }
    let mut len = 0;
    loop {
        match nix::sys::uio::pread(fd, &mut buf[len..], len as i64) {
            Ok(0) => break,
            // Until a read returns nothing: a seq_file (net/dev, io.stat) hands out about a
            // page a read, so a short read is no end.
            Ok(n) => {
                len += n;
                if len == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(&buf[..len])
}

fn cpus(quota: Option<u64>, period: Option<u64>) -> Option<f64> {
    match (quota, period) {
        (Some(q), Some(p)) if p > 0 => Some((q as f64 / p as f64 * 1000.0).round() / 1000.0),
        _ => None,
    }
}

/// Read `path` into `buf`: its text, None where it does not exist (or is not text); a file that
/// exists but cannot be read is named in `unreadable`.
pub fn read_into<'b>(
    path: &Path,
    buf: &'b mut Vec<u8>,
    unreadable: &mut Vec<String>,
) -> Option<&'b str> {
    use nix::fcntl::OFlag;
    match nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .and_then(|fd| pread_all(&fd, buf))
    {
        Ok(b) => std::str::from_utf8(b).ok(),
        Err(e) => {
            if e != Errno::ENOENT && e != Errno::ENODEV && e != Errno::ESRCH {
                if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    unreadable.push(name.to_string());
                }
            }
            None
        }
    }
}

/// `avg10` of the `some` line of a PSI file.
pub fn some_avg10(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("some "))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// Bytes read and written: v2 io.stat (rbytes, wbytes of every device), v1
/// blkio.throttle.io_service_bytes_recursive (Read, Write lines).
pub fn parse_io(text: &str, v2: bool) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines() {
        if v2 {
            for kv in line.split_whitespace().skip(1) {
                match kv.split_once('=') {
                    Some(("rbytes", v)) => r += v.parse::<u64>().unwrap_or(0),
                    Some(("wbytes", v)) => w += v.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        } else {
            let mut f = line.split_whitespace();
            let (Some(_), Some(kind), Some(v), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            match kind {
                "Read" => r += v.parse::<u64>().unwrap_or(0),
                "Write" => w += v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (r, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::{Dir, Hierarchy};
    use std::fs;

    #[test]
    fn io_files() {
        assert_eq!(
            parse_io(
                "8:0 rbytes=100 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n",
                true
            ),
            (101, 22)
        );
        assert_eq!(
            parse_io("8:0 Read 10\n8:0 Write 5\n8:0 Total 15\nTotal 15\n", false),
            (10, 5)
        );
    }

    #[test]
    fn psi_line() {
        let t = "some avg10=1.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=3\n";
        assert_eq!(some_avg10(t), Some(1.5));
        assert_eq!(some_avg10("full avg10=2.00\n"), None);
    }

    /// On a hybrid host the cgroup2 directory counts only where it is the container's own.
    #[test]
    fn hybrid_pressure_only_from_an_own_cgroup2_directory() {
        let h = Hierarchy::from_mountinfo(crate::cgroup::tests::HYBRID).unwrap();
        let docker =
            "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n1:cpu:/docker/abc\n0::/docker/abc\n";
        let (set, paths) = report::of_process(&h, docker);
        assert_eq!(
            pressure_dir(&set, &paths),
            Some(Path::new("/sys/fs/cgroup/unified/docker/abc"))
        );
        // nsk on a hybrid host joins the v1 hierarchies only: its cgroup2 directory is the root,
        // whose pressure is the whole host's.
        let nsk = "9:name=systemd:/\n4:memory:/nsk/abc\n1:cpu:/nsk/abc\n0::/\n";
        let (set, paths) = report::of_process(&h, nsk);
        assert_eq!(pressure_dir(&set, &paths), None);
        // Nor a parent it shares with others, which only the systemd hierarchy names alike.
        let other = "9:name=systemd:/user.slice\n4:memory:/nsk/abc\n0::/user.slice\n";
        let (set, paths) = report::of_process(&h, other);
        assert_eq!(pressure_dir(&set, &paths), None);
    }

    #[test]
    fn reads_a_v2_fixture() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("c");
        fs::create_dir(&d).unwrap();
        for (f, v) in [
            ("memory.max", "104857600"),
            ("memory.current", "5000"),
            ("memory.stat", "anon 10\nfile 20\ninactive_file 1000\n"),
            ("memory.events", "low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\n"),
            ("cpu.max", "50000 100000"),
            ("cpu.stat", "usage_usec 456\nuser_usec 400\n"),
            ("pids.max", "max"),
            ("pids.current", "3"),
            ("io.stat", "8:0 rbytes=7 wbytes=9 rios=1 wios=1\n"),
            (
                "memory.pressure",
                "some avg10=1.50 avg60=0.00 avg300=0.00 total=12\n",
            ),
        ] {
            fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
        let set = CgroupSet {
            version: Version::V2,
            dirs: vec![Dir {
                key: "unified".into(),
                path: d,
            }],
        };
        let mut paths = BTreeMap::new();
        paths.insert("unified".to_string(), "/c".to_string());
        let f = Probe::new(&set, &paths, true).read(&mut vec![]);
        let g = Probe::new(&set, &paths, false).read(&mut vec![]);
        assert_eq!(format!("{f:?}"), format!("{g:?}"));
        assert_eq!(f.cpu_usec, Some(456));
        assert_eq!(f.cpus_limit, Some(0.5));
        assert_eq!(f.mem_ws, Some(4000));
        assert_eq!(f.mem_limit, Some(104857600));
        assert_eq!((f.oom_kills, f.high), (Some(1), Some(2)));
        assert_eq!((f.pids, f.pids_limit), (Some(3), None));
        assert_eq!(f.io, Some((7, 9)));
        assert_eq!(f.psi, [None, Some(1.5), None]);
        assert_eq!(f.unreadable, vec!["cpu.pressure", "io.pressure"]);
    }
}
