//! Joining a running process. Everything is opened and read on the host side first, through
//! the target's held /proc directory (namespace files, root, cgroup files, environment,
//! credentials, its confinement, the user database for -u), and the target is then checked to
//! be the same process (its pidfd has not exited). A child that made itself non-dumpable takes
//! the target's rlimits, umask, oom_score_adj and LSM label, joins the cgroups and, through the
//! pidfd, every namespace in one setns(2); takes the target's root; narrows itself to the
//! target's identity, capabilities, no_new_privs and seccomp filters before anything inside
//! the container is touched; then gets a PTY from the container's own devpts, a working
//! directory, and executes the command with no fd but stdio.

use crate::confine::{self, Confinement};
use crate::error::{Context, Error, Result};
use crate::exec::channel::{Channel, Msg};
use crate::exec::{command, pty, supervise, user};
use crate::ns::{NsKind, KINDS};
use crate::sys;
use crate::target::Target;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};
use std::os::fd::{AsRawFd, OwnedFd};

pub struct Options {
    /// Namespace kinds to join; None: every kind in which the target differs from nsk.
    pub kinds: Option<Vec<&'static NsKind>>,
    pub cgroup: bool,
    pub workdir: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub tty: bool,
    /// Empty: the target's /bin/sh.
    pub command: Vec<String>,
    /// A host directory of tools to show at /.nsk/tools (see tools.rs).
    pub tools: Option<std::path::PathBuf>,
}

/// What the child needs, gathered on the host side before anything is joined.
struct Prepared {
    /// The namespace files: the fallback where setns on a pidfd is not there.
    ns: Vec<(&'static NsKind, OwnedFd)>,
    root: OwnedFd,
    cwd: String,
    env: Vec<String>,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    cap_eff: u64,
    cap_prm: u64,
    cap_inh: u64,
    cap_bnd: u64,
    cap_amb: u64,
    no_new_privs: bool,
    /// None with --privileged.
    confinement: Option<Confinement>,
    /// `tasks` files of the target's v1 cgroups, open for writing.
    v1_tasks: Vec<std::fs::File>,
    /// The target's cgroup2 directory, to clone into.
    v2_dir: Option<OwnedFd>,
    /// A detached clone of the tools directory.
    tools: Option<OwnedFd>,
}

fn prepare(t: &Target, o: &Options) -> Result<Prepared> {
    gather(t, o).map_err(|e| t.read_error(e))
}

fn gather(t: &Target, o: &Options) -> Result<Prepared> {
    let pid = t.pid;
    let dir = &t.dir;
    let stat = dir.stat()?;
    if stat.flags & 0x0020_0000 != 0 {
        return Err(Error::failed("it is a kernel thread"));
    }
    if stat.state == 'Z' {
        return Err(Error::failed("it is a zombie"));
    }
    let status_text = dir.read("status")?;
    let status = crate::process::parse_creds(&status_text)
        .ok_or_else(|| Error::failed(format!("cannot parse /proc/{pid}/status")))?;
    let (mut v1_tasks, mut v2_dir) = (vec![], None);
    if o.cgroup {
        let (h, set, _) = crate::limit::cgroups_of(dir)?;
        // A frozen target cannot run what joins its cgroups: refuse at once, as docker exec
        // refuses a paused container, rather than wait for a thaw that may never come.
        if let Some(why) = set.frozen() {
            return Err(Error::failed(format!(
                "it is frozen ({why}): thaw it with 'nsk limit {pid} --thaw', or enter beside \
                 its cgroups with --no-cgroup"
            )));
        }
        // Where nsk already is in the target's cgroup (often the root of name=systemd or
        // devices), moving there again is a cgroup migration for nothing.
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map(|t| crate::cgroup::report::of_process(&h, &t).0.dirs)
            .unwrap_or_default();
        for d in &set.dirs {
            if own.iter().any(|o| o.key == d.key && o.path == d.path) {
                continue;
            }
            if d.key == "unified" {
                v2_dir = nix::fcntl::open(
                    &d.path,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok();
            } else if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .open(d.path.join("tasks"))
            {
                v1_tasks.push(f);
            }
        }
    }
    let own = crate::ns::inodes(std::process::id() as i32);
    let theirs = dir.ns_inodes();
    let mut ns = vec![];
    for (i, k) in KINDS.iter().enumerate() {
        let wanted = match &o.kinds {
            Some(list) => list.iter().any(|x| x.name == k.name),
            None => theirs[i].is_some() && theirs[i] != own[i],
        };
        if wanted {
            ns.push((k, dir.open_at(&format!("ns/{}", k.name), OFlag::O_RDONLY)?));
        }
    }
    let root = dir.open_at("root", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let cwd = dir
        .read_link("cwd")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    // In the target's own order (an unreadable environment, of a zombie say, is empty).
    let env = dir
        .read_bytes("environ")
        .map(|b| crate::process::parse_environ(&b))
        .unwrap_or_default();
    // -u is looked up here, beneath the target's root, with bounded reads: nothing in the
    // container is read by a process that holds nsk's privileges inside it.
    let (uid, gid, groups) = match &o.user {
        Some(spec) => {
            let i = user::resolve_user(Some(&root), Some(spec))
                .map_err(|e| Error::failed(format!("cannot run {e}")))?;
            (
                i.uid.as_raw(),
                i.gid.as_raw(),
                i.groups.iter().map(|g| g.as_raw()).collect(),
            )
        }
        None => (status.uid, status.gid, status.groups.clone()),
    };
    let confinement = if o.privileged {
        None
    } else {
        Some(confine::read(dir, &status_text)?)
    };
    let tools = o
        .tools
        .as_deref()
        .map(crate::tools::clone_tools)
        .transpose()?;
    // Everything is open: check that it all belongs to the process we resolved.
    if !t.still_alive() {
        return Err(crate::target::exited());
    }
    Ok(Prepared {
        ns,
        root,
        cwd,
        env,
        uid,
        gid,
        groups,
        cap_eff: status.cap_eff,
        cap_prm: status.cap_prm,
        cap_inh: status.cap_inh,
        cap_bnd: status.cap_bnd,
        cap_amb: status.cap_amb,
        no_new_privs: status.no_new_privs,
        confinement,
        v1_tasks,
        v2_dir,
        tools,
    })
}

/// Enter the target and run the command; returns its exit code.
pub fn enter(t: &Target, o: &Options) -> Result<i32> {
    let prep = prepare(t, o)?;
    let sigs = supervise::block_signals()?;
    let (parent, child) = Channel::pair()?;
    // A PID namespace applies to children: point ours at the target's, clone, point it back.
    let pidns = prep
        .ns
        .iter()
        .find(|(k, _)| k.name == "pid")
        .map(|(_, f)| f);
    let own_pidns =
        std::fs::File::open("/proc/self/ns/pid").ctx(|| "cannot open /proc/self/ns/pid")?;
    if let Some(f) = pidns {
        join_pid_ns(t, f)?;
    }
    let forked = crate::exec::fork_into(CloneFlags::empty(), prep.v2_dir.as_ref());
    if pidns.is_some() {
        let _ = nix::sched::setns(&own_pidns, CloneFlags::CLONE_NEWPID);
    }
    let pid = match forked.ctx(|| "cannot fork")? {
        (None, in_v2) => {
            drop(parent);
            child_main(t, &prep, o, &child, in_v2)
        }
        (Some(pid), _) => pid,
    };
    drop(child);
    drop(prep);
    // The channel closes when the child execs.
    let master = match supervise::await_setup(&parent, false, Some((pid, &sigs))) {
        Ok(m) => m,
        Err(end) => {
            let _ = nix::sys::wait::waitpid(pid, None);
            return Err(match end {
                supervise::SetupEnd::Failed(e) => e,
                supervise::SetupEnd::Closed => Error::failed("the joining process died"),
            });
        }
    };
    let raw = if master.is_some() {
        pty::RawMode::stdin().ok().flatten()
    } else {
        None
    };
    let status = supervise::supervise(pid, &parent, master, &sigs, raw);
    Ok(command::exit_code(status))
}

/// Make the target's PID namespace the one nsk's next child is born in: through the pidfd
/// where the kernel takes one, else the namespace file.
fn join_pid_ns(t: &Target, file: &OwnedFd) -> Result<()> {
    if let Some(pfd) = &t.pidfd {
        if nix::sched::setns(pfd, CloneFlags::CLONE_NEWPID).is_ok() {
            return Ok(());
        }
    }
    nix::sched::setns(file, CloneFlags::CLONE_NEWPID).ctx(|| "cannot join the PID namespace")
}

/// In the child. Never returns.
fn child_main(t: &Target, p: &Prepared, o: &Options, chan: &Channel, in_v2: bool) -> ! {
    let fail = |msg: String, code: i32| -> ! {
        let _ = chan.send(&Msg::Fail { msg, code }, None);
        sys::exit_now(code)
    };
    // First of all: nothing in the container may ptrace us or open our /proc files
    // (runc CVE-2016-9962).
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        fail(
            format!("cannot make the joining process non-dumpable: {e}"),
            125,
        );
    }
    // The target's umask, rlimits, oom_score_adj and LSM label (taken at exec), while this
    // process still sees the host's /proc.
    if let Some(c) = &p.confinement {
        if let Err(e) = confine::apply_early(c) {
            fail(e, 125);
        }
    }
    // Born outside the target's v2 cgroup (a kernel without clone3 into a cgroup): join it.
    if let (Some(d), false) = (&p.v2_dir, in_v2) {
        let joined = nix::fcntl::openat(
            d,
            "cgroup.procs",
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .and_then(|f| nix::unistd::write(&f, b"0"));
        if let Err(e) = joined {
            fail(
                format!(
                    "cannot join the target's cgroup: {}",
                    crate::error::errno_text(e)
                ),
                125,
            );
        }
    }
    for f in &p.v1_tasks {
        if let Err(e) = nix::unistd::write(f, b"0") {
            fail(
                format!(
                    "cannot join the target's cgroup: {}",
                    crate::error::errno_text(e)
                ),
                125,
            );
        }
    }
    if let Err(e) = crate::exec::join_namespaces(t.pidfd.as_ref(), &p.ns) {
        fail(e, 125);
    }
    // The target's root (or, with --tools, a private view of it with the tools).
    if let Some(tools) = &p.tools {
        if let Err(e) = crate::tools::enter_with_tools(&p.root, tools) {
            fail(format!("cannot show the tools in the target: {e}"), 125);
        }
    } else if let Err(e) = nix::unistd::fchdir(&p.root).and_then(|_| nix::unistd::chroot(".")) {
        fail(
            format!(
                "cannot take the target's root: {}",
                crate::error::errno_text(e)
            ),
            125,
        );
    }
    if let Err(e) = narrow(p, o) {
        fail(e, 125);
    }
    // Only now, as the target's identity and within its confinement: the working directory
    // and the PTY, both inside the container.
    let wd = o.workdir.clone().unwrap_or_else(|| p.cwd.clone());
    if nix::unistd::chdir(wd.as_str()).is_err() {
        if o.workdir.is_some() {
            fail(format!("cannot change to {wd} in the target"), 125);
        }
        let _ = nix::unistd::chdir("/");
    }
    let slave = if o.tty {
        match pty::open_in_container(chan) {
            Ok(s) => Some(s),
            Err(e) => fail(e.to_string(), 125),
        }
    } else {
        None
    };
    let _ = nix::unistd::setsid();
    if let Some(s) = &slave {
        if sys::set_controlling_tty(s.as_raw_fd()).is_err() {
            fail("cannot make the PTY the controlling terminal".into(), 125);
        }
        for fd in 0..3 {
            let r = match fd {
                0 => nix::unistd::dup2_stdin(s),
                1 => nix::unistd::dup2_stdout(s),
                _ => nix::unistd::dup2_stderr(s),
            };
            if r.is_err() {
                fail("cannot attach the PTY".into(), 125);
            }
        }
    }
    // Environment: the target's, a sane PATH if it has none, -e on top.
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={}", command::DEFAULT_PATH));
    }
    if p.tools.is_some() {
        for e in env.iter_mut().filter(|e| e.starts_with("PATH=")) {
            *e = format!("PATH=/{}:{}", crate::tools::MOUNT_POINT, &e[5..]);
        }
    }
    if o.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push(format!(
            "TERM={}",
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into())
        ));
    }
    for e in &o.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    // Signals back to defaults, nothing blocked; no fd but stdio survives exec.
    sys::reset_signals();
    if sys::cloexec_from(3).is_err() {
        fail("cannot close inherited descriptors".into(), 125);
    }
    if std::env::var_os("NSK_TEST_STOP_BEFORE_EXEC").is_some() {
        // Test aid: the security tests look at this process from inside the container.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
    let default = o.command.is_empty();
    // The default shell: the target's, or the tools' when it has none.
    let cmd = match (default, &p.tools) {
        (false, _) => o.command.clone(),
        (true, Some(_)) if !std::path::Path::new("/bin/sh").exists() => vec!["sh".to_string()],
        (true, _) => vec!["/bin/sh".to_string()],
    };
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(command::DEFAULT_PATH)
        .to_string();
    let (errno, code, what) = command::exec_search(&cmd, &env, &path);
    if default && errno == nix::errno::Errno::ENOENT {
        fail(
            "the target has no /bin/sh: give a command, or bring one with --tools DIR".into(),
            127,
        );
    }
    fail(command::exec_failure(errno, code, &what), code)
}

/// Become the target's identity within its confinement: bounding set, then (unless the target
/// has no_new_privs, which lets a filter be installed without privilege) its seccomp filters
/// while nsk still holds CAP_SYS_ADMIN, groups and ids, capability sets, no_new_privs, and the
/// filters last where no_new_privs allows. With --privileged: the identity only.
fn narrow(p: &Prepared, o: &Options) -> std::result::Result<(), String> {
    let confined = p.confinement.as_ref().filter(|_| !o.privileged);
    if confined.is_some() && sys::drop_bounding_except(p.cap_bnd).is_err() {
        return Err("cannot narrow the capability bounding set".into());
    }
    if let Some(c) = confined.filter(|_| !p.no_new_privs) {
        confine::apply_seccomp(c)?;
    }
    let (uid, gid) = (Uid::from_raw(p.uid), Gid::from_raw(p.gid));
    let groups: Vec<Gid> = p.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    if nix::unistd::setgroups(&groups).is_err() && !groups.is_empty() {
        let _ = nix::unistd::setgroups(&[]);
    }
    nix::unistd::setresgid(gid, gid, gid)
        .and_then(|_| nix::unistd::setresuid(uid, uid, uid))
        .map_err(|e| format!("cannot become {uid}:{gid}: {}", crate::error::errno_text(e)))?;
    if let Some(c) = confined {
        if uid.is_root() {
            let set = |mask: u64| -> caps::CapsHashSet {
                caps::all()
                    .into_iter()
                    .filter(|c| mask & c.bitmask() != 0)
                    .collect()
            };
            // Effective first (it must stay within the permitted set being narrowed), then
            // permitted, inheritable and ambient.
            let eff = set(p.cap_eff & p.cap_prm);
            let ok = caps::set(None, caps::CapSet::Effective, &eff).is_ok()
                && caps::set(None, caps::CapSet::Permitted, &set(p.cap_prm)).is_ok()
                && caps::set(None, caps::CapSet::Inheritable, &set(p.cap_inh & p.cap_prm)).is_ok();
            if !ok {
                return Err("cannot narrow the capabilities to the target's".into());
            }
            let amb = p.cap_amb & p.cap_prm & p.cap_inh;
            for cap in caps::all().into_iter().filter(|x| amb & x.bitmask() != 0) {
                caps::raise(None, caps::CapSet::Ambient, cap)
                    .map_err(|_| format!("cannot raise the ambient capability {cap}"))?;
            }
        }
        // Another identity lost every capability with setresuid(2): at most the target's.
        if p.no_new_privs {
            nix::sys::prctl::set_no_new_privs()
                .map_err(|_| "cannot set no_new_privs".to_string())?;
            confine::apply_seccomp(c)?;
        }
    }
    Ok(())
}
