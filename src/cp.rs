//! `nsk cp`: copy files between the host and any running container, from the host side, with no
//! tool inside the container and no process joining it.
//!
//! The container's side is its root as its process sees it (`/proc/PID/root`, opened once
//! through the pinned process's /proc directory): walking beneath it crosses the container's
//! own mounts (volumes, tmpfs), never the host's. A path typed by the user is resolved with
//! openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so `..` and every symlink, absolute or
//! relative, stay inside that root; below it, every entry is reached from its parent's fd by
//! one name with O_NOFOLLOW (and `*at` calls that never follow), so a symlink the container
//! swaps in at any moment is copied as a link or makes the copy fail, and never redirects it.
//! Files are written under a temporary name in their directory and renamed into place once
//! complete: a copy that fails midway leaves no partial file under its final name.
//!
//! Why from the host side rather than setns into the container's mount namespace: nothing of
//! nsk runs where the container's processes could ptrace or signal it, the copy needs no
//! fork, and the kernel does the confinement (RESOLVE_IN_ROOT) that a joined process would get
//! from chroot.

use crate::error::{Context, Error, Result};
use crate::notice::{Notice, Notify};
use crate::target::Target;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

mod stream;

/// One side of a copy as typed: a host path, `TARGET:PATH`, or `-`.
#[derive(Debug, PartialEq, Eq)]
pub enum Spec {
    Host(Vec<u8>),
    Container { target: String, path: Vec<u8> },
    Stream,
}

/// docker's syntax: `-` is a tar stream; a path starting with `/` or `.` is the host's (so
/// `./a:b` names a host file); otherwise `TARGET:PATH` where TARGET is everything before the
/// first `:` (after `RUNTIME://`).
pub fn parse_spec(arg: &OsStr) -> Spec {
    let b = arg.as_bytes();
    if b == b"-" {
        return Spec::Stream;
    }
    if b.starts_with(b"/") || b.starts_with(b".") {
        return Spec::Host(b.to_vec());
    }
    let skip = b
        .windows(3)
        .position(|w| w == b"://")
        .map(|p| p + 3)
        .unwrap_or(0);
    match b[skip..].iter().position(|&c| c == b':') {
        Some(at) => {
            let at = skip + at;
            Spec::Container {
                target: String::from_utf8_lossy(&b[..at]).into_owned(),
                path: b[at + 1..].to_vec(),
            }
        }
        None => Spec::Host(b.to_vec()),
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep uid/gid (mapped through the container's user namespace).
    pub archive: bool,
    /// Follow a symlink source (the top-level one only, as cp -L and docker cp -L do).
    pub follow: bool,
    /// Show progress on stderr for large files.
    pub progress: bool,
}

/// An ID map of a user namespace, as in /proc/PID/uid_map: (inside, outside, count).
#[derive(Debug, Clone, Default)]
pub struct IdMap(Vec<(u32, u32, u32)>);

impl IdMap {
    pub fn identity() -> IdMap {
        IdMap(vec![(0, 0, u32::MAX)])
    }
    pub fn parse(text: &str) -> IdMap {
        IdMap(
            text.lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace().map(|x| x.parse::<u32>().ok());
                    Some((it.next()??, it.next()??, it.next()??))
                })
                .collect(),
        )
    }
    /// The host (kernel) ID of container ID `id`.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.0.iter().find_map(|&(i, o, n)| {
            (id >= i && u64::from(id) < u64::from(i) + u64::from(n)).then(|| o + (id - i))
        })
    }
    /// The container ID of host ID `id`.
    pub fn to_container(&self, id: u32) -> Option<u32> {
        self.0.iter().find_map(|&(i, o, n)| {
            (id >= o && u64::from(id) < u64::from(o) + u64::from(n)).then(|| i + (id - o))
        })
    }
}

/// Where paths are resolved: the host (`/` and the working directory, as the user typed them)
/// or a container's root fd (every lookup confined beneath it).
struct Side {
    root: Option<OwnedFd>,
    uids: IdMap,
    gids: IdMap,
}

impl Side {
    fn host() -> Side {
        Side {
            root: None,
            uids: IdMap::identity(),
            gids: IdMap::identity(),
        }
    }

    /// Its root and ID maps, read through the target's held /proc directory (a read after the
    /// process exited fails, even once its PID is reused).
    fn container(t: &Target) -> Result<Side> {
        let dir = &t.dir;
        let root = dir
            .open_at("root", OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| t.read_error(e))?;
        let uids = dir
            .read("uid_map")
            .map(|s| IdMap::parse(&s))
            .unwrap_or_else(|_| IdMap::identity());
        let gids = dir
            .read("gid_map")
            .map(|s| IdMap::parse(&s))
            .unwrap_or_else(|_| IdMap::identity());
        if !t.still_alive() {
            return Err(crate::target::exited());
        }
        Ok(Side {
            root: Some(root),
            uids,
            gids,
        })
    }

    /// Open a whole path: on the host as typed; in a container confined beneath its root.
    fn open(&self, path: &[u8], flags: OFlag) -> std::result::Result<OwnedFd, Errno> {
        match &self.root {
            Some(r) => {
                let p: &[u8] = if path.is_empty() { b"." } else { path };
                crate::sys::open_in_root_mounts(r, p, (flags | OFlag::O_CLOEXEC).bits())
            }
            None => {
                let p: &[u8] = if path.is_empty() { b"." } else { path };
                nix::fcntl::open(
                    OsStr::from_bytes(p),
                    flags | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
            }
        }
    }
}

/// A path split into the directory that holds it and its last name; `name` is None where the
/// path names a directory by itself (`/`, `.`, `..`, `dir/.`), which means "its contents".
struct Located {
    path: Vec<u8>,
    dir: Vec<u8>,
    name: Option<CString>,
    trailing_slash: bool,
}

fn locate(path: &[u8]) -> Located {
    let trailing_slash = path.len() > 1 && path.ends_with(b"/");
    let mut p = path;
    while p.len() > 1 && p.ends_with(b"/") {
        p = &p[..p.len() - 1];
    }
    let (dir, last): (&[u8], &[u8]) = match p.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &p[1..]),
        Some(i) => (&p[..i], &p[i + 1..]),
        None => (b".", p),
    };
    let name = match last {
        b"" | b"." | b".." => None,
        n => CString::new(n).ok(),
    };
    Located {
        path: p.to_vec(),
        dir: dir.to_vec(),
        name,
        trailing_slash,
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn is(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

/// Open one entry `name` of directory `dir` (a single name: no `/`, never `.` or `..`) without
/// following it.
fn open_entry(dir: &OwnedFd, name: &CStr, flags: OFlag) -> std::result::Result<OwnedFd, Errno> {
    nix::fcntl::openat(
        dir,
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn lstat_at(dir: &OwnedFd, name: &CStr) -> std::result::Result<FileStat, Errno> {
    nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// What is being copied: an entry of a directory, or a directory's contents.
enum Source {
    Entry {
        dir: OwnedFd,
        name: CString,
        st: FileStat,
    },
    /// `-L` on a symlink: the object it points to, opened already.
    Opened {
        fd: OwnedFd,
        st: FileStat,
    },
    Contents {
        dir: OwnedFd,
        st: FileStat,
    },
}

struct Copier<'a, 'n> {
    src: &'a Side,
    dst: &'a Side,
    o: Options,
    notify: &'a mut Notify<'n>,
    links: HashMap<(u64, u64), OwnedFd>,
    seq: u64,
    bytes: u64,
    xattrs: Xattrs,
}

/// The permission bits a copied file gets: its own, without set-user-ID and set-group-ID when
/// its owner could not be set to an ID the destination maps (`owned` false).
pub fn privileges(mode: u32, owned: bool) -> u32 {
    if owned {
        mode & 0o7777
    } else {
        mode & 0o1777
    }
}

/// The extended attributes `-a` copies: user.*, security.capability, and trusted.* but for
/// overlayfs's own trusted.overlay.* (copied, it would change what an overlay shows). Others
/// (security.selinux, ACLs, …) belong to the host that set them.
pub fn xattr_kept(name: &[u8]) -> bool {
    name.starts_with(b"user.")
        || name == b"security.capability"
        || (name.starts_with(b"trusted.") && !name.starts_with(b"trusted.overlay."))
}

/// Extended attributes set, and refused by the destination's filesystem (user.* on a tmpfs
/// before Linux 6.6, trusted.* on some filesystems, …) with the first error.
#[derive(Debug, Default)]
pub struct Xattrs {
    pub kept: u64,
    pub refused: u64,
    pub error: Option<Errno>,
}

impl Xattrs {
    /// The kept names of an open file or directory with their values; none where its
    /// filesystem has no xattrs.
    pub fn read(fd: &impl std::os::fd::AsFd) -> Vec<(Vec<u8>, Vec<u8>)> {
        let Ok(names) = crate::sys::flistxattr(fd) else {
            return vec![];
        };
        names
            .into_iter()
            .filter(|n| xattr_kept(n))
            .filter_map(|n| crate::sys::fgetxattr(fd, &n).ok().map(|v| (n, v)))
            .collect()
    }

    pub fn set(&mut self, fd: &impl std::os::fd::AsFd, name: &[u8], value: &[u8]) {
        match crate::sys::fsetxattr(fd, name, value) {
            Ok(()) => self.kept += 1,
            Err(e) => {
                self.refused += 1;
                self.error.get_or_insert(e);
            }
        }
    }

    /// One notice when some were refused (the copy goes on without them).
    pub fn warn(&self, dst: &str, notify: &mut Notify) {
        if self.refused > 0 {
            notify(Notice::Skipped(format!(
                "{} extended attribute(s) not kept: the filesystem of {} refused them ({})",
                self.refused,
                dst,
                self.error
                    .map_or_else(|| "unknown error".into(), crate::error::errno_text)
            )));
        }
    }
}

/// A temporary name for an entry being written, unique to this nsk and this copy
/// (`.nsk-cp-PID-SEQ-NANOS`): renamed into place once complete, removed when the write fails.
pub(crate) fn temp_name(seq: &mut u64) -> CString {
    *seq += 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    CString::new(format!(
        ".nsk-cp-{}-{}-{nanos:08x}",
        std::process::id(),
        seq
    ))
    .expect("no NUL")
}

/// Remove the temporary entry of a write that failed (best effort: the name is nsk's own, so
/// nothing else is removed).
pub(crate) fn discard(dir: &OwnedFd, tmp: &CStr) {
    let _ = nix::unistd::unlinkat(dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
}

const MAX_DEPTH: usize = 1024;
const MAX_LINKS: usize = 65536;

impl Copier<'_, '_> {
    /// The owner the copy gets on the destination, in host (kernel) IDs, or None to leave it.
    /// With `-a`, an owner the destination's user namespace does not map becomes the
    /// container's root.
    fn owner(&self, st: &FileStat) -> (Option<u32>, Option<u32>) {
        let into_container = self.dst.root.is_some();
        if self.o.archive {
            // The IDs as the source's side sees them, then as the destination's kernel stores them.
            let (u, g) = (
                self.src.uids.to_container(st.st_uid).unwrap_or(65534),
                self.src.gids.to_container(st.st_gid).unwrap_or(65534),
            );
            match (self.dst.uids.to_host(u), self.dst.gids.to_host(g)) {
                (Some(u), Some(g)) => (Some(u), Some(g)),
                _ => (self.dst.uids.to_host(0), self.dst.gids.to_host(0)),
            }
        } else if into_container {
            // docker cp: files copied in belong to the container's root.
            (self.dst.uids.to_host(0), self.dst.gids.to_host(0))
        } else {
            (None, None)
        }
    }

    fn chown_fd(&self, fd: &OwnedFd, st: &FileStat, what: &str) -> Result<()> {
        let (u, g) = self.owner(st);
        if u.is_none() && g.is_none() {
            return Ok(());
        }
        nix::unistd::fchown(
            fd,
            u.map(nix::unistd::Uid::from_raw),
            g.map(nix::unistd::Gid::from_raw),
        )
        .ctx(|| format!("cannot set the owner of {what}"))
    }

    /// Owner, mode (after the owner: chown clears set-id bits), xattrs with `-a` (after the
    /// owner too: chown clears security.capability), then times.
    fn attrs_fd(
        &mut self,
        fd: &OwnedFd,
        st: &FileStat,
        what: &str,
        from: &impl std::os::fd::AsFd,
    ) -> Result<()> {
        self.chown_fd(fd, st, what)?;
        // Into a container, a file nsk could not give an owner the container maps would stay
        // nsk's (host root): never with set-id bits or file capabilities.
        let owned = self.dst.root.is_none() || {
            let (u, g) = self.owner(st);
            u.is_some() && g.is_some()
        };
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(privileges(st.st_mode, owned)))
            .ctx(|| format!("cannot set the mode of {what}"))?;
        if self.o.archive {
            for (k, v) in Xattrs::read(from) {
                if owned || k != b"security.capability" {
                    self.xattrs.set(fd, &k, &v);
                }
            }
        }
        nix::sys::stat::futimens(
            fd,
            &TimeSpec::new(st.st_atime, st.st_atime_nsec),
            &TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
        )
        .ctx(|| format!("cannot set the times of {what}"))
    }

    /// Copy `src` to `name` in directory `dst` (replacing a file or symlink there, merging
    /// into a directory there).
    fn copy(
        &mut self,
        src: Source,
        dst: &OwnedFd,
        name: &CStr,
        what: &str,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::failed(format!(
                "cannot copy {what}: more than {MAX_DEPTH} nested directories"
            )));
        }
        let st = match &src {
            Source::Entry { st, .. } | Source::Opened { st, .. } | Source::Contents { st, .. } => {
                *st
            }
        };
        if is(&st, SFlag::S_IFDIR) {
            let from = match src {
                Source::Entry { dir, name: n, .. } => {
                    open_entry(&dir, &n, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                        .ctx(|| format!("cannot open {what}"))?
                }
                Source::Opened { fd, .. } | Source::Contents { dir: fd, .. } => fd,
            };
            check_same(&from, &st, what)?;
            match nix::sys::stat::mkdirat(dst, name, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e).ctx(|| format!("cannot create {what}")),
            }
            let to = open_entry(dst, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| {
                if e == Errno::ENOTDIR || e == Errno::ELOOP {
                    Error::failed(format!(
                        "cannot copy directory {what}: a non-directory of that name is in the way"
                    ))
                } else {
                    Error::Os {
                        what: format!("cannot open {what}"),
                        errno: e,
                    }
                }
            })?;
            if depth == 0 || !is_pseudo_fs(&from) {
                self.copy_contents(&from, &to, what, depth)?;
            }
            return self.attrs_fd(&to, &st, what, &from);
        }
        if is(&st, SFlag::S_IFREG) {
            let from = match src {
                Source::Entry { dir, name: n, .. } => open_entry(
                    &dir,
                    &n,
                    OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                )
                .ctx(|| format!("cannot open {what}"))?,
                Source::Opened { fd, .. } | Source::Contents { dir: fd, .. } => fd,
            };
            check_same(&from, &st, what)?;
            return self.copy_file(from, &st, dst, name, what);
        }
        if is(&st, SFlag::S_IFLNK) {
            let Source::Entry { dir, name: n, .. } = src else {
                return Err(Error::failed(format!("cannot copy {what}: not a file")));
            };
            let target =
                nix::fcntl::readlinkat(&dir, n.as_c_str()).ctx(|| format!("cannot read {what}"))?;
            let tmp = temp_name(&mut self.seq);
            nix::unistd::symlinkat(target.as_os_str(), dst, tmp.as_c_str())
                .ctx(|| format!("cannot create {what}"))?;
            let r = (|| {
                let (u, g) = self.owner(&st);
                if u.is_some() || g.is_some() {
                    nix::unistd::fchownat(
                        dst,
                        tmp.as_c_str(),
                        u.map(nix::unistd::Uid::from_raw),
                        g.map(nix::unistd::Gid::from_raw),
                        AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .ctx(|| format!("cannot set the owner of {what}"))?;
                }
                nix::sys::stat::utimensat(
                    dst,
                    tmp.as_c_str(),
                    &TimeSpec::new(st.st_atime, st.st_atime_nsec),
                    &TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                )
                .ctx(|| format!("cannot set the times of {what}"))?;
                nix::fcntl::renameat(dst, tmp.as_c_str(), dst, name)
                    .ctx(|| format!("cannot create {what}"))
            })();
            if r.is_err() {
                discard(dst, &tmp);
            }
            return r;
        }
        (self.notify)(Notice::Skipped(format!(
            "skipping {what}: not a file, directory or symlink"
        )));
        Ok(())
    }

    fn copy_contents(
        &mut self,
        from: &OwnedFd,
        to: &OwnedFd,
        what: &str,
        depth: usize,
    ) -> Result<()> {
        let dup = nix::unistd::dup(from).ctx(|| format!("cannot read {what}"))?;
        let mut d = nix::dir::Dir::from_fd(dup).ctx(|| format!("cannot read {what}"))?;
        let mut names: Vec<CString> = vec![];
        for e in d.iter() {
            let e = e.ctx(|| format!("cannot read {what}"))?;
            let n = e.file_name();
            if n.to_bytes() == b"." || n.to_bytes() == b".." {
                continue;
            }
            names.push(n.to_owned());
        }
        drop(d);
        names.sort();
        for n in names {
            let child = format!("{}/{}", what.trim_end_matches('/'), show(n.to_bytes()));
            let st = match lstat_at(from, &n) {
                Ok(st) => st,
                // Removed meanwhile: as if it had never been there.
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e).ctx(|| format!("cannot read {child}")),
            };
            let dir = nix::unistd::dup(from).ctx(|| format!("cannot read {what}"))?;
            self.copy(
                Source::Entry {
                    dir,
                    name: n.clone(),
                    st,
                },
                to,
                &n,
                &child,
                depth + 1,
            )?;
        }
        Ok(())
    }

    fn copy_file(
        &mut self,
        from: OwnedFd,
        st: &FileStat,
        dst: &OwnedFd,
        name: &CStr,
        what: &str,
    ) -> Result<()> {
        let key = (st.st_dev, st.st_ino);
        let tmp = temp_name(&mut self.seq);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key) {
                if nix::unistd::linkat(first, c"", dst, tmp.as_c_str(), AtFlags::AT_EMPTY_PATH)
                    .is_ok()
                {
                    return nix::fcntl::renameat(dst, tmp.as_c_str(), dst, name).map_err(|e| {
                        discard(dst, &tmp);
                        Error::Os {
                            what: format!("cannot create {what}"),
                            errno: e,
                        }
                    });
                }
            }
        }
        let fd = nix::fcntl::openat(
            dst,
            tmp.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .ctx(|| format!("cannot create {what}"))?;
        let r = (|| {
            let mut out = std::fs::File::from(fd.try_clone().ctx(|| "cannot dup")?);
            let mut input = std::fs::File::from(from);
            self.pump(&mut input, &mut out, st.st_size as u64, what)?;
            self.attrs_fd(&fd, st, what, &input)?;
            nix::fcntl::renameat(dst, tmp.as_c_str(), dst, name)
                .ctx(|| format!("cannot create {what}"))
        })();
        if r.is_err() {
            discard(dst, &tmp);
            return r;
        }
        if st.st_nlink > 1 && self.links.len() < MAX_LINKS {
            self.links.insert(key, fd);
        }
        Ok(())
    }

    /// Copy the bytes (copy_file_range/sendfile where the kernel can, through std), in chunks
    /// so that a terminal sees progress for large files.
    fn pump(
        &mut self,
        input: &mut std::fs::File,
        out: &mut std::fs::File,
        size: u64,
        what: &str,
    ) -> Result<()> {
        use std::io::Read;
        const CHUNK: u64 = 64 << 20;
        let show_progress = self.o.progress && size >= 4 * CHUNK;
        let mut done = 0u64;
        loop {
            let n = std::io::copy(&mut (&*input).take(CHUNK), out)
                .ctx(|| format!("cannot copy {what}"))?;
            done += n;
            self.bytes += n;
            if show_progress {
                (self.notify)(Notice::Copied {
                    what,
                    done,
                    total: size,
                });
            }
            if n < CHUNK {
                break;
            }
        }
        if show_progress {
            (self.notify)(Notice::ProgressDone);
        }
        Ok(())
    }
}

/// A directory of a kernel pseudo-filesystem (proc, sysfs, cgroup, debugfs, …): its entries are
/// the kernel's view of the moment (of processes nsk cannot see from outside the container's
/// PID namespace, among others), not files. Below the top of a copy such a directory is copied
/// empty, as `docker cp` (which never sees these mounts) shows it.
fn is_pseudo_fs(fd: &OwnedFd) -> bool {
    use nix::sys::statfs::*;
    fstatfs(fd).is_ok_and(|s| {
        [
            PROC_SUPER_MAGIC,
            SYSFS_MAGIC,
            CGROUP_SUPER_MAGIC,
            CGROUP2_SUPER_MAGIC,
            DEBUGFS_MAGIC,
            TRACEFS_MAGIC,
            SECURITYFS_MAGIC,
            BPF_FS_MAGIC,
        ]
        .contains(&s.filesystem_type())
    })
}

/// Is `fd` still the object `st` described (a path component swapped meanwhile fails the copy)?
fn check_same(fd: &OwnedFd, st: &FileStat, what: &str) -> Result<()> {
    let now = nix::sys::stat::fstat(fd).ctx(|| format!("cannot read {what}"))?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        return Err(Error::failed(format!(
            "cannot copy {what}: it changed during the copy"
        )));
    }
    Ok(())
}

/// Open the source: the entry the path names (not followed unless `follow`), or the contents
/// of the directory it names by itself.
fn open_source(side: &Side, path: &[u8], follow: bool) -> Result<(Source, Option<CString>)> {
    let l = locate(path);
    let p = show(path);
    let Some(name) = l.name else {
        let dir = side
            .open(&l.path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(|| format!("cannot read {p}"))?;
        let st = nix::sys::stat::fstat(&dir).ctx(|| format!("cannot read {p}"))?;
        return Ok((Source::Contents { dir, st }, None));
    };
    let dir = side
        .open(&l.dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .ctx(|| format!("cannot read {p}"))?;
    let st = lstat_at(&dir, &name).ctx(|| format!("cannot read {p}"))?;
    if l.trailing_slash && !is(&st, SFlag::S_IFDIR) && !(follow && is(&st, SFlag::S_IFLNK)) {
        return Err(Error::failed(format!("cannot read {p}: not a directory")));
    }
    if is(&st, SFlag::S_IFLNK) && (follow || l.trailing_slash) {
        // Followed beneath the root, as the container would.
        let fd = side
            .open(&l.path, OFlag::O_PATH)
            .ctx(|| format!("cannot read {p}"))?;
        let st = nix::sys::stat::fstat(&fd).ctx(|| format!("cannot read {p}"))?;
        let flags = if is(&st, SFlag::S_IFDIR) {
            OFlag::O_RDONLY | OFlag::O_DIRECTORY
        } else if is(&st, SFlag::S_IFREG) {
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY
        } else {
            return Err(Error::failed(format!(
                "cannot copy {p}: not a file or directory"
            )));
        };
        let fd = side
            .open(&l.path, flags)
            .ctx(|| format!("cannot read {p}"))?;
        check_same(&fd, &st, &p)?;
        return Ok((Source::Opened { fd, st }, Some(name)));
    }
    Ok((
        Source::Entry {
            dir,
            name: name.clone(),
            st,
        },
        Some(name),
    ))
}

/// Copy `src` on side `s` to `dst` on side `d`, with docker cp's rules for the destination: an
/// existing directory receives the source under its own name (or its contents for `dir/.`),
/// anything else is created or replaced under the name given.
fn copy_between(
    s: &Side,
    src: &[u8],
    d: &Side,
    dst: &[u8],
    o: Options,
    notify: &mut Notify,
) -> Result<u64> {
    let (source, base) = open_source(s, src, o.follow)?;
    let src_is_dir = match &source {
        Source::Entry { st, .. } | Source::Opened { st, .. } | Source::Contents { st, .. } => {
            is(st, SFlag::S_IFDIR)
        }
    };
    let dp = show(dst);
    let mut c = Copier {
        src: s,
        dst: d,
        o,
        notify,
        links: HashMap::new(),
        seq: 0,
        bytes: 0,
        xattrs: Xattrs::default(),
    };
    // An existing directory (followed beneath the root)?
    match d.open(dst, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(dir) => {
            match (base, source) {
                (None, Source::Contents { dir: from, st }) => {
                    check_same(&from, &st, &show(src))?;
                    c.copy_contents(&from, &dir, &dp, 0)?;
                }
                (Some(name), source) => {
                    let what = format!("{}/{}", dp.trim_end_matches('/'), show(name.to_bytes()));
                    c.copy(source, &dir, &name, &what, 0)?;
                }
                (None, _) => unreachable!("contents have no name"),
            }
            c.xattrs.warn(&dp, c.notify);
            return Ok(c.bytes);
        }
        Err(Errno::ENOENT | Errno::ENOTDIR) => {}
        Err(e) => return Err(e).ctx(|| format!("cannot write {dp}")),
    }
    let l = locate(dst);
    let Some(name) = l.name else {
        return Err(Error::failed(format!(
            "cannot write {dp}: no such directory"
        )));
    };
    let parent = d
        .open(&l.dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .ctx(|| format!("cannot write {dp}"))?;
    let exists = lstat_at(&parent, &name);
    if l.trailing_slash && !src_is_dir {
        return Err(Error::failed(format!(
            "cannot write {dp}: no such directory"
        )));
    }
    if src_is_dir && exists.is_ok() {
        return Err(Error::failed(format!(
            "cannot copy a directory to {dp}: it is not a directory"
        )));
    }
    c.copy(source, &parent, &name, &dp, 0)?;
    c.xattrs.warn(&dp, c.notify);
    Ok(c.bytes)
}

/// `nsk cp`: one side in a container (pinned target), the other on the host.
pub fn cp(
    src: Spec,
    dst: Spec,
    resolve: impl Fn(&str) -> Result<Target>,
    o: Options,
    notify: &mut Notify,
) -> Result<u64> {
    match (src, dst) {
        (Spec::Container { target, path }, Spec::Host(h)) => {
            let t = resolve(&target)?;
            let s = Side::container(&t)?;
            copy_between(&s, &absolute(&path), &Side::host(), &h, o, notify)
        }
        (Spec::Host(h), Spec::Container { target, path }) => {
            let t = resolve(&target)?;
            let d = Side::container(&t)?;
            copy_between(&Side::host(), &h, &d, &absolute(&path), o, notify)
        }
        (Spec::Container { .. }, Spec::Container { .. }) => Err(Error::invalid(
            "copying between two containers is not supported: copy through the host",
        )),
        (Spec::Container { target, path }, Spec::Stream) => {
            let out = std::io::stdout();
            stream::refuse_terminal(&out, "write a tar stream to")?;
            let t = resolve(&target)?;
            let s = Side::container(&t)?;
            let fd = out
                .as_fd()
                .try_clone_to_owned()
                .ctx(|| "cannot write the tar stream")?;
            let w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(fd));
            stream::write_tar(&s, &absolute(&path), o, w, notify)
        }
        (Spec::Stream, Spec::Container { target, path }) => {
            let input = std::io::stdin();
            stream::refuse_terminal(&input, "read a tar stream from")?;
            let t = resolve(&target)?;
            let d = Side::container(&t)?;
            let fd = input
                .as_fd()
                .try_clone_to_owned()
                .ctx(|| "cannot read the tar stream")?;
            let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::from(fd));
            stream::read_tar(&d, &absolute(&path), o, &mut r, notify)
        }
        (Spec::Stream, _) | (_, Spec::Stream) => Err(Error::invalid(
            "'-' (a tar stream on stdin or stdout) goes with TARGET:PATH on the other side",
        )),
        (Spec::Host(_), Spec::Host(_)) => Err(Error::invalid(
            "one of SRC and DST must be TARGET:PATH (use cp for host paths)",
        )),
    }
}

/// A container path is relative to its root (docker: to its working directory; nsk has no
/// daemon to ask, and the root is what every runtime agrees on).
fn absolute(p: &[u8]) -> Vec<u8> {
    if p.starts_with(b"/") {
        p.to_vec()
    } else {
        let mut v = b"/".to_vec();
        v.extend_from_slice(p);
        v
    }
}

/// Is stderr a terminal (progress is shown only there)?
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let p = |s: &str| parse_spec(OsStr::new(s));
        assert_eq!(p("-"), Spec::Stream);
        assert_eq!(p("/a:b"), Spec::Host(b"/a:b".to_vec()));
        assert_eq!(p("./a:b"), Spec::Host(b"./a:b".to_vec()));
        assert_eq!(p("plain"), Spec::Host(b"plain".to_vec()));
        assert_eq!(
            p("box:/etc/x"),
            Spec::Container {
                target: "box".into(),
                path: b"/etc/x".to_vec()
            }
        );
        assert_eq!(
            p("docker://web:/a:b"),
            Spec::Container {
                target: "docker://web".into(),
                path: b"/a:b".to_vec()
            }
        );
        assert_eq!(
            p("ns/pod/c:/x"),
            Spec::Container {
                target: "ns/pod/c".into(),
                path: b"/x".to_vec()
            }
        );
    }

    #[test]
    fn locates() {
        let l = locate(b"/");
        assert!(l.name.is_none());
        let l = locate(b"/a/b/");
        assert_eq!(l.dir, b"/a");
        assert_eq!(l.name.unwrap().as_bytes(), b"b");
        assert!(l.trailing_slash);
        let l = locate(b"/a/.");
        assert!(l.name.is_none());
        let l = locate(b"x");
        assert_eq!(l.dir, b".");
    }

    #[test]
    fn id_maps() {
        let m = IdMap::parse("         0     100000      65536\n");
        assert_eq!(m.to_host(0), Some(100000));
        assert_eq!(m.to_host(70000), None);
        assert_eq!(m.to_container(100033), Some(33));
        assert_eq!(m.to_container(5), None);
        assert_eq!(IdMap::identity().to_host(12), Some(12));
    }

    #[test]
    fn set_id_bits_only_with_an_owner_the_destination_maps() {
        assert_eq!(privileges(0o104755, true), 0o4755);
        assert_eq!(privileges(0o102755, true), 0o2755);
        assert_eq!(privileges(0o104755, false), 0o755);
        assert_eq!(privileges(0o106775, false), 0o775);
        assert_eq!(privileges(0o041777, false), 0o1777, "the sticky bit stays");
    }
}
