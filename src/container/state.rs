//! The state store: one directory per container under the state root, holding `state.json`
//! (written atomically: temp file + rename, under an flock on the directory), the overlay's
//! upper and work dirs, and the log of a detached container.

use crate::cgroup::{CgroupSet, Limits};
use crate::error::{Context, Error, Result};
use crate::process;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Created,
    Running,
    Exited,
    OomKilled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::OomKilled => "oom-killed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub id: String,
    /// PID of the container's init in the host's PID namespace.
    pub pid: Option<i32>,
    /// Start time of that PID (clock ticks after boot, /proc/PID/stat field 22): a PID whose
    /// start time differs is another process and is never taken for the container.
    pub start_time: Option<u64>,
    /// RFC 3339, UTC.
    pub created: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    /// None: the embedded default (a snapshot of the host's `/`).
    pub rootfs: Option<PathBuf>,
    pub cgroups: Option<CgroupSet>,
    /// Namespace kind → inode.
    pub namespaces: BTreeMap<String, u64>,
    pub limits: Limits,
    pub command: Vec<String>,
    pub hostname: String,
    pub detached: bool,
    /// The cached image (its id, "sha256:HEX") the root filesystem comes from.
    #[serde(default)]
    pub image: Option<String>,
}

impl State {
    /// Correct a "running" status when the PID is gone or now names another process.
    pub fn refresh(&mut self) {
        if self.status != Status::Running {
            return;
        }
        let alive = match (self.pid, self.start_time) {
            (Some(pid), Some(st)) => process::is_running(pid, st),
            _ => false,
        };
        if !alive {
            self.status = Status::Exited;
        }
    }

    pub fn is_running(&self) -> bool {
        let mut s = self.clone();
        s.refresh();
        s.status == Status::Running
    }

    /// "exited (3)", "exited (signal 9)", "oom-killed", "running".
    pub fn status_text(&self) -> String {
        match (self.status, self.exit_code, self.exit_signal) {
            (Status::Exited, _, Some(sig)) => format!("exited (signal {sig})"),
            (Status::Exited, Some(c), None) => format!("exited ({c})"),
            (s, _, _) => s.as_str().to_string(),
        }
    }
}

pub struct Store {
    pub root: PathBuf,
}

/// The default state root: /run/nsk for root, $XDG_RUNTIME_DIR/nsk (or /tmp/nsk-UID) otherwise.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/nsk");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("nsk"),
        _ => PathBuf::from(format!("/tmp/nsk-{}", nix::unistd::geteuid())),
    }
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    fn ensure_root(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
        {
            Ok(()) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("cannot create state root {}", self.root.display())),
        }
    }

    /// The directory of container `name`. Every path the store builds comes from here, and a
    /// name that is not a plain container name (`/`, `..`, empty) is refused: no caller can
    /// reach outside the state root through a name.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        crate::container::config::validate_name(name).map_err(|_| no_such(name))?;
        Ok(self.root.join(name))
    }

    /// Reserve `name`: creating its directory is atomic, so of two runs with the same name at the
    /// same moment exactly one succeeds.
    pub fn create(&self, name: &str) -> Result<PathBuf> {
        crate::container::config::validate_name(name)?;
        self.ensure_root()?;
        let d = self.dir(name)?;
        match fs::create_dir(&d) {
            Ok(()) => Ok(d),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(Error::failed(format!(
                "container name '{name}' is already in use (see nsk ps -a; remove it with nsk rm {name})"
            ))),
            Err(e) => Err(e).ctx(|| format!("cannot create {}", d.display())),
        }
    }

    /// Lock a container's directory for a read-modify-write.
    pub fn lock(&self, name: &str) -> Result<Flock<fs::File>> {
        let d = self.dir(name)?;
        let f = fs::File::open(&d).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => no_such(name),
            _ => Error::Io {
                what: format!("cannot open {}", d.display()),
                source: e,
            },
        })?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Os {
            what: format!("cannot lock {}", d.display()),
            errno: e,
        })
    }

    pub fn load(&self, name: &str) -> Result<State> {
        let p = self.dir(name)?.join("state.json");
        let text = fs::read(&p).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => no_such(name),
            _ => Error::Io {
                what: format!("cannot read {}", p.display()),
                source: e,
            },
        })?;
        let mut st: State = serde_json::from_slice(&text)
            .map_err(|e| Error::failed(format!("corrupt state file {}: {e}", p.display())))?;
        st.refresh();
        Ok(st)
    }

    /// Write state.json atomically. Fails with ENOENT when the container was removed meanwhile.
    pub fn save(&self, st: &State) -> Result<()> {
        write_json(&self.dir(&st.name)?.join("state.json"), st)
    }

    /// Names of every container directory (including half-created ones without state.json).
    pub fn names(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(vec![]),
            Err(e) => {
                return Err(e).ctx(|| format!("cannot read state root {}", self.root.display()))
            }
        };
        let mut v: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        Ok(v)
    }

    /// Remove a container's directory tree (upper dir included). Missing is fine.
    pub fn remove_dir(&self, name: &str) -> Result<()> {
        let d = self.dir(name)?;
        let mut r = fs::remove_dir_all(&d);
        if r.as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EACCES))
        {
            // overlayfs leaves work/work with mode 000; without root's CAP_DAC_OVERRIDE (a user
            // namespace) it can only be emptied after making it accessible again.
            open_up_dirs(&d);
            r = fs::remove_dir_all(&d);
        }
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("cannot remove {}", d.display())),
        }
    }
}

/// Give the owner rwx on every directory below `d` (symlinks are never followed).
pub(crate) fn open_up_dirs(d: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(md) = fs::symlink_metadata(d) else {
        return;
    };
    if !md.is_dir() {
        return;
    }
    if md.permissions().mode() & 0o700 != 0o700 {
        let _ = fs::set_permissions(
            d,
            fs::Permissions::from_mode(md.permissions().mode() | 0o700),
        );
    }
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                open_up_dirs(&e.path());
            }
        }
    }
}

/// Write `v` as JSON to `p` atomically: a temp file beside it (named by PID), then rename, so a
/// reader sees the old or the new document, never half of one.
pub fn write_json<T: Serialize>(p: &std::path::Path, v: &T) -> Result<()> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = p.with_file_name(format!(".{name}.{}", std::process::id()));
    let body = serde_json::to_vec_pretty(v)
        .map_err(|e| Error::failed(format!("cannot encode {}: {e}", p.display())))?;
    fs::write(&tmp, body).ctx(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, p).ctx(|| format!("cannot write {}", p.display()))
}

pub fn no_such(name: &str) -> Error {
    Error::failed(format!("no such container: {name}"))
}

/// RFC 3339 UTC time for a Unix timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn now_rfc3339() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(s)
}

/// Parse back what `rfc3339` wrote (for "5 minutes ago" in tables).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_roundtrip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_401_865), "2026-11-23T02:44:25Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_795_401_865, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn store_create_is_exclusive() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path().join("root"));
        s.create("a").unwrap();
        let e = s.create("a").unwrap_err().to_string();
        assert!(e.contains("'a' is already in use"), "{e}");
        assert_eq!(s.names().unwrap(), vec!["a"]);
        assert!(s
            .load("a")
            .unwrap_err()
            .to_string()
            .contains("no such container: a"));
        assert!(s
            .load("../etc")
            .unwrap_err()
            .to_string()
            .contains("no such container"));
        s.remove_dir("a").unwrap();
        s.remove_dir("a").unwrap();
        // Names never reach outside the root: a sibling directory survives every call.
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        for bad in ["../outside", "..", ".", "", "a/../../outside", "/tmp"] {
            assert!(s.dir(bad).is_err(), "{bad}");
            assert!(s.remove_dir(bad).is_err(), "{bad}");
            assert!(s.lock(bad).is_err(), "{bad}");
            assert!(s.load(bad).is_err(), "{bad}");
        }
        assert!(outside.is_dir());
    }
}
