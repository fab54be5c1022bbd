//! nsk cp: both ways on a distroless-style root (no shell, no tar), volumes, read-only mounts,
//! ownership, failure midway, and the symlink-exchange race (CVE-2018-15664, CVE-2019-10152),
//! checked through the kernel's own view of the container (/proc/PID/root), not nsk's.

use crate::util::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A root filesystem with one static binary named `sleep` and nothing else: no shell, no tar.
fn distroless(base: &Path) -> PathBuf {
    let root = base.join("root");
    std::fs::create_dir_all(root.join("data")).unwrap();
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed");
    std::fs::copy(bb, root.join("sleep")).unwrap();
    root
}

fn tmp(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("nsk-test-cp-{tag}-"))
        .tempdir()
        .unwrap()
}

/// Start a detached container `name` on `root` with `extra` options; returns its command's
/// root as the kernel shows it to the host.
fn start(env: &Env, name: &str, root: &Path, extra: &[&str]) -> PathBuf {
    let mut c = env.cmd();
    c.args(["run", "-d", "--name", name, "--rootfs"])
        .arg(root)
        .args(["--cgroup-parent", &env.cgroup_parent])
        .args(extra)
        .args(["--", "/sleep", "1000"]);
    let o: Out = c.output().unwrap().into();
    assert_eq!(o.code, 0, "{o:?}");
    let init = env.pid(name);
    // The command is init's child.
    let mut cmd = 0;
    wait_for("the container's command", || {
        cmd = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        cmd != 0
    });
    PathBuf::from(format!("/proc/{cmd}/root"))
}

/// Names, types, modes, symlink targets and file contents (directory sizes differ between
/// filesystems, so they are left out).
fn digest(dir: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -printf '%p %y %m %l\\n' | sort && find . -type f -exec md5sum {} + | sort")
        .arg("sh")
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn one_line_error(o: &Out) {
    assert_eq!(o.code, 125, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(o.stderr.starts_with("nsk: "), "{o:?}");
}

/// A source tree: a file, a nested directory, a hard link, relative and absolute symlinks,
/// modes and mtimes of its own.
fn tree(at: &Path) {
    std::fs::create_dir_all(at.join("sub/deeper")).unwrap();
    std::fs::write(at.join("file"), "hello\n").unwrap();
    std::fs::write(at.join("sub/deeper/big"), vec![7u8; 3 << 20]).unwrap();
    std::fs::hard_link(at.join("file"), at.join("sub/hardlink")).unwrap();
    std::os::unix::fs::symlink("../file", at.join("sub/rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", at.join("sub/abs")).unwrap();
    std::fs::set_permissions(at.join("file"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(at.join("sub"), std::fs::Permissions::from_mode(0o751)).unwrap();
    let t = std::process::Command::new("touch")
        .args(["-h", "-d", "2020-02-03 04:05:06"])
        .arg(at.join("file"))
        .arg(at.join("sub/rel"))
        .arg(at.join("sub/deeper"))
        .status()
        .unwrap();
    assert!(t.success());
}

#[test]
fn copies_both_ways_on_a_root_with_no_shell_or_tar() {
    let env = Env::new();
    let t = tmp("dl");
    let root = distroless(t.path());
    let seen = start(&env, "dl", &root, &[]);
    let src = t.path().join("src");
    tree(&src);
    // In: an existing directory receives the tree under its own name.
    let o = env.nsk(&["cp", src.to_str().unwrap(), "dl:/data"]);
    assert_eq!(o.code, 0, "{o:?}");
    let inside = seen.join("data/src");
    // What the kernel shows of the container's root, not nsk's view of it.
    assert_eq!(digest(&src), digest(&inside));
    let f = std::fs::symlink_metadata(inside.join("file")).unwrap();
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!(
        f.mtime(),
        std::fs::metadata(src.join("file")).unwrap().mtime()
    );
    assert_eq!((f.uid(), f.gid()), (0, 0));
    assert_eq!(f.nlink(), 2, "the hard link stays a link");
    assert_eq!(
        f.ino(),
        std::fs::metadata(inside.join("sub/hardlink"))
            .unwrap()
            .ino()
    );
    assert_eq!(
        std::fs::read_link(inside.join("sub/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        std::fs::symlink_metadata(inside.join("sub/rel"))
            .unwrap()
            .mtime(),
        std::fs::symlink_metadata(src.join("sub/rel"))
            .unwrap()
            .mtime()
    );
    // Out, to a new name: the tree itself, identical.
    let out = t.path().join("out");
    let o = env.nsk(&["cp", "dl:/data/src", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(digest(&src), digest(&out));
    assert_eq!(
        std::fs::metadata(out.join("file")).unwrap().ino(),
        std::fs::metadata(out.join("sub/hardlink")).unwrap().ino()
    );
    // One file to an existing file (replaced), then a directory's contents (SRC/.).
    std::fs::write(t.path().join("one"), "old").unwrap();
    let o = env.nsk(&[
        "cp",
        "dl:data/src/file",
        t.path().join("one").to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("one")).unwrap(),
        "hello\n"
    );
    let flat = t.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    let o = env.nsk(&["cp", "dl:/data/src/sub/.", flat.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(flat.join("deeper/big").is_file(), "{o:?}");
    // A symlink source is copied as a link; -L copies what it points to, in the container.
    let o = env.nsk(&[
        "cp",
        "dl:/data/src/sub/rel",
        t.path().join("l1").to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_link(t.path().join("l1")).unwrap(),
        Path::new("../file")
    );
    let o = env.nsk(&[
        "cp",
        "-L",
        "dl:/data/src/sub/rel",
        t.path().join("l2").to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("l2")).unwrap(),
        "hello\n"
    );
    // Errors are one line.
    one_line_error(&env.nsk(&["cp", "dl:/missing", t.path().to_str().unwrap()]));
    one_line_error(&env.nsk(&["cp", src.to_str().unwrap(), "dl:/no/such/dir"]));
    one_line_error(&env.nsk(&["cp", src.to_str().unwrap(), "dl:/sleep"]));
    one_line_error(&env.nsk(&["cp", "nosuchbox:/x", t.path().to_str().unwrap()]));
    one_line_error(&env.nsk(&["cp", "/a", "/b"]));
    env.nsk(&["rm", "-f", "dl"]);
    env.assert_clean();
}

#[test]
fn sees_volumes_keeps_owners_with_a_and_refuses_read_only_mounts() {
    let env = Env::new();
    let t = tmp("vol");
    let root = distroless(t.path());
    let vol = t.path().join("vol");
    let ro = t.path().join("ro");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("keep"), "keep").unwrap();
    let vols = format!("{}:/vol", vol.display());
    let ros = format!("{}:/ro:ro", ro.display());
    let seen = start(&env, "vol", &root, &["-v", &vols, "-v", &ros]);
    let f = t.path().join("owned");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(33), Some(4)).unwrap();
    // Into a volume: it lands in the host directory behind it.
    let o = env.nsk(&["cp", f.to_str().unwrap(), "vol:/vol/plain"]);
    assert_eq!(o.code, 0, "{o:?}");
    let m = std::fs::metadata(vol.join("plain")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "without -a: the container's root"
    );
    let o = env.nsk(&["cp", "-a", f.to_str().unwrap(), "vol:/vol/kept"]);
    assert_eq!(o.code, 0, "{o:?}");
    let m = std::fs::metadata(vol.join("kept")).unwrap();
    assert_eq!((m.uid(), m.gid()), (33, 4));
    // Out with -a keeps them too; without, the copy is the caller's.
    let o = env.nsk(&[
        "cp",
        "-a",
        "vol:/vol/kept",
        t.path().join("back").to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let m = std::fs::metadata(t.path().join("back")).unwrap();
    assert_eq!((m.uid(), m.gid()), (33, 4));
    // A read-only mount: one line that says so, nothing written.
    let o = env.nsk(&["cp", f.to_str().unwrap(), "vol:/ro/new"]);
    one_line_error(&o);
    assert!(o.stderr.contains("read-only"), "{o:?}");
    let names: Vec<_> = std::fs::read_dir(&ro).unwrap().flatten().collect();
    assert_eq!(names.len(), 1);
    assert!(seen.join("vol/kept").exists());
    env.nsk(&["rm", "-f", "vol"]);
    env.assert_clean();
}

#[test]
fn a_copy_that_fails_midway_leaves_no_file_under_its_name() {
    let env = Env::new();
    let t = tmp("full");
    let root = distroless(t.path());
    // A 2 MiB tmpfs volume of the test's own cannot hold an 8 MiB file.
    let small = t.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let m = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "nsk-test-cp"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(m.success());
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(small.clone());
    std::fs::write(small.join("big"), "the old content").unwrap();
    let vols = format!("{}:/small", small.display());
    start(&env, "full", &root, &["-v", &vols]);
    let big = t.path().join("big");
    std::fs::write(&big, vec![1u8; 8 << 20]).unwrap();
    let o = env.nsk(&["cp", big.to_str().unwrap(), "full:/small/big"]);
    one_line_error(&o);
    assert!(o.stderr.contains("no space"), "{o:?}");
    assert_eq!(
        std::fs::read_to_string(small.join("big")).unwrap(),
        "the old content"
    );
    let names: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("big")],
        "no temporary left"
    );
    env.nsk(&["rm", "-f", "full"]);
    env.assert_clean();
}

/// CVE-2018-15664: while nsk copies in and out thousands of times, a path component flips
/// between a directory and symlinks (to the container's `/`, and to an absolute path that on
/// the host is a decoy directory of this test) by renameat2(RENAME_EXCHANGE) in a tight loop.
/// Every copy must resolve inside the container: nothing is read from or written to the host
/// decoy (its canary keeps its atime, the directory its entries), and every file copied out
/// is one of the container's.
#[test]
fn symlink_exchange_race_never_reaches_the_host() {
    let env = Env::new();
    let t = tmp("race");
    let root = distroless(t.path());
    // The host decoy: what an escape through the absolute symlink would reach.
    let decoy = t.path().join("hostdecoy");
    std::fs::create_dir(&decoy).unwrap();
    std::fs::write(decoy.join("canary"), "HOST").unwrap();
    let old = std::process::Command::new("touch")
        .args(["-a", "-d", "2001-01-01"])
        .arg(decoy.join("canary"))
        .status()
        .unwrap();
    assert!(old.success());
    let atime = std::fs::metadata(decoy.join("canary")).unwrap().atime();
    // The same absolute path inside the container's root, and a canary at its /.
    let inner = root.join(decoy.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(inner.join("canary"), "INSIDE-DECOY-PATH").unwrap();
    std::fs::write(root.join("canary"), "INSIDE-ROOT").unwrap();
    // Escaping to the host's / could only be read: that canary must not exist there.
    assert!(!Path::new("/canary").exists());
    let vol = t.path().join("vol");
    std::fs::create_dir_all(vol.join("x")).unwrap();
    std::fs::write(vol.join("x/canary"), "INSIDE-DIR").unwrap();
    std::os::unix::fs::symlink(&decoy, vol.join("to-decoy")).unwrap();
    std::os::unix::fs::symlink("/", vol.join("to-root")).unwrap();
    let vols = format!("{}:/vol", vol.display());
    start(&env, "race", &root, &["-v", &vols]);

    let flip = |partner: &'static str, stop: Arc<AtomicBool>| {
        let vol = vol.clone();
        std::thread::spawn(move || {
            let dir = std::fs::File::open(&vol).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    &dir,
                    "x",
                    &dir,
                    partner,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
                n += 1;
            }
            // Leave the directory where it started.
            if n % 2 == 1 {
                nix::fcntl::renameat2(
                    &dir,
                    "x",
                    &dir,
                    partner,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
            }
            n
        })
    };
    let rounds = 1000 / time_scale().max(1) as usize;
    let out_rounds = rounds / 2;
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let payload = t.path().join("payload");
    std::fs::write(&payload, "PAYLOAD").unwrap();

    // Out: x flips between the directory and symlinks to / and to the decoy path.
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for partner in ["to-root", "to-decoy"] {
        let stop = Arc::new(AtomicBool::new(false));
        let h = flip(partner, stop.clone());
        for i in 0..out_rounds {
            let dst = out.join(format!("{partner}-{i}"));
            let o = env.nsk(&["cp", "race:/vol/x/canary", dst.to_str().unwrap()]);
            if o.code == 0 {
                let got = std::fs::read_to_string(&dst).unwrap();
                assert!(
                    ["INSIDE-DIR", "INSIDE-ROOT", "INSIDE-DECOY-PATH"].contains(&got.as_str()),
                    "read from outside the container: {got:?}"
                );
                *outcomes.entry(got).or_default() += 1;
            } else {
                one_line_error(&o);
                *outcomes.entry("error".into()).or_default() += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        assert!(h.join().unwrap() > 0);
    }
    // In: only through the decoy symlink (an escape must never write to a real host path).
    let stop = Arc::new(AtomicBool::new(false));
    let h = flip("to-decoy", stop.clone());
    for i in 0..rounds {
        let o = env.nsk(&[
            "cp",
            payload.to_str().unwrap(),
            &format!("race:/vol/x/in-{i}"),
        ]);
        if o.code != 0 {
            one_line_error(&o);
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(h.join().unwrap() > 0);

    // The decoy was never read nor written.
    let names: Vec<_> = std::fs::read_dir(&decoy)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("canary")]);
    assert_eq!(
        std::fs::metadata(decoy.join("canary")).unwrap().atime(),
        atime,
        "the host decoy was read"
    );
    assert_eq!(
        std::fs::read_to_string(decoy.join("canary")).unwrap(),
        "HOST"
    );
    // The race was real: both the directory and a symlink were seen.
    assert!(
        outcomes.get("INSIDE-DIR").copied().unwrap_or(0) > 0,
        "{outcomes:?}"
    );
    assert!(
        outcomes.len() > 1,
        "the flipping never showed: {outcomes:?}"
    );
    eprintln!("race outcomes: {outcomes:?}");
    env.nsk(&["rm", "-f", "race"]);
    env.assert_clean();
}

/// Against Docker: what nsk copies in, `docker cp` copies out identical, and the reverse; `-a`
/// keeps the owner as `docker exec stat` shows it.
#[test]
fn peer_cp_round_trips_through_docker_cp() {
    require_runtimes();
    let c = PeerContainer::start("docker", "cp", &[]);
    let t = tmp("docker");
    let src = t.path().join("src");
    tree(&src);
    let target = format!("docker://{}", c.name);
    let o = env_free_nsk(&["cp", src.to_str().unwrap(), &format!("{target}:/tmp")]);
    assert_eq!(o.code, 0, "{o:?}");
    let via_docker = t.path().join("via-docker");
    let d = std::process::Command::new("/usr/bin/docker")
        .args(["cp", &format!("{}:/tmp/src", c.name)])
        .arg(&via_docker)
        .status()
        .unwrap();
    assert!(d.success());
    assert_eq!(digest(&src), digest(&via_docker));
    let d = std::process::Command::new("/usr/bin/docker")
        .arg("cp")
        .arg(&src)
        .arg(format!("{}:/tmp/by-docker", c.name))
        .status()
        .unwrap();
    assert!(d.success());
    let out = t.path().join("out");
    let o = env_free_nsk(&[
        "cp",
        &format!("{target}:/tmp/by-docker"),
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(digest(&src), digest(&out));
    let f = t.path().join("owned");
    std::fs::write(&f, "x").unwrap();
    std::os::unix::fs::chown(&f, Some(33), Some(4)).unwrap();
    let o = env_free_nsk(&[
        "cp",
        "-a",
        f.to_str().unwrap(),
        &format!("{target}:/tmp/owned"),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let st = c.exec("stat -c %u:%g /tmp/owned");
    assert_eq!(st.stdout.trim(), "33:4", "{st:?}");
}

fn env_free_nsk(args: &[&str]) -> Out {
    Env::new().nsk(args)
}
