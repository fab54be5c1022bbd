//! The state store: one directory per container under the state root, holding nsk's marker,
//! `state.json` (written atomically: temp file + rename, under an flock on the directory), the
//! overlay's upper and work dirs, and the log of a detached container. Every open is checked
//! (see `secure`), and nothing read back is acted on before it is cross-checked: the marker
//! against the name, the state against the marker, the PID against the kernel.

use crate::cgroup::{CgroupSet, Limits};
use crate::error::{Context, Error, Result};
use crate::process;
use crate::secure::{self, ensure_root, open_root, Kind};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

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

/// What the kernel says of the process a state file names.
#[derive(Debug, PartialEq, Eq)]
pub enum Alive {
    /// The recorded PID is the container's init: same start time, in the recorded PID
    /// namespace, which is not nsk's own.
    Yes,
    /// Gone, or the PID now names another process (reused).
    No,
    /// A process with the recorded PID and start time lives, but it is not the container's
    /// init: the state file is damaged or forged, and nothing it says is acted on.
    Mismatch(String),
}

impl State {
    /// Cross-check the recorded PID against the kernel before anything acts on it.
    pub fn check_process(&self) -> Alive {
        let (Some(pid), Some(start)) = (self.pid, self.start_time) else {
            return Alive::No;
        };
        if pid <= 0 {
            return Alive::Mismatch(format!("it records PID {pid}"));
        }
        let Ok(dir) = process::ProcDir::open(pid) else {
            return Alive::No;
        };
        match dir.stat() {
            Ok(s) if s.start_time == start && s.state != 'Z' && s.state != 'X' => {}
            _ => return Alive::No,
        }
        let Some(&recorded) = self.namespaces.get("pid") else {
            return Alive::Mismatch("it records no PID namespace".into());
        };
        let kind = crate::ns::kind("pid").expect("pid is a namespace kind");
        let actual = dir.ns_inode(kind, &mut [0u8; 64]);
        if actual != Some(recorded) {
            return Alive::Mismatch(format!(
                "PID {pid} is not in the recorded PID namespace {recorded}"
            ));
        }
        if process::ns_inode(std::process::id() as i32, "pid") == Some(recorded) {
            return Alive::Mismatch(format!(
                "the recorded PID namespace {recorded} is nsk's own, not a container's"
            ));
        }
        Alive::Yes
    }

    /// Correct a "running" status when the PID is gone or now names another process; an error
    /// (the reason) when the PID names a live process that is not the container's init.
    pub fn refresh(&mut self) -> std::result::Result<(), String> {
        if self.status != Status::Running {
            return Ok(());
        }
        match self.check_process() {
            Alive::Yes => Ok(()),
            Alive::No => {
                self.status = Status::Exited;
                Ok(())
            }
            Alive::Mismatch(why) => Err(why),
        }
    }

    pub fn is_running(&self) -> bool {
        self.status == Status::Running && self.check_process() == Alive::Yes
    }

    /// A pidfd on the container's init, opened first and cross-checked after (start time and
    /// PID namespace), so neither a reused PID nor a forged one is ever signalled.
    pub fn pin(&self) -> Option<std::os::fd::OwnedFd> {
        if self.status != Status::Running {
            return None;
        }
        let fd = crate::sys::pidfd_open(self.pid?).ok()?;
        (self.check_process() == Alive::Yes).then_some(fd)
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

/// nsk's proof that it made a container directory: written inside the directory before the
/// directory gets its name, and never rewritten. A directory without one is not nsk's: it is
/// neither listed nor removed.
pub const MARKER: &str = "nsk-container.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub name: String,
    pub id: String,
    /// The --cgroup-parent the container's cgroups were made under.
    pub cgroup_parent: String,
    /// The `nsk run` that made it (PID and start time): a container being created is not
    /// removed from under it.
    pub creator_pid: i32,
    pub creator_start: u64,
}

impl Marker {
    /// Is the `nsk run` that made the container still running?
    pub fn creator_alive(&self) -> bool {
        self.creator_pid > 0 && process::is_running(self.creator_pid, self.creator_start)
    }
}

/// A container's state as read: trusted (cross-checked), or damaged with the reason.
pub enum Loaded {
    Ok(Box<State>),
    Damaged(String),
}

#[derive(Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// The directories `Store::stale` found, to be removed: what a killed removal left may be a
/// container's whole writable layer.
pub struct Stale {
    store: Store,
    /// Names in the root, and whether each is a run's (`.new-`) rather than a removal's.
    dirs: Vec<(String, bool)>,
}

impl Stale {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Remove them: a removal's whole, a run's only when it holds nothing but nsk's own files.
    pub fn remove(&mut self) {
        let dirs = std::mem::take(&mut self.dirs);
        if dirs.is_empty() {
            return;
        }
        let Ok(Some(root)) = open_root(&self.store.root) else {
            return;
        };
        for (name, new) in &dirs {
            let p = self.store.root.join(name);
            if secure::open_at(&root, name, &p, Kind::Dir).is_err() {
                continue;
            }
            let only_nsks = |d: &Path| {
                fs::read_dir(d).is_ok_and(|rd| {
                    rd.flatten().all(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n == MARKER
                            || n == STATE
                            || n.starts_with(&format!(".{MARKER}."))
                            || n.starts_with(&format!(".{STATE}."))
                    })
                })
            };
            if !new || only_nsks(&p) {
                remove_tree(&p);
            }
        }
    }
}

/// The default state root: /run/nsk for root; otherwise $XDG_RUNTIME_DIR/nsk, or nsk-UID in
/// $TMPDIR (/tmp), a directory nsk creates 0700 and refuses when another user made it.
pub fn default_root() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from("/run/nsk");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && Path::new(&d).is_absolute() => PathBuf::from(d).join("nsk"),
        _ => {
            let tmp = std::env::var_os("TMPDIR")
                .filter(|t| Path::new(t).is_absolute())
                .unwrap_or_else(|| "/tmp".into());
            PathBuf::from(tmp).join(format!("nsk-{uid}"))
        }
    }
}

/// A container id as nsk makes them: 32 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// The state root, created if missing, checked (for the image cache and limit journals).
    pub fn checked_root(&self) -> Result<PathBuf> {
        ensure_root(&self.root)?;
        Ok(self.root.clone())
    }

    /// The path of container `name`'s directory. A name that is not a plain container name
    /// (`/`, `..`, empty) is refused: no caller can reach outside the state root through a name.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        crate::container::config::validate_name(name)?;
        Ok(self.root.join(name))
    }

    /// Open container `name`'s directory, checked, with its marker.
    fn open(&self, name: &str) -> Result<(OwnedFd, Marker)> {
        let shown = self.dir(name)?;
        let root = open_root(&self.root)?.ok_or_else(|| no_such(name))?;
        let fd = secure::open_at(&root, name, &shown, Kind::Dir).map_err(|e| {
            if e.errno() == Some(Errno::ENOENT) {
                no_such(name)
            } else {
                e
            }
        })?;
        let m = match read_marker(&fd, &shown) {
            Ok(m) => m,
            // A removal renames the directory away and then empties it: one opened just before
            // the rename loses its marker under us. That is a container gone, not a foreign
            // directory.
            Err(_) if !still_named(&root, name, &fd) => return Err(no_such(name)),
            Err(e) => return Err(e),
        };
        if m.name != name || !valid_id(&m.id) {
            return Err(Error::failed(format!(
                "refusing {}: its nsk marker is damaged (it names container '{}')",
                shown.display(),
                m.name
            )));
        }
        Ok((fd, m))
    }

    fn still_named(&self, name: &str, dir: &OwnedFd) -> bool {
        matches!(open_root(&self.root), Ok(Some(root)) if still_named(&root, name, dir))
    }

    /// The marker of container `name`.
    pub fn marker(&self, name: &str) -> Result<Marker> {
        Ok(self.open(name)?.1)
    }

    /// Make container `st.name`: a directory (0700) with the marker and the first state, made
    /// under a temporary name and then renamed into place without replacing anything, so of
    /// two runs with the same name at the same moment exactly one succeeds, and no directory
    /// is ever seen without its marker and state. The directory is returned locked (as by
    /// `lock`), taken before it got its name, so no other nsk acts on it in between.
    pub fn create(&self, st: &State, cgroup_parent: &str) -> Result<Flock<fs::File>> {
        use nix::fcntl::{renameat2, RenameFlags};
        crate::container::config::validate_name(&st.name)?;
        let in_use = || {
            Error::failed(format!(
                "container name '{0}' is already in use (see nsk ps -a; remove it with nsk rm {0})",
                st.name
            ))
        };
        let root = ensure_root(&self.root)?;
        let me = std::process::id() as i32;
        let marker = Marker {
            name: st.name.clone(),
            id: st.id.clone(),
            cgroup_parent: cgroup_parent.to_string(),
            creator_pid: me,
            creator_start: process::own_start_time()?,
        };
        let tmp = format!(".new-{}.{me}.{}", st.id, marker.creator_start);
        let tmp_path = self.root.join(&tmp);
        if !secure::mkdir_at(&root, &tmp, &tmp_path, secure::DIR_MODE)? {
            return Err(Error::failed(format!("{} exists", tmp_path.display())));
        }
        let made = (|| -> Result<Flock<fs::File>> {
            use std::io::Write;
            let d = secure::open_at(&root, &tmp, &tmp_path, Kind::Dir)?;
            // Written in place: the directory is seen under its name only once both are whole.
            for (file, body) in [
                (
                    MARKER,
                    secure::json_body(&marker, &tmp_path.join(MARKER), 0)?,
                ),
                (
                    STATE,
                    secure::json_body(st, &tmp_path.join(STATE), STATE_MIN)?,
                ),
            ] {
                let shown = tmp_path.join(file);
                secure::create_at(&d, file, &shown, secure::FILE_MODE)?
                    .write_all(&body)
                    .ctx(|| format!("cannot write {}", shown.display()))?;
            }
            let lock =
                Flock::lock(fs::File::from(d), FlockArg::LockExclusive).map_err(|(_, e)| {
                    Error::Os {
                        what: format!("cannot lock {}", tmp_path.display()),
                        errno: e,
                    }
                })?;
            match renameat2(
                &root,
                tmp.as_str(),
                &root,
                st.name.as_str(),
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => Ok(lock),
                Err(Errno::EEXIST) => Err(in_use()),
                // A filesystem without RENAME_NOREPLACE: reserve the name with mkdir (atomic),
                // then rename over the empty directory just made.
                Err(Errno::EINVAL) => {
                    if !secure::mkdir_at(
                        &root,
                        &st.name,
                        &self.root.join(&st.name),
                        secure::DIR_MODE,
                    )? {
                        return Err(in_use());
                    }
                    nix::fcntl::renameat(&root, tmp.as_str(), &root, st.name.as_str())
                        .ctx(|| format!("cannot create {}", self.root.join(&st.name).display()))?;
                    Ok(lock)
                }
                Err(e) => {
                    Err(e).ctx(|| format!("cannot create {}", self.root.join(&st.name).display()))
                }
            }
        })();
        if made.is_err() {
            remove_tree(&tmp_path);
        }
        made
    }

    /// What killed runs and removals left under temporary names, once the process named in the
    /// name is gone: `.new-ID.PID.START` of a run (holding nothing but nsk's own files of a
    /// container being made) and `.rm-ID.PID.START` of a removal. Only nsk makes entries in the
    /// (checked) root under such names. The listing removes the temp files of state writes cut
    /// short (`secure::sweep_temps`) at once; the directories go with `Stale::remove`.
    pub fn stale(&self) -> Stale {
        let mut dirs = vec![];
        if let Ok(rd) = fs::read_dir(&self.root) {
            for e in rd.flatten() {
                secure::sweep_temp(&e);
                let name = e.file_name().to_string_lossy().into_owned();
                let (rest, new) = match (name.strip_prefix(".new-"), name.strip_prefix(".rm-")) {
                    (Some(r), _) => (r, true),
                    (_, Some(r)) => (r, false),
                    _ => continue,
                };
                let f: Vec<&str> = rest.split('.').collect();
                let [id, pid, start] = f.as_slice() else {
                    continue;
                };
                let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
                    continue;
                };
                if valid_id(id) && pid > 0 && !process::is_running(pid, start) {
                    dirs.push((name, new));
                }
            }
        }
        Stale {
            store: self.clone(),
            dirs,
        }
    }

    /// Lock a container's directory for a read-modify-write. Once the lock is held, the name
    /// still names the directory locked (not one removed meanwhile, nor a new one of the same
    /// name), or the container is gone.
    pub fn lock(&self, name: &str) -> Result<Flock<fs::File>> {
        self.lock_marked(name).map(|(l, _)| l)
    }

    /// `lock`, and the marker read again once the lock is held.
    pub fn lock_marked(&self, name: &str) -> Result<(Flock<fs::File>, Marker)> {
        let (fd, m) = self.open(name)?;
        let l = Flock::lock(fs::File::from(fd), FlockArg::LockExclusive).map_err(|(_, e)| {
            Error::Os {
                what: format!("cannot lock {}", self.root.join(name).display()),
                errno: e,
            }
        })?;
        match self.open(name) {
            Ok((_, now)) if now.id == m.id => Ok((l, now)),
            Ok(_) | Err(Error::NotFound(_)) => Err(no_such(name)),
            Err(e) => Err(e),
        }
    }

    /// Remove what killed runs and removals left under temporary names (`stale`).
    pub fn sweep_stale(&self) {
        self.stale().remove();
    }

    /// Read and cross-check container `name`'s state. An error when it is not an nsk container
    /// (or cannot be read at all); `Loaded::Damaged` when its state cannot be trusted.
    pub fn read(&self, name: &str) -> Result<Loaded> {
        let (fd, m) = self.open(name)?;
        let p = self.root.join(name).join(STATE);
        let text = match secure::read_at(&fd, STATE, &p, secure::MAX_JSON) {
            Ok(t) => t,
            Err(_) if !self.still_named(name, &fd) => return Err(no_such(name)),
            Err(e) => return Ok(Loaded::Damaged(e.to_string())),
        };
        let mut st: State = match serde_json::from_slice(&text) {
            Ok(s) => s,
            Err(e) => {
                return Ok(Loaded::Damaged(format!(
                    "corrupt state file {}: {e}",
                    p.display()
                )))
            }
        };
        if st.name != name || st.id != m.id {
            return Ok(Loaded::Damaged(format!(
                "{} names container '{}' (id {}), not '{name}' (id {})",
                p.display(),
                st.name,
                st.id,
                m.id
            )));
        }
        if let Err(why) = st.refresh() {
            return Ok(Loaded::Damaged(format!(
                "{} does not match the kernel: {why}",
                p.display()
            )));
        }
        Ok(Loaded::Ok(Box::new(st)))
    }

    /// Container `name`'s state; a damaged one is an error that says why.
    pub fn load(&self, name: &str) -> Result<State> {
        match self.read(name)? {
            Loaded::Ok(st) => Ok(*st),
            Loaded::Damaged(why) => Err(damaged(name, &why)),
        }
    }

    /// Write state.json atomically. Fails when the container was removed meanwhile.
    pub fn save(&self, st: &State) -> Result<()> {
        let (fd, m) = self.open(&st.name)?;
        if m.id != st.id {
            return Err(Error::failed(format!(
                "container {} was replaced meanwhile",
                st.name
            )));
        }
        let p = self.root.join(&st.name).join(STATE);
        let body = secure::json_body(st, &p, STATE_MIN)?;
        secure::replace_at(&fd, STATE, &p, &body)
    }

    /// Open container `name`'s file `file` (its log) for reading, checked.
    pub fn open_file(&self, name: &str, file: &str) -> Result<fs::File> {
        let (fd, _) = self.open(name)?;
        let p = self.root.join(name).join(file);
        let f = secure::open_at(&fd, file, &p, Kind::File)?;
        // Opened non-blocking (a FIFO must not hang the open): reads block as usual.
        nix::fcntl::fcntl(
            &f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .ctx(|| format!("cannot open {}", p.display()))?;
        Ok(fs::File::from(f))
    }

    /// Names of nsk's containers: directories with nsk's marker. Anything else under the root
    /// is not nsk's and is left alone.
    pub fn names(&self) -> Result<Vec<String>> {
        if open_root(&self.root)?.is_none() {
            return Ok(vec![]);
        }
        let rd = fs::read_dir(&self.root)
            .ctx(|| format!("cannot read state root {}", self.root.display()))?;
        let mut v: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && self.open(n).is_ok())
            .collect();
        v.sort();
        Ok(v)
    }

    /// Remove container `name`'s directory tree (upper dir included), only when nsk's marker
    /// proves nsk made it, and only by the name given. Missing is fine.
    pub fn remove_dir(&self, name: &str) -> Result<()> {
        let (_, m) = match self.open(name) {
            Ok(x) => x,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let root = ensure_root(&self.root)?;
        // Renamed first (atomic), so a removal cut short leaves no half directory under the
        // name: only a temporary one that the next run sweeps.
        let me = std::process::id() as i32;
        let gone = format!(
            ".rm-{}.{me}.{}",
            m.id,
            process::own_start_time().unwrap_or(0)
        );
        match nix::fcntl::renameat(&root, name, &root, gone.as_str()) {
            Ok(()) => {}
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => {
                return Err(e).ctx(|| format!("cannot remove {}", self.root.join(name).display()))
            }
        }
        let d = self.root.join(&gone);
        let mut r = fs::remove_dir_all(&d);
        if r.as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::EACCES))
        {
            // overlayfs leaves work/work with mode 000; without root's CAP_DAC_OVERRIDE (a user
            // namespace) it can only be emptied after making it accessible again.
            secure::open_up_dirs(&d);
            r = fs::remove_dir_all(&d);
        }
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("cannot remove {}", d.display())),
        }
    }
}

impl Store {
    /// Whether the state root holds a record of cgroup parents nsk created.
    pub fn has_cgroup_parents(&self) -> bool {
        fs::symlink_metadata(self.root.join(PARENTS)).is_ok()
    }

    /// Run `f` on the record of the cgroup parents nsk created (and so may remove), under a lock
    /// on the state root: a parent another nsk is about to create a leaf in is never removed in
    /// between, and a parent nsk did not create is never recorded. The record is saved before
    /// each creation (see `ParentLog`) and after `f`.
    pub fn with_cgroup_parents<T>(&self, f: impl FnOnce(&mut ParentRecord) -> T) -> Result<T> {
        let root = ensure_root(&self.root)?;
        let lock_fd = root
            .try_clone()
            .ctx(|| format!("cannot lock {}", self.root.display()))?;
        let _lock =
            Flock::lock(fs::File::from(lock_fd), FlockArg::LockExclusive).map_err(|(_, e)| {
                Error::Os {
                    what: format!("cannot lock {}", self.root.display()),
                    errno: e,
                }
            })?;
        let p = self.root.join(PARENTS);
        let made: BTreeSet<PathBuf> = match secure::read_at(&root, PARENTS, &p, secure::MAX_JSON) {
            Ok(b) => {
                serde_json::from_slice::<Parents>(&b)
                    .map_err(|e| Error::failed(format!("corrupt file {}: {e}", p.display())))?
                    .made
            }
            Err(e) if e.errno() == Some(Errno::ENOENT) => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        let mut rec = ParentRecord {
            root: &root,
            path: p,
            saved: made.clone(),
            made,
            expected: BTreeSet::new(),
        };
        let r = f(&mut rec);
        // Expected parents that were not created after all (someone else made them first).
        let unused = std::mem::take(&mut rec.expected);
        rec.made.retain(|p| !unused.contains(p));
        rec.save()?;
        Ok(r)
    }
}

/// The record of the cgroup parents nsk created, held under the state root's lock.
pub struct ParentRecord<'a> {
    root: &'a OwnedFd,
    path: PathBuf,
    saved: BTreeSet<PathBuf>,
    pub made: BTreeSet<PathBuf>,
    /// Recorded by `expect`, not yet reported created.
    expected: BTreeSet<PathBuf>,
}

impl ParentRecord<'_> {
    /// Record in one write the parents among `paths` that do not exist yet, ahead of their
    /// creation (one atomic replace of the record instead of one per parent and hierarchy).
    /// Those that are then not created are dropped from the record when the lock is released.
    pub fn expect(&mut self, paths: impl IntoIterator<Item = PathBuf>) -> Result<()> {
        for p in paths {
            if !self.made.contains(&p) && !p.exists() {
                self.made.insert(p.clone());
                self.expected.insert(p);
            }
        }
        self.save()
    }

    fn save(&mut self) -> Result<()> {
        if self.made == self.saved {
            return Ok(());
        }
        if self.made.is_empty() {
            let _ =
                nix::unistd::unlinkat(self.root, PARENTS, nix::unistd::UnlinkatFlags::NoRemoveDir);
        } else {
            let body = secure::json_body(
                &Parents {
                    made: self.made.clone(),
                },
                &self.path,
                0,
            )?;
            secure::replace_at(self.root, PARENTS, &self.path, &body)?;
        }
        self.saved = self.made.clone();
        Ok(())
    }
}

impl crate::cgroup::ParentLog for ParentRecord<'_> {
    fn will_create(&mut self, p: &Path) -> Result<()> {
        self.expected.remove(p);
        self.made.insert(p.to_path_buf());
        self.save()
    }
    fn not_created(&mut self, p: &Path) {
        self.expected.remove(p);
        self.made.remove(p);
        let _ = self.save();
    }
}

/// The cgroup parents (absolute paths) nsk created under this state root.
const PARENTS: &str = ".cgroup-parents.json";

#[derive(Serialize, Deserialize)]
struct Parents {
    made: BTreeSet<PathBuf>,
}

const STATE: &str = "state.json";
/// state.json is written at least this large (one page), so that a full state root can still
/// take the final status in place.
const STATE_MIN: usize = 4096;

fn read_marker(dir: &OwnedFd, shown: &Path) -> Result<Marker> {
    let p = shown.join(MARKER);
    let b = secure::read_at(dir, MARKER, &p, secure::MAX_JSON).map_err(|e| {
        if e.errno() == Some(Errno::ENOENT) {
            Error::failed(format!(
                "refusing {}: not a container directory made by nsk (it has no {MARKER}); nsk leaves it alone",
                shown.display()
            ))
        } else {
            e
        }
    })?;
    serde_json::from_slice(&b).map_err(|e| {
        Error::failed(format!(
            "refusing {}: its nsk marker is damaged ({e})",
            shown.display()
        ))
    })
}

/// Whether `name` in `root` still names the directory open as `dir` (not renamed away by a
/// removal, nor replaced by a new container of the same name).
fn still_named(root: &OwnedFd, name: &str, dir: &OwnedFd) -> bool {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{fstat, fstatat};
    match (
        fstat(dir),
        fstatat(root, name, AtFlags::AT_SYMLINK_NOFOLLOW),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

fn remove_tree(d: &Path) {
    if fs::remove_dir_all(d).is_err() {
        secure::open_up_dirs(d);
        let _ = fs::remove_dir_all(d);
    }
}

pub fn no_such(name: &str) -> Error {
    Error::NotFound(format!("no such container: {name}"))
}

pub fn damaged(name: &str, why: &str) -> Error {
    Error::failed(format!(
        "container {name} has a damaged state: {why}; nsk will not act on it"
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::now_rfc3339;

    pub(crate) fn test_state(name: &str, id: &str) -> State {
        State {
            name: name.into(),
            id: id.into(),
            pid: None,
            start_time: None,
            created: now_rfc3339(),
            status: Status::Created,
            exit_code: None,
            exit_signal: None,
            rootfs: None,
            cgroups: None,
            namespaces: BTreeMap::new(),
            limits: Default::default(),
            command: vec!["true".into()],
            hostname: name.into(),
            detached: false,
            image: None,
        }
    }

    const ID_A: &str = "0123456789abcdef0123456789abcdef";
    const ID_B: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn one_listing_sweeps_what_dead_runs_and_removals_left_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path().join("root"));
        drop(s.create(&test_state("kept", ID_B), "nsk").unwrap());
        let r = &s.root;
        // A PID that is gone (reaped), and this process (alive, with its true start time).
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let dead = c.id();
        c.wait().unwrap();
        let me = std::process::id();
        let start = process::start_time(me as i32).unwrap();
        let dir = |n: &str, files: &[&str]| {
            fs::create_dir(r.join(n)).unwrap();
            for f in files {
                fs::write(r.join(n).join(f), "{}").unwrap();
            }
        };
        dir(&format!(".new-{ID_A}.{dead}.1"), &[MARKER, STATE]);
        dir(&format!(".new-{ID_A}.{dead}.2"), &[MARKER, "not-nsks"]);
        dir(&format!(".rm-{ID_A}.{dead}.3"), &[STATE, "upper-left-over"]);
        dir(&format!(".new-{ID_A}.{me}.{start}"), &[MARKER]);
        dir(&format!(".rm-{ID_A}.{me}.{start}"), &[]);
        dir(&format!(".new-not-an-id.{dead}.1"), &[]);
        fs::write(r.join(format!(".{PARENTS}.{dead}.0")), "{}").unwrap();
        fs::write(r.join(format!(".{PARENTS}.{me}.1")), "{}").unwrap();
        s.sweep_stale();
        let mut left: Vec<String> = fs::read_dir(r)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            format!(".new-{ID_A}.{dead}.2"),
            format!(".new-{ID_A}.{me}.{start}"),
            format!(".rm-{ID_A}.{me}.{start}"),
            format!(".new-not-an-id.{dead}.1"),
            format!(".{PARENTS}.{me}.1"),
            "kept".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
        assert!(s.read("kept").is_ok());
    }

    #[test]
    fn store_create_is_exclusive() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path().join("root"));
        let held = s.create(&test_state("a", ID_A), "nsk").unwrap();
        // Made locked: no other nsk can lock it until the creator lets go.
        let other = fs::File::open(s.root.join("a")).unwrap();
        let other = match Flock::lock(other, FlockArg::LockExclusiveNonblock) {
            Err((f, Errno::EWOULDBLOCK)) => f,
            r => panic!("{:?}", r.map(|_| ()).map_err(|(_, e)| e)),
        };
        drop(held);
        assert!(Flock::lock(other, FlockArg::LockExclusiveNonblock).is_ok());
        let e = s
            .create(&test_state("a", ID_B), "nsk")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'a' is already in use"), "{e}");
        assert_eq!(s.names().unwrap(), vec!["a"]);
        assert_eq!(s.load("a").unwrap().id, ID_A);
        assert_eq!(s.marker("a").unwrap().cgroup_parent, "nsk");
        // The loser left nothing behind.
        let entries: Vec<String> = fs::read_dir(&s.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, vec!["a"]);
        assert!(s
            .load("../etc")
            .unwrap_err()
            .to_string()
            .contains("invalid container name '../etc'"));
        s.remove_dir("a").unwrap();
        s.remove_dir("a").unwrap();
        assert!(matches!(s.load("a"), Err(Error::NotFound(_))));
        assert_eq!(fs::read_dir(&s.root).unwrap().count(), 0);
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

    #[test]
    fn a_container_removed_while_read_is_gone_not_foreign() {
        // A removal renames the directory away and empties it; a reader that opened it just
        // before must say "no such container", never that the directory is not nsk's.
        let t = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(Store::new(t.path().join("root")));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (s, done) = (s.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    match s.load("a") {
                        Ok(_) => seen += 1,
                        Err(Error::NotFound(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                    match s.lock("a") {
                        Ok(_) | Err(Error::NotFound(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                seen
            })
        };
        for _ in 0..3000 {
            s.create(&test_state("a", ID_A), "nsk").unwrap();
            s.remove_dir("a").unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }

    #[test]
    fn directories_without_the_marker_are_not_nsks() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path().join("root"));
        s.create(&test_state("mine", ID_A), "nsk").unwrap();
        let decoy = s.root.join("important-data");
        fs::create_dir_all(decoy.join("upper")).unwrap();
        fs::write(decoy.join("keep"), "x").unwrap();
        assert_eq!(s.names().unwrap(), vec!["mine"]);
        for e in [
            s.remove_dir("important-data").unwrap_err(),
            s.load("important-data").unwrap_err(),
            s.lock("important-data").unwrap_err(),
        ] {
            assert!(
                e.to_string()
                    .contains("not a container directory made by nsk"),
                "{e}"
            );
        }
        assert!(decoy.join("keep").is_file());
        // A marker that names another container proves nothing about this directory.
        fs::copy(s.root.join("mine").join(MARKER), decoy.join(MARKER)).unwrap();
        let e = s.remove_dir("important-data").unwrap_err().to_string();
        assert!(e.contains("marker is damaged"), "{e}");
        assert!(decoy.join("keep").is_file());
        // A state file that names another container: damaged, not followed.
        let p = s.root.join("mine").join(STATE);
        let mut st = test_state("other", ID_A);
        st.status = Status::Exited;
        fs::write(&p, serde_json::to_vec(&st).unwrap()).unwrap();
        let e = s.load("mine").unwrap_err().to_string();
        assert!(e.contains("names container 'other'"), "{e}");
        // A state file that is a symlink: refused, never followed.
        fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &p).unwrap();
        let e = s.load("mine").unwrap_err().to_string();
        assert!(e.contains("a symlink"), "{e}");
    }

    #[test]
    fn a_forged_pid_is_never_taken_for_the_container() {
        // This process, with its true start time: alive, but in nsk's own PID namespace.
        let me = std::process::id() as i32;
        let mut st = test_state("f", ID_A);
        st.status = Status::Running;
        st.pid = Some(me);
        st.start_time = Some(process::start_time(me).unwrap());
        assert!(matches!(st.check_process(), Alive::Mismatch(_)));
        st.namespaces
            .insert("pid".into(), process::ns_inode(me, "pid").unwrap());
        match st.check_process() {
            Alive::Mismatch(why) => assert!(why.contains("nsk's own"), "{why}"),
            a => panic!("{a:?}"),
        }
        st.namespaces.insert("pid".into(), 1);
        assert!(matches!(st.check_process(), Alive::Mismatch(_)));
        assert!(st.pin().is_none());
        assert!(!st.is_running());
        assert!(st.refresh().is_err());
        // A start time that differs: the PID was reused, the container is gone.
        st.start_time = Some(1);
        assert_eq!(st.check_process(), Alive::No);
        st.refresh().unwrap();
        assert_eq!(st.status, Status::Exited);
    }
}
