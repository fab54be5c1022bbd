//! Joining a running process: everything is opened on the host side first (namespace files,
//! root, cgroup files, environment, credentials), the target is checked to be the same process,
//! then a child that made itself non-dumpable joins the cgroups and namespaces, takes the
//! target's root and a working directory inside it, gets a PTY from the container's own devpts,
//! takes the target's identity with no wider capabilities, and executes the command with no fd
//! but stdio.

use crate::channel::{Channel, Msg};
use crate::container::config::DEFAULT_PATH;
use crate::container::{init, spawn};
use crate::error::{Context, Error, Result};
use crate::ns::{NsKind, KINDS};
use crate::target::Target;
use crate::{pty, sys};
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid};
use std::fs;
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
    ns: Vec<(&'static NsKind, fs::File)>,
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
    no_new_privs: bool,
    /// `tasks` files of the target's v1 cgroups, open for writing.
    v1_tasks: Vec<fs::File>,
    /// The target's cgroup2 directory, to clone into.
    v2_dir: Option<OwnedFd>,
    /// A detached clone of the tools directory.
    tools: Option<OwnedFd>,
}

fn prepare(t: &Target, o: &Options) -> Result<Prepared> {
    let pid = t.pid;
    let p = procfs::process::Process::new(pid).map_err(|e| crate::process::proc_error(pid, e))?;
    let stat = crate::process::stat(pid)?;
    if stat.flags & 0x0020_0000 != 0 {
        return Err(Error::failed("it is a kernel thread"));
    }
    if stat.state == 'Z' {
        return Err(Error::failed("it is a zombie"));
    }
    let status = {
        use std::io::Read;
        let mut text = String::new();
        p.open_relative("status")
            .map_err(|e| crate::process::proc_error(pid, e))?
            .read_to_string(&mut text)
            .ctx(|| format!("cannot read /proc/{pid}/status"))?;
        crate::process::parse_creds(&text)
            .ok_or_else(|| Error::failed(format!("cannot parse /proc/{pid}/status")))?
    };
    let own = crate::ns::inodes(std::process::id() as i32);
    let theirs = crate::ns::inodes(pid);
    let mut ns = vec![];
    for (i, k) in KINDS.iter().enumerate() {
        let wanted = match &o.kinds {
            Some(list) => list.iter().any(|x| x.name == k.name),
            None => theirs[i].is_some() && theirs[i] != own[i],
        };
        if wanted {
            let path = format!("/proc/{pid}/ns/{}", k.name);
            ns.push((
                k,
                fs::File::open(&path).ctx(|| format!("cannot open {path}"))?,
            ));
        }
    }
    let root = nix::fcntl::open(
        format!("/proc/{pid}/root").as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("cannot open /proc/{pid}/root"))?;
    let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    // In the target's own order (an unreadable environment, of a zombie say, is empty).
    let env = fs::read(format!("/proc/{pid}/environ"))
        .map(|b| crate::process::parse_environ(&b))
        .unwrap_or_default();
    let (mut v1_tasks, mut v2_dir) = (vec![], None);
    if o.cgroup {
        let (h, set, _) = crate::limit::cgroups_of(pid)?;
        // Where nsk already is in the target's cgroup (often the root of name=systemd or
        // devices), moving there again is a cgroup migration for nothing.
        let own = fs::read_to_string("/proc/self/cgroup")
            .map(|t| crate::cgroup::report::of_process(&h, &t).0.dirs)
            .unwrap_or_default();
        for d in &set.dirs {
            if own.iter().any(|o| o.key == d.key && o.path == d.path) {
                continue;
            }
            if d.key == "unified" {
                v2_dir = nix::fcntl::open(
                    &d.path,
                    nix::fcntl::OFlag::O_PATH
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok();
            } else if let Ok(f) = fs::OpenOptions::new()
                .write(true)
                .open(d.path.join("tasks"))
            {
                v1_tasks.push(f);
            }
        }
    }
    let tools = o
        .tools
        .as_deref()
        .map(crate::tools::clone_tools)
        .transpose()?;
    // Everything is open: check that it all belongs to the process we resolved.
    if !t.still_alive() {
        return Err(Error::failed(
            "the process exited (its PID may have been reused)",
        ));
    }
    Ok(Prepared {
        ns,
        root,
        cwd,
        env,
        uid: status.uid,
        gid: status.gid,
        groups: status.groups,
        cap_eff: status.cap_eff,
        cap_prm: status.cap_prm,
        cap_inh: status.cap_inh,
        cap_bnd: status.cap_bnd,
        no_new_privs: status.no_new_privs,
        v1_tasks,
        v2_dir,
        tools,
    })
}

/// Enter the target and run the command; returns its exit code.
pub fn enter(t: &Target, o: &Options) -> Result<i32> {
    let prep = prepare(t, o)?;
    let sigs = spawn::block_signals()?;
    let (parent, child) = Channel::pair()?;
    // A PID namespace applies to children: point ours at the target's, clone, point it back.
    let pidns = prep
        .ns
        .iter()
        .find(|(k, _)| k.name == "pid")
        .map(|(_, f)| f);
    let own_pidns = fs::File::open("/proc/self/ns/pid").ctx(|| "cannot open /proc/self/ns/pid")?;
    if let Some(f) = pidns {
        nix::sched::setns(f, CloneFlags::CLONE_NEWPID).ctx(|| "cannot join the PID namespace")?;
    }
    let forked = match sys::clone3_fork(CloneFlags::empty(), prep.v2_dir.as_ref()) {
        Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::E2BIG | nix::errno::Errno::EINVAL) => {
            sys::fork()
        }
        r => r,
    };
    if pidns.is_some() {
        let _ = nix::sched::setns(&own_pidns, CloneFlags::CLONE_NEWPID);
    }
    let pid = match forked.ctx(|| "cannot fork")? {
        None => {
            drop(parent);
            child_main(&prep, o, &child)
        }
        Some(pid) => pid,
    };
    drop(child);
    drop(prep);
    // The channel closes when the child execs.
    let master = match spawn::await_setup(&parent, false) {
        Ok(m) => m,
        Err(end) => {
            let _ = nix::sys::wait::waitpid(pid, None);
            return Err(match end {
                spawn::SetupEnd::Failed(e) => e,
                spawn::SetupEnd::Closed => Error::failed("the joining process died"),
            });
        }
    };
    let raw = if master.is_some() {
        pty::RawMode::stdin().ok().flatten()
    } else {
        None
    };
    let status = spawn::supervise(pid, &parent, master, &sigs, raw);
    Ok(init::exit_code(status))
}

/// In the child. Never returns.
fn child_main(p: &Prepared, o: &Options, chan: &Channel) -> ! {
    let fail = |msg: String, code: i32| -> ! {
        let _ = chan.send(&Msg::Fail { msg, code }, None);
        sys::exit_now(code)
    };
    // First of all: nothing in the container may ptrace us or open our /proc files
    // (runc CVE-2016-9962).
    if let Err(e) = sys::set_dumpable(false) {
        fail(
            format!("cannot make the joining process non-dumpable: {e}"),
            125,
        );
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
    for (k, f) in &p.ns {
        if k.name == "pid" {
            continue;
        }
        if let Err(e) = nix::sched::setns(f, k.flag) {
            fail(
                format!(
                    "cannot join the {} namespace: {}",
                    k.name,
                    crate::error::errno_text(e)
                ),
                125,
            );
        }
    }
    // The target's root (or, with --tools, a private view of it with the tools), then a working
    // directory resolved inside it.
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
    // Identity: the target's, or -u resolved in the target's own /etc/passwd and /etc/group.
    let (uid, gid, groups) = match &o.user {
        Some(spec) => match init::resolve_user(Some(spec)) {
            Ok(i) => (i.uid, i.gid, i.groups),
            Err(e) => fail(format!("cannot run {e}"), 125),
        },
        None => (
            Uid::from_raw(p.uid),
            Gid::from_raw(p.gid),
            p.groups.iter().map(|g| Gid::from_raw(*g)).collect(),
        ),
    };
    if !o.privileged {
        for c in caps::all() {
            if p.cap_bnd & c.bitmask() == 0
                && caps::has_cap(None, caps::CapSet::Bounding, c).unwrap_or(false)
                && caps::drop(None, caps::CapSet::Bounding, c).is_err()
            {
                fail("cannot narrow the capability bounding set".into(), 125);
            }
        }
    }
    if nix::unistd::setgroups(&groups).is_err() && !groups.is_empty() {
        let _ = nix::unistd::setgroups(&[]);
    }
    if let Err(e) =
        nix::unistd::setresgid(gid, gid, gid).and_then(|_| nix::unistd::setresuid(uid, uid, uid))
    {
        fail(
            format!("cannot become {uid}:{gid}: {}", crate::error::errno_text(e)),
            125,
        );
    }
    if !o.privileged && uid.is_root() {
        let set = |mask: u64| -> caps::CapsHashSet {
            caps::all()
                .into_iter()
                .filter(|c| mask & c.bitmask() != 0)
                .collect()
        };
        // Effective first (it must stay within the permitted set being narrowed), then permitted,
        // then inheritable.
        let eff = set(p.cap_eff & p.cap_prm);
        let ok = caps::set(None, caps::CapSet::Effective, &eff).is_ok()
            && caps::set(None, caps::CapSet::Permitted, &set(p.cap_prm)).is_ok()
            && caps::set(None, caps::CapSet::Inheritable, &set(p.cap_inh & p.cap_prm)).is_ok();
        if !ok {
            fail("cannot narrow the capabilities to the target's".into(), 125);
        }
    }
    if p.no_new_privs && !o.privileged && sys::set_no_new_privs().is_err() {
        fail("cannot set no_new_privs".into(), 125);
    }
    // Environment: the target's, a sane PATH if it has none, -e on top.
    let mut env = p.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
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
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let (errno, code, what) = init::exec_search(&cmd, &env, &path);
    if default && errno == nix::errno::Errno::ENOENT {
        fail(
            "the target has no /bin/sh: give a command, or bring one with --tools DIR".into(),
            127,
        );
    }
    fail(init::exec_failure(errno, code, &what), code)
}
