//! nsk enter against nsk containers, runc containers and unshare'd processes: what the command
//! sees, exit codes, the security properties (each a regression test for a runc CVE), and the
//! PTY driven through a real terminal (tmux).

use crate::inspect::Runc;
use crate::util::*;
use std::process::{Command, Stdio};

const PROBE: &str = "hostname; id; pwd; env | sort | grep -v -e '^_=' -e '^SHLVL=' -e '^PWD='; cat /proc/self/cgroup; for n in cgroup ipc mnt net pid uts; do readlink /proc/self/ns/$n; done";

#[test]
fn sees_what_runc_exec_sees() {
    let env = Env::new();
    let r = Runc::start(&env, "enter");
    let ours = env.nsk(&["enter", "-T", &r.id, "--", "sh", "-c", PROBE]);
    assert_eq!(ours.code, 0, "{ours:?}");
    let theirs: Out = Command::new("runc")
        .args(["exec", &r.id, "sh", "-c", PROBE])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(theirs.code, 0, "{theirs:?}");
    assert_eq!(ours.stdout, theirs.stdout);
    assert!(ours.stdout.starts_with("runc-box\nuid=0(root)"), "{ours:?}");
    // Only the container's processes.
    let ps = env.nsk(&[
        "enter",
        "-T",
        &r.id,
        "--",
        "sh",
        "-c",
        "ls /proc | grep -c '^[0-9]'",
    ]);
    assert!(ps.stdout.trim().parse::<u32>().unwrap() <= 4, "{ps:?}");
}

#[test]
fn enters_an_nsk_container_with_its_env_cwd_identity_and_limits() {
    let env = Env::new();
    env.run(&[
        "-d",
        "--name",
        "box",
        "--hostname",
        "boxhost",
        "--memory",
        "64M",
        "--pids",
        "30",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "--user",
        "www",
        "--",
        "sleep",
        "100",
    ]);
    let o = env.nsk(&["enter", "-T", "box", "--", "sh", "-c", "hostname; id -u; pwd; echo $FOO; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, "boxhost\n33\n/tmp\nbar\n30\n");
    // The command counts against the container's cgroup.
    let o = env.nsk(&[
        "enter",
        "-T",
        "box",
        "--",
        "sh",
        "-c",
        "cat /proc/self/cgroup",
    ]);
    let target = std::fs::read_to_string(format!("/proc/{}/cgroup", env.pid("box"))).unwrap();
    for (a, b) in o.stdout.lines().zip(target.lines()) {
        let (ka, kb) = (a.split(':').nth(1), b.split(':').nth(1));
        assert_eq!(ka, kb);
    }
    // -u, -w, -e on top; --no-cgroup stays out.
    let o = env.nsk(&[
        "enter",
        "-T",
        "-u",
        "root",
        "-w",
        "/etc",
        "-e",
        "FOO=baz",
        "box",
        "--",
        "sh",
        "-c",
        "id -u; pwd; echo $FOO",
    ]);
    assert_eq!(o.stdout, "0\n/etc\nbaz\n", "{o:?}");
    let procs =
        std::fs::read_to_string(env.cgroup_dir("box", "pids").join("cgroup.procs")).unwrap();
    let o = env.nsk(&[
        "enter",
        "-T",
        "--no-cgroup",
        "box",
        "--",
        "sh",
        "-c",
        "cat /proc/self/cgroup | grep pids",
    ]);
    assert!(!o.stdout.contains(&env.cgroup_parent), "{o:?} {procs}");
    // Exit codes.
    assert_eq!(
        env.nsk(&["enter", "-T", "box", "--", "sh", "-c", "exit 7"])
            .code,
        7
    );
    assert_eq!(
        env.nsk(&["enter", "-T", "box", "--", "sh", "-c", "kill -TERM $$"])
            .code,
        143
    );
    let o = env.nsk(&["enter", "-T", "box", "--", "no-such-cmd"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (127, "nsk: cannot run no-such-cmd: command not found\n")
    );
    let o = env.nsk(&["enter", "-T", "999999999", "true"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, "nsk: cannot enter 999999999: no such process\n")
    );
    let o = env.nsk(&["enter", "-T", "2", "true"]);
    assert!(o.stderr.contains("kernel thread"), "{o:?}");
    env.nsk(&["rm", "-f", "box"]);
    env.assert_clean();
}

#[test]
fn enters_an_unshared_process_and_picks_only_the_differing_namespaces() {
    let env = Env::new();
    let mut child = Command::new("unshare")
        .args([
            "--uts",
            "--ipc",
            "sh",
            "-c",
            "hostname inner; exec sleep 100",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    wait_for("the hostname", || {
        Command::new("nsenter")
            .args(["-t", &pid, "-u", "hostname"])
            .output()
            .is_ok_and(|o| o.stdout == b"inner\n")
    });
    let o = env.nsk(&[
        "enter",
        "-T",
        &pid,
        "--no-cgroup",
        "--",
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/net /proc/self/ns/uts",
    ]);
    let _ = child.kill();
    child.wait().unwrap();
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "inner");
    assert_eq!(
        l[1],
        host_ns("net"),
        "the net namespace is shared: not joined"
    );
    assert_ne!(l[2], host_ns("uts"));
}

/// Start `nsk enter -T TARGET true` stopped just before exec (test aid); return the nsk child
/// and the joining process's PID on the host.
fn stopped_enter(env: &Env, target: &str) -> (std::process::Child, i32) {
    let nsk = env
        .cmd()
        .args(["enter", "-T", target, "--", "true"])
        .env("NSK_TEST_STOP_BEFORE_EXEC", "1")
        .spawn()
        .unwrap();
    let me = nsk.id();
    let mut joiner = 0;
    wait_for("the joining process to stop", || {
        joiner = first_child(me);
        joiner > 0
            && std::fs::read_to_string(format!("/proc/{joiner}/stat"))
                .is_ok_and(|s| s.contains(") T "))
    });
    (nsk, joiner)
}

fn nspid_inside(pid: i32) -> String {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    st.lines()
        .find(|l| l.starts_with("NSpid:"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

#[test]
fn the_joining_process_is_not_reachable_from_inside() {
    // CVE-2016-9962 (non-dumpable before setns) and CVE-2019-5736 (no write to the host binary):
    // while nsk's child is inside the container and has not exec'd yet, a root process of the
    // container can neither read its memory or environment, nor open or follow its fds (their
    // numbers can be listed: that is only file permissions), nor open its exe for writing.
    let env = Env::new();
    let r = Runc::start(&env, "sec");
    let before = std::fs::read(NSK).unwrap();
    let (mut nsk, joiner) = stopped_enter(&env, &r.id);
    let inner = nspid_inside(joiner);
    let script = format!(
        "for f in environ mem maps; do cat /proc/{inner}/$f >/dev/null 2>&1 && echo READ $f; done; for fd in /proc/{inner}/fd/*; do cat $fd >/dev/null 2>&1 </dev/null && echo OPENED $fd; readlink $fd >/dev/null 2>&1 && echo FOLLOWED $fd; done; ( : >> /proc/{inner}/exe ) 2>/dev/null && echo WROTE exe; readlink /proc/{inner}/exe >/dev/null 2>&1 && echo READLINK exe; readlink /proc/{inner}/cwd >/dev/null 2>&1 && echo READLINK cwd; echo done"
    );
    let o: Out = Command::new("runc")
        .args(["exec", &r.id, "sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(joiner),
        nix::sys::signal::SIGKILL,
    );
    let _ = nsk.wait();
    assert_eq!(o.stdout, "done\n", "{o:?}");
    assert_eq!(std::fs::read(NSK).unwrap(), before);
}

#[test]
fn no_host_fd_or_cwd_reaches_the_command() {
    // CVE-2024-21626: a host directory fd inherited by nsk, or a host cwd, must not reach the
    // command.
    let env = Env::new();
    let r = Runc::start(&env, "fds");
    let cmd = format!(
        "cd /etc && exec 7</ 8</tmp && NSK_ROOT={} {NSK} enter -T {} -- sh -c 'ls /proc/self/fd; readlink /proc/self/cwd; cat /proc/self/fd/7/etc/hostname 2>/dev/null || echo no-fd-7'",
        env.root.path().display(),
        r.id
    );
    let o: Out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        &l[..4],
        ["0", "1", "2", "3"],
        "only stdio (and ls's own directory fd): {o:?}"
    );
    assert_eq!(l[4], "/", "the target's cwd, inside its root: {o:?}");
    assert_eq!(l[5], "no-fd-7");
}

#[test]
fn the_pty_comes_from_the_containers_devpts_and_tiocsti_stays_inside() {
    let env = Env::new();
    let r = Runc::start(&env, "pty");
    // -t without a terminal: still a PTY, from the container's devpts instance.
    let o = env.nsk(&[
        "enter",
        "-t",
        &r.id,
        "--",
        "sh",
        "-c",
        "tty; stat -c %d /dev/pts/ptmx",
    ]);
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(l[0].starts_with("/dev/pts/"), "{o:?}");
    let host_pts = std::fs::metadata("/dev/pts/ptmx")
        .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        .unwrap_or(0);
    assert_ne!(
        l[1],
        host_pts.to_string(),
        "the PTY must come from the container's own devpts"
    );
    // Keystrokes pushed with TIOCSTI land in the container's PTY, never in the caller's terminal.
    // (busybox has no TIOCSTI tool: the host snapshot container has python3.)
    let mut c = env.cmd();
    c.args([
        "run",
        "-d",
        "--name",
        "snap",
        "--cgroup-parent",
        &env.cgroup_parent,
        "--",
        "sleep",
        "100",
    ]);
    let o: Out = c.output().unwrap().into();
    assert_eq!(o.code, 0, "{o:?}");
    let inject = "python3 -c 'import fcntl,termios; [fcntl.ioctl(0, termios.TIOCSTI, c) for c in [b\"e\",b\"c\",b\"h\",b\"o\",b\" \",b\"P\",b\"W\",b\"N\",b\"\\n\"]]'";
    let outer = format!(
        "NSK_ROOT={} {NSK} enter -t snap -- sh -c \"{}\"; read -t 2 line; echo \"got:$line\"",
        env.root.path().display(),
        inject.replace('"', "\\\"")
    );
    let o: Out = Command::new("script")
        .args(["-qec", &outer, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert!(o.stdout.contains("got:"), "{o:?}");
    assert!(
        !o.stdout.contains("got:echo PWN"),
        "TIOCSTI reached the caller's terminal: {o:?}"
    );
    env.nsk(&["rm", "-f", "snap"]);
}

#[test]
fn the_pty_follows_the_window_and_ctrl_c_reaches_the_command() {
    let env = Env::new();
    env.run(&["-d", "--name", "tty", "--", "sleep", "100"]);
    let t = Tmux::new();
    let tmux = |args: &[&str]| t.run(args);
    let start = format!(
        "NSK_ROOT={} {NSK} enter tty; sleep 5",
        env.root.path().display()
    );
    assert!(tmux(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "40",
        &start
    ])
    .status
    .success());
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned();
    wait_for("the prompt", || screen().contains('#'));
    tmux(&["send-keys", "-t", "t", "tty; stty size", "Enter"]);
    wait_for("the first size", || screen().contains("40 120"));
    assert!(screen().contains("/dev/pts/"), "{}", screen());
    tmux(&["resize-window", "-t", "t", "-x", "100", "-y", "30"]);
    tmux(&["send-keys", "-t", "t", "stty size", "Enter"]);
    wait_for("the new size", || screen().contains("30 100"));
    tmux(&["send-keys", "-t", "t", "sleep 50", "Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux(&["send-keys", "-t", "t", "C-c"]);
    tmux(&["send-keys", "-t", "t", "echo after-$?", "Enter"]);
    wait_for("Ctrl-C to reach the command, not nsk", || {
        screen().contains("after-130")
    });
    tmux(&["send-keys", "-t", "t", "exit 3", "Enter"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(t);
    env.nsk(&["rm", "-f", "tty"]);
    env.assert_clean();
}

#[test]
fn a_pty_flood_arrives_whole_and_never_keeps_nsk_from_term() {
    let env = Env::new();
    env.run(&["-d", "--name", "flood", "--", "sleep", "100"]);
    let root = env.root.path().display().to_string();
    // Every byte, in order, through both hops (the container's PTY, then script's).
    // script's stdin stays open: at EOF script types the EOF character, which nsk
    // rightly forwards and the container's PTY echoes into the output.
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("NSK_ROOT={root} {NSK} enter -t flood -- seq 1 200000"),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let keep_open = child.stdin.take();
    let o: Out = child.wait_with_output().unwrap().into();
    drop(keep_open);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let got: Vec<&str> = o.stdout.lines().map(|l| l.trim_end_matches('\r')).collect();
    let want: Vec<String> = (1..=200000).map(|i| i.to_string()).collect();
    assert!(
        got == want,
        "{} lines, first difference at {:?}",
        got.len(),
        got.iter().zip(&want).position(|(a, b)| a != b)
    );
    // A command that never stops writing: TERM still reaches nsk's loop and ends it.
    let mut script = Command::new("script")
        .args([
            "-qec",
            &format!("exec env NSK_ROOT={root} {NSK} enter -t flood -- yes"),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut nsk = 0;
    wait_for("nsk under script", || {
        nsk = first_child(script.id());
        nsk > 0
            && std::fs::read_link(format!("/proc/{nsk}/exe"))
                .is_ok_and(|e| e.to_string_lossy().contains("nsk"))
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(nsk), nix::sys::signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = script.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if status.is_none() {
        let _ = script.kill();
        let _ = script.wait();
    }
    env.nsk(&["rm", "-f", "flood"]);
    let status =
        status.expect("nsk enter -t did not end on TERM while its command flooded the PTY");
    assert_eq!(status.code(), Some(143), "yes ends on the forwarded TERM");
    env.assert_clean();
}

#[test]
fn tools_bring_a_shell_to_an_image_without_one() {
    let env = Env::new();
    // A root filesystem with one static binary and no shell.
    let scratch = tempfile::tempdir().unwrap();
    for d in ["bin", "proc", "dev", "sys"] {
        std::fs::create_dir(scratch.path().join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", scratch.path().join("bin/sleep")).unwrap();
    let tools = tempfile::tempdir().unwrap();
    std::fs::copy("/bin/busybox", tools.path().join("busybox")).unwrap();
    for a in ["sh", "ls", "cat", "ps", "id"] {
        std::os::unix::fs::symlink("busybox", tools.path().join(a)).unwrap();
    }
    let mut c = env.cmd();
    c.args([
        "run",
        "-d",
        "--name",
        "distroless",
        "--cgroup-parent",
        &env.cgroup_parent,
        "--rootfs",
    ])
    .arg(scratch.path())
    .args(["--", "/bin/sleep", "100"]);
    let o: Out = c.output().unwrap().into();
    assert_eq!(o.code, 0, "{o:?}");
    let before = tree_digest(scratch.path());
    let o = env.nsk(&["enter", "-T", "distroless"]);
    assert_eq!(o.code, 127, "{o:?}");
    assert!(o.stderr.contains("--tools"), "{o:?}");
    let t = tools.path().to_str().unwrap();
    let o = env.nsk(&["enter", "-T", "--tools", t, "distroless", "--", "sh", "-c", "echo $PATH; ls /.nsk/tools | wc -l; ps -o comm | grep -cx sleep; echo x > /written-in-session; cat /written-in-session"]);
    assert_eq!(o.code, 0, "{o:?}");
    let l: Vec<&str> = o.stdout.lines().collect();
    assert!(l[0].starts_with("/.nsk/tools:"), "{o:?}");
    assert_eq!(l[1], "6");
    assert_eq!(l[2], "1", "the target's processes are visible: {o:?}");
    assert_eq!(l[3], "x");
    // The default command is the tools' shell (stdin is empty: it exits at once).
    assert_eq!(
        env.nsk(&["enter", "-T", "--tools", t, "distroless"]).code,
        0
    );
    // The target never sees the tools nor what the session wrote to its root.
    let init = env.pid("distroless");
    let cmd: i32 = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{cmd}/root/.nsk")).exists());
    assert!(!std::path::Path::new(&format!("/proc/{cmd}/root/written-in-session")).exists());
    let mi = std::fs::read_to_string(format!("/proc/{cmd}/mountinfo")).unwrap();
    assert!(!mi.contains(".nsk"), "{mi}");
    assert_eq!(tree_digest(scratch.path()), before);
    let o = env.nsk(&[
        "enter",
        "-T",
        "--tools",
        "/nonexistent-tools",
        "distroless",
        "--",
        "sh",
    ]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr.contains("invalid --tools /nonexistent-tools"),
        "{o:?}"
    );
    env.nsk(&["rm", "-f", "distroless"]);
    env.assert_clean();
}
