//! Property tests over every parser that reads text nsk did not write (the command line, /proc,
//! cgroup files, state and journal files, tar headers): none panics or hangs on any input, each
//! refusal is one line, and what nsk writes reads back as written.

use crate::units::Limit;
use proptest::prelude::*;

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text shaped like the files parsed: digits, separators, parentheses, units, and anything.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-zA-Z .,:;()\\[\\]\\-_=/\\\\\n\t]{0,200}",
        any::<String>(),
        "[0-9]{0,25}[kKmMgGtTpPbBiI.]{0,4}",
    ]
}

/// An error as nsk prints it (`nsk: ` and the message, control characters escaped) is one line.
fn one_line(e: &crate::error::Error) -> bool {
    !crate::output::clean(&e.to_string()).contains('\n')
}

proptest! {
    #![proptest_config(cfg(512))]

    #[test]
    fn command_line_values_never_panic(s in texty()) {
        use crate::units::*;
        use std::str::FromStr;
        fn refusal<T: FromStr<Err = BadValue>>(s: &str) -> Option<String> {
            T::from_str(s).err().map(|e| e.to_string())
        }
        for why in [
            refusal::<Size>(&s),
            refusal::<Pids>(&s),
            refusal::<Cpus>(&s),
            refusal::<CpuShares>(&s),
            refusal::<IoWeight>(&s),
            refusal::<CpuList>(&s),
            refusal::<Signal>(&s),
            refusal::<Interval>(&s),
            refusal::<Seconds>(&s),
        ].into_iter().flatten() {
            prop_assert!(!why.is_empty() && !why.contains('\n'), "{}", why);
        }
    }

    /// Whatever value an option is given, clap's refusal as nsk prints it is one line that
    /// names the option and the value, and a value nsk accepts reaches the verb parsed.
    #[test]
    fn refused_values_are_one_line_naming_the_option(s in texty(), opt in 0usize..5) {
        use clap::Parser;
        let (args, name): (Vec<&str>, &str) = match opt {
            0 => (vec!["run", "--memory", &s], "--memory"),
            1 => (vec!["limit", "x", "--cpus", &s], "--cpus"),
            2 => (vec!["limit", "x", "--cpuset-cpus", &s], "--cpuset-cpus"),
            3 => (vec!["kill", "x", &s], "signal"),
            _ => (vec!["top", "-i", &s], "--interval"),
        };
        if let Err(e) = crate::cli::Cli::try_parse_from(std::iter::once("nsk").chain(args)) {
            if let Some(line) = crate::invalid_value_line(&e) {
                let line = crate::output::clean(&line);
                prop_assert!(!line.contains('\n'), "{}", line);
                let start = format!("invalid {name} '");
                prop_assert!(line.starts_with(&start), "{}", line);
            }
        }
    }

    #[test]
    fn sizes_read_back_as_written(n in 1u64..(1 << 40), unit in 0usize..5) {
        let (suffix, shift) = [("", 0), ("k", 10), ("M", 20), ("G", 30), ("t", 40)][unit];
        let n = (n >> shift).max(1);
        prop_assert_eq!(
            format!("{n}{suffix}").parse::<crate::units::Size>().unwrap().0,
            Limit::Value(n << shift)
        );
    }

    #[test]
    fn cpu_lists_never_panic_and_round_trip(s in texty(), set in proptest::collection::btree_set(0u32..512, 0..40)) {
        if let Some(v) = crate::cgroup::expand_cpu_list(&s) {
            prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
        }
        let text: Vec<String> = set.iter().map(|c| c.to_string()).collect();
        let back = crate::cgroup::expand_cpu_list(&text.join(",")).unwrap();
        prop_assert_eq!(back, set.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn proc_and_cgroup_files_never_panic(s in texty(), b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = crate::process::parse_stat(&s);
        let _ = crate::process::parse_ppid(&s);
        let _ = crate::process::parse_start_time(&s);
        let _ = crate::process::parse_creds(&s);
        let _ = crate::process::parse_ns_link(&s);
        let _ = crate::process::parse_environ(&b);
        let _ = crate::cgroup::parse_keyed(&s, "oom_kill");
        let _ = crate::cgroup::Hierarchy::from_mountinfo(&s);
        let _ = crate::runtime::from_proc_cgroup(&s);
    }

    #[test]
    fn a_stat_line_reads_back_whatever_the_command_name(comm in "[^\\x00]{0,15}", ppid in 0i32..1 << 22, start in any::<u64>()) {
        let line = format!(
            "42 ({comm}) S {ppid} 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {start} 0 0"
        );
        prop_assert_eq!(crate::process::parse_ppid(&line), Some(ppid));
        prop_assert_eq!(crate::process::parse_stat(&line).map(|s| s.start_time), Some(start));
    }

    #[test]
    fn mountinfo_lines_of_any_path_read_back(path in "/[a-z0-9 \\\\]{1,30}", ctrl in "(memory|cpu,cpuacct|pids)") {
        let esc = path.replace('\\', "\\134").replace(' ', "\\040");
        let line = format!("32 31 0:29 / {esc} rw,relatime - cgroup cgroup rw,{ctrl}\n");
        let h = crate::cgroup::Hierarchy::from_mountinfo(&line).unwrap();
        prop_assert_eq!(h.mounts[0].mountpoint.to_str().unwrap(), path.as_str());
    }

    #[test]
    fn names_parents_hostnames_env_and_volumes_never_escape(s in texty()) {
        let root = std::path::Path::new("/nonexistent-nsk-root");
        let store = crate::container::state::Store::new(root.to_path_buf());
        match crate::container::config::validate_name(&s) {
            Ok(()) => {
                prop_assert!(!s.bytes().all(|b| b.is_ascii_digit()));
                let d = store.dir(&s).unwrap();
                prop_assert_eq!(d.parent(), Some(root));
            }
            Err(e) => prop_assert!(one_line(&e)),
        }
        match crate::container::config::validate_cgroup_parent(&s) {
            Ok(()) => {
                prop_assert!(!s.starts_with('/'));
                prop_assert!(s.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
                let p = std::path::Path::new("/sys/fs/cgroup/memory").join(&s);
                prop_assert!(p.starts_with("/sys/fs/cgroup/memory/"));
            }
            Err(e) => prop_assert!(one_line(&e)),
        }
        if crate::cmd::run::check_hostname(&s).is_ok() {
            prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        }
        if let Ok(Some(kv)) = crate::container::config::parse_env(&format!("{s}=v")) {
            let key = kv.split('=').next().unwrap();
            prop_assert!(!key.chars().any(|c| c.is_control() || c.is_whitespace()));
        }
        if let Ok(v) = crate::container::config::parse_volume(&format!("/tmp:{s}")) {
            prop_assert!(v.dest.starts_with('/') && !v.dest.split('/').any(|c| c == ".."));
        }
    }

    #[test]
    fn clap_errors_become_one_line(s in any::<String>(), args in proptest::collection::vec("[a-z-]{0,8}", 0..4)) {
        let line = crate::clap_one_line(&s, &args);
        prop_assert!(!crate::output::clean(&line).contains('\n'));
    }
}

proptest! {
    #![proptest_config(cfg(128))]

    /// Any bytes in state.json: reported damaged (or, for a valid document of this very
    /// container that is not running, read), never a panic, and never a PID acted on.
    #[test]
    fn state_files_of_any_content_are_judged_not_believed(body in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        forged_state().prop_map(|v| v.into_bytes()),
    ]) {
        let t = tempfile::tempdir().unwrap();
        let store = crate::container::state::Store::new(t.path().join("r"));
        let st = crate::container::state::tests::test_state("p", "0123456789abcdef0123456789abcdef");
        store.create(&st, "nsk").unwrap();
        std::fs::write(t.path().join("r/p/state.json"), &body).unwrap();
        match store.read("p").unwrap() {
            crate::container::state::Loaded::Ok(s) => {
                prop_assert_eq!(s.name.as_str(), "p");
                prop_assert!(s.pin().is_none());
            }
            crate::container::state::Loaded::Damaged(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn journals_of_any_content_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("j.json");
        std::fs::write(&p, &body).unwrap();
        let _ = crate::cgroup::journal::load(&p);
    }

    /// Any bytes, and valid headers with any bytes flipped: the tar reader ends with entries
    /// or an error, never a panic or an endless loop.
    #[test]
    fn tar_headers_of_any_content_end(
        noise in proptest::collection::vec(any::<u8>(), 0..2048),
        flips in proptest::collection::vec((0usize..1536, any::<u8>()), 0..12),
        path in "[a-z/]{1,120}",
        size in 0u64..600,
    ) {
        for data in [noise, {
            let mut b = crate::image::tar::build::header(&path, b'0', size, 0o644, "");
            b.extend(std::iter::repeat_n(b'x', size.div_ceil(512) as usize * 512));
            b.extend([0u8; 1024]);
            for (at, v) in &flips {
                if let Some(x) = b.get_mut(*at) {
                    *x = *v;
                }
            }
            b
        }] {
            let mut r = crate::image::tar::Reader::new(&data[..]);
            for _ in 0..64 {
                match r.next_entry() {
                    Ok(Some(e)) => {
                        prop_assert!(e.path.len() <= crate::image::tar::MAX_PATH);
                        let _ = std::io::copy(&mut r, &mut std::io::sink());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(one_line(&e));
                        break;
                    }
                }
            }
        }
    }
}

/// A state document with this container's name and id that claims to run any PID.
fn forged_state() -> impl Strategy<Value = String> {
    (
        any::<i32>(),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![Just("running"), Just("exited"), Just("created")],
    )
        .prop_map(|(pid, start, ns, status)| {
            serde_json::json!({
                "name": "p", "id": "0123456789abcdef0123456789abcdef", "pid": pid,
                "start_time": start, "created": "2026-01-01T00:00:00Z", "status": status,
                "exit_code": null, "exit_signal": null, "rootfs": null, "cgroups": null,
                "namespaces": {"pid": ns}, "limits": {}, "command": ["x"], "hostname": "p",
                "detached": false
            })
            .to_string()
        })
}
