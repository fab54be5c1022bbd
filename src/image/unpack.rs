//! Apply image layers to a directory, safely against hostile archives.
//!
//! Every entry's parent directory is opened with openat2(RESOLVE_IN_ROOT), relative to the
//! target: `..`, absolute names and symlinks (absolute or climbing) are all resolved inside the
//! target, as a chroot would, so `lib -> /usr/lib` then `lib/x.so` lands in `usr/lib/x.so` and a
//! link aimed at the host lands inside the target too. The last component is only ever created
//! with *at calls that do not follow it (O_EXCL|O_NOFOLLOW, mkdirat, symlinkat, linkat without
//! AT_SYMLINK_FOLLOW). Names holding `..` are refused outright: no honest image has them.
//!
//! Whiteouts follow the OCI layer rules: `.wh.NAME` deletes NAME from the lower layers, and
//! `.wh..wh..opq` empties its directory of what lower layers put there.

use super::tar::{Entry, Input, Kind, Reader};
use crate::error::{Error, Result};
use crate::sys;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};

/// Limits for one image: the sum of file sizes and the number of entries.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_bytes: 64 << 30,
            max_entries: 4 << 20,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
    /// Device nodes not created because nsk is not real root.
    pub skipped_devices: u64,
    /// Extended attributes nsk never applies (trusted.*).
    pub skipped_xattrs: u64,
    /// Extended attributes the cache's filesystem refused (no user.* xattrs on tmpfs before
    /// Linux 6.6, for one), with the first error.
    pub refused_xattrs: u64,
    pub xattr_error: Option<nix::errno::Errno>,
}

pub struct Unpacker {
    root: OwnedFd,
    /// Real root (uid 0 in the initial user namespace): ownership is kept, devices are made.
    real_root: bool,
    /// May chown (euid 0, in whatever user namespace).
    chown: bool,
    bounds: Bounds,
    pub stats: Stats,
}

/// Directory metadata is applied once a layer is complete: a directory stays writable (0700)
/// while its entries are created, and its mtime is not disturbed afterwards.
struct DirMeta {
    path: Vec<u8>,
    entry: Entry,
}

/// uid 0 in the initial user namespace.
pub fn is_real_root() -> bool {
    nix::unistd::geteuid().is_root()
        && std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| {
                let f: Vec<&str> = m.split_whitespace().collect();
                f == ["0", "0", "4294967295"]
            })
            .unwrap_or(false)
}

/// Split an entry name into components: leading `/` and `./` are dropped, empty and `.`
/// components skipped. A `..` component makes the whole entry refused.
pub fn components(name: &[u8]) -> Result<Vec<&[u8]>> {
    super::tar::name_components(name).ok_or_else(|| {
        Error::failed(format!(
            "refusing the image: entry '{}' climbs out of the root with '..'",
            String::from_utf8_lossy(name)
        ))
    })
}

fn join(c: &[&[u8]]) -> Vec<u8> {
    c.join(&b'/')
}

fn os_err(what: impl FnOnce() -> String) -> impl FnOnce(Errno) -> Error {
    move |errno| Error::Os {
        what: what(),
        errno,
    }
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

impl Unpacker {
    pub fn new(root: &std::path::Path, bounds: Bounds) -> Result<Unpacker> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(os_err(|| format!("cannot open {}", root.display())))?;
        Ok(Unpacker {
            root: fd,
            real_root: is_real_root(),
            chown: nix::unistd::geteuid().is_root(),
            bounds,
            stats: Stats::default(),
        })
    }

    /// Open a directory inside the target (`path` empty: the target itself), following
    /// symlinks the way a chroot would.
    fn open_dir(&self, path: &[u8]) -> std::result::Result<OwnedFd, Errno> {
        let p: &[u8] = if path.is_empty() { b"." } else { path };
        sys::open_in_root(&self.root, p, libc::O_RDONLY | libc::O_DIRECTORY, 0)
    }

    /// Open the parent directory of an entry, creating missing directories (0755) on the way.
    fn parent(&self, comps: &[&[u8]]) -> Result<OwnedFd> {
        let path = join(comps);
        match self.open_dir(&path) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(os_err(|| format!("cannot open directory {}", show(&path)))(
                    e,
                ))
            }
        }
        let mut fd = self
            .open_dir(b"")
            .map_err(os_err(|| "cannot open the target".into()))?;
        for (i, c) in comps.iter().enumerate() {
            let sub = join(&comps[..=i]);
            fd = match self.open_dir(&sub) {
                Ok(f) => f,
                Err(Errno::ENOENT) => {
                    match nix::sys::stat::mkdirat(&fd, *c, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => {
                            return Err(os_err(|| {
                                format!("cannot create directory {}", show(&sub))
                            })(e))
                        }
                    }
                    self.open_dir(&sub)
                        .map_err(os_err(|| format!("cannot open directory {}", show(&sub))))?
                }
                Err(e) => {
                    return Err(os_err(|| format!("cannot open directory {}", show(&sub)))(
                        e,
                    ))
                }
            };
        }
        Ok(fd)
    }

    /// Apply one layer. `seen` collects the paths this layer wrote (for opaque directories).
    /// `tick` runs after every entry (for a progress bar).
    pub fn apply<R: Input>(&mut self, tar: &mut Reader<R>, tick: &mut dyn FnMut()) -> Result<()> {
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut dirs: Vec<DirMeta> = vec![];
        while let Some(e) = tar.next_entry()? {
            self.stats.entries += 1;
            if self.stats.entries > self.bounds.max_entries {
                return Err(Error::failed(format!(
                    "refusing the image: more than {} entries",
                    self.bounds.max_entries
                )));
            }
            self.entry(tar, e, &mut seen, &mut dirs)?;
            tick();
        }
        for d in dirs.iter().rev() {
            // A directory since replaced by a symlink is left alone.
            let p: &[u8] = if d.path.is_empty() { b"." } else { &d.path };
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
            if let Ok(fd) = sys::open_in_root(&self.root, p, flags, 0) {
                self.set_meta(&fd, &d.entry)?;
            }
        }
        Ok(())
    }

    fn entry<R: Input>(
        &mut self,
        tar: &mut Reader<R>,
        e: Entry,
        seen: &mut HashSet<Vec<u8>>,
        dirs: &mut Vec<DirMeta>,
    ) -> Result<()> {
        let path = e.path.clone();
        let comps = components(&path)?;
        let Some((name, parent)) = comps.split_last() else {
            // The root directory itself.
            if e.kind == Kind::Dir {
                dirs.push(DirMeta {
                    path: vec![],
                    entry: e,
                });
            }
            return Ok(());
        };
        let name: &[u8] = name;
        if let Some(target) = name.strip_prefix(b".wh.") {
            let pfd = self.parent(parent)?;
            if target == b".wh..opq" {
                self.make_opaque(&pfd, parent, seen)?;
            } else if !target.starts_with(b".wh.") && !target.is_empty() {
                remove_at(&pfd, target)
                    .map_err(os_err(|| format!("cannot apply whiteout {}", show(&path))))?;
            }
            return Ok(());
        }
        let full = join(&comps);
        for i in 1..=comps.len() {
            seen.insert(join(&comps[..i]));
        }
        let pfd = self.parent(parent)?;
        let existing = nix::sys::stat::fstatat(&pfd, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing.is_some_and(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
        });
        let what = || format!("cannot create {}", show(&full));
        if e.kind == Kind::Dir {
            if !existing_dir {
                if existing.is_some() {
                    remove_at(&pfd, name).map_err(os_err(what))?;
                }
                nix::sys::stat::mkdirat(&pfd, name, Mode::from_bits_truncate(0o700))
                    .map_err(os_err(what))?;
            }
            dirs.push(DirMeta {
                path: full,
                entry: e,
            });
            return Ok(());
        }
        if existing.is_some() {
            remove_at(&pfd, name).map_err(os_err(what))?;
        }
        match e.kind {
            Kind::File => {
                self.stats.bytes += e.size;
                if self.stats.bytes > self.bounds.max_bytes {
                    return Err(Error::failed(format!(
                        "refusing the image: it unpacks to more than {} bytes",
                        self.bounds.max_bytes
                    )));
                }
                let fd = nix::fcntl::openat(
                    &pfd,
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(os_err(what))?;
                let mut f = std::fs::File::from(fd);
                std::io::copy(tar, &mut f).map_err(|err| {
                    if err.kind() == std::io::ErrorKind::UnexpectedEof {
                        Error::failed("truncated archive: it ends in the middle of an entry")
                    } else {
                        Error::Io {
                            what: format!("cannot write {}", show(&full)),
                            source: err,
                        }
                    }
                })?;
                self.set_meta(&f, &e)?;
            }
            Kind::Symlink => {
                nix::unistd::symlinkat(e.link.as_slice(), &pfd, name).map_err(os_err(what))?;
                self.set_link_meta(&pfd, name, &e);
            }
            Kind::Hardlink => {
                let tcomps = components(&e.link)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(Error::failed(format!(
                        "refusing the image: hard link {} has no target",
                        show(&full)
                    )));
                };
                let tfd = self.open_dir(&join(tparent)).map_err(os_err(|| {
                    format!("cannot link {} to {}", show(&full), show(&e.link))
                }))?;
                nix::unistd::linkat(&tfd, *tname, &pfd, name, AtFlags::empty()).map_err(os_err(
                    || format!("cannot link {} to {}", show(&full), show(&e.link)),
                ))?;
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (kind, dev) = match e.kind {
                    Kind::Char => (
                        SFlag::S_IFCHR,
                        nix::sys::stat::makedev(e.dev_major.into(), e.dev_minor.into()),
                    ),
                    Kind::Block => (
                        SFlag::S_IFBLK,
                        nix::sys::stat::makedev(e.dev_major.into(), e.dev_minor.into()),
                    ),
                    _ => (SFlag::S_IFIFO, 0),
                };
                if kind != SFlag::S_IFIFO && !self.real_root {
                    self.stats.skipped_devices += 1;
                    return Ok(());
                }
                nix::sys::stat::mknodat(&pfd, name, kind, Mode::from_bits_truncate(0o600), dev)
                    .map_err(os_err(what))?;
                // Just made, by nsk, in a directory nothing else writes to: not a symlink.
                self.set_owner_at(&pfd, name, &e);
                nix::sys::stat::fchmodat(
                    &pfd,
                    name,
                    Mode::from_bits_truncate(e.mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(os_err(what))?;
            }
            Kind::Dir => unreachable!("handled above"),
            Kind::Other(_) => {} // data skipped by the reader
        }
        Ok(())
    }

    fn make_opaque(&self, pfd: &OwnedFd, parent: &[&[u8]], seen: &HashSet<Vec<u8>>) -> Result<()> {
        let dir = nix::dir::Dir::openat(
            pfd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .map_err(os_err(|| format!("cannot read {}", show(&join(parent)))))?;
        let mut names = vec![];
        for ent in dir.into_iter().flatten() {
            let n = ent.file_name().to_bytes().to_vec();
            if n == b"." || n == b".." {
                continue;
            }
            let mut full = parent.to_vec();
            full.push(&n);
            if !seen.contains(&join(&full)) {
                names.push(n);
            }
        }
        for n in names {
            remove_at(pfd, &n)
                .map_err(os_err(|| format!("cannot empty {}", show(&join(parent)))))?;
        }
        Ok(())
    }

    fn set_owner_at(&self, pfd: &OwnedFd, name: &[u8], e: &Entry) {
        if let Some((u, g)) = self.ids(e) {
            let _ =
                nix::unistd::fchownat(pfd, name, Some(u), Some(g), AtFlags::AT_SYMLINK_NOFOLLOW);
        }
    }

    fn ids(&self, e: &Entry) -> Option<(nix::unistd::Uid, nix::unistd::Gid)> {
        if !self.chown {
            return None;
        }
        let u = u32::try_from(e.uid).ok()?;
        let g = u32::try_from(e.gid).ok()?;
        Some((nix::unistd::Uid::from_raw(u), nix::unistd::Gid::from_raw(g)))
    }

    fn set_link_meta(&self, pfd: &OwnedFd, name: &[u8], e: &Entry) {
        self.set_owner_at(pfd, name, e);
        let t = nix::sys::time::TimeSpec::new(e.mtime, 0);
        let _ = nix::sys::stat::utimensat(
            pfd,
            name,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
    }

    /// Owner, then mode (chown clears set-id bits), xattrs, and times, on an open file or dir.
    fn set_meta<F: AsFd>(&mut self, fd: &F, e: &Entry) -> Result<()> {
        if let Some((u, g)) = self.ids(e) {
            nix::unistd::fchown(fd, Some(u), Some(g)).map_err(os_err(|| {
                format!("cannot set the owner of {}", show(&e.path))
            }))?;
        }
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(e.mode)).map_err(os_err(|| {
            format!("cannot set the mode of {}", show(&e.path))
        }))?;
        for (k, v) in &e.xattrs {
            // trusted.* (overlayfs's own metadata among them) never comes from an image.
            if k.starts_with(b"trusted.") {
                self.stats.skipped_xattrs += 1;
            } else if let Err(e) = sys::fsetxattr(fd, k, v) {
                self.stats.refused_xattrs += 1;
                self.stats.xattr_error.get_or_insert(e);
            }
        }
        let t = nix::sys::time::TimeSpec::new(e.mtime, 0);
        let _ = nix::sys::stat::futimens(fd, &t, &t);
        Ok(())
    }
}

/// Remove `name` in `dir`, a whole tree if it is a directory, never following a symlink.
pub fn remove_at<F: AsFd>(dir: &F, name: &[u8]) -> std::result::Result<(), Errno> {
    match nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) | Err(Errno::EPERM) => {}
        Err(e) => return Err(e),
    }
    let sub = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<Vec<u8>> = nix::dir::Dir::from_fd(sub.try_clone().map_err(|_| Errno::EMFILE)?)?
        .into_iter()
        .flatten()
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n != b"." && n != b"..")
        .collect();
    for n in names {
        remove_at(&sub, &n)?;
    }
    match nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tar::build::entry;
    use super::*;
    use std::fs;

    fn apply(root: &std::path::Path, layers: &[Vec<u8>]) -> Result<Stats> {
        let mut u = Unpacker::new(root, Bounds::default())?;
        for l in layers {
            u.apply(&mut Reader::new(l.as_slice()), &mut || {})?;
        }
        Ok(u.stats)
    }

    fn tar(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
        let mut t = vec![];
        for (p, k, d, l) in entries {
            entry(&mut t, p, *k, d, l);
        }
        t.extend([0u8; 1024]);
        t
    }

    #[test]
    fn layers_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir(&root).unwrap();
        let l1 = tar(&[
            ("etc/", b'5', b"", ""),
            ("etc/gone", b'0', b"x", ""),
            ("etc/kept", b'0', b"k", ""),
            ("opq/", b'5', b"", ""),
            ("opq/old", b'0', b"o", ""),
            ("usr/lib/", b'5', b"", ""),
            ("lib", b'2', b"", "/usr/lib"),
            ("hard", b'1', b"", "etc/kept"),
        ]);
        let l2 = tar(&[
            ("etc/.wh.gone", b'0', b"", ""),
            ("opq/new", b'0', b"n", ""),
            ("opq/.wh..wh..opq", b'0', b"", ""),
            ("lib/libx.so", b'0', b"elf", ""),
        ]);
        apply(&root, &[l1, l2]).unwrap();
        assert!(!root.join("etc/gone").exists());
        assert_eq!(fs::read(root.join("etc/kept")).unwrap(), b"k");
        assert_eq!(fs::read(root.join("hard")).unwrap(), b"k");
        assert!(!root.join("opq/old").exists());
        assert_eq!(fs::read(root.join("opq/new")).unwrap(), b"n");
        // Written through the absolute symlink, inside the root.
        assert_eq!(fs::read(root.join("usr/lib/libx.so")).unwrap(), b"elf");
    }

    /// Damaged archives (every 7th header byte flipped, or cut every 97 bytes) give errors or
    /// partial trees inside the target, never a panic or a write outside.
    #[test]
    fn damaged_archives_never_panic() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let good = tar(&[
            ("d/", b'5', b"", ""),
            ("d/f", b'0', b"data", ""),
            ("l", b'2', b"", "/d"),
            ("l/g", b'0', b"x", ""),
            ("h", b'1', b"", "d/f"),
            ("d/.wh.f", b'0', b"", ""),
        ]);
        let mut cases: Vec<Vec<u8>> = vec![];
        for i in (0..good.len()).filter(|i| i % 512 < 345 && i % 7 == 0) {
            for x in [0x01u8, 0xff] {
                let mut b = good.clone();
                b[i] ^= x;
                cases.push(b);
            }
        }
        for cut in (0..good.len()).step_by(97) {
            cases.push(good[..cut].to_vec());
        }
        for (n, case) in cases.iter().enumerate() {
            let root = t.path().join(format!("r{n}"));
            fs::create_dir(&root).unwrap();
            let _ = apply(&root, std::slice::from_ref(case));
        }
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn sizes_and_counts_are_bounded() {
        let t = tempfile::tempdir().unwrap();
        let layer = tar(&[("a", b'0', &[1u8; 600], ""), ("b", b'0', b"x", "")]);
        for (max_bytes, max_entries, want) in [
            (500, 10, "more than 500 bytes"),
            (1000, 1, "more than 1 entries"),
        ] {
            let bounds = Bounds {
                max_bytes,
                max_entries,
            };
            let mut u = Unpacker::new(t.path(), bounds).unwrap();
            let e = u
                .apply(&mut Reader::new(layer.as_slice()), &mut || {})
                .unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn hostile_entries_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        let outside = t.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        let up = tar(&[("../outside/evil", b'0', b"x", "")]);
        let e = apply(&root, &[up]).unwrap_err().to_string();
        assert!(e.contains("climbs out"), "{e}");
        let abs = format!("{}/abs", outside.display());
        let esc = tar(&[
            ("escape", b'2', b"", outside.to_str().unwrap()),
            ("escape/evil", b'0', b"x", ""),
            ("rel", b'2', b"", "../../../../../../.."),
            ("rel/evil2", b'0', b"x", ""),
            (abs.as_str(), b'0', b"x", ""),
            ("hl", b'1', b"", "/etc/passwd"),
        ]);
        let r = apply(&root, &[esc]);
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0, "{r:?}");
        // The absolute name lands inside the root.
        assert!(root.join(abs.trim_start_matches('/')).exists() || r.is_err());
    }
}
