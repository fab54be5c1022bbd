//! nsk top: rows against the cgroup files themselves while a container burns CPU, holds memory
//! and processes; OOM kills counted and marked; containers that exit mid-refresh vanish.

use crate::util::*;
use std::path::Path;

fn snapshot(env: &Env, names: &[&str]) -> serde_json::Value {
    let mut args = vec!["top", "--no-stream", "--json"];
    args.extend_from_slice(names);
    let o = env.nsk(&args);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "{o:?}");
    serde_json::from_str(&o.stdout).unwrap()
}

fn row<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {v}"))
}

fn read_num(dir: &Path, file: &str) -> u64 {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(dir.join(file))
        .ok()?
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
}

/// The working set as docker computes it, from the files.
fn working_set(env: &Env, name: &str) -> u64 {
    let d = env.cgroup_dir(name, "memory");
    if d.join("memory.current").exists() {
        read_num(&d, "memory.current")
            .saturating_sub(keyed(&d, "memory.stat", "inactive_file").unwrap_or(0))
    } else {
        read_num(&d, "memory.usage_in_bytes")
            .saturating_sub(keyed(&d, "memory.stat", "total_inactive_file").unwrap_or(0))
    }
}

fn pids_current(env: &Env, name: &str) -> u64 {
    read_num(&env.cgroup_dir(name, "pids"), "pids.current")
}

fn oom_kills(env: &Env, name: &str) -> u64 {
    let d = env.cgroup_dir(name, "memory");
    keyed(&d, "memory.events", "oom_kill")
        .or_else(|| keyed(&d, "memory.oom_control", "oom_kill"))
        .expect("no oom_kill counter")
}

#[test]
fn rows_agree_with_the_cgroup_files() {
    let env = Env::new();
    let o = env.run(&[
        "-d",
        "--name",
        "burn",
        "--cpus",
        "0.5",
        "--memory",
        "64M",
        "--pids",
        "40",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    // Holds 8 MiB in its writable layer (a tmpfs charged to its memory cgroup) and has a few
    // children.
    let o = env.run(&[
        "-d",
        "--name",
        "hold",
        "--memory",
        "128M",
        "--",
        "sh",
        "-c",
        "head -c 8000000 /dev/zero > /tmp/fill; sleep 1000 & sleep 1000 & sleep 1000",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    // hold has written its file (slow in an emulated guest) and only sleeps from then on.
    wait_for("hold to write its file", || {
        working_set(&env, "hold") >= 8_000_000
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let v = snapshot(&env, &["burn", "hold"]);
    assert_eq!(v["containers"].as_array().unwrap().len(), 2, "{v}");
    let b = row(&v, "burn");
    assert_eq!(b["runtime"], "nsk");
    // The quota caps it at 50% (of a core); it gets close to that on a host, while an emulated
    // guest's busy vCPUs may give it less.
    let low = if time_scale() > 1 { 10.0 } else { 35.0 };
    let cpu = b["cpu_percent"].as_f64().unwrap();
    assert!(
        (low..=60.0).contains(&cpu),
        "a 0.5-CPU burner at {cpu}%: {b}"
    );
    let of_limit = b["cpu_limit_percent"].as_f64().unwrap();
    assert!((2.0 * low..=120.0).contains(&of_limit), "{b}");
    assert!((of_limit - 2.0 * cpu).abs() < 1.0, "{b}");
    assert_eq!(b["cpus_limit"].as_f64(), Some(0.5));
    assert_eq!(b["memory_limit"].as_u64(), Some(64 << 20));
    assert_eq!(b["pids_limit"].as_u64(), Some(40));
    assert_eq!(b["pids"].as_u64(), Some(pids_current(&env, "burn")));
    let h = row(&v, "hold");
    assert!(h["cpu_percent"].as_f64().unwrap() < 5.0, "{h}");
    let ws = h["memory_working_set"].as_u64().unwrap();
    let file = working_set(&env, "hold");
    assert!(ws >= 8_000_000, "{h}");
    assert!(ws.abs_diff(file) < (2 << 20), "top {ws}, files {file}");
    assert_eq!(h["pids"].as_u64(), Some(pids_current(&env, "hold")));
    assert!(h["pids"].as_u64().unwrap() >= 3, "{h}");
    let pct = h["memory_percent"].as_f64().unwrap();
    assert!((pct - ws as f64 * 100.0 / (128u64 << 20) as f64).abs() < 0.1);
    // PSI: a number where the unified cgroup has it, else null and named unreadable.
    for r in [b, h] {
        for res in ["cpu", "memory", "io"] {
            let p = &r["psi_some_avg10"][res];
            if p.is_null() {
                let un = r["unreadable"].as_array().unwrap();
                assert!(un.iter().any(|u| u == &format!("{res}.pressure")), "{r}");
            } else {
                assert!(p.as_f64().unwrap() >= 0.0);
            }
        }
    }
    // The table: a header and one row each, sorted by CPU (burn first).
    let o = env.nsk(&["top", "--no-stream", "-i", "0.5", "burn", "hold"]);
    assert_eq!(o.code, 0, "{o:?}");
    let burn_at = o.stdout.find("burn").unwrap();
    let hold_at = o.stdout.find("hold").unwrap();
    assert!(burn_at < hold_at, "{o:?}");
    let o = env.nsk(&[
        "top",
        "--no-stream",
        "--sort",
        "mem",
        "-i",
        "0.5",
        "burn",
        "hold",
    ]);
    assert!(
        o.stdout.find("hold").unwrap() < o.stdout.find("burn").unwrap(),
        "{o:?}"
    );
    // Bad input is one line.
    let o = env.nsk(&["top", "-i", "0"]);
    assert_eq!(o.code, 125);
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    let o = env.nsk(&["stats", "--no-stream", "nosuchbox"]);
    assert_eq!(o.code, 125);
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    env.nsk(&["rm", "-f", "burn", "hold"]);
    env.assert_clean();
}

#[test]
fn oom_kills_are_counted_and_marked_and_exited_containers_vanish() {
    let env = Env::new();
    // The kills begin after top's first read (its marks are of kills since the last read), so
    // the wait scales with the emulated guests' pace as the stream does; each hog raises its
    // own OOM score so that the killer takes it, never the shell.
    let oom = format!(
        "sleep {}; for i in 1 2 3; do \
         sh -c 'echo 1000 >/proc/self/oom_score_adj; head -c 200000000 /dev/zero | tail'; \
         sleep 1; done; sleep 1000",
        2 * time_scale()
    );
    let o = env.run(&[
        "-d",
        "--name",
        "oom",
        "--memory",
        "24M",
        "--memory-swap",
        "24M",
        "--",
        "sh",
        "-c",
        &oom,
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let brief = (2 * time_scale()).to_string();
    let o = env.run(&["-d", "--name", "brief", "--", "sleep", &brief]);
    assert_eq!(o.code, 0, "{o:?}");
    // Stream for 7 s at 0.5 s (longer in the emulated guests), then SIGINT ends it.
    let secs = (7 * time_scale()).to_string();
    let out = std::process::Command::new("timeout")
        .args(["-s", "INT", &secs])
        .arg(NSK)
        .args(["--json", "top", "-i", "0.5"])
        .env("NSK_ROOT", env.root.path())
        .output()
        .unwrap();
    let o: Out = out.into();
    assert_eq!(o.stderr, "", "{o:?}");
    let lines: Vec<serde_json::Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 8, "{o:?}");
    let ours = |v: &serde_json::Value, name: &str| {
        v["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name && r["runtime"] == "nsk")
            .cloned()
    };
    assert!(ours(&lines[0], "brief").is_some(), "{}", lines[0]);
    assert!(
        ours(lines.last().unwrap(), "brief").is_none(),
        "an exited container is gone"
    );
    assert!(
        lines
            .iter()
            .filter_map(|v| ours(v, "oom"))
            .any(|r| r["memory_event"] == true),
        "no row marked for the OOM kills"
    );
    let last = ours(lines.last().unwrap(), "oom").unwrap();
    assert!(last["oom_kills"].as_u64().unwrap() >= 1, "{last}");
    let v = snapshot(&env, &["oom"]);
    assert_eq!(
        row(&v, "oom")["oom_kills"].as_u64(),
        Some(oom_kills(&env, "oom"))
    );
    env.nsk(&["rm", "-f", "oom", "brief"]);
    env.assert_clean();
}

/// Fills memory past the limit over and over: reclaim stalls, then an OOM kill of `tail`.
/// Memory hogs restarted forever. They raise their own oom_score_adj (anyone may raise it), so
/// the OOM killer takes them and never the shell that restarts them: killing that shell would
/// end the command, and with it the container.
const SQUEEZE: &str = "while :; do sh -c 'echo 1000 >/proc/self/oom_score_adj; head -c 100000000 /dev/zero | tail'; done";

/// Reads a 64 MB file (on the image's disk, not a tmpfs) over and over under a smaller limit.
const THRASH: &str =
    "dd if=/dev/zero of=/thrash bs=1M count=64 2>/dev/null; while :; do cat /thrash >/dev/null; done";

fn some_avg10(file: &Path) -> Option<f64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("some "))?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// Poll `f` every 200 ms until it returns true or `secs` (times `time_scale()`) pass.
fn wait_long(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs) * time_scale();
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Where `file` (a memory.pressure of the container's own) exists: top's PSI memory column rises
/// above 0 and lies between the file's avg10 just before and just after top read it (avg10 is
/// a 10-second average, updated every 2 s). Where there is none: null, and named unreadable.
fn psi_moves_or_is_unreadable(file: Option<&Path>, top: impl Fn() -> serde_json::Value) {
    if let Some(file) = file {
        let mut last = serde_json::Value::Null;
        // Generous: under a loaded host the squeeze itself may take a while to stall reclaim.
        wait_long(
            "memory PSI above 0 in top, as in memory.pressure",
            90,
            || {
                let before = some_avg10(file).unwrap();
                let r = top();
                let after = some_avg10(file).unwrap();
                let v = r["psi_some_avg10"]["memory"].as_f64();
                last = r;
                v.is_some_and(|v| {
                    v > 0.0 && v >= before.min(after) - 0.01 && v <= before.max(after) + 0.01
                })
            },
        );
        assert!(
            last["unreadable"]
                .as_array()
                .is_none_or(|u| !u.iter().any(|x| x == "memory.pressure")),
            "{last}"
        );
    } else {
        let r = top();
        assert!(r["psi_some_avg10"]["memory"].is_null(), "{r}");
        let un = r["unreadable"].as_array().unwrap();
        assert!(un.iter().any(|u| u == "memory.pressure"), "{r}");
    }
}

/// A container squeezed under a tight memory limit (no swap) stalls on memory and is OOM-killed
/// over and over: its OOM column follows the cgroup's counter, and its PSI memory column rises
/// above 0 where its memory cgroup has a memory.pressure file of its own (cgroup v2), agreeing
/// with that file. Where it has none (v1; nsk's containers on a hybrid host, whose memory
/// cgroup is a v1 one) the column is null and memory.pressure is named unreadable: the host's
/// pressure is never passed off as the container's.
#[test]
fn memory_pressure_and_oom_kills_move_under_a_tight_limit() {
    let env = Env::new();
    let o = env.run(&[
        "-d",
        "--name",
        "squeeze",
        "--memory",
        "32M",
        "--memory-swap",
        "32M",
        "--",
        "sh",
        "-c",
        SQUEEZE,
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let mem = env.cgroup_dir("squeeze", "memory");
    let file = mem.join("memory.pressure");
    let top = || {
        let v = snapshot(&env, &["-i", "0.1", "squeeze"]);
        row(&v, "squeeze").clone()
    };
    // OOM kills: top's count is the cgroup's own, read just before and after.
    wait_long("an OOM kill counted by top", 30, || {
        let before = oom_kills(&env, "squeeze");
        let r = top();
        let after = oom_kills(&env, "squeeze");
        let n = r["oom_kills"].as_u64().unwrap();
        n >= 1 && (before..=after).contains(&n)
    });
    psi_moves_or_is_unreadable(file.exists().then_some(file.as_path()), top);
    env.nsk(&["rm", "-f", "squeeze"]);
    env.assert_clean();
}

/// top finds containers once and then looks only at new processes: a container started while
/// it streams shows on a later refresh, one removed meanwhile goes, and each row's PID is the
/// container's own (from the state file), its memory limit the cgroup's.
#[test]
fn containers_started_and_removed_while_streaming() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let o = env.run(&["-d", "--name", "early", "--", "sleep", "1000"]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut child = std::process::Command::new(NSK)
        .args(["--json", "top", "-i", "0.3"])
        .env("NSK_ROOT", env.root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&lines.next().expect("top ended").unwrap()).unwrap()
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["runtime"] == "nsk")
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&next()).contains(&"early".to_string()));
    let o = env.run(&[
        "-d", "--name", "late", "--memory", "48M", "--", "sleep", "1000",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let o = env.nsk(&["rm", "-f", "early"]);
    assert_eq!(o.code, 0, "{o:?}");
    // Each refresh takes 0.3 s: a few of them, however slow the machine.
    let mut seen = None;
    for _ in 0..(20 * time_scale()) {
        let v = next();
        let n = names(&v);
        if n.contains(&"late".to_string()) && !n.contains(&"early".to_string()) {
            seen = Some(v);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let v = seen.expect("late never appeared, or early never went");
    let r = row(&v, "late");
    assert_eq!(r["pid"].as_i64(), env.state("late")["pid"].as_i64(), "{r}");
    assert_eq!(
        r["memory_limit"].as_u64(),
        Some(read_num(
            &env.cgroup_dir("late", "memory"),
            if env.cgroup_dir("late", "memory").join("memory.max").exists() {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            }
        ))
    );
    assert_eq!(r["memory_limit"].as_u64(), Some(48 << 20));
    env.nsk(&["rm", "-f", "late"]);
    env.assert_clean();
}

/// Held files cost descriptors: with only a few (a soft and hard limit of 64), top reads the
/// containers past its budget by path, and shows every one with all its figures.
#[test]
fn every_container_shows_with_few_descriptors() {
    let env = Env::new();
    let names: Vec<String> = (0..6).map(|i| format!("fd{i}")).collect();
    for n in &names {
        let o = env.run(&["-d", "--name", n, "--pids", "20", "--", "sleep", "1000"]);
        assert_eq!(o.code, 0, "{o:?}");
    }
    let o: Out = std::process::Command::new("sh")
        .args([
            "-c",
            "ulimit -n 64 && exec \"$0\" --json top --no-stream -i 0.2",
        ])
        .arg(NSK)
        .env("NSK_ROOT", env.root.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    for n in &names {
        let r = row(&v, n);
        assert_eq!(r["pids"].as_u64(), Some(pids_current(&env, n)), "{r}");
        assert_eq!(r["pids_limit"].as_u64(), Some(20), "{r}");
        assert!(r["cpu_percent"].is_number(), "{r}");
        assert!(r["net_rx_bps"].is_number(), "{r}");
        assert!(r["memory_working_set"].as_u64().unwrap() > 0, "{r}");
    }
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    env.nsk(&args);
    env.assert_clean();
}

/// On a terminal: the table refreshes in place, q quits, and the terminal is restored.
#[test]
fn refreshes_in_place_and_q_restores_the_terminal() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "tbox", "--", "sleep", "1000"]);
    assert_eq!(o.code, 0, "{o:?}");
    let t = Tmux::new();
    let start = format!(
        "NSK_ROOT={} {NSK} top -i 0.3 tbox; echo status=$?; stty -a | grep -o -w -e -icanon -e icanon -e -echo -e echo | tr '\\n' ' '; echo; sleep 5",
        env.root.path().display()
    );
    assert!(t
        .run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "200",
            "-y",
            "40",
            &start
        ])
        .status
        .success());
    let screen =
        || String::from_utf8_lossy(&t.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned();
    wait_for("the table", || screen().contains("tbox"));
    // In place: one header on the screen, however many refreshes.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(screen().matches("RUNTIME ID").count(), 1, "{}", screen());
    t.run(&["send-keys", "-t", "t", "q"]);
    wait_for("the exit", || {
        screen().contains("status=0") && screen().contains("icanon")
    });
    let s = screen();
    assert!(s.contains("icanon echo"), "terminal not restored: {s}");
    // SIGTERM ends it promptly and restores the terminal too.
    t.run(&["kill-server"]);
    let t = Tmux::new();
    let start = start.replace("top -i 0.3", "top -i 0.3 --sort mem");
    assert!(t
        .run(&[
            "new-session",
            "-d",
            "-s",
            "u",
            "-x",
            "200",
            "-y",
            "40",
            &start
        ])
        .status
        .success());
    let screen =
        || String::from_utf8_lossy(&t.run(&["capture-pane", "-p", "-t", "u"]).stdout).into_owned();
    wait_for("the table", || screen().contains("tbox"));
    let pid = std::process::Command::new("pgrep")
        .args(["-n", "-f", &format!("^{NSK} top -i 0.3 --sort mem")])
        .output()
        .unwrap();
    let pid: i32 = String::from_utf8_lossy(&pid.stdout).trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_for("the exit", || {
        screen().contains("status=143") && screen().contains("icanon")
    });
    let s = screen();
    assert!(s.contains("icanon echo"), "terminal not restored: {s}");
    env.nsk(&["rm", "-f", "tbox"]);
    env.assert_clean();
}

/// Start a busy loop in runtime `bin`'s container `c` with its own exec, give it 2 s, and take
/// one snapshot of the container by `RUNTIME://NAME`, whose one row must name that runtime.
fn busy_row(env: &Env, bin: &str, c: &PeerContainer) -> serde_json::Value {
    let o: Out = std::process::Command::new(bin)
        .args(["exec", "-d", &c.name, "sh", "-c", "while :; do :; done"])
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{o:?}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let runtime = bin.rsplit('/').next().unwrap();
    let v = snapshot(env, &[&format!("{runtime}://{}", c.name)]);
    assert_eq!(v["containers"][0]["runtime"], runtime, "{v}");
    v
}

/// Against `docker stats --no-stream` while a Docker container burns CPU under a 0.5-CPU limit.
#[test]
fn peer_top_agrees_with_docker_stats() {
    require_runtimes();
    let env = Env::new();
    let c = PeerContainer::start("docker", "top", &["--cpus", "0.5", "--memory", "64m"]);
    let v = busy_row(&env, "/usr/bin/docker", &c);
    let r = &v["containers"][0];
    let d: Out = std::process::Command::new("/usr/bin/docker")
        .args(["stats", "--no-stream", "--format", "{{json .}}", &c.name])
        .output()
        .unwrap()
        .into();
    assert_eq!(d.code, 0, "{d:?}");
    let ds: serde_json::Value = serde_json::from_str(d.stdout.trim()).unwrap();
    let dcpu: f64 = ds["CPUPerc"]
        .as_str()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    let cpu = r["cpu_percent"].as_f64().unwrap();
    assert!((cpu - dcpu).abs() < 15.0, "nsk {cpu}%, docker {dcpu}%");
    assert_eq!(r["memory_limit"].as_u64(), Some(64 << 20), "{r}");
    let dpids: u64 = ds["PIDs"].as_str().unwrap().parse().unwrap();
    assert!(r["pids"].as_u64().unwrap().abs_diff(dpids) <= 1, "{r} {ds}");
    // docker prints the working set in binary units: "1.5MiB / 64MiB".
    let used = ds["MemUsage"]
        .as_str()
        .unwrap()
        .split(" / ")
        .next()
        .unwrap()
        .to_string();
    let (num, unit) = used.split_at(used.find(|ch: char| ch.is_ascii_alphabetic()).unwrap());
    let mult = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1048576.0,
        "GiB" => 1073741824.0,
        u => panic!("unit {u}"),
    };
    let dws = num.parse::<f64>().unwrap() * mult;
    let ws = r["memory_working_set"].as_u64().unwrap() as f64;
    assert!((ws - dws).abs() < 2.0 * 1048576.0, "nsk {ws}, docker {dws}");
}

/// A Podman container's row: found by its runtime name, its limits and PIDs as its own cgroup
/// files say (read through its first process's /proc/PID/cgroup), and its CPU use seen.
#[test]
fn peer_top_rows_of_podman_containers_agree_with_their_cgroup_files() {
    require_runtimes();
    let env = Env::new();
    let c = PeerContainer::start("podman", "top", &["--memory", "64m", "--pids-limit", "50"]);
    let v = busy_row(&env, "podman", &c);
    let r = &v["containers"][0];
    assert_eq!(r["memory_limit"].as_u64(), Some(64 << 20), "{r}");
    assert_eq!(r["pids_limit"].as_u64(), Some(50), "{r}");
    assert!(r["cpu_percent"].as_f64().unwrap() > 20.0, "{r}");
    // The cgroup files, found from the container's first process as the kernel places it.
    let pid: Out = std::process::Command::new("podman")
        .args(["inspect", "--format", "{{.State.Pid}}", &c.name])
        .output()
        .unwrap()
        .into();
    let pid = pid.stdout.trim().to_string();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let file = |ctl: &str, v1: &str, v2: &str| -> u64 {
        let p = match cg
            .lines()
            .find_map(|l| l.split_once(&format!(":{ctl}:")).map(|(_, p)| p))
        {
            Some(p) => format!("/sys/fs/cgroup/{ctl}{p}/{v1}"),
            None => {
                let p = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
                format!("/sys/fs/cgroup{p}/{v2}")
            }
        };
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(
        file("memory", "memory.limit_in_bytes", "memory.max"),
        64 << 20
    );
    let pids = file("pids", "pids.current", "pids.current");
    assert!(
        r["pids"].as_u64().unwrap().abs_diff(pids) <= 1,
        "{r}: {pids}"
    );
}

/// A Docker container squeezed the same way. On a hybrid host Docker gives each container a
/// cgroup2 directory of its own next to its v1 ones (the same path), whose memory.pressure
/// counts the container's stalls: top shows it there. Which file is the container's is read
/// from its init's /proc/PID/cgroup and the cgroup2 mount in /proc/self/mountinfo.
#[test]
fn peer_top_shows_docker_memory_pressure() {
    require_runtimes();
    let env = Env::new();
    let c = PeerContainer::start(
        "docker",
        "psi",
        &["--memory", "32m", "--memory-swap", "32m"],
    );
    // Beside the squeeze, a file twice the limit read over and over: its page cache is
    // reclaimed on every pass, so reclaim stalls (memory PSI) never stop between OOM kills.
    for work in [SQUEEZE, THRASH] {
        let o: Out = std::process::Command::new("/usr/bin/docker")
            .args(["exec", "-d", &c.name, "sh", "-c", work])
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 0, "{o:?}");
    }
    let o: Out = std::process::Command::new("/usr/bin/docker")
        .args(["inspect", "-f", "{{.State.Pid}}", &c.name])
        .output()
        .unwrap()
        .into();
    let pid: i32 = o.stdout.trim().parse().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path_of = |ctrl: Option<&str>| {
        cg.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, c, p) = (f.next()?, f.next()?, f.next()?);
            let hit = match ctrl {
                None => c.is_empty(),
                Some(k) => c.split(',').any(|x| x == k),
            };
            hit.then(|| p.to_string())
        })
    };
    let unified = path_of(None);
    let memory = path_of(Some("memory"));
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|r| r.starts_with("cgroup2 "))
        })
        .map(|l| l.split(' ').nth(4).unwrap().to_string());
    // The container's own cgroup2 directory: on v2 its cgroup, on a hybrid host only where its
    // path is that of its v1 memory cgroup (never the root, the host's).
    let own = match (&unified, &mount) {
        (Some(u), Some(m)) if u != "/" && memory.as_ref().is_none_or(|p| p == u) => Some(
            Path::new(m)
                .join(u.trim_start_matches('/'))
                .join("memory.pressure"),
        ),
        _ => None,
    };
    let file = own.filter(|f| f.exists());
    let target = format!("docker://{}", c.name);
    let top = || {
        let v = snapshot(&env, &["-i", "0.1", &target]);
        v["containers"][0].clone()
    };
    assert_eq!(top()["runtime"], "docker");
    psi_moves_or_is_unreadable(file.as_deref(), top);
}
