//! The validated description of a container to start: everything `nsk run` was asked for,
//! checked before anything is created.

use crate::cgroup::Limits;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network namespace.
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub host: PathBuf,
    pub dest: String,
    pub ro: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub id: String,
    pub hostname: String,
    /// None: the embedded default, a snapshot of the host's `/` with writes discarded.
    pub rootfs: Option<PathBuf>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: Option<String>,
    pub net: Net,
    pub userns: bool,
    pub volumes: Vec<Volume>,
    pub limits: Limits,
    pub tty: bool,
    pub detach: bool,
    pub remove: bool,
    pub privileged: bool,
    pub cgroup_parent: String,
    /// Bytes the writable layer may hold (a tmpfs of that size); None: unbounded, in the
    /// state directory.
    pub storage: Option<u64>,
    /// The cached image the root filesystem comes from ("sha256:HEX").
    pub image: Option<String>,
}

impl Config {
    /// The namespaces init is cloned into, from the namespace table: PID, mount, UTS and IPC
    /// always, network without `--net host`, user with `--userns`. (Its cgroup namespace comes
    /// later: init unshares it once it is in its cgroups.)
    pub fn clone_kinds(&self) -> impl Iterator<Item = &'static crate::ns::NsKind> + '_ {
        crate::ns::KINDS.iter().filter(move |k| match k.name {
            "pid" | "mnt" | "uts" | "ipc" => true,
            "net" => self.net == Net::None,
            "user" => self.userns,
            _ => false,
        })
    }
}

use crate::exec::command::DEFAULT_PATH;

/// Container names follow docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok && name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "invalid container name '{name}': a name of digits only would be taken for a PID (example: c{name})"
        )));
    }
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid container name '{name}': use letters, digits, '_', '.' and '-', starting with a letter or digit (example: web-1)"
        )))
    }
}

/// `--cgroup-parent`: a relative cgroup path below each hierarchy's root, of plain components
/// (no `..`, `.` or empty ones), so nsk never creates or removes anything outside it.
pub fn validate_cgroup_parent(p: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid --cgroup-parent '{p}': {why} (examples: nsk, machine/nsk)"
        ))
    };
    if p.is_empty() {
        return Err(bad("empty"));
    }
    if p.starts_with('/') {
        return Err(bad(
            "a path relative to each cgroup hierarchy's root, without a leading '/'",
        ));
    }
    if p.len() > 200 {
        return Err(bad("longer than 200 characters"));
    }
    let comps: Vec<&str> = p.split('/').collect();
    if comps.len() > 8 {
        return Err(bad("more than 8 levels"));
    }
    for c in comps {
        if c.is_empty() || c == "." || c == ".." {
            return Err(bad(
                "a relative cgroup path without '..', '.' or empty components",
            ));
        }
        if !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-:@".contains(ch))
        {
            return Err(bad(
                "use letters, digits, '_', '.', '-', ':' and '@' in each component",
            ));
        }
        if c.starts_with("cgroup.")
            || c == "tasks"
            || c == "notify_on_release"
            || c == "release_agent"
        {
            return Err(bad(
                "a component may not be named like a cgroup control file",
            ));
        }
    }
    Ok(())
}

/// Parse `-v HOST:CONTAINER[:ro|:rw]`. The host path must exist; the destination must be
/// absolute and may not contain `..`.
pub fn parse_volume(s: &str) -> Result<Volume> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid volume '{s}': {why} (example: -v /srv/data:/data:ro)"
        ))
    };
    let parts: Vec<&str> = s.split(':').collect();
    let (host, dest, ro) = match parts.as_slice() {
        [h, d] => (*h, *d, false),
        [h, d, "ro"] => (*h, *d, true),
        [h, d, "rw"] => (*h, *d, false),
        [_, _, o] => return Err(bad(&format!("unknown option '{o}'"))),
        _ => return Err(bad("expected HOST:CONTAINER[:ro]")),
    };
    if host.is_empty() || dest.is_empty() {
        return Err(bad("empty path"));
    }
    if !dest.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    if dest.split('/').any(|c| c == "..") {
        return Err(bad("the container path may not contain '..'"));
    }
    // The components that name something: `/./sys//x` is /sys/x.
    let comps: Vec<&str> = dest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let Some(&top) = comps.first() else {
        return Err(bad("cannot mount over the container's root"));
    };
    let whole = comps.len() == 1;
    if top == "proc" || top == "sys" || (top == "dev" && whole) {
        return Err(bad(&format!(
            "nsk mounts the container's own /{top} there; bind below another path"
        )));
    }
    let host = std::fs::canonicalize(host).map_err(|e| {
        Error::invalid(format!(
            "invalid volume '{s}': host path {host}: {}",
            crate::error::errno_text(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        ))
    })?;
    Ok(Volume {
        host,
        dest: dest.to_string(),
        ro,
    })
}

/// Parse `-e KEY=VAL`; a bare `KEY` takes the caller's value (and is dropped if unset).
pub fn parse_env(s: &str) -> Result<Option<String>> {
    let key = s.split('=').next().unwrap_or("");
    // The key is one word of printable characters (no newline, escape or space that would
    // forge another line in `env` output); the value may hold anything but NUL.
    let bad_key = key.is_empty() || key.chars().any(|c| c.is_control() || c.is_whitespace());
    if bad_key || s.contains('\0') {
        return Err(Error::invalid(format!(
            "invalid environment variable '{}': KEY=VAL with a key of printable characters and no spaces (example: -e LANG=C.UTF-8)",
            s.escape_debug()
        )));
    }
    if s.contains('=') {
        return Ok(Some(s.to_string()));
    }
    Ok(std::env::var(s).ok().map(|v| format!("{s}={v}")))
}

/// The command's environment: docker's defaults (PATH, HOSTNAME, TERM with a tty), then the
/// image's Env, then the user's `-e` values, later ones winning.
pub fn build_env(hostname: &str, tty: bool, user_env: &[String]) -> Vec<String> {
    let mut env: Vec<String> = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        env.push(format!("TERM={term}"));
    }
    for e in user_env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

/// A new random id: 32 hex digits, whose first 12 (the default name) are not all digits.
pub fn new_id() -> Result<String> {
    loop {
        let id = random_id()?;
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

fn random_id() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::Io {
            what: "cannot read /dev/urandom".into(),
            source: e,
        })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "web-1", "x.y_z", "0abc"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-a", "a/b", "../x", "a b", &"x".repeat(65), "1234", "0"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes() {
        let v = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            v,
            Volume {
                host: "/tmp".into(),
                dest: "/data".into(),
                ro: true
            }
        );
        assert!(!parse_volume("/tmp:/data").unwrap().ro);
        for bad in [
            "/tmp",
            "/tmp:data",
            "/tmp:/a/../b",
            "/tmp:/x:rx",
            "/nonexistent-nsk:/x",
            "/tmp:/",
            "/tmp:/dev",
            "/tmp:/proc/x",
            "/tmp:/sys",
            // Spelled with `.` components: still the root, /sys and /dev.
            "/tmp:/.",
            "/tmp:/./",
            "/tmp:/./sys/kernel",
            "/tmp:/.//dev/./",
        ] {
            let e = parse_volume(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn env() {
        let e = build_env("h", false, &["A=1".into(), "PATH=/x".into(), "A=2".into()]);
        assert_eq!(e, vec!["HOSTNAME=h", "PATH=/x", "A=2"]);
        assert!(parse_env("=x").is_err());
        for bad in ["A\nB=1", "A B=1", "\x1b[2J=1", "K\0=1", "K=v\0"] {
            assert!(parse_env(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_env("K=line1\nline2").unwrap().as_deref(),
            Some("K=line1\nline2")
        );
        assert_eq!(parse_env("NSK_SURELY_UNSET_VAR").unwrap(), None);
    }
}
