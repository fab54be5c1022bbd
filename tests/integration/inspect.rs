//! nsk inspect and nsk ps --host against nsk containers, unshare'd processes and runc containers.

use crate::util::*;
use std::process::{Command, Stdio};

fn inspect_json(env: &Env, target: &str) -> serde_json::Value {
    let o = env.nsk(&["inspect", "--json", target]);
    assert_eq!(o.code, 0, "{o:?}");
    serde_json::from_str(&o.stdout).unwrap()
}

fn host_inode(pid: i32, kind: &str) -> u64 {
    let l = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let s = l.to_string_lossy();
    s[s.find('[').unwrap() + 1..s.len() - 1].parse().unwrap()
}

fn check_namespaces(v: &serde_json::Value, pid: i32, isolated: &[&str]) {
    for k in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
        assert_eq!(
            v["namespaces"][k]["inode"].as_u64(),
            Some(host_inode(pid, k)),
            "{k}"
        );
        let want = isolated.contains(&k);
        assert_eq!(
            v["namespaces"][k]["isolated"].as_bool(),
            Some(want),
            "{k}: {v}"
        );
        assert!(v["namespaces"][k]["processes"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn inspects_an_nsk_container_by_name_pid_and_id_prefix() {
    let env = Env::new();
    let o = env.run(&[
        "-d",
        "--name",
        "web",
        "--hostname",
        "web.local",
        "--memory",
        "64M",
        "--pids",
        "30",
        "--cpus",
        "0.5",
        "--",
        "sleep",
        "100",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let init = env.pid("web");
    // A name or an id means the container's command (PID 2 inside); a PID means that process.
    let cmd: i32 = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let id = env.state("web")["id"].as_str().unwrap().to_string();
    for (target, pid, inner) in [
        ("web".to_string(), cmd, 2),
        (init.to_string(), init, 1),
        (id[..8].to_string(), cmd, 2),
    ] {
        let v = inspect_json(&env, &target);
        assert_eq!(v["pid"], pid, "{target}");
        assert_eq!(v["container"]["runtime"], "nsk");
        assert_eq!(v["container"]["id"], id.as_str());
        assert_eq!(v["container"]["name"], "web");
        assert_eq!(v["nspid"], serde_json::json!([pid, inner]));
        check_namespaces(&v, pid, &["cgroup", "ipc", "mnt", "net", "pid", "uts"]);
        assert_eq!(v["hostname"], "web.local");
        let lim = &v["cgroup"]["limits"];
        assert_eq!(lim["memory_max"], 64 << 20);
        assert_eq!(lim["pids_max"], 30);
        assert_eq!(lim["cpus"], 0.5);
        assert_eq!(lim["cpu_quota_us"], 50000);
        assert!(v["cgroup"]["usage"]["memory_current"].as_u64().unwrap() > 0);
        assert_eq!(v["cgroup"]["usage"]["pids_current"], 2);
        let path = v["cgroup"]["paths"]["memory"]
            .as_str()
            .or(v["cgroup"]["paths"]["unified"].as_str())
            .unwrap();
        assert_eq!(path, format!("/{}/{id}", env.cgroup_parent));
        assert_eq!(v["network"][0]["name"], "lo");
        assert_eq!(v["mounts"]["root"]["fstype"], "overlay");
        assert_eq!(v["mounts"]["root"]["lower"][0], rootfs().to_str().unwrap());
    }
    let human = env.nsk(&["inspect", "web"]);
    assert!(
        human.stdout.contains("NAMESPACES")
            && human.stdout.contains("isolated")
            && human.stdout.contains("64M"),
        "{human:?}"
    );
    env.nsk(&["rm", "-f", "web"]);
    env.assert_clean();
}

#[test]
fn memory_usage_moves_when_the_process_allocates() {
    let env = Env::new();
    // The allocation starts when the test says so, after it has read the usage before it.
    let go = tempfile::tempdir().unwrap();
    let vol = format!("{}:/go", go.path().display());
    let o = env.run(&[
        "-d",
        "--name",
        "grow",
        "--memory",
        "256M",
        "-v",
        &vol,
        "--",
        "sh",
        "-c",
        "while [ ! -e /go/now ]; do sleep 0.02; done; dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; sleep 100",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let before = inspect_json(&env, "grow")["cgroup"]["usage"]["memory_current"]
        .as_u64()
        .unwrap();
    std::fs::write(go.path().join("now"), "").unwrap();
    wait_for("memory usage to grow by 30 MB", || {
        inspect_json(&env, "grow")["cgroup"]["usage"]["memory_current"]
            .as_u64()
            .unwrap()
            > before + (30 << 20)
    });
    env.nsk(&["rm", "-f", "grow"]);
    env.assert_clean();
}

#[test]
fn inspects_an_unshared_process() {
    let env = Env::new();
    let mut child = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--uts",
            "--ipc",
            "--mount-proc",
            "sleep",
            "100",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // The sleep is unshare's child.
    let mut sleeper = 0;
    wait_for("the unshared sleep", || {
        sleeper =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
                .unwrap_or_default()
                .trim()
                .parse()
                .unwrap_or(0);
        // Forked, and exec'd.
        sleeper > 0
            && std::fs::read_to_string(format!("/proc/{sleeper}/comm"))
                .is_ok_and(|c| c == "sleep\n")
    });
    let v = inspect_json(&env, &sleeper.to_string());
    let _ = child.kill();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper),
        nix::sys::signal::SIGKILL,
    );
    child.wait().unwrap();
    assert_eq!(v["nspid"], serde_json::json!([sleeper, 1]));
    assert_eq!(v["cmdline"], serde_json::json!(["sleep", "100"]));
    assert!(v["container"].is_null(), "{v}");
    assert_eq!(v["namespaces"]["pid"]["isolated"], true);
    assert_eq!(v["namespaces"]["uts"]["isolated"], true);
    assert_eq!(v["namespaces"]["ipc"]["isolated"], true);
    assert_eq!(v["namespaces"]["mnt"]["isolated"], true);
    assert_eq!(v["namespaces"]["net"]["isolated"], false);
    assert_eq!(v["namespaces"]["pid"]["processes"], 1);
}

/// A runc container of this test: a bundle on the busybox rootfs, limits, an absolute
/// cgroupsPath under the test's cgroup parent. Removed on drop.
pub struct Runc {
    pub id: String,
    dir: tempfile::TempDir,
}

impl Runc {
    pub fn start(env: &Env, suffix: &str) -> Runc {
        Runc::start_with(env, suffix, |_| {})
    }

    /// Start with `tweak` applied to the bundle's config.json last.
    pub fn start_with(env: &Env, suffix: &str, tweak: impl FnOnce(&mut serde_json::Value)) -> Runc {
        let id = format!("nsk-test-{}-{suffix}", run_id());
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("runc")
            .arg("spec")
            .current_dir(dir.path())
            .output()
            .expect("runc is not installed (apt-get install runc)");
        assert!(o.status.success());
        let p = dir.path().join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        c["root"] = serde_json::json!({"path": rootfs(), "readonly": true});
        c["process"]["args"] = serde_json::json!(["sleep", "100"]);
        c["process"]["terminal"] = serde_json::json!(false);
        c["hostname"] = serde_json::json!("runc-box");
        c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 100 << 20}, "pids": {"limit": 50}, "cpu": {"quota": 25000, "period": 100000}});
        c["linux"]["cgroupsPath"] = serde_json::json!(format!("/{}/{id}", env.cgroup_parent));
        tweak(&mut c);
        std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
        // The container inherits runc's stdio: a file, not a pipe, or reading it would wait for
        // the container to end.
        let log = dir.path().join("runc.log");
        let o = Command::new("runc")
            .args(["run", "-d", &id])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("runc.err")).unwrap())
            .status()
            .unwrap();
        assert!(
            o.success(),
            "runc run: {}",
            std::fs::read_to_string(dir.path().join("runc.err")).unwrap_or_default()
        );
        let r = Runc { id, dir };
        // runc returns once the container has started; its init may not have exec'd the
        // command yet.
        let pid = r.pid();
        wait_for("runc's container to exec its command", || {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
        });
        r
    }

    /// The namespaces runc made for the container, as its bundle's config.json asks (runc spec
    /// adds a cgroup namespace on a pure cgroup v2 host), in /proc/PID/ns names.
    pub fn namespaces(&self) -> Vec<&'static str> {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.dir.path().join("config.json")).unwrap())
                .unwrap();
        let mut v: Vec<&'static str> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| match n["type"].as_str().unwrap() {
                "pid" => "pid",
                "network" => "net",
                "ipc" => "ipc",
                "uts" => "uts",
                "mount" => "mnt",
                "cgroup" => "cgroup",
                "user" => "user",
                other => panic!("unexpected namespace {other} in runc's config"),
            })
            .collect();
        v.sort();
        v
    }

    pub fn pid(&self) -> i32 {
        let o = Command::new("runc")
            .args(["state", &self.id])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "-f", &self.id])
            .current_dir(self.dir.path())
            .output();
    }
}

#[test]
fn inspects_a_runc_container_by_id_and_pid() {
    let env = Env::new();
    let r = Runc::start(&env, "insp");
    let pid = r.pid();
    for target in [r.id.clone(), pid.to_string()] {
        let v = inspect_json(&env, &target);
        assert_eq!(v["pid"], pid);
        assert_eq!(v["container"]["runtime"], "runc", "{v}");
        assert_eq!(v["container"]["id"], r.id.as_str());
        check_namespaces(&v, pid, &r.namespaces());
        assert_eq!(v["hostname"], "runc-box");
        let lim = &v["cgroup"]["limits"];
        assert_eq!(lim["memory_max"], 100 << 20, "{v}");
        assert_eq!(lim["pids_max"], 50);
        assert_eq!(lim["cpus"], 0.25);
    }
    // runc leaves the parent cgroup it made under the test's cgroup parent: the harness removes it.
    drop(r);
}

#[test]
fn ps_all_lists_containers_of_every_runtime() {
    let env = Env::new();
    assert_eq!(
        env.run(&["-d", "--name", "mine", "--memory", "64M", "--", "sleep", "100"])
            .code,
        0
    );
    let r = Runc::start(&env, "psall");
    let o = env.nsk(&["ps", "--host", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let find = |rt: &str, id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|g| {
                g["container"]["runtime"] == rt
                    && (g["container"]["id"] == id || g["container"]["name"] == id)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {rt} {id} row in {v}"))
    };
    let mine = find("nsk", "mine");
    assert_eq!(mine["container"]["name"], "mine");
    assert_eq!(mine["pid"], env.pid("mine"));
    assert_eq!(mine["nprocs"], 2);
    assert_eq!(
        mine["command"],
        serde_json::json!(["sleep", "100"]),
        "{mine}"
    );
    assert_eq!(mine["memory_max"], 64 << 20);
    let runc = find("runc", &r.id);
    assert_eq!(runc["pid"], r.pid());
    assert!(runc["isolated"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "pid"));
    let table = env.nsk(&["ps", "--host"]);
    assert!(
        table.stdout.starts_with("CONTAINER")
            && table.stdout.contains("nsk mine")
            && table.stdout.contains("runc "),
        "{table:?}"
    );
    drop(r);
    env.nsk(&["rm", "-f", "mine"]);
    assert_eq!(env.leftover_state(), Vec::<String>::new());
}

#[test]
fn bad_targets_and_partial_answers() {
    let env = Env::new();
    let o = env.nsk(&["inspect", "999999999"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, "nsk: cannot inspect 999999999: no such process\n")
    );
    let o = env.nsk(&["inspect", "zzzz-no-such"]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr
            .starts_with("nsk: cannot inspect zzzz-no-such: no such container or process"),
        "{o:?}"
    );
    let o = env.nsk(&["inspect", "ab"]);
    assert!(o.stderr.contains("at least 4 characters"), "{o:?}");
    // A kernel thread: partial, and said so.
    let v = inspect_json(&env, "2");
    assert_eq!(v["kernel_thread"], true);
    assert_eq!(v["cmdline"], serde_json::json!([]));
    // PID 1 may deny even root its namespaces here: a partial answer, not a failure.
    let v = inspect_json(&env, "1");
    assert_eq!(v["pid"], 1);
    // A zombie.
    let mut c = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
    let zpid = c.id() as i32;
    wait_for("a zombie", || {
        std::fs::read_to_string(format!("/proc/{zpid}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
    let v = inspect_json(&env, &zpid.to_string());
    assert_eq!(v["state"], "Z");
    assert!(!v["unreadable"].as_object().unwrap().is_empty(), "{v}");
    c.wait().unwrap();
}

#[test]
fn text_from_a_container_cannot_drive_the_terminal() {
    let env = Env::new();
    // A command line written by whoever owns the container: a title change, a screen clear, a
    // fake table row and a right-to-left override.
    let evil = "x\x1b]0;owned\x07\nfake row\x1b[2J\u{202e}gnp.exe";
    let o = env.run(&[
        "-d",
        "--name",
        "evil",
        "--",
        "sh",
        "-c",
        "sleep 100; :",
        evil,
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let pid = env.pid("evil");
    let shown = r"x\x1b]0;owned\x07\nfake row\x1b[2J\u{202e}gnp.exe";
    for args in [
        vec!["ps"],
        vec!["ps", "--host"],
        vec!["inspect", "evil"],
        vec!["inspect", &pid.to_string()],
    ] {
        let o = env.nsk(&args);
        assert_eq!(o.code, 0, "{args:?}: {o:?}");
        assert!(
            !o.stdout.contains(['\x1b', '\x07', '\u{202e}']),
            "{args:?}: {o:?}"
        );
        assert!(
            !o.stdout.lines().any(|l| l.starts_with("fake row")),
            "{args:?}: {o:?}"
        );
        // (ps and ps --host cut long command lines; inspect of the container shows its command
        // whole, inspect of its init PID shows "nsk init")
        match args[..] {
            ["ps"] => assert!(o.stdout.contains(&shown[..20]), "{o:?}"),
            ["inspect", "evil"] => assert!(o.stdout.contains(shown), "{o:?}"),
            _ => {}
        }
    }
    // nsk's own color survives: the status cell, and nothing else.
    let o = env.nsk(&["--color", "always", "ps"]);
    assert_eq!(o.stdout.matches('\x1b').count(), 2, "{o:?}");
    assert!(o.stdout.contains("\x1b[32mrunning\x1b[0m"), "{o:?}");
    // Scripts get the exact bytes.
    let v = inspect_json(&env, "evil");
    assert_eq!(v["cmdline"][3], evil, "{v}");
    // An error naming such text is still one line.
    let o = env.nsk(&["inspect", evil]);
    assert_eq!(o.code, 125, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(!o.stderr.contains('\x1b'), "{o:?}");
    assert_eq!(env.nsk(&["rm", "-f", "evil"]).code, 0);
    env.assert_clean();
}
