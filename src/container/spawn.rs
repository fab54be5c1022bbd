//! The host side of `nsk run`: reserve the name, create cgroups and limits, clone the container's
//! init into its new namespaces, supervise it (signals, PTY, exit status) and record the outcome.
//! Any failure before the command runs removes everything that was made.

use super::config::Config;
use super::init::{self, InitArgs};
use super::state::{Stale, State, Status, Store};
use crate::cgroup::{CgroupSet, Hierarchy};
use crate::clock::now_rfc3339;
use crate::error::{Context, Error, Result};
use crate::exec::channel::{Channel, Msg};
use crate::exec::pty;
use crate::exec::supervise::{self, await_setup, SetupEnd, Signals};
use crate::{process, sys};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, SigSet, Signal};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// Removes what a failed run made: the init process, cgroups, the state directory.
struct Cleanup<'a> {
    store: &'a Store,
    name: String,
    cgroups: Option<CgroupSet>,
    init: Option<Pid>,
    armed: bool,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.init.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroups.take() {
            let _ = cg.remove();
            remove_parents(self.store, &cg);
        }
        let _ = self.store.remove_dir(&self.name);
    }
}

/// Start the container described by `cfg`; returns nsk's exit code (the command's), or with
/// `cfg.detach` 0 once the command has started in the background (the caller prints the name).
/// `pin` (the image cache's lock, with --image) is held until the state file names the image;
/// `net` is the network namespace's task, started by the caller as soon as it knew (see
/// `NetPrep::start`); a detached run's monitor starts its own.
pub fn run<P>(store: &Store, cfg: Config, pin: Option<P>, net: Option<NetPrep>) -> Result<i32> {
    if let Some(r) = &cfg.rootfs {
        if !r.is_dir() {
            return Err(Error::invalid(format!(
                "invalid --rootfs {}: not a directory",
                r.display()
            )));
        }
    }
    let root = nix::unistd::geteuid().is_root();
    let hier = if root || !cfg.limits.is_empty() {
        Some(Hierarchy::detect()?)
    } else {
        None
    };
    let rel = format!("{}/{}", cfg.cgroup_parent, cfg.id);
    // The cgroup paths are recorded before anything is created, so a crash cannot leak them.
    let mut st = State {
        name: cfg.name.clone(),
        id: cfg.id.clone(),
        pid: None,
        start_time: None,
        created: now_rfc3339(),
        status: Status::Created,
        exit_code: None,
        exit_signal: None,
        rootfs: cfg.rootfs.clone(),
        cgroups: hier.as_ref().map(|h| CgroupSet::planned(h, &rel)),
        namespaces: Default::default(),
        limits: cfg.limits.clone(),
        command: cfg.command.clone(),
        hostname: cfg.hostname.clone(),
        detached: cfg.detach,
        image: cfg.image.clone(),
    };
    // Locked until the container runs (or is cleaned up): stop and rm wait for it instead of
    // acting on a container half set up.
    let setup_lock = store.create(&st, &cfg.cgroup_parent)?;
    let dir = store.dir(&cfg.name)?;
    let mut guard = Cleanup {
        store,
        name: cfg.name.clone(),
        cgroups: None,
        init: None,
        armed: true,
    };
    // The overlay is mounted on the state directory itself (in the container's mount namespace
    // only); its upper and work dirs live inside it (--storage-size max), or on a tmpfs the
    // container's init mounts there first. The upper dir's mode is the container's `/`; the
    // container directory (0700) keeps everyone else out of both.
    let subdirs: &[(&str, u32)] = if cfg.rootfs.is_some() && cfg.storage.is_none() {
        &[("upper", 0o755), ("work", 0o700)]
    } else {
        &[]
    };
    for (d, mode) in subdirs {
        crate::secure::mkdir_path(&dir.join(d), *mode)?;
    }
    drop(pin);
    guard.cgroups = st.cgroups.clone();
    let cg = hier.as_ref().map(|h| CgroupPlan {
        store,
        hier: h,
        rel: &rel,
        root,
    });

    if cfg.detach {
        return detach(store, cfg, st, guard, cg, setup_lock);
    }
    let sigs = supervise::block_signals()?;
    let (init_pid, chan, master) = launch(&cfg, &dir, cg, &mut st, &mut guard, &sigs, net)?;
    let mounts = record_running(store, &cfg, &mut st, init_pid)?;
    drop(setup_lock);
    guard.armed = false;
    let _sweep = Beside::sweep(store);
    let raw = pty::RawMode::stdin();
    let status = supervise::supervise(init_pid, &chan, master, &sigs, raw.ok().flatten());
    finish(store, &cfg, st, status, mounts)
}

/// The container's network namespace, with its loopback up, made by a helper task (see
/// `sys::NetnsTask`) from the start of the run, beside the state, init's clone, init's build of
/// the filesystem and the cgroups. Init joins it on `Go` (which carries it), then mounts its
/// /sys. Only where init's own clone would make one owned by the host: without `--net host` or
/// `--userns`. (No volume goes on /sys: `parse_volume` refuses it.) A foreground run starts it
/// before its command line is parsed (`cmd::run::early_netns`), before the checks, the image and
/// the state; dropped (a refused command line), it is killed and reaped.
pub struct NetPrep(sys::NetnsTask);

impl NetPrep {
    /// Whether a run with these options wants the task's namespace.
    pub fn wanted(net: super::config::Net, userns: bool) -> bool {
        net == super::config::Net::None && !userns
    }

    /// None when not wanted, and when the task cannot be started (no process to spare, no
    /// memory): init's clone then makes the namespace, as with `--userns`, and reports what
    /// fails there; a command line with a mistake is refused for that mistake first.
    pub fn start(net: super::config::Net, userns: bool) -> Option<NetPrep> {
        if !NetPrep::wanted(net, userns) {
            return None;
        }
        sys::NetnsTask::start().ok().map(NetPrep)
    }

    /// Drop the task without waiting for it, for a process about to exit (see
    /// `sys::NetnsTask::abandon`).
    pub fn abandon(self) {
        self.0.abandon()
    }

    /// The namespace; the task is killed and reaped when this is dropped.
    fn finish(&mut self) -> Result<OwnedFd> {
        self.0.finish().map_err(|e| match e {
            nix::errno::Errno::ECANCELED => Error::failed(
                "cannot create the container's network namespace: its task was killed",
            ),
            e => Error::Os {
                what: "cannot create the container's network namespace".into(),
                errno: e,
            },
        })
    }
}

/// The mount namespace of a foreground `--rm` container, held from the moment its command runs
/// until nsk has removed what it made. Init's exit then leaves the namespace's teardown (the overlay,
/// /proc, /dev, the masks) to whoever drops this: `release` drops it on a helper thread, beside
/// the removal of the cgroups and the state, and the returned guard waits for it: the container
/// is gone, mounts included, when that removal returns.
struct MountsHold {
    _ns: OwnedFd,
}

impl MountsHold {
    fn release(self) -> Beside {
        Beside::drop_of(self, 64 << 10)
    }
}

/// The removal of what dead runs and removals left in the state root (`Store::stale`), done
/// when dropped: a killed removal's may be a container's whole writable layer, so it goes
/// `Beside` the container, not before its command nor in the way of its terminal and signals.
struct Sweep(Stale);

impl Drop for Sweep {
    fn drop(&mut self) {
        self.0.remove();
    }
}

/// A value whose drop does work (a namespace teardown, a sweep), dropped on a thread of its own
/// beside what nsk does next. Waits for it when dropped itself: nsk ends only once that work is
/// done. If no thread can be made, the value is dropped at once, here.
struct Beside(Option<std::thread::JoinHandle<()>>);

impl Beside {
    fn drop_of<T: Send + 'static>(v: T, stack: usize) -> Beside {
        Beside(
            std::thread::Builder::new()
                .stack_size(stack)
                .spawn(move || drop(v))
                .ok(),
        )
    }

    /// The sweep of the state root: listed here (one directory read), and what is found removed
    /// on a thread with a main thread's stack (trees are removed recursively).
    fn sweep(store: &Store) -> Beside {
        let stale = store.stale();
        match stale.is_empty() {
            true => Beside(None),
            false => Beside::drop_of(Sweep(stale), 8 << 20),
        }
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// Where the container's cgroups go.
#[derive(Clone, Copy)]
struct CgroupPlan<'a> {
    store: &'a Store,
    hier: &'a Hierarchy,
    rel: &'a str,
    root: bool,
}

/// Create the container's cgroups and write its limits (read back), recording the limits as
/// applied (with docker's default swap).
fn setup_cgroups(cfg: &Config, p: CgroupPlan, set: &CgroupSet, st: &mut State) -> Result<()> {
    p.store
        .with_cgroup_parents(|rec| {
            rec.expect(set.parents(p.rel))?;
            set.create(p.hier, p.rel, &cfg.limits.controllers(), rec)
        })
        .and_then(|r| r)
        .map_err(|e| match e.errno() {
            Some(
                nix::errno::Errno::EACCES | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS,
            ) if !p.root => e.context("limits need root or a delegated cgroup"),
            _ => e,
        })?;
    st.limits = cfg.limits.clone().with_default_swap(set);
    set.apply(&set.plan(&st.limits)?)
}

/// Clone init into its namespaces and drive it through setup. Returns its PID, the channel and
/// the PTY master (with a tty).
///
/// On cgroup v2 the cgroup is made (with its limits) first and init is cloned straight into it.
/// On v1 init starts at once and builds its filesystem while the cgroups are made here; it then
/// joins them itself, before the command starts.
fn launch(
    cfg: &Config,
    dir: &std::path::Path,
    cg: Option<CgroupPlan>,
    st: &mut State,
    guard: &mut Cleanup,
    sigs: &Signals,
    net: Option<NetPrep>,
) -> Result<(Pid, Channel, Option<OwnedFd>)> {
    let (parent, child) = Channel::pair()?;
    let mut flags = cfg
        .clone_kinds()
        .fold(CloneFlags::empty(), |f, k| f | k.flag);
    let set = guard.cgroups.clone();
    // One directory to be born in (pure v2), or one per hierarchy that init joins (v1).
    let v2 = set.as_ref().and_then(|s| s.join_dir()).is_some();
    let mut v2_fd = None;
    if let (Some(p), Some(set), true) = (cg, &set, v2) {
        setup_cgroups(cfg, p, set, st)?;
        let d = set.join_dir().expect("checked above");
        v2_fd = Some(
            nix::fcntl::open(
                d,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ctx(|| format!("cannot open {}", d.display()))?,
        );
    }
    let mut net = net;
    if net.is_some() {
        flags.remove(CloneFlags::CLONE_NEWNET);
    }
    let mut forked = crate::exec::fork_into(flags, v2_fd.as_ref());
    if forked == Err(nix::errno::Errno::EAGAIN) && net.is_some() {
        // No process to spare but the one the network namespace's task holds: it goes, and
        // init's own clone makes the namespace.
        net = None;
        flags.insert(CloneFlags::CLONE_NEWNET);
        forked = crate::exec::fork_into(flags, v2_fd.as_ref());
    }
    let net_later = net.is_some();
    let (forked, into_v2) = forked.map_err(|e| match e {
        nix::errno::Errno::EAGAIN => Error::failed(
            "cannot start the container's init: no process to spare (the pids limit of nsk's cgroup, ulimit -u or kernel.threads-max)",
        ),
        e => Error::Os {
            what: "cannot create the container's namespaces".into(),
            errno: e,
        },
    })?;
    let pid = match forked {
        None => {
            drop(parent);
            let _ = SigSet::all().thread_block();
            let join_v1 = set.as_ref().filter(|_| !v2);
            init::main(InitArgs {
                cfg,
                state_dir: dir,
                hier: cg.map(|c| c.hier),
                join_v1,
                chan: child,
                net_later,
            })
        }
        Some(pid) => pid,
    };
    drop(child);
    guard.init = Some(pid);
    if cfg.userns {
        write_id_maps(pid)?;
    }
    // v1: init joins the cgroups itself (see `join_self_v1`), through their `tasks` files.
    let tasks = match (cg, &set) {
        (Some(p), Some(set)) if !v2 => {
            setup_cgroups(cfg, p, set, st)?;
            set.v1_tasks_files()?
        }
        (Some(_), Some(set)) if !into_v2 => {
            set.attach(pid.as_raw())?;
            vec![]
        }
        _ => vec![],
    };
    // Init may already have failed (v1: it checks volumes while the cgroups are made) and
    // closed its end: its report, queued on the channel, says why, not the failed send.
    let netns = net.as_mut().map(NetPrep::finish).transpose()?;
    let fds: Vec<_> = netns.iter().chain(&tasks).map(|f| f.as_fd()).collect();
    let sent = parent.send_fds(&Msg::Go, &fds);
    drop(fds);
    drop(netns);
    let master = match await_setup(&parent, true, Some((pid, sigs))) {
        Ok(m) => m,
        Err(SetupEnd::Failed(e)) => return Err(e),
        Err(SetupEnd::Closed) => {
            let why = match waitpid(pid, None) {
                Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
                Ok(WaitStatus::Exited(_, c)) => format!("exit code {c}"),
                _ => "unknown status".into(),
            };
            guard.init = None;
            return Err(Error::failed(format!(
                "the container's init died during setup ({why})"
            )));
        }
    };
    sent?;
    // The namespace's task, stopped, is killed and reaped now, while the command runs: its exit
    // no longer competes with init's last steps for a CPU.
    drop(net);
    // Init joined through files opened before: a directory renamed meanwhile took it along,
    // under a name the state does not have.
    if let Some(set) = &set {
        set.check_tasks_files(&tasks)?;
    }
    Ok((pid, parent, master))
}

/// Map the caller's uid and gid to root in the new user namespace.
fn write_id_maps(pid: Pid) -> Result<()> {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    let base = PathBuf::from(format!("/proc/{pid}"));
    std::fs::write(base.join("setgroups"), "deny")
        .ctx(|| format!("cannot write /proc/{pid}/setgroups"))?;
    std::fs::write(base.join("uid_map"), format!("0 {uid} 1"))
        .ctx(|| format!("cannot write /proc/{pid}/uid_map"))?;
    std::fs::write(base.join("gid_map"), format!("0 {gid} 1"))
        .ctx(|| format!("cannot write /proc/{pid}/gid_map"))?;
    Ok(())
}

/// Record the running container's PID, start time and namespaces. For a foreground `--rm` run,
/// returns a hold on its mount namespace (None if it cannot be opened: init's exit then tears it
/// down, as it does for every other container, so that one that stays, or runs detached, is rid
/// of its mounts when `stop` or `rm -f`, which wait for its init, return).
fn record_running(
    store: &Store,
    cfg: &Config,
    st: &mut State,
    pid: Pid,
) -> Result<Option<MountsHold>> {
    let dir = process::ProcDir::open(pid.as_raw())?;
    let mounts = match cfg.remove && !cfg.detach {
        true => dir.open_at("ns/mnt", nix::fcntl::OFlag::O_RDONLY).ok(),
        false => None,
    }
    .map(|ns| MountsHold { _ns: ns });
    st.pid = Some(pid.as_raw());
    st.start_time = Some(dir.stat()?.start_time);
    for (k, ino) in crate::ns::KINDS.iter().zip(dir.ns_inodes()) {
        if let Some(ino) = ino {
            st.namespaces.insert(k.name.to_string(), ino);
        }
    }
    st.status = Status::Running;
    store.save(st)?;
    Ok(mounts)
}

/// Record how the container ended, remove it with --rm, and return nsk's exit code. The mount
/// namespace (`mounts`) is torn down meanwhile, and is gone when this returns.
fn finish(
    store: &Store,
    cfg: &Config,
    mut st: State,
    status: i32,
    mounts: Option<MountsHold>,
) -> Result<i32> {
    let _teardown = mounts.map(MountsHold::release);
    let code = crate::exec::command::exit_code(status);
    if cfg.remove {
        // `nsk rm -f` may be removing it too: one removal at a time, under the container's lock,
        // and once another has removed it there is nothing left to do.
        let (_lock, marker) = match store.lock_marked(&cfg.name) {
            Ok(l) => l,
            Err(Error::NotFound(_)) => return Ok(code),
            Err(e) => return Err(e),
        };
        // The state is this process's own, kept in memory since it made the cgroups: only the
        // directory is checked to be still this container's (a state read back from a file is
        // checked whole by `remove`).
        if marker.id != st.id {
            return Err(super::state::damaged(
                &cfg.name,
                "its directory names another container",
            ));
        }
        remove_checked(store, &cfg.name, &st)?;
        return Ok(code);
    }
    let oom = st.cgroups.as_ref().and_then(|c| c.oom_kills()).unwrap_or(0) > 0;
    if let Ok(_lock) = store.lock(&st.name) {
        st.status = if oom && libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL {
            Status::OomKilled
        } else {
            Status::Exited
        };
        if libc::WIFSIGNALED(status) {
            st.exit_signal = Some(libc::WTERMSIG(status));
        }
        st.exit_code = Some(code);
        let _ = store.save(&st);
    }
    Ok(code)
}

/// Check, before anything is stopped or removed, that container `name`'s state accounts for
/// what removal will touch: it names this container, and its cgroups are the ones nsk made
/// for it (by its marker, on this host's cgroup filesystems).
pub fn check_removable(store: &Store, name: &str, st: &State) -> Result<()> {
    let m = store.marker(name)?;
    if st.name != name || st.id != m.id {
        return Err(super::state::damaged(
            name,
            "its state names another container",
        ));
    }
    if let Some(cg) = &st.cgroups {
        cg.check_made_for(&m.cgroup_parent, &m.id)
            .map_err(|e| super::state::damaged(name, &e.to_string()))?;
    }
    Ok(())
}

/// Remove the cgroup parents of `cg` that nsk created (by the state root's record), deepest
/// first, while they are empty. Without a record nsk created none of them: a parent another
/// nsk creates meanwhile is recorded before it is made, and is that nsk's to remove.
fn remove_parents(store: &Store, cg: &CgroupSet) {
    if !store.has_cgroup_parents() {
        return;
    }
    let _ = store.with_cgroup_parents(|rec| {
        for p in cg.remove_parents(&|p| rec.made.contains(p)) {
            rec.made.remove(&p);
        }
    });
}

/// Remove a stopped container `name` (the name the user typed): its cgroups (only those nsk
/// made for it), then its directory.
pub fn remove(store: &Store, name: &str, st: &State) -> Result<()> {
    check_removable(store, name, st)?;
    remove_checked(store, name, st)
}

/// `remove` once `st` is known to be container `name`'s.
fn remove_checked(store: &Store, name: &str, st: &State) -> Result<()> {
    if let Some(cg) = &st.cgroups {
        cg.remove()?;
        // A limit journal for these cgroups is moot once they are gone.
        crate::cgroup::journal::forget(&crate::cgroup::journal::path(&store.root, cg));
        remove_parents(store, cg);
    }
    store.remove_dir(name)
}

/// The log of a detached container: created 0600 whatever the umask, never through a symlink.
fn open_log(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir.join("log"))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// `-d`: a monitor process, detached from the caller's session, owns the container; the caller
/// waits for its word that the command started, prints the name and returns.
fn detach(
    store: &Store,
    cfg: Config,
    mut st: State,
    mut guard: Cleanup,
    cg: Option<CgroupPlan>,
    setup_lock: nix::fcntl::Flock<std::fs::File>,
) -> Result<i32> {
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "cannot create a pipe")?;
    let dir = store.dir(&cfg.name)?;
    match sys::fork().ctx(|| "cannot fork the monitor")? {
        Some(_monitor) => {
            guard.armed = false;
            drop(wr);
            // One write of less than PIPE_BUF, so one read has it all (the container's init keeps
            // a copy of the write end, so end-of-file would only come when it exits).
            let mut b = [0u8; 4096];
            let n = loop {
                match nix::unistd::read(&rd, &mut b) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    r => break r.unwrap_or(0),
                }
            };
            let msg = String::from_utf8_lossy(&b[..n]).into_owned();
            match msg.split_once('\n') {
                Some(("ok", _)) => Ok(0),
                Some((code, m)) => {
                    let code: i32 = code.parse().unwrap_or(125);
                    Err(if code == 125 {
                        Error::failed(m)
                    } else {
                        Error::Exit {
                            msg: m.to_string(),
                            code,
                        }
                    })
                }
                None => Err(Error::failed("the container's monitor died during setup")),
            }
        }
        None => {
            drop(rd);
            let _ = nix::unistd::setsid();
            let log = open_log(&dir);
            let devnull = std::fs::File::open("/dev/null");
            if let (Ok(log), Ok(null)) = (&log, &devnull) {
                let _ = nix::unistd::dup2_stdin(null);
                let _ = nix::unistd::dup2_stdout(log);
                let _ = nix::unistd::dup2_stderr(log);
            }
            let started = supervise::block_signals().and_then(|sigs| {
                let net = NetPrep::start(cfg.net, cfg.userns);
                let (pid, chan, _) = launch(&cfg, &dir, cg, &mut st, &mut guard, &sigs, net)?;
                let mounts = record_running(store, &cfg, &mut st, pid)?;
                drop(setup_lock);
                Ok((sigs, pid, chan, mounts))
            });
            match started {
                Ok((sigs, pid, chan, mounts)) => {
                    guard.armed = false;
                    let _ = nix::unistd::write(&wr, b"ok\n");
                    drop(wr);
                    let sweep = Beside::sweep(store);
                    let status = supervise::supervise(pid, &chan, None, &sigs, None);
                    let _ = finish(store, &cfg, st, status, mounts);
                    drop(sweep);
                    sys::exit_now(0)
                }
                Err(e) => {
                    let _ = nix::unistd::write(&wr, format!("{}\n{e}", e.exit_code()).as_bytes());
                    drop(guard);
                    sys::exit_now(1)
                }
            }
        }
    }
}
