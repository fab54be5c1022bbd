//! Starting the command: the PATH search (execvpe with docker's exit codes), the message for a
//! command that could not start, and nsk's exit code from a wait status.

use crate::sys;
use std::ffi::CString;

/// The PATH a command gets when its environment names none (runc's and docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// execvpe: search PATH for a bare command name. Returns only on failure, with docker's exit
/// codes: 127 when nothing was found, 126 when something was found but could not run.
pub fn exec_search(
    argv: &[String],
    env: &[String],
    path: &str,
) -> (nix::errno::Errno, i32, String) {
    use nix::errno::Errno;
    let name = &argv[0];
    let to_c = |s: &str| CString::new(s).unwrap_or_default();
    let cargv: Vec<CString> = argv.iter().map(|a| to_c(a)).collect();
    let cenv: Vec<CString> = env.iter().map(|e| to_c(e)).collect();
    if name.contains('/') {
        let e = sys::execve(&to_c(name), &cargv, &cenv);
        let code = if e == Errno::ENOENT { 127 } else { 126 };
        return (e, code, name.clone());
    }
    let mut seen = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let full = format!("{dir}/{name}");
        let e = sys::execve(&to_c(&full), &cargv, &cenv);
        if !matches!(e, Errno::ENOENT | Errno::ENOTDIR) {
            seen.get_or_insert(e);
        }
    }
    match seen {
        Some(e) => (e, 126, name.clone()),
        None => (Errno::ENOENT, 127, name.clone()),
    }
}

/// The message for a command that could not be executed.
pub fn exec_failure(errno: nix::errno::Errno, code: i32, what: &str) -> String {
    let why = match errno {
        nix::errno::Errno::UnknownErrno => return format!("cannot run {what}"),
        nix::errno::Errno::ENOENT if code == 127 => "command not found".to_string(),
        e => crate::error::errno_text(e),
    };
    format!("cannot run {what}: {why}")
}

/// Turn a raw wait status into nsk's exit code: the code, or 128+N for signal N.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nadm:x:4:www\n";

    #[test]
    fn exec_failures_read_as_one_sentence() {
        use nix::errno::Errno;
        assert_eq!(
            exec_failure(Errno::ENOENT, 127, "/bin/nope"),
            "cannot run /bin/nope: command not found"
        );
        assert_eq!(
            exec_failure(Errno::EACCES, 126, "/etc"),
            "cannot run /etc: permission denied"
        );
        let e = super::super::user::resolve_user_in(Some("nobody"), PASSWD, GROUP).unwrap_err();
        assert_eq!(
            exec_failure(Errno::UnknownErrno, 125, &e),
            "cannot run as user nobody: no such user in the container's /etc/passwd"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(9), 137);
        assert_eq!(exit_code(15 | 0x80), 143);
    }
}
