//! Who a command runs as: `USER[:GROUP]` (names or numbers) looked up in the container's own
//! /etc/passwd and /etc/group. Those files belong to the container and may be hostile: each is
//! opened beneath the container's root without following a symlink out of it, must be a regular
//! file, and is read up to a bound.

use nix::unistd::{Gid, Uid};

#[derive(Debug)]
pub struct Ident {
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub home: Option<String>,
}

/// Resolve `USER[:GROUP]` (names or numbers) against the container's /etc/passwd and /etc/group,
/// read beneath `root` (a root fd of the container, from the host side) or, with None, from the
/// caller's own root (inside the container).
pub fn resolve_user(
    root: Option<&std::os::fd::OwnedFd>,
    spec: Option<&str>,
) -> std::result::Result<Ident, String> {
    let dbs =
        read_user_db(root, "/etc/passwd").and_then(|p| Ok((p, read_user_db(root, "/etc/group")?)));
    match dbs {
        Ok((passwd, group)) => resolve_user_in(spec, &passwd, &group),
        Err(e) => {
            // Root by default, and USER:GROUP in numbers, need no lookup, even where the files
            // cannot be read.
            let (u, g) = match spec {
                None => ("0", "0"),
                Some(s) => s.split_once(':').ok_or(e.clone())?,
            };
            match (u.parse::<u32>(), g.parse::<u32>()) {
                (Ok(uid), Ok(gid)) => Ok(Ident {
                    uid: Uid::from_raw(uid),
                    gid: Gid::from_raw(gid),
                    groups: vec![Gid::from_raw(gid)],
                    home: None,
                }),
                _ => Err(e),
            }
        }
    }
}

/// The most nsk reads of a container's /etc/passwd or /etc/group.
pub const USER_DB_MAX: u64 = 4 << 20;

/// Read a container's user database without trusting it: opened non-blocking (a FIFO there
/// cannot hold nsk), a regular file only (not a device such as /dev/zero), at most
/// `USER_DB_MAX` bytes. A missing file reads as empty.
pub fn read_user_db(
    root: Option<&std::os::fd::OwnedFd>,
    path: &str,
) -> std::result::Result<String, String> {
    use std::io::Read;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    let opened = match root {
        Some(r) => crate::sys::open_in_root_mounts(r, path.as_bytes(), flags),
        None => nix::fcntl::open(
            path,
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ),
    };
    let fd = match opened {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(String::new()),
        Err(e) => {
            return Err(format!(
                "cannot read the container's {path}: {}",
                crate::error::errno_text(e)
            ))
        }
    };
    let st = nix::sys::stat::fstat(&fd).map_err(|e| {
        format!(
            "cannot read the container's {path}: {}",
            crate::error::errno_text(e)
        )
    })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(format!("the container's {path} is not a regular file"));
    }
    let mut buf = vec![];
    std::fs::File::from(fd)
        .take(USER_DB_MAX + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the container's {path}: {e}"))?;
    if buf.len() as u64 > USER_DB_MAX {
        return Err(format!(
            "the container's {path} is larger than {} MiB",
            USER_DB_MAX >> 20
        ));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub fn resolve_user_in(
    spec: Option<&str>,
    passwd: &str,
    group: &str,
) -> std::result::Result<Ident, String> {
    let spec = spec.unwrap_or("0");
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let pw: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let gr: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let entry = pw
        .iter()
        .find(|f| f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u));
    let uid: u32 = match (u.parse::<u32>(), entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2]
            .parse()
            .map_err(|_| format!("as user {u}: bad entry in the container's /etc/passwd"))?,
        (Err(_), None) => {
            return Err(format!(
                "as user {u}: no such user in the container's /etc/passwd"
            ))
        }
    };
    let gid: u32 = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => gr
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| {
                    format!("as group {g}: no such group in the container's /etc/group")
                })?,
        },
        None => entry
            .and_then(|f| f[3].parse().ok())
            .unwrap_or(if uid == 0 { 0 } else { uid }),
    };
    let mut groups = vec![Gid::from_raw(gid)];
    if let Some(name) = entry.map(|f| f[0]) {
        for f in &gr {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if !groups.contains(&Gid::from_raw(n)) {
                        groups.push(Gid::from_raw(n));
                    }
                }
            }
        }
    }
    Ok(Ident {
        uid: Uid::from_raw(uid),
        gid: Gid::from_raw(gid),
        groups,
        home: entry.map(|f| f[5].to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nadm:x:4:www\n";

    #[test]
    fn users() {
        let i = resolve_user_in(None, PASSWD, GROUP).unwrap();
        assert_eq!(
            (i.uid.as_raw(), i.gid.as_raw(), i.home.as_deref()),
            (0, 0, Some("/root"))
        );
        let i = resolve_user_in(Some("www"), PASSWD, GROUP).unwrap();
        assert_eq!((i.uid.as_raw(), i.gid.as_raw()), (33, 33));
        assert_eq!(
            i.groups.iter().map(|g| g.as_raw()).collect::<Vec<_>>(),
            vec![33, 4]
        );
        let i = resolve_user_in(Some("1000:adm"), PASSWD, GROUP).unwrap();
        assert_eq!((i.uid.as_raw(), i.gid.as_raw()), (1000, 4));
        assert!(resolve_user_in(Some("nobody"), PASSWD, GROUP)
            .unwrap_err()
            .contains("no such user"));
        assert!(resolve_user_in(Some("0:nogroup"), PASSWD, GROUP)
            .unwrap_err()
            .contains("no such group"));
    }
}
