//! The journal of `nsk limit`: per set of cgroups, the values nsk replaced (from before its
//! first change) and what it last wrote, kept under the state root so `limit --reset` can put
//! back exactly what was there, and never a value someone else set since.

use super::CgroupSet;
use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The values nsk replaced, per cgroup file, from before its first change, and what it last
/// wrote there (so a reset leaves alone a value someone else set since).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    pub pid: i32,
    /// Absolute file path → original value.
    pub original: BTreeMap<String, String>,
    /// Absolute file path → the value nsk last wrote (as read back). Journals written before
    /// nsk kept it have none: reset then restores every file.
    #[serde(default)]
    pub written: BTreeMap<String, String>,
}

/// Where the journal of a set of cgroups lives under the state root, keyed by its memory (or
/// cgroup2) directory: the same for a container's own set and for what /proc shows of it.
pub fn path(state_root: &Path, set: &CgroupSet) -> PathBuf {
    let key = set
        .dir_for("memory")
        .map(Path::to_path_buf)
        .or_else(|| set.dirs.first().map(|d| d.path.clone()))
        .unwrap_or_default();
    // FNV-1a: stable, and no path characters in the file name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    state_root.join(".limits").join(format!("{h:016x}.json"))
}

/// The only files a journal may name: those `limit` changes.
pub const FILES: &[&str] = &[
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "cpu.max",
    "cpu.weight",
    "cpu.shares",
    "cpu.cfs_period_us",
    "cpu.cfs_quota_us",
    "cpuset.cpus",
    "pids.max",
    "io.weight",
    "blkio.weight",
    "cgroup.freeze",
    "freezer.state",
];

/// Serialize every change and reset of one target: an flock on its key cgroup directory (the
/// one its journal is keyed by), so the values read as "before", the journal and the writes of
/// one nsk never interleave with another's.
pub fn lock(set: &CgroupSet) -> Result<nix::fcntl::Flock<fs::File>> {
    let d = set
        .dir_for("memory")
        .or_else(|| set.dirs.first().map(|d| d.path.as_path()))
        .ok_or_else(|| Error::failed("the target has no cgroup directory"))?;
    let f = fs::File::open(d).ctx(|| format!("cannot open {}", d.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| Error::Os {
        what: format!("cannot lock {}", d.display()),
        errno: e,
    })
}

/// Remove a journal. The journal directory stays: removing it once empty would race with
/// another nsk that has just made sure it exists and is about to write its own journal there.
pub fn forget(p: &Path) {
    let _ = fs::remove_file(p);
}

/// A journal, read with the checks of every state file (no symlink, nsk's owner, not writable
/// by others). None when there is none; an error when one is there but cannot be trusted.
pub fn load(p: &Path) -> Result<Option<Journal>> {
    crate::secure::read_json(p)
}

pub fn save(p: &Path, j: &Journal) -> Result<()> {
    if let Some(d) = p.parent() {
        if let Some(root) = d.parent() {
            crate::secure::ensure_root(root)?;
        }
        crate::secure::mkdir_path(d, crate::secure::DIR_MODE)?;
        crate::secure::sweep_temps(d);
    }
    crate::secure::write_json(p, j)
}
