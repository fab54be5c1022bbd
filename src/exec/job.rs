//! A short job run inside a pinned process's namespaces, for readers that need to see what the
//! process sees (its interfaces, its hostname) while nsk itself never changes namespace.
//!
//! The job runs in a forked child that is non-dumpable before it joins anything (nothing in
//! the target can ptrace it or open its /proc files, runc CVE-2016-9962), dies with nsk, and
//! sends its answer back as JSON over a pipe; nsk waits for it.

use crate::error::errno_text;
use crate::ns::NsKind;
use crate::sys;
use crate::target::Target;
use serde::{de::DeserializeOwned, Serialize};
use std::io::Read;

/// Run `job` in a child that has joined the namespaces of `kinds` of the target, and return
/// its answer. Errors are one line, the job's own or why it could not run.
pub fn in_namespaces<T, F>(t: &Target, kinds: &[&'static NsKind], job: F) -> Result<T, String>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, String>,
{
    let dir = &t.dir;
    let mut ns = vec![];
    for k in kinds {
        let f = dir
            .open_at(&format!("ns/{}", k.name), nix::fcntl::OFlag::O_RDONLY)
            .map_err(|e| e.to_string())?;
        ns.push((*k, f));
    }
    // The files opened by path are the target's only if it is still the process we pinned.
    if !t.still_alive() {
        return Err(crate::target::exited().to_string());
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(errno_text)?;
    match sys::fork().map_err(errno_text)? {
        None => {
            drop(r);
            let out = (|| -> Result<T, String> {
                nix::sys::prctl::set_dumpable(false)
                    .map_err(|e| format!("cannot make the reader non-dumpable: {e}"))?;
                let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
                super::join_namespaces(t.pidfd.as_ref(), &ns)?;
                job()
            })();
            let body = match out {
                Ok(v) => serde_json::json!({ "ok": v }),
                Err(e) => serde_json::json!({ "error": e }),
            };
            let _ = crate::exec::pty::write_all(&w, body.to_string().as_bytes());
            sys::exit_now(0)
        }
        Some(child) => {
            drop(w);
            drop(ns);
            let mut s = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut s);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut v: serde_json::Value =
                serde_json::from_str(&s).map_err(|_| "the namespace reader failed".to_string())?;
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                return Err(e.to_string());
            }
            serde_json::from_value(v["ok"].take())
                .map_err(|_| "the namespace reader answered nonsense".to_string())
        }
    }
}
