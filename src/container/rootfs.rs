//! The container's filesystem, built inside its own mount namespace by its init: an overlay over
//! the root filesystem (never written), pivot_root, /proc, /sys, /dev, volumes and masked paths.
//! Nothing here is visible on the host: propagation is private from the first step.

use super::config::{Config, Volume};
use crate::error::{Context, Error, Result};
use crate::sys;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fstatat, mknod, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Paths hidden from the container (runc's defaults): files get /dev/null, directories an
/// empty read-only tmpfs.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn mnt(
    src: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(src, target, fstype, flags, data).ctx(|| {
        format!(
            "cannot mount {} on {}",
            fstype.or(src).unwrap_or("(bind)"),
            target.display()
        )
    })
}

/// Escape a path for an overlayfs option string.
fn ovl_escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Detached copies of host mounts made before pivot_root (open_tree): volume sources, and
/// device nodes to bind in a user namespace (where mknod is not allowed). They are attached with
/// move_mount once only the container's tree is left.
struct HostHandles {
    /// The volume, whether its source is a directory, and its detached clone.
    volumes: Vec<(Volume, bool, OwnedFd)>,
    devices: Vec<(&'static str, OwnedFd)>,
}

fn open_path(p: &Path) -> Result<OwnedFd> {
    let f = nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("cannot open {}", p.display()))?;
    Ok(f)
}

/// Build the root filesystem and pivot into it. Runs in the container's init, in its new mount
/// namespace, before the command starts. `state_dir` is the container's directory on the host.
/// Without `with_sys`, /sys is left for `mount_sys` (init is not in its network namespace yet).
pub fn setup(cfg: &Config, state_dir: &Path, with_sys: bool) -> Result<()> {
    mnt(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    // The overlay goes on the state directory itself: in this mount namespace it then hides the
    // upper and work dirs (already resolved by the mount), and no mount point is needed.
    let merged = state_dir.to_path_buf();
    mount_overlay(cfg, state_dir, &merged)?;

    let mut handles = HostHandles {
        volumes: vec![],
        devices: vec![],
    };
    for v in &cfg.volumes {
        let tree = sys::open_tree_clone(&v.host, true)
            .ctx(|| format!("cannot clone volume source {}", v.host.display()))?;
        let mut attr = sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
        if v.ro {
            attr |= sys::MOUNT_ATTR_RDONLY;
        }
        sys::mount_setattr(&tree, attr)
            .ctx(|| format!("cannot set mount flags of volume {}", v.dest))?;
        handles.volumes.push((v.clone(), v.host.is_dir(), tree));
    }
    if cfg.userns {
        for (name, _, _) in DEVICES {
            let p = Path::new("/dev").join(name);
            handles.devices.push((
                name,
                sys::open_tree_clone(&p, false).ctx(|| format!("cannot clone {}", p.display()))?,
            ));
        }
    }

    // The host's /sys, for the case a fresh sysfs cannot be mounted (a user namespace without
    // its own network namespace): cloned now, while it is reachable by path.
    let host_sys = if cfg.userns {
        Some(sys::open_tree_clone(Path::new("/sys"), true).ctx(|| "cannot clone /sys")?)
    } else {
        None
    };
    // pivot_root(".", "."): the old root is stacked on the new one, so no directory has to be
    // made for it in the overlay (one mkdir and one whiteout fewer). It stays in the namespace
    // until /proc and /sys are mounted, since in a user namespace the kernel allows a fresh proc
    // or sysfs only while one is fully visible there; then it is detached. Until then, paths
    // relative to the working directory (the new root) reach the new tree.
    chdir(&merged).ctx(|| format!("cannot chdir to {}", merged.display()))?;
    pivot_root(".", ".").ctx(|| format!("cannot pivot_root into {}", merged.display()))?;

    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let here = Path::new(".");
    let proc_ = top_dir_at(here, "proc")?;
    mnt(
        Some("proc"),
        &proc_,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?;
    if with_sys {
        let sys_ = top_dir_at(here, "sys")?;
        let sysfs = mnt(
            Some("sysfs"),
            &sys_,
            Some("sysfs"),
            nosuid_nodev_noexec | MsFlags::MS_RDONLY,
            None,
        );
        if let (Err(e), Some(tree)) = (&sysfs, &host_sys) {
            let target = open_path(&sys_)?;
            sys::move_mount(tree, &target)
                .ctx(|| format!("cannot mount sysfs ({e}), nor bind the host's /sys"))?;
            remount_ro(
                &sys_,
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            )?;
        } else {
            sysfs?;
        }
    }
    umount2(here, MntFlags::MNT_DETACH).ctx(|| "cannot detach the old root")?;
    chdir("/").ctx(|| "cannot chdir to the new root")?;

    // From here on only the container's own tree is reachable.
    setup_dev(cfg, &handles)?;
    for (v, is_dir, tree) in &handles.volumes {
        bind_volume(v, *is_dir, tree)?;
    }
    if !cfg.privileged {
        mask_paths(|p| with_sys || !is_below_sys(p))?;
    }
    Ok(())
}

/// Whether `p` is /sys or below it.
fn is_below_sys(p: &str) -> bool {
    Path::new(p).starts_with("/sys")
}

/// Mount /sys (read-only) and mask what is masked there, once init has joined its network
/// namespace: a sysfs shows the network devices of the namespace it is mounted from.
pub fn mount_sys(cfg: &Config) -> Result<()> {
    let sys_ = top_dir("sys")?;
    mnt(
        Some("sysfs"),
        &sys_,
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        None,
    )?;
    if !cfg.privileged {
        mask_paths(is_below_sys)?;
    }
    Ok(())
}

fn mount_overlay(cfg: &Config, state_dir: &Path, merged: &Path) -> Result<()> {
    let lower = cfg.rootfs.clone().unwrap_or_else(|| PathBuf::from("/"));
    let (upper, work) = if cfg.rootfs.is_some() && cfg.storage.is_none() {
        // Unbounded (--storage-size max): the writable layer lives in the state directory.
        (state_dir.join("upper"), state_dir.join("work"))
    } else {
        // The writable layer on a tmpfs private to this mount namespace, of --storage-size
        // (its pages are charged to the container's memory cgroup): a container cannot fill the
        // state root, and the host's `/` as the lower layer cannot hold its own upper dir.
        // Mounted on the state directory itself, which the overlay then covers: no mount point
        // to make and remove on the state root's disk.
        let scratch = state_dir.to_path_buf();
        let opts = match cfg.storage {
            Some(n) => format!("mode=0700,size={n}"),
            None => "mode=0700".into(),
        };
        mnt(
            Some("tmpfs"),
            &scratch,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(&opts),
        )?;
        // Modes set whatever the umask: the upper dir's is the container's `/`.
        for (d, mode) in [("upper", 0o755), ("work", 0o700)] {
            crate::secure::mkdir_path(&scratch.join(d), mode)?;
        }
        (scratch.join("upper"), scratch.join("work"))
    };
    let mut opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        ovl_escape(&lower),
        ovl_escape(&upper),
        ovl_escape(&work)
    );
    if cfg.userns {
        opts.push_str(",userxattr");
    }
    // nodev: a device node shipped in the root filesystem must not open a host device.
    mnt(Some("overlay"), merged, Some("overlay"), MsFlags::MS_NODEV, Some(&opts)).map_err(|e| match e.errno() {
        Some(nix::errno::Errno::ELOOP) => Error::failed(format!(
            "cannot mount the root filesystem {}: it overlaps the state root {} (use another --root)",
            lower.display(),
            state_dir.display()
        )),
        _ => e,
    })
}

/// A directory directly below the new root, created if missing; a symlink there is refused
/// (mounting through it could reach the old root).
fn top_dir(name: &str) -> Result<PathBuf> {
    top_dir_at(Path::new("/"), name)
}

fn top_dir_at(base: &Path, name: &str) -> Result<PathBuf> {
    let p = base.join(name);
    match fs::create_dir(&p) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e).ctx(|| format!("cannot create /{name} in the root filesystem")),
    }
    ensure_real_dir(&p)?;
    Ok(p)
}

fn ensure_real_dir(p: &Path) -> Result<()> {
    let st = fstatat(
        nix::fcntl::AT_FDCWD,
        p,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("cannot stat {}", p.display()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(Error::failed(format!(
            "the root filesystem's {} is not a directory (a symlink there is refused)",
            p.display()
        )));
    }
    Ok(())
}

fn remount_ro(p: &Path, extra: MsFlags) -> Result<()> {
    mnt(
        None,
        p,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | extra,
        None,
    )
}

fn setup_dev(cfg: &Config, h: &HostHandles) -> Result<()> {
    let dev = top_dir("dev")?;
    mnt(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    if cfg.userns {
        for (name, tree) in &h.devices {
            let target = dev.join(name);
            let f =
                fs::File::create(&target).ctx(|| format!("cannot create {}", target.display()))?;
            sys::move_mount(tree, &f).ctx(|| format!("cannot bind {}", target.display()))?;
        }
    } else {
        for (name, major, minor) in DEVICES {
            let target = dev.join(name);
            mknod(
                &target,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(*major, *minor),
            )
            .ctx(|| format!("cannot create {}", target.display()))?;
            // mknod honours the umask; the devices must be usable by every user.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &target,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx(|| format!("cannot chmod {}", target.display()))?;
        }
    }
    let pts = dev.join("pts");
    fs::create_dir(&pts).ctx(|| "cannot create /dev/pts")?;
    let pts_opts = if cfg.userns {
        "newinstance,ptmxmode=0666,mode=0620"
    } else {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    mnt(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(pts_opts),
    )?;
    std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx")).ctx(|| "cannot create /dev/ptmx")?;
    let shm = dev.join("shm");
    fs::create_dir(&shm).ctx(|| "cannot create /dev/shm")?;
    mnt(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    let mq = dev.join("mqueue");
    fs::create_dir(&mq).ctx(|| "cannot create /dev/mqueue")?;
    // An mqueue mount needs a new IPC namespace owned by our user namespace; skip it if refused.
    let _ = mount(
        Some("mqueue"),
        &mq,
        Some("mqueue"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    );
    for (l, t) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(t, dev.join(l)).ctx(|| format!("cannot create /dev/{l}"))?;
    }
    Ok(())
}

/// Attach a volume: its destination is resolved beneath the container root (no `..`, no symlink
/// that leaves the root), created in the overlay if missing, and the detached clone of the
/// source (already nosuid, nodev, and read-only for `:ro`) is moved onto it through fds, so
/// nothing can be swapped in between.
fn bind_volume(v: &Volume, is_dir: bool, tree: &OwnedFd) -> Result<()> {
    let root = open_path(Path::new("/"))?;
    let rel = v.dest.trim_start_matches('/');
    let refuse = |e: nix::errno::Errno| {
        match e {
        nix::errno::Errno::EXDEV | nix::errno::Errno::ELOOP => Error::invalid(format!(
            "invalid volume destination {}: it leaves the container's root through '..' or a symlink",
            v.dest
        )),
        e => Error::Os { what: format!("cannot resolve volume destination {}", v.dest), errno: e },
    }
    };
    // Create each missing component (directories; the last one a file when the source is one).
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    for i in 0..comps.len() {
        let partial = comps[..=i].join("/");
        match sys::open_beneath(&root, &partial, libc::O_PATH) {
            Ok(_) => continue,
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(refuse(e)),
        }
        let parent = if i == 0 {
            sys::open_beneath(&root, ".", libc::O_PATH | libc::O_DIRECTORY)
        } else {
            sys::open_beneath(
                &root,
                &comps[..i].join("/"),
                libc::O_PATH | libc::O_DIRECTORY,
            )
        }
        .map_err(refuse)?;
        let last = i + 1 == comps.len();
        let r = if last && !is_dir {
            nix::fcntl::openat(
                &parent,
                comps[i],
                nix::fcntl::OFlag::O_CREAT
                    | nix::fcntl::OFlag::O_EXCL
                    | nix::fcntl::OFlag::O_WRONLY
                    | nix::fcntl::OFlag::O_CLOEXEC
                    | nix::fcntl::OFlag::O_NOFOLLOW,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        } else {
            nix::sys::stat::mkdirat(&parent, comps[i], Mode::from_bits_truncate(0o755))
        };
        match r {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("cannot create volume destination {}", v.dest)),
        }
    }
    let target = sys::open_beneath(&root, rel, libc::O_PATH).map_err(refuse)?;
    sys::move_mount(tree, &target)
        .ctx(|| format!("cannot mount volume {} on {}", v.host.display(), v.dest))?;
    Ok(())
}

/// Mask the paths of MASKED and READONLY that `which` selects.
fn mask_paths(which: impl Fn(&str) -> bool) -> Result<()> {
    for p in MASKED.iter().filter(|p| which(p)) {
        let p = Path::new(p);
        let Ok(md) = fs::symlink_metadata(p) else {
            continue;
        };
        if md.is_dir() {
            mnt(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )?;
        } else {
            mnt(Some("/dev/null"), p, None, MsFlags::MS_BIND, None)?;
        }
    }
    for p in READONLY.iter().filter(|p| which(p)) {
        let p = Path::new(p);
        if fs::symlink_metadata(p).is_err() {
            continue;
        }
        mnt(
            Some(&p.to_string_lossy()),
            p,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
        remount_ro(
            p,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_escaping() {
        assert_eq!(ovl_escape(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
        assert_eq!(ovl_escape(Path::new("/plain")), "/plain");
    }
}
