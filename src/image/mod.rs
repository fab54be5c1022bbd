//! Container images without a daemon or a registry: import a plain root-filesystem tarball, a
//! `docker save` tarball or an OCI image layout into a content-addressed cache under the state
//! root, verified against its digests, and hand `nsk run` a read-only root filesystem plus the
//! image's run defaults.
//!
//! Cache layout, `<root>/.images/`:
//!   `.lock`                       flock: commits, name changes, removals, and a run's pin
//!   `<sha256-hex>/image.json`     metadata: names, digests, size, times, run defaults
//!   `<sha256-hex>/rootfs/`        the unpacked layers, an overlay lower dir for every container
//!   `.tmp-<hex12>-<pid>-<n>/`     an import in progress, renamed into place when complete
//!
//! Imports unpack without the lock and only take it to commit, so two imports of one image at
//! the same moment both unpack, one commit wins, and the other drops its copy and uses the winner.

pub mod layer;
pub mod source;
pub mod tar;
pub mod unpack;

use crate::clock::now_rfc3339;
use crate::error::{Context, Error, Result};
use crate::notice::{Notice, Notify};
use crate::secure::write_json;
use layer::Compression;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use source::{Defaults, Plan, Select};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// "sha256:HEX" of the config (docker, OCI) or of the tarball (plain root filesystem).
    pub id: String,
    /// The manifest's digest (OCI).
    pub digest: Option<String>,
    pub names: Vec<String>,
    /// Bytes of file data unpacked.
    pub size: u64,
    /// The image's own creation time, from its config.
    pub created: Option<String>,
    pub imported: String,
    pub last_used: Option<String>,
    /// rootfs, docker-archive or oci.
    pub format: String,
    pub defaults: Defaults,
}

impl Meta {
    pub fn hex(&self) -> &str {
        self.id.strip_prefix("sha256:").unwrap_or(&self.id)
    }

    /// The first 12 hex digits, as docker shows ids.
    pub fn short(&self) -> &str {
        self.hex().get(..12).unwrap_or(self.hex())
    }
}

/// A digest as lowercase hex digits.
pub fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[usize::from(x >> 4)] as char);
        s.push(D[usize::from(x & 15)] as char);
    }
    s
}

/// Image names are `NAME[:TAG]` (docker's reference form, `latest` when no tag is given).
pub fn normalize_name(s: &str) -> Result<String> {
    let (name, tag) = match s.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (s, "latest"),
    };
    let ok_name = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    let ok_tag = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok_name && ok_tag {
        Ok(format!("{name}:{tag}"))
    } else {
        Err(Error::invalid(format!(
            "invalid image name '{s}': use NAME[:TAG] with letters, digits, '.', '_', '-', '/' (example: debug-tools:1.2)"
        )))
    }
}

/// Docker Hub names the way people type them: `docker.io/library/busybox` → `busybox`.
fn familiar(n: &str) -> &str {
    n.strip_prefix("docker.io/library/")
        .or_else(|| n.strip_prefix("docker.io/"))
        .unwrap_or(n)
}

pub struct Cache {
    pub dir: PathBuf,
}

/// Held by `nsk run` from resolving its image until its state file names that image, so
/// `nsk image rm` cannot remove an image a container is about to use.
pub struct Pin {
    _lock: Flock<fs::File>,
}

struct Staging {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            remove_tree(&self.dir);
        }
    }
}

fn remove_tree(d: &Path) {
    crate::secure::open_up_dirs(d);
    let _ = fs::remove_dir_all(d);
}

impl Cache {
    pub fn new(state_root: &Path) -> Cache {
        Cache {
            dir: state_root.join(".images"),
        }
    }

    /// Create (0700, whatever the umask) and check the cache directory and the state root.
    fn ensure(&self) -> Result<()> {
        if let Some(root) = self.dir.parent() {
            crate::secure::ensure_root(root)?;
        }
        crate::secure::mkdir_path(&self.dir, crate::secure::DIR_MODE)
            .map_err(|e| e.context("cannot create the image cache"))?;
        crate::secure::open_path(&self.dir, crate::secure::Kind::Dir)?;
        Ok(())
    }

    fn lock(&self) -> Result<Flock<fs::File>> {
        self.ensure()?;
        let p = self.dir.join(".lock");
        let f = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&p)
                .ctx(|| format!("cannot open {}", p.display()))?
        };
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Os {
            what: format!("cannot lock {}", p.display()),
            errno: e,
        })
    }

    fn entry(&self, hex: &str) -> PathBuf {
        self.dir.join(hex)
    }

    /// An entry's metadata; None when missing or not describing the entry it sits in.
    fn load(&self, hex: &str) -> Option<Meta> {
        // Checked like every state file: no symlink, nsk's owner, not writable by others.
        let m: Meta = crate::secure::read_json(&self.entry(hex).join("image.json")).ok()??;
        (m.hex() == hex).then_some(m)
    }

    fn save(&self, dir: &Path, m: &Meta) -> Result<()> {
        write_json(&dir.join("image.json"), m)
    }

    /// Remove what killed imports and removals left: `.tmp-*-PID-*` of processes that are gone.
    fn sweep(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".tmp-") else {
                continue;
            };
            // ".tmp-HEX12-PID-N" (an import) or ".tmp-rm-HEX12-PID" (a removal).
            let parts: Vec<&str> = rest.split('-').collect();
            let field = if parts.first() == Some(&"rm") { 2 } else { 1 };
            let pid = parts
                .get(field)
                .and_then(|p| p.parse::<i32>().ok())
                .filter(|p| *p > 0);
            let Some(pid) = pid else { continue };
            let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH);
            if gone {
                remove_tree(&e.path());
            }
        }
    }

    /// Every cached image, newest import first.
    pub fn list(&self) -> Result<Vec<Meta>> {
        // The cache is nsk's own, as the state root is: checked before anything in it is read.
        match crate::secure::open_path(&self.dir, crate::secure::Kind::Dir) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => return Ok(vec![]),
            Err(e) => return Err(e.context("image cache")),
        }
        let rd = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(vec![]),
            Err(e) => return Err(e).ctx(|| format!("cannot read {}", self.dir.display())),
        };
        let mut v: Vec<Meta> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .filter_map(|n| self.load(&n))
            .collect();
        v.sort_by(|a, b| b.imported.cmp(&a.imported).then(a.id.cmp(&b.id)));
        Ok(v)
    }

    /// Find a cached image by NAME[:TAG], id or digest (or a unique prefix of 4+ hex digits).
    pub fn find(&self, what: &str) -> Result<Meta> {
        let all = self.list()?;
        if let Ok(n) = normalize_name(what) {
            if let Some(m) = all.iter().find(|m| m.names.contains(&n)) {
                return Ok(m.clone());
            }
        }
        let hex = what
            .strip_prefix("sha256:")
            .unwrap_or(what)
            .to_ascii_lowercase();
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Meta> = all
                .iter()
                .filter(|m| {
                    m.hex().starts_with(&hex)
                        || m.digest
                            .as_deref()
                            .and_then(|d| d.strip_prefix("sha256:"))
                            .is_some_and(|d| d.starts_with(&hex))
                })
                .collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "image '{what}' is ambiguous: {} images match; give more digits",
                        hits.len()
                    )))
                }
            }
        }
        Err(Error::NotFound(format!(
            "no such image: {what} (see nsk image ls)"
        )))
    }

    /// Give `names` to image `hex`, taking them from any other image (as docker moves tags).
    fn set_names(&self, hex: &str, names: &[String]) -> Result<()> {
        for mut other in self.list()? {
            if other.hex() != hex && other.names.iter().any(|n| names.contains(n)) {
                other.names.retain(|n| !names.contains(n));
                self.save(&self.entry(other.hex()), &other)?;
            }
        }
        if let Some(mut m) = self.load(hex) {
            for n in names {
                if !m.names.contains(n) {
                    m.names.push(n.clone());
                }
            }
            self.save(&self.entry(hex), &m)?;
        }
        Ok(())
    }

    /// Remove an image, refused while a container uses it (`users` names the containers that
    /// use an image id; it is asked under the cache's lock, which `nsk run` holds from resolving
    /// its image until its state file names it). A NAME[:TAG] of an image that has other names
    /// removes that name only (docker's untag); an id, a digest or its last name removes the
    /// image.
    pub fn remove(
        &self,
        what: &str,
        users: impl FnOnce(&str) -> Result<Vec<String>>,
    ) -> Result<Removed> {
        let m = self.find(what)?;
        let _lock = self.lock()?;
        if let Ok(n) = normalize_name(what) {
            if m.names.contains(&n) && m.names.len() > 1 {
                let mut m2 = self
                    .load(m.hex())
                    .ok_or_else(|| Error::failed(format!("image {what} was removed meanwhile")))?;
                m2.names.retain(|x| *x != n);
                self.save(&self.entry(m.hex()), &m2)?;
                return Ok(Removed::Untagged(n));
            }
        }
        let users = users(&m.id)?;
        if !users.is_empty() {
            return Err(Error::failed(format!(
                "cannot remove image {}: used by container{} {} (remove {} first with nsk rm)",
                display_name(&m),
                if users.len() > 1 { "s" } else { "" },
                users.join(", "),
                if users.len() > 1 { "them" } else { "it" },
            )));
        }
        let gone = self
            .dir
            .join(format!(".tmp-rm-{}-{}", m.short(), std::process::id()));
        fs::rename(self.entry(m.hex()), &gone)
            .ctx(|| format!("cannot remove {}", self.entry(m.hex()).display()))?;
        remove_tree(&gone);
        Ok(Removed::Image(Box::new(m)))
    }
}

/// What `image rm` removed.
pub enum Removed {
    /// One name of an image that keeps its others.
    Untagged(String),
    Image(Box<Meta>),
}

pub fn display_name(m: &Meta) -> String {
    m.names
        .first()
        .cloned()
        .unwrap_or_else(|| m.short().to_string())
}

/// Import an image file or directory (`FILE`, `FILE:TAG`, `FILE@sha256:HEX`).
/// Progress and what could not be kept go to `notify`.
pub fn import(
    state_root: &Path,
    path: &Path,
    sel: &Select,
    name: Option<&str>,
    notify: &mut Notify,
) -> Result<Meta> {
    let label = path.display().to_string();
    let name = name.map(normalize_name).transpose()?;
    let plan = source::plan(path, sel).map_err(|e| e.context(format!("cannot import {label}")))?;
    let cache = Cache::new(state_root);
    let mut names: Vec<String> = match &name {
        Some(n) => vec![n.clone()],
        None => plan
            .names
            .iter()
            .filter_map(|n| normalize_name(familiar(n)).ok())
            .collect(),
    };
    if names.is_empty() && plan.format == "rootfs" {
        names.push(format!("{}:latest", source::stem(path)));
    }
    if cache.load(&plan.id).is_none() {
        unpack_plan(&cache, &plan, &names, notify)
            .map_err(|e| e.context(format!("cannot import {label}")))?;
    }
    let _lock = cache.lock()?;
    if !names.is_empty() {
        cache.set_names(&plan.id, &names)?;
    }
    cache.load(&plan.id).ok_or_else(|| {
        Error::failed(format!(
            "cannot import {label}: the image was removed meanwhile"
        ))
    })
}

fn unpack_plan(cache: &Cache, plan: &Plan, names: &[String], notify: &mut Notify) -> Result<()> {
    // Every blob is checked before anything is written.
    let n = plan.layers.len();
    for l in &plan.layers {
        if let Some(d) = &l.digest {
            if l.size.is_some() || plan.format != "rootfs" {
                l.blob.verify(d, l.size)?;
            }
        }
        // An uncompressed layer's diff_id is the digest of the blob itself.
        if let (Some(diff), None) = (&l.diff_id, Compression::detect(&l.blob.head())) {
            if l.digest.as_deref() != Some(diff.as_str()) {
                l.blob.verify(diff, None)?;
            }
        }
    }
    cache.ensure()?;
    cache.sweep();
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut staging = Staging {
        dir: cache.dir.join(format!(
            ".tmp-{}-{}-{}",
            &plan.id[..12],
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        )),
        keep: false,
    };
    crate::secure::mkdir_path(&staging.dir, crate::secure::DIR_MODE)?;
    let rootfs = staging.dir.join("rootfs");
    crate::secure::mkdir_path(&rootfs, 0o755)?;
    let mut u = unpack::Unpacker::new(&rootfs, unpack::Bounds::default())?;
    for (i, l) in plan.layers.iter().enumerate() {
        let what = format!("layer {}/{n}", i + 1);
        apply_layer(&mut u, l, &what, notify).map_err(|e| e.context(&what))?;
    }
    notify(Notice::ProgressDone);
    if u.stats.skipped_devices > 0 {
        notify(Notice::Skipped(format!(
            "{} device node(s) in the image not created: nsk is not running as real root",
            u.stats.skipped_devices
        )));
    }
    if u.stats.refused_xattrs > 0 {
        notify(Notice::Skipped(format!(
            "{} extended attribute(s) in the image not kept: the filesystem of {} refused them ({})",
            u.stats.refused_xattrs,
            cache.dir.display(),
            u.stats
                .xattr_error
                .map_or_else(|| "unknown error".into(), |e| e.desc().to_lowercase())
        )));
    }
    let meta = Meta {
        id: format!("sha256:{}", plan.id),
        digest: plan.digest.clone(),
        names: names.to_vec(),
        size: u.stats.bytes,
        created: plan.created.clone(),
        imported: now_rfc3339(),
        last_used: None,
        format: plan.format.to_string(),
        defaults: plan.defaults.clone(),
    };
    cache.save(&staging.dir, &meta)?;
    let _lock = cache.lock()?;
    let dest = cache.entry(&plan.id);
    if cache.load(&plan.id).is_some() {
        return Ok(()); // a concurrent import committed first; ours is dropped
    }
    fs::rename(&staging.dir, &dest).ctx(|| format!("cannot commit {}", dest.display()))?;
    staging.keep = true;
    Ok(())
}

/// Decompress (when needed), verify the diff_id, and unpack one layer.
fn apply_layer(
    u: &mut unpack::Unpacker,
    l: &source::Layer,
    what: &str,
    notify: &mut Notify,
) -> Result<()> {
    let reader = l.blob.reader();
    let counter = reader.progress.clone();
    notify(Notice::Unpacking {
        layer: what,
        total: l.blob.size,
    });
    let hash = match Compression::detect(&l.blob.head()) {
        None => {
            // An uncompressed layer's diff_id was checked on the blob before use: read it once.
            u.apply(&mut tar::Reader::new(reader), &mut || {
                notify(Notice::Unpacked {
                    done: counter.load(Ordering::Relaxed),
                })
            })?;
            None
        }
        Some(kind) => {
            let input = std::io::BufReader::with_capacity(1 << 16, reader);
            let z =
                layer::LayerReader::new(input, kind, l.diff_id.is_some(), l.media_type.as_deref())?;
            let mut r = tar::Reader::new(z);
            let applied = u.apply(&mut r, &mut || {
                notify(Notice::Unpacked {
                    done: counter.load(Ordering::Relaxed),
                })
            });
            let mut z = r.into_inner();
            // What follows the tar's end marker is read too: the diff_id covers it, and a
            // damaged end of the stream is an error.
            let drained = match applied {
                Ok(()) => std::io::copy(&mut z, &mut std::io::sink()).map(drop),
                Err(_) => Ok(()),
            };
            // A decoder failure is the real cause of whatever the tar reader then saw.
            if let Some(e) = z.failure() {
                return Err(e);
            }
            applied?;
            drained.ctx(|| format!("cannot read {}", l.blob.name))?;
            z.finish_hex()
        }
    };
    if let (Some(d), Some(hash)) = (&l.diff_id, hash) {
        if *d != hash {
            return Err(Error::failed(format!(
                "refusing the image: {} does not match its diff_id (sha256:{d}, got sha256:{hash})",
                l.blob.name
            )));
        }
    }
    notify(Notice::Unpacked { done: l.blob.size });
    Ok(())
}

/// What `nsk run --image` needs: the read-only root filesystem, the defaults, and a pin.
pub struct ForRun {
    pub meta: Meta,
    pub rootfs: PathBuf,
    pub pin: Pin,
}

/// Resolve `--image ARG` for a run: a file (imported first, or found in the cache by its
/// digest) or a cached NAME[:TAG] / id.
pub fn for_run(state_root: &Path, arg: &str, notify: &mut Notify) -> Result<ForRun> {
    let cache = Cache::new(state_root);
    let meta = match source::parse_arg(arg) {
        Some((path, sel)) => import(state_root, &path, &sel, None, notify)?,
        None => cache.find(arg).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!(
                "no such image: {arg} (neither a file nor a cached image; see nsk image ls)"
            )),
            e => e,
        })?,
    };
    let lock = cache.lock()?;
    let Some(mut m) = cache.load(meta.hex()) else {
        return Err(Error::failed(format!(
            "image {} was removed meanwhile",
            display_name(&meta)
        )));
    };
    m.last_used = Some(now_rfc3339());
    cache.save(&cache.entry(m.hex()), &m)?;
    Ok(ForRun {
        rootfs: cache.entry(m.hex()).join("rootfs"),
        meta: m,
        pin: Pin { _lock: lock },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(normalize_name("busybox").unwrap(), "busybox:latest");
        assert_eq!(
            normalize_name("reg:5000/a/b:1.2").unwrap(),
            "reg:5000/a/b:1.2"
        );
        assert_eq!(
            normalize_name("reg:5000/a/b").unwrap(),
            "reg:5000/a/b:latest"
        );
        for bad in ["", ":x", "a:", "-a", "a b", "a:b:c/d e"] {
            assert!(normalize_name(bad).is_err(), "{bad}");
        }
        assert_eq!(familiar("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(familiar("docker.io/me/tools:1"), "me/tools:1");
        assert_eq!(familiar("quay.io/x:1"), "quay.io/x:1");
        assert_eq!(hex(&[0, 0xab, 0x7f]), "00ab7f");
    }
}
