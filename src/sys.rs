//! The few raw system calls nix does not wrap. Every `unsafe` block of nsk lives here.

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `clone(2)` with fork semantics (no new stack): returns `None` in the child, the child's PID in
/// the parent. `flags` are the namespace flags; SIGCHLD is added so the parent can wait.
pub fn clone_fork(flags: CloneFlags) -> Result<Option<Pid>, Errno> {
    let f = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a clone without CLONE_VM and with a NULL stack duplicates the address space exactly
    // like fork(2); nsk has no other thread at this point, so no lock can be held by one (a
    // NetnsTask may share its memory, but takes no lock of nsk's).
    let r = unsafe { libc::syscall(libc::SYS_clone, f, 0usize, 0usize, 0usize, 0usize) };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// Plain fork(2).
pub fn fork() -> Result<Option<Pid>, Errno> {
    clone_fork(CloneFlags::empty())
}

/// Close every fd from 3 up but `keep`: what a process inherited and does not need (close_range
/// where the kernel has it, else each fd /proc/self/fd lists).
pub fn close_fds_except(keep: RawFd) -> Result<(), Errno> {
    let range = |lo: RawFd, hi: u32| close_range(lo as u32, hi, 0);
    let r = match keep {
        k if k > 3 => range(3, k as u32 - 1).and_then(|_| range(k + 1, u32::MAX)),
        k => range(k.max(2) + 1, u32::MAX),
    };
    match r {
        Err(Errno::ENOSYS) => {
            let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
                .map_err(|_| Errno::ENOSYS)?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd > 2 && fd != keep)
                .collect();
            for fd in fds {
                // The directory's own fd is gone by now; EBADF is fine.
                let _ = nix::unistd::close(fd);
            }
            Ok(())
        }
        r => r.map(drop),
    }
}

/// Mark every fd from `first` up close-on-exec, so nothing but stdio reaches an exec'd command.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    close_range(first, u32::MAX, CLOSE_RANGE_CLOEXEC)
}

/// close_range(2): close (flags 0) or mark close-on-exec the fds `first..=last`.
fn close_range(first: u32, last: u32, flags: libc::c_uint) -> Result<(), Errno> {
    // SAFETY: close_range only closes fds or changes their flags; it takes no pointers.
    Errno::result(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Bring the loopback interface of the current network namespace up (raw system calls only:
/// `NetnsTask`'s task runs this too).
pub fn loopback_up() -> Result<(), Errno> {
    raw_loopback_up().map_err(|e| Errno::from_raw(e.raw_os_error()))
}

fn raw_loopback_up() -> rustix::io::Result<()> {
    use rustix::fd::IntoRawFd;
    let sock = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?
    .into_raw_fd();
    let up = loopback_up_raw(sock);
    // SAFETY: `sock` is the socket made above, closed once here.
    unsafe { rustix::io::close(sock) };
    up
}

/// Make the terminal `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_tty(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

pub fn get_winsize<F: AsFd>(fd: F) -> Result<libc::winsize, Errno> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills it.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live winsize on our stack.
    Errno::result(unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

pub fn set_winsize<F: AsFd>(fd: F, ws: &libc::winsize) -> Result<(), Errno> {
    // SAFETY: TIOCSWINSZ reads the winsize we point at.
    Errno::result(unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCSWINSZ, ws) }).map(drop)
}

/// pidfd_open(2): a handle that keeps naming this process even if its PID is reused.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: integer arguments only; on success the returned fd is ours.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = Errno::result(r)?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal<F: AsFd>(pidfd: F, sig: libc::c_int) -> Result<(), Errno> {
    // SAFETY: a NULL siginfo is allowed and means "as kill(2) would send it".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_fd().as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(r).map(drop)
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: `path` may not leave `dir`, through
/// `..`, an absolute symlink or one that climbs out (EXDEV then).
pub fn open_beneath<F: AsFd>(dir: F, path: &str, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    openat2(dir, &c, flags, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
}

/// openat2(2) with RESOLVE_IN_ROOT: `path` is resolved as if `dir` were `/` (chroot-like), so
/// `..` and every symlink, absolute or relative, stay inside it; no magic links, no crossing
/// into another mount. How image layers are written: `lib -> /usr/lib` works, an escape cannot.
pub fn open_in_root<F: AsFd>(
    dir: F,
    path: &[u8],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    openat2(
        dir,
        &c,
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    )
}

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, crossing mounts: a file of a
/// container's filesystem, seen from the host through a root fd of the container (its
/// /etc/passwd may be a bind mount), never one outside it.
pub fn open_in_root_mounts<F: AsFd>(
    dir: F,
    path: &[u8],
    flags: libc::c_int,
) -> Result<OwnedFd, Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    openat2(dir, &c, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

fn openat2<F: AsFd>(
    dir: F,
    path: &CString,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    loop {
        // SAFETY: `path` and `how` outlive the call; the size passed is the struct's.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_fd().as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match Errno::result(r) {
            // The kernel asks for a retry when a rename raced the lookup.
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            // SAFETY: fd was just returned by the kernel and is owned by nobody else.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        }
    }
}

/// fsetxattr(2): set an extended attribute on an open file.
pub fn fsetxattr<F: AsFd>(fd: F, name: &[u8], value: &[u8]) -> Result<(), Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `c` and `value` are valid for the lengths passed and outlive the call.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_fd().as_raw_fd(),
            c.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(r).map(drop)
}

/// flistxattr(2): the names of an open file's extended attributes.
pub fn flistxattr<F: AsFd>(fd: F) -> Result<Vec<Vec<u8>>, Errno> {
    let mut buf: Vec<u8> = vec![0; 1024];
    loop {
        // SAFETY: `buf` is valid for writes of its length for the duration of the call.
        let r =
            unsafe { libc::flistxattr(fd.as_fd().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match Errno::result(r) {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(buf
                    .split(|&b| b == 0)
                    .filter(|n| !n.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect());
            }
            // Grown meanwhile: ask for the size again (bounded: the kernel caps it at 64 KiB).
            Err(Errno::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e),
        }
    }
}

/// fgetxattr(2): the value of one extended attribute of an open file.
pub fn fgetxattr<F: AsFd>(fd: F, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let c = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let mut buf: Vec<u8> = vec![0; 256];
    loop {
        // SAFETY: `c` is a valid C string and `buf` is valid for writes of its length; both
        // outlive the call.
        let r = unsafe {
            libc::fgetxattr(
                fd.as_fd().as_raw_fd(),
                c.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        match Errno::result(r) {
            Ok(n) => {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            Err(Errno::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e),
        }
    }
}

/// Replace the process image (execve(2)) with an explicit environment. Returns only on failure.
/// A null-terminated array of pointers to C strings (argv, envp), built before a process that
/// may not allocate uses it; the strings must outlive it.
pub struct NullTerminated(Vec<*const libc::c_char>);

impl NullTerminated {
    pub fn new(v: &[CString]) -> NullTerminated {
        let mut p: Vec<*const libc::c_char> = v.iter().map(|s| s.as_ptr()).collect();
        p.push(std::ptr::null());
        NullTerminated(p)
    }
}

/// execve(2) with arrays built beforehand: allocates nothing. Returns only on failure.
pub fn execve_raw(path: &std::ffi::CStr, argv: &NullTerminated, env: &NullTerminated) -> Errno {
    // SAFETY: `path` is a C string and both arrays are null-terminated arrays of pointers to C
    // strings that outlive the call (NullTerminated's contract).
    unsafe { libc::execve(path.as_ptr(), argv.0.as_ptr(), env.0.as_ptr()) };
    Errno::last()
}

/// Set this thread's effective, permitted and inheritable capabilities (bit N for capability
/// N) in one capset(2), allocating nothing.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<(), Errno> {
    // <linux/capability.h>
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let word = |m: u64, i: usize| (m >> (32 * i)) as u32;
    let data: [Data; 2] = std::array::from_fn(|i| Data {
        effective: word(effective, i),
        permitted: word(permitted, i),
        inheritable: word(inheritable, i),
    });
    // SAFETY: capset reads a version-3 header and two data structs, both on our stack.
    Errno::result(unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) }).map(drop)
}

/// Start a process that shares this one's memory and runs `f` on a stack of its own until it
/// execs or exits; the caller is suspended until then (CLONE_VM | CLONE_VFORK, as posix_spawn
/// does). `f` must allocate nothing and take no lock: the memory it runs in is the caller's,
/// stopped at this call. Returns the new process's PID (it exits with `f`'s return value, and
/// sends SIGCHLD when it ends).
pub fn spawn_vfork(f: &mut dyn FnMut() -> libc::c_int) -> Result<Pid, Errno> {
    extern "C" fn trampoline(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `&mut dyn FnMut` below, alive while the caller is suspended.
        let f = unsafe { &mut *(arg as *mut &mut dyn FnMut() -> libc::c_int) };
        f()
    }
    const STACK: usize = 64 << 10;
    let mut stack: Vec<u8> = Vec::with_capacity(STACK);
    let top = (stack.as_mut_ptr() as usize + STACK) & !15;
    let mut f = f;
    // SAFETY: the child runs `trampoline` on `stack`, which outlives it as far as the caller can
    // tell (the caller resumes only once the child has exec'd or exited); it shares the memory of
    // a caller that is suspended meanwhile, so nothing it touches is touched from two places.
    let pid = unsafe {
        libc::clone(
            trampoline,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &mut f as *mut &mut dyn FnMut() -> libc::c_int as *mut libc::c_void,
        )
    };
    drop(stack);
    match pid {
        -1 => Err(Errno::last()),
        pid => Ok(Pid::from_raw(pid)),
    }
}

pub fn execve(path: &CString, argv: &[CString], env: &[CString]) -> Errno {
    match nix::unistd::execve(path, argv, env) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// Drop every capability not in `keep` (bit N for capability N) from this thread's bounding
/// set, without reading the set first: one call per capability instead of two. Dropping a
/// capability that is not there changes nothing; EINVAL means past this kernel's last one.
/// Without CAP_SETPCAP a drop is refused, which is fine for a capability already gone.
pub fn drop_bounding_except(keep: u64) -> Result<(), Errno> {
    // prctl(2) is variadic: every argument is passed as the unsigned long the kernel reads.
    let prctl = |op: libc::c_int, cap: libc::c_ulong| {
        // SAFETY: PR_CAPBSET_DROP and PR_CAPBSET_READ take integer arguments only.
        unsafe {
            libc::prctl(
                op,
                cap,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        }
    };
    for cap in 0..64 {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        match Errno::result(prctl(libc::PR_CAPBSET_DROP, cap)) {
            Ok(_) => {}
            Err(Errno::EINVAL) => break,
            Err(Errno::EPERM) if prctl(libc::PR_CAPBSET_READ, cap) == 0 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Exit at once without running Rust destructors or atexit handlers (for forked children).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Show `title` as this process's command line (/proc/PID/cmdline, ps), as setproctitle(3) does:
/// the argument area the kernel reads it from is overwritten in place, cut to fit. For the
/// container's init, a fork of the nsk that started it: otherwise everything inside would read
/// the host's nsk command line, paths and all, in /proc/1/cmdline. The area is found from argv
/// itself (`arg_area_from_argv`, no system call: init's setup is on the way to the container's
/// command), else from /proc/self/stat. Best effort: when neither finds it, the command line
/// stays as it is.
pub fn set_cmdline(title: &str) {
    let Some((start, end)) = arg_area_from_argv().or_else(|| {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| arg_area(&s))
    }) else {
        return;
    };
    let len = end - start;
    if len < 2 {
        return;
    }
    let n = title.len().min(len - 2);
    // SAFETY: [start, end) is this process's own argument area, as the kernel reports it: stack
    // memory mapped writable since exec. Only the argv pointers saved at start-up point into it,
    // and nothing in this process reads them after this (init works from its parsed config).
    unsafe {
        std::ptr::write_bytes(start as *mut u8, 0, len);
        std::ptr::copy_nonoverlapping(title.as_ptr(), start as *mut u8, n);
        // A last byte that is not NUL tells the kernel to read the title up to its first NUL,
        // so the zeroed rest of the area does not show.
        *((end - 1) as *mut u8) = b' ';
    }
}

/// The argument area as exec(2) laid it out: the arguments back to back from argv[0] (which glibc
/// keeps as `program_invocation_name`), each ending in a NUL. Only when the memory there holds
/// exactly this process's arguments, checked byte by byte up to the first difference: what
/// `set_cmdline` then overwrites is the arguments and nothing else.
fn arg_area_from_argv() -> Option<(usize, usize)> {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        static program_invocation_name: *const libc::c_char;
    }
    // SAFETY: a pointer glibc sets once at start-up; read, not written.
    let start = unsafe { program_invocation_name } as usize;
    if start == 0 {
        return None;
    }
    let mut at = start;
    for a in std::env::args_os() {
        for &b in a.as_bytes().iter().chain([0u8].iter()) {
            // SAFETY: `at` is argv[0] or just past a NUL-ended argument found at the address
            // before it: in exec's layout the next argument, or after the last one the first
            // environment string, all on the mapped stack. Reading stops at the first byte that
            // is not the one expected.
            if unsafe { *(at as *const u8) } != b {
                return None;
            }
            at += 1;
        }
    }
    (at > start).then_some((start, at))
}

/// arg_start and arg_end (fields 48 and 49) of /proc/PID/stat, counted after the command name.
fn arg_area(stat: &str) -> Option<(usize, usize)> {
    let mut f = stat[stat.rfind(')')? + 1..].split_whitespace().skip(45);
    let start: usize = f.next()?.parse().ok()?;
    let end: usize = f.next()?.parse().ok()?;
    (start > 0 && end > start).then_some((start, end))
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (recursively with
/// `recursive`), which can be attached anywhere later, even after the old root is gone.
pub fn open_tree_clone(path: &std::path::Path, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `c` outlives the call; the flags are integers.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    let fd = Errno::result(r)?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Mount attributes for `mount_setattr`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

/// mount_setattr(2) on the mount tree behind `fd` (recursively).
pub fn mount_setattr<F: AsFd>(fd: F, set: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: `attr` and `empty` outlive the call; the size passed is the struct's.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_fd().as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// move_mount(2): attach the detached tree `from` on top of the file or directory `to`.
pub fn move_mount<F: AsFd, T: AsFd>(from: F, to: T) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let empty = c"";
    // SAFETY: `empty` outlives the call; both fds are live for its duration.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_fd().as_raw_fd(),
            empty.as_ptr(),
            to.as_fd().as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

/// clone3(2) with fork semantics, optionally straight into the cgroup v2 directory `cgroup`
/// (CLONE_INTO_CGROUP): the child starts there, with no migration afterwards.
pub fn clone3_fork<F: AsFd>(flags: CloneFlags, cgroup: Option<F>) -> Result<Option<Pid>, Errno> {
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: flags.bits() as u64,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: 0,
    };
    if let Some(cg) = &cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_fd().as_raw_fd() as u64;
    }
    // SAFETY: with no stack given, clone3 duplicates the address space like fork(2); nsk is
    // single-threaded here (a NetnsTask may share its memory, but takes no lock of nsk's).
    // `args` lives across the call and its size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// SIGCHLD back to its default disposition (it may have been inherited ignored).
pub fn default_sigchld() {
    use nix::sys::signal::{SigHandler, Signal};
    // SAFETY: installing SIG_DFL runs no handler code in this process.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGCHLD, SigHandler::SigDfl) };
}

/// Before exec: every signal back to its default disposition (Rust ignores SIGPIPE) and none
/// blocked.
pub fn reset_signals() {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};
    for s in Signal::iterator() {
        if s != Signal::SIGKILL && s != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code in this process.
            let _ = unsafe { nix::sys::signal::signal(s, SigHandler::SigDfl) };
        }
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Take ownership of an fd the kernel just handed us (SCM_RIGHTS).
pub fn own_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: the caller got `raw` from the kernel in a control message: a new fd owned by
    // nobody else in this process.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Standard input, borrowed for the life of the process.
pub fn stdin_fd() -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: fd 0 stays open for the whole life of the process.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(0) }
}

/// readlinkat(2) relative to `dir`, into a caller's buffer: the bytes of the link.
pub fn readlinkat_into<'a>(
    dir: &impl AsRawFd,
    path: &std::ffi::CStr,
    buf: &'a mut [u8],
) -> Option<&'a [u8]> {
    // SAFETY: `dir` is an open descriptor, `path` a valid C string and `buf` a live buffer of
    // the length passed.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            path.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n > 0).then(|| &buf[..n as usize])
}

/// A new, detached mount of filesystem `fstype` with string options (fsopen, fsconfig, fsmount).
pub fn fs_mount_detached(fstype: &str, options: &[(&str, &str)]) -> Result<OwnedFd, Errno> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    let cfs = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `cfs` outlives the call; the flags are integers.
    let fs = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsopen,
            cfs.as_ptr(),
            1u32, /* FSOPEN_CLOEXEC */
        )
    })?;
    // SAFETY: fs was just returned by the kernel and is owned by nobody else.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    for (k, v) in options {
        let (ck, cv) = (
            CString::new(*k).map_err(|_| Errno::EINVAL)?,
            CString::new(*v).map_err(|_| Errno::EINVAL)?,
        );
        // SAFETY: both strings outlive the call.
        Errno::result(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                ck.as_ptr(),
                cv.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: no pointers are passed.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    })?;
    // SAFETY: integer arguments only.
    let m = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            1u32, /* FSMOUNT_CLOEXEC */
            0u32,
        )
    })?;
    // SAFETY: m was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(m as RawFd) })
}

/// open_tree(2) with OPEN_TREE_CLONE | AT_RECURSIVE of `path` relative to `dir` ("" for `dir`
/// itself).
pub fn clone_tree_at<F: AsFd>(dir: F, path: &str) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | libc::AT_RECURSIVE as libc::c_uint
        | if path.is_empty() {
            libc::AT_EMPTY_PATH as libc::c_uint
        } else {
            0
        };
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `c` outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir.as_fd().as_raw_fd(),
            c.as_ptr(),
            flags,
        )
    };
    let fd = Errno::result(r)?;
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    /// A capability set of /proc/thread-self/status (CapEff, CapPrm, CapInh, CapBnd).
    fn thread_caps(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let v = s
            .lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .unwrap();
        u64::from_str_radix(v.trim(), 16).unwrap()
    }

    #[test]
    fn capset_sets_the_three_sets_of_the_calling_thread_at_once() {
        // Capabilities are per thread: a thread of its own gives up only its own.
        std::thread::spawn(|| {
            use caps::Capability::{CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE};
            let keep = CAP_CHOWN.bitmask() | CAP_KILL.bitmask() | CAP_NET_BIND_SERVICE.bitmask();
            assert_eq!(thread_caps("CapEff") & keep, keep, "the tests run as root");
            super::capset(keep, keep, 0).unwrap();
            assert_eq!(thread_caps("CapEff"), keep);
            assert_eq!(thread_caps("CapPrm"), keep);
            assert_eq!(thread_caps("CapInh"), 0);
            // What is gone from the permitted set cannot come back.
            assert_eq!(
                super::capset(u64::MAX >> 24, u64::MAX >> 24, 0),
                Err(nix::errno::Errno::EPERM)
            );
            assert_eq!(thread_caps("CapEff"), keep);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_network_namespace_task_makes_one_with_its_loopback_up() {
        let fd = super::NetnsTask::start().unwrap().finish().unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert!(link.to_string_lossy().starts_with("net:["), "{link:?}");
        assert_ne!(link, own, "the task's namespace is not nsk's");
        // A thread of its own joins it and finds only the loopback there, up.
        std::thread::spawn(move || {
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
            let names: Vec<&str> = dev
                .lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .map(str::trim)
                .collect();
            assert_eq!(names, ["lo"]);
            let sock = nix::sys::socket::socket(
                nix::sys::socket::AddressFamily::Inet,
                nix::sys::socket::SockType::Datagram,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
                None,
            )
            .unwrap();
            // SAFETY: ifreq is plain old data; SIOCGIFFLAGS fills the one on our stack.
            let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
            for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
                *d = *s as libc::c_char;
            }
            // SAFETY: the ifreq lives on our stack across the call.
            let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) };
            assert_eq!(r, 0);
            // SAFETY: SIOCGIFFLAGS filled the flags member.
            let up = unsafe { ifr.ifr_ifru.ifru_flags } & libc::IFF_UP as libc::c_short;
            assert_ne!(up, 0, "lo is up");
        })
        .join()
        .unwrap();
        // Dropped without being finished, a task is still reaped (no zombie left behind).
        drop(super::NetnsTask::start().unwrap());
    }

    #[test]
    fn the_network_namespace_task_ignores_job_control_and_leaves_no_fd_here() {
        use nix::sys::signal::{kill, Signal};
        let mut task = super::NetnsTask::start().unwrap();
        let pid = nix::unistd::Pid::from_raw(task.pid());
        // A Ctrl-C or Ctrl-Z for nsk's process group reaches the task too: blocked there.
        for s in [Signal::SIGINT, Signal::SIGTSTP, Signal::SIGTERM] {
            kill(pid, s).unwrap();
        }
        let fd = task.finish().unwrap();
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        // The task's own fds stayed in its own table: the returned one is the only fd here on
        // that namespace.
        let others: Vec<_> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| e.file_name() != fd.as_raw_fd().to_string().as_str())
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == link))
            .collect();
        assert!(others.is_empty(), "{others:?}");
        // Finished, the task stays stopped (its exit would compete with the container's init
        // for a CPU); dropped, it is killed and reaped (no zombie left behind).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        assert!(matches!(state, Some("T" | "t")), "{stat}");
        drop(task);
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        // Killed before nsk took the namespace (done or not), it is reported as such.
        let mut task = super::NetnsTask::start().unwrap();
        kill(nix::unistd::Pid::from_raw(task.pid()), Signal::SIGKILL).unwrap();
        assert_eq!(task.finish().err(), Some(nix::errno::Errno::ECANCELED));
    }

    #[test]
    fn a_vfork_spawn_runs_in_the_callers_memory_and_ends_with_its_code() {
        let mut seen = 0u32;
        let pid = super::spawn_vfork(&mut || {
            seen = 42;
            3
        })
        .unwrap();
        // The caller resumes once the child has ended; what it wrote is in the caller's memory.
        assert_eq!(seen, 42);
        assert_eq!(
            nix::sys::wait::waitpid(pid, None).unwrap(),
            nix::sys::wait::WaitStatus::Exited(pid, 3)
        );
    }

    #[test]
    fn the_argument_area_is_read_after_the_command_name() {
        let mut f: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        f[45] = "140733000000000".into();
        f[46] = "140733000000042".into();
        let stat = format!("42 (a) (b) c) {}", f.join(" "));
        assert_eq!(
            super::arg_area(&stat),
            Some((140733000000000, 140733000000042))
        );
        assert_eq!(super::arg_area("42 (x) S 1"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        let (s, e) = super::arg_area(&own).unwrap();
        assert!(e > s);
        // Found from argv, the area is the one the kernel reports.
        assert_eq!(super::arg_area_from_argv(), Some((s, e)));
    }

    #[test]
    fn the_bounding_set_keeps_exactly_the_mask_and_a_second_drop_changes_nothing() {
        // The bounding set is per thread: a thread of its own narrows only itself.
        std::thread::spawn(|| {
            let bnd = || {
                let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                let v = s.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap();
                u64::from_str_radix(v.trim(), 16).unwrap()
            };
            let before = bnd();
            use caps::Capability::{CAP_CHOWN, CAP_KILL, CAP_SETPCAP, CAP_SYS_ADMIN};
            assert_ne!(before & CAP_SYS_ADMIN.bitmask(), 0, "the tests run as root");
            super::drop_bounding_except(u64::MAX).unwrap();
            assert_eq!(bnd(), before);
            let keep = CAP_CHOWN.bitmask() | CAP_KILL.bitmask() | CAP_SETPCAP.bitmask();
            super::drop_bounding_except(keep).unwrap();
            assert_eq!(bnd(), before & keep);
            super::drop_bounding_except(keep).unwrap();
            assert_eq!(bnd(), before & keep);
        })
        .join()
        .unwrap();
    }
}

/// One classic-BPF seccomp filter as the kernel keeps it, and whether it logs.
#[derive(Clone)]
pub struct SeccompFilter {
    pub insns: Vec<libc::sock_filter>,
    pub log: bool,
}

const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
const PTRACE_SECCOMP_GET_METADATA: libc::c_uint = 0x420d;
const SECCOMP_FILTER_FLAG_LOG: libc::c_ulong = 2;

/// The seccomp filters of a ptrace-stopped tracee, oldest first (the kernel's index 0 is the
/// first filter installed; the order to install them in).
/// PTRACE_SECCOMP_GET_FILTER (CONFIG_CHECKPOINT_RESTORE) needs CAP_SYS_ADMIN and a tracer that
/// is not itself under seccomp.
pub fn seccomp_filters_of_tracee(pid: Pid) -> Result<Vec<SeccompFilter>, Errno> {
    let mut out = vec![];
    for index in 0.. {
        // SAFETY: with a NULL buffer the kernel only returns the filter's length.
        let n = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid.as_raw(),
                index as libc::c_ulong,
                std::ptr::null_mut::<libc::c_void>(),
            )
        };
        match Errno::result(n) {
            Err(Errno::ENOENT) => break,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let mut insns = vec![
            libc::sock_filter {
                code: 0,
                jt: 0,
                jf: 0,
                k: 0
            };
            n as usize
        ];
        // SAFETY: the buffer holds exactly the `n` instructions the kernel said the filter has.
        let r = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_FILTER,
                pid.as_raw(),
                index as libc::c_ulong,
                insns.as_mut_ptr(),
            )
        };
        if Errno::result(r)? != n {
            // The filter chain of a stopped tracee cannot change: anything else is a kernel
            // we do not understand.
            return Err(Errno::EIO);
        }
        #[repr(C)]
        struct Metadata {
            filter_off: u64,
            flags: u64,
        }
        let mut md = Metadata {
            filter_off: index,
            flags: 0,
        };
        // SAFETY: the kernel reads filter_off and writes flags within the size passed.
        let r = unsafe {
            libc::ptrace(
                PTRACE_SECCOMP_GET_METADATA,
                pid.as_raw(),
                std::mem::size_of::<Metadata>() as libc::c_ulong,
                &mut md as *mut Metadata,
            )
        };
        let log = Errno::result(r).is_ok() && md.flags & SECCOMP_FILTER_FLAG_LOG != 0;
        out.push(SeccompFilter { insns, log });
    }
    Ok(out)
}

/// seccomp(SECCOMP_SET_MODE_FILTER): confine the calling thread with `f` on top of its filters.
/// Needs no_new_privs or CAP_SYS_ADMIN.
pub fn seccomp_install(f: &SeccompFilter) -> Result<(), Errno> {
    let prog = libc::sock_fprog {
        len: f.insns.len() as libc::c_ushort,
        filter: f.insns.as_ptr() as *mut libc::sock_filter,
    };
    let flags = if f.log { SECCOMP_FILTER_FLAG_LOG } else { 0 };
    // SAFETY: `prog` points at `f.insns`, which outlives the call; the kernel copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    Errno::result(r).map(drop)
}

/// prlimit(2) read of another process's limit `resource`.
pub fn prlimit_of(pid: i32, resource: libc::__rlimit_resource_t) -> Result<libc::rlimit64, Errno> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a NULL new limit only reads; `old` is written within its size.
    let r = unsafe { libc::prlimit64(pid, resource, std::ptr::null(), &mut old) };
    Errno::result(r).map(|_| old)
}

/// setrlimit(2) of the calling process, with 64-bit values.
pub fn set_rlimit(resource: libc::__rlimit_resource_t, l: &libc::rlimit64) -> Result<(), Errno> {
    // SAFETY: `l` is read within its size; 0 as pid means the calling process.
    let r = unsafe { libc::prlimit64(0, resource, l, std::ptr::null_mut()) };
    Errno::result(r).map(drop)
}

/// A network namespace being made, with its loopback up, by a helper task while nsk goes on
/// with the state, the clone and the cgroups: making one is a few hundred microseconds of kernel
/// work that would otherwise sit on the way to the container's command. The task shares nsk's
/// memory (nothing is copied to start it) but is its own process with its own fd table, so the
/// namespace it enters is not nsk's and no fd of its reaches nsk's other children. It starts with
/// every signal blocked, dies with nsk (parent-death signal), makes raw system calls only
/// (rustix: no libc, so no errno, no allocation, no lock of nsk's: a fork while it runs inherits
/// no lock it holds), and once the namespace is ready it stops itself; `finish` then opens the
/// namespace through /proc. Dropped, finished or not, it is killed and reaped.
pub struct NetnsTask {
    pid: libc::pid_t,
    /// The task's stack, and what it reads and reports through (minus an errno on failure):
    /// both kept, unmoved, until it is reaped.
    _stack: Vec<u8>,
    arg: Box<NetnsTaskArg>,
    reaped: bool,
}

struct NetnsTaskArg {
    /// NETNS_PENDING until the task fails (minus its errno).
    out: std::sync::atomic::AtomicI64,
    /// nsk's PID: the task's parent, unless nsk died before the task armed its death signal.
    parent: libc::pid_t,
}

const NETNS_TASK_STACK: usize = 64 << 10;
const NETNS_PENDING: i64 = i64::MIN;

impl NetnsTask {
    pub fn start() -> Result<NetnsTask, Errno> {
        use nix::sys::signal::{SigSet, SigmaskHow};
        let mut stack: Vec<u8> = Vec::with_capacity(NETNS_TASK_STACK);
        let arg = Box::new(NetnsTaskArg {
            out: std::sync::atomic::AtomicI64::new(NETNS_PENDING),
            parent: std::process::id() as libc::pid_t,
        });
        // The stack grows down from the end of the buffer, 16-byte aligned.
        let top = (stack.as_mut_ptr() as usize + NETNS_TASK_STACK) & !15;
        let argp = &*arg as *const NetnsTaskArg as *mut libc::c_void;
        // Every signal blocked in the task from its first instruction (a Ctrl-C or a SIGTSTP for
        // nsk's process group must not end or stop it half-way): blocked here around the clone,
        // as posix_spawn does, and nsk's own mask put back right after.
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old),
        )?;
        // SAFETY: the task runs `netns_task` on its own stack (`stack`, which outlives it: kept in
        // the returned value until it is reaped) and reads and writes only `arg` (likewise kept).
        // It shares the address space (CLONE_VM) but touches nothing else of nsk's: see
        // `netns_task`. No exit signal: it is waited for with __WCLONE.
        let pid =
            unsafe { libc::clone(netns_task, top as *mut libc::c_void, libc::CLONE_VM, argp) };
        let clone_err = Errno::last();
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        if pid < 0 {
            return Err(clone_err);
        }
        Ok(NetnsTask {
            pid,
            _stack: stack,
            arg,
            reaped: false,
        })
    }

    /// Kill the task and leave it unreaped, for a process about to exit: the task may still be
    /// in the middle of making the namespace, which would be waited for; once nsk has exited,
    /// it dies (its stack, in the memory it shares, stays mapped until then) and its new parent
    /// reaps it.
    pub fn abandon(self) {
        self.kill();
        std::mem::forget(self);
    }

    /// SIGKILL to the task (stopped, or still at work).
    fn kill(&self) {
        let _ = nix::sys::signal::kill(Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGKILL);
    }

    /// Kill the task and reap it.
    fn kill_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        self.kill();
        let flags = nix::sys::wait::WaitPidFlag::__WCLONE;
        while let Err(Errno::EINTR) = nix::sys::wait::waitpid(Pid::from_raw(self.pid), Some(flags))
        {
        }
        self.reaped = true;
    }

    /// The namespace, once the task has made it; ECANCELED when the task was killed first.
    /// The task stays stopped in it until this is dropped (killed and reaped then): its exit
    /// costs nothing on the way to the container's command.
    pub fn finish(&mut self) -> Result<OwnedFd, Errno> {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WSTOPPED | WaitPidFlag::__WCLONE;
        let ended = loop {
            match waitid(Id::Pid(Pid::from_raw(self.pid)), flags) {
                Err(Errno::EINTR) => continue,
                r => break r,
            }
        };
        match ended {
            Ok(WaitStatus::Stopped(..)) => {
                // Stopped only once the namespace is ready: the task is in it until killed.
                nix::fcntl::open(
                    format!("/proc/{}/ns/net", self.pid).as_str(),
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
            }
            Ok(_) => {
                // Ended (reaped by this wait): failed with the errno it reported, or killed.
                self.reaped = true;
                match self.arg.out.load(std::sync::atomic::Ordering::Acquire) {
                    NETNS_PENDING => Err(Errno::ECANCELED),
                    e => Err(Errno::from_raw((-e) as i32)),
                }
            }
            Err(e) => {
                self.kill_and_reap();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
impl NetnsTask {
    fn pid(&self) -> libc::pid_t {
        self.pid
    }
}

impl Drop for NetnsTask {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// The helper task of `NetnsTask::start`.
extern "C" fn netns_task(arg: *mut libc::c_void) -> libc::c_int {
    use rustix::process::Signal;
    use rustix::process::{getpid, getppid, kill_process, set_parent_process_death_signal};
    // SAFETY: `arg` is the NetnsTaskArg that NetnsTask keeps alive until this task is reaped.
    let arg = unsafe { &*(arg as *const NetnsTaskArg) };
    // Dies with nsk; nsk may have died before this was armed: then it ends at once.
    let orphaned = set_parent_process_death_signal(Some(Signal::KILL)).is_err()
        || getppid().map(|p| p.as_raw_pid()) != Some(arg.parent);
    if orphaned {
        return 0;
    }
    if let Err(e) = make_netns() {
        arg.out.store(
            -(e.raw_os_error() as i64),
            std::sync::atomic::Ordering::Release,
        );
        return 0;
    }
    // Ready: stopped until nsk has opened the namespace through /proc and kills this task (a
    // SIGCONT from elsewhere only brings it back here).
    loop {
        let _ = kill_process(getpid(), Signal::STOP);
    }
}

/// In the helper task: a new network namespace with its loopback up.
fn make_netns() -> rustix::io::Result<()> {
    // SAFETY: the task is a process of its own (no CLONE_THREAD): only it enters the namespace.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET)? };
    raw_loopback_up()
}

fn loopback_up_raw(sock: RawFd) -> rustix::io::Result<()> {
    use rustix::ioctl::{ioctl, Opcode, Updater};
    const GET: Opcode = libc::SIOCGIFFLAGS as Opcode;
    const SET: Opcode = libc::SIOCSIFFLAGS as Opcode;
    // SAFETY: `sock` is open for the duration of this call.
    let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(sock) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS take a struct ifreq, read and written in place.
    unsafe {
        ioctl(fd, Updater::<GET, libc::ifreq>::new(&mut ifr))?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        ioctl(fd, Updater::<SET, libc::ifreq>::new(&mut ifr))?;
    }
    Ok(())
}
