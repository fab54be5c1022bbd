//! nsk cp: both ways on a distroless-style root (no shell, no tar), volumes, read-only mounts,
//! ownership, failure midway, and the symlink-exchange race (CVE-2018-15664, CVE-2019-10152),
//! checked through the kernel's own view of the container (/proc/PID/root), not nsk's.

use crate::util::*;
use std::io::Write;
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
/// keeps the owner as `docker exec stat` shows it; tar streams piped between `docker cp` and
/// `nsk cp` both ways (names and a symlink target past 100 bytes among them) come out as
/// docker's exec sees the originals.
#[test]
fn peer_cp_round_trips_through_docker_cp() {
    require_runtimes();
    let c = PeerContainer::start("docker", "cp", &[]);
    let t = tmp("docker");
    let target = format!("docker://{}", c.name);
    files_both_ways("/usr/bin/docker", &c, t.path(), &target);
    // Tar streams both ways, piped through docker cp's own: what docker's exec sees of the
    // result (names, types, modes, owners, mtimes, link targets, contents) must match the
    // original, which docker also reads.
    let mk = c.exec("mkdir /tmp/nsk-in /tmp/docker-in /tmp/docker-in-a");
    assert_eq!(mk.code, 0, "{mk:?}");
    let pipe = |script: String| pipeline(t.path(), &script);
    let (dk, n) = ("/usr/bin/docker", &c.name);
    // docker -> nsk: docker's archive of a tree it made, extracted by nsk (-a: its owners).
    pipe(format!(
        "{dk} cp {n}:/tmp/by-docker - | {NSK} cp -a - {target}:/tmp/nsk-in"
    ));
    pipe(format!(
        "{dk} cp {n}:/tmp/owned - | {NSK} cp -a - {target}:/tmp/nsk-in"
    ));
    // nsk -> docker: nsk's archive of a tree nsk copied in, extracted by docker.
    pipe(format!(
        "{NSK} cp {target}:/tmp/src - | {dk} cp - {n}:/tmp/docker-in"
    ));
    pipe(format!(
        "{NSK} cp -a {target}:/tmp/owned - | {dk} cp -a - {n}:/tmp/docker-in-a"
    ));
    let seen = |dir: &str| seen_in(&c, dir, true);
    assert_eq!(seen("/tmp/by-docker"), seen("/tmp/nsk-in/by-docker"));
    assert_eq!(seen("/tmp/src"), seen("/tmp/docker-in/src"));
    let hl =
        c.exec("stat -c %i /tmp/docker-in/src/file /tmp/docker-in/src/sub/hardlink | uniq | wc -l");
    assert_eq!(hl.stdout.trim(), "1", "the hard link stays one: {hl:?}");
    for f in ["/tmp/nsk-in/owned", "/tmp/docker-in-a/owned"] {
        let st = c.exec(&format!("stat -c %u:%g {f}"));
        assert_eq!(st.stdout.trim(), "33:4", "{f}: {st:?}");
    }
}

/// The same both ways next to Podman: what nsk copies in, `podman cp` copies out unchanged, and
/// the reverse; `-a` owners as Podman's exec sees them; Podman's tar stream extracted by nsk.
#[test]
fn peer_cp_round_trips_through_podman_cp() {
    require_runtimes();
    let c = PeerContainer::start("podman", "cp", &[]);
    let t = tmp("podman");
    let target = format!("podman://{}", c.name);
    files_both_ways("podman", &c, t.path(), &target);
    // Podman's archive of the tree it copied in, extracted by nsk: what Podman's exec sees of
    // both (names, types, modes, link targets, contents) is the same.
    assert_eq!(c.exec("mkdir /tmp/nsk-in").code, 0);
    pipeline(
        t.path(),
        &format!(
            "podman cp {}:/tmp/by-podman - | {NSK} cp - {target}:/tmp/nsk-in",
            c.name
        ),
    );
    assert_eq!(
        seen_in(&c, "/tmp/by-podman", false),
        seen_in(&c, "/tmp/nsk-in/by-podman", false)
    );
}

/// Run shell pipeline `script` under `set -o pipefail`, nsk's state root in `dir`: every
/// command of it must succeed.
fn pipeline(dir: &Path, script: &str) -> Out {
    let o: Out = std::process::Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}")])
        .env("NSK_ROOT", dir.join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{script}: {o:?}");
    o
}

/// What the runtime's own exec sees of the tree at `dir` in container `c`: names, types, modes,
/// contents and link targets, and with `owners` also owners and (but for directories) mtimes.
fn seen_in(c: &PeerContainer, dir: &str, owners: bool) -> String {
    let stats = if owners {
        "find . ! -name . -type d -exec stat -c '%n %F %a %u:%g' {} + | sort && \
         find . ! -type d -exec stat -c '%n %F %a %u:%g %Y' {} + | sort"
    } else {
        "find . ! -name . -exec stat -c '%n %F %a' {} + | sort"
    };
    let o = c.exec(&format!(
        "cd {dir} && {stats} && find . -type f -exec md5sum {{}} + | sort && \
         for l in $(find . -type l | sort); do echo \"$l -> $(readlink $l)\"; done"
    ));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("regular file"), "{o:?}");
    o.stdout
}

/// What the Docker and Podman peer tests share: a tree (long names, a symlink, a hard link)
/// copied in by nsk comes out identical through the runtime's own `cp` (CLI `bin`), the reverse
/// too, and a file copied in with `-a` keeps its owner as the runtime's exec shows it. Leaves
/// in the container `/tmp/src` (by nsk), `/tmp/by-RUNTIME` (by the runtime) and `/tmp/owned`.
fn files_both_ways(bin: &str, c: &PeerContainer, dir: &Path, target: &str) {
    let peer_cp = |from: &str, to: &str| {
        let o: Out = std::process::Command::new(bin)
            .args(["cp", from, to])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 0, "{bin} cp {from} {to}: {o:?}");
    };
    let src = dir.join("src");
    long_tree(&src);
    let o = env_free_nsk(&["cp", src.to_str().unwrap(), &format!("{target}:/tmp")]);
    assert_eq!(o.code, 0, "{o:?}");
    let via_peer = dir.join("via-peer");
    peer_cp(&format!("{}:/tmp/src", c.name), via_peer.to_str().unwrap());
    assert_eq!(digest(&src), digest(&via_peer));
    let runtime = bin.rsplit('/').next().unwrap();
    peer_cp(
        src.to_str().unwrap(),
        &format!("{}:/tmp/by-{runtime}", c.name),
    );
    let out = dir.join("out");
    let o = env_free_nsk(&[
        "cp",
        &format!("{target}:/tmp/by-{runtime}"),
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(digest(&src), digest(&out));
    let f = dir.join("owned");
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

// ---- tar streams (`-`) and extended attributes (`-a`) ----

/// A scratch directory on a disk (ext4 or xfs, which keep user.* xattrs; /tmp may be a tmpfs):
/// the build tree's, or in a guest the host folder tests/run.sh shares with it
/// (NSK_TEST_DISK_TMPDIR). The test fails loudly if its filesystem refuses user.* xattrs.
fn disk_tmp(tag: &str) -> tempfile::TempDir {
    let base = std::env::var_os("NSK_TEST_DISK_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let t = tempfile::Builder::new()
        .prefix(&format!("nsk-test-cp-{tag}-"))
        .tempdir_in(base)
        .unwrap();
    let probe = t.path().join("probe");
    std::fs::write(&probe, "").unwrap();
    setxattr(&probe, "user.probe", "1");
    std::fs::remove_file(probe).unwrap();
    t
}

/// Set an xattr with Python's os.setxattr (not nsk's code).
/// Whether the filesystem of `dir` takes trusted.* xattrs: the host's disk does; the 9p folder
/// a guest gets from tests/run.sh does not (there the test checks user.* alone).
fn trusted_xattrs(dir: &Path) -> bool {
    let probe = dir.join("trusted-probe");
    std::fs::write(&probe, "").unwrap();
    let o = std::process::Command::new("python3")
        .args([
            "-c",
            "import os,sys; os.setxattr(sys.argv[1], 'trusted.nsk-probe', b'1')",
        ])
        .arg(&probe)
        .output()
        .unwrap();
    std::fs::remove_file(probe).unwrap();
    o.status.success()
}

fn setxattr(p: &Path, name: &str, value: &str) {
    let o = std::process::Command::new("python3")
        .args(["-c", "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)"])
        .arg(p)
        .args([name, value])
        .output()
        .unwrap();
    assert!(o.status.success(), "setxattr {p:?} {name}: {o:?}");
}

/// The xattrs of a file or directory as Python's os.listxattr/getxattr read them: "k=v" lines
/// (trusted.* only seen as root, which the tests are).
fn xattrs(p: &Path) -> String {
    let o = std::process::Command::new("python3")
        .args(["-c", "import os,sys\nfor k in sorted(os.listxattr(sys.argv[1], follow_symlinks=False)):\n  if k.startswith(('user.', 'trusted.nsk')): print(k + '=' + os.getxattr(sys.argv[1], k, follow_symlinks=False).decode())"])
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "listxattr {p:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// nsk with its stdout written to `out`.
fn nsk_to_file(env: &Env, args: &[&str], out: &Path) -> Out {
    let f = std::fs::File::create(out).unwrap();
    env.cmd().args(args).stdout(f).output().unwrap().into()
}

/// nsk reading its stdin from `input`.
fn nsk_from_file(env: &Env, args: &[&str], input: &Path) -> Out {
    let f = std::fs::File::open(input).unwrap();
    env.cmd().args(args).stdin(f).output().unwrap().into()
}

/// The system's GNU tar, with xattrs both ways.
fn system_tar(args: &[&str], dir: &Path) -> String {
    let o = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "tar {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const LONG_DIR: &str = "a-directory-name-of-sixty-bytes-to-push-the-path-past-100-bytes";
const LONG_FILE: &str = "and-a-file-name-that-is-itself-longer-than-sixty-bytes-by-a-margin.txt";

/// tree() plus a path longer than 100 bytes and a symlink target longer than 100 bytes.
fn long_tree(at: &Path) {
    tree(at);
    std::fs::create_dir_all(at.join(LONG_DIR)).unwrap();
    std::fs::write(at.join(LONG_DIR).join(LONG_FILE), "long\n").unwrap();
    std::os::unix::fs::symlink(format!("{LONG_DIR}/{LONG_FILE}"), at.join("long-link")).unwrap();
    assert!(format!("src/{LONG_DIR}/{LONG_FILE}").len() > 100);
}

#[test]
fn tar_stream_out_is_read_back_by_system_tar() {
    let env = Env::new();
    let t = tmp("tarout");
    let root = distroless(t.path());
    let src = root.join("data/src");
    long_tree(&src);
    start(&env, "tarout", &root, &[]);
    // A directory: its base name is the top entry, as docker cp writes it.
    let archive = t.path().join("out.tar");
    let o = nsk_to_file(&env, &["cp", "tarout:/data/src", "-"], &archive);
    assert_eq!(o.code, 0, "{o:?}");
    let list = system_tar(&["-tvf", archive.to_str().unwrap()], t.path());
    let names: Vec<&str> = list
        .lines()
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    assert_eq!(names[0], "src/", "{list}");
    assert!(names.iter().all(|n| n.starts_with("src/")), "{list}");
    assert!(
        names.contains(&format!("src/{LONG_DIR}/{LONG_FILE}").as_str()),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with('h') && l.ends_with("src/sub/hardlink link to src/file")),
        "the hard link is a link entry: {list}"
    );
    assert!(list.contains("src/sub/abs -> /etc/passwd"), "{list}");
    let back = t.path().join("back");
    std::fs::create_dir(&back).unwrap();
    system_tar(&["-xpf", archive.to_str().unwrap()], &back);
    assert_eq!(digest(&src), digest(&back.join("src")));
    let f = std::fs::metadata(back.join("src/file")).unwrap();
    assert_eq!(
        f.mtime(),
        std::fs::metadata(src.join("file")).unwrap().mtime()
    );
    assert_eq!(
        f.ino(),
        std::fs::metadata(back.join("src/sub/hardlink"))
            .unwrap()
            .ino()
    );
    // One file: a single entry under its base name; DIR/. : the entries without a top one.
    let one = t.path().join("one.tar");
    let o = nsk_to_file(&env, &["cp", "tarout:/data/src/sub/deeper/big", "-"], &one);
    assert_eq!(o.code, 0, "{o:?}");
    let list = system_tar(&["-tf", one.to_str().unwrap()], t.path());
    assert_eq!(list, "big\n");
    let flat = t.path().join("flat.tar");
    let o = nsk_to_file(&env, &["cp", "tarout:/data/src/sub/.", "-"], &flat);
    assert_eq!(o.code, 0, "{o:?}");
    let list = system_tar(&["-tf", flat.to_str().unwrap()], t.path());
    assert_eq!(list, "abs\ndeeper/\ndeeper/big\nhardlink\nrel\n");
    // The whole root: /proc and /sys (the container's own mounts) come as empty directories,
    // the device nodes of its /dev are skipped; the same for a copy to a host directory.
    let whole = t.path().join("whole.tar");
    let o = nsk_to_file(&env, &["cp", "tarout:/", "-"], &whole);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("nsk: skipping /dev/null"), "{o:?}");
    let list = system_tar(&["-tf", whole.to_str().unwrap()], t.path());
    for want in ["proc/", "sys/", "sleep", "data/src/file"] {
        assert!(list.lines().any(|l| l == want), "{want}: {list}");
    }
    assert!(
        !list.lines().any(|l| l.starts_with("proc/") && l != "proc/"),
        "{list}"
    );
    assert!(
        !list.lines().any(|l| l.starts_with("sys/") && l != "sys/"),
        "{list}"
    );
    let rootcopy = t.path().join("rootcopy");
    let o = env.nsk(&["cp", "tarout:/", rootcopy.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_dir(rootcopy.join("proc")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(rootcopy.join("sys")).unwrap().count(), 0);
    assert_eq!(digest(&src), digest(&rootcopy.join("data/src")));
    // Errors are one line; stdout on a terminal is refused (script gives nsk one).
    one_line_error(&nsk_to_file(&env, &["cp", "tarout:/missing", "-"], &one));
    let o: Out = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "NSK_ROOT={} {NSK} cp tarout:/data/src/file -",
            env.root.path().display()
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        o.stdout
            .contains("nsk: refusing to write a tar stream to a terminal"),
        "{o:?}"
    );
    assert!(!o.stdout.contains("hello"), "{o:?}");
    env.nsk(&["rm", "-f", "tarout"]);
    env.assert_clean();
}

#[test]
fn tar_stream_made_by_system_tar_is_extracted_in() {
    let env = Env::new();
    let t = disk_tmp("tarin");
    let root = distroless(t.path());
    let vol = t.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let vols = format!("{}:/vol", vol.display());
    let seen = start(&env, "tarin", &root, &["-v", &vols]);
    let base = t.path().join("base");
    let src = base.join("src");
    long_tree(&src);
    std::os::unix::fs::chown(src.join("file"), Some(33), Some(4)).unwrap();
    setxattr(&src.join("file"), "user.color", "blue");
    setxattr(&src.join("sub"), "user.dir", "yes");
    nix::unistd::mkfifo(
        &src.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let archive = t.path().join("in.tar");
    system_tar(&["-cf", archive.to_str().unwrap(), "src"], &base);
    // -a: owners and xattrs from the archive; the fifo is skipped with one line.
    let o = nsk_from_file(&env, &["cp", "-a", "-", "tarin:/vol"], &archive);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(o.stderr.starts_with("nsk: skipping /vol/src/fifo"), "{o:?}");
    std::fs::remove_file(src.join("fifo")).unwrap();
    for got in [vol.join("src"), seen.join("vol/src")] {
        assert_eq!(digest(&src), digest(&got));
    }
    let got = vol.join("src");
    let f = std::fs::metadata(got.join("file")).unwrap();
    assert_eq!((f.uid(), f.gid()), (33, 4));
    assert_eq!(f.mode() & 0o7777, 0o640);
    assert_eq!(
        f.mtime(),
        std::fs::metadata(src.join("file")).unwrap().mtime()
    );
    assert_eq!(
        f.ino(),
        std::fs::metadata(got.join("sub/hardlink")).unwrap().ino()
    );
    assert_eq!(xattrs(&got.join("file")), "user.color=blue\n");
    assert_eq!(xattrs(&got.join("sub")), "user.dir=yes\n");
    assert_eq!(
        std::fs::read_link(got.join("long-link")).unwrap(),
        Path::new(&format!("{LONG_DIR}/{LONG_FILE}"))
    );
    // Without -a: the container's root owns it all, no xattrs; an existing file is replaced.
    let plain = vol.join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::create_dir(plain.join("src")).unwrap();
    std::fs::write(plain.join("src/file"), "old").unwrap();
    let o = nsk_from_file(&env, &["cp", "-", "tarin:/vol/plain"], &archive);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(digest(&src), digest(&plain.join("src")));
    let f = std::fs::metadata(plain.join("src/file")).unwrap();
    assert_eq!((f.uid(), f.gid()), (0, 0));
    assert_eq!(xattrs(&plain.join("src/file")), "");
    // After the end marker, nsk reads on: a writer whose padding comes late never dies of
    // SIGPIPE, and data there gets one warning. A writer that keeps its end open and silent,
    // and endless input, never keep nsk waiting.
    let spawn = || {
        env.cmd()
            .args(["cp", "-", "tarin:/vol/plain"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let whole = std::fs::read(&archive).unwrap();
    let mut child = spawn();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&whole).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let late = input.write_all(&[[0u8; 10240].as_slice(), b"junk"].concat());
    drop(input);
    let o: Out = child.wait_with_output().unwrap().into();
    assert!(
        late.is_ok(),
        "nsk stopped reading at the end marker: {late:?} {o:?}"
    );
    assert_eq!(o.code, 0, "{o:?}");
    let warning = "nsk: warning: input after the end of the tar stream was ignored";
    assert!(
        o.stderr
            .ends_with(&format!("\n{warning}: it is not zero padding\n")),
        "{o:?}"
    );
    let mut child = spawn();
    let mut input = child.stdin.take().unwrap();
    input.write_all(&whole).unwrap();
    let waited = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            waited.elapsed().as_secs() < 30,
            "nsk waits for a silent writer"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(input);
    let o: Out = child.wait_with_output().unwrap().into();
    assert!(status.success(), "{o:?}");
    assert!(!o.stderr.contains(warning), "{o:?}");
    let o: Out = env
        .cmd()
        .args(["cp", "-", "tarin:/vol/plain"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stderr,
        format!("{warning}: more than 1024 KiB of padding\n"),
        "{o:?}"
    );
    // DIR must exist and be a directory; garbage is one line; no temporary is left behind.
    one_line_error(&nsk_from_file(
        &env,
        &["cp", "-", "tarin:/nonexistent"],
        &archive,
    ));
    one_line_error(&nsk_from_file(&env, &["cp", "-", "tarin:/sleep"], &archive));
    let junk = t.path().join("junk");
    std::fs::write(&junk, "this is not a tar archive").unwrap();
    one_line_error(&nsk_from_file(&env, &["cp", "-", "tarin:/vol"], &junk));
    let cut = t.path().join("cut.tar");
    let whole = std::fs::read(&archive).unwrap();
    let at = whole
        .windows(6)
        .position(|w| w == b"\x07\x07\x07\x07\x07\x07")
        .unwrap()
        + 4096;
    std::fs::write(&cut, &whole[..at]).unwrap();
    let o = nsk_from_file(&env, &["cp", "-", "tarin:/vol/plain"], &cut);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr
            .ends_with("nsk: truncated archive: it ends in the middle of an entry\n"),
        "{o:?}"
    );
    let tmp = std::process::Command::new("find")
        .arg(&vol)
        .args(["-name", ".nsk-cp-*"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tmp.stdout), "");
    env.nsk(&["rm", "-f", "tarin"]);
    env.assert_clean();
}

/// Entries of a hand-made archive: name, type flag, link target.
type RawEntries<'a> = Vec<(String, u8, &'a str)>;

/// A ustar entry, hand-made so that it can hold what no honest tar writes.
fn raw_entry(out: &mut Vec<u8>, path: &str, kind: u8, data: &[u8], link: &str) {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut h, 0, path.as_bytes());
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    h[156] = kind;
    put(&mut h, 157, link.as_bytes());
    put(&mut h, 257, b"ustar\x0000");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    out.extend(h);
    out.extend(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

/// Hostile streams: a symlink then an entry through it (to the container's / and to a host
/// decoy's absolute path), `..` names, absolute names, hard links out. Nothing may be written
/// outside the destination, and nothing at all outside the container's root.
#[test]
fn hostile_tar_streams_never_write_outside_the_root() {
    let env = Env::new();
    let t = tmp("hostile");
    let root = distroless(t.path());
    let decoy = t.path().join("hostdecoy");
    std::fs::create_dir(&decoy).unwrap();
    std::fs::write(decoy.join("canary"), "HOST").unwrap();
    let seen = start(&env, "hostile", &root, &[]);
    // Every escape aims at the decoy: followed on the host, `/`, an absolute link, or enough
    // `..` all lead there (never to a real system path).
    let d = decoy.to_str().unwrap();
    let dr = d.trim_start_matches('/');
    let up = "../".repeat(12);
    let (l1, l2) = (format!("{up}{dr}/canary"), format!("/{dr}/canary"));
    let cases: Vec<(&str, RawEntries)> = vec![
        (
            "through /",
            vec![
                ("evil".into(), b'2', "/"),
                (format!("evil/{dr}/x"), b'0', ""),
            ],
        ),
        (
            "through an absolute link to the decoy",
            vec![("e2".into(), b'2', d), ("e2/x".into(), b'0', "")],
        ),
        (
            "through a relative link up",
            vec![("e3".into(), b'2', &up), (format!("e3/{dr}/x"), b'0', "")],
        ),
        ("dot-dot", vec![(format!("{up}{dr}/up"), b'0', "")]),
        (
            "dot-dot inside",
            vec![(format!("a/{up}{dr}/up2"), b'0', "")],
        ),
        (
            "a directory over a link",
            vec![("e4".into(), b'2', d), ("e4/".into(), b'5', "")],
        ),
        ("hard link out", vec![("hl".into(), b'1', &l1)]),
        ("hard link absolute", vec![("hl2".into(), b'1', &l2)]),
    ];
    for (what, entries) in cases {
        let mut a = vec![];
        for (p, k, link) in &entries {
            let data: &[u8] = if *k == b'0' { b"PWNED" } else { b"" };
            raw_entry(&mut a, p, *k, data, if *k == b'0' { "" } else { link });
        }
        a.extend([0u8; 1024]);
        let f = t.path().join("hostile.tar");
        std::fs::write(&f, &a).unwrap();
        let o = nsk_from_file(&env, &["cp", "-", "hostile:/data"], &f);
        one_line_error(&o);
        eprintln!("{what}: {}", o.stderr.trim());
    }
    // An absolute name is taken beneath DIR, as GNU tar does.
    let mut a = vec![];
    raw_entry(&mut a, "/abs/y", b'0', b"INSIDE", "");
    a.extend([0u8; 1024]);
    let f = t.path().join("abs.tar");
    std::fs::write(&f, &a).unwrap();
    let o = nsk_from_file(&env, &["cp", "-", "hostile:/data"], &f);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        std::fs::read_to_string(seen.join("data/abs/y")).unwrap(),
        "INSIDE"
    );
    // The decoy, the host and the container's own / are untouched.
    let names: Vec<_> = std::fs::read_dir(&decoy)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("canary")]);
    let c = std::fs::metadata(decoy.join("canary")).unwrap();
    assert_eq!(c.nlink(), 1, "the decoy's canary was linked");
    assert_eq!(
        std::fs::read_to_string(decoy.join("canary")).unwrap(),
        "HOST"
    );
    for p in [
        dr.split('/').next().unwrap(),
        "up",
        "up2",
        "data/hl",
        "data/hl2",
        "data/a",
    ] {
        assert!(!seen.join(p).exists(), "{p} was written in the container");
    }
    let grep = std::process::Command::new("grep")
        .args(["-rl", "--exclude=*.tar", "PWNED"])
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&grep.stdout),
        "",
        "a payload landed"
    );
    env.nsk(&["rm", "-f", "hostile"]);
    env.assert_clean();
}

/// `-a` keeps user.* and trusted.* xattrs of files and directories both ways and through tar
/// streams; without it none are copied; a filesystem that refuses them (ramfs) gets one
/// warning line with a count, and the copy succeeds.
#[test]
fn a_keeps_xattrs_both_ways() {
    let env = Env::new();
    let t = disk_tmp("xattr");
    let root = distroless(t.path());
    let vol = t.path().join("vol");
    let ram = t.path().join("ram");
    std::fs::create_dir(&vol).unwrap();
    std::fs::create_dir(&ram).unwrap();
    let m = std::process::Command::new("mount")
        .args(["-t", "ramfs", "nsk-test-cp-ramfs"])
        .arg(&ram)
        .status()
        .unwrap();
    assert!(m.success());
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(ram.clone());
    let vols = format!("{}:/vol", vol.display());
    let rams = format!("{}:/ram", ram.display());
    start(&env, "xa", &root, &["-v", &vols, "-v", &rams]);
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("dir/f"), "x").unwrap();
    setxattr(&src.join("dir/f"), "user.one", "1");
    let trusted = trusted_xattrs(t.path());
    if trusted {
        setxattr(&src.join("dir/f"), "trusted.nsk-test", "t");
    } else {
        eprintln!(
            "the filesystem of {:?} takes no trusted.* xattrs: user.* only",
            t.path()
        );
    }
    let tr = if trusted { "trusted.nsk-test=t\n" } else { "" };
    setxattr(&src.join("dir"), "user.d", "dir");
    let want_f = format!("{tr}user.one=1\n");
    // In: with -a kept, without none.
    let o = env.nsk(&["cp", "-a", src.join("dir").to_str().unwrap(), "xa:/vol/a"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr, "", "{o:?}");
    assert_eq!(xattrs(&vol.join("a/f")), want_f);
    assert_eq!(xattrs(&vol.join("a")), "user.d=dir\n");
    let o = env.nsk(&["cp", src.join("dir").to_str().unwrap(), "xa:/vol/plain"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(xattrs(&vol.join("plain/f")), "");
    // Out: from what nsk wrote (set again by Python, so the source is not nsk's own doing).
    setxattr(&vol.join("a/f"), "user.two", "2");
    let out = t.path().join("out");
    let o = env.nsk(&["cp", "-a", "xa:/vol/a", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        xattrs(&out.join("f")),
        format!("{tr}user.one=1\nuser.two=2\n")
    );
    assert_eq!(xattrs(&out), "user.d=dir\n");
    // Through a tar stream: PAX SCHILY.xattr records that GNU tar reads back.
    let archive = t.path().join("x.tar");
    let o = nsk_to_file(&env, &["cp", "-a", "xa:/vol/a", "-"], &archive);
    assert_eq!(o.code, 0, "{o:?}");
    let back = t.path().join("back");
    std::fs::create_dir(&back).unwrap();
    system_tar(&["-xf", archive.to_str().unwrap()], &back);
    assert_eq!(
        xattrs(&back.join("a/f")),
        format!("{tr}user.one=1\nuser.two=2\n")
    );
    assert_eq!(xattrs(&back.join("a")), "user.d=dir\n");
    let plain_tar = t.path().join("plain.tar");
    let o = nsk_to_file(&env, &["cp", "xa:/vol/a", "-"], &plain_tar);
    assert_eq!(o.code, 0, "{o:?}");
    let plain = t.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    system_tar(&["-xf", plain_tar.to_str().unwrap()], &plain);
    assert_eq!(xattrs(&plain.join("a/f")), "", "without -a, no xattrs");
    // A filesystem with no xattrs: one warning line with the count, the files copied.
    let o = env.nsk(&["cp", "-a", src.join("dir").to_str().unwrap(), "xa:/ram"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(
        o.stderr.starts_with(&format!(
            "nsk: {} extended attribute(s) not kept: the filesystem of /ram refused them",
            if trusted { 3 } else { 2 }
        )),
        "{o:?}"
    );
    assert_eq!(std::fs::read_to_string(ram.join("dir/f")).unwrap(), "x");
    let o = nsk_from_file(&env, &["cp", "-a", "-", "xa:/ram"], &archive);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.starts_with(&format!(
            "nsk: {} extended attribute(s) not kept: the filesystem of /ram refused them",
            if trusted { 4 } else { 3 }
        )),
        "{o:?}"
    );
    assert_eq!(std::fs::read_to_string(ram.join("a/f")).unwrap(), "x");
    env.nsk(&["rm", "-f", "xa"]);
    env.assert_clean();
}
