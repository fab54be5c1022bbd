//! `nsk enter --tools DIR`: a host directory of tools at /.nsk/tools in a private view of the
//! target's filesystem, for images with no shell. Nothing is written into the container and
//! neither the target nor its other processes see the tools:
//!
//! 1. before joining, the tools directory is cloned as a detached mount (open_tree);
//! 2. inside, the joining process takes a private copy of the target's mount namespace;
//! 3. a new root is built there: an overlay whose lower layer is the target's root and whose
//!    upper layer is a tmpfs (so /.nsk/tools can be created without touching the container),
//!    with clones of the target root's submounts (/proc, /dev, volumes) moved to the same places
//!    and the tools moved to /.nsk/tools;
//! 4. the process chroots into it.
//!
//! Writes to the container's own root filesystem from such a session stay in the session; writes
//! to volumes, /dev and the like reach the real ones.

use crate::error::{Context, Error, Result};
use crate::sys;
use nix::mount::MsFlags;
use std::os::fd::{AsRawFd, OwnedFd};

pub const MOUNT_POINT: &str = ".nsk/tools";

/// The tools directory as a detached, read-only, nodev clone (taken on the host side).
pub fn clone_tools(dir: &std::path::Path) -> Result<OwnedFd> {
    if !dir.is_dir() {
        return Err(Error::invalid(format!(
            "invalid --tools {}: not a directory",
            dir.display()
        )));
    }
    let t = sys::open_tree_clone(dir, true).ctx(|| format!("cannot clone {}", dir.display()))?;
    sys::mount_setattr(&t, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NODEV)
        .ctx(|| "cannot make the tools read-only")?;
    Ok(t)
}

/// Mount points directly below the root of `mountinfo` whose parent is the root mount, relative
/// to `root` (the root's path in that mountinfo).
pub fn child_mounts(mountinfo: &str, root: &str) -> Vec<String> {
    let mut root_id = None;
    let mut entries = vec![];
    for l in mountinfo.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let mp = f[4];
        if mp == root {
            root_id = Some(f[0].to_string()); // the last mount at the root is the visible one
        }
        entries.push((f[0].to_string(), f[1].to_string(), mp.to_string()));
    }
    let Some(rid) = root_id else { return vec![] };
    let prefix = if root == "/" {
        "/".to_string()
    } else {
        format!("{root}/")
    };
    let mut v: Vec<String> = entries
        .into_iter()
        .filter(|(id, parent, mp)| *parent == rid && *id != rid && mp.starts_with(&prefix))
        .map(|(_, _, mp)| mp[prefix.len()..].to_string())
        .filter(|rel| !rel.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// In the joining process, after setns into the target's mount namespace and before chroot:
/// build the private root and chroot into it.
pub fn enter_with_tools(root: &OwnedFd, tools: &OwnedFd) -> Result<()> {
    // Still in the target's own mount namespace: find and clone what is mounted below its root
    // (only mounts of one's own namespace can be cloned).
    let root_path = std::fs::read_link(format!("/proc/self/fd/{}", root.as_raw_fd()))
        .ctx(|| "cannot find the target's root")?
        .to_string_lossy()
        .into_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "cannot read mountinfo")?;
    let mut clones = vec![];
    for rel in child_mounts(&mi, &root_path) {
        match sys::clone_tree_at(root, &rel) {
            Ok(t) => clones.push((rel, t)),
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e).ctx(|| format!("cannot clone the target's /{rel}")),
        }
    }
    // From here on, a private copy: nothing done below reaches the target's namespace.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .ctx(|| "cannot copy the mount namespace")?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "cannot make the copied mount namespace private")?;
    // Overlay layers must be mounts of this namespace: the lower is the target's root as this
    // copy has it, the upper a tmpfs attached over one of the root's own mount points (covering
    // it here is harmless: the new root gets the clones taken above).
    let base = root_path.trim_end_matches('/').to_string();
    let spot = ["dev", "proc", "sys", "tmp"]
        .into_iter()
        .find(|d| std::path::Path::new(&format!("{base}/{d}")).is_dir())
        .ok_or_else(|| {
            Error::failed("the target's root has no /dev, /proc, /sys or /tmp to work under")
        })?;
    let scratch =
        sys::fs_mount_detached("tmpfs", &[("mode", "0755")]).ctx(|| "cannot make a tmpfs")?;
    for d in ["upper", "work"] {
        nix::sys::stat::mkdirat(&scratch, d, nix::sys::stat::Mode::from_bits_truncate(0o755))
            .ctx(|| format!("cannot create {d}"))?;
    }
    let spot_path = format!("{base}/{spot}");
    let spot_fd = nix::fcntl::open(
        spot_path.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("cannot open {spot_path}"))?;
    sys::move_mount(&scratch, &spot_fd).ctx(|| "cannot attach the tmpfs")?;
    let lower = if base.is_empty() {
        "/".to_string()
    } else {
        base.clone()
    };
    let (upper, work) = (format!("{spot_path}/upper"), format!("{spot_path}/work"));
    let top = sys::fs_mount_detached(
        "overlay",
        &[
            ("lowerdir", &lower),
            ("upperdir", &upper),
            ("workdir", &work),
        ],
    )
    .ctx(|| "cannot build the overlay for --tools")?;
    // Attach it where nothing looks (over the target's root in this private namespace); it is
    // used through its fd from now on.
    let at = nix::fcntl::open(
        root_path.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "cannot open the target's root")?;
    sys::move_mount(&top, &at).ctx(|| "cannot attach the overlay")?;
    for (rel, tree) in &clones {
        let at = sys::open_beneath(&top, rel, libc::O_PATH)
            .ctx(|| format!("cannot find /{rel} in the new root"))?;
        sys::move_mount(tree, &at).ctx(|| format!("cannot attach /{rel}"))?;
    }
    for d in [".nsk", MOUNT_POINT] {
        match nix::sys::stat::mkdirat(&top, d, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("cannot create /{d}")),
        }
    }
    let mp =
        sys::open_beneath(&top, MOUNT_POINT, libc::O_PATH).ctx(|| "cannot open /.nsk/tools")?;
    sys::move_mount(tools, &mp).ctx(|| "cannot attach the tools")?;
    nix::unistd::fchdir(&top)
        .and_then(|_| nix::unistd::chroot("."))
        .ctx(|| "cannot enter the new root")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submounts_of_the_root() {
        let mi = "\
20 1 0:50 / / rw - overlay overlay rw
21 20 0:51 / /proc rw - proc proc rw
22 21 0:52 / /proc/sys ro - proc proc rw
23 20 0:53 / /dev rw - tmpfs tmpfs rw
24 23 0:54 / /dev/pts rw - devpts devpts rw
25 20 8:1 /srv /data rw - ext4 /dev/sda rw
";
        assert_eq!(child_mounts(mi, "/"), vec!["data", "dev", "proc"]);
        let mi2 = "\
10 1 8:1 / / rw - ext4 /dev/sda rw
30 10 0:60 / /c rw - overlay overlay rw
31 30 0:61 / /c/proc rw - proc proc rw
";
        assert_eq!(child_mounts(mi2, "/c"), vec!["proc"]);
    }
}
