//! What confines a running process, read on the host side, and how a process that joins it takes
//! the same confinement: its seccomp filters, its LSM label (AppArmor profile or SELinux
//! context), rlimits, oom_score_adj and umask. Ids, capabilities and no_new_privs come with the
//! credentials (`process::Creds`).
//!
//! Seccomp filters are copied from the process itself, through ptrace, as CRIU dumps them: what
//! nsk gives the command is the filter the kernel enforces on the target, whichever runtime,
//! config file or library installed it, and whether or not a config exists at all (a process
//! that confined itself, a runtime whose bundle is gone). The cost is a stop of the target's
//! main thread for the few system calls the copy takes.

use crate::error::{Error, Result};
use crate::process::ProcDir;
use crate::sys::{self, SeccompFilter};
use nix::sys::ptrace;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// The seccomp mode of a process, from /proc/PID/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    Disabled,
    Strict,
    Filter,
}

impl SeccompMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SeccompMode::Disabled => "disabled",
            SeccompMode::Strict => "strict",
            SeccompMode::Filter => "filter",
        }
    }
}

/// The seccomp lines of /proc/PID/status: the mode, and the number of filters (Linux 5.9+).
pub fn parse_seccomp(status: &str) -> (Option<SeccompMode>, Option<u32>) {
    let (mut mode, mut count) = (None, None);
    for line in status.lines() {
        match line.split_once(':') {
            Some(("Seccomp", v)) => {
                mode = match v.trim() {
                    "0" => Some(SeccompMode::Disabled),
                    "1" => Some(SeccompMode::Strict),
                    "2" => Some(SeccompMode::Filter),
                    _ => None,
                }
            }
            Some(("Seccomp_filters", v)) => count = v.trim().parse().ok(),
            _ => {}
        }
    }
    (mode, count)
}

/// The umask line of /proc/PID/status (Linux 4.7+).
pub fn parse_umask(status: &str) -> Option<u32> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix("Umask:")?;
        u32::from_str_radix(v.trim(), 8).ok()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lsm {
    AppArmor,
    SELinux,
}

/// A process's LSM label, where an LSM that labels processes is active.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Label {
    pub lsm: Lsm,
    /// The AppArmor profile ("docker-default") or the SELinux context.
    pub value: String,
    /// AppArmor's mode ("enforce", "complain"), shown by inspect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The active major LSMs, from securityfs ("lockdown,capability,apparmor").
fn active_lsms() -> String {
    std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default()
}

/// The AppArmor profile in attr/current: "docker-default (enforce)" → ("docker-default",
/// "enforce"); "unconfined" has none.
pub fn parse_apparmor(current: &str) -> Option<(String, Option<String>)> {
    let s = current.trim_end_matches(['\0', '\n']).trim();
    if s.is_empty() || s == "unconfined" {
        return None;
    }
    match s.rsplit_once(" (") {
        Some((p, m)) if m.ends_with(')') => {
            Some((p.to_string(), Some(m.trim_end_matches(')').to_string())))
        }
        _ => Some((s.to_string(), None)),
    }
}

/// The label of the process behind `dir`, if an LSM that labels processes is active and the
/// process has a label other than unconfined.
pub fn label_of(dir: &ProcDir) -> Option<Label> {
    let lsms = active_lsms();
    let has = |n: &str| lsms.split(',').any(|x| x.trim() == n);
    if has("apparmor") {
        let cur = dir
            .read("attr/apparmor/current")
            .or_else(|_| dir.read("attr/current"))
            .ok()?;
        let (value, mode) = parse_apparmor(&cur)?;
        return Some(Label {
            lsm: Lsm::AppArmor,
            value,
            mode,
        });
    }
    if has("selinux") {
        let cur = dir.read("attr/current").ok()?;
        let v = cur.trim_end_matches(['\0', '\n']).trim();
        return (!v.is_empty()).then(|| Label {
            lsm: Lsm::SELinux,
            value: v.to_string(),
            mode: None,
        });
    }
    None
}

/// Everything that confines a process besides its credentials.
pub struct Confinement {
    /// Oldest first: the order to install them in.
    pub seccomp: Vec<SeccompFilter>,
    pub label: Option<Label>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit64)>,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
}

const RLIMIT_COUNT: libc::__rlimit_resource_t = 16;

/// Read the confinement of the process behind `dir` (whose /proc/PID/status is `status`).
/// Refuses, naming it, what cannot be given to another process: strict seccomp, and seccomp
/// filters the kernel will not hand out.
pub fn read(dir: &ProcDir, status: &str) -> Result<Confinement> {
    let pid = dir.pid;
    let seccomp =
        match parse_seccomp(status).0 {
            None | Some(SeccompMode::Disabled) => vec![],
            Some(SeccompMode::Strict) => return Err(Error::failed(
                "it runs under strict seccomp (mode 1), which cannot be given to another process \
                 (--privileged enters without it)",
            )),
            Some(SeccompMode::Filter) => copy_seccomp(pid)?,
        };
    let mut rlimits = vec![];
    for r in 0..RLIMIT_COUNT {
        if let Ok(l) = sys::prlimit_of(pid, r) {
            rlimits.push((r, l));
        }
    }
    Ok(Confinement {
        seccomp,
        label: label_of(dir),
        rlimits,
        oom_score_adj: dir
            .read("oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        umask: parse_umask(status),
    })
}

/// Stop the target's main thread under ptrace just long enough to read its seccomp filters.
fn copy_seccomp(pid: i32) -> Result<Vec<SeccompFilter>> {
    let p = Pid::from_raw(pid);
    let refuse = |why: String| {
        Error::failed(format!(
            "cannot copy its seccomp filters: {why} (--privileged enters without them)"
        ))
    };
    ptrace::seize(p, ptrace::Options::empty()).map_err(|e| {
        refuse(match e {
            nix::errno::Errno::EPERM => {
                "ptrace was refused (is it traced by another process?)".into()
            }
            e => format!("ptrace: {}", crate::error::errno_text(e)),
        })
    })?;
    // Detached on every path: with the signal a stop held back, so it is not lost. A tracee
    // that never stopped cannot be detached; it is detached when nsk exits, which follows.
    struct Attached {
        pid: Pid,
        stopped: bool,
        signal: Option<nix::sys::signal::Signal>,
    }
    impl Drop for Attached {
        fn drop(&mut self) {
            if self.stopped {
                let _ = ptrace::detach(self.pid, self.signal);
            }
        }
    }
    let mut a = Attached {
        pid: p,
        stopped: false,
        signal: None,
    };
    ptrace::interrupt(p).map_err(|e| refuse(format!("ptrace: {}", crate::error::errno_text(e))))?;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match waitpid(p, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) => {
                if Instant::now() > deadline {
                    return Err(refuse(
                        "it did not stop for the copy within 1 s (is it frozen?)".into(),
                    ));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Ok(WaitStatus::PtraceEvent(..)) => {
                a.stopped = true;
                break;
            }
            // A signal arrived first: it is handed back at detach.
            Ok(WaitStatus::Stopped(_, sig)) => {
                a.stopped = true;
                a.signal = Some(sig);
                break;
            }
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
            | Err(nix::errno::Errno::ECHILD) => return Err(Error::failed("the process exited")),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(refuse(format!("wait: {}", crate::error::errno_text(e)))),
        }
    }
    sys::seccomp_filters_of_tracee(p).map_err(|e| {
        refuse(match e {
            nix::errno::Errno::EINVAL | nix::errno::Errno::EIO => {
                "this kernel does not hand them out (PTRACE_SECCOMP_GET_FILTER needs CONFIG_CHECKPOINT_RESTORE)".into()
            }
            nix::errno::Errno::EMEDIUMTYPE => "one of them is not a classic BPF filter".into(),
            nix::errno::Errno::EACCES => "nsk itself runs under seccomp".into(),
            e => crate::error::errno_text(e),
        })
    })
}

/// In the joining process, before it joins anything (the host's /proc is still its /proc): the
/// target's umask, rlimits (never above them; a hard limit nsk may not raise is capped at its
/// own, which confines more), oom_score_adj (lowering it needs CAP_SYS_RESOURCE: where that is
/// missing the value stays higher, which confines more) and the LSM label to take at exec.
pub fn apply_early(c: &Confinement) -> std::result::Result<(), String> {
    if let Some(u) = c.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(u));
    }
    for (r, want) in &c.rlimits {
        if sys::set_rlimit(*r, want).is_ok() {
            continue;
        }
        let own = sys::prlimit_of(0, *r).map_err(|e| format!("cannot read rlimit {r}: {e}"))?;
        let capped = libc::rlimit64 {
            rlim_cur: want.rlim_cur.min(own.rlim_max),
            rlim_max: want.rlim_max.min(own.rlim_max),
        };
        sys::set_rlimit(*r, &capped).map_err(|e| {
            format!(
                "cannot set rlimit {r} to the target's: {}",
                crate::error::errno_text(e)
            )
        })?;
    }
    if let Some(adj) = c.oom_score_adj {
        match std::fs::write("/proc/self/oom_score_adj", adj.to_string()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            Err(e) => return Err(format!("cannot set oom_score_adj to {adj}: {e}")),
        }
    }
    if let Some(l) = &c.label {
        let (files, value): (&[&str], String) = match l.lsm {
            Lsm::AppArmor => (
                &[
                    "/proc/thread-self/attr/apparmor/exec",
                    "/proc/thread-self/attr/exec",
                ],
                format!("exec {}", l.value),
            ),
            Lsm::SELinux => (&["/proc/thread-self/attr/exec"], l.value.clone()),
        };
        let mut last = None;
        for f in files {
            match std::fs::write(f, &value) {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(format!(
                "cannot give the command the target's {} label {}: {e} (--privileged enters without it)",
                match l.lsm {
                    Lsm::AppArmor => "AppArmor",
                    Lsm::SELinux => "SELinux",
                },
                l.value
            ));
        }
    }
    Ok(())
}

/// Install the target's seccomp filters on the calling thread, oldest first.
pub fn apply_seccomp(c: &Confinement) -> std::result::Result<(), String> {
    for f in &c.seccomp {
        sys::seccomp_install(f).map_err(|e| {
            format!(
                "cannot install the target's seccomp filter: {}",
                crate::error::errno_text(e)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let s = "Name:\tsh\nUmask:\t0027\nSeccomp:\t2\nSeccomp_filters:\t3\nNoNewPrivs:\t1\n";
        assert_eq!(parse_seccomp(s), (Some(SeccompMode::Filter), Some(3)));
        assert_eq!(parse_umask(s), Some(0o027));
        assert_eq!(
            parse_seccomp("Seccomp:\t0\n"),
            (Some(SeccompMode::Disabled), None)
        );
        assert_eq!(parse_seccomp("Seccomp:\tx\n"), (None, None));
        assert_eq!(parse_umask("Umask:\t999\n"), None);
    }

    #[test]
    fn apparmor_labels() {
        assert_eq!(
            parse_apparmor("docker-default (enforce)\n"),
            Some(("docker-default".into(), Some("enforce".into())))
        );
        assert_eq!(parse_apparmor("unconfined\n"), None);
        assert_eq!(parse_apparmor("\0"), None);
        assert_eq!(
            parse_apparmor("/usr/bin/x (complain)"),
            Some(("/usr/bin/x".into(), Some("complain".into())))
        );
        assert_eq!(parse_apparmor("p"), Some(("p".into(), None)));
    }

    /// A child that confines itself with a filter is copied filter for filter, and the copy
    /// leaves it running.
    #[test]
    fn copies_the_filters_of_a_child() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "reading seccomp filters needs root (CAP_SYS_ADMIN): run the tests as root"
        );
        // A filter that allows everything but returns EPERM for getppid (110 on x86_64).
        let allow = libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        };
        let f = SeccompFilter {
            insns: vec![
                libc::sock_filter {
                    code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
                    jt: 0,
                    jf: 0,
                    k: 0,
                },
                libc::sock_filter {
                    code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                    jt: 0,
                    jf: 1,
                    k: libc::SYS_getppid as u32,
                },
                libc::sock_filter {
                    code: (libc::BPF_RET | libc::BPF_K) as u16,
                    jt: 0,
                    jf: 0,
                    k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                },
                allow,
            ],
            log: false,
        };
        let (r, w) = nix::unistd::pipe().unwrap();
        let child = match sys::fork().unwrap() {
            None => {
                let ok = nix::sys::prctl::set_no_new_privs().is_ok()
                    && sys::seccomp_install(&f).is_ok()
                    && sys::seccomp_install(&SeccompFilter {
                        insns: vec![allow],
                        log: true,
                    })
                    .is_ok();
                let _ = nix::unistd::write(&w, if ok { b"1" } else { b"0" });
                std::thread::sleep(Duration::from_secs(10));
                sys::exit_now(0)
            }
            Some(p) => p,
        };
        drop(w);
        let mut b = [0u8; 1];
        nix::unistd::read(&r, &mut b).unwrap();
        assert_eq!(&b, b"1");
        let got = copy_seccomp(child.as_raw()).unwrap();
        assert_eq!(got.len(), 2);
        let ins = |f: &SeccompFilter| {
            f.insns
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>()
        };
        assert_eq!(ins(&got[0]), ins(&f), "oldest first");
        assert!(!got[0].log);
        assert_eq!(got[1].insns.len(), 1);
        assert!(got[1].log);
        // Still running, not left stopped or traced.
        let st = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
        assert!(st.contains("TracerPid:\t0"), "{st}");
        assert!(!st.contains("State:\tt"), "{st}");
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(child, None);
    }
}
