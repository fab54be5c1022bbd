//! Where an image comes from: a plain root-filesystem tarball, a `docker save` tarball, or an OCI
//! image layout (a directory or a tarball of one). This reads the JSON documents, picks the
//! manifest, and names every layer blob with the digests it must match. Blobs inside a tarball
//! are read in place (offset and size), never copied out first.

use super::tar::{self, Kind};
use crate::error::{Context, Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The largest JSON document (manifest, index, config) read from an image.
const MAX_JSON: u64 = 8 << 20;

/// A byte range of a file.
#[derive(Clone)]
pub struct Blob {
    file: Arc<File>,
    offset: u64,
    pub size: u64,
    /// For messages: the member or file name.
    pub name: String,
}

pub struct BlobReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
    /// Bytes read so far, for a progress bar.
    pub progress: Arc<AtomicU64>,
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = (buf.len() as u64).min(self.end - self.pos) as usize;
        if k == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..k], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than its archive says",
            ));
        }
        self.pos += n as u64;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl tar::Input for BlobReader {
    fn skip_bytes(&mut self, n: u64) -> std::io::Result<()> {
        if n > self.end - self.pos {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n;
        self.progress.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

impl Blob {
    pub fn whole(path: &Path) -> Result<Blob> {
        let f = File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
        let size = f
            .metadata()
            .ctx(|| format!("cannot read {}", path.display()))?
            .len();
        Ok(Blob {
            file: Arc::new(f),
            offset: 0,
            size,
            name: path.display().to_string(),
        })
    }

    pub fn reader(&self) -> BlobReader {
        BlobReader {
            file: self.file.clone(),
            pos: self.offset,
            end: self.offset + self.size,
            progress: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The first bytes (for the compression magic).
    pub fn head(&self) -> Vec<u8> {
        let mut b = vec![0u8; self.size.min(8) as usize];
        let n = self.file.read_at(&mut b, self.offset).unwrap_or(0);
        b.truncate(n);
        b
    }

    pub fn sha256(&self) -> Result<String> {
        let mut r = self.reader();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = r
                .read(&mut buf)
                .ctx(|| format!("cannot read {}", self.name))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(super::hex(&h.finalize()))
    }

    /// Check the size and sha256 digest; a mismatch is an error naming the blob.
    pub fn verify(&self, hex: &str, size: Option<u64>) -> Result<()> {
        if let Some(s) = size {
            if s != self.size {
                return Err(Error::failed(format!(
                    "refusing the image: {} is {} bytes, its descriptor says {s}",
                    self.name, self.size
                )));
            }
        }
        let got = self.sha256()?;
        if got != hex {
            return Err(Error::failed(format!(
                "refusing the image: {} does not match its digest (sha256:{hex}, got sha256:{got})",
                self.name
            )));
        }
        Ok(())
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        if self.size > MAX_JSON {
            return Err(Error::failed(format!(
                "refusing the image: {} is {} bytes, more than a JSON document may be",
                self.name, self.size
            )));
        }
        let mut v = vec![];
        self.reader()
            .read_to_end(&mut v)
            .ctx(|| format!("cannot read {}", self.name))?;
        serde_json::from_slice(&v)
            .map_err(|e| Error::failed(format!("invalid image: {}: {e}", self.name)))
    }
}

/// Which image of a multi-image archive: `FILE:TAG` or `FILE@sha256:HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    Any,
    Tag(String),
    Digest(String),
}

/// Split an `--image` argument into an existing path and a selector; None when no prefix of
/// it is a path (then it names a cached image).
pub fn parse_arg(arg: &str) -> Option<(PathBuf, Select)> {
    if Path::new(arg).exists() {
        return Some((arg.into(), Select::Any));
    }
    if let Some((p, d)) = arg.rsplit_once("@sha256:") {
        if Path::new(p).exists() {
            return Some((p.into(), Select::Digest(d.to_ascii_lowercase())));
        }
    }
    if let Some((p, t)) = arg.rsplit_once(':') {
        if !t.contains('/') && !t.is_empty() && Path::new(p).exists() {
            return Some((p.into(), Select::Tag(t.to_string())));
        }
    }
    None
}

pub struct Layer {
    pub blob: Blob,
    /// sha256 of the blob as stored (OCI: the descriptor's digest).
    pub digest: Option<String>,
    pub size: Option<u64>,
    /// sha256 of the uncompressed layer tar (the config's rootfs.diff_ids).
    pub diff_id: Option<String>,
    /// The descriptor's media type (OCI), for messages.
    pub media_type: Option<String>,
}

/// Run defaults from the image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(default)]
pub struct Defaults {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
}

pub struct Plan {
    /// Content address: sha256 hex of the config (docker, OCI) or of the file (plain tarball).
    pub id: String,
    /// The manifest's digest, for OCI images.
    pub digest: Option<String>,
    pub names: Vec<String>,
    pub layers: Vec<Layer>,
    pub defaults: Defaults,
    pub created: Option<String>,
    pub format: &'static str,
}

// The JSON documents, only the fields nsk uses.

#[derive(Debug, Clone, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: Option<u64>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ImageConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<ConfigBody>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

impl ImageConfig {
    /// The uncompressed digests of the layers, bottom first (none listed: empty).
    fn diff_ids(&self) -> Vec<String> {
        self.rootfs
            .as_ref()
            .map(|r| r.diff_ids.clone())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct ConfigBody {
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
    hostname: Option<String>,
}

#[derive(Deserialize, Default)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// "sha256:HEX" → HEX, refusing other algorithms and malformed digests.
pub fn sha256_hex(d: &str) -> Result<String> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(Error::failed(format!(
            "unsupported digest '{d}' (nsk verifies sha256 digests)"
        ))),
    }
}

/// The image's files: a directory (OCI layout) or the members of a tarball.
enum Files {
    Dir(PathBuf),
    Archive {
        file: Arc<File>,
        members: HashMap<String, (u64, u64)>,
        links: HashMap<String, String>,
        label: String,
    },
}

impl Files {
    fn has(&self, name: &str) -> bool {
        match self {
            Files::Dir(d) => d.join(name).exists(),
            Files::Archive { members, links, .. } => {
                members.contains_key(name) || links.contains_key(name)
            }
        }
    }

    fn blob(&self, name: &str) -> Result<Blob> {
        let name = normalize(name).ok_or_else(|| {
            Error::failed(format!("refusing the image: bad file name '{name}' in it"))
        })?;
        match self {
            Files::Dir(d) => {
                let dfd = File::open(d).ctx(|| format!("cannot open {}", d.display()))?;
                let fd = crate::sys::open_beneath(&dfd, &name, libc::O_RDONLY).map_err(|e| {
                    Error::Os {
                        what: format!("invalid image {}: cannot open {name}", d.display()),
                        errno: e,
                    }
                })?;
                let f = File::from(fd);
                let md = f.metadata().ctx(|| format!("cannot read {name}"))?;
                if !md.is_file() {
                    return Err(Error::failed(format!(
                        "invalid image {}: {name} is not a file",
                        d.display()
                    )));
                }
                Ok(Blob {
                    file: Arc::new(f),
                    offset: 0,
                    size: md.len(),
                    name,
                })
            }
            Files::Archive {
                file,
                members,
                links,
                label,
            } => {
                let mut n = name.clone();
                for _ in 0..8 {
                    match links.get(&n) {
                        Some(t) => n = t.clone(),
                        None => break,
                    }
                }
                let (offset, size) = members.get(&n).copied().ok_or_else(|| {
                    Error::failed(format!("invalid image {label}: it has no file {name}"))
                })?;
                Ok(Blob {
                    file: file.clone(),
                    offset,
                    size,
                    name,
                })
            }
        }
    }

    fn oci_blob(&self, digest: &str) -> Result<(Blob, String)> {
        let hex = sha256_hex(digest)?;
        Ok((self.blob(&format!("blobs/sha256/{hex}"))?, hex))
    }
}

/// A member name without `./`, `//` or a trailing `/`; None if it climbs with `..`.
fn normalize(name: &str) -> Option<String> {
    let mut parts = vec![];
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn sniff_compressed(head: &[u8]) -> bool {
    super::Compression::detect(head).is_some()
}

/// Open FILE (a tarball or an OCI layout directory) and plan its import.
pub fn plan(path: &Path, sel: &Select) -> Result<Plan> {
    let md = std::fs::metadata(path).ctx(|| format!("cannot open image {}", path.display()))?;
    if md.is_dir() {
        let files = Files::Dir(path.to_path_buf());
        if !files.has("oci-layout") {
            return Err(Error::invalid(format!(
                "invalid image {}: a directory must be an OCI image layout (it has no oci-layout file)",
                path.display()
            )));
        }
        return plan_oci(&files, sel, path);
    }
    if !md.is_file() {
        // A FIFO, socket or device would block the open or never end.
        return Err(Error::invalid(format!(
            "invalid image {}: not a regular file or an OCI layout directory",
            path.display()
        )));
    }
    let whole = Blob::whole(path)?;
    if !sniff_compressed(&whole.head()) {
        if let Some(files) = scan(&whole, path)? {
            if files.has("oci-layout") && files.has("index.json") {
                return plan_oci(&files, sel, path);
            }
            if files.has("manifest.json") {
                return plan_docker(&files, sel, path);
            }
        }
    }
    // A plain root filesystem: the file itself is the only layer, addressed by its digest.
    let hex = whole.sha256()?;
    if let Select::Digest(d) = sel {
        if *d != hex {
            return Err(Error::failed(format!(
                "refusing the image: {} does not match its digest (sha256:{d}, got sha256:{hex})",
                path.display()
            )));
        }
    } else if let Select::Tag(t) = sel {
        return Err(Error::invalid(format!(
            "invalid image {}:{t}: a plain root filesystem tarball has no tags",
            path.display()
        )));
    }
    Ok(Plan {
        id: hex.clone(),
        digest: None,
        names: vec![],
        layers: vec![Layer {
            blob: whole,
            digest: Some(hex),
            size: None,
            diff_id: None,
            media_type: None,
        }],
        defaults: Defaults::default(),
        created: None,
        format: "rootfs",
    })
}

/// List an uncompressed tarball's members when it looks like an image archive (a top-level
/// manifest.json or oci-layout); None for anything else (a plain root filesystem).
fn scan(whole: &Blob, path: &Path) -> Result<Option<Files>> {
    let mut r = tar::Reader::new(whole.reader());
    let mut members = HashMap::new();
    let mut links = HashMap::new();
    let mut image_like = false;
    loop {
        let e = match r.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            // Not a tar at all: let the plain path report it with the full context.
            Err(_) if !image_like => return Ok(None),
            Err(e) => return Err(e.context(format!("invalid image {}", path.display()))),
        };
        let Some(name) = std::str::from_utf8(&e.path).ok().and_then(normalize) else {
            continue;
        };
        if matches!(name.as_str(), "manifest.json" | "oci-layout") {
            image_like = true;
        }
        // A plain root filesystem is recognized at its first directory: image archives
        // hold only blobs, JSON files and (docker) one directory per layer.
        if !image_like && e.kind == Kind::Dir && matches!(name.as_str(), "etc" | "bin" | "usr") {
            return Ok(None);
        }
        match e.kind {
            Kind::File => {
                members.insert(name, (r.data_offset() + whole.offset, e.size));
            }
            Kind::Symlink | Kind::Hardlink => {
                let target = std::str::from_utf8(&e.link).unwrap_or("");
                let resolved = if e.kind == Kind::Symlink && !target.starts_with('/') {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    normalize_rel(dir, target)
                } else {
                    normalize(target)
                };
                if let Some(t) = resolved {
                    links.insert(name, t);
                }
            }
            _ => {}
        }
    }
    if !image_like {
        return Ok(None);
    }
    Ok(Some(Files::Archive {
        file: whole.file.clone(),
        members,
        links,
        label: path.display().to_string(),
    }))
}

/// `dir/target` with `..` resolved, as long as it stays inside the archive.
fn normalize_rel(dir: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

fn is_index(media_type: &str) -> bool {
    media_type.contains("image.index") || media_type.contains("manifest.list")
}

fn plan_oci(files: &Files, sel: &Select, path: &Path) -> Result<Plan> {
    let index: Index = files.blob("index.json")?.read_json()?;
    let label = path.display();
    let tag_of = |d: &Descriptor| -> Option<String> {
        d.annotations
            .get("org.opencontainers.image.ref.name")
            .cloned()
    };
    let chosen: &Descriptor = match sel {
        Select::Tag(t) => index
            .manifests
            .iter()
            .find(|d| {
                tag_of(d).as_deref() == Some(t.as_str())
                    || d.annotations
                        .get("io.containerd.image.name")
                        .is_some_and(|n| n == t || n.ends_with(&format!(":{t}")))
            })
            .ok_or_else(|| {
                let tags: Vec<String> = index.manifests.iter().filter_map(tag_of).collect();
                Error::failed(format!(
                    "image {label} has no tag '{t}' (tags: {})",
                    if tags.is_empty() {
                        "none".into()
                    } else {
                        tags.join(", ")
                    }
                ))
            })?,
        Select::Digest(h) => index
            .manifests
            .iter()
            .find(|d| d.digest == format!("sha256:{h}"))
            .ok_or_else(|| Error::failed(format!("image {label} has no manifest sha256:{h}")))?,
        Select::Any => pick_platform(&index.manifests, &label.to_string())?,
    };
    let names: Vec<String> = chosen
        .annotations
        .get("io.containerd.image.name")
        .cloned()
        .into_iter()
        .collect();
    let fallback_tag = tag_of(chosen);
    // Follow nested indexes (a multi-platform image inside the layout's index) to a manifest.
    let mut desc_digest = chosen.digest.clone();
    let mut desc_size = chosen.size;
    let mut media = chosen.media_type.clone();
    let mut manifest_blob;
    let mut depth = 0;
    loop {
        let (b, hex) = files.oci_blob(&desc_digest)?;
        b.verify(&hex, desc_size)?;
        manifest_blob = b;
        let is_idx = if media.is_empty() {
            // mediaType is optional in descriptors: look inside.
            let v: serde_json::Value = manifest_blob.read_json()?;
            v.get("manifests").is_some()
        } else {
            is_index(&media)
        };
        if !is_idx {
            break;
        }
        depth += 1;
        if depth > 4 {
            return Err(Error::failed(format!(
                "invalid image {label}: indexes nest too deep"
            )));
        }
        let inner: Index = manifest_blob.read_json()?;
        let d = pick_platform(&inner.manifests, &label.to_string())?;
        desc_digest = d.digest.clone();
        desc_size = d.size;
        media = d.media_type.clone();
    }
    let manifest: Manifest = manifest_blob.read_json()?;
    let (cfg_blob, cfg_hex) = files.oci_blob(&manifest.config.digest)?;
    cfg_blob.verify(&cfg_hex, manifest.config.size)?;
    let config: ImageConfig = cfg_blob.read_json()?;
    let diff_ids = config.diff_ids();
    let mut layers = vec![];
    for (i, l) in manifest.layers.iter().enumerate() {
        if l.media_type.contains("foreign") || l.media_type.contains("nondistributable") {
            continue;
        }
        let (blob, hex) = files.oci_blob(&l.digest)?;
        layers.push(Layer {
            blob,
            digest: Some(hex),
            size: l.size,
            diff_id: diff_ids.get(i).map(|d| sha256_hex(d)).transpose()?,
            media_type: Some(l.media_type.clone()),
        });
    }
    let mut names = names;
    if names.is_empty() {
        if let Some(t) = fallback_tag {
            names.push(if t.contains(':') {
                t
            } else {
                format!("{}:{t}", stem(path))
            });
        }
    }
    Ok(Plan {
        id: cfg_hex,
        digest: Some(desc_digest),
        names,
        layers,
        defaults: defaults(&config),
        created: config.created.clone(),
        format: "oci",
    })
}

/// The manifest for this machine (linux and its architecture) among an index's entries.
fn pick_platform<'a>(m: &'a [Descriptor], label: &str) -> Result<&'a Descriptor> {
    if m.len() == 1 {
        return Ok(&m[0]);
    }
    let want = arch();
    m.iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == want)
        })
        .or_else(|| {
            // Entries without a platform (docker save's index) when exactly one exists.
            let plain: Vec<&Descriptor> = m.iter().filter(|d| d.platform.is_none()).collect();
            (plain.len() == 1).then(|| plain[0])
        })
        .ok_or_else(|| {
            let have: Vec<String> = m
                .iter()
                .map(|d| match &d.platform {
                    Some(p) => format!("{}/{}", p.os, p.architecture),
                    None => d
                        .annotations
                        .get("org.opencontainers.image.ref.name")
                        .cloned()
                        .unwrap_or_else(|| d.digest.clone()),
                })
                .collect();
            Error::failed(format!(
                "image {label} has no linux/{want} manifest; pick one with FILE:TAG or FILE@sha256:DIGEST (it has: {})",
                have.join(", ")
            ))
        })
}

fn plan_docker(files: &Files, sel: &Select, path: &Path) -> Result<Plan> {
    let entries: Vec<DockerEntry> = files.blob("manifest.json")?.read_json()?;
    let label = path.display();
    let tags = |e: &DockerEntry| e.repo_tags.clone().unwrap_or_default();
    if entries.is_empty() {
        return Err(Error::failed(format!(
            "invalid image {label}: its manifest.json lists no image"
        )));
    }
    let entry = match sel {
        Select::Any if entries.len() == 1 => &entries[0],
        Select::Any => {
            let all: Vec<String> = entries.iter().flat_map(tags).collect();
            return Err(Error::failed(format!(
                "image {label} holds {} images; pick one with FILE:TAG (tags: {})",
                entries.len(),
                all.join(", ")
            )));
        }
        Select::Tag(t) => entries
            .iter()
            .find(|e| {
                tags(e)
                    .iter()
                    .any(|x| x == t || x.ends_with(&format!(":{t}")))
            })
            .ok_or_else(|| {
                let all: Vec<String> = entries.iter().flat_map(tags).collect();
                Error::failed(format!(
                    "image {label} has no tag '{t}' (tags: {})",
                    all.join(", ")
                ))
            })?,
        Select::Digest(h) => entries
            .iter()
            .find(|e| e.config.contains(h.as_str()))
            .ok_or_else(|| Error::failed(format!("image {label} has no image sha256:{h}")))?,
    };
    let cfg_blob = files.blob(&entry.config)?;
    // The config's file name is its digest ("HEX.json" or "blobs/sha256/HEX").
    let base = entry.config.rsplit('/').next().unwrap_or("");
    let named = base.strip_suffix(".json").unwrap_or(base);
    let cfg_hex = if named.len() == 64 && named.bytes().all(|b| b.is_ascii_hexdigit()) {
        cfg_blob.verify(named, None)?;
        named.to_string()
    } else {
        cfg_blob.sha256()?
    };
    let config: ImageConfig = cfg_blob.read_json()?;
    let diff_ids = config.diff_ids();
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::failed(format!(
            "invalid image {label}: {} layers, but the config lists {} diff_ids",
            entry.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = vec![];
    for (l, d) in entry.layers.iter().zip(&diff_ids) {
        let blob = files.blob(l)?;
        let digest = l
            .strip_prefix("blobs/sha256/")
            .filter(|h| h.len() == 64)
            .map(str::to_string);
        layers.push(Layer {
            blob,
            digest,
            size: None,
            diff_id: Some(sha256_hex(d)?),
            media_type: None,
        });
    }
    Ok(Plan {
        id: cfg_hex,
        digest: None,
        names: tags(entry),
        layers,
        defaults: defaults(&config),
        created: config.created.clone(),
        format: "docker-archive",
    })
}

fn defaults(c: &ImageConfig) -> Defaults {
    let b = c.config.as_ref();
    let nonempty = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    Defaults {
        env: b.and_then(|b| b.env.clone()).unwrap_or_default(),
        entrypoint: b.and_then(|b| b.entrypoint.clone()).unwrap_or_default(),
        cmd: b.and_then(|b| b.cmd.clone()).unwrap_or_default(),
        workdir: nonempty(b.and_then(|b| b.working_dir.as_ref())),
        user: nonempty(b.and_then(|b| b.user.as_ref())),
        hostname: nonempty(b.and_then(|b| b.hostname.as_ref())),
    }
}

/// A default image name from a file name: `debug-tools.tar.gz` → `debug-tools`.
pub fn stem(path: &Path) -> String {
    let f = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = f.as_str();
    for ext in [".gz", ".zst", ".xz", ".bz2", ".tgz", ".tar"] {
        s = s.strip_suffix(ext).unwrap_or(s);
    }
    let clean: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if clean.is_empty() {
        "image".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_this_machines_platform() {
        let idx: Index = serde_json::from_str(&format!(
            r#"{{"manifests": [
                {{"digest": "sha256:a", "platform": {{"os": "linux", "architecture": "s390x"}}}},
                {{"digest": "sha256:b", "platform": {{"os": "linux", "architecture": "{}"}}}},
                {{"digest": "sha256:c", "platform": {{"os": "unknown", "architecture": "unknown"}}}}
            ]}}"#,
            arch()
        ))
        .unwrap();
        assert_eq!(
            pick_platform(&idx.manifests, "x").unwrap().digest,
            "sha256:b"
        );
        let others = vec![idx.manifests[0].clone(), idx.manifests[2].clone()];
        let e = pick_platform(&others, "img").unwrap_err().to_string();
        assert!(e.contains("no linux/") && e.contains("linux/s390x"), "{e}");
    }

    #[test]
    fn names_and_args() {
        assert_eq!(normalize("./a//b/"), Some("a/b".into()));
        assert_eq!(normalize("../a"), None);
        assert_eq!(
            normalize_rel("x/y", "../z/layer.tar"),
            Some("x/z/layer.tar".into())
        );
        assert_eq!(normalize_rel("", "../../etc"), None);
        assert_eq!(stem(Path::new("/tmp/Debug Tools.tar.gz")), "debug-tools");
        assert_eq!(stem(Path::new("x.tgz")), "x");
        assert!(sha256_hex("md5:abc").is_err());
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("img.tar");
        std::fs::write(&f, b"").unwrap();
        let s = f.display().to_string();
        assert_eq!(parse_arg(&s), Some((f.clone(), Select::Any)));
        assert_eq!(
            parse_arg(&format!("{s}:v1")),
            Some((f.clone(), Select::Tag("v1".into())))
        );
        let d = "a".repeat(64);
        assert_eq!(
            parse_arg(&format!("{s}@sha256:{d}")),
            Some((f, Select::Digest(d)))
        );
        assert_eq!(parse_arg("busybox:latest"), None);
    }
}
