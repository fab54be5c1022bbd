//! nsk limit against nsk containers and runc containers: files, enforcement, reset, dry run,
//! bad input and rollback.

use crate::inspect::Runc;
use crate::util::*;
use std::process::Command;

fn read(env: &Env, name: &str, c: &str, f: &str) -> String {
    std::fs::read_to_string(env.cgroup_dir(name, c).join(f))
        .unwrap()
        .trim()
        .to_string()
}

/// Every limit file of a container, for before/after comparisons.
fn snapshot(env: &Env, name: &str) -> Vec<(String, String)> {
    let files: &[(&str, &str)] = if is_cgroup_v2() {
        &[
            ("memory", "memory.max"),
            ("memory", "memory.swap.max"),
            ("memory", "memory.low"),
            ("cpu", "cpu.max"),
            ("cpu", "cpu.weight"),
            ("pids", "pids.max"),
            ("cpuset", "cpuset.cpus"),
        ]
    } else {
        &[
            ("memory", "memory.limit_in_bytes"),
            ("memory", "memory.memsw.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
            ("cpu", "cpu.shares"),
            ("pids", "pids.max"),
            ("cpuset", "cpuset.cpus"),
        ]
    };
    files
        .iter()
        .map(|(c, f)| (f.to_string(), read(env, name, c, f)))
        .collect()
}

#[test]
fn every_option_writes_the_right_files_and_reset_restores_them() {
    let env = Env::new();
    assert_eq!(
        env.run(&["-d", "--name", "l", "--memory", "64M", "--", "sleep", "100"])
            .code,
        0
    );
    let before = snapshot(&env, "l");
    let inherited_cpus = if is_cgroup_v2() {
        read(&env, "l", "cpuset", "cpuset.cpus.effective")
    } else {
        String::new()
    };
    let o = env.nsk(&[
        "limit",
        "l",
        "--memory",
        "128M",
        "--memory-swap",
        "256M",
        "--memory-reservation",
        "32M",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--pids",
        "40",
        "--cpuset-cpus",
        "0",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.starts_with("FILE") && o.stdout.contains("→"),
        "{o:?}"
    );
    let v2 = is_cgroup_v2();
    if v2 {
        assert_eq!(read(&env, "l", "memory", "memory.max"), "134217728");
        assert_eq!(
            read(&env, "l", "memory", "memory.swap.max"),
            "134217728",
            "memory-swap minus memory"
        );
        assert_eq!(read(&env, "l", "memory", "memory.low"), "33554432");
        assert_eq!(read(&env, "l", "cpu", "cpu.max"), "50000 100000");
        assert_eq!(
            read(&env, "l", "cpu", "cpu.weight"),
            "20",
            "512 shares, converted as runc does"
        );
    } else {
        assert_eq!(
            read(&env, "l", "memory", "memory.limit_in_bytes"),
            "134217728"
        );
        assert_eq!(
            read(&env, "l", "memory", "memory.memsw.limit_in_bytes"),
            "268435456"
        );
        assert_eq!(
            read(&env, "l", "memory", "memory.soft_limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read(&env, "l", "cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(&env, "l", "cpu", "cpu.shares"), "512");
    }
    assert_eq!(read(&env, "l", "pids", "pids.max"), "40");
    assert_eq!(read(&env, "l", "cpuset", "cpuset.cpus"), "0");
    // A second change, then reset: back to the values from before the first.
    assert_eq!(
        env.nsk(&["limit", "l", "--memory", "96M", "--pids", "max"])
            .code,
        0
    );
    let o = env.nsk(&["limit", "l", "--reset"]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut want = before.clone();
    if o.stderr.contains("refuses to empty the cpuset") {
        // A v2 cpuset.cpus that was empty (inherited) on a kernel that will not empty it again
        // while the container runs: it names exactly the CPUs it inherited, and nsk said so.
        assert!(v2, "{o:?}");
        let cpus = want.iter_mut().find(|(f, _)| f == "cpuset.cpus").unwrap();
        assert_eq!(cpus.1, "", "{o:?}");
        cpus.1 = inherited_cpus.clone();
    }
    assert_eq!(snapshot(&env, "l"), want, "{o:?}");
    let o = env.nsk(&["limit", "l", "--reset"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("nothing to reset"), "{o:?}");
    env.nsk(&["rm", "-f", "l"]);
    env.assert_clean();
}

#[test]
fn dry_run_writes_nothing_and_no_option_shows_the_limits() {
    let env = Env::new();
    env.run(&[
        "-d", "--name", "d", "--memory", "64M", "--pids", "30", "--", "sleep", "100",
    ]);
    let before = snapshot(&env, "d");
    let o = env.nsk(&[
        "limit",
        "d",
        "--memory",
        "100M",
        "--pids",
        "5",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["after"] == "5" && c["before"] == "30"),
        "{v}"
    );
    assert_eq!(snapshot(&env, "d"), before);
    assert!(
        !env.root.path().join(".limits").exists(),
        "a dry run journals nothing"
    );
    // A dry run makes every check the real change makes: the same status and message. On v1
    // a memory limit above memory+swap (128M here, docker's default of twice --memory) is
    // refused before anything is written; CPUs that do not exist, and more CPUs than the host
    // has, everywhere.
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let n: usize = std::thread::available_parallelism().unwrap().get();
    let many = format!("{}", n + 1);
    let beyond = format!("0-{}", n + 3);
    let mut cases = vec![
        (
            vec!["--cpuset-cpus", beyond.as_str()],
            "do not exist on this host",
        ),
        (vec!["--cpus", many.as_str()], "this host has"),
    ];
    if !is_cgroup_v2() {
        cases.push((
            vec!["--memory", "1G"],
            "above the container's memory+swap limit 128M",
        ));
    }
    for (args, why) in cases {
        let mut dry = vec!["limit", "d", "--dry-run"];
        dry.extend(&args);
        let mut real = vec!["limit", "d"];
        real.extend(&args);
        let (d, r) = (env.nsk(&dry), env.nsk(&real));
        assert_eq!(d.code, 125, "{args:?}: {d:?}");
        assert_eq!((d.code, &d.stderr), (r.code, &r.stderr), "{args:?}");
        assert!(d.stderr.contains(why), "{args:?}: {d:?}");
        assert_eq!(d.stderr.lines().count(), 1, "{d:?}");
        if args[0] == "--cpuset-cpus" {
            assert!(
                d.stderr.contains(&format!("(online: {})", online.trim())),
                "{d:?}"
            );
        }
        assert_eq!(snapshot(&env, "d"), before);
    }
    let o = env.nsk(&["limit", "d", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["limits"]["memory_max"], 64 << 20);
    assert_eq!(v["limits"]["pids_max"], 30);
    assert!(env.nsk(&["limit", "d"]).stdout.contains("CGROUP"));
    env.nsk(&["rm", "-f", "d"]);
    env.assert_clean();
}

#[test]
fn bad_input_is_refused_with_the_value_unchanged() {
    let env = Env::new();
    env.run(&["-d", "--name", "b", "--memory", "64M", "--", "sleep", "100"]);
    let before = snapshot(&env, "b");
    for (args, msg) in [
        (&["--memory", "0"][..], "invalid --memory '0'"),
        (&["--memory", "-1G"], "invalid --memory '-1G'"),
        (&["--memory", "1.5"], "not a whole number of bytes"),
        (&["--memory", "99999999999999999999"], "too large"),
        (&["--memory", "lots"], "invalid --memory 'lots'"),
        (&["--pids", "0"], "invalid --pids '0'"),
        (&["--cpus", "-2"], "invalid --cpus '-2'"),
        (&["--cpu-shares", "1"], "invalid --cpu-shares '1'"),
        (&["--cpuset-cpus", "a-b"], "invalid --cpuset-cpus 'a-b'"),
        (
            &["--memory", "128M", "--memory-swap", "64M"],
            "must be at least --memory",
        ),
    ] {
        let mut a = vec!["limit", "b"];
        a.extend_from_slice(args);
        let o = env.nsk(&a);
        assert_eq!(o.code, 125, "{args:?}: {o:?}");
        assert!(
            o.stderr.contains(msg) && o.stderr.lines().count() == 1,
            "{args:?}: {o:?}"
        );
        assert_eq!(snapshot(&env, "b"), before, "{args:?}");
    }
    let o = env.nsk(&["limit", "999999999", "--memory", "1G"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, "nsk: cannot limit 999999999: no such process\n")
    );
    // The root cgroup is refused (this test process is not in a container's cgroup of its own
    // in the pids hierarchy).
    let o = env.nsk(&["limit", &std::process::id().to_string(), "--pids", "100"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr.contains("refusing to change the root cgroup"),
        "{o:?}"
    );
    env.nsk(&["rm", "-f", "b"]);
    env.assert_clean();
}

#[test]
fn a_failure_in_the_middle_rolls_back() {
    let env = Env::new();
    env.run(&[
        "-d", "--name", "r", "--memory", "64M", "--pids", "30", "--", "sleep", "100",
    ]);
    let before = snapshot(&env, "r");
    // Memory and pids are written before the impossible CPU set fails.
    let o = env.nsk(&[
        "limit",
        "r",
        "--memory",
        "96M",
        "--pids",
        "20",
        "--cpuset-cpus",
        "999",
    ]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("cpuset.cpus"), "{o:?}");
    assert_eq!(snapshot(&env, "r"), before);
    env.nsk(&["rm", "-f", "r"]);
    env.assert_clean();
}

#[test]
fn limits_are_enforced_live() {
    let env = Env::new();
    // pids: lowered under a running container, its forks start to fail.
    env.run(&[
        "-d",
        "--name",
        "p",
        "--",
        "sh",
        "-c",
        "while :; do sleep 0.05; done",
    ]);
    wait_for("the loop", || {
        read(&env, "p", "pids", "pids.current")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    assert!(!env.nsk(&["logs", "p"]).stdout.contains("can't fork"));
    assert_eq!(env.nsk(&["limit", "p", "--pids", "2"]).code, 0);
    wait_for("a refused fork", || {
        env.nsk(&["logs", "p"]).stdout.contains("can't fork")
    });
    // freeze: a counter stops, and goes on after thaw.
    let counter = Counter::start(&env, "f");
    let count = || counter.get();
    assert_eq!(env.nsk(&["limit", "f", "--freeze"]).code, 0);
    let frozen_at = count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(count() <= frozen_at + 1, "a frozen container made progress");
    assert_eq!(env.nsk(&["limit", "f", "--thaw"]).code, 0);
    wait_for("progress after thaw", || count() > frozen_at + 3);
    // memory: lowered under a process that holds anonymous memory (and no swap to go to). v2
    // OOM-kills and counts it; v1 refuses the write, which nsk explains, changing nothing.
    env.run(&[
        "-d",
        "--name",
        "m",
        "--memory",
        "256M",
        "--",
        "awk",
        "BEGIN{s=sprintf(\"%60000000s\",\"\"); print \"held\"; fflush(); system(\"sleep 100\")}",
    ]);
    wait_for("memory to be held", || {
        env.nsk(&["logs", "m"]).stdout.contains("held")
    });
    let o = env.nsk(&["limit", "m", "--memory", "32M", "--memory-swap", "32M"]);
    assert!(o.stderr.contains("below the current usage"), "{o:?}");
    if is_cgroup_v2() {
        assert_eq!(o.code, 0, "{o:?}");
        // The kernel OOM-kills awk, the container's command, so the container ends: nsk
        // records it as OOM-killed (it read memory.events before removing nothing).
        wait_for("the OOM kill", || env.state("m")["status"] == "oom-killed");
        assert_eq!(env.state("m")["exit_code"], 137);
    } else {
        assert_eq!(o.code, 125, "{o:?}");
        assert!(
            o.stderr.contains("could not reclaim enough memory"),
            "{o:?}"
        );
        assert_eq!(
            read(&env, "m", "memory", "memory.limit_in_bytes"),
            "268435456"
        );
    }
    env.nsk(&["rm", "-f", "p", "f", "m"]);
    env.assert_clean();
}

#[test]
fn limits_set_by_runc_are_changed_and_runc_sees_them() {
    let env = Env::new();
    let r = Runc::start(&env, "limit");
    let o = env.nsk(&["limit", &r.id, "--memory", "200M", "--pids", "77"]);
    assert_eq!(o.code, 0, "{o:?}");
    let ev = Command::new("runc")
        .args(["events", "--stats", &r.id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 200 << 20, "{v}");
    assert_eq!(v["data"]["pids"]["limit"], 77);
    assert_eq!(env.nsk(&["limit", &r.id, "--reset"]).code, 0);
    let ev = Command::new("runc")
        .args(["events", "--stats", &r.id])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 100 << 20);
    assert_eq!(v["data"]["pids"]["limit"], 50);
    drop(r);
    let _ = std::fs::remove_dir_all(env.root.path().join(".limits"));
}

#[test]
fn forged_state_and_journal_files_cannot_aim_nsk_elsewhere() {
    let env = Env::new();
    env.run(&["-d", "--name", "j", "--memory", "64M", "--", "sleep", "100"]);
    assert_eq!(env.nsk(&["limit", "j", "--pids", "10"]).code, 0);
    // A journal that names a file outside the target's cgroups: reset refuses, the file is intact.
    let victim = tempfile::tempdir().unwrap();
    let file = victim.path().join("precious");
    std::fs::write(&file, "keep").unwrap();
    let jdir = env.root.path().join(".limits");
    let jf = std::fs::read_dir(&jdir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&jf).unwrap()).unwrap();
    j["original"][file.to_str().unwrap()] = serde_json::json!("overwritten");
    std::fs::write(&jf, serde_json::to_vec(&j).unwrap()).unwrap();
    let o = env.nsk(&["limit", "j", "--reset"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("refusing to reset"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    // A state file whose cgroup paths name a plain directory: rm refuses to rmdir it, and
    // refuses before it stops anything.
    let empty = victim.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let sp = env.root.path().join("j/state.json");
    let orig = std::fs::read(&sp).unwrap();
    let mut st: serde_json::Value = serde_json::from_slice(&orig).unwrap();
    st["cgroups"]["dirs"][0]["path"] = serde_json::json!(empty.join("leaf"));
    std::fs::create_dir(empty.join("leaf")).unwrap();
    std::fs::write(&sp, serde_json::to_vec(&st).unwrap()).unwrap();
    let pid = env.pid("j");
    let o = env.nsk(&["rm", "-f", "j"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr.contains("damaged state") && o.stderr.contains("not the one nsk made for it"),
        "{o:?}"
    );
    assert!(empty.join("leaf").is_dir());
    assert!(
        pid_alive(pid),
        "rm -f stopped a container it then refused to remove"
    );
    std::fs::write(&sp, &orig).unwrap();
    std::fs::remove_file(&jf).unwrap();
    let _ = std::fs::remove_dir(&jdir);
    assert_eq!(env.nsk(&["rm", "-f", "j"]).code, 0);
    env.assert_clean();
}
