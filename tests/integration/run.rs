//! nsk run, ps, stop, kill, rm, logs against real namespaces and cgroups.

use crate::util::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn runs_a_command_and_returns_its_output() {
    let env = Env::new();
    let o = env.run(&["--rm", "--", "echo", "hello"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "hello\n"), "{o:?}");
    env.assert_clean();
}

#[test]
fn pid_namespace_shows_only_the_container() {
    let env = Env::new();
    let o = env.run(&["--rm", "--", "sh", "-c", "echo $$; ps -o pid,comm; true"]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines[0], "2",
        "the command is PID 2 under nsk's init: {o:?}"
    );
    let procs: Vec<(i32, &str)> = lines[2..]
        .iter()
        .map(|l| {
            let mut f = l.split_whitespace();
            (f.next().unwrap().parse().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(
        procs,
        vec![(1, "nsk"), (2, "sh"), (procs[2].0, "ps")],
        "{o:?}"
    );
    env.assert_clean();
}

#[test]
fn hostname_defaults_to_the_name_and_can_be_set() {
    let env = Env::new();
    let o = env.run(&["--rm", "--name", "box-1", "--", "hostname"]);
    assert_eq!(o.stdout, "box-1\n", "{o:?}");
    let o = env.run(&["--rm", "--hostname", "db.example", "--", "hostname"]);
    assert_eq!(o.stdout, "db.example\n", "{o:?}");
    assert_ne!(nix::unistd::gethostname().unwrap(), "db.example");
}

#[test]
fn namespaces_differ_from_the_host() {
    let env = Env::new();
    let kinds = ["cgroup", "ipc", "mnt", "net", "pid", "uts"];
    let script: String = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k};"))
        .collect();
    let o = env.run(&["--rm", "--", "sh", "-c", &script]);
    assert_eq!(o.code, 0, "{o:?}");
    for (k, inside) in kinds.iter().zip(o.stdout.lines()) {
        assert_ne!(host_ns(k), inside, "{k} namespace is shared with the host");
    }
    // The user namespace is only new on request.
    let o = env.run(&["--rm", "--", "readlink", "/proc/self/ns/user"]);
    assert_eq!(o.stdout.trim(), host_ns("user"));
}

#[test]
fn the_containers_init_holds_no_inherited_fd() {
    let env = Env::new();
    // A directory fd the caller leaks to nsk (not close-on-exec), as a careless parent would.
    let leak = nix::fcntl::open(
        std::env::temp_dir().as_path(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    for (name, extra) in [
        ("fd1", vec!["-d"]),
        ("fd2", vec!["-d", "--rm", "--memory", "64M"]),
    ] {
        let mut args = extra.clone();
        args.extend(["--name", name, "--", "sleep", "100"]);
        let o = env.run(&args);
        assert_eq!(o.code, 0, "{o:?}");
        let pid = env.pid(name);
        // Init keeps stdio (its command's) and its channel to nsk, a socket: no directory, no
        // pipe, no signalfd, nothing of the caller's.
        let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let n: i32 = e.file_name().to_str().unwrap().parse().unwrap();
                let l = std::fs::read_link(e.path()).unwrap();
                (n, l.to_string_lossy().into_owned())
            })
            .collect();
        fds.sort();
        let above: Vec<_> = fds.iter().filter(|(n, _)| *n > 2).collect();
        assert_eq!(above.len(), 1, "{name}: {fds:?}");
        assert!(above[0].1.starts_with("socket:["), "{name}: {fds:?}");
        assert_eq!(env.nsk(&["rm", "-f", name]).code, 0);
    }
    drop(leak);
    env.assert_clean();
}

#[test]
fn rm_force_of_a_detached_rm_container_removes_it_every_time() {
    // The container's own `--rm` and `rm -f` both remove it once it is stopped: one at a time,
    // and the one that finds it gone is done (before, `rm -f` mostly said "no such container").
    let env = Env::new();
    for i in 0..20 {
        let name = format!("rmf{i}");
        let o = env.run(&[
            "-d", "--rm", "--memory", "64M", "--name", &name, "--", "sleep", "100",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        let o = env.nsk(&["rm", "-f", &name]);
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, format!("{name}\n").as_str()),
            "{o:?}"
        );
    }
    wait_for("the monitors to finish", || {
        env.leftover_cgroups().is_empty()
    });
    env.assert_clean();
}

#[test]
fn with_no_process_to_spare_a_run_says_what_is_wrong_and_leaves_nothing() {
    // nsk in a pids cgroup that is full (a container's, at its limit): it cannot start a
    // process there. A mistake on its command line is still what it reports; a good command
    // line fails at the container's clone with one line and leaves nothing behind (v1), or
    // runs (v2).
    let env = Env::new();
    let o = env.run(&["-d", "--name", "full", "--pids", "2", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    let procs = env.cgroup_dir("full", "pids").join("cgroup.procs");
    let in_full = |args: &[&str]| -> Out {
        via_sh(
            &format!("echo $$ > '{}'", procs.display()),
            env.run_cmd(args),
        )
    };
    for (args, says) in [
        (
            &["--name", "bad/name", "--", "true"][..],
            "invalid container name",
        ),
        (&["--memory", "10", "--", "true"][..], "--memory"),
        (
            &["-v", "/nonexistent-nsk-src:/x", "--", "true"][..],
            "nonexistent-nsk-src",
        ),
    ] {
        let o = in_full(args);
        assert_eq!(o.code, 125, "{args:?}: {o:?}");
        assert!(o.stderr.contains(says), "{args:?}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
    }
    // On cgroup v2 the container's init is born into its own cgroup (CLONE_INTO_CGROUP), which
    // has room: the run works. On v1 init is cloned where nsk is, and cannot be.
    let v2 = env.state("full")["cgroups"]["version"] == "v2";
    let o = in_full(&["--name", "fine", "--", "true"]);
    if v2 {
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:?}");
        assert_eq!(env.nsk(&["rm", "fine"]).code, 0);
    } else {
        assert_eq!(o.code, 125, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        assert!(
            o.stderr
                .starts_with("nsk: cannot start the container's init: no process to spare"),
            "{o:?}"
        );
    }
    let ps = env.nsk(&["ps", "-a"]);
    assert!(!ps.stdout.contains("fine"), "{ps:?}");
    // One process to spare (init and sleep there, then nsk): the task that makes the network
    // namespace would take it from init; it gives it back, and init's clone makes the
    // namespace.
    assert_eq!(env.nsk(&["limit", "full", "--pids", "4"]).code, 0);
    let o = in_full(&["--rm", "--", "sh", "-c", "ip link | grep -c '^[0-9]'"]);
    assert_eq!(
        (o.code, o.stdout.trim(), o.stderr.as_str()),
        (0, "1", ""),
        "{o:?}"
    );
    assert_eq!(env.nsk(&["rm", "-f", "full"]).code, 0);
    env.assert_clean();
}

#[test]
fn with_few_open_files_a_run_is_refused_before_anything_is_made() {
    // Out of descriptors half-way, a run could not clean up either (the clean-up needs some):
    // under the limit nsk asks for, it is refused before anything is made; at that limit,
    // every kind of run works (the options that hold the most open files at once).
    let env = Env::new();
    let vol = tempfile::tempdir().unwrap();
    let v = format!("{}:/v", vol.path().display());
    let w = format!("{}:/w:ro", vol.path().display());
    let ulimit = |n: u32, args: &[&str]| via_sh(&format!("ulimit -n {n}"), env.run_cmd(args));
    for n in [6, 12, 31] {
        let o = ulimit(n, &["--rm", "--", "true"]);
        assert_eq!(o.code, 125, "{n}: {o:?}");
        assert_eq!(
            o.stderr,
            format!("nsk: the open-file limit is {n} (ulimit -n): starting a container needs 32\n"),
            "{o:?}"
        );
        env.assert_clean();
    }
    for args in [
        &["--rm", "--", "true"][..],
        &["--rm", "--memory", "64M", "--pids", "20", "--", "true"],
        &["--rm", "-t", "--userns", "-v", &v, "-v", &w, "--", "true"],
        &["--rm", "--net", "host", "-v", &v, "--", "true"],
    ] {
        let o = ulimit(32, args);
        assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{args:?}: {o:?}");
    }
    let o = ulimit(
        32,
        &[
            "-d", "--userns", "--name", "few", "-v", &v, "--", "sleep", "100",
        ],
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(env.nsk(&["rm", "-f", "few"]).code, 0);
    env.assert_clean();
}

/// `c` through `bash -c 'PRELUDE && exec "$@"'` (with `c`'s environment), killed if it takes
/// more than a minute. bash: dash does not pass an ignored SIGCHLD on to what it execs.
fn via_sh(prelude: &str, c: std::process::Command) -> Out {
    let mut sh = std::process::Command::new("timeout");
    sh.args(["-s", "KILL", "60", "bash", "-c"])
        .arg(format!("{prelude} && exec \"$@\""))
        .arg("bash")
        .arg(c.get_program())
        .args(c.get_args())
        .stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.output().unwrap().into()
}

#[test]
fn a_caller_that_ignores_sigchld_still_gets_the_commands_exit_code() {
    // An ignored SIGCHLD is inherited through exec: nsk (and its init, a fork) would see no
    // child end, and wait forever.
    let env = Env::new();
    let o = via_sh(
        "trap '' CHLD",
        env.run_cmd(&["--rm", "--", "sh", "-c", "exit 3"]),
    );
    assert_eq!((o.code, o.stderr.as_str()), (3, ""), "{o:?}");
    let o = env.run(&["-d", "--name", "c", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut enter = env.cmd();
    enter.args(["enter", "-T", "c", "--", "sh", "-c", "exit 4"]);
    let o = via_sh("trap '' CHLD", enter);
    assert_eq!((o.code, o.stderr.as_str()), (4, ""), "{o:?}");
    assert_eq!(env.nsk(&["rm", "-f", "c"]).code, 0);
    env.assert_clean();
}

#[test]
fn state_records_pid_start_time_and_namespace_inodes() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "st", "--", "sleep", "100"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "st\n"), "{o:?}");
    let st = env.state("st");
    let pid = st["pid"].as_i64().unwrap() as i32;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(st["start_time"].as_u64(), Some(start));
    assert_eq!(st["status"], "running");
    for k in ["pid", "mnt", "net", "uts", "ipc", "cgroup"] {
        let link = std::fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap();
        assert_eq!(
            format!("{k}:[{}]", st["namespaces"][k]),
            link.to_string_lossy(),
            "{k}"
        );
    }
    assert_eq!(env.nsk(&["rm", "-f", "st"]).code, 0);
    env.assert_clean();
}

#[test]
fn container_mounts_are_invisible_on_the_host() {
    let env = Env::new();
    let o = env.run(&["-d", "--name", "m", "--", "sleep", "100"]);
    assert_eq!(o.code, 0, "{o:?}");
    let pid = env.pid("m");
    let inside = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        inside.contains(" / ") && inside.contains("overlay"),
        "{inside}"
    );
    assert!(
        inside.contains(" /proc ") && inside.contains(" /dev/pts "),
        "{inside}"
    );
    assert_eq!(env.leftover_mounts(), Vec::<String>::new());
    // The filesystems nsk made for this container (its overlay root, /proc, /dev, /dev/pts,
    // mqueue), told apart by their device numbers, appear nowhere in the host's mount table.
    // Other overlays or tmpfs mounts the host has (Docker's, a live system's root) are not
    // this test's business.
    let made: Vec<(String, String)> = inside
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            let ours = match f[4] {
                "/" => fstype == "overlay",
                "/proc" | "/dev/pts" | "/dev/mqueue" | "/dev" => true,
                _ => false,
            };
            ours.then(|| (f[4].to_string(), f[2].to_string()))
        })
        .collect();
    assert_eq!(made.len(), 5, "{inside}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in host.lines() {
        let dev = l.split(' ').nth(2).unwrap();
        for (target, d) in &made {
            assert_ne!(
                dev, d,
                "the container's {target} leaked to the host's mount table: {l}"
            );
        }
    }
    env.nsk(&["rm", "-f", "m"]);
    env.assert_clean();
}

#[test]
fn limits_are_written_to_the_cgroup_files() {
    let env = Env::new();
    let o = env.run(&[
        "-d", "--name", "lim", "--memory", "32M", "--pids", "20", "--cpus", "0.5", "--", "sleep",
        "100",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(env.cgroup_dir("lim", c).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    if is_cgroup_v2() {
        assert_eq!(read("memory", "memory.max"), "33554432");
        assert_eq!(read("cpu", "cpu.max"), "50000 100000");
        assert_eq!(read("pids", "pids.max"), "20");
    } else {
        assert_eq!(read("memory", "memory.limit_in_bytes"), "33554432");
        assert_eq!(
            read("memory", "memory.memsw.limit_in_bytes"),
            "67108864",
            "docker's default: swap as large as memory"
        );
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(read("pids", "pids.max"), "20");
    }
    // The container's processes are in those cgroups.
    let pid = env.pid("lim").to_string();
    let procs =
        std::fs::read_to_string(env.cgroup_dir("lim", "pids").join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid), "{procs}");
    // ps shows the limits.
    let ps = env.nsk(&["ps"]);
    assert!(
        ps.stdout.contains("mem=32M")
            && ps.stdout.contains("pids=20")
            && ps.stdout.contains("cpus=0.5"),
        "{ps:?}"
    );
    assert_eq!(env.nsk(&["rm", "-f", "lim"]).code, 0);
    env.assert_clean();
}

#[test]
fn memory_hog_is_oom_killed_and_ps_says_so() {
    let env = Env::new();
    let o = env.run(&[
        "--name",
        "hog",
        "--memory",
        "32M",
        "--",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(o.code, 137, "{o:?}");
    let ps = env.nsk(&["ps", "-a", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(v[0]["name"], "hog");
    assert_eq!(v[0]["status"], "oom-killed", "{v}");
    assert_eq!(v[0]["exit_code"], 137);
    assert!(env.nsk(&["ps", "-a"]).stdout.contains("oom-killed"));
    assert_eq!(env.nsk(&["rm", "hog"]).code, 0);
    env.assert_clean();
}

#[test]
fn fork_loop_stops_at_the_pids_limit() {
    let env = Env::new();
    let o = env.run(&[
        "--rm",
        "--pids",
        "10",
        "--",
        "sh",
        "-c",
        "n=0; while [ $n -lt 30 ]; do sleep 5 & n=$((n+1)); done; echo started-all",
    ]);
    assert!(
        o.stderr.contains("can't fork") || o.stderr.contains("Resource temporarily unavailable"),
        "{o:?}"
    );
    assert!(!o.stdout.contains("started-all"), "{o:?}");
    env.assert_clean();
}

#[test]
fn the_root_filesystem_is_never_modified() {
    let env = Env::new();
    let before = tree_digest(rootfs());
    let o = env.run(&["--rm", "--", "sh", "-c", "echo x > /etc/passwd && rm /bin/ls && mkdir /newdir && touch /tmp/f && chmod 777 /etc/group && cat /etc/passwd"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "x\n"), "{o:?}");
    assert_eq!(tree_digest(rootfs()), before);
    env.assert_clean();
}

#[test]
fn the_embedded_default_is_a_host_snapshot_with_writes_discarded() {
    let env = Env::new();
    let marker = format!("/etc/nsk-test-{}", run_id());
    let mut c = env.cmd();
    c.args([
        "run",
        "--rm",
        "--cgroup-parent",
        &env.cgroup_parent,
        "--",
        "sh",
        "-c",
    ])
    .arg(format!(
        "cat /etc/os-release >/dev/null && echo x > {marker} && cat {marker}"
    ));
    let o: Out = c.output().unwrap().into();
    assert_eq!((o.code, o.stdout.as_str()), (0, "x\n"), "{o:?}");
    assert!(!std::path::Path::new(&marker).exists());
    env.assert_clean();
}

#[test]
fn exit_codes_follow_the_command() {
    let env = Env::new();
    assert_eq!(env.run(&["--rm", "--", "sh", "-c", "exit 3"]).code, 3);
    let o = env.run(&["--rm", "--", "no-such-command"]);
    assert_eq!(o.code, 127, "{o:?}");
    assert_eq!(
        o.stderr,
        "nsk: cannot run no-such-command: command not found\n"
    );
    let o = env.run(&["--rm", "--", "/etc/passwd"]);
    assert_eq!(o.code, 126, "{o:?}");
    assert_eq!(
        env.run(&["--rm", "--", "sh", "-c", "kill -TERM $$"]).code,
        143
    );
    assert_eq!(
        env.run(&["--rm", "--", "sh", "-c", "kill -KILL $$"]).code,
        137
    );
    env.assert_clean();
}

/// Start a foreground container whose command reports the signals it gets; return the nsk
/// child once the command is ready.
fn start_trapper(env: &Env) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let script = "for s in TERM INT HUP QUIT USR1 USR2; do trap \"echo got-$s\" $s; done; trap 'echo got-TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done";
    let mut child = env
        .run_cmd(&["--rm", "--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

#[test]
fn signals_sent_to_nsk_reach_the_command() {
    let env = Env::new();
    let (mut child, mut out) = start_trapper(&env);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    for (sig, name) in [
        (nix::sys::signal::SIGUSR1, "USR1"),
        (nix::sys::signal::SIGUSR2, "USR2"),
        (nix::sys::signal::SIGHUP, "HUP"),
        (nix::sys::signal::SIGINT, "INT"),
        (nix::sys::signal::SIGQUIT, "QUIT"),
    ] {
        nix::sys::signal::kill(pid, sig).unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, format!("got-{name}\n"));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM).unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got-TERM\n");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    env.assert_clean();
}

#[test]
fn kill_9_of_a_foreground_run_takes_the_container_down() {
    let env = Env::new();
    let mut child = env
        .run_cmd(&[
            "--name",
            "fg",
            "--memory",
            "64M",
            "--",
            "sh",
            "-c",
            "echo ready; sleep 1000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    wait_for("the state to say running", || {
        env.state("fg")["status"] == "running"
    });
    let init = env.pid("fg");
    assert!(pid_alive(init));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("the container's init to die", || !pid_alive(init));
    let ps = env.nsk(&["ps", "-a", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(v[0]["status"], "exited", "{v}");
    assert_eq!(
        env.nsk(&["ps"]).stdout.lines().count(),
        1,
        "no running container is listed"
    );
    let o = env.nsk(&["rm", "fg"]);
    assert_eq!(o.code, 0, "{o:?}");
    env.assert_clean();
}

#[test]
fn concurrent_runs_with_one_name_give_one_container() {
    let env = Env::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.run_cmd(&["-d", "--name", "same", "--", "sleep", "100"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Out> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().into())
        .collect();
    let ok: Vec<&Out> = outs.iter().filter(|o| o.code == 0).collect();
    assert_eq!(ok.len(), 1, "{outs:?}");
    for o in outs.iter().filter(|o| o.code != 0) {
        assert_eq!(o.code, 125);
        assert!(
            o.stderr
                .starts_with("nsk: container name 'same' is already in use"),
            "{o:?}"
        );
        assert_eq!(o.stderr.lines().count(), 1);
    }
    // A foreground run of the same name: refused in one line, the running container untouched.
    let pid = env.pid("same");
    let o = env.run(&["--name", "same", "--memory", "64M", "--", "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr
            .starts_with("nsk: container name 'same' is already in use"),
        "{o:?}"
    );
    assert_eq!(o.stderr.lines().count(), 1);
    assert_eq!(env.pid("same"), pid);
    assert!(pid_alive(pid));
    assert_eq!(env.state("same")["status"], "running");
    assert_eq!(env.nsk(&["rm", "-f", "same"]).code, 0);
    env.assert_clean();
}

#[test]
fn a_failed_run_leaves_nothing_behind() {
    let env = Env::new();
    for (args, msg) in [
        (vec!["--memory", "0", "--", "true"], "invalid --memory '0'"),
        (
            vec!["--memory", "12q", "--", "true"],
            "invalid --memory '12q'",
        ),
        (vec!["--pids", "-3", "--", "true"], "invalid --pids '-3'"),
        (vec!["--cpus", "abc", "--", "true"], "invalid --cpus 'abc'"),
        (
            vec!["--memory", "64M", "--", "no-such-command"],
            "command not found",
        ),
        (
            vec!["--memory", "64M", "-v", "/nonexistent-nsk:/x", "--", "true"],
            "invalid volume",
        ),
        (
            vec!["--name", "bad/name", "--", "true"],
            "invalid container name",
        ),
        (
            vec!["--user", "nosuchuser", "--memory", "64M", "--", "true"],
            "cannot run as user nosuchuser: no such user in the container's /etc/passwd\n",
        ),
    ] {
        let o = env.run(&args);
        assert!(o.code == 125 || o.code == 127, "{args:?}: {o:?}");
        assert!(
            o.stderr.starts_with("nsk: ")
                && o.stderr.contains(msg)
                && o.stderr.lines().count() == 1,
            "{args:?}: {o:?}"
        );
        env.assert_clean();
    }
    let mut c = env.cmd();
    let o: Out = c
        .args(["run", "--rootfs", "/nonexistent-rootfs", "--", "true"])
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("/nonexistent-rootfs"), "{o:?}");
    env.assert_clean();
}

#[test]
fn the_host_binary_cannot_be_written_from_inside() {
    // runc CVE-2019-5736: init is the host's nsk binary; nothing inside may open it for writing
    // through /proc/*/exe (or map_files), with default or with all capabilities.
    let env = Env::new();
    let before = std::fs::read(NSK).unwrap();
    let script = "for p in /proc/[0-9]*; do for f in $p/exe $p/map_files/*; do if ( : >> $f ) 2>/dev/null; then echo WROTE $f; fi; done; done; echo done";
    for extra in [&[][..], &["--privileged"][..]] {
        let mut args = vec!["--rm"];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", script]);
        let o = env.run(&args);
        assert_eq!(o.code, 0, "{o:?}");
        assert_eq!(o.stdout, "done\n", "{o:?}");
    }
    // Not even readable (init is not dumpable), unless all capabilities are kept.
    let o = env.run(&[
        "--rm",
        "--",
        "sh",
        "-c",
        "readlink /proc/1/exe || echo denied",
    ]);
    assert_eq!(o.stdout.trim(), "denied", "{o:?}");
    // Nor does its command line, inherited from the host's nsk run, show host paths.
    let o = env.run(&["--rm", "--", "cat", "/proc/1/cmdline"]);
    assert_eq!(o.stdout, "nsk init\0", "{o:?}");
    assert_eq!(std::fs::read(NSK).unwrap(), before);
    env.assert_clean();
}

#[test]
fn tty_gives_a_pty_from_the_containers_devpts() {
    let env = Env::new();
    let o = env.run(&[
        "--rm",
        "-t",
        "--",
        "sh",
        "-c",
        "tty; readlink /proc/self/fd/0; ls /dev/pts",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let lines: Vec<&str> = o.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines[0], "/dev/pts/0", "{o:?}");
    assert_eq!(lines[1], "/dev/pts/0");
    // Without -t and without a terminal, the command gets nsk's own stdio.
    let o = env.run(&["--rm", "--", "sh", "-c", "tty || true"]);
    assert_eq!(o.stdout.trim(), "not a tty");
}

#[test]
fn detached_containers_log_stop_and_remove() {
    let env = Env::new();
    let o = env.run(&[
        "-d",
        "--name",
        "bg",
        "--memory",
        "64M",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done",
    ]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "bg\n"), "{o:?}");
    wait_for("the log", || {
        env.nsk(&["logs", "bg"]).stdout.contains("err")
    });
    assert_eq!(env.nsk(&["logs", "bg"]).stdout, "out\nerr\n");
    let ps = env.nsk(&["ps"]);
    assert!(
        ps.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("bg") && l.contains("running")),
        "{ps:?}"
    );
    let o = env.nsk(&["rm", "bg"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("container bg is running"), "{o:?}");
    let o = env.nsk(&["stop", "bg"]);
    assert_eq!(o.code, 0, "{o:?}");
    wait_for("the exit status", || env.state("bg")["status"] == "exited");
    assert_eq!(env.state("bg")["exit_code"], 0);
    assert!(env.nsk(&["logs", "bg"]).stdout.ends_with("bye\n"));
    assert_eq!(env.nsk(&["stop", "bg"]).code, 0, "stop is idempotent");
    assert_eq!(env.nsk(&["rm", "bg"]).code, 0);
    assert_eq!(
        env.nsk(&["rm", "-f", "bg"]).code,
        0,
        "rm -f of a missing container is fine"
    );
    let o = env.nsk(&["rm", "bg"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, "nsk: no such container: bg\n")
    );
    env.assert_clean();
}

#[test]
fn kill_sends_a_signal_and_stop_escalates_to_sigkill() {
    let env = Env::new();
    env.run(&[
        "-d",
        "--name",
        "k",
        "--",
        "sh",
        "-c",
        "trap 'echo usr1' USR1; trap '' TERM; while :; do sleep 0.05; done",
    ]);
    assert_eq!(env.nsk(&["kill", "k", "USR1"]).code, 0);
    wait_for("USR1 in the log", || {
        env.nsk(&["logs", "k"]).stdout.contains("usr1")
    });
    let t = std::time::Instant::now();
    assert_eq!(env.nsk(&["stop", "-t", "1", "k"]).code, 0);
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
    wait_for("the exit status", || env.state("k")["status"] == "exited");
    let st = env.state("k");
    assert_eq!(st["exit_signal"], 9, "{st}");
    let o = env.nsk(&["kill", "k", "TERM"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, "nsk: container k is not running\n")
    );
    let o = env.nsk(&["kill", "k", "NOPE"]);
    assert!(o.stderr.contains("invalid signal 'NOPE'"), "{o:?}");
    env.nsk(&["rm", "k"]);
    env.assert_clean();
}

#[test]
fn a_reused_pid_is_never_taken_for_the_container() {
    let env = Env::new();
    env.run(&["-d", "--name", "r", "--", "sleep", "100"]);
    // Point the state at a live process that is not the container (same PID, other start time).
    let p = env.root.path().join("r/state.json");
    let mut st = env.state("r");
    let real = st["pid"].clone();
    st["pid"] = serde_json::json!(std::process::id());
    std::fs::write(&p, serde_json::to_vec(&st).unwrap()).unwrap();
    let ps = env.nsk(&["ps", "-a", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ps.stdout).unwrap();
    assert_eq!(v[0]["status"], "exited", "{v}");
    assert_eq!(
        env.nsk(&["kill", "r", "KILL"]).code,
        125,
        "the test process must not be signalled"
    );
    st["pid"] = real;
    std::fs::write(&p, serde_json::to_vec(&st).unwrap()).unwrap();
    assert_eq!(env.nsk(&["rm", "-f", "r"]).code, 0);
    env.assert_clean();
}

#[test]
fn volumes_bind_host_paths_read_only_or_not() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "data\n").unwrap();
    let ro = format!("{}:/mnt/ro:ro", dir.path().display());
    let rw = format!("{}:/mnt/rw", dir.path().display());
    let o = env.run(&["--rm", "-v", &ro, "-v", &rw, "--", "sh", "-c", "cat /mnt/ro/f; echo x > /mnt/ro/g 2>/dev/null || echo ro-refused; echo y > /mnt/rw/h; grep ' /mnt/ro ' /proc/mounts"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("data\nro-refused\n"), "{o:?}");
    let m = o.stdout.lines().nth(2).unwrap();
    assert!(
        m.contains("ro,") && m.contains("nosuid") && m.contains("nodev"),
        "{m}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("h")).unwrap(),
        "y\n"
    );
    assert!(
        !rootfs().join("mnt").exists(),
        "the mount point was created in the rootfs"
    );
    env.assert_clean();
}

#[test]
fn a_volume_destination_escaping_the_root_is_refused() {
    let env = Env::new();
    let r = tempfile::tempdir().unwrap();
    build_rootfs(r.path());
    std::os::unix::fs::symlink("../../..", r.path().join("up")).unwrap();
    std::os::unix::fs::symlink("/etc", r.path().join("abs")).unwrap();
    for dest in ["/up/x", "/abs/x", "/a/../../x"] {
        let mut c = env.cmd();
        let o: Out = c
            .args([
                "run",
                "--rm",
                "--cgroup-parent",
                &env.cgroup_parent,
                "--rootfs",
            ])
            .arg(r.path())
            .args(["-v", &format!("/tmp:{dest}"), "--", "true"])
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 125, "{dest}: {o:?}");
        assert!(o.stderr.contains("invalid volume"), "{dest}: {o:?}");
        env.assert_clean();
    }
    assert!(!std::path::Path::new("/x").exists());
}

#[test]
fn env_workdir_and_user() {
    let env = Env::new();
    let o = env.run(&[
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/work/dir",
        "--user",
        "www",
        "--",
        "sh",
        "-c",
        "echo $FOO; pwd; id; echo $PATH; echo $HOME",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "bar");
    assert_eq!(l[1], "/work/dir");
    assert_eq!(l[2], "uid=33(www) gid=33(www) groups=4(adm),33(www)");
    assert_eq!(
        l[3],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(l[4], "/var/www");
    let o = env.run(&["--rm", "--user", "1234:5678", "--", "id", "-u"]);
    assert_eq!(o.stdout, "1234\n");
}

#[test]
fn capabilities_are_dockers_defaults_unless_privileged() {
    let env = Env::new();
    let o = env.run(&[
        "--rm",
        "--",
        "sh",
        "-c",
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status",
    ]);
    assert!(
        o.stdout.contains("CapEff:\t00000000200005eb")
            || o.stdout.contains("CapEff:\t00000000a00005eb")
            || o.stdout.contains("CapEff:\t00000000a80405eb")
            || o.stdout.contains("CapEff:"),
        "{o:?}"
    );
    let eff = u64::from_str_radix(
        o.stdout
            .lines()
            .find(|l| l.starts_with("CapEff"))
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap(),
        16,
    )
    .unwrap();
    const SYS_ADMIN: u64 = 1 << 21;
    const SYS_PTRACE: u64 = 1 << 19;
    const MKNOD: u64 = 1 << 27;
    const CHOWN: u64 = 1 << 0;
    assert_eq!(eff & (SYS_ADMIN | SYS_PTRACE | MKNOD), 0, "{eff:x}");
    assert_ne!(eff & CHOWN, 0);
    // The inheritable set is empty, for root and for any other user.
    for user in ["root", "nobody"] {
        let o = env.run(&[
            "--rm",
            "-u",
            user,
            "--",
            "grep",
            "CapInh",
            "/proc/self/status",
        ]);
        assert_eq!(o.stdout, "CapInh:\t0000000000000000\n", "{user}: {o:?}");
    }
    let o = env.run(&[
        "--rm",
        "--privileged",
        "--",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    let eff = u64::from_str_radix(o.stdout.trim().split('\t').nth(1).unwrap(), 16).unwrap();
    assert_ne!(eff & SYS_ADMIN, 0);
    // Masked paths (those this kernel has).
    let masked: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert!(!masked.is_empty());
    let script = format!("for f in {}; do wc -c < $f; done; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro", masked.join(" "));
    let o = env.run(&["--rm", "--", "sh", "-c", &script]);
    assert_eq!(o.stdout, "0\n".repeat(masked.len()) + "0\nro\n", "{o:?}");
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let env = Env::new();
    let o = env.run(&[
        "--rm",
        "--",
        "sh",
        "-c",
        "cat /sys/class/net/lo/operstate; ls /sys/class/net",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "unknown\nlo\n", "{o:?}");
    let o = env.run(&[
        "--rm",
        "--net",
        "host",
        "--",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(o.stdout.trim(), host_ns("net"));
}

#[test]
fn user_namespace_lets_a_non_root_user_run() {
    let env = Env::new();
    let state = tempfile::tempdir().unwrap();
    nix::unistd::chown(
        state.path(),
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let as_nobody = |args: &[&str]| -> Out {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(NSK)
            .arg("--root")
            .arg(state.path().join("s"))
            .args(["run", "--userns", "--rootfs"])
            .arg(rootfs())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    };
    let o = as_nobody(&["--rm", "--", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "0");
    assert_eq!(
        l[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "65534", "1"]
    );
    // With the host's network namespace a fresh sysfs is refused to a user namespace: the
    // host's /sys is bound read-only instead, and the old root is gone all the same.
    let o = as_nobody(&[
        "--rm",
        "--net",
        "host",
        "--",
        "sh",
        "-c",
        "test -d /sys/class/net && ! touch /sys/x 2>/dev/null && ls -a /",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout.split_whitespace().collect::<Vec<_>>(),
        [".", "..", "bin", "dev", "etc", "proc", "root", "sys", "tmp"],
        "{o:?}"
    );
    // Limits need a delegated cgroup: refused clearly, nothing left.
    let cg = format!("--cgroup-parent={}", env.cgroup_parent);
    let o = as_nobody(&["--rm", &cg, "--memory", "64M", "--", "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr
            .starts_with("nsk: limits need root or a delegated cgroup"),
        "{o:?}"
    );
    assert_eq!(
        std::fs::read_dir(state.path().join("s")).unwrap().count(),
        0
    );
    env.assert_clean();
}

#[test]
fn ps_lists_running_by_default_and_all_with_a() {
    let env = Env::new();
    env.run(&["--name", "done1", "--", "true"]);
    env.run(&["-d", "--name", "live", "--", "sleep", "100"]);
    let ps = env.nsk(&["ps"]);
    let lines: Vec<&str> = ps.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS") && lines[0].contains("LIMITS"),
        "{ps:?}"
    );
    assert_eq!(lines.len(), 2, "{ps:?}");
    assert!(lines[1].starts_with("live"));
    let all = env.nsk(&["ps", "-a"]);
    assert_eq!(all.stdout.lines().count(), 3, "{all:?}");
    assert!(all.stdout.contains("exited (0)"));
    // --all is -a, as in docker ps: the same rows (compared as JSON: the table's CREATED
    // column is relative and may turn a second between two calls), and the statuses the state
    // files hold.
    assert_eq!(
        env.nsk(&["ps", "--all", "--json"]).stdout,
        env.nsk(&["ps", "-a", "--json"]).stdout
    );
    let listed: serde_json::Value =
        serde_json::from_str(&env.nsk(&["ps", "--all", "--json"]).stdout).unwrap();
    let mut statuses: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [("done1", env.state("done1")), ("live", env.state("live"))]
            .map(|(n, st)| (n.to_string(), st["status"].as_str().unwrap().to_string()))
            .to_vec()
    );
    assert_eq!(statuses[0].1, "exited");
    assert_eq!(statuses[1].1, "running");
    // The host-wide view is --host; -a does not mix with it.
    let host = env.nsk(&["ps", "--host"]);
    assert_eq!(host.code, 0, "{host:?}");
    assert!(host.stdout.starts_with("CONTAINER"), "{host:?}");
    let o = env.nsk(&["ps", "-a", "--host"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            125,
            "nsk: the argument '--all' cannot be used with '--host' (see nsk ps --help)\n"
        )
    );
    let v: serde_json::Value =
        serde_json::from_str(&env.nsk(&["ps", "-a", "--json"]).stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    for k in [
        "name",
        "id",
        "pid",
        "start_time",
        "created",
        "status",
        "rootfs",
        "cgroups",
        "namespaces",
        "limits",
        "command",
        "hostname",
    ] {
        assert!(v[0].get(k).is_some(), "missing {k} in {v}");
    }
    env.nsk(&["rm", "-f", "done1", "live"]);
    env.assert_clean();
}

#[test]
fn a_directory_nsk_did_not_make_is_never_listed_or_removed() {
    let env = Env::new();
    // Decoys under the state root: a tree without nsk's marker, one shaped like a half-made
    // container, and one whose marker was copied from a real container.
    let decoy = env.root.path().join("important-data");
    std::fs::create_dir_all(decoy.join("sub")).unwrap();
    std::fs::write(decoy.join("sub/keep"), "precious").unwrap();
    std::fs::create_dir_all(env.root.path().join("half/upper")).unwrap();
    let before = tree_digest(env.root.path());
    let ps = env.nsk(&["ps", "-a"]);
    assert_eq!(ps.code, 0, "{ps:?}");
    assert_eq!(ps.stdout.lines().count(), 1, "only the header: {ps:?}");
    for args in [
        &["rm", "important-data"][..],
        &["rm", "-f", "important-data"],
        &["rm", "half"],
        &["rm", "-f", "half"],
        &["stop", "half"],
        &["kill", "half"],
        &["logs", "half"],
        &["inspect", "half"],
    ] {
        let o = env.nsk(args);
        assert_ne!(o.code, 0, "{args:?}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        assert!(o.stderr.starts_with("nsk: "), "{o:?}");
    }
    let o = env.nsk(&["rm", "important-data"]);
    assert!(
        o.stderr.contains("not a container directory made by nsk"),
        "{o:?}"
    );
    assert_eq!(tree_digest(env.root.path()), before, "a decoy was touched");
    // A marker copied from a real container proves nothing about another directory.
    assert_eq!(env.run(&["--name", "real", "--", "true"]).code, 0);
    std::fs::copy(
        env.root.path().join("real/nsk-container.json"),
        decoy.join("nsk-container.json"),
    )
    .unwrap();
    let o = env.nsk(&["rm", "-f", "important-data"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(decoy.join("sub/keep").is_file());
    assert_eq!(env.nsk(&["rm", "real"]).code, 0);
    std::fs::remove_dir_all(&decoy).unwrap();
    std::fs::remove_dir_all(env.root.path().join("half")).unwrap();
    env.assert_clean();
}

#[test]
fn logs_follow_until_the_container_exits() {
    let env = Env::new();
    let o = env.run(&[
        "-d",
        "--name",
        "lf",
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let t = std::time::Instant::now();
    let o = env.nsk(&["logs", "-f", "lf"]);
    assert_eq!(
        (o.code, o.stdout.as_str()),
        (0, "line1\nline2\nline3\n"),
        "{o:?}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5) * time_scale());
    env.run(&["--name", "fg", "--", "true"]);
    let o = env.nsk(&["logs", "fg"]);
    assert!(o.stderr.contains("only detached containers"), "{o:?}");
    env.nsk(&["rm", "lf", "fg"]);
    env.assert_clean();
}
