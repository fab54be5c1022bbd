//! The command line itself: errors, exit codes, generated documentation.

use crate::util::*;

#[test]
fn bad_input_gives_one_line_and_exit_125() {
    let env = Env::new();
    for (args, want) in [
        (vec!["stop", "ghost"], "nsk: no such container: ghost\n"),
        (vec!["logs", "ghost"], "nsk: no such container: ghost\n"),
        (vec!["kill", "ghost"], "nsk: no such container: ghost\n"),
    ] {
        let o = env.nsk(&args);
        assert_eq!((o.code, o.stderr.as_str()), (125, want), "{args:?}");
    }
    // A name that climbs out of the state root is refused by every verb. The target is a
    // directory this test made next to the state root, never a host path.
    let parent = tempfile::tempdir().unwrap();
    let victim = parent.path().join("victim");
    std::fs::create_dir_all(victim.join("upper")).unwrap();
    let mut c = env.cmd();
    c.env("NSK_ROOT", parent.path().join("state"));
    std::fs::create_dir(parent.path().join("state")).unwrap();
    for verb in [&["rm"][..], &["rm", "-f"], &["stop"], &["logs"], &["kill"]] {
        let mut c = env.cmd();
        let o: Out = c
            .env("NSK_ROOT", parent.path().join("state"))
            .args(verb)
            .arg("../victim")
            .output()
            .unwrap()
            .into();
        assert!(
            victim.join("upper").is_dir(),
            "{verb:?} removed a directory outside the state root"
        );
        {
            assert_eq!(
                (o.code, o.stderr.as_str()),
                (125, "nsk: invalid container name '../victim': use letters, digits, '_', '.' and '-', starting with a letter or digit (example: web-1)\n"),
                "{verb:?}"
            );
        }
    }
    let o = env.nsk(&["frobnicate"]);
    assert_eq!(o.code, 125);
    assert!(!o.stderr.contains("panicked"));
    // Bytes that are not UTF-8, in a value, an option's name or the container's command: one
    // line, never a panic.
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"\xff");
    let odd_opt = std::ffi::OsStr::from_bytes(b"--\xff");
    for args in [
        vec![
            std::ffi::OsStr::new("--"),
            std::ffi::OsStr::new("echo"),
            odd,
        ],
        vec![std::ffi::OsStr::new("echo"), odd],
        vec![
            std::ffi::OsStr::new("--name"),
            odd,
            std::ffi::OsStr::new("true"),
        ],
        vec![odd_opt],
    ] {
        let o: Out = env.run_cmd(&[]).args(&args).output().unwrap().into();
        assert_eq!(o.code, 125, "{args:?}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
        assert!(o.stderr.starts_with("nsk: "), "{args:?}: {o:?}");
    }
}

#[test]
fn help_documents_exit_codes() {
    let env = Env::new();
    let o = env.nsk(&["run", "--help"]);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("128+N") && o.stdout.contains("125") && o.stdout.contains("127"),
        "{o:?}"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let env = Env::new();
    for i in 0..3 {
        env.run(&["--name", &format!("c{i}"), "--", "true"]);
    }
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "NSK_ROOT={} {NSK} ps -a | head -c 1 >/dev/null; echo ${{PIPESTATUS:-ok}}",
            env.root.path().display()
        ))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).is_empty(), "{o:?}");
}

/// A stdout whose reader is already gone: every write fails with EPIPE at once (Rust programs
/// ignore SIGPIPE). nsk then stops quietly with success, whatever the verb was printing.
#[test]
fn output_into_a_pipe_closed_beforehand_ends_quietly() {
    let env = Env::new();
    env.run(&["--name", "c0", "--", "true"]);
    let closed = || {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        w
    };
    for args in [
        &["ps", "-a"][..],
        &["ps", "--all", "--json"],
        &["ps", "--host"],
        &["image", "ls"],
    ] {
        let o = env.cmd().args(args).stdout(closed()).output().unwrap();
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
            (Some(0), ""),
            "{args:?}: {o:?}"
        );
    }
    // run -d: the container starts; only the name it would print is lost.
    let o = env
        .run_cmd(&["-d", "--name", "bg", "--", "sleep", "100"])
        .stdout(closed())
        .output()
        .unwrap();
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
        (Some(0), ""),
        "{o:?}"
    );
    assert_eq!(env.state("bg")["status"], "running");
    assert_eq!(env.nsk(&["rm", "-f", "bg", "c0"]).code, 0);
    env.assert_clean();
}

#[test]
fn committed_man_pages_and_completions_are_current() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fresh = crate::docs::render();
    let mut stale: Vec<String> = fresh
        .iter()
        .filter(|(rel, body)| std::fs::read(repo.join(rel)).unwrap_or_default() != *body)
        .map(|(rel, _)| rel.clone())
        .collect();
    // A committed file nothing generates any more (a verb that was removed).
    for sub in ["man", "completions"] {
        for e in std::fs::read_dir(repo.join(sub)).unwrap() {
            let rel = format!("{sub}/{}", e.unwrap().file_name().to_string_lossy());
            if !fresh.iter().any(|(r, _)| *r == rel) {
                stale.push(rel);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files (run: cargo run --example generate -- .): {stale:?}"
    );
}
