//! The cgroup module against the real kernel. The cgroup v2 code runs here on whatever cgroup2
//! mount the host has (a pure v2 root, or the unified mount of a hybrid host); the full v2 pass
//! with limits runs in the v2 guest (tests/run.sh).

use crate::util::*;
use nsk::cgroup::{CgroupSet, Hierarchy, Version};

/// `Hierarchy::detect` names a pure cgroup v2 host without reading the mountinfo: what it says
/// must be what the mountinfo says. The v2 guest takes that way, the host and the v1 guest read
/// the mountinfo.
#[test]
fn detection_agrees_with_the_mountinfo() {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let slow = Hierarchy::from_mountinfo(&mi).expect("no cgroup hierarchy");
    let h = Hierarchy::detect().unwrap();
    assert_eq!((h.version, &h.mounts), (slow.version, &slow.mounts));
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let pure = cg.lines().all(|l| l.starts_with("0::"));
    let fast = Hierarchy::pure_v2();
    assert_eq!(fast.is_some(), pure && is_cgroup_v2(), "{cg}");
    if let Some(f) = fast {
        assert_eq!((f.version, &f.mounts), (slow.version, &slow.mounts));
    }
}

#[test]
fn cgroup2_directories_and_clone_into_cgroup() {
    require_root();
    // A pure v1 host mounts no cgroup2 hierarchy: this test mounts one of its own (it has no
    // controllers there, as on a hybrid host) and unmounts it when done.
    let _own = (host_cgroup2().is_none()).then(Cgroup2Mount::new);
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let h = Hierarchy::from_mountinfo(&mi).expect("no cgroup hierarchy");
    let m = h
        .mounts
        .iter()
        .find(|m| m.v2)
        .expect("this host has no cgroup2 mount")
        .clone();
    let h2 = Hierarchy {
        version: Version::V2,
        mounts: vec![m.clone()],
    };
    let parent = format!("nsk-test-{}-v2", run_id());
    let rel = format!("{parent}/leaf");
    let set = CgroupSet::planned(&h2, &rel);
    assert_eq!(set.v2_dir().unwrap(), m.mountpoint.join(&rel));
    let mut made: Vec<std::path::PathBuf> = vec![];
    set.create(&h2, &rel, &[], &mut made).unwrap();
    assert_eq!(
        made,
        vec![m.mountpoint.join(&parent)],
        "the parent nsk made is reported"
    );
    // Every controller the parent is offered is enabled for its children.
    let offered =
        std::fs::read_to_string(m.mountpoint.join(&parent).join("cgroup.controllers")).unwrap();
    let enabled =
        std::fs::read_to_string(m.mountpoint.join(&parent).join("cgroup.subtree_control")).unwrap();
    assert_eq!(
        offered.split_whitespace().collect::<Vec<_>>(),
        enabled.split_whitespace().collect::<Vec<_>>()
    );
    // A second create of the same leaf is refused, not merged.
    assert!(set
        .create(&h2, &rel, &[], &mut made)
        .unwrap_err()
        .to_string()
        .contains("already exists"));
    set.create(&h2, &rel, &[], &mut made).ok();
    assert_eq!(made.len(), 1, "an existing parent is not reported as made");

    let dir = nix::fcntl::open(
        set.v2_dir().unwrap(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let child = match nsk::sys::clone3_fork(nix::sched::CloneFlags::empty(), Some(&dir)).unwrap() {
        None => {
            std::thread::sleep(std::time::Duration::from_secs(30));
            nsk::sys::exit_now(0)
        }
        Some(pid) => pid,
    };
    let cg = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
    let _ = nix::sys::signal::kill(child, nix::sys::signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
    assert!(cg.lines().any(|l| l == format!("0::/{rel}")), "{cg}");
    let procs = std::fs::read_to_string(set.v2_dir().unwrap().join("cgroup.procs")).unwrap();
    assert_eq!(procs, "");
    set.remove().unwrap();
    set.remove().unwrap(); // idempotent
                           // Only what the predicate says nsk made is removed.
    assert_eq!(
        set.remove_parents(&|_| false),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(m.mountpoint.join(&parent).exists());
    assert_eq!(set.remove_parents(&|p| made.iter().any(|x| x == p)), made);
    assert!(!m.mountpoint.join(&parent).exists());
}

/// Containers come and go under one shared parent: one removing the parent it left empty while
/// another creates its leaf below it must not fail the second (on every hierarchy of this host).
#[test]
fn concurrent_create_and_remove_under_one_parent() {
    require_root();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let h = Hierarchy::from_mountinfo(&mi).expect("no cgroup hierarchy");
    // And the cgroup2 hierarchy on its own, as on a pure v2 host.
    let v2 = Hierarchy {
        version: Version::V2,
        mounts: h.mounts.iter().filter(|m| m.v2).cloned().collect(),
    };
    let parent = format!("nsk-test-{}-race", run_id());
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let h = if t % 2 == 0 { h.clone() } else { v2.clone() };
            let parent = parent.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let rel = format!("{parent}/c{t}-{i}");
                    let set = CgroupSet::planned(&h, &rel);
                    set.create(&h, &rel, &[], &mut Vec::<std::path::PathBuf>::new())
                        .unwrap_or_else(|e| panic!("create {rel}: {e}"));
                    set.remove().unwrap();
                    set.remove_parents(&|p| p.ends_with(&parent));
                }
            })
        })
        .collect();
    let mut failed = vec![];
    for t in threads {
        if let Err(e) = t.join() {
            failed.push(e.downcast_ref::<String>().cloned().unwrap_or_default());
        }
    }
    for m in cgroup_mounts() {
        let p = m.join(&parent);
        if p.exists() {
            let _ = std::fs::remove_dir(&p);
            failed.push(format!("{} left behind", p.display()));
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
}
