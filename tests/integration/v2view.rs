//! nsk's cgroup v2 code against the real kernel on any host. Each test runs every nsk command in
//! a mount namespace of its own whose /sys/fs/cgroup is the kernel's cgroup2 hierarchy alone
//! (`Env::v2_view`): the same hierarchy as the host's unified mount, so the test checks from the
//! host what nsk did. On a hybrid host that hierarchy offers only the controllers v1 left it, so
//! these tests cover what cgroup2 does by itself: creating and removing cgroups, clone3 straight
//! into one, joining one, freezing and thawing, cpu.stat and pressure, and the refusal of a limit
//! whose controller is not enabled. Limits with their controllers run in the v2 guest
//! (tests/run.sh), where this view is the host itself.

use crate::util::*;
use std::path::{Path, PathBuf};

/// The controllers the cgroup2 root offers (what a container under it can be given).
fn offered(env: &Env) -> Vec<String> {
    let root = env.cgroup2_root();
    std::fs::read_to_string(root.join("cgroup.controllers"))
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The container's one cgroup2 directory, on the host, checked against its state file.
fn v2_dir(env: &Env, name: &str) -> PathBuf {
    let st = env.state(name);
    assert_eq!(st["cgroups"]["version"], "v2", "{st}");
    let dirs = st["cgroups"]["dirs"].as_array().unwrap();
    assert_eq!(dirs.len(), 1, "one unified directory: {st}");
    assert_eq!(dirs[0]["key"], "unified");
    let id = st["id"].as_str().unwrap();
    let view = Path::new(dirs[0]["path"].as_str().unwrap());
    assert_eq!(
        view,
        Path::new("/sys/fs/cgroup")
            .join(&env.cgroup_parent)
            .join(id)
    );
    env.host_path(view)
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn v2_run_creates_joins_and_removes_the_cgroup() {
    let env = Env::v2_view();
    // Foreground: the exit code comes through, and --rm takes the cgroup with it.
    let o = env.run(&["--rm", "--name", "fg", "--", "sh", "-c", "exit 3"]);
    assert_eq!(o.code, 3, "{o:?}");
    env.assert_clean();

    assert_eq!(
        env.run(&["-d", "--name", "bg", "--", "sleep", "100"]).code,
        0
    );
    let dir = v2_dir(&env, "bg");
    let pid = env.pid("bg");
    // init was cloned straight into the cgroup, and its command followed it.
    let procs = lines(&dir.join("cgroup.procs"));
    assert_eq!(procs.len(), 2, "init and sleep: {procs:?}");
    assert!(procs.contains(&pid.to_string()), "{procs:?}");
    let rel = format!(
        "0::/{}/{}",
        env.cgroup_parent,
        env.state("bg")["id"].as_str().unwrap()
    );
    let own = lines(Path::new(&format!("/proc/{pid}/cgroup")));
    assert!(own.contains(&rel), "{own:?}");
    assert!(lines(&dir.join("cgroup.events")).contains(&"populated 1".to_string()));
    // Inside, the cgroup namespace makes that cgroup the root.
    let o = env.nsk(&["enter", "-T", "bg", "--", "cat", "/proc/self/cgroup"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.lines().any(|l| l == "0::/"), "{o:?}");

    // stop leaves an empty cgroup behind until rm.
    assert_eq!(env.nsk(&["stop", "-t", "1", "bg"]).code, 0);
    assert!(lines(&dir.join("cgroup.procs")).is_empty());
    assert_eq!(env.nsk(&["rm", "bg"]).code, 0);
    assert!(!dir.exists());
    env.assert_clean();
}

#[test]
fn v2_enter_joins_the_cgroup_of_the_container() {
    let env = Env::v2_view();
    assert_eq!(
        env.run(&["-d", "--name", "box", "--", "sleep", "100"]).code,
        0
    );
    let dir = v2_dir(&env, "box");
    // A command entered into the container runs in its cgroup: three processes while it lives.
    let mut child = env
        .cmd()
        .args(["enter", "-T", "box", "--", "sleep", "100"])
        .spawn()
        .unwrap();
    wait_for("the entered process in the cgroup", || {
        lines(&dir.join("cgroup.procs")).len() == 3
    });
    // --no-cgroup stays out of it.
    let o = env.nsk(&[
        "enter",
        "-T",
        "--no-cgroup",
        "box",
        "--",
        "cat",
        "/proc/self/cgroup",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stdout.lines().any(|l| l == "0::/"), "{o:?}");
    assert_eq!(env.nsk(&["rm", "-f", "box"]).code, 0);
    let _ = child.wait();
    env.assert_clean();
}

#[test]
fn v2_limit_needs_its_controller() {
    let env = Env::v2_view();
    let has_memory = offered(&env).iter().any(|c| c == "memory");
    let o = env.run(&["--rm", "--memory", "64M", "--", "true"]);
    if has_memory {
        assert_eq!(o.code, 0, "{o:?}");
    } else {
        // Refused before anything is made, with the reason and what is offered.
        assert_eq!(o.code, 125, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        assert!(
            o.stderr.contains("the memory controller is not enabled")
                && o.stderr.contains("cgroup.controllers"),
            "{o:?}"
        );
    }
    env.assert_clean();

    // The same for a live change: refused with the reason, nothing written or journaled.
    assert_eq!(
        env.run(&["-d", "--name", "l", "--", "sleep", "100"]).code,
        0
    );
    let dir = v2_dir(&env, "l");
    let has_pids = lines(&dir.join("cgroup.controllers"))
        .iter()
        .any(|l| l.split_whitespace().any(|c| c == "pids"));
    let o = env.nsk(&["limit", "l", "--pids", "10"]);
    if has_pids {
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(lines(&dir.join("pids.max")), ["10"]);
    } else {
        assert_eq!(o.code, 125, "{o:?}");
        assert!(
            o.stderr
                .contains("the pids controller is not enabled for cgroup /sys/fs/cgroup/"),
            "{o:?}"
        );
        assert!(!env.root.path().join(".limits").exists());
        let v: serde_json::Value =
            serde_json::from_str(&env.nsk(&["limit", "l", "--json"]).stdout).unwrap();
        assert_eq!(v["version"], "v2");
        assert!(
            !v["controllers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "pids"),
            "{v}"
        );
        let o = env.nsk(&["limit", "l"]);
        assert!(
            o.stdout
                .lines()
                .any(|l| l.split_whitespace().eq(["pids", "not", "enabled"])),
            "{o:?}"
        );
    }
    assert_eq!(env.nsk(&["rm", "-f", "l"]).code, 0);
    let _ = std::fs::remove_dir_all(env.root.path().join(".limits"));
    env.assert_clean();
}

#[test]
fn v2_freeze_thaw_and_reset() {
    let env = Env::v2_view();
    let counter = Counter::start(&env, "f");
    let dir = v2_dir(&env, "f");
    let count = || counter.get();

    let o = env.nsk(&["limit", "f", "--freeze"]);
    assert_eq!(o.code, 0, "{o:?}");
    // nsk returns once the kernel says the cgroup is frozen.
    assert_eq!(lines(&dir.join("cgroup.freeze")), ["1"]);
    assert!(lines(&dir.join("cgroup.events")).contains(&"frozen 1".to_string()));
    let frozen_at = count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(count(), frozen_at, "a frozen container made progress");
    let v: serde_json::Value =
        serde_json::from_str(&env.nsk(&["inspect", "f", "--json"]).stdout).unwrap();
    assert_eq!(v["cgroup"]["frozen"], true, "{v}");
    assert!(env
        .nsk(&["limit", "f"])
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with("frozen")));

    // --reset puts back what was there before nsk's first change: thawed.
    let o = env.nsk(&["limit", "f", "--reset"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(lines(&dir.join("cgroup.freeze")), ["0"]);
    wait_for("progress after reset", || count() > frozen_at + 3);

    // freeze and thaw by hand, and a frozen container can still be removed.
    assert_eq!(env.nsk(&["limit", "f", "--freeze"]).code, 0);
    assert_eq!(env.nsk(&["limit", "f", "--thaw"]).code, 0);
    assert!(lines(&dir.join("cgroup.events")).contains(&"frozen 0".to_string()));
    assert_eq!(env.nsk(&["limit", "f", "--freeze"]).code, 0);
    let o = env.nsk(&["rm", "-f", "f"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!dir.exists());
    let _ = std::fs::remove_dir_all(env.root.path().join(".limits"));
    env.assert_clean();
}

#[test]
fn v2_inspect_and_ps_all_read_the_cgroup() {
    let env = Env::v2_view();
    assert_eq!(
        env.run(&["-d", "--name", "i", "--", "sh", "-c", "while :; do :; done"])
            .code,
        0
    );
    let dir = v2_dir(&env, "i");
    let id = env.state("i")["id"].as_str().unwrap().to_string();
    let inspect = || -> serde_json::Value {
        let o = env.nsk(&["inspect", "i", "--json"]);
        assert_eq!(o.code, 0, "{o:?}");
        serde_json::from_str(&o.stdout).unwrap()
    };
    let v = inspect();
    let cg = &v["cgroup"];
    assert_eq!(cg["version"], "v2");
    let paths = cg["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 1, "{cg}");
    assert_eq!(paths["unified"], format!("/{}/{id}", env.cgroup_parent));
    // What the kernel's own files say, read the same way.
    let listed: Vec<String> = lines(&dir.join("cgroup.controllers"))
        .concat()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(cg["controllers"], serde_json::json!(listed));
    assert_eq!(cg["frozen"], false);
    for res in ["cpu", "memory", "io"] {
        assert!(cg["pressure"][res]["some"]["avg10"].is_number(), "{cg}");
    }
    // cpu.stat is core cgroup2: the busy loop's cpu time grows.
    let t0 = cg["usage"]["cpu_usage_usec"].as_u64().unwrap();
    wait_for("cpu time to grow", || {
        inspect()["cgroup"]["usage"]["cpu_usage_usec"]
            .as_u64()
            .unwrap()
            > t0 + 20_000
    });

    let o = env.nsk(&["ps", "--host", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let rows: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let pid = env.pid("i");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"] == pid)
        .unwrap_or_else(|| panic!("no row for {pid}: {rows}"));
    assert_eq!(
        row["cgroup"],
        format!("/{}/{id}", env.cgroup_parent),
        "{row}"
    );
    assert_eq!(env.nsk(&["rm", "-f", "i"]).code, 0);
    env.assert_clean();
}

/// A process in a test-made cgroup2 directory named the way Docker's systemd driver names its
/// scopes is found by container id, on the host and in the v2 view alike.
#[test]
fn v2_runtime_cgroup_paths_are_recognised_on_the_real_hierarchy() {
    let env = Env::v2_view();
    let root = env.cgroup2_root();
    let id = format!("{:016x}{:048x}", std::process::id(), 0xbeefu32);
    let parent = root.join(&env.cgroup_parent);
    let scope = parent
        .join("system.slice")
        .join(format!("docker-{id}.scope"));
    std::fs::create_dir_all(&scope).unwrap();
    // In a mount namespace of its own, as every runtime's container is (unshare execs sleep:
    // same PID).
    let mut sleeper = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "100"])
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    wait_for("the sleeper's own mount namespace", || {
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
            != std::fs::read_link("/proc/self/ns/mnt").ok()
            && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
    });
    std::fs::write(scope.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let prefix = &id[..12];
    let check = |o: Out| {
        assert_eq!(o.code, 0, "{o:?}");
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(v["pid"], sleeper.id(), "{v}");
        assert_eq!(v["container"]["runtime"], "docker", "{v}");
        assert_eq!(v["container"]["id"], id, "{v}");
        assert_eq!(
            v["cgroup"]["paths"]["unified"],
            format!("/{}/system.slice/docker-{id}.scope", env.cgroup_parent),
            "{v}"
        );
    };
    check(env.nsk(&["inspect", prefix, "--json"]));
    // On the host too, where it mounts the cgroup2 hierarchy (a pure v1 host does not).
    if host_cgroup2().is_some() {
        let host = Env::new();
        check(host.nsk(&["inspect", prefix, "--json"]));
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    wait_for("the scope to empty", || {
        lines(&scope.join("cgroup.procs")).is_empty()
    });
    std::fs::remove_dir(&scope).unwrap();
    std::fs::remove_dir(scope.parent().unwrap()).unwrap();
    std::fs::remove_dir(&parent).unwrap();
    env.assert_clean();
}
