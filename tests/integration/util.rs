//! Test harness: each test gets its own state root and cgroup parent, a shared busybox root
//! filesystem built from Debian's busybox-static, and a teardown that removes (and checks)
//! everything the test made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const NSK: &str = env!("CARGO_BIN_EXE_nsk");

/// Tests need real namespaces and cgroups: without root they fail loudly, never skip.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the integration tests need root (namespaces, mounts, cgroups): run them as root"
    );
}

/// A busybox root filesystem shared by all tests (read-only for them: nsk never writes it).
pub fn rootfs() -> &'static Path {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        require_root();
        // Under target/ (or NSK_TEST_TMPDIR), rebuilt by each run, so nothing lands in /tmp.
        let base = std::env::var_os("NSK_TEST_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        let dir = base.join("busybox-rootfs");
        build_rootfs(&dir);
        dir
    })
}

/// Build a busybox rootfs at `dir` (static busybox, applet symlinks, passwd, group).
pub fn build_rootfs(dir: &Path) {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("busybox-static is not installed (apt-get install busybox-static)");
    let _ = std::fs::remove_dir_all(dir);
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(bb, dir.join("bin/busybox")).unwrap();
    // Ask the original for its applets: executing the fresh copy races with forks in other
    // test threads that still hold it open for writing (ETXTBSY).
    let out = Command::new(bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nwww:x:33:33:www:/var/www:/bin/sh\n").unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwww:x:33:\nnogroup:x:65534:\nadm:x:4:www\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/hostname"), "rootfs\n").unwrap();
}

/// A digest of a directory tree (names, modes, sizes, symlink targets, file contents).
pub fn tree_digest(dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -printf '%p %m %s %l\\n' | sort && find . -type f -exec md5sum {} + | sort")
        .arg("sh")
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What names this test run's cgroups, runc containers and markers: `nsk-test-RUN-…`. RUN is
/// `NSK_TEST_RUN-PID` where tests/run.sh sets NSK_TEST_RUN (it then checks that nothing named
/// so is left after the pass), else the test process's PID.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| match std::env::var("NSK_TEST_RUN") {
        Ok(r) if !r.is_empty() => format!("{r}-{}", std::process::id()),
        _ => std::process::id().to_string(),
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's world: a state root and a cgroup parent of its own.
pub struct Env {
    pub root: tempfile::TempDir,
    pub cgroup_parent: String,
    /// nsk runs in a cgroup2-only view of a host that is not pure v2 (see `Env::v2_view`): a
    /// process that holds a mount namespace whose /sys/fs/cgroup is the cgroup2 hierarchy.
    view: Option<std::process::Child>,
}

/// In a private mount namespace: make /sys/fs/cgroup the cgroup2 hierarchy alone; the host's
/// mounts are untouched.
const V2_VIEW: &str = "umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup";

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: o
                .status
                .code()
                .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Env {
    pub fn new() -> Env {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Env {
            root: tempfile::Builder::new()
                .prefix("nsk-test-state-")
                .tempdir()
                .unwrap(),
            cgroup_parent: format!("nsk-test-{}-{n}", run_id()),
            view: None,
        }
    }

    /// An Env whose nsk sees a pure cgroup v2 host: on a hybrid or v1 host every nsk command runs
    /// in a mount namespace of this Env's own, with the kernel's cgroup2 hierarchy at
    /// /sys/fs/cgroup (on a hybrid host the same hierarchy as its unified mount, offering the
    /// controllers v1 left it; on a pure v1 host a hierarchy with no controllers, which the host
    /// does not mount at all). The test reads it through the holder's root. On a pure v2 host it
    /// is the host itself.
    pub fn v2_view() -> Env {
        let mut e = Env::new();
        if !is_cgroup_v2() {
            let mut holder = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(format!("{V2_VIEW} && exec sleep 100000"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("unshare (util-linux) is not installed");
            let pid = holder.id();
            let fs = format!("/proc/{pid}/root/sys/fs/cgroup/cgroup.controllers");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .as_deref()
                != Some("sleep\n")
                || !Path::new(&fs).exists()
            {
                if let Ok(Some(st)) = holder.try_wait() {
                    panic!("cannot make a cgroup2 view: the holder exited with {st}");
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the cgroup2 view was not made within 10 s"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            e.view = Some(holder);
        }
        e
    }

    /// Where the cgroup2 hierarchy nsk sees is, seen from the test.
    pub fn cgroup2_root(&self) -> PathBuf {
        match &self.view {
            Some(h) => PathBuf::from(format!("/proc/{}/root/sys/fs/cgroup", h.id())),
            None => host_cgroup2().expect("this host mounts no cgroup2 hierarchy"),
        }
    }

    /// Where a cgroup path that nsk printed or recorded is, seen from the test.
    pub fn host_path(&self, p: &Path) -> PathBuf {
        match (&self.view, p.strip_prefix("/sys/fs/cgroup")) {
            (Some(_), Ok(rel)) => self.cgroup2_root().join(rel),
            _ => p.to_path_buf(),
        }
    }

    /// `nsk` with this test's state root.
    pub fn cmd(&self) -> Command {
        let mut c = if let Some(h) = &self.view {
            let mut c = Command::new("nsenter");
            c.arg(format!("--mount=/proc/{}/ns/mnt", h.id()))
                .args(["--", NSK]);
            c
        } else {
            Command::new(NSK)
        };
        c.env("NSK_ROOT", self.root.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// Run nsk with `args` and collect its output.
    pub fn nsk(&self, args: &[&str]) -> Out {
        self.cmd().args(args).output().unwrap().into()
    }

    /// `nsk run` on the busybox rootfs and this test's cgroup parent, then `args`.
    pub fn run_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.cmd();
        c.args(["run", "--rootfs"])
            .arg(rootfs())
            .args(["--cgroup-parent", &self.cgroup_parent])
            .args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_cmd(args).output().unwrap().into()
    }

    pub fn state(&self, name: &str) -> serde_json::Value {
        let p = self.root.path().join(name).join("state.json");
        serde_json::from_slice(
            &std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
        .unwrap()
    }

    pub fn pid(&self, name: &str) -> i32 {
        self.state(name)["pid"].as_i64().expect("pid") as i32
    }

    /// The cgroup directory of container `name` that holds `controller`.
    pub fn cgroup_dir(&self, name: &str, controller: &str) -> PathBuf {
        let st = self.state(name);
        let dirs = st["cgroups"]["dirs"].as_array().expect("cgroups").clone();
        let v2 = st["cgroups"]["version"] == "v2";
        dirs.iter()
            .find(|d| {
                let k = d["key"].as_str().unwrap();
                if v2 {
                    k == "unified"
                } else {
                    k.split(',').any(|c| c == controller)
                }
            })
            .map(|d| self.host_path(Path::new(d["path"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("no {controller} cgroup in {st}"))
    }

    /// Every cgroup directory under this test's parent, in any hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let mut v = vec![];
        let view = self.view.as_ref().map(|_| self.cgroup2_root());
        for m in cgroup_mounts().into_iter().chain(view) {
            let p = m.join(&self.cgroup_parent);
            if p.exists() {
                v.push(p);
            }
        }
        v
    }

    /// Container directories left in the state root (and anything else but an empty journal
    /// directory, which nsk keeps once made).
    pub fn leftover_state(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| {
                        e.file_name() != ".limits"
                            || std::fs::read_dir(e.path()).map_or(true, |mut d| d.next().is_some())
                    })
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Mounts on the host that name this test's state root.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.root.path().to_string_lossy().into_owned();
        mi.lines()
            .filter(|l| l.contains(&root))
            .map(String::from)
            .collect()
    }

    pub fn assert_clean(&self) {
        assert_eq!(
            self.leftover_state(),
            Vec::<String>::new(),
            "state left behind"
        );
        assert_eq!(
            self.leftover_cgroups(),
            Vec::<PathBuf>::new(),
            "cgroups left behind"
        );
        assert_eq!(
            self.leftover_mounts(),
            Vec::<String>::new(),
            "mounts left behind"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Remove every container this test made, then whatever cgroup dirs remain under its
        // parent (only this test's, by name), so a failing test still leaves nothing behind.
        let names = self.leftover_state();
        if !names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(names.iter().map(|s| s.as_str()));
            let _ = self.nsk(&args);
        }
        for p in self.leftover_cgroups() {
            let _ = remove_cgroup_tree(&p);
        }
        if let Some(mut h) = self.view.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

fn remove_cgroup_tree(p: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(p)?.flatten() {
        if e.file_type()?.is_dir() {
            remove_cgroup_tree(&e.path())?;
        }
    }
    for _ in 0..50 {
        match std::fs::remove_dir(p) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            r => return r,
        }
    }
    Ok(())
}

/// Mount points of every cgroup hierarchy on this host.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(pre.split(' ').nth(4).unwrap()))
        })
        .collect()
}

/// The host's cgroup2 mount point (/sys/fs/cgroup on v2, /sys/fs/cgroup/unified on hybrid).
pub fn host_cgroup2() -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mountpoint = pre.split(' ').nth(4)?;
        (post.split(' ').next()? == "cgroup2").then(|| PathBuf::from(mountpoint))
    })
}

pub fn is_cgroup_v2() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "))
}

/// How much slower than this host's own speed the tests run: `NSK_TEST_TIME_SCALE` (tests/run.sh
/// sets it in the QEMU guests, which emulate the CPU), else 1. Every wait's bound is multiplied
/// by it; no assertion is about speed.
pub fn time_scale() -> u32 {
    std::env::var("NSK_TEST_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// Poll `f` until it returns true or 10 s (times `time_scale()`) pass.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let bound = std::time::Duration::from_secs(10) * time_scale();
    let deadline = std::time::Instant::now() + bound;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// The test process's own namespace link for `kind` ("net:[4026531840]").
pub fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A detached container `name` that counts up in a file on the host, to tell whether it makes
/// progress (freezing). Started and counting when this returns.
pub struct Counter {
    dir: tempfile::TempDir,
}

impl Counter {
    pub fn start(env: &Env, name: &str) -> Counter {
        let dir = tempfile::tempdir().unwrap();
        let vol = format!("{}:/out", dir.path().display());
        let o = env.run(&[
            "-d",
            "--name",
            name,
            "-v",
            &vol,
            "--",
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done",
        ]);
        assert_eq!(o.code, 0, "{o:?}");
        let c = Counter { dir };
        wait_for("the counter", || c.get() > 2);
        c
    }

    pub fn get(&self) -> u64 {
        std::fs::read_to_string(self.dir.path().join("n"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

/// A tmux server of this test's own, on a socket in a temporary directory: killed, and its
/// socket removed, when dropped, whether the test passed or not.
pub struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    pub fn new() -> Tmux {
        Tmux {
            dir: tempfile::Builder::new()
                .prefix("nsk-test-tmux-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("sock"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux is not installed (apt-get install tmux)")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if self.dir.path().join("sock").exists() {
            let _ = self.run(&["kill-server"]);
        }
    }
}

/// A cgroup2 hierarchy mounted by a test on a directory of its own (for hosts that mount none,
/// pure v1), unmounted when dropped.
pub struct Cgroup2Mount {
    pub dir: tempfile::TempDir,
}

impl Cgroup2Mount {
    pub fn new() -> Cgroup2Mount {
        let dir = tempfile::Builder::new()
            .prefix("nsk-test-cgroup2-")
            .tempdir()
            .unwrap();
        nix::mount::mount(
            Some("cgroup2"),
            dir.path(),
            Some("cgroup2"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("cannot mount cgroup2 on {}: {e}", dir.path().display()));
        Cgroup2Mount { dir }
    }
}

impl Drop for Cgroup2Mount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Tests named `peer_…` run next to other runtimes' containers, which tests/run.sh starts for
/// the host pass (tests/runtimes.sh) and says so with NSK_TEST_RUNTIMES=1; the QEMU guests have
/// no such runtimes and skip `peer_` by name. Run on their own, they fail, loudly.
pub fn require_runtimes() {
    require_root();
    assert_eq!(
        std::env::var("NSK_TEST_RUNTIMES").as_deref(),
        Ok("1"),
        "this test needs Docker, Podman and containerd running (./tests/run.sh host starts them)"
    );
}

/// The image tests/runtimes.sh imports into Docker and Podman.
pub fn peer_image() -> String {
    std::env::var("NSK_TEST_RUNTIMES_IMAGE").expect(
        "NSK_TEST_RUNTIMES_IMAGE is unset (tests/runtimes.sh writes it; ./tests/run.sh host)",
    )
}

/// A container of another runtime ("docker" or "podman"), removed on drop.
pub struct PeerContainer {
    pub runtime: &'static str,
    pub name: String,
    pub id: String,
}

impl PeerContainer {
    fn cli(runtime: &str) -> Command {
        Command::new(if runtime == "docker" {
            "/usr/bin/docker"
        } else {
            runtime
        })
    }

    /// `RUNTIME run -d` of the peer image with `extra` options, running `sleep 1000`.
    pub fn start(runtime: &'static str, suffix: &str, extra: &[&str]) -> PeerContainer {
        let name = format!("nsk-test-{}-{suffix}", run_id());
        let mut c = Self::cli(runtime);
        c.args(["run", "-d", "--name", &name, "--network", "none"]);
        if runtime == "podman" {
            c.args([
                "--runtime",
                "runc",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
            ]);
        }
        let o: Out = c
            .args(extra)
            .arg(peer_image())
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into();
        assert_eq!(o.code, 0, "{runtime} run: {o:?}");
        PeerContainer {
            runtime,
            name,
            id: o.stdout.trim().to_string(),
        }
    }

    /// `RUNTIME exec NAME sh -c SCRIPT`.
    pub fn exec(&self, script: &str) -> Out {
        Self::cli(self.runtime)
            .args(["exec", &self.name, "sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }
}

impl Drop for PeerContainer {
    fn drop(&mut self) {
        let _ = Self::cli(self.runtime)
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// The first child of process `pid` (its main thread's), or 0 while it has none.
pub fn first_child(pid: u32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|k| k.parse().ok())
        .unwrap_or(0)
}
