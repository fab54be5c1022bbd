//! `nsk cp` with `-`: a tar stream of a container's file or directory on stdout, or a tar
//! stream from stdin extracted into a directory of a container, as `docker cp` does.
//!
//! Writing walks the container's tree exactly as a copy out does (one name at a time from the
//! parent's fd, O_NOFOLLOW, checked against the lstat). Reading uses nsk's own tar reader (the
//! one image layers go through: ustar, GNU and PAX, bounded metadata) and places every entry
//! beneath the destination directory's fd one name at a time with O_NOFOLLOW: a leading `/` is
//! stripped, a `..` component stops the extraction, and a symlink (from the archive or already
//! in the container) is never followed by a later entry: an entry whose parent is a symlink is
//! refused. Files are written under a temporary name and renamed into place.

use super::{
    check_same, discard, is, is_pseudo_fs, lstat_at, open_entry, open_source, privileges, show,
    temp_name, xattr_kept, Options, Side, Source, Xattrs,
};
use crate::error::{Context, Error, Result};
use crate::image::tar::{Entry, Input, Kind, Reader};
use crate::notice::{Notice, Notify};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

const MAX_DEPTH: usize = 1024;

/// Refuse a terminal on the tar side, as docker does ("cannot copy to a TTY").
pub fn refuse_terminal(fd: impl AsFd, what: &str) -> Result<()> {
    if nix::unistd::isatty(fd).unwrap_or(false) {
        return Err(Error::invalid(format!(
            "refusing to {what} a terminal: a tar stream is binary (redirect or pipe it)"
        )));
    }
    Ok(())
}

/// The tar stream of `path` (beneath the container's root) on `out`; the top entry is the
/// path's base name (or, for `DIR/.`, the directory's entries).
pub(super) fn write_tar(
    s: &Side,
    path: &[u8],
    o: Options,
    out: impl Write,
    notify: &mut Notify,
) -> Result<u64> {
    let (source, base) = open_source(s, path, o.follow)?;
    let mut w = TarOut {
        b: tar::Builder::new(out),
        side: s,
        o,
        notify,
        links: HashMap::new(),
        bytes: 0,
    };
    let p = show(path);
    match (base, source) {
        (None, Source::Contents { dir, st }) => {
            check_same(&dir, &st, &p)?;
            w.contents(&dir, b"", &p, 0)?;
        }
        (Some(name), source) => w.add(source, name.to_bytes(), &p, 0)?,
        (None, _) => unreachable!("contents have no name"),
    }
    let mut out = w.b.into_inner().map_err(write_error)?;
    out.flush().map_err(write_error)?;
    Ok(w.bytes)
}

fn write_error(e: std::io::Error) -> Error {
    Error::Io {
        what: "cannot write the tar stream".into(),
        source: e,
    }
}

struct TarOut<'a, 'n, W: Write> {
    b: tar::Builder<W>,
    side: &'a Side,
    o: Options,
    notify: &'a mut Notify<'n>,
    /// Files with several links already in the archive: their first name there.
    links: HashMap<(u64, u64), Vec<u8>>,
    bytes: u64,
}

impl<W: Write> TarOut<'_, '_, W> {
    /// A header with the entry's mode, owner (as the container sees it) and mtime.
    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(
            self.side.uids.to_container(st.st_uid).unwrap_or(65534),
        ));
        h.set_gid(u64::from(
            self.side.gids.to_container(st.st_gid).unwrap_or(65534),
        ));
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// With `-a`, the entry's kept xattrs as PAX `SCHILY.xattr.NAME` records (GNU tar's and
    /// docker's form) just before its header.
    fn xattrs(&mut self, fd: &OwnedFd) -> Result<()> {
        if !self.o.archive {
            return Ok(());
        }
        let x = Xattrs::read(fd);
        let recs: Vec<(String, &[u8])> = x
            .iter()
            .filter_map(|(k, v)| {
                let k = std::str::from_utf8(k).ok()?;
                Some((format!("SCHILY.xattr.{k}"), v.as_slice()))
            })
            .collect();
        if recs.is_empty() {
            return Ok(());
        }
        self.b
            .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(write_error)
    }

    fn add(&mut self, src: Source, arc: &[u8], what: &str, depth: usize) -> Result<()> {
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
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(arc));
        if is(&st, SFlag::S_IFDIR) {
            let fd = match src {
                Source::Entry { dir, name, .. } => {
                    open_entry(&dir, &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                        .ctx(|| format!("cannot open {what}"))?
                }
                Source::Opened { fd, .. } | Source::Contents { dir: fd, .. } => fd,
            };
            check_same(&fd, &st, what)?;
            self.xattrs(&fd)?;
            let mut h = self.header(&st, tar::EntryType::Directory);
            let mut p = arc.to_vec();
            p.push(b'/');
            self.b
                .append_data(
                    &mut h,
                    std::path::Path::new(std::ffi::OsStr::from_bytes(&p)),
                    std::io::empty(),
                )
                .map_err(write_error)?;
            if depth > 0 && is_pseudo_fs(&fd) {
                return Ok(());
            }
            return self.contents(&fd, arc, what, depth);
        }
        if is(&st, SFlag::S_IFREG) {
            let fd = match src {
                Source::Entry { dir, name, .. } => open_entry(
                    &dir,
                    &name,
                    OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                )
                .ctx(|| format!("cannot open {what}"))?,
                Source::Opened { fd, .. } | Source::Contents { dir: fd, .. } => fd,
            };
            check_same(&fd, &st, what)?;
            let key = (st.st_dev, st.st_ino);
            if st.st_nlink > 1 {
                if let Some(first) = self.links.get(&key) {
                    let first = first.clone();
                    let mut h = self.header(&st, tar::EntryType::Link);
                    return self
                        .b
                        .append_link(
                            &mut h,
                            path,
                            std::path::Path::new(std::ffi::OsStr::from_bytes(&first)),
                        )
                        .map_err(write_error);
                }
                self.links.insert(key, arc.to_vec());
            }
            self.xattrs(&fd)?;
            let size = st.st_size as u64;
            let mut h = self.header(&st, tar::EntryType::Regular);
            h.set_size(size);
            // Exactly the size in the header: a file that shrinks meanwhile is padded with
            // zeros, one that grows is cut (the archive must stay well-formed).
            let file = std::fs::File::from(fd);
            let mut read_err = None;
            let data = ReadNoted {
                r: (&file).take(size),
                err: &mut read_err,
            }
            .chain(std::io::repeat(0))
            .take(size);
            self.b
                .append_data(&mut h, path, data)
                .map_err(write_error)?;
            if let Some(e) = read_err {
                return Err(Error::Io {
                    what: format!("cannot read {what}"),
                    source: e,
                });
            }
            self.bytes += size;
            return Ok(());
        }
        if is(&st, SFlag::S_IFLNK) {
            let Source::Entry { dir, name, .. } = src else {
                return Err(Error::failed(format!("cannot copy {what}: not a file")));
            };
            let target = nix::fcntl::readlinkat(&dir, name.as_c_str())
                .ctx(|| format!("cannot read {what}"))?;
            // The target as it is, byte for byte (the crate's path form would rewrite `/`);
            // one longer than the header's field goes in a PAX linkpath record.
            let t = target.as_bytes();
            let mut h = self.header(&st, tar::EntryType::Symlink);
            if h.set_link_name_literal(t).is_err() {
                self.b
                    .append_pax_extensions([("linkpath", t)])
                    .map_err(write_error)?;
            }
            return self
                .b
                .append_data(&mut h, path, std::io::empty())
                .map_err(write_error);
        }
        (self.notify)(Notice::Skipped(format!(
            "skipping {what}: not a file, directory or symlink"
        )));
        Ok(())
    }

    fn contents(&mut self, dir: &OwnedFd, arc: &[u8], what: &str, depth: usize) -> Result<()> {
        let dup = nix::unistd::dup(dir).ctx(|| format!("cannot read {what}"))?;
        let mut d = nix::dir::Dir::from_fd(dup).ctx(|| format!("cannot read {what}"))?;
        let mut names: Vec<CString> = vec![];
        for e in d.iter() {
            let e = e.ctx(|| format!("cannot read {what}"))?;
            let n = e.file_name();
            if n.to_bytes() != b"." && n.to_bytes() != b".." {
                names.push(n.to_owned());
            }
        }
        drop(d);
        names.sort();
        for n in names {
            let child = format!("{}/{}", what.trim_end_matches('/'), show(n.to_bytes()));
            let st = match lstat_at(dir, &n) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e).ctx(|| format!("cannot read {child}")),
            };
            let mut a = arc.to_vec();
            if !a.is_empty() {
                a.push(b'/');
            }
            a.extend_from_slice(n.to_bytes());
            let d = nix::unistd::dup(dir).ctx(|| format!("cannot read {what}"))?;
            self.add(
                Source::Entry {
                    dir: d,
                    name: n,
                    st,
                },
                &a,
                &child,
                depth + 1,
            )?;
        }
        Ok(())
    }
}

/// A reader that keeps its first error aside and reads as at its end from then on (the
/// archive is completed with zeros, and the error reported once it is).
struct ReadNoted<'a, R> {
    r: R,
    err: &'a mut Option<std::io::Error>,
}

impl<R: Read> Read for ReadNoted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.err.is_some() {
            return Ok(0);
        }
        match self.r.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                *self.err = Some(e);
                Ok(0)
            }
        }
    }
}

/// stdin (or any reader) as the tar reader's input.
pub struct Plain<R>(pub R);

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Input for Plain<R> {}

/// A tar stream's input: stdin (a pipe, a file, a socket), buffered.
pub type StreamIn = std::io::BufReader<std::fs::File>;

/// Extract the tar stream `input` into directory `dir` of the container (it must exist and be
/// a directory, docker's rule).
pub(super) fn read_tar(
    d: &Side,
    dir: &[u8],
    o: Options,
    input: &mut StreamIn,
    notify: &mut Notify,
) -> Result<u64> {
    let dp = show(dir);
    let top = d
        .open(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| match e {
            Errno::ENOENT => Error::failed(format!("cannot extract into {dp}: no such directory")),
            Errno::ENOTDIR => Error::failed(format!("cannot extract into {dp}: not a directory")),
            e => Error::Os {
                what: format!("cannot extract into {dp}"),
                errno: e,
            },
        })?;
    let mut x = TarIn {
        side: d,
        o,
        top,
        dp,
        parent: None,
        dirs: vec![],
        placed: HashSet::new(),
        seq: 0,
        bytes: 0,
        xattrs: Xattrs::default(),
        notify,
    };
    let mut r = Reader::new(Plain(&mut *input));
    let res = (|| {
        while let Some(e) = r.next_entry()? {
            x.entry(&e, &mut r)?;
        }
        Ok(())
    })();
    // The directories placed so far get their modes and times even when a later entry fails.
    let fin = x.finish();
    x.xattrs.warn(&x.dp, x.notify);
    res.and(fin)?;
    if let Some(why) = drain(input) {
        (x.notify)(Notice::Warning(format!(
            "input after the end of the tar stream was ignored: {why}"
        )));
    }
    Ok(x.bytes)
}

/// Zero padding read after a tar stream's end marker: far more than a record of GNU tar's
/// largest usual blocking factor.
const MAX_PADDING: u64 = 1 << 20;

/// How long a writer may stay silent after the end marker before nsk stops reading.
const LINGER_MS: u16 = 500;

/// Read what follows the end marker, so that a writer whose padding or last write comes after
/// nsk has seen the marker (GNU tar's record padding, `podman cp`'s last block) does not die
/// of SIGPIPE. Zeros are read until EOF, or until the writer has been silent for `LINGER_MS`
/// (a writer that keeps its end open never keeps nsk waiting). None when that is all there
/// was; otherwise why nsk stopped early: data that is not padding, more than `MAX_PADDING`
/// bytes, or a read error (the extraction is complete either way).
fn drain(input: &mut StreamIn) -> Option<String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::BufRead;
    let mut seen = 0u64;
    loop {
        if input.buffer().is_empty() {
            let mut p = [PollFd::new(input.get_ref().as_fd(), PollFlags::POLLIN)];
            match poll(&mut p, PollTimeout::from(LINGER_MS)) {
                Ok(0) => return None,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Some(crate::error::errno_text(e)),
            }
        }
        let n = match input.fill_buf() {
            Ok([]) => return None,
            Ok(chunk) if chunk.iter().any(|&b| b != 0) => {
                return Some("it is not zero padding".into())
            }
            Ok(chunk) => chunk.len(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(format!("cannot read it ({e})")),
        };
        input.consume(n);
        seen += n as u64;
        if seen > MAX_PADDING {
            return Some(format!("more than {} KiB of padding", MAX_PADDING >> 10));
        }
    }
}

struct TarIn<'a, 'n> {
    notify: &'a mut Notify<'n>,
    side: &'a Side,
    o: Options,
    top: OwnedFd,
    dp: String,
    /// The last parent directory opened, by its components.
    parent: Option<(Vec<u8>, OwnedFd)>,
    /// Directories of the archive: their metadata is set once every entry is in place.
    dirs: Vec<(Vec<Vec<u8>>, Entry)>,
    /// The names this archive put in place (a hard link may only point at one of them).
    placed: HashSet<Vec<u8>>,
    seq: u64,
    bytes: u64,
    xattrs: Xattrs,
}

/// The components of an archive name: a leading `/`, empty and `.` components dropped; a `..`
/// component refuses the archive.
fn components<'n>(name: &'n [u8], what: &str) -> Result<Vec<&'n [u8]>> {
    crate::image::tar::name_components(name).ok_or_else(|| {
        Error::failed(format!(
            "refusing the tar stream: entry {what} climbs with '..'"
        ))
    })
}

impl TarIn<'_, '_> {
    fn what(&self, path: &[u8]) -> String {
        format!(
            "{}/{}",
            self.dp.trim_end_matches('/'),
            show(path).trim_start_matches('/')
        )
    }

    /// The owner an entry gets, in host IDs: the archive's with `-a` (mapped through the
    /// container's user namespace), the container's root otherwise and for IDs the container
    /// does not map (never left to nsk's own, host root).
    fn owner(&self, e: Option<&Entry>) -> (Option<u32>, Option<u32>) {
        let root = (self.side.uids.to_host(0), self.side.gids.to_host(0));
        match e {
            Some(e) if self.o.archive => {
                let u = u32::try_from(e.uid)
                    .ok()
                    .and_then(|u| self.side.uids.to_host(u));
                let g = u32::try_from(e.gid)
                    .ok()
                    .and_then(|g| self.side.gids.to_host(g));
                match (u, g) {
                    (Some(u), Some(g)) => (Some(u), Some(g)),
                    _ => root,
                }
            }
            _ => root,
        }
    }

    /// Open the directory `comps` beneath the destination one name at a time, never following
    /// a symlink; missing ones are created (owned by the container's root) when `create`.
    fn walk(&self, comps: &[&[u8]], create: bool, what: &str) -> Result<OwnedFd> {
        let mut cur = self
            .top
            .try_clone()
            .ctx(|| format!("cannot extract {what}"))?;
        for (i, c) in comps.iter().enumerate() {
            let name = CString::new(*c).map_err(|_| Error::failed("NUL in a name"))?;
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
            let next = match open_entry(&cur, &name, flags) {
                Err(Errno::ENOENT) if create => {
                    match nix::sys::stat::mkdirat(&cur, name.as_c_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e).ctx(|| format!("cannot extract {what}")),
                    }
                    let fd = open_entry(&cur, &name, flags).ctx(|| format!("cannot extract {what}"))?;
                    let (u, g) = self.owner(None);
                    nix::unistd::fchown(
                        &fd,
                        u.map(nix::unistd::Uid::from_raw),
                        g.map(nix::unistd::Gid::from_raw),
                    )
                    .ctx(|| format!("cannot set the owner of {what}"))?;
                    fd
                }
                Err(Errno::ELOOP | Errno::ENOTDIR) => {
                    return Err(Error::failed(format!(
                        "cannot extract {what}: {} is a symlink or not a directory (nsk never follows a link from a tar stream)",
                        self.what(&comps[..=i].join(&b'/'))
                    )))
                }
                Err(e) => return Err(e).ctx(|| format!("cannot extract {what}")),
                Ok(fd) => fd,
            };
            cur = next;
        }
        Ok(cur)
    }

    fn entry<R: Input>(&mut self, e: &Entry, r: &mut Reader<R>) -> Result<()> {
        let what = self.what(&e.path);
        let comps = components(&e.path, &what)?;
        let Some((last, dirs)) = comps.split_last() else {
            // The top directory itself ("./"): the destination is left as it is.
            return Ok(());
        };
        let key = comps.join(&b'/');
        let pkey = dirs.join(&b'/');
        let parent = match self.parent.take() {
            Some((k, fd)) if k == pkey => fd,
            _ => self.walk(dirs, true, &what)?,
        };
        let name = CString::new(*last).map_err(|_| Error::failed("NUL in a name"))?;
        let r = self.place(e, r, &parent, &name, &comps, &what);
        self.parent = Some((pkey, parent));
        r?;
        self.placed.insert(key);
        Ok(())
    }

    fn place<R: Input>(
        &mut self,
        e: &Entry,
        r: &mut Reader<R>,
        parent: &OwnedFd,
        name: &CStr,
        comps: &[&[u8]],
        what: &str,
    ) -> Result<()> {
        match e.kind {
            Kind::Dir => {
                match nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(err) => return Err(err).ctx(|| format!("cannot create {what}")),
                }
                match open_entry(parent, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
                    Ok(_) => {}
                    Err(Errno::ELOOP | Errno::ENOTDIR) => {
                        return Err(Error::failed(format!(
                            "cannot extract directory {what}: a non-directory of that name is in the way"
                        )))
                    }
                    Err(err) => return Err(err).ctx(|| format!("cannot open {what}")),
                }
                self.dirs
                    .push((comps.iter().map(|c| c.to_vec()).collect(), e.clone()));
                Ok(())
            }
            Kind::File => {
                let tmp = temp_name(&mut self.seq);
                let fd = nix::fcntl::openat(
                    parent,
                    tmp.as_c_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .ctx(|| format!("cannot create {what}"))?;
                let res = (|| {
                    let mut f = std::fs::File::from(fd.try_clone().ctx(|| "cannot dup")?);
                    let n = std::io::copy(r, &mut f).map_err(|err| {
                        if err.kind() == std::io::ErrorKind::UnexpectedEof {
                            Error::failed("truncated archive: it ends in the middle of an entry")
                        } else {
                            Error::Io {
                                what: format!("cannot extract {what}"),
                                source: err,
                            }
                        }
                    })?;
                    self.bytes += n;
                    self.meta(&fd, e, what)?;
                    nix::fcntl::renameat(parent, tmp.as_c_str(), parent, name)
                        .map_err(|err| rename_error(err, what))
                })();
                if res.is_err() {
                    discard(parent, &tmp);
                }
                res
            }
            Kind::Symlink => {
                let tmp = temp_name(&mut self.seq);
                nix::unistd::symlinkat(
                    std::ffi::OsStr::from_bytes(&e.link),
                    parent,
                    tmp.as_c_str(),
                )
                .ctx(|| format!("cannot create {what}"))?;
                let res = (|| {
                    let (u, g) = self.owner(Some(e));
                    // Through an fd of the link just made, checked to be a link: a process in
                    // the container that swaps the name for a hard link to another file in the
                    // meantime cannot have that file chowned.
                    let link = nix::fcntl::openat(
                        parent,
                        tmp.as_c_str(),
                        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                        Mode::empty(),
                    )
                    .ctx(|| format!("cannot open {what}"))?;
                    let st = nix::sys::stat::fstat(&link).ctx(|| format!("cannot open {what}"))?;
                    if !is(&st, SFlag::S_IFLNK) {
                        return Err(Error::failed(format!(
                            "cannot extract {what}: it was replaced while it was made"
                        )));
                    }
                    nix::unistd::fchownat(
                        &link,
                        c"",
                        u.map(nix::unistd::Uid::from_raw),
                        g.map(nix::unistd::Gid::from_raw),
                        AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .ctx(|| format!("cannot set the owner of {what}"))?;
                    let t = TimeSpec::new(e.mtime, 0);
                    nix::sys::stat::utimensat(
                        parent,
                        tmp.as_c_str(),
                        &t,
                        &t,
                        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                    )
                    .ctx(|| format!("cannot set the times of {what}"))?;
                    nix::fcntl::renameat(parent, tmp.as_c_str(), parent, name)
                        .map_err(|err| rename_error(err, what))
                })();
                if res.is_err() {
                    discard(parent, &tmp);
                }
                res
            }
            Kind::Hardlink => {
                let target_what = self.what(&e.link);
                let tc = components(&e.link, &target_what)?;
                let Some((tlast, tdirs)) = tc.split_last() else {
                    return Err(Error::failed(format!(
                        "cannot extract {what}: a hard link to the top directory"
                    )));
                };
                if !self.placed.contains(&tc.join(&b'/')) {
                    return Err(Error::failed(format!(
                        "cannot extract {what}: a hard link to {target_what}, which is not earlier in the tar stream"
                    )));
                }
                let tdir = self.walk(tdirs, false, what)?;
                let tname = CString::new(*tlast).map_err(|_| Error::failed("NUL in a name"))?;
                let tmp = temp_name(&mut self.seq);
                // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
                nix::unistd::linkat(
                    &tdir,
                    tname.as_c_str(),
                    parent,
                    tmp.as_c_str(),
                    AtFlags::empty(),
                )
                .ctx(|| format!("cannot create {what}"))?;
                nix::fcntl::renameat(parent, tmp.as_c_str(), parent, name).map_err(|err| {
                    discard(parent, &tmp);
                    rename_error(err, what)
                })
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                (self.notify)(Notice::Skipped(format!(
                    "skipping {what}: a device node or fifo"
                )));
                Ok(())
            }
            Kind::Other(k) => {
                (self.notify)(Notice::Skipped(format!(
                    "skipping {what}: a tar entry of type '{}'",
                    (k as char).escape_default()
                )));
                Ok(())
            }
        }
    }

    /// Owner, mode (after the owner: chown clears set-id bits), xattrs with `-a`, times.
    fn meta(&mut self, fd: &OwnedFd, e: &Entry, what: &str) -> Result<()> {
        let (u, g) = self.owner(Some(e));
        if u.is_some() || g.is_some() {
            nix::unistd::fchown(
                fd,
                u.map(nix::unistd::Uid::from_raw),
                g.map(nix::unistd::Gid::from_raw),
            )
            .ctx(|| format!("cannot set the owner of {what}"))?;
        }
        // A file left to nsk's own owner (a container that maps no root) gets no set-id bits
        // and no file capabilities: whoever wrote the stream chose them.
        let owned = u.is_some() && g.is_some();
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(privileges(e.mode, owned)))
            .ctx(|| format!("cannot set the mode of {what}"))?;
        if self.o.archive {
            for (k, v) in &e.xattrs {
                if xattr_kept(k) && (owned || k.as_slice() != b"security.capability") {
                    self.xattrs.set(fd, k, v);
                }
            }
        }
        let t = TimeSpec::new(e.mtime, 0);
        nix::sys::stat::futimens(fd, &t, &t).ctx(|| format!("cannot set the times of {what}"))
    }

    /// The directories' metadata, deepest first, once all their entries are in place (a
    /// directory stays writable meanwhile, and its mtime is the archive's at the end).
    fn finish(&mut self) -> Result<()> {
        self.parent = None;
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        for (comps, e) in dirs {
            let what = self.what(&e.path);
            let c: Vec<&[u8]> = comps.iter().map(|c| c.as_slice()).collect();
            let fd = self.walk(&c, false, &what)?;
            self.meta(&fd, &e, &what)?;
        }
        Ok(())
    }
}

fn rename_error(e: Errno, what: &str) -> Error {
    match e {
        Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST => Error::failed(format!(
            "cannot extract {what}: a directory of that name is in the way"
        )),
        e => Error::Os {
            what: format!("cannot create {what}"),
            errno: e,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn names_lose_a_leading_slash_and_refuse_dot_dot() {
        assert_eq!(components(b"/a//./b/", "x").unwrap(), vec![&b"a"[..], b"b"]);
        assert!(components(b"./", "x").unwrap().is_empty());
        for bad in [&b"../x"[..], b"a/../../x", b"/.."] {
            assert!(components(bad, "x")
                .unwrap_err()
                .to_string()
                .contains("'..'"));
        }
    }

    /// How a test writer feeds a pipe after the archive.
    enum Tail {
        /// These bytes, then the write end is closed.
        Then(Vec<u8>),
        /// These bytes, then the write end stays open and silent until `hold` ends.
        Silent(Vec<u8>, std::time::Duration),
        /// Zeros without end (until the reader is gone).
        Endless,
    }

    /// `archive` and `tail` written into a pipe by a thread; the read end, buffered as stdin
    /// is, and the thread (it returns how many bytes its writes took).
    fn piped(archive: Vec<u8>, tail: Tail) -> (StreamIn, std::thread::JoinHandle<u64>) {
        let (r, w) = nix::unistd::pipe().unwrap();
        let feeder = std::thread::spawn(move || {
            let mut w = std::fs::File::from(w);
            let mut took = archive.len() as u64;
            w.write_all(&archive).unwrap();
            match tail {
                Tail::Then(b) => {
                    w.write_all(&b).unwrap();
                    took += b.len() as u64;
                }
                Tail::Silent(b, hold) => {
                    w.write_all(&b).unwrap();
                    took += b.len() as u64;
                    std::thread::sleep(hold);
                }
                Tail::Endless => {
                    let zeros = [0u8; 4096];
                    while w.write_all(&zeros).is_ok() {
                        took += zeros.len() as u64;
                    }
                }
            }
            took
        });
        let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::from(r));
        (input, feeder)
    }

    /// Out and back in through a tar stream, on host paths (as root: files extracted without
    /// -a belong to uid 0): long names, long symlink targets, hard links, modes.
    #[test]
    fn a_stream_round_trips() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let long = "n".repeat(120);
        std::fs::create_dir_all(src.join(&long)).unwrap();
        std::fs::write(src.join(&long).join("f"), "long").unwrap();
        std::fs::write(src.join("a"), "a").unwrap();
        std::fs::hard_link(src.join("a"), src.join("b")).unwrap();
        std::os::unix::fs::symlink(format!("/{long}/{long}"), src.join("l")).unwrap();
        let mut tar = vec![];
        let o = Options::default();
        write_tar(
            &Side::host(),
            src.as_os_str().as_bytes(),
            o,
            &mut tar,
            &mut crate::notice::ignore,
        )
        .unwrap();
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let (mut input, feeder) = piped(tar.clone(), Tail::Then(vec![]));
        read_tar(
            &Side::host(),
            dst.as_os_str().as_bytes(),
            o,
            &mut input,
            &mut crate::notice::ignore,
        )
        .unwrap();
        feeder.join().unwrap();
        let got = dst.join("src");
        assert_eq!(
            std::fs::read_to_string(got.join(&long).join("f")).unwrap(),
            "long"
        );
        assert_eq!(
            std::fs::metadata(got.join("a")).unwrap().ino(),
            std::fs::metadata(got.join("b")).unwrap().ino()
        );
        assert_eq!(
            std::fs::read_link(got.join("l")).unwrap(),
            std::path::PathBuf::from(format!("/{long}/{long}"))
        );
        // After the end marker: zero padding is read to EOF quietly, and so is padding whose
        // writer then stays silent with its end open (for LINGER_MS, not for ever). Data, or
        // endless zeros, stop the read with one warning.
        let hold = std::time::Duration::from_secs(4);
        let cases = [
            (Tail::Then(vec![0; 10240]), None),
            (Tail::Silent(vec![0; 512], hold), None),
            (
                Tail::Then(b"\0junk".to_vec()),
                Some("it is not zero padding"),
            ),
            (Tail::Endless, Some("more than 1024 KiB of padding")),
        ];
        for (tail, warned) in cases {
            let what = match &tail {
                Tail::Then(b) => format!("{} bytes", b.len()),
                Tail::Silent(..) => "a silent writer".into(),
                Tail::Endless => "endless zeros".into(),
            };
            let (mut input, feeder) = piped(tar.clone(), tail);
            let mut notices = vec![];
            let began = std::time::Instant::now();
            read_tar(
                &Side::host(),
                dst.as_os_str().as_bytes(),
                o,
                &mut input,
                &mut |n: Notice<'_>| notices.push(format!("{n:?}")),
            )
            .unwrap();
            assert!(began.elapsed() < hold / 2, "{what}: {:?}", began.elapsed());
            let expected: Vec<String> = warned
                .map(|w| {
                    format!(
                        "{:?}",
                        Notice::Warning(format!(
                            "input after the end of the tar stream was ignored: {w}"
                        ))
                    )
                })
                .into_iter()
                .collect();
            assert_eq!(notices, expected, "{what}");
            drop(input);
            let took = feeder.join().unwrap();
            if warned.is_none() {
                assert!(
                    took > tar.len() as u64,
                    "{what}: the writer's padding went through"
                );
            }
        }
        // Nothing left under a temporary name.
        let names: Vec<_> = std::fs::read_dir(&got)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".nsk-cp-"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
