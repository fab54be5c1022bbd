//! nsk against the real runtimes: containers run by Docker, Podman (runc) and containerd (ctr),
//! compared with what each runtime itself says (`docker inspect`, `podman inspect`, `ctr`,
//! `docker exec`, `docker logs`) and with the kernel's own files.
//!
//! The tests named `peer_…` need the runtimes: tests/run.sh starts them for the host pass
//! (tests/runtimes.sh: containerd, dockerd, the busybox image whose tag is in
//! `NSK_TEST_RUNTIMES_IMAGE`) and sets `NSK_TEST_RUNTIMES=1`. A runtime that does not answer
//! FAILS them, and so does running them without that variable. The cgroup v2 and v1 guests have
//! no docker: they leave `peer_` tests out by name. The crun test is the exception: it runs
//! where crun does, on a pure cgroup v2 host (the v2 guest), and needs no daemon.

use crate::util::*;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const DOCKER: &str = "/usr/bin/docker";
const PODMAN_OPTS: &[&str] = &[
    "--runtime",
    "runc",
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
];

/// The runtimes' image (see the module's comment).
fn image() -> Option<String> {
    require_runtimes();
    let tag = std::env::var("NSK_TEST_RUNTIMES_IMAGE").expect(
        "NSK_TEST_RUNTIMES=1 but NSK_TEST_RUNTIMES_IMAGE is unset (tests/runtimes.sh writes it)",
    );
    for (what, cmd) in [
        ("dockerd", vec![DOCKER, "info"]),
        ("containerd", vec!["ctr", "version"]),
        ("podman", vec!["podman", "version"]),
    ] {
        let o = Command::new(cmd[0]).args(&cmd[1..]).output();
        assert!(
            o.as_ref().is_ok_and(|o| o.status.success()),
            "NSK_TEST_RUNTIMES=1 but {what} does not answer: {o:?}"
        );
    }
    Some(tag)
}

fn sh(cmd: &str, args: &[&str]) -> Out {
    Command::new(cmd).args(args).output().unwrap().into()
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let o = sh(cmd, args);
    assert_eq!(o.code, 0, "{cmd} {args:?}: {o:?}");
    o.stdout
}

static N: AtomicUsize = AtomicUsize::new(0);

/// Containers this test made, in any runtime, removed when dropped (pass or fail).
#[derive(Default)]
struct Made {
    docker: Vec<String>,
    podman: Vec<String>,
    ctr: Vec<String>,
}

impl Made {
    /// A name no other test or run uses: nsk-test-RUN-rt-N (tests/run.sh checks none is left).
    fn name(&self, what: &str) -> String {
        format!(
            "nsk-test-{}-rt-{what}-{}",
            run_id(),
            N.fetch_add(1, Ordering::SeqCst)
        )
    }

    fn docker(&mut self, name: &str, opts: &[&str], image: &str, cmd: &[&str]) -> String {
        self.docker.push(name.into());
        let mut a = vec!["run", "-d", "--name", name, "--network", "none"];
        a.extend(opts);
        a.push(image);
        a.extend(cmd);
        ok(DOCKER, &a).trim().to_string()
    }

    fn podman(&mut self, name: &str, opts: &[&str], image: &str, cmd: &[&str]) -> String {
        self.podman.push(name.into());
        let mut a = vec!["run", "-d", "--name", name];
        a.extend(PODMAN_OPTS);
        a.extend(opts);
        a.push(image);
        a.extend(cmd);
        ok("podman", &a).trim().to_string()
    }

    fn ctr(&mut self, name: &str, opts: &[&str], image: &str, cmd: &[&str]) {
        self.ctr.push(name.into());
        let img = format!("docker.io/library/{image}");
        let mut a = vec!["run", "-d"];
        a.extend(opts);
        a.push(&img);
        a.push(name);
        a.extend(cmd);
        ok("ctr", &a);
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for n in &self.docker {
            let _ = sh(DOCKER, &["rm", "-f", n]);
        }
        for n in &self.podman {
            let _ = sh("podman", &["rm", "-f", "-t", "0", n]);
        }
        for n in &self.ctr {
            let _ = sh("ctr", &["task", "kill", "-s", "KILL", n]);
            for _ in 0..100 {
                let o = sh("ctr", &["task", "delete", n]);
                if o.code == 0 || o.stderr.contains("not found") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = sh("ctr", &["container", "delete", n]);
        }
    }
}

fn json(o: &str) -> serde_json::Value {
    serde_json::from_str(o).unwrap_or_else(|e| panic!("{e}: {o}"))
}

fn inspect(env: &Env, target: &str) -> serde_json::Value {
    let o = env.nsk(&["inspect", "--json", target]);
    assert_eq!(o.code, 0, "inspect {target}: {o:?}");
    json(&o.stdout)
}

fn ns_inode(pid: i64, kind: &str) -> u64 {
    let l = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    let s = l.to_string_lossy();
    s[s.find('[').unwrap() + 1..s.len() - 1].parse().unwrap()
}

/// What nsk says of a container equals what its runtime says: identity, process, namespaces.
fn same_container(v: &serde_json::Value, runtime: &str, id: &str, name: &str, pid: i64) {
    let c = &v["container"];
    assert_eq!(c["runtime"], runtime, "{v:#}");
    assert_eq!(c["id"], id, "{v:#}");
    assert_eq!(c["name"], name, "{v:#}");
    assert_eq!(v["pid"], pid, "{v:#}");
    for k in ["cgroup", "ipc", "mnt", "net", "pid", "uts"] {
        assert_eq!(
            v["namespaces"][k]["inode"].as_u64(),
            Some(ns_inode(pid, k)),
            "{k}"
        );
        // Docker and Podman share the host's cgroup namespace on cgroup v1 hosts.
        let theirs = ns_inode(pid, k) != ns_inode(std::process::id() as i64, k);
        assert_eq!(v["namespaces"][k]["isolated"], theirs, "{k}");
        assert!(theirs || k == "cgroup", "{k} is not isolated");
    }
}

/// A host directory for a bind mount, under the test's scratch space.
fn volume() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nsk-test-rt-vol-")
        .tempdir()
        .unwrap()
}

#[test]
fn peer_docker_containers_by_name_id_and_pid_equal_docker_inspect() {
    let Some(img) = image() else { return };
    let env = Env::new();
    let mut made = Made::default();
    let name = made.name("docker");
    let vol = volume();
    let bind = format!("{}:/data:ro", vol.path().display());
    let id = made.docker(
        &name,
        &[
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "40",
            "--label",
            "team=rt",
            "-v",
            &bind,
        ],
        &img,
        &["sleep", "100000"],
    );
    let d = json(&ok(DOCKER, &["inspect", &id]))[0].clone();
    let pid = d["State"]["Pid"].as_i64().unwrap();
    // By name, full id, prefix, runtime://name and PID: the same container, with its name.
    for target in [
        name.clone(),
        id.clone(),
        id[..10].to_string(),
        format!("docker://{name}"),
        pid.to_string(),
    ] {
        let v = inspect(&env, &target);
        same_container(&v, "docker", &id, &name, pid);
        let c = &v["container"];
        assert_eq!(c["image"], d["Config"]["Image"], "{target}");
        assert_eq!(c["labels"], d["Config"]["Labels"], "{target}");
        assert_eq!(c["status"], d["State"]["Status"], "{target}");
        assert!(c["uptime_seconds"].as_u64().is_some(), "{c}");
        let lim = &v["cgroup"]["limits"];
        assert_eq!(lim["memory_max"], d["HostConfig"]["Memory"], "{target}");
        assert_eq!(lim["pids_max"], d["HostConfig"]["PidsLimit"], "{target}");
        assert_eq!(
            lim["cpus"].as_f64().unwrap(),
            d["HostConfig"]["NanoCpus"].as_f64().unwrap() / 1e9
        );
        // The bind mount as docker inspect lists it.
        let m = &d["Mounts"][0];
        let list = v["mounts"]["list"].as_array().unwrap();
        assert!(
            list.iter().any(|e| e["destination"] == m["Destination"]
                && e["source"] == m["Source"]
                && e["ro"] == !m["RW"].as_bool().unwrap()
                && e["type"] == m["Type"]),
            "{m} not in {list:?}"
        );
    }
    // Memory: the working set leaves out the page cache a file write leaves behind, as docker
    // stats does; raw usage keeps it.
    ok(
        DOCKER,
        &[
            "exec",
            &name,
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/f bs=1M count=30 2>/dev/null",
        ],
    );
    let u = &inspect(&env, &name)["cgroup"]["usage"];
    let (ws, raw) = (
        u["memory_working_set"].as_u64().unwrap(),
        u["memory_current"].as_u64().unwrap(),
    );
    assert!(raw >= 25 << 20 && ws < raw, "{u}");
    // ps --host: one row, with the same facts.
    let all = json(&env.nsk(&["ps", "--host", "--json"]).stdout);
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["container"]["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no row for {id}"))
        .clone();
    assert_eq!(row["container"]["name"], name.as_str());
    assert_eq!(row["container"]["runtime"], "docker");
    assert_eq!(row["pid"], pid);
    assert_eq!(row["memory_max"], 64 << 20);
    let table = env.nsk(&["ps", "--host"]).stdout;
    assert!(
        table.contains(&format!("docker {name}")) && table.contains(&img),
        "{table}"
    );
}

#[test]
fn peer_podman_cgroupfs_and_containerd_containers_equal_their_runtimes() {
    let Some(img) = image() else { return };
    let env = Env::new();
    let mut made = Made::default();
    let pname = made.name("podman");
    let vol = volume();
    let bind = format!("{}:/data:ro", vol.path().display());
    let id = made.podman(
        &pname,
        &[
            "--memory",
            "48m",
            "--pids-limit",
            "30",
            "--label",
            "tier=front",
            "-v",
            &bind,
        ],
        &img,
        &["sleep", "100000"],
    );
    let p = json(&ok("podman", &["inspect", &id]))[0].clone();
    let pid = p["State"]["Pid"].as_i64().unwrap();
    for target in [
        pname.clone(),
        id[..12].to_string(),
        format!("podman://{pname}"),
    ] {
        let v = inspect(&env, &target);
        // Podman's cgroupfs manager: /libpod_parent/libpod-<id>, reported as podman, not runc.
        same_container(&v, "podman", &id, &pname, pid);
        assert_eq!(v["container"]["image"], p["ImageName"]);
        assert_eq!(v["container"]["labels"]["tier"], "front");
        assert_eq!(v["container"]["status"], p["State"]["Status"]);
        assert_eq!(v["cgroup"]["limits"]["memory_max"], 48 << 20);
        assert_eq!(v["cgroup"]["limits"]["pids_max"], 30);
        let list = v["mounts"]["list"].as_array().unwrap();
        assert!(
            list.iter().any(|e| e["destination"] == "/data"
                && e["source"] == vol.path().to_str().unwrap()
                && e["ro"] == true),
            "{list:?}"
        );
    }
    let o = env.nsk(&["limit", "--json", &pname, "--pids", "31"]);
    assert_eq!(json(&o.stdout)["container"]["runtime"], "podman", "{o:?}");

    // containerd (ctr): the cgroup is /default/<id>, which only its task directory names.
    let cname = made.name("ctr");
    made.ctr(
        &cname,
        &[
            "--memory-limit",
            "50331648",
            "--cpus",
            "0.5",
            "--cwd",
            "/tmp",
        ],
        &img,
        &["sleep", "100000"],
    );
    let tasks = ok("ctr", &["task", "ls"]);
    let cpid: i64 = tasks
        .lines()
        .find(|l| l.starts_with(&cname))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{cname} not in {tasks}"));
    let spec = json(&ok("ctr", &["container", "info", &cname]));
    for target in [cname.clone(), format!("containerd://{cname}")] {
        let v = inspect(&env, &target);
        same_container(&v, "containerd", &cname, &cname, cpid);
        assert_eq!(
            v["cgroup"]["limits"]["memory_max"],
            spec["Spec"]["linux"]["resources"]["memory"]["limit"]
        );
        assert_eq!(
            v["cgroup"]["limits"]["cpu_quota_us"],
            spec["Spec"]["linux"]["resources"]["cpu"]["quota"]
        );
    }
    // One name in three runtimes: ambiguous, and every candidate is listed.
    let shared = made.name("same");
    made.docker(&shared, &[], &img, &["sleep", "100000"]);
    made.podman(&shared, &[], &img, &["sleep", "100000"]);
    let o = env.nsk(&["inspect", &shared]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr.contains("is ambiguous")
            && o.stderr.contains(&format!("docker://{shared}"))
            && o.stderr.contains(&format!("podman://{shared}"))
            && o.stderr.lines().count() == 1,
        "{o:?}"
    );
    assert_eq!(
        inspect(&env, &format!("podman://{shared}"))["container"]["runtime"],
        "podman"
    );
}

/// `nsk exec` in a Docker container prints what `docker exec` prints: hostname, ids, working
/// directory, environment, cgroups and capabilities. The seccomp lines (Docker's default
/// profile) match too: nsk enter copies the target's seccomp filter.
#[test]
fn peer_exec_prints_what_docker_exec_prints() {
    let Some(img) = image() else { return };
    let env = Env::new();
    let mut made = Made::default();
    let name = made.name("exec");
    made.docker(
        &name,
        &["-w", "/tmp", "-e", "GREETING=hi there", "--hostname", "box"],
        &img,
        &["sleep", "100000"],
    );
    let script = "hostname; id; pwd; env | sort; cat /proc/self/cgroup; \
                  grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status";
    let theirs = ok(DOCKER, &["exec", &name, "sh", "-c", script]);
    let o = env.nsk(&["exec", "-T", &name, "--", "sh", "-c", script]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, theirs);
    assert!(theirs.contains("GREETING=hi there") && theirs.contains("box\n"));
}

#[test]
fn peer_limit_reset_and_thaw_next_to_docker() {
    let Some(img) = image() else { return };
    let env = Env::new();
    let mut made = Made::default();
    let name = made.name("limit");
    let id = made.docker(
        &name,
        &["--memory", "200m", "--memory-swap", "200m", "--cpus", "0.5"],
        &img,
        &["sleep", "100000"],
    );
    let quota = || {
        let d = json(&ok(DOCKER, &["inspect", &id]))[0].clone();
        let v = inspect(&env, &name);
        (
            d["HostConfig"]["NanoCpus"].as_u64().unwrap(),
            v["cgroup"]["limits"]["cpu_quota_us"].as_u64().unwrap(),
            v["cgroup"]["limits"]["memory_max"].as_u64().unwrap(),
        )
    };
    assert_eq!(quota(), (500_000_000, 50_000, 200 << 20));
    // A limit lands in the kernel; docker inspect keeps its own record, and nsk says so.
    let o = env.nsk(&["limit", &name, "--cpus", "0.3", "--memory", "150M"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("docker inspect") && o.stderr.contains("no longer matches"),
        "{o:?}"
    );
    assert_eq!(quota(), (500_000_000, 30_000, 150 << 20));
    // docker update after nsk: reset leaves docker's value and names it, restores the rest.
    ok(DOCKER, &["update", "--cpus", "0.7", &name]);
    let o = env.nsk(&["limit", &name, "--reset"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains("cpu.cfs_quota_us") || o.stderr.contains("cpu.max"),
        "{o:?}"
    );
    assert!(o.stderr.contains("left alone"), "{o:?}");
    assert_eq!(quota(), (700_000_000, 70_000, 200 << 20));
    // The dry run refuses what the real run refuses, with the same words.
    let dry = env.nsk(&["limit", &name, "--memory", "300M", "--dry-run"]);
    let real = env.nsk(&["limit", &name, "--memory", "300M"]);
    if !is_cgroup_v2() {
        assert_eq!(dry.code, 125, "{dry:?}");
        assert!(dry.stderr.contains("memory+swap"), "{dry:?}");
    }
    assert_eq!((dry.code, &dry.stderr), (real.code, &real.stderr));
    if real.code == 0 {
        env.nsk(&["limit", &name, "--reset"]);
    }
    // docker pause: nsk will not thaw behind Docker's back; docker unpause still works.
    ok(DOCKER, &["pause", &name]);
    let o = env.nsk(&["limit", &name, "--thaw"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("paused by Docker"), "{o:?}");
    assert_eq!(inspect(&env, &name)["container"]["status"], "paused");
    assert_eq!(inspect(&env, &name)["cgroup"]["frozen"], true);
    ok(DOCKER, &["unpause", &name]);
    // nsk's own freeze is nsk's to thaw.
    assert_eq!(env.nsk(&["limit", &name, "--freeze"]).code, 0);
    assert_eq!(inspect(&env, &name)["container"]["status"], "paused");
    let o = env.nsk(&["limit", &name, "--thaw"]);
    assert_eq!(o.code, 0, "{o:?}");
    let d = json(&ok(DOCKER, &["inspect", &id]))[0].clone();
    assert_eq!(d["State"]["Status"], "running");
    // --force thaws what docker paused, as asked (docker then still says paused).
    ok(DOCKER, &["pause", &name]);
    let o = env.nsk(&["limit", &name, "--thaw", "--force"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(inspect(&env, &name)["cgroup"]["frozen"], false);
}

#[test]
fn peer_logs_and_stop_of_docker_podman_and_containerd_containers() {
    let Some(img) = image() else { return };
    let env = Env::new();
    let mut made = Made::default();
    let script = "echo out1; echo err1 >&2; echo out2; sleep 100000";
    let dname = made.name("logs");
    made.docker(&dname, &[], &img, &["sh", "-c", script]);
    let pname = made.name("logs");
    made.podman(&pname, &[], &img, &["sh", "-c", script]);
    for (cli, name, target) in [
        (DOCKER, &dname, dname.clone()),
        ("podman", &pname, format!("podman://{pname}")),
    ] {
        wait_for("the output", || {
            sh(cli, &["logs", name]).stdout.contains("out2")
        });
        let theirs = sh(cli, &["logs", name]);
        let o = env.nsk(&["logs", &target]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(
            (&o.stdout, &o.stderr),
            (&theirs.stdout, &theirs.stderr),
            "{cli}"
        );
        assert_eq!(o.stdout, "out1\nout2\n");
    }
    // -f follows until the container's first process exits.
    let fname = made.name("follow");
    made.docker(
        &fname,
        &[],
        &img,
        &["sh", "-c", "echo a; sleep 1; echo b; sleep 1; echo c"],
    );
    let o = env.nsk(&["logs", "-f", &fname]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "a\nb\nc\n"), "{o:?}");
    // stop: TERM, then KILL after -t (sleep as PID 1 ignores TERM); the runtime sees it exit.
    let start = std::time::Instant::now();
    let o = env.nsk(&["stop", "-t", "1", &dname]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(8) * time_scale());
    wait_for("docker to see the exit", || {
        ok(DOCKER, &["inspect", "-f", "{{.State.Running}}", &dname]).trim() == "false"
    });
    assert_eq!(
        ok(DOCKER, &["inspect", "-f", "{{.State.ExitCode}}", &dname]).trim(),
        "137"
    );
    let o = env.nsk(&["kill", &format!("podman://{pname}"), "KILL"]);
    assert_eq!(o.code, 0, "{o:?}");
    wait_for("podman to see the exit", || {
        ok("podman", &["inspect", "-f", "{{.State.Running}}", &pname]).trim() == "false"
    });
    let cname = made.name("stop");
    made.ctr(&cname, &[], &img, &["sleep", "100000"]);
    let o = env.nsk(&["stop", "-t", "1", &format!("containerd://{cname}")]);
    assert_eq!(o.code, 0, "{o:?}");
    wait_for("containerd to see the exit", || {
        ok("ctr", &["task", "ls"])
            .lines()
            .any(|l| l.starts_with(&cname) && l.contains("STOPPED"))
    });
    let o = env.nsk(&["logs", &format!("containerd://{cname}")]);
    assert_eq!(o.code, 125, "{o:?}");
}

/// With dockerd and containerd stopped (SIGSTOP), `docker inspect` hangs; nsk does not. Only
/// where tests/runtimes.sh started those daemons itself: another user's daemons are never
/// stopped.
#[test]
fn peer_every_verb_answers_while_the_daemons_hang() {
    let Some(img) = image() else { return };
    let daemons: Vec<i32> = ["NSK_TEST_RUNTIMES_DOCKERD", "NSK_TEST_RUNTIMES_CONTAINERD"]
        .iter()
        .filter_map(|k| std::env::var(k).ok()?.parse().ok())
        .collect();
    let env = Env::new();
    let mut made = Made::default();
    let name = made.name("hung");
    made.docker(
        &name,
        &["--memory", "64m"],
        &img,
        &["sh", "-c", "echo up; sleep 100000"],
    );
    wait_for("the output", || {
        sh(DOCKER, &["logs", &name]).stdout.contains("up")
    });
    if daemons.len() != 2 {
        // Daemons this run did not start (they were up already): the hung case is not ours to
        // cause, and that is said loudly.
        eprintln!("!! dockerd and containerd were not started by tests/runtimes.sh: the hung-daemon case was not run");
        return;
    }
    struct Cont(Vec<i32>);
    impl Drop for Cont {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*p),
                    nix::sys::signal::Signal::SIGCONT,
                );
            }
        }
    }
    let _cont = Cont(daemons.clone());
    for p in &daemons {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
    }
    for args in [
        vec!["inspect", name.as_str()],
        vec!["ps", "--host"],
        vec!["logs", name.as_str()],
        vec!["limit", name.as_str(), "--pids", "50"],
        vec!["limit", name.as_str(), "--reset"],
        vec!["exec", "-T", name.as_str(), "--", "true"],
    ] {
        let start = std::time::Instant::now();
        let o = env.nsk(&args);
        assert_eq!(o.code, 0, "{args:?}: {o:?}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5) * time_scale(),
            "{args:?} took {:?}",
            start.elapsed()
        );
    }
}

/// A crun container of this test, removed on drop.
struct Crun {
    id: String,
    dir: tempfile::TempDir,
}

impl Drop for Crun {
    fn drop(&mut self) {
        let _ = Command::new("crun")
            .args(["delete", "-f", &self.id])
            .current_dir(self.dir.path())
            .output();
    }
}

/// crun, where it runs: a pure cgroup v2 host (the v2 guest of tests/run.sh; crun 1.8 refuses
/// the hybrid layout of the test machine, and a v1 one). Its state file is
/// `/run/crun/<id>/status`, not runc's state.json: nsk finds it there and by its cgroup, and
/// reports what `crun state` and the bundle say.
#[test]
fn crun_containers_on_cgroup_v2() {
    if !is_cgroup_v2() {
        // Hybrid and v1 hosts: crun refuses them (see the comment above); runc covers them.
        return;
    }
    let env = Env::new();
    let id = format!("nsk-test-{}-crun", run_id());
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("crun")
        .arg("spec")
        .current_dir(dir.path())
        .output()
        .expect("crun is not installed (apt-get install crun)");
    assert!(o.status.success(), "{o:?}");
    let p = dir.path().join("config.json");
    let mut c: serde_json::Value = json(&std::fs::read_to_string(&p).unwrap());
    c["root"] = serde_json::json!({"path": rootfs(), "readonly": true});
    c["process"]["args"] = serde_json::json!(["sleep", "100000"]);
    c["process"]["terminal"] = serde_json::json!(false);
    c["hostname"] = serde_json::json!("crun-box");
    c["linux"]["resources"] =
        serde_json::json!({"memory": {"limit": 96 << 20}, "pids": {"limit": 40}});
    c["linux"]["cgroupsPath"] = serde_json::json!(format!("/{}/{id}", env.cgroup_parent));
    std::fs::write(&p, serde_json::to_vec(&c).unwrap()).unwrap();
    let o = Command::new("crun")
        .args(["run", "--detach", &id])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("err")).unwrap())
        .status()
        .unwrap();
    let crun = Crun { id, dir };
    assert!(
        o.success(),
        "crun run: {}",
        std::fs::read_to_string(crun.dir.path().join("err")).unwrap_or_default()
    );
    let state = json(&ok("crun", &["state", &crun.id]));
    let pid = state["pid"].as_i64().unwrap();
    for target in [
        crun.id.clone(),
        format!("crun://{}", crun.id),
        pid.to_string(),
    ] {
        let v = inspect(&env, &target);
        same_container(&v, "crun", &crun.id, &crun.id, pid);
        assert_eq!(v["hostname"], "crun-box");
        assert_eq!(v["cgroup"]["limits"]["memory_max"], 96 << 20);
        assert_eq!(v["cgroup"]["limits"]["pids_max"], 40);
    }
    let o = env.nsk(&["stop", "-t", "1", &format!("crun://{}", crun.id)]);
    assert_eq!(o.code, 0, "{o:?}");
    wait_for("crun to see the exit", || {
        json(&ok("crun", &["state", &crun.id]))["status"] == "stopped"
    });
}
