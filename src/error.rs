//! The one library error type. Every variant renders as a single line that names what failed
//! (operation plus the PID, path or value involved) and why; the binary prefixes `nsk: `.

use nix::errno::Errno;
use std::fmt;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed; `what` says which operation on which object.
    #[error("{what}: {}", errno_text(*.errno))]
    Os { what: String, errno: Errno },
    /// A file operation failed.
    #[error("{what}: {}", io_text(.source))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Bad input from the user: the message is complete and names the value.
    #[error("{0}")]
    Invalid(String),
    /// A condition that is not a system error (a name in use, a container not running, ...).
    #[error("{0}")]
    Failed(String),
    /// What the user named does not exist ("no such container: x"); `rm -f` ignores it.
    #[error("{0}")]
    NotFound(String),
    /// The command could not be started; nsk exits with `code` (126, 127) after the message.
    #[error("{msg}")]
    Exit { msg: String, code: i32 },
    /// The kernel refused a value written to a cgroup file: the file, the value, the errno, and
    /// (`hint`) what that refusal means where it is not obvious. `context` is what was being
    /// done, as a prefix ("cannot limit web: ").
    #[error(
        "{context}cannot write '{value}' to {}: {}{}",
        .path.display(),
        errno_text(*.errno),
        .hint.as_ref().map_or_else(String::new, |h| format!(" ({h})"))
    )]
    CgroupWrite {
        context: String,
        path: PathBuf,
        value: String,
        errno: Errno,
        hint: Option<String>,
    },
    /// Standard output was closed (`nsk ps | head`): the output ends there and nsk exits with
    /// success, saying nothing.
    #[error("standard output was closed")]
    OutputClosed,
}

impl Error {
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Error::Invalid(msg.to_string())
    }
    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::Failed(msg.to_string())
    }
    /// A failed write of `value` to the cgroup file `path`.
    pub fn cgroup_write(path: &std::path::Path, value: &str, e: std::io::Error) -> Self {
        Error::CgroupWrite {
            context: String::new(),
            path: path.to_path_buf(),
            value: value.to_string(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            hint: None,
        }
    }
    /// The exit code nsk returns for this error: 125 unless the error carries its own, 0 when
    /// the reader of its output went away.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exit { code, .. } => *code,
            Error::OutputClosed => 0,
            _ => 125,
        }
    }
    /// Prefix the message with what was being done: "cannot import x.tar: <the error>".
    pub fn context(self, what: impl fmt::Display) -> Self {
        match self {
            Error::Os { what: w, errno } => Error::Os {
                what: format!("{what}: {w}"),
                errno,
            },
            Error::Io { what: w, source } => Error::Io {
                what: format!("{what}: {w}"),
                source,
            },
            Error::Invalid(m) => Error::Invalid(format!("{what}: {m}")),
            Error::Failed(m) => Error::Failed(format!("{what}: {m}")),
            Error::NotFound(m) => Error::NotFound(format!("{what}: {m}")),
            Error::Exit { msg, code } => Error::Exit {
                msg: format!("{what}: {msg}"),
                code,
            },
            Error::CgroupWrite {
                context,
                path,
                value,
                errno,
                hint,
            } => Error::CgroupWrite {
                context: format!("{what}: {context}"),
                path,
                value,
                errno,
                hint,
            },
            Error::OutputClosed => Error::OutputClosed,
        }
    }
    /// The errno behind the error, if it is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Os { errno, .. } | Error::CgroupWrite { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }
}

/// Lower-case strerror text, with a hint where the fix is known.
pub fn errno_text(e: Errno) -> String {
    match e {
        Errno::EPERM => "operation not permitted (needs root, or --userns)".into(),
        Errno::EACCES => "permission denied".into(),
        Errno::ENOENT => "no such file or directory".into(),
        Errno::ESRCH => "no such process".into(),
        _ => {
            let d = e.desc();
            let mut c = d.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => format!("errno {}", e as i32),
            }
        }
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// Attach "what was being done" to a low-level error.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|errno| Error::Os {
            what: what().into(),
            errno,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what().into(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_hint() {
        let e: Result<()> =
            Err(Errno::EPERM).ctx(|| "cannot create cgroup /sys/fs/cgroup/pids/nsk");
        let s = e.unwrap_err().to_string();
        assert_eq!(
            s,
            "cannot create cgroup /sys/fs/cgroup/pids/nsk: operation not permitted (needs root, or --userns)"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn a_cgroup_write_keeps_its_file_errno_and_hint_through_context() {
        let e = Error::cgroup_write(
            std::path::Path::new("/sys/fs/cgroup/x/cpuset.cpus"),
            "7",
            std::io::Error::from_raw_os_error(libc::ERANGE),
        );
        let Error::CgroupWrite { hint, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(hint.is_none());
        let e = match e {
            Error::CgroupWrite {
                context,
                path,
                value,
                errno,
                ..
            } => Error::CgroupWrite {
                context,
                path,
                value,
                errno,
                hint: Some("why".into()),
            },
            e => e,
        }
        .context("cannot limit web");
        assert_eq!(e.errno(), Some(Errno::ERANGE));
        assert_eq!(
            e.to_string(),
            "cannot limit web: cannot write '7' to /sys/fs/cgroup/x/cpuset.cpus: math result not representable (why)"
        );
        assert!(matches!(
            Error::OutputClosed.context("x"),
            Error::OutputClosed
        ));
        assert_eq!(Error::OutputClosed.exit_code(), 0);
    }

    #[test]
    fn io_errors_use_errno_text() {
        let e: Result<()> =
            Err(std::io::Error::from_raw_os_error(libc::ENOENT)).ctx(|| "cannot read /x");
        assert_eq!(
            e.unwrap_err().to_string(),
            "cannot read /x: no such file or directory"
        );
        let e: Result<()> = Err(std::io::Error::from_raw_os_error(libc::EBUSY)).ctx(|| "rmdir /y");
        assert_eq!(
            e.unwrap_err().to_string(),
            "rmdir /y: device or resource busy"
        );
    }
}
