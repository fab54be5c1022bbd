//! The namespace table: one entry per kind drives inspection, `ps --host` and entering. The order
//! is the order to enter them in (user first: it grants the rights for the others; mnt last but
//! time, as util-linux's nsenter does).

use nix::sched::CloneFlags;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsKind {
    /// Name under /proc/PID/ns/ and in JSON.
    pub name: &'static str,
    /// The link below /proc/PID: `ns/NAME`.
    pub link: &'static std::ffi::CStr,
    pub flag: CloneFlags,
    /// nsenter's option letter.
    pub short: char,
}

pub const KINDS: [NsKind; 8] = [
    NsKind {
        name: "user",
        link: c"ns/user",
        flag: CloneFlags::CLONE_NEWUSER,
        short: 'U',
    },
    NsKind {
        name: "cgroup",
        link: c"ns/cgroup",
        flag: CloneFlags::CLONE_NEWCGROUP,
        short: 'C',
    },
    NsKind {
        name: "ipc",
        link: c"ns/ipc",
        flag: CloneFlags::CLONE_NEWIPC,
        short: 'i',
    },
    NsKind {
        name: "uts",
        link: c"ns/uts",
        flag: CloneFlags::CLONE_NEWUTS,
        short: 'u',
    },
    NsKind {
        name: "net",
        link: c"ns/net",
        flag: CloneFlags::CLONE_NEWNET,
        short: 'n',
    },
    NsKind {
        name: "pid",
        link: c"ns/pid",
        flag: CloneFlags::CLONE_NEWPID,
        short: 'p',
    },
    NsKind {
        name: "mnt",
        link: c"ns/mnt",
        flag: CloneFlags::CLONE_NEWNS,
        short: 'm',
    },
    // CLONE_NEWTIME is 0x80: not in nix's CloneFlags.
    NsKind {
        name: "time",
        link: c"ns/time",
        flag: CloneFlags::from_bits_retain(0x80),
        short: 'T',
    },
];

pub fn kind(name: &str) -> Option<&'static NsKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The position of a kind in `KINDS` (and in the inode arrays read in that order).
pub fn index(name: &str) -> Option<usize> {
    KINDS.iter().position(|k| k.name == name)
}

/// Inodes of the namespaces of `pid` (None where unreadable: a kernel thread, a zombie, EACCES).
pub fn inodes(pid: i32) -> [Option<u64>; 8] {
    crate::process::ProcDir::open(pid).map_or([None; 8], |d| d.ns_inodes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_and_lookup() {
        assert_eq!(KINDS[0].name, "user");
        assert_eq!(kind("mnt").unwrap().short, 'm');
        assert!(kind("bogus").is_none());
        let own = inodes(std::process::id() as i32);
        assert!(own[6].is_some(), "own mnt namespace readable");
    }
}
