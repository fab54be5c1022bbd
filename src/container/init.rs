//! PID 1 of a container: finishes the setup inside the new namespaces, starts the command as
//! PID 2, forwards signals to it, reaps every zombie and exits with the command's status.

use super::config::Config;
use super::rootfs;
use crate::cgroup::Hierarchy;
use crate::error::{Context, Error, Result};
use crate::exec::channel::{Channel, Msg};
use crate::exec::command::{exec_failure, exec_search, DEFAULT_PATH};
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
    /// v1 cgroups to join (made by the parent while init builds its filesystem).
    pub join_v1: Option<&'a crate::cgroup::CgroupSet>,
    /// The path the cgroups were planned with, below each hierarchy's root.
    pub cgroup_rel: &'a str,
    pub chan: Channel,
}

/// Entry point in the cloned child. Never returns.
pub fn main(a: InitArgs) -> ! {
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
    // Handles to the v1 hierarchies, opened while the host's cgroupfs is still reachable.
    let join = match a.join_v1 {
        Some(cg) => cg.v1_join_handles(a.cgroup_rel).map_err(fail)?,
        None => vec![],
    };
    // Without a user namespace the filesystem is built at once; with one, the parent must
    // write the id maps first.
    if !cfg.userns {
        build(cfg, a).map_err(fail)?;
    }
    match a.chan.recv().map_err(fail)? {
        Some((Msg::Go, _)) => {}
        _ => sys::exit_now(125), // the parent gave up
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
    crate::cgroup::join_self_v1(&join).map_err(fail)?;
    drop(join);
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
    let (exec_r, exec_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .ctx(|| "cannot create a pipe")
        .map_err(fail)?;
    let cmd = match sys::fork()
        .ctx(|| "cannot fork the command")
        .map_err(fail)?
    {
        None => {
            drop(exec_r);
            let (errno, code, what) = exec_command(cfg, slave.as_ref());
            let msg = format!("{}\n{}\n{}", errno as i32, code, what);
            let _ = nix::unistd::write(&exec_w, msg.as_bytes());
            sys::exit_now(code)
        }
        Some(pid) => pid,
    };
    drop(exec_w);
    drop(slave);
    let mut buf = [0u8; 4096];
    let n = loop {
        match nix::unistd::read(&exec_r, &mut buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.unwrap_or(0),
        }
    };
    if n > 0 {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let mut it = text.splitn(3, '\n');
        let errno =
            nix::errno::Errno::from_raw(it.next().and_then(|s| s.parse().ok()).unwrap_or(0));
        let code: i32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(127);
        let what = it.next().unwrap_or("").to_string();
        let _ = waitpid(cmd, None);
        return Err((exec_failure(errno, code, &what), code));
    }
    a.chan
        .send(&Msg::Ready { pid: cmd.as_raw() }, None)
        .map_err(fail)?;
    Ok(cmd)
}

/// Hostname, loopback, and the root filesystem.
fn build(cfg: &Config, a: &InitArgs) -> Result<()> {
    nix::unistd::sethostname(&cfg.hostname)
        .ctx(|| format!("cannot set hostname {}", cfg.hostname))?;
    if cfg.net == super::config::Net::None {
        sys::loopback_up().ctx(|| "cannot bring lo up")?;
    }
    rootfs::setup(cfg, a.state_dir)
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

/// In the forked command process: session and terminal, directory, identity, capabilities,
/// clean fds and signals, then exec. Returns only on failure: (errno, exit code, what).
fn exec_command(cfg: &Config, slave: Option<&OwnedFd>) -> (nix::errno::Errno, i32, String) {
    use nix::errno::Errno;
    let err = |e: Errno, what: &str| (e, 125, what.to_string());
    // Signals: back to defaults (Rust ignores SIGPIPE) and nothing blocked.
    sys::reset_signals();
    if let Some(s) = slave {
        if let Err(e) = nix::unistd::setsid() {
            return err(e, "setsid");
        }
        if let Err(e) = sys::set_controlling_tty(s.as_raw_fd()) {
            return err(e, "the terminal");
        }
        let dup = nix::unistd::dup2_stdin(s)
            .and_then(|_| nix::unistd::dup2_stdout(s))
            .and_then(|_| nix::unistd::dup2_stderr(s));
        if let Err(e) = dup {
            return err(e, "the terminal");
        }
    }
    let ident = match resolve_user(None, cfg.user.as_deref()) {
        Ok(i) => i,
        // The message is whole: no errno to add.
        Err(e) => return (Errno::UnknownErrno, 125, e),
    };
    let home = ident.home.clone().unwrap_or_else(|| "/".into());
    if let Err(e) = std::fs::create_dir_all(&cfg.workdir) {
        return (
            Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            125,
            format!("working directory {}", cfg.workdir),
        );
    }
    if let Err(e) = nix::unistd::chdir(cfg.workdir.as_str()) {
        return err(e, &format!("working directory {}", cfg.workdir));
    }
    if !cfg.privileged {
        if let Err(e) = drop_bounding_caps() {
            return err(e, "capabilities");
        }
    }
    if let Err(e) = nix::unistd::setgroups(&ident.groups) {
        if !cfg.userns {
            return err(e, "setgroups");
        }
    }
    if let Err(e) = nix::unistd::setresgid(ident.gid, ident.gid, ident.gid) {
        return err(e, &format!("group {}", ident.gid));
    }
    if let Err(e) = nix::unistd::setresuid(ident.uid, ident.uid, ident.uid) {
        return err(e, &format!("user {}", ident.uid));
    }
    if !cfg.privileged && ident.uid.is_root() {
        let set: caps::CapsHashSet = DEFAULT_CAPS.iter().copied().collect();
        for s in [caps::CapSet::Effective, caps::CapSet::Permitted] {
            if caps::set(None, s, &set).is_err() {
                return err(Errno::EPERM, "capabilities");
            }
        }
    }
    // An empty inheritable set, as docker's since CVE-2022-24769: a file with inheritable file
    // capabilities gains nothing through it.
    if !cfg.privileged && caps::clear(None, caps::CapSet::Inheritable).is_err() {
        return err(Errno::EPERM, "capabilities");
    }
    if let Err(e) = sys::cloexec_from(3) {
        return err(e, "fds");
    }
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    exec_search(&cfg.command, &env, &path)
}

pub fn drop_bounding_caps() -> std::result::Result<(), nix::errno::Errno> {
    sys::drop_bounding_except(DEFAULT_CAPS.iter().fold(0, |m, c| m | c.bitmask()))
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
