//! A streaming tar reader for image layers: ustar, GNU (long names, base-256 numbers) and PAX
//! (path, linkpath, size, ids, mtime, xattrs). It only parses: every decision about where an
//! entry may go is `unpack`'s. Sizes are bounded, so a hostile header cannot make it allocate
//! without limit, and a short archive is an error, never a silent stop.

use crate::error::{Error, Result};
use std::io::Read;

/// The most metadata (a PAX header or a GNU long name) one entry may carry.
pub const MAX_META: u64 = 1 << 20;
/// The longest path or link target accepted.
pub const MAX_PATH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
    /// Anything else (GNU sparse, volume labels, …): its data is skipped.
    Other(u8),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub size: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a tar archive is read from: any reader; one that can seek skips data without reading it.
pub trait Input: Read {
    fn skip_bytes(&mut self, mut n: u64) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.read_exact(&mut buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }
}

impl Input for &[u8] {}

pub struct Reader<R> {
    r: R,
    /// Bytes of the current entry's data not read yet, and its padding.
    left: u64,
    pad: u64,
    done: bool,
    offset: u64,
}

fn truncated() -> Error {
    Error::failed("truncated archive: it ends in the middle of an entry")
}

impl<R: Input> Reader<R> {
    pub fn new(r: R) -> Self {
        Reader {
            r,
            left: 0,
            pad: 0,
            done: false,
            offset: 0,
        }
    }

    pub fn into_inner(self) -> R {
        self.r
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => return Err(truncated()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(e)),
            }
        }
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        self.r.skip_bytes(n).map_err(read_error)?;
        self.offset += n;
        Ok(())
    }

    /// Where the current entry's data starts, in bytes from the start of the archive.
    pub fn data_offset(&self) -> u64 {
        self.offset
    }

    /// The next entry, or None at the end of the archive. The previous entry's unread data is
    /// skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let (left, pad) = (self.left, self.pad);
        self.left = 0;
        self.pad = 0;
        self.skip(left + pad)?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = vec![];
        loop {
            let mut h = [0u8; 512];
            let at = self.offset;
            // No lenience for an archive that stops without its end marker: a layer cut on an
            // entry boundary would otherwise lose its later files silently.
            if let Err(e) = self.fill(&mut h) {
                if at == 0 {
                    return Err(Error::failed(
                        "not a tar archive: it ends before its first header",
                    ));
                }
                return Err(e);
            }
            if h.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            verify_checksum(&h, at)?;
            let kind_byte = h[156];
            let size = number(&h[124..136], "size", at)?;
            match kind_byte {
                b'L' | b'K' | b'x' | b'g' => {
                    if size > MAX_META {
                        return Err(Error::failed(format!(
                            "archive entry at byte {at} has {size} bytes of metadata (the limit is {MAX_META})"
                        )));
                    }
                    let mut data = vec![0u8; size as usize];
                    self.fill(&mut data)?;
                    self.skip(padding(size))?;
                    match kind_byte {
                        b'L' => long_name = Some(cstr(&data).to_vec()),
                        b'K' => long_link = Some(cstr(&data).to_vec()),
                        b'x' => pax.extend(parse_pax(&data, at)?),
                        _ => {} // global PAX headers carry nothing nsk applies
                    }
                    continue;
                }
                _ => {}
            }
            let mut e = Entry {
                path: header_path(&h),
                link: cstr(&h[157..257]).to_vec(),
                kind: match kind_byte {
                    b'0' | 0 | b'7' => Kind::File,
                    b'1' => Kind::Hardlink,
                    b'2' => Kind::Symlink,
                    b'3' => Kind::Char,
                    b'4' => Kind::Block,
                    b'5' => Kind::Dir,
                    b'6' => Kind::Fifo,
                    k => Kind::Other(k),
                },
                mode: (number(&h[100..108], "mode", at)? & 0o7777) as u32,
                uid: number(&h[108..116], "uid", at)?,
                gid: number(&h[116..124], "gid", at)?,
                mtime: number(&h[136..148], "mtime", at)?.min(i64::MAX as u64) as i64,
                size,
                dev_major: 0,
                dev_minor: 0,
                xattrs: vec![],
            };
            if matches!(e.kind, Kind::Char | Kind::Block) {
                e.dev_major = u32::try_from(number(&h[329..337], "devmajor", at)?)
                    .map_err(|_| bad_header(at, "devmajor"))?;
                e.dev_minor = u32::try_from(number(&h[337..345], "devminor", at)?)
                    .map_err(|_| bad_header(at, "devminor"))?;
            }
            if let Some(n) = long_name.take() {
                e.path = n;
            }
            if let Some(l) = long_link.take() {
                e.link = l;
            }
            for (k, v) in pax.drain(..) {
                let num = || -> Result<u64> {
                    let s = std::str::from_utf8(&v).unwrap_or("");
                    // mtime may carry a fraction: keep the seconds.
                    s.split('.')
                        .next()
                        .unwrap_or("")
                        .parse()
                        .map_err(|_| bad_header(at, "PAX number"))
                };
                match k.as_slice() {
                    b"path" => e.path = v,
                    b"linkpath" => e.link = v,
                    b"size" => e.size = num()?,
                    b"uid" => e.uid = num()?,
                    b"gid" => e.gid = num()?,
                    b"mtime" => e.mtime = num()?.min(i64::MAX as u64) as i64,
                    _ => {
                        if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                            e.xattrs.push((name.to_vec(), v));
                        }
                    }
                }
            }
            if e.kind == Kind::File && e.path.ends_with(b"/") {
                e.kind = Kind::Dir;
            }
            if e.path.len() > MAX_PATH || e.link.len() > MAX_PATH {
                return Err(Error::failed(format!(
                    "archive entry at byte {at} has a name longer than {MAX_PATH} bytes"
                )));
            }
            // Links, directories and devices carry no data, whatever the size field says.
            let has_data = matches!(e.kind, Kind::File | Kind::Other(_));
            if !has_data {
                e.size = 0;
            }
            self.left = if has_data { e.size } else { 0 };
            self.pad = if has_data { padding(e.size) } else { 0 };
            return Ok(Some(e));
        }
    }
}

impl<R: Read> Read for Reader<R> {
    /// Read the current entry's data.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let k = (buf.len() as u64).min(self.left) as usize;
        let n = self.r.read(&mut buf[..k])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "truncated archive: it ends in the middle of an entry",
            ));
        }
        self.left -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }
}

fn read_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return truncated();
    }
    Error::Io {
        what: "cannot read archive".into(),
        source: e,
    }
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn bad_header(at: u64, field: &str) -> Error {
    Error::failed(format!(
        "not a tar archive, or a damaged one: bad {field} in the header at byte {at}"
    ))
}

fn verify_checksum(h: &[u8; 512], at: u64) -> Result<()> {
    let want = number(&h[148..156], "checksum", at)?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if want == unsigned || want as i64 == signed {
        Ok(())
    } else {
        Err(bad_header(at, "checksum"))
    }
}

/// The bytes before the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn header_path(h: &[u8; 512]) -> Vec<u8> {
    let name = cstr(&h[0..100]);
    // POSIX ustar ("ustar\0") splits long names into prefix + name; GNU tar ("ustar  ") uses
    // that area for other fields.
    if &h[257..263] == b"ustar\0" {
        let prefix = cstr(&h[345..500]);
        if !prefix.is_empty() {
            let mut p = prefix.to_vec();
            p.push(b'/');
            p.extend_from_slice(name);
            return p;
        }
    }
    name.to_vec()
}

/// An octal field, or GNU's base-256 form (first byte 0x80) for large values.
fn number(f: &[u8], field: &str, at: u64) -> Result<u64> {
    if let Some(&first) = f.first() {
        if first & 0x80 != 0 {
            if first == 0xff {
                return Err(bad_header(at, field)); // negative
            }
            let mut v: u64 = u64::from(first & 0x7f);
            for &b in &f[1..] {
                v = v
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or_else(|| bad_header(at, field))?;
            }
            return Ok(v);
        }
    }
    let s = cstr(f);
    let s: Vec<u8> = s.iter().copied().filter(|c| *c != b' ').collect::<Vec<_>>();
    if s.is_empty() {
        return Ok(0);
    }
    let mut v: u64 = 0;
    for c in s {
        if !(b'0'..=b'7').contains(&c) {
            return Err(bad_header(at, field));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(|| bad_header(at, field))?;
    }
    Ok(v)
}

/// PAX records: "LEN KEY=VALUE\n", LEN counting the whole record.
fn parse_pax(mut d: &[u8], at: u64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = vec![];
    while !d.is_empty() {
        let sp = d
            .iter()
            .position(|&c| c == b' ')
            .ok_or_else(|| bad_header(at, "PAX record"))?;
        let len: usize = std::str::from_utf8(&d[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_header(at, "PAX record"))?;
        if len <= sp + 1 || len > d.len() || d[len - 1] != b'\n' {
            return Err(bad_header(at, "PAX record"));
        }
        let rec = &d[sp + 1..len - 1];
        let eq = rec
            .iter()
            .position(|&c| c == b'=')
            .ok_or_else(|| bad_header(at, "PAX record"))?;
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        d = &d[len..];
    }
    Ok(out)
}

/// The components of an entry name: a leading `/` and `./`, empty and `.` components dropped.
/// None when a component is `..`: the caller refuses the entry (an image, a cp stream).
pub fn name_components(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut v = vec![];
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => v.push(c),
        }
    }
    Some(v)
}

/// Build tar archives (for tests and fixtures): ustar headers, PAX records when a name is long.
#[cfg(test)]
pub mod build {
    pub fn header(path: &str, kind: u8, size: u64, mode: u32, link: &str) -> Vec<u8> {
        let mut h = [0u8; 512];
        let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
        put(&mut h, 0, path.as_bytes());
        put(&mut h, 100, format!("{mode:07o}\0").as_bytes());
        put(&mut h, 108, b"0000000\0");
        put(&mut h, 116, b"0000000\0");
        put(&mut h, 124, format!("{size:011o}\0").as_bytes());
        put(&mut h, 136, b"00000000000\0");
        h[156] = kind;
        put(&mut h, 157, link.as_bytes());
        put(&mut h, 257, b"ustar\x0000");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
        h.to_vec()
    }

    pub fn entry(out: &mut Vec<u8>, path: &str, kind: u8, data: &[u8], link: &str) {
        if path.len() > 99 {
            let rec = |k: &str, v: &str| {
                let body = format!(" {k}={v}\n");
                let mut n = body.len() + 1;
                while format!("{n}{body}").len() != n {
                    n += 1;
                }
                format!("{n}{body}")
            };
            let pax = rec("path", path);
            out.extend(header("PaxHeader", b'x', pax.len() as u64, 0o644, ""));
            out.extend(pax.as_bytes());
            out.resize(out.len().next_multiple_of(512), 0);
        }
        let short = &path[..path.len().min(99)];
        out.extend(header(short, kind, data.len() as u64, 0o755, link));
        out.extend(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::build::entry;
    use super::*;

    fn all(data: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>> {
        let mut r = Reader::new(data);
        let mut v = vec![];
        while let Some(e) = r.next_entry()? {
            let mut body = vec![];
            r.read_to_end(&mut body).map_err(read_error)?;
            v.push((e, body));
        }
        Ok(v)
    }

    #[test]
    fn reads_files_links_and_long_names() {
        let mut t = vec![];
        entry(&mut t, "etc/", b'5', b"", "");
        entry(&mut t, "etc/hostname", b'0', b"box\n", "");
        entry(&mut t, "bin/sh", b'2', b"", "busybox");
        let long = format!("d/{}", "x".repeat(150));
        entry(&mut t, &long, b'0', b"long", "");
        t.extend([0u8; 1024]);
        let v = all(&t).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0].0.kind, Kind::Dir);
        assert_eq!(v[1].0.path, b"etc/hostname");
        assert_eq!(v[1].1, b"box\n");
        assert_eq!(v[2].0.kind, Kind::Symlink);
        assert_eq!(v[2].0.link, b"busybox");
        assert_eq!(v[3].0.path, long.as_bytes());
        assert_eq!(v[3].1, b"long");
    }

    #[test]
    fn truncation_and_damage_are_errors() {
        let mut t = vec![];
        entry(&mut t, "a", b'0', &[7u8; 2000], "");
        let e = all(&t[..1000]).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut bad = t.clone();
        bad[10] ^= 1;
        let e = all(&bad).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        assert!(all(b"this is not a tar archive at all, just some text")
            .unwrap_err()
            .to_string()
            .contains("not a tar archive"));
    }

    #[test]
    fn oversized_metadata_is_refused() {
        let mut t = build::header("PaxHeader", b'x', MAX_META + 1, 0o644, "");
        t.extend(vec![b'1'; 4096]);
        let e = all(&t).unwrap_err().to_string();
        assert!(e.contains("metadata"), "{e}");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(b"0000644\0", "m", 0).unwrap(), 0o644);
        assert_eq!(number(b"   644 \0", "m", 0).unwrap(), 0o644);
        assert_eq!(
            number(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], "s", 0).unwrap(),
            1 << 32
        );
        assert!(number(b"00009\0", "m", 0).is_err());
        assert!(number(&[0xff; 12], "s", 0).is_err());
    }
}
