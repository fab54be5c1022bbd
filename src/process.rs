//! Facts about host processes read from /proc, race-aware: a PID can vanish or be reused
//! between two reads, so callers compare start times.

use crate::error::{Error, Result};
use std::fs;

/// Start time of `pid` (clock ticks after boot), the identity that survives PID reuse checks.
pub fn start_time(pid: i32) -> Result<u64> {
    Ok(stat(pid)?.start_time)
}

/// This process's start time, read once per process (a fork reads its own).
pub fn own_start_time() -> Result<u64> {
    static OWN: std::sync::Mutex<Option<(u32, u64)>> = std::sync::Mutex::new(None);
    let me = std::process::id();
    let mut own = OWN.lock().unwrap_or_else(|e| e.into_inner());
    match *own {
        Some((pid, t)) if pid == me => Ok(t),
        _ => {
            let t = start_time(me as i32)?;
            *own = Some((me, t));
            Ok(t)
        }
    }
}

/// Is `pid` still the process that started at `start`, and not a zombie?
pub fn is_running(pid: i32, start: u64) -> bool {
    stat(pid).is_ok_and(|st| st.start_time == start && st.state != 'Z' && st.state != 'X')
}

/// The fields of /proc/PID/stat that nsk uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub state: char,
    /// PF_* flags (field 9): PF_KTHREAD marks a kernel thread.
    pub flags: u64,
    pub start_time: u64,
}

pub fn stat(pid: i32) -> Result<Stat> {
    ProcDir::open(pid)?.stat()
}

/// ENOENT under /proc/PID means the process is gone: say ESRCH.
fn gone(pid: i32, file: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::Os {
            what: format!("process {pid}"),
            errno: nix::errno::Errno::ESRCH,
        },
        _ => Error::Io {
            what: format!("cannot read /proc/{pid}/{file}"),
            source: e,
        },
    }
}

/// One process's /proc directory, held open. Every read through it is of that process: once
/// it has exited, reads fail (ESRCH) even if its PID already names another process. Scans of
/// every process use it too, since each read then walks one path component, not three.
#[derive(Debug)]
pub struct ProcDir {
    pub pid: i32,
    fd: std::os::fd::OwnedFd,
}

impl ProcDir {
    pub fn open(pid: i32) -> Result<ProcDir> {
        use nix::fcntl::OFlag;
        let fd = nix::fcntl::open(
            format!("/proc/{pid}").as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::Os {
            what: format!("process {pid}"),
            errno: if e == nix::errno::Errno::ENOENT {
                nix::errno::Errno::ESRCH
            } else {
                e
            },
        })?;
        Ok(ProcDir { pid, fd })
    }

    /// The text of /proc/PID/`file`.
    pub fn read(&self, file: &str) -> Result<String> {
        String::from_utf8(self.read_bytes(file)?)
            .map_err(|_| Error::failed(format!("cannot read /proc/{}/{file}: not UTF-8", self.pid)))
    }

    /// Open /proc/PID/`rel` (a namespace file, `root`) with `flags` (O_CLOEXEC added).
    pub fn open_at(&self, rel: &str, flags: nix::fcntl::OFlag) -> Result<std::os::fd::OwnedFd> {
        nix::fcntl::openat(
            &self.fd,
            rel,
            flags | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| gone(self.pid, rel, e.into()))
    }

    /// The target of the link /proc/PID/`rel` (`cwd`, `exe`).
    pub fn read_link(&self, rel: &str) -> Result<std::path::PathBuf> {
        nix::fcntl::readlinkat(&self.fd, rel)
            .map(std::path::PathBuf::from)
            .map_err(|e| gone(self.pid, rel, e.into()))
    }

    /// The raw bytes of /proc/PID/`file` (environ, cmdline).
    pub fn read_bytes(&self, file: &str) -> Result<Vec<u8>> {
        let fd = self.open_at(file, nix::fcntl::OFlag::O_RDONLY)?;
        read_all(fs::File::from(fd)).map_err(|e| gone(self.pid, file, e))
    }

    pub fn stat(&self) -> Result<Stat> {
        parse_stat(&self.read("stat")?)
            .ok_or_else(|| Error::failed(format!("cannot parse /proc/{}/stat", self.pid)))
    }

    /// Inodes of its namespaces, in `ns::KINDS` order (None where unreadable: a kernel
    /// thread, a zombie, EACCES).
    pub fn ns_inodes(&self) -> [Option<u64>; 8] {
        let mut buf = [0u8; 64];
        crate::ns::KINDS.map(|k| self.ns_inode(&k, &mut buf))
    }

    pub fn ns_inode(&self, kind: &crate::ns::NsKind, buf: &mut [u8; 64]) -> Option<u64> {
        crate::sys::readlinkat_into(&self.fd, kind.link, buf)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(parse_ns_link)
    }
}

/// Everything a /proc (or cgroup) file holds. Such files report size 0, so this reads in
/// page-sized steps from the start rather than through read_to_end's size query and small probe
/// reads: a scan of every process reads several files per process.
pub fn read_all(mut f: fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(4096);
        }
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        match f.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => return Err(e),
        }
    }
}

/// Fields are counted after the last ')': the command name (field 2) may hold spaces and
/// parentheses.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().take(20).collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        flags: f.get(6)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
    })
}

/// /proc/PID/environ: NUL-separated KEY=VALUE entries, in the process's own order.
pub fn parse_environ(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|e| e.contains(&b'=') && e.first() != Some(&b'='))
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

/// The arguments in /proc/PID/cmdline: NUL-separated, empty ones dropped, and bytes that are
/// not UTF-8 replaced (a process may write anything there).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&c| c == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Field 22 of /proc/PID/stat.
pub fn parse_start_time(stat: &str) -> Option<u64> {
    parse_stat(stat).map(|s| s.start_time)
}

/// A process's credentials, from /proc/PID/status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creds {
    /// Real ids (the ones a joined command gets).
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    /// The PID in each PID namespace, outermost first (NSpid); empty on kernels before 4.1.
    pub nspid: Vec<i32>,
    pub groups: Vec<u32>,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    /// Absent on old kernels: everything.
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
}

/// The credential lines of /proc/PID/status (ids, groups, capability sets, NoNewPrivs, NSpid).
/// A line-oriented read of the few fields `enter` needs: a full parse of every field costs
/// more than everything else `enter` does before it forks.
pub fn parse_creds(status: &str) -> Option<Creds> {
    let mut c = Creds {
        uid: u32::MAX,
        gid: u32::MAX,
        euid: u32::MAX,
        egid: u32::MAX,
        nspid: vec![],
        groups: vec![],
        cap_inh: 0,
        cap_prm: 0,
        cap_eff: 0,
        cap_bnd: u64::MAX,
        cap_amb: 0,
        no_new_privs: false,
    };
    let (mut have_uid, mut have_gid) = (false, false);
    for line in status.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        let hex = || u64::from_str_radix(v, 16).ok();
        match k {
            "Uid" => {
                let mut f = v.split_whitespace();
                c.uid = f.next()?.parse().ok()?;
                c.euid = f.next()?.parse().ok()?;
                have_uid = true;
            }
            "Gid" => {
                let mut f = v.split_whitespace();
                c.gid = f.next()?.parse().ok()?;
                c.egid = f.next()?.parse().ok()?;
                have_gid = true;
            }
            "NSpid" => {
                c.nspid = v
                    .split_whitespace()
                    .map(|p| p.parse().ok())
                    .collect::<Option<Vec<i32>>>()?;
            }
            "Groups" => {
                c.groups = v
                    .split_whitespace()
                    .map(|g| g.parse().ok())
                    .collect::<Option<Vec<u32>>>()?;
            }
            "CapInh" => c.cap_inh = hex()?,
            "CapPrm" => c.cap_prm = hex()?,
            "CapEff" => c.cap_eff = hex()?,
            "CapBnd" => c.cap_bnd = hex()?,
            "CapAmb" => c.cap_amb = hex()?,
            "NoNewPrivs" => c.no_new_privs = v != "0",
            _ => {}
        }
    }
    (have_uid && have_gid).then_some(c)
}

/// Namespace inode of `pid` for `kind` ("pid", "mnt", ...); None if unreadable or gone.
pub fn ns_inode(pid: i32, kind: &str) -> Option<u64> {
    let k = crate::ns::kind(kind)?;
    ProcDir::open(pid).ok()?.ns_inode(k, &mut [0u8; 64])
}

/// The parent PID (field 4) from /proc/PID/stat text; the command name may hold ')' and spaces.
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The command name (field 2) from /proc/PID/stat text: between the first '(' and the last ')'.
pub fn parse_comm(stat: &str) -> Option<String> {
    let (a, b) = (stat.find('(')?, stat.rfind(')')?);
    (a < b).then(|| stat[a + 1..b].to_string())
}

/// "pid:[4026531836]" → 4026531836.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    s.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// A process pinned by pidfd: the handle is opened first and the start time checked after, so
/// a PID that was reused in between is never signalled. None if the process is gone.
pub fn pin(pid: i32, start: u64) -> Option<std::os::fd::OwnedFd> {
    let fd = crate::sys::pidfd_open(pid).ok()?;
    is_running(pid, start).then_some(fd)
}

/// Wait until a pinned process exits; false on timeout.
pub fn wait_exit(pidfd: &std::os::fd::OwnedFd, timeout: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        let mut p = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut p, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) if left.is_zero() => return false,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_environ() {
        let st = parse_stat("42 (a) b) c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0")
            .unwrap();
        assert_eq!((st.state, st.flags, st.start_time), ('S', 4194560, 777));
        assert_eq!(parse_stat("42 (x) S 1"), None);
        assert_eq!(parse_ppid("42 (a) b) c) S 17 42"), Some(17));
        assert_eq!(parse_ppid("42 (x) S"), None);
        assert_eq!(parse_ppid("garbage"), None);
        assert_eq!(
            parse_comm("42 (a) b) c) S 17 42").as_deref(),
            Some("a) b) c")
        );
        assert_eq!(parse_comm("42 )x( S"), None);
        // The live process: its parent, its name, a user process (no PF_KTHREAD), running or
        // (its main thread, while a test thread reads this) asleep.
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let me = parse_stat(&text).unwrap();
        assert_eq!(parse_ppid(&text), Some(nix::unistd::getppid().as_raw()));
        assert_eq!(
            parse_comm(&text).unwrap(),
            std::fs::read_to_string("/proc/self/comm")
                .unwrap()
                .trim_end()
        );
        assert!(
            "RS".contains(me.state) && me.flags & 0x0020_0000 == 0,
            "{me:?}"
        );
        assert_eq!(parse_cmdline(b"sh\0-c\0\xffx\0"), ["sh", "-c", "\u{fffd}x"]);
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(
            parse_environ(b"A=1\0B=x=y\0junk\0=bad\0\0C=\0"),
            ["A=1", "B=x=y", "C="]
        );
    }

    #[test]
    fn creds_from_status() {
        let text = "Name:\tsh\nUid:\t33\t33\t33\t33\nGid:\t4\t4\t4\t4\nGroups:\t4 27 \n\
CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n\
CapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        let c = parse_creds(text).unwrap();
        assert_eq!((c.uid, c.gid, c.groups.clone()), (33, 4, vec![4, 27]));
        assert_eq!(
            (c.cap_prm, c.cap_eff, c.cap_inh),
            (0xa80425fb, 0xa80425fb, 0)
        );
        assert_eq!(c.cap_bnd, 0xa80425fb);
        assert!(c.no_new_privs);
        assert_eq!(parse_creds("Name:\tx\n"), None);
        assert_eq!(parse_creds("Uid:\tx\nGid:\t0\n"), None);
        let c = parse_creds("Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nNSpid:\t4242\t7\t1\n").unwrap();
        assert_eq!((c.uid, c.euid, c.gid, c.egid), (1, 2, 5, 6));
        assert_eq!(c.nspid, [4242, 7, 1]);
        // The live process agrees with the kernel's own answers.
        let mine = parse_creds(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap();
        assert_eq!(
            (mine.uid, mine.euid, mine.gid, mine.egid),
            (
                nix::unistd::getuid().as_raw(),
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getgid().as_raw(),
                nix::unistd::getegid().as_raw()
            )
        );
        let groups: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        assert_eq!(mine.groups, groups);
        assert_eq!(mine.nspid.first().copied(), Some(std::process::id() as i32));
    }

    #[test]
    fn stat_with_odd_comm() {
        let s =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(s), Some(987654));
        assert_eq!(parse_start_time("garbage"), None);
    }

    #[test]
    fn ns_links() {
        assert_eq!(parse_ns_link("pid:[4026531836]"), Some(4026531836));
        assert_eq!(parse_ns_link("pid:4026531836"), None);
    }

    #[test]
    fn self_start_time() {
        assert!(start_time(std::process::id() as i32).unwrap() > 0);
        assert!(start_time(i32::MAX).is_err());
        let me = start_time(std::process::id() as i32).unwrap();
        assert_eq!(own_start_time().unwrap(), me);
        assert_eq!(own_start_time().unwrap(), me, "the kept value");
    }

    #[test]
    fn a_held_proc_dir_reads_its_process_and_never_another() {
        let me = std::process::id() as i32;
        let d = ProcDir::open(me).unwrap();
        // The same as reading by path.
        let by_path = parse_stat(&fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert_eq!(d.stat().unwrap().start_time, by_path.start_time);
        assert_eq!(start_time(me).unwrap(), by_path.start_time);
        let link = fs::read_link("/proc/self/ns/mnt").unwrap();
        let mnt = parse_ns_link(&link.to_string_lossy());
        assert!(mnt.is_some());
        assert_eq!(d.ns_inodes()[6], mnt);
        assert_eq!(ns_inode(me, "mnt"), mnt);
        assert_eq!(ns_inode(me, "bogus"), None);
        assert!(!d.read("cgroup").unwrap().is_empty());
        // Once the process is gone (reaped: its PID is free for another), reads fail with ESRCH.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let d = ProcDir::open(child.id() as i32).unwrap();
        assert!(d.stat().is_ok());
        child.wait().unwrap();
        assert_eq!(
            d.stat().unwrap_err().errno(),
            Some(nix::errno::Errno::ESRCH)
        );
        assert_eq!(d.ns_inodes(), [None; 8]);
        assert_eq!(
            ProcDir::open(i32::MAX).err().and_then(|e| e.errno()),
            Some(nix::errno::Errno::ESRCH)
        );
    }
}
