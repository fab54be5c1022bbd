//! Faults and races: nsk killed with SIGKILL at every phase of run, rm, image import and limit,
//! with a leftover check after each; many runs at once; same-name races. Nothing is lost and
//! no state is corrupted.

use crate::util::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Delays (µs) after which nsk is killed: before it starts, then through every phase.
const DELAYS_US: &[u64] = &[
    0, 200, 500, 1_000, 2_000, 3_000, 5_000, 8_000, 12_000, 20_000, 35_000, 60_000, 120_000,
];

fn kill9_after(mut c: Child, us: u64) -> Option<std::process::ExitStatus> {
    std::thread::sleep(Duration::from_micros(us));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::SIGKILL,
    );
    c.wait().ok()
}

/// After a kill: every container of the state root is either fine or removable with rm -f, and
/// the state root is then empty, as are the cgroups and mounts.
fn settle(env: &Env, name: &str, at: u64, wait: bool) {
    let ps = env.nsk(&["ps", "-a", "--json"]);
    assert_eq!(ps.code, 0, "at {at}µs: {ps:?}");
    assert!(!ps.stderr.contains("damaged"), "at {at}µs: {ps:?}");
    // A foreground run's init dies with nsk (PDEATHSIG); wait for the state to say so.
    wait_for("the killed run's container to exit", || {
        if !wait {
            return true;
        }
        let o = env.nsk(&["ps", "--json"]);
        !o.stdout.contains(&format!("\"name\": \"{name}\""))
    });
    let o = env.nsk(&["rm", "-f", name]);
    assert_eq!(o.code, 0, "at {at}µs: {o:?}");
    env.assert_clean();
}

#[test]
fn run_killed_at_every_phase_leaves_nothing_it_cannot_remove() {
    let env = Env::new();
    for &us in DELAYS_US {
        for detach in [false, true] {
            let mut c = env.run_cmd(&["--name", "k9"]);
            if detach {
                c.arg("-d");
            }
            c.args(["--memory", "64M", "--", "sleep", "30"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            kill9_after(c.spawn().unwrap(), us);
            if detach {
                // A detached container's monitor outlives the caller: stop it like a user would.
                let _ = env.nsk(&["stop", "-t", "0", "k9"]);
            }
            settle(&env, "k9", us, true);
        }
    }
}

#[test]
fn rm_killed_at_every_phase_is_finished_by_the_next_rm() {
    let env = Env::new();
    for &us in DELAYS_US {
        let o = env.run(&["-d", "--name", "r9", "--pids", "20", "--", "sleep", "30"]);
        assert_eq!(o.code, 0, "{o:?}");
        let c = env
            .cmd()
            .args(["rm", "-f", "r9"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill9_after(c, us);
        settle(&env, "r9", us, false);
    }
}

#[test]
fn image_import_killed_at_every_phase_leaves_nothing_behind() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("k9.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    let images = env.root.path().join(".images");
    for &us in DELAYS_US {
        let c = env
            .cmd()
            .args(["image", "import"])
            .arg(&tar)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill9_after(c, us);
        // The next import finishes the job (sweeping what the killed one left), and removal
        // leaves an empty cache.
        let o = env
            .cmd()
            .args(["image", "import"])
            .arg(&tar)
            .output()
            .unwrap();
        assert!(o.status.success(), "at {us}µs: {o:?}");
        let o = env.nsk(&["image", "rm", "k9:latest"]);
        assert_eq!(o.code, 0, "at {us}µs: {o:?}");
        let left: Vec<String> = std::fs::read_dir(&images)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".lock")
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(left, Vec::<String>::new(), "at {us}µs");
    }
    let _ = std::fs::remove_dir_all(&images);
    env.assert_clean();
}

#[test]
fn limit_killed_at_every_phase_keeps_the_original_value() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "l9", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    let f = env.cgroup_dir("l9", "pids").join("pids.max");
    let orig = std::fs::read_to_string(&f).unwrap();
    for &us in DELAYS_US {
        let c = env
            .cmd()
            .args(["limit", "l9", "--pids", "77", "--memory", "100M"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill9_after(c, us);
        let o = env.nsk(&["limit", "l9", "--reset"]);
        assert!(
            o.code == 0 || o.stderr.contains("nothing to reset"),
            "at {us}µs: {o:?}"
        );
        // A kill between the write and the journal cannot happen: the journal goes first.
        assert_eq!(std::fs::read_to_string(&f).unwrap(), orig, "at {us}µs");
    }
    assert_eq!(env.nsk(&["rm", "-f", "l9"]).code, 0);
    let _ = std::fs::remove_dir_all(env.root.path().join(".limits"));
    env.assert_clean();
}

#[test]
fn a_hundred_runs_at_once_and_same_name_races() {
    let env = Env::new();
    let t = Instant::now();
    // 100 parallel runs, each with its own name.
    let kids: Vec<Child> = (0..100)
        .map(|i| {
            env.run_cmd(&[
                "--name",
                &format!("p{i}"),
                "--pids",
                "10",
                "--",
                "sh",
                "-c",
                "exit 7",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(7), "{o:?}");
    }
    let took = t.elapsed();
    let v: serde_json::Value =
        serde_json::from_str(&env.nsk(&["ps", "-a", "--json"]).stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 100);
    for r in rows {
        assert_eq!(r["status"], "exited", "{r}");
        assert_eq!(r["exit_code"], 7, "{r}");
    }
    let names: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
    let mut args = vec!["rm"];
    args.extend(names.iter().map(|s| s.as_str()));
    assert_eq!(env.nsk(&args).code, 0);
    env.assert_clean();
    eprintln!("100 parallel runs: {took:?}");
    // Same-name races, 5 rounds of 10: exactly one wins each, the others say the name is in use.
    for round in 0..5 {
        let kids: Vec<Child> = (0..10)
            .map(|_| {
                env.run_cmd(&["--name", "same", "-d", "--", "sleep", "30"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut won = 0;
        for k in kids {
            let o = k.wait_with_output().unwrap();
            match o.status.code() {
                Some(0) => won += 1,
                Some(125) => assert!(
                    String::from_utf8_lossy(&o.stderr).contains("'same' is already in use"),
                    "round {round}: {o:?}"
                ),
                c => panic!("round {round}: exit {c:?}: {o:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        let st = env.state("same");
        assert_eq!(st["status"], "running");
        assert!(pid_alive(env.pid("same")));
        // Racing removals: all succeed or say it is gone, and it is gone once.
        let kids: Vec<Child> = (0..5)
            .map(|_| {
                env.cmd()
                    .args(["rm", "-f", "same"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for k in kids {
            let o = k.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {round}: {o:?}");
        }
        env.assert_clean();
    }
}
