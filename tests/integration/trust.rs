//! nsk trusts nothing it did not make: the caller's umask, state roots and entries owned or
//! writable by others, hostile state and journal files. Every target here is a decoy this test
//! made (state roots, processes, files), never a host path.

use crate::util::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// nsk with `args` under `umask`, on the state root `root`.
fn under_umask(env: &Env, umask: &str, root: &Path, args: &[&str]) -> Out {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask} && exec \"$@\""))
        .arg("sh")
        .arg(NSK)
        .args(args)
        .env("NSK_ROOT", root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    let _ = env;
    c.output().unwrap().into()
}

#[test]
fn modes_are_nsks_whatever_the_umask() {
    let env = Env::new();
    for umask in ["000", "077"] {
        let root = env.root.path().join(format!("r{umask}"));
        let rootfs = rootfs().to_str().unwrap().to_string();
        let o = under_umask(
            &env,
            umask,
            &root,
            &[
                "run",
                "-d",
                "--name",
                "u",
                "--storage-size",
                "max",
                "--rootfs",
                &rootfs,
                "--cgroup-parent",
                &env.cgroup_parent,
                "--",
                "sh",
                "-c",
                "echo hi; touch /made; sleep 100",
            ],
        );
        assert_eq!(o.code, 0, "{o:?}");
        let o = under_umask(&env, umask, &root, &["limit", "u", "--pids", "50"]);
        assert_eq!(o.code, 0, "{o:?}");
        let c = root.join("u");
        assert_eq!(mode(&root), 0o700, "umask {umask}");
        assert_eq!(mode(&c), 0o700, "umask {umask}");
        for f in ["state.json", "nsk-container.json", "log"] {
            assert_eq!(mode(&c.join(f)), 0o600, "{f} under umask {umask}");
        }
        // Unbounded, the writable layer is in the container's directory: the upper dir is the
        // container's `/` (0755 as docker's), behind the 0700 directory.
        assert_eq!(mode(&c.join("upper")), 0o755, "umask {umask}");
        assert_eq!(mode(&c.join("work")), 0o700, "umask {umask}");
        assert_eq!(mode(&root.join(".limits")), 0o700, "umask {umask}");
        for j in std::fs::read_dir(root.join(".limits")).unwrap() {
            assert_eq!(
                mode(&j.unwrap().path()),
                0o600,
                "journal under umask {umask}"
            );
        }
        // Inside, `/` is usable by every user whatever the caller's umask.
        let o = under_umask(
            &env,
            umask,
            &root,
            &[
                "run",
                "--rm",
                "-u",
                "nobody",
                "--rootfs",
                &rootfs,
                "--cgroup-parent",
                &env.cgroup_parent,
                "--",
                "sh",
                "-c",
                "stat -c %a / && ls /bin/sh",
            ],
        );
        assert_eq!((o.code, o.stdout.as_str()), (0, "755\n/bin/sh\n"), "{o:?}");
        let o = under_umask(&env, umask, &root, &["rm", "-f", "u"]);
        assert_eq!(o.code, 0, "{o:?}");
        std::fs::remove_dir_all(root.join(".limits")).unwrap();
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            0,
            "left in {root:?}"
        );
        std::fs::remove_dir(&root).unwrap();
    }
    env.assert_clean();
}

#[test]
fn roots_and_entries_others_own_or_can_write_are_refused() {
    let env = Env::new();
    assert_eq!(env.run(&["--name", "c", "--", "true"]).code, 0);
    let c = env.root.path().join("c");
    let one_line = |o: &Out, why: &str| {
        assert_eq!(o.code, 125, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        assert!(
            o.stderr.starts_with("nsk: ") && o.stderr.contains(why),
            "{o:?}"
        );
    };
    let nobody = Some(nix::unistd::Uid::from_raw(65534));
    // The root itself: owned by another user, then group- or world-writable.
    nix::unistd::chown(env.root.path(), nobody, None).unwrap();
    for args in [&["ps", "-a"][..], &["rm", "c"], &["inspect", "c"]] {
        one_line(&env.nsk(args), "owned by uid 65534, not by uid 0");
    }
    nix::unistd::chown(env.root.path(), Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    for m in [0o777, 0o1777, 0o720] {
        std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(m)).unwrap();
        one_line(
            &env.nsk(&["rm", "c"]),
            &format!("writable by group or others (mode {m:04o})"),
        );
        assert!(c.is_dir());
    }
    std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    // A container directory or state file another user owns or can write.
    nix::unistd::chown(&c, nobody, None).unwrap();
    one_line(&env.nsk(&["rm", "c"]), "owned by uid 65534");
    nix::unistd::chown(&c, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    std::fs::set_permissions(c.join("state.json"), std::fs::Permissions::from_mode(0o666)).unwrap();
    one_line(
        &env.nsk(&["rm", "c"]),
        "writable by group or others (mode 0666)",
    );
    std::fs::set_permissions(c.join("state.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
    nix::unistd::chown(&c.join("state.json"), nobody, None).unwrap();
    one_line(&env.nsk(&["rm", "c"]), "owned by uid 65534");
    nix::unistd::chown(
        &c.join("state.json"),
        Some(nix::unistd::Uid::from_raw(0)),
        None,
    )
    .unwrap();
    // A state root that is a symlink is not followed.
    let link = env.root.path().join("link");
    std::os::unix::fs::symlink(env.root.path(), &link).unwrap();
    let o: Out = env
        .cmd()
        .env("NSK_ROOT", &link)
        .args(["ps", "-a"])
        .output()
        .unwrap()
        .into();
    one_line(&o, "a symlink");
    std::fs::remove_file(&link).unwrap();
    assert_eq!(env.nsk(&["rm", "c"]).code, 0);
    env.assert_clean();
}

#[test]
fn a_non_root_default_root_is_made_and_checked_by_nsk() {
    let env = Env::new();
    // A decoy TMPDIR, world-writable and sticky as /tmp is.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let as_nobody = |args: &[&str]| -> Out {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(NSK)
            .args(args)
            .env_remove("NSK_ROOT")
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    };
    let own = tmp.path().join("nsk-65534");
    // Another user made it first, open to all: refused, and nothing planted there is listed.
    std::fs::create_dir(&own).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::create_dir(own.join("planted")).unwrap();
    let o = as_nobody(&["ps", "-a"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr.starts_with("nsk: ") && o.stderr.contains("owned by uid 0, not by uid 65534"),
        "{o:?}"
    );
    assert!(!o.stdout.contains("planted"));
    std::fs::remove_dir_all(&own).unwrap();
    // Missing: nsk makes it, 0700 and the caller's own.
    let rootfs = rootfs().to_str().unwrap().to_string();
    let o = as_nobody(&["run", "--userns", "--rm", "--rootfs", &rootfs, "--", "true"]);
    assert_eq!(o.code, 0, "{o:?}");
    let md = std::fs::symlink_metadata(&own).unwrap();
    assert!(md.is_dir());
    assert_eq!((md.uid(), mode(&own)), (65534, 0o700));
    assert_eq!(std::fs::read_dir(&own).unwrap().count(), 0);
    std::fs::remove_dir(&own).unwrap();
    env.assert_clean();
}

/// A process of the test's own, in the host's PID namespace: what a forged state file aims at.
struct Decoy(std::process::Child);

impl Decoy {
    fn start() -> Decoy {
        Decoy(Command::new("sleep").arg("100000").spawn().unwrap())
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    fn start_time(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = &s[s.rfind(')').unwrap() + 2..];
        after.split(' ').nth(19).unwrap().parse().unwrap()
    }
    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_forged_state_never_aims_a_signal_or_enter_at_another_process() {
    let env = Env::new();
    assert_eq!(env.run(&["--name", "f", "--", "true"]).code, 0);
    let mut decoy = Decoy::start();
    let sp = env.root.path().join("f/state.json");
    let orig = std::fs::read(&sp).unwrap();
    let (dpid, dstart) = (decoy.pid(), decoy.start_time());
    let forge = |pidns: Option<u64>| {
        let mut st: serde_json::Value = serde_json::from_slice(&orig).unwrap();
        st["status"] = "running".into();
        st["pid"] = dpid.into();
        st["start_time"] = dstart.into();
        match pidns {
            Some(n) => st["namespaces"]["pid"] = n.into(),
            None => {
                st["namespaces"].as_object_mut().unwrap().remove("pid");
            }
        }
        std::fs::write(&sp, serde_json::to_vec(&st).unwrap()).unwrap();
    };
    let host_pidns: u64 = {
        let l = host_ns("pid");
        l[l.find('[').unwrap() + 1..l.len() - 1].parse().unwrap()
    };
    let recorded = env.state("f")["namespaces"]["pid"].as_u64().unwrap();
    // The container's own recorded namespace, nsk's (the host's), and none at all.
    for ns in [Some(recorded), Some(host_pidns), None] {
        forge(ns);
        for args in [
            &["kill", "f", "TERM"][..],
            &["stop", "-t", "0", "f"],
            &["rm", "-f", "f"],
            &["enter", "f", "--", "true"],
            &["limit", "f", "--pids", "5"],
        ] {
            let o = env.nsk(args);
            assert_eq!(o.code, 125, "{args:?} {ns:?}: {o:?}");
            assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
            assert!(o.stderr.contains("damaged state"), "{args:?}: {o:?}");
            assert!(
                decoy.alive(),
                "{args:?} with pid namespace {ns:?} signalled the decoy"
            );
        }
        let ps = env.nsk(&["ps", "-a"]);
        assert!(ps.stdout.contains("damaged"), "{ps:?}");
        assert!(ps.stderr.contains("does not match the kernel"), "{ps:?}");
    }
    assert!(env.root.path().join("f/nsk-container.json").is_file());
    std::fs::write(&sp, &orig).unwrap();
    assert_eq!(env.nsk(&["rm", "f"]).code, 0);
    env.assert_clean();
}

#[test]
fn rm_acts_only_on_the_name_typed() {
    let env = Env::new();
    for n in ["h4", "victim"] {
        assert_eq!(env.run(&["--name", n, "--", "true"]).code, 0);
    }
    // h4's state claims to be victim's: rm h4 removes neither.
    let h4 = std::fs::read(env.root.path().join("h4/state.json")).unwrap();
    let victim = env.state("victim");
    std::fs::write(
        env.root.path().join("h4/state.json"),
        serde_json::to_vec(&victim).unwrap(),
    )
    .unwrap();
    let o = env.nsk(&["rm", "h4"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("names container 'victim'"), "{o:?}");
    assert!(env.root.path().join("victim/nsk-container.json").is_file());
    assert!(env.root.path().join("h4/nsk-container.json").is_file());
    // A state.json that is a symlink out of the root is not followed.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("state.json");
    let mut st = env.state("victim");
    st["name"] = "h4".into();
    std::fs::write(&target, serde_json::to_vec(&st).unwrap()).unwrap();
    std::fs::remove_file(env.root.path().join("h4/state.json")).unwrap();
    std::os::unix::fs::symlink(&target, env.root.path().join("h4/state.json")).unwrap();
    let o = env.nsk(&["rm", "-f", "h4"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("a symlink"), "{o:?}");
    assert!(target.is_file());
    assert!(env.root.path().join("h4/nsk-container.json").is_file());
    assert_eq!(env.nsk(&["rm", "victim"]).code, 0);
    std::fs::remove_file(env.root.path().join("h4/state.json")).unwrap();
    std::fs::write(env.root.path().join("h4/state.json"), h4).unwrap();
    assert_eq!(env.nsk(&["rm", "h4"]).code, 0);
    env.assert_clean();
}

#[test]
fn a_running_container_with_a_corrupt_state_is_not_removed() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "live", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    let pid = env.pid("live");
    let cgroups = env.leftover_cgroups();
    let sp = env.root.path().join("live/state.json");
    let orig = std::fs::read(&sp).unwrap();
    for garbage in [&b"{ not json"[..], b"", b"[]"] {
        std::fs::write(&sp, garbage).unwrap();
        for args in [&["rm", "live"][..], &["rm", "-f", "live"]] {
            let o = env.nsk(args);
            assert_eq!(o.code, 125, "{args:?}: {o:?}");
            assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
            assert!(o.stderr.contains("damaged state"), "{o:?}");
            assert!(pid_alive(pid), "{args:?} stopped the container");
            assert!(env.root.path().join("live/nsk-container.json").is_file());
            assert_eq!(env.leftover_cgroups(), cgroups);
        }
    }
    std::fs::write(&sp, &orig).unwrap();
    assert_eq!(env.nsk(&["rm", "-f", "live"]).code, 0);
    assert!(!pid_alive(pid));
    env.assert_clean();
}

#[test]
fn a_forged_journal_writes_only_limit_files_of_its_own_cgroup() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "j", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(env.nsk(&["limit", "j", "--pids", "10"]).code, 0);
    let pids_dir = env.cgroup_dir("j", "pids");
    let procs_before = std::fs::read_to_string(pids_dir.join("cgroup.procs")).unwrap();
    let mut decoy = Decoy::start();
    let jdir = env.root.path().join(".limits");
    let jf = std::fs::read_dir(&jdir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&jf).unwrap()).unwrap();
    let procs = pids_dir.join("cgroup.procs");
    j["original"][procs.to_str().unwrap()] = decoy.pid().to_string().into();
    std::fs::write(&jf, serde_json::to_vec(&j).unwrap()).unwrap();
    let o = env.nsk(&["limit", "j", "--reset"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("refusing to reset"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&procs).unwrap(), procs_before);
    assert!(decoy.alive());
    // A journal that is a symlink, or writable by others, is not read at all.
    std::fs::set_permissions(&jf, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = env.nsk(&["limit", "j", "--reset"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("writable by group or others"), "{o:?}");
    std::fs::remove_file(&jf).unwrap();
    assert_eq!(env.nsk(&["rm", "-f", "j"]).code, 0);
    env.assert_clean();
}

#[test]
fn the_cgroup_parent_is_confined_and_only_what_nsk_made_is_removed() {
    let env = Env::new();
    // Climbing out of the hierarchies is refused before anything is made: were it not, the
    // directories would land in this decoy.
    let decoy = tempfile::tempdir().unwrap();
    let climb = format!(
        "{}{}",
        "../".repeat(12),
        decoy.path().to_str().unwrap().trim_start_matches('/')
    );
    for bad in [
        climb.as_str(),
        "..",
        "a/../b",
        "/abs",
        "a//b",
        "./a",
        "",
        "a/cgroup.procs",
    ] {
        let mut c = env.cmd();
        let o: Out = c
            .args(["run", "--rm", "--rootfs"])
            .arg(rootfs())
            .args(["--cgroup-parent", bad, "--", "true"])
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 125, "{bad}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        assert!(o.stderr.contains("invalid --cgroup-parent"), "{o:?}");
    }
    assert_eq!(std::fs::read_dir(decoy.path()).unwrap().count(), 0);
    // Nested parents nsk makes are all removed again.
    let nested = format!("{}/b/c", env.cgroup_parent);
    let mut c = env.cmd();
    let o: Out = c
        .args(["run", "--rm", "--rootfs"])
        .arg(rootfs())
        .args(["--cgroup-parent", &nested, "--memory", "64M", "--", "true"])
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(env.leftover_cgroups(), Vec::<std::path::PathBuf>::new());
    // A parent that was there before nsk stays, whatever nsk made below it goes.
    let pre: Vec<std::path::PathBuf> = cgroup_mounts()
        .into_iter()
        .filter(|m| m.join("cgroup.procs").exists())
        .map(|m| m.join(&env.cgroup_parent))
        .collect();
    for p in &pre {
        std::fs::create_dir(p).unwrap();
    }
    for parent in [
        env.cgroup_parent.clone(),
        format!("{}/x", env.cgroup_parent),
    ] {
        let mut c = env.cmd();
        let o: Out = c
            .args(["run", "--rm", "--rootfs"])
            .arg(rootfs())
            .args(["--cgroup-parent", &parent, "--pids", "20", "--", "true"])
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 0, "{o:?}");
        for p in &pre {
            assert!(p.is_dir(), "{} (made by the test) was removed", p.display());
            let below: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .flatten()
                .filter(|e| e.file_type().unwrap().is_dir())
                .map(|e| e.path())
                .collect();
            assert!(below.is_empty(), "left below {}: {below:?}", p.display());
        }
    }
    assert!(!env.root.path().join(".cgroup-parents.json").exists());
    for p in &pre {
        std::fs::remove_dir(p).unwrap();
    }
    env.assert_clean();
}

#[test]
fn a_frozen_container_is_thawed_to_stop_or_remove_it() {
    for env in [Env::new(), Env::v2_view()] {
        for (name, args) in [
            ("fs", &["stop", "-t", "5", "fs"][..]),
            ("fr", &["rm", "-f", "fr"]),
        ] {
            let c = Counter::start(&env, name);
            let o = env.nsk(&["limit", name, "--freeze"]);
            assert_eq!(o.code, 0, "{o:?}");
            let n = c.get();
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert_eq!(c.get(), n, "the counter is frozen");
            let t = std::time::Instant::now();
            let o = env.nsk(args);
            assert_eq!(o.code, 0, "{args:?}: {o:?}");
            assert_eq!(o.stdout, format!("{name}\n"));
            assert_eq!(
                o.stderr,
                format!("nsk: container {name} is frozen: thawing it first\n")
            );
            // The command gets SIGTERM (sh dies of it at once) instead of waiting for SIGKILL.
            assert!(
                t.elapsed() < std::time::Duration::from_secs(4),
                "{:?}",
                t.elapsed()
            );
        }
        assert_eq!(env.nsk(&["rm", "fs"]).code, 0);
        let _ = std::fs::remove_dir_all(env.root.path().join(".limits"));
        env.assert_clean();
    }
}

#[test]
fn numeric_names_are_refused() {
    let env = Env::new();
    for n in ["1234", "1", "007"] {
        let o = env.run(&["--name", n, "--", "true"]);
        assert_eq!(o.code, 125, "{o:?}");
        assert_eq!(
            o.stderr,
            format!("nsk: invalid container name '{n}': a name of digits only would be taken for a PID (example: c{n})\n")
        );
    }
    env.assert_clean();
}

#[test]
fn limiting_a_host_process_that_shares_its_cgroup_warns() {
    let env = Env::new();
    // Two host processes of the test's own in one cgroup the test made, in every hierarchy.
    let mut a = Command::new("sleep").arg("100").spawn().unwrap();
    let mut b = Command::new("sleep").arg("100").spawn().unwrap();
    let dirs: Vec<std::path::PathBuf> = cgroup_mounts()
        .into_iter()
        .filter(|m| m.join("cgroup.procs").exists())
        .map(|m| m.join(&env.cgroup_parent))
        .collect();
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
        // A v1 cpuset takes no task before it has CPUs and memory nodes.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let cur = std::fs::read_to_string(d.join(f));
            let parent = std::fs::read_to_string(d.parent().unwrap().join(f));
            if let (Ok(cur), Ok(v)) = (cur, parent) {
                if cur.trim().is_empty() {
                    std::fs::write(d.join(f), v.trim()).unwrap();
                }
            }
        }
        for p in [a.id(), b.id()] {
            std::fs::write(d.join("cgroup.procs"), p.to_string()).unwrap();
        }
    }
    let o = env.nsk(&["limit", &a.id().to_string(), "--pids", "100", "--dry-run"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "also holds 1 process(es) that are not {} or its children (PIDs {})",
            a.id(),
            b.id()
        )),
        "{o:?}"
    );
    // Alone in its cgroup (its children do not count): no warning.
    let _ = b.kill();
    let _ = b.wait();
    let o = env.nsk(&["limit", &a.id().to_string(), "--pids", "100", "--dry-run"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stderr.contains("also holds"), "{o:?}");
    let _ = a.kill();
    let _ = a.wait();
    for d in &dirs {
        for _ in 0..100 {
            if std::fs::remove_dir(d).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    env.assert_clean();
}

/// Concurrent `limit` and `--reset` on one container: each change lands whole, and the journal
/// keeps the value from before nsk's first change whatever the interleaving.
#[test]
fn concurrent_limits_and_resets_on_one_target_are_serialized() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "cc", "--", "sleep", "300"]);
    assert_eq!(o.code, 0, "{o:?}");
    let pids = env.cgroup_dir("cc", "pids").join("pids.max");
    let mem = env.cgroup_dir("cc", "memory");
    let v2 = env.state("cc")["cgroups"]["version"] == "v2";
    let mem_file = mem.join(if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    });
    let read = |p: &Path| std::fs::read_to_string(p).unwrap().trim().to_string();
    let (pids0, mem0) = (read(&pids), read(&mem_file));
    for round in 0..5 {
        let kids: Vec<std::process::Child> = (0..12)
            .map(|i| {
                let mut c = env.cmd();
                if i % 3 == 2 {
                    c.args(["limit", "cc", "--reset"]);
                } else {
                    let n = 300 + round * 20 + i;
                    c.args(["limit", "cc", "--pids", &n.to_string()])
                        .args(["--memory", &format!("{n}M")]);
                }
                c.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut k in kids {
            k.wait().unwrap();
        }
        // One call's values, never a mix: pids N goes with memory N MiB.
        let p = read(&pids);
        if p != pids0 {
            let n: u64 = p.parse().unwrap();
            assert_eq!(read(&mem_file), (n << 20).to_string(), "round {round}");
        }
        let o = env.nsk(&["limit", "cc", "--reset"]);
        assert!(
            o.code == 0 || o.stderr.contains("nothing to reset"),
            "round {round}: {o:?}"
        );
        assert_eq!(
            (read(&pids), read(&mem_file)),
            (pids0.clone(), mem0.clone()),
            "round {round}"
        );
    }
    assert_eq!(env.nsk(&["rm", "-f", "cc"]).code, 0);
    env.assert_clean();
}

#[test]
fn every_input_error_is_one_line_that_names_the_value() {
    let env = Env::new();
    let cg = env.cgroup_parent.clone();
    let rootfs = rootfs().to_str().unwrap().to_string();
    let run = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["run", "--rm", "--rootfs", &rootfs, "--cgroup-parent", &cg]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // clap's own errors, with a tip or an example where one helps.
        (vec!["run".into(), "--memory".into()], "nsk: a value is required for '--memory <SIZE>' but none was supplied; example: --memory 256M (see nsk run --help)"),
        (vec!["inspect".into(), "-1".into()], "nsk: unexpected argument '-1' found; to pass '-1' as a value, use '-- -1' (see nsk inspect --help)"),
        (vec!["kill".into(), "X".into(), "-9".into()], "unexpected argument '-9' found"),
        (vec!["run".into(), "--net".into(), "bogus".into()], "[possible values: none, host]"),
        (vec!["stop".into()], "required arguments were not provided: <TARGET>... (see nsk stop --help)"),
        (vec!["image".into(), "rm".into()], "(see nsk image rm --help)"),
        (vec!["frobnicate".into()], "unrecognized subcommand 'frobnicate'"),
        // Values refused by their type as the command line is read, naming option and value.
        (vec!["run".into(), "--memory".into(), "0".into(), "true".into()], "nsk: invalid --memory '0': must be greater than zero (examples: 256M, 1.5G, 1048576, max)\n"),
        (vec!["run".into(), "--memory".into(), "99999999999999999999G".into(), "true".into()], "nsk: invalid --memory '99999999999999999999G': too large (examples: 256M, 1.5G, 1048576, max)\n"),
        (vec!["limit".into(), "x".into(), "--cpus".into(), "1\x1b[2J".into()], "nsk: invalid --cpus '1\\x1b[2J': not a number (examples: 0.5, 2, max)\n"),
        (vec!["limit".into(), "x".into(), "--io-weight".into(), "0".into()], "nsk: invalid --io-weight '0': must be between 1 and 10000\n"),
        (vec!["kill".into(), "x".into(), "SIGNOPE".into()], "nsk: invalid signal 'SIGNOPE': no such signal name (examples: TERM, SIGKILL, 9)\n"),
        (vec!["stop".into(), "-t".into(), "soon".into(), "x".into()], "nsk: invalid --time 'soon': not a whole number (examples: 0, 10, 30)\n"),
        (vec!["top".into(), "-i".into(), "0.01".into()], "nsk: invalid --interval '0.01': from 0.1 to 3600 seconds (examples: 2, 0.5)\n"),
        // Every change limit can make conflicts with --reset, as one group.
        (vec!["limit".into(), "x".into(), "--io-weight".into(), "5".into(), "--reset".into()], "nsk: the argument '--io-weight <N>' cannot be used with '--reset' (see nsk limit --help)\n"),
        (vec!["limit".into(), "x".into(), "--thaw".into(), "--reset".into()], "nsk: the argument '--thaw' cannot be used with '--reset' (see nsk limit --help)\n"),
        (vec!["limit".into(), "x".into(), "--reset".into(), "--cpus".into(), "1".into()], "nsk: the argument '--reset' cannot be used with '--cpus <N>' (see nsk limit --help)\n"),
        // nsk's checks, before anything is made.
        (run(&["--bogus"]), "unknown option '--bogus' for nsk run (a command that starts with '-' goes after --: nsk run -- --bogus"),
        // A -- further on does not make an unknown option a command.
        (run(&["--cpuset-cpus", "1", "--", "true"]), "unknown option '--cpuset-cpus' for nsk run"),
        (run(&["--hostname", "a\nb", "true"]), "invalid hostname 'a\\nb'"),
        (run(&["--hostname", "a\u{1b}[2J", "true"]), "invalid hostname 'a\\u{1b}[2J'"),
        (run(&["--hostname", "a/b", "true"]), "invalid hostname 'a/b'"),
        (run(&["-e", "A\nB=1", "true"]), "invalid environment variable 'A\\nB=1'"),
        (run(&["--pids", "1", "true"]), "invalid --pids 1: nsk's init counts"),
        (run(&["--memory", "4k", "true"]), "invalid --memory 4k: a container needs at least 6M"),
        (run(&["-u", "4294967295", "true"]), "invalid -u '4294967295'"),
        (run(&["-v", "/tmp:/dev", "true"]), "nsk mounts the container's own /dev there"),
        (run(&["-v", "/tmp:/proc/keys", "true"]), "nsk mounts the container's own /proc there"),
    ];
    for (args, want) in cases {
        let o = env.nsk(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        assert_eq!(o.code, 125, "{args:?}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
        assert!(o.stderr.starts_with("nsk: "), "{args:?}: {o:?}");
        assert!(o.stderr.contains(want), "{args:?}: want {want:?}: {o:?}");
    }
    // A command starting with '-' runs when it follows --; -- elsewhere still lets options be.
    let o = env.run(&["--rm", "--", "sh", "-c", "echo ok"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "ok\n"), "{o:?}");
    env.assert_clean();
}

#[test]
fn the_writable_layer_is_bounded() {
    let env = Env::new();
    // Bounded: writes past the bound fail inside, and nothing reaches the state root.
    let o = env.run(&[
        "--name",
        "b",
        "--storage-size",
        "2M",
        "--",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; echo $?; df -k / | tail -1",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.starts_with("1\n"),
        "dd succeeded past the bound: {o:?}"
    );
    let used = std::process::Command::new("du")
        .args(["-sk"])
        .arg(env.root.path().join("b"))
        .output()
        .unwrap();
    let kb: u64 = String::from_utf8_lossy(&used.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(kb < 512, "{kb} KiB written to the state root");
    assert_eq!(env.nsk(&["rm", "b"]).code, 0);
    for bad in ["0", "4k", "x"] {
        let o = env.run(&["--rm", "--storage-size", bad, "--", "true"]);
        assert_eq!(o.code, 125, "{o:?}");
        assert!(o.stderr.contains("invalid --storage-size"), "{o:?}");
    }
    env.assert_clean();
}

/// A state root on a small filesystem that the container fills (unbounded writable layer):
/// the exit status is still recorded and no temp file is left.
#[test]
fn a_full_state_root_loses_no_exit_status() {
    let env = Env::new();
    let small = env.root.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let m = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m,mode=0700", "nsk-test-small"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(m.success());
    /// Unmounts the test's tmpfs even when an assertion fails.
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
            let _ = std::fs::remove_dir(self.0);
        }
    }
    let mounted = Unmount(&small);
    let root = small.join("state");
    let nsk = |args: &[&str]| -> Out {
        env.cmd()
            .env("NSK_ROOT", &root)
            .args(args)
            .output()
            .unwrap()
            .into()
    };
    let mut args = vec!["run", "--name", "full", "--storage-size", "max", "--rootfs"];
    let rootfs = rootfs().to_str().unwrap().to_string();
    args.push(&rootfs);
    let cg = env.cgroup_parent.clone();
    args.extend(["--cgroup-parent", &cg, "--", "sh", "-c"]);
    args.push("dd if=/dev/zero of=/fill bs=64k 2>/dev/null; exit 3");
    let o = nsk(&args);
    assert_eq!(o.code, 3, "{o:?}");
    let df = Command::new("df").arg(&small).output().unwrap();
    assert!(
        String::from_utf8_lossy(&df.stdout).contains("100%"),
        "the root did not fill: {df:?}"
    );
    let ps = nsk(&["ps", "-a"]);
    assert!(ps.stdout.contains("exited (3)"), "{ps:?}");
    let left: Vec<String> = std::fs::read_dir(root.join("full"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "temp files left");
    let o = nsk(&["rm", "full"]);
    assert_eq!(o.code, 0, "{o:?}");
    drop(mounted);
    assert!(!small.exists(), "the tmpfs is still mounted");
    env.assert_clean();
}

#[test]
fn image_import_and_rm_say_what_they_do() {
    let env = Env::new();
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(d.path().join("loop2"), d.path().join("loop1")).unwrap();
    std::os::unix::fs::symlink(d.path().join("loop1"), d.path().join("loop2")).unwrap();
    nix::unistd::mkfifo(
        &d.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let path = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let o = env.nsk(&["image", "import", &path("loop1")]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("too many symbolic links"), "{o:?}");
    // A FIFO is refused at once instead of blocking the import.
    let t = std::time::Instant::now();
    let o = env.nsk(&["image", "import", &path("fifo")]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("not a regular file"), "{o:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // rm of one name keeps the image and its other names; rm of the last name removes it.
    let tar = path("small.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(rootfs())
        .args(["-cf", &tar, "."])
        .status()
        .unwrap()
        .success());
    for n in ["small:1", "small:2"] {
        assert_eq!(env.nsk(&["image", "import", &tar, "--name", n]).code, 0);
    }
    let o = env.nsk(&["image", "rm", "small:1"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "untagged small:1\n"),
        "{o:?}"
    );
    let ls = env.nsk(&["image", "ls"]);
    assert!(
        ls.stdout.contains("small:2") && !ls.stdout.contains("small:1"),
        "{ls:?}"
    );
    // The cache is checked like the state root.
    let images = env.root.path().join(".images");
    std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = env.nsk(&["image", "ls"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("writable by group or others"), "{o:?}");
    std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = env.nsk(&["image", "rm", "small:2"]);
    assert!(o.code == 0 && o.stdout.starts_with("sha256:"), "{o:?}");
    assert_eq!(env.nsk(&["image", "ls"]).stdout.lines().count(), 1);
    let _ = std::fs::remove_dir_all(env.root.path().join(".images"));
    env.assert_clean();
}
