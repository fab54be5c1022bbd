//! PID 1 of a container: finishes the setup inside the new namespaces, starts the command as
//! PID 2, forwards signals to it, reaps every zombie and exits with the command's status.

use super::config::Config;
use super::rootfs;
use crate::cgroup::Hierarchy;
use crate::error::{Context, Error, Result};
use crate::exec::channel::{Channel, Msg};
use crate::exec::command::{exec_failure, DEFAULT_PATH};
use crate::exec::user::resolve_user;
use crate::sys;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Everything init needs, prepared by the parent before clone.
pub struct InitArgs<'a> {
    pub cfg: &'a Config,
    pub state_dir: &'a Path,
    pub hier: Option<&'a Hierarchy>,
    /// v1 cgroups to join (made by the parent while init builds its filesystem, their `tasks`
    /// files sent with `Go`).
    pub join_v1: Option<&'a crate::cgroup::CgroupSet>,
    pub chan: Channel,
    /// The parent makes the network namespace (loopback up) and sends it with `Go`: init joins
    /// it then, and mounts /sys after (a sysfs shows the network namespace of its mounter).
    pub net_later: bool,
}

/// Entry point in the cloned child. Never returns.
pub fn main(a: InitArgs) -> ! {
    // Nothing nsk (or its caller) had open stays open in the container's PID 1 but stdio (the
    // command's) and the channel: no host directory (the state's, a cgroup's), no pipe or
    // signalfd of the parent's.
    if let Err(e) = sys::close_fds_except(a.chan.fd().as_raw_fd()) {
        let msg = format!(
            "cannot close inherited fds: {}",
            crate::error::errno_text(e)
        );
        let _ = a.chan.send(&Msg::Fail { msg, code: 125 }, None);
        sys::exit_now(125)
    }
    sys::set_cmdline("nsk init");
    match setup(&a) {
        Ok(cmd) => reap(cmd, &a.chan),
        Err((msg, code)) => {
            let _ = a.chan.send(&Msg::Fail { msg, code }, None);
            sys::exit_now(code)
        }
    }
}

type SetupResult<T> = std::result::Result<T, (String, i32)>;

fn fail(e: Error) -> (String, i32) {
    (e.to_string(), 125)
}

fn setup(a: &InitArgs) -> SetupResult<Pid> {
    let cfg = a.cfg;
    if !cfg.detach {
        // A foreground container dies with the nsk that started it (kill -9 included).
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .ctx(|| "cannot set the parent-death signal")
            .map_err(fail)?;
    }
    // Without a user namespace the filesystem is built at once; with one, the parent must
    // write the id maps first.
    if !cfg.userns {
        build(cfg, a).map_err(fail)?;
    }
    // With `Go`: the network namespace (when the parent made it), then the `tasks` file of each
    // v1 cgroup to join (opened by the parent, which made them: init's own build needs no host
    // cgroupfs path, and holds no handle on the host's hierarchies).
    let mut fds = match a.chan.recv_fds().map_err(fail)? {
        Some((Msg::Go, fds)) => fds.into_iter(),
        _ => sys::exit_now(125), // the parent gave up
    };
    let netns = if a.net_later { fds.next() } else { None };
    let tasks: Vec<OwnedFd> = fds.collect();
    let want = a.join_v1.map_or(0, |s| s.v1_dirs().count());
    if tasks.len() != want || (a.net_later && netns.is_none()) {
        return Err(fail(Error::failed(format!(
            "the container's init got {} cgroup files and {} network namespaces, expected {want} and {}",
            tasks.len(),
            usize::from(netns.is_some()),
            usize::from(a.net_later)
        ))));
    }
    if let Some(ns) = netns {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .ctx(|| "cannot join the container's network namespace")
            .map_err(fail)?;
        rootfs::mount_sys(cfg).map_err(fail)?;
    }
    if cfg.userns {
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .ctx(|| "cannot become gid 0 in the user namespace")
            .map_err(fail)?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .ctx(|| "cannot become uid 0 in the user namespace")
            .map_err(fail)?;
        build(cfg, a).map_err(fail)?;
    }
    if let Some(set) = a.join_v1 {
        set.join_self_v1(&tasks).map_err(fail)?;
    }
    drop(tasks);
    // The cgroup namespace is created here, after we joined our cgroups, so
    // that they are its root; the container's view of cgroupfs is mounted inside it.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .ctx(|| "cannot create a cgroup namespace")
        .map_err(fail)?;
    if let Some(h) = a.hier {
        crate::cgroup::mount_view(h);
    }
    // Nothing inside may ptrace us or open our /proc files (our exe is the host's nsk binary).
    nix::sys::prctl::set_dumpable(false)
        .ctx(|| "cannot make init non-dumpable")
        .map_err(fail)?;
    nix::unistd::setsid()
        .ctx(|| "cannot start a session")
        .map_err(fail)?;

    let slave = if cfg.tty {
        Some(crate::exec::pty::open_in_container(&a.chan).map_err(fail)?)
    } else {
        None
    };
    let cmd = start_command(cfg, slave.as_ref())?;
    drop(slave);
    // The command's process shared init's memory until its exec: a change of user there made
    // that memory dumpable again (per fs.suid_dumpable). Init's is not, again.
    nix::sys::prctl::set_dumpable(false)
        .ctx(|| "cannot make init non-dumpable")
        .map_err(fail)?;
    a.chan
        .send(&Msg::Ready { pid: cmd.as_raw() }, None)
        .map_err(fail)?;
    Ok(cmd)
}

/// Hostname, loopback (unless the parent makes the network namespace), and the root
/// filesystem (without /sys then: it is mounted once init is in that namespace).
fn build(cfg: &Config, a: &InitArgs) -> Result<()> {
    nix::unistd::sethostname(&cfg.hostname)
        .ctx(|| format!("cannot set hostname {}", cfg.hostname))?;
    if cfg.net == super::config::Net::None && !a.net_later {
        sys::loopback_up().ctx(|| "cannot bring lo up")?;
    }
    rootfs::setup(cfg, a.state_dir, !a.net_later)
}

/// Capabilities a container keeps by default: docker's set, minus CAP_MKNOD.
pub const DEFAULT_CAPS: &[caps::Capability] = {
    use caps::Capability::*;
    &[
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FSETID,
        CAP_FOWNER,
        CAP_NET_RAW,
        CAP_SETGID,
        CAP_SETUID,
        CAP_SETFCAP,
        CAP_SETPCAP,
        CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT,
        CAP_KILL,
        CAP_AUDIT_WRITE,
    ]
};

/// Where starting the command failed (the command's process reports it to init).
#[derive(Clone, Copy)]
enum Stage {
    Session,
    Terminal,
    Workdir,
    Capabilities,
    Setgroups,
    Group,
    User,
    Fds,
    Exec,
}

/// Start the command as PID 2 and return its PID once it runs. Everything that takes memory is
/// done here first (the user, the working directory, argv, the environment, where PATH leads);
/// the command's process then shares init's memory until its exec, making system calls only
/// (`command_process`): no copy of init's pages is made for it, and none is left for its exec
/// to tear down. Init resumes once the command has exec'd, or failed (CLONE_VFORK).
fn start_command(cfg: &Config, slave: Option<&OwnedFd>) -> SetupResult<Pid> {
    use nix::errno::Errno;
    use std::ffi::CString;
    let failed = |errno: Errno, code: i32, what: &str| (exec_failure(errno, code, what), code);
    let ident = resolve_user(None, cfg.user.as_deref())
        .map_err(|e| failed(Errno::UnknownErrno, 125, &e))?;
    let workdir = format!("working directory {}", cfg.workdir);
    std::fs::create_dir_all(&cfg.workdir).map_err(|e| {
        failed(
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            125,
            &workdir,
        )
    })?;
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", ident.home.as_deref().unwrap_or("/")));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let name = &cfg.command[0];
    // A name with a slash is run as it is; a bare one is looked for in PATH (execvpe).
    let candidates: Vec<CString> = if name.contains('/') {
        vec![c(name)]
    } else {
        path.split(':')
            .map(|d| c(&format!("{}/{name}", if d.is_empty() { "." } else { d })))
            .collect()
    };
    let argv: Vec<CString> = cfg.command.iter().map(|a| c(a)).collect();
    let envp: Vec<CString> = env.iter().map(|e| c(e)).collect();
    let plan = CommandPlan {
        slave: slave.map(|s| s.as_raw_fd()),
        workdir: c(&cfg.workdir),
        confine: !cfg.privileged,
        bounding: default_caps_mask(),
        uid: ident.uid,
        gid: ident.gid,
        groups: ident.groups.clone(),
        setgroups_may_fail: cfg.userns,
        candidates,
        argv: sys::NullTerminated::new(&argv),
        envp: sys::NullTerminated::new(&envp),
        bare: !name.contains('/'),
    };
    let mut report: Option<(Errno, i32, Stage)> = None;
    let pid = sys::spawn_vfork(&mut || {
        report = Some(command_process(&plan));
        127
    })
    .ctx(|| "cannot start the command")
    .map_err(fail)?;
    let Some((errno, code, stage)) = report else {
        return Ok(pid);
    };
    let _ = waitpid(pid, None);
    let what = match stage {
        Stage::Session => "setsid".to_string(),
        Stage::Terminal => "the terminal".to_string(),
        Stage::Workdir => workdir,
        Stage::Capabilities => "capabilities".to_string(),
        Stage::Setgroups => "setgroups".to_string(),
        Stage::Group => format!("group {}", ident.gid),
        Stage::User => format!("user {}", ident.uid),
        Stage::Fds => "fds".to_string(),
        Stage::Exec => name.clone(),
    };
    Err(failed(errno, code, &what))
}

/// What the command's process needs, prepared by init (`start_command`).
struct CommandPlan {
    slave: Option<std::os::fd::RawFd>,
    workdir: std::ffi::CString,
    confine: bool,
    /// The capabilities a confined command keeps (bit N for capability N).
    bounding: u64,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    setgroups_may_fail: bool,
    /// The paths to exec, in turn (one, or one per PATH entry).
    candidates: Vec<std::ffi::CString>,
    argv: sys::NullTerminated,
    envp: sys::NullTerminated,
    /// Whether the command was a bare name looked for in PATH.
    bare: bool,
}

/// The command's process, sharing init's memory until its exec: session and terminal,
/// directory, capabilities, identity, fds and signals, then exec, in system calls only (no
/// allocation: init's heap is not its own). Returns only on failure, with docker's exit codes
/// (125 for the setup, 126 found but not runnable, 127 not found) and where it failed.
fn command_process(p: &CommandPlan) -> (nix::errno::Errno, i32, Stage) {
    use nix::errno::Errno;
    let err = |e: Errno, stage: Stage| (e, 125, stage);
    // Signals: back to defaults (Rust ignores SIGPIPE) and nothing blocked.
    sys::reset_signals();
    if let Some(s) = p.slave {
        if let Err(e) = nix::unistd::setsid() {
            return err(e, Stage::Session);
        }
        // SAFETY: the slave stays open in init, whose memory and fds this process shares a copy
        // of, until it has exec'd.
        let s = unsafe { std::os::fd::BorrowedFd::borrow_raw(s) };
        if let Err(e) = sys::set_controlling_tty(s.as_raw_fd()) {
            return err(e, Stage::Terminal);
        }
        let dup = nix::unistd::dup2_stdin(s)
            .and_then(|_| nix::unistd::dup2_stdout(s))
            .and_then(|_| nix::unistd::dup2_stderr(s));
        if let Err(e) = dup {
            return err(e, Stage::Terminal);
        }
    }
    if let Err(e) = nix::unistd::chdir(p.workdir.as_c_str()) {
        return err(e, Stage::Workdir);
    }
    if p.confine {
        if let Err(e) = sys::drop_bounding_except(p.bounding) {
            return err(e, Stage::Capabilities);
        }
    }
    if let Err(e) = nix::unistd::setgroups(&p.groups) {
        if !p.setgroups_may_fail {
            return err(e, Stage::Setgroups);
        }
    }
    if let Err(e) = nix::unistd::setresgid(p.gid, p.gid, p.gid) {
        return err(e, Stage::Group);
    }
    if let Err(e) = nix::unistd::setresuid(p.uid, p.uid, p.uid) {
        return err(e, Stage::User);
    }
    // docker's set for root, none for another user (whose permitted set the kernel emptied at
    // setresuid), and an empty inheritable set, as docker's since CVE-2022-24769: a file with
    // inheritable file capabilities gains nothing through it.
    if p.confine {
        let keep = if p.uid.is_root() { p.bounding } else { 0 };
        if let Err(e) = sys::capset(keep, keep, 0) {
            return err(e, Stage::Capabilities);
        }
    }
    if let Err(e) = sys::cloexec_from(3) {
        return err(e, Stage::Fds);
    }
    let mut seen = None;
    for path in &p.candidates {
        let e = sys::execve_raw(path, &p.argv, &p.envp);
        if !p.bare {
            let code = if e == Errno::ENOENT { 127 } else { 126 };
            return (e, code, Stage::Exec);
        }
        if !matches!(e, Errno::ENOENT | Errno::ENOTDIR) {
            seen.get_or_insert(e);
        }
    }
    match seen {
        Some(e) => (e, 126, Stage::Exec),
        None => (Errno::ENOENT, 127, Stage::Exec),
    }
}

/// DEFAULT_CAPS as a mask (bit N for capability N).
fn default_caps_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, c| m | c.bitmask())
}

/// Wait for signals: forward them to the command, reap zombies, and when the command ends,
/// report its status and exit with its code (every other process in the namespace dies with us).
fn reap(cmd: Pid, chan: &Channel) -> ! {
    let all = SigSet::all();
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(cmd, sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == cmd => {
                    let _ = chan.send(
                        &Msg::Exit {
                            status: (code & 0xff) << 8,
                        },
                        None,
                    );
                    sys::exit_now(code)
                }
                Ok(WaitStatus::Signaled(pid, s, core)) if pid == cmd => {
                    let status = s as i32 | if core { 0x80 } else { 0 };
                    let _ = chan.send(&Msg::Exit { status }, None);
                    sys::exit_now(128 + s as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
