//! Files and directories nsk keeps for itself (the state root, container directories, state and
//! journal files, the image cache). nsk runs as root and believes what it reads there, so it
//! trusts only what it made:
//!
//! - every directory and file is created with an explicit mode, set again with fchmod after
//!   creation, so the caller's umask never widens (or narrows) it;
//! - every one is opened one component at a time below an already checked directory, with
//!   `O_NOFOLLOW`, so no symlink (planted or not) leads elsewhere;
//! - every open checks the type, that the owner is the user nsk runs as, and that neither group
//!   nor others can write it; a failed check is one line that says which rule and how to fix it.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fstat, mkdirat, FileStat, Mode, SFlag};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Mode of nsk's private directories (state root, container directories, caches).
pub const DIR_MODE: u32 = 0o700;
/// Mode of nsk's private files (state, marker, journal, log).
pub const FILE_MODE: u32 = 0o600;
/// The largest state, marker or journal file nsk reads.
pub const MAX_JSON: u64 = 1 << 20;

/// What a checked object must be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Check what `fd` (shown as `shown`) is: its type, its owner, its write bits.
pub fn check(fd: impl AsFd, shown: &Path, kind: Kind) -> Result<FileStat> {
    let st = fstat(fd.as_fd()).ctx(|| format!("cannot stat {}", shown.display()))?;
    check_stat(&st, shown, kind)?;
    Ok(st)
}

pub fn check_stat(st: &FileStat, shown: &Path, kind: Kind) -> Result<()> {
    let t = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let (want, what) = match kind {
        Kind::Dir => (SFlag::S_IFDIR, "a directory"),
        Kind::File => (SFlag::S_IFREG, "a regular file"),
    };
    if t != want {
        return Err(Error::failed(format!(
            "refusing {}: not {what}",
            shown.display()
        )));
    }
    let me = nix::unistd::geteuid().as_raw();
    if st.st_uid != me {
        return Err(Error::failed(format!(
            "refusing {}: owned by uid {}, not by uid {me} that runs nsk (nsk trusts only state it made; use another --root)",
            shown.display(),
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(Error::failed(format!(
            "refusing {}: writable by group or others (mode {:04o}); nsk trusts only state no other user can change (chmod go-w {})",
            shown.display(),
            st.st_mode & 0o7777,
            shown.display()
        )));
    }
    Ok(())
}

fn flags(kind: Kind) -> OFlag {
    let base = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind {
        Kind::Dir => base | OFlag::O_DIRECTORY,
        // A FIFO planted in place of a file must not block the open.
        Kind::File => base | OFlag::O_NONBLOCK,
    }
}

fn open_error(e: Errno, shown: &Path) -> Error {
    match e {
        Errno::ELOOP => Error::failed(format!("refusing {}: a symlink", shown.display())),
        // O_DIRECTORY is checked before O_NOFOLLOW: a symlink to a directory says ENOTDIR.
        Errno::ENOTDIR if std::fs::symlink_metadata(shown).is_ok_and(|m| m.is_symlink()) => {
            Error::failed(format!("refusing {}: a symlink", shown.display()))
        }
        Errno::ENOTDIR => Error::failed(format!("refusing {}: not a directory", shown.display())),
        e => Error::Os {
            what: format!("cannot open {}", shown.display()),
            errno: e,
        },
    }
}

/// Open a path given by the user (the state root) without following a final symlink, and check it.
pub fn open_path(p: &Path, kind: Kind) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(p, flags(kind), Mode::empty()).map_err(|e| open_error(e, p))?;
    check(&fd, p, kind)?;
    Ok(fd)
}

/// Open `name` (one component) inside the checked directory `dir`, and check it.
pub fn open_at(dir: impl AsFd, name: &str, shown: &Path, kind: Kind) -> Result<OwnedFd> {
    debug_assert!(!name.contains('/'));
    let fd =
        openat(dir.as_fd(), name, flags(kind), Mode::empty()).map_err(|e| open_error(e, shown))?;
    check(&fd, shown, kind)?;
    Ok(fd)
}

/// Create directory `name` in `dir` with exactly `mode`. Ok(false) when it already exists.
pub fn mkdir_at(dir: impl AsFd, name: &str, shown: &Path, mode: u32) -> Result<bool> {
    match mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(mode)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(false),
        Err(e) => {
            return Err(Error::Os {
                what: format!("cannot create {}", shown.display()),
                errno: e,
            })
        }
    }
    let fd = openat(dir.as_fd(), name, flags(Kind::Dir), Mode::empty())
        .map_err(|e| open_error(e, shown))?;
    fchmod(&fd, Mode::from_bits_truncate(mode))
        .ctx(|| format!("cannot chmod {}", shown.display()))?;
    Ok(true)
}

/// Create directory `p` with exactly `mode` (its parent must exist). Ok(false) when it exists.
pub fn mkdir_path(p: &Path, mode: u32) -> Result<bool> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(mode).create(p) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(false),
        Err(e) => return Err(e).ctx(|| format!("cannot create {}", p.display())),
    }
    let fd = nix::fcntl::open(p, flags(Kind::Dir), Mode::empty()).map_err(|e| open_error(e, p))?;
    fchmod(&fd, Mode::from_bits_truncate(mode)).ctx(|| format!("cannot chmod {}", p.display()))?;
    Ok(true)
}

/// Create a new file `name` in `dir` (it must not exist) with exactly `mode`, for writing.
pub fn create_at(dir: impl AsFd, name: &str, shown: &Path, mode: u32) -> Result<std::fs::File> {
    let fd = openat(
        dir.as_fd(),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| open_error(e, shown))?;
    fchmod(&fd, Mode::from_bits_truncate(mode))
        .ctx(|| format!("cannot chmod {}", shown.display()))?;
    Ok(std::fs::File::from(fd))
}

/// Read a checked file `name` of `dir`, refusing one larger than `max` bytes.
pub fn read_at(dir: impl AsFd, name: &str, shown: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let fd = open_at(dir, name, shown, Kind::File)?;
    let mut f = std::fs::File::from(fd);
    // Room for a whole state file at once: one read, and one more that finds the end.
    let mut v = Vec::with_capacity(8192);
    (&mut f)
        .take(max + 1)
        .read_to_end(&mut v)
        .ctx(|| format!("cannot read {}", shown.display()))?;
    if v.len() as u64 > max {
        return Err(Error::failed(format!(
            "refusing {}: larger than {max} bytes",
            shown.display()
        )));
    }
    Ok(v)
}

/// Replace file `name` of `dir` atomically with `body`: a temp file beside it (mode
/// `FILE_MODE`), then swapped into place (`swap_into_place`), so a reader sees the old or the
/// new content. The temp file never
/// outlives a failure. When the filesystem is full and the new content fits in the old file,
/// it is written in place instead, padded with spaces (the content is JSON, where trailing
/// blanks are allowed): a full state root never loses an exit status.
pub fn replace_at(dir: impl AsFd, name: &str, shown: &Path, body: &[u8]) -> Result<()> {
    use std::io::Write;
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = dir.as_fd();
    let tmp = format!(
        ".{name}.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let unlink = |n: &str| {
        let _ = nix::unistd::unlinkat(dir, n, nix::unistd::UnlinkatFlags::NoRemoveDir);
    };
    let written = create_at(dir, &tmp, shown, FILE_MODE).and_then(|mut f| {
        f.write_all(body)
            .ctx(|| format!("cannot write {}", shown.display()))
    });
    let r = written.and_then(|()| {
        swap_into_place(dir, &tmp, name).ctx(|| format!("cannot write {}", shown.display()))
    });
    if let Err(e) = r {
        unlink(&tmp);
        if e.errno() == Some(Errno::ENOSPC) || e.errno() == Some(Errno::EDQUOT) {
            return overwrite_in_place(dir, name, shown, body).map_err(|_| e);
        }
        return Err(e);
    }
    Ok(())
}

/// Put the complete temp file `tmp` of `dir` in the place of `name`. An existing file is
/// exchanged with it (RENAME_EXCHANGE) and then unlinked under the temp name: readers see the
/// old or the new content either way, but on ext4 a rename that replaces a file forces the
/// new file's blocks to be allocated at once (auto_da_alloc), which costs about 0.25 ms here,
/// and the later unlink of those blocks about 0.2 ms more (measured with a C loop of 400
/// replacements on this disk: 250 + 210 us against 55 + 12 us). That forced allocation guards
/// against a power loss, which nsk's state (under /run by default) never outlives; on a disk
/// root, the README says what a power loss can leave. A filesystem without RENAME_EXCHANGE
/// gets a plain rename; a `name` that is a directory is swapped back and refused, as a rename
/// over it would be.
fn swap_into_place(dir: BorrowedFd, tmp: &str, name: &str) -> nix::Result<()> {
    use nix::fcntl::{renameat, renameat2, RenameFlags};
    match renameat2(dir, tmp, dir, name, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => match nix::unistd::unlinkat(dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Err(Errno::EISDIR) => {
                // The old `name` was a directory: put it back.
                renameat2(dir, tmp, dir, name, RenameFlags::RENAME_EXCHANGE)?;
                Err(Errno::EISDIR)
            }
            // The new content is in place. An old file that cannot go now stays under the
            // temp name, which nothing reads: `sweep_temps` removes it from the state root and
            // journal directories once this process is gone, `rm` with its container.
            Ok(()) | Err(_) => Ok(()),
        },
        Err(Errno::ENOENT | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
            renameat(dir, tmp, dir, name)
        }
        Err(e) => Err(e),
    }
}

/// Remove the temp files `replace_at` left in `dir` (`.NAME.PID.SEQ`) when its process was
/// killed before it swapped them in, or before it unlinked the old file swapped out: regular
/// files of nsk's user whose PID is gone.
pub fn sweep_temps(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        sweep_temp(&e);
    }
}

/// `sweep_temps` for one entry of a directory being listed anyway.
pub fn sweep_temp(e: &std::fs::DirEntry) {
    let n = e.file_name().to_string_lossy().into_owned();
    if !n.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
        return;
    }
    let mut f = n.rsplitn(3, '.');
    let (Some(seq), Some(pid), Some(_)) = (f.next(), f.next(), f.next()) else {
        return;
    };
    let (Ok(_), Ok(pid)) = (seq.parse::<u32>(), pid.parse::<i32>()) else {
        return;
    };
    let gone = pid > 0
        && matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        );
    if gone {
        let _ = std::fs::remove_file(e.path());
    }
}

fn overwrite_in_place(dir: impl AsFd, name: &str, shown: &Path, body: &[u8]) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let fd = openat(
        dir.as_fd(),
        name,
        OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| open_error(e, shown))?;
    let st = check(&fd, shown, Kind::File)?;
    let old = st.st_size as usize;
    if body.len() > old {
        return Err(Error::failed("does not fit"));
    }
    let mut padded = body.to_vec();
    padded.resize(old, b' ');
    let f = std::fs::File::from(fd);
    f.write_all_at(&padded, 0)
        .ctx(|| format!("cannot write {}", shown.display()))
}

/// JSON for nsk's files, padded with spaces to at least `min` bytes so that a later, larger
/// version can be written in place when the filesystem is full.
pub fn json_body<T: serde::Serialize>(v: &T, shown: &Path, min: usize) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v)
        .map_err(|e| Error::failed(format!("cannot encode {}: {e}", shown.display())))?;
    b.push(b'\n');
    if b.len() < min {
        b.resize(min, b' ');
    }
    Ok(b)
}

/// Open (creating it 0700 if missing) and check a state root: a directory of the user nsk runs
/// as that no one else can write, reached without following a final symlink.
pub fn ensure_root(root: &Path) -> Result<OwnedFd> {
    if let Some(fd) = open_root(root)? {
        return Ok(fd);
    }
    if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).ctx(|| format!("cannot create {}", parent.display()))?;
    }
    mkdir_path(root, DIR_MODE).map_err(|e| e.context("cannot create the state root"))?;
    open_root(root)?
        .ok_or_else(|| Error::failed(format!("the state root {} vanished", root.display())))
}

/// Open and check an existing state root; None when it does not exist.
pub fn open_root(root: &Path) -> Result<Option<OwnedFd>> {
    match open_path(root, Kind::Dir) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno() == Some(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.context("state root")),
    }
}

/// Write `v` as JSON to `p` atomically (mode 0600 whatever the umask), in a directory that is
/// opened and checked first: a reader sees the old or the new document, never half of one.
pub fn write_json<T: serde::Serialize>(p: &std::path::Path, v: &T) -> Result<()> {
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Err(Error::failed(format!("cannot write {}", p.display())));
    };
    let d = open_path(dir, Kind::Dir)?;
    let body = json_body(v, p, 0)?;
    replace_at(&d, name, p, &body)
}

/// Read a JSON file nsk wrote (checked: no symlink, owned by nsk's user, not writable by
/// others, bounded). None when it is missing.
pub fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
        return Ok(None);
    };
    let d = match open_path(dir, Kind::Dir) {
        Ok(d) => d,
        Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let b = match read_at(&d, name, p, MAX_JSON) {
        Ok(b) => b,
        Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    serde_json::from_slice(&b)
        .map(Some)
        .map_err(|e| Error::failed(format!("corrupt file {}: {e}", p.display())))
}

/// Give the owner rwx on every directory below `d` (symlinks are never followed).
pub fn open_up_dirs(d: &std::path::Path) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn with_umask<T>(m: u32, f: impl FnOnce() -> T) -> T {
        let old = nix::sys::stat::umask(Mode::from_bits_truncate(m));
        let r = f();
        nix::sys::stat::umask(old);
        r
    }

    #[test]
    fn modes_ignore_the_umask() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("r");
        for um in [0o000, 0o077, 0o777] {
            let _ = std::fs::remove_dir_all(&root);
            with_umask(um, || {
                assert!(mkdir_path(&root, DIR_MODE).unwrap());
                let fd = open_path(&root, Kind::Dir).unwrap();
                assert!(mkdir_at(&fd, "d", &root.join("d"), DIR_MODE).unwrap());
                assert!(!mkdir_at(&fd, "d", &root.join("d"), DIR_MODE).unwrap());
                replace_at(&fd, "f", &root.join("f"), b"{}").unwrap();
            });
            let mode = |p: &str| {
                std::fs::metadata(root.join(p))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o7777
            };
            assert_eq!(mode(""), 0o700, "umask {um:o}");
            assert_eq!(mode("d"), 0o700, "umask {um:o}");
            assert_eq!(mode("f"), 0o600, "umask {um:o}");
            assert_eq!(
                std::fs::read_dir(&root).unwrap().count(),
                2,
                "no temp file left"
            );
        }
    }

    #[test]
    fn symlinks_fifos_and_writable_entries_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let fd = open_path(d, Kind::Dir).unwrap();
        std::fs::write(d.join("target"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join("link")).unwrap();
        let e = read_at(&fd, "link", &d.join("link"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a symlink"), "{e}");
        nix::unistd::mkfifo(&d.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_at(&fd, "fifo", &d.join("fifo"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::set_permissions(d.join("target"), std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = read_at(&fd, "target", &d.join("target"), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("writable by group or others (mode 0666)"), "{e}");
        std::fs::set_permissions(d.join("target"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_at(&fd, "target", &d.join("target"), 10).unwrap(), b"x");
        std::fs::write(d.join("big"), vec![b'x'; 11]).unwrap();
        assert!(read_at(&fd, "big", &d.join("big"), 10).is_err());
        let sub = d.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_path(&sub, Kind::Dir).unwrap_err().to_string();
        assert!(e.contains("writable by group or others (mode 0777)"), "{e}");
        std::os::unix::fs::symlink(&sub, d.join("sublink")).unwrap();
        let e = open_path(&d.join("sublink"), Kind::Dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a symlink"), "{e}");
    }

    #[test]
    fn a_foreign_owner_is_refused() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test gives a file away, which needs root: run the tests as root"
        );
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, "{}").unwrap();
        nix::unistd::chown(&p, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        let fd = open_path(t.path(), Kind::Dir).unwrap();
        let e = read_at(&fd, "f", &p, 10).unwrap_err().to_string();
        assert!(e.contains("owned by uid 65534, not by uid 0"), "{e}");
    }

    /// A replacement swaps the new file in and the old one out: the new content under the
    /// name, a new inode, no temp left; a symlink at the name is replaced, not followed; a
    /// directory at the name is refused and left as it was. On /tmp's
    /// filesystem and on a tmpfs alike.
    #[test]
    fn a_replacement_swaps_files_and_refuses_a_directory() {
        let disk = tempfile::tempdir().unwrap();
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        for t in [disk.path(), shm.path()] {
            let fd = open_path(t, Kind::Dir).unwrap();
            let p = t.join("s.json");
            replace_at(&fd, "s.json", &p, b"old").unwrap();
            let old = std::fs::metadata(&p).unwrap();
            replace_at(&fd, "s.json", &p, b"new").unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), b"new");
            assert_ne!(std::fs::metadata(&p).unwrap().ino(), old.ino());
            std::fs::write(t.join("elsewhere"), "keep").unwrap();
            std::os::unix::fs::symlink(t.join("elsewhere"), t.join("l.json")).unwrap();
            replace_at(&fd, "l.json", &t.join("l.json"), b"new").unwrap();
            assert!(std::fs::symlink_metadata(t.join("l.json"))
                .unwrap()
                .is_file());
            assert_eq!(std::fs::read(t.join("elsewhere")).unwrap(), b"keep");
            std::fs::create_dir(t.join("d.json")).unwrap();
            std::fs::write(t.join("d.json/inner"), "x").unwrap();
            let e = replace_at(&fd, "d.json", &t.join("d.json"), b"new").unwrap_err();
            assert_eq!(e.errno(), Some(Errno::EISDIR), "{e}");
            assert_eq!(std::fs::read(t.join("d.json/inner")).unwrap(), b"x");
            let mut names: Vec<_> = std::fs::read_dir(t)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            assert_eq!(names, ["d.json", "elsewhere", "l.json", "s.json"], "{t:?}");
        }
    }

    #[test]
    fn a_full_filesystem_overwrites_in_place() {
        let t = tempfile::tempdir().unwrap();
        let fd = open_path(t.path(), Kind::Dir).unwrap();
        let p = t.path().join("s.json");
        let big = json_body(&serde_json::json!({"a": 1}), &p, 64).unwrap();
        assert_eq!(big.len(), 64);
        replace_at(&fd, "s.json", &p, &big).unwrap();
        overwrite_in_place(&fd, "s.json", &p, b"{\"a\":2}").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        assert!(overwrite_in_place(&fd, "s.json", &p, &[b' '; 65]).is_err());
    }
}
