use super::Ctx;
use crate::cli::EnterArgs;
use crate::error::{Error, Result};
use crate::ns;

pub fn enter(ctx: &Ctx, a: EnterArgs) -> Result<i32> {
    let picked: Vec<&'static ns::NsKind> = [
        (a.userns, "user"),
        (a.cgroupns, "cgroup"),
        (a.ipc, "ipc"),
        (a.uts, "uts"),
        (a.net, "net"),
        (a.pid, "pid"),
        (a.mnt, "mnt"),
        (a.time, "time"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .filter_map(|(_, n)| ns::kind(n))
    .collect();
    let mut env = vec![];
    for e in &a.env {
        if !e.contains('=') || e.starts_with('=') {
            return Err(Error::invalid(format!(
                "invalid environment variable '{e}' (example: -e LANG=C.UTF-8)"
            )));
        }
        crate::container::config::parse_env(e)?;
        env.push(e.clone());
    }
    let stdin_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let opts = crate::enter::Options {
        kinds: (!picked.is_empty()).then_some(picked),
        cgroup: !a.no_cgroup,
        workdir: a.workdir.clone(),
        env,
        user: a.user.clone(),
        privileged: a.privileged,
        tty: !a.no_tty && (a.tty || stdin_tty),
        command: a.command.clone(),
        tools: a.tools.clone(),
    };
    let what = |e: Error| match e {
        Error::Exit { .. } => e,
        e => e.context(format!("cannot enter {}", a.target)),
    };
    let t = crate::target::resolve(&ctx.store, &a.target).map_err(what)?;
    hold_for_tests();
    crate::enter::enter(&t, &opts).map_err(what)
}

/// Test aid: with NSK_TEST_HOLD_AFTER_PIN=P, say so in P.pinned once the target is pinned and
/// wait (60 s at most) for P.go, so a test can let the target die and its PID be reused in
/// between.
fn hold_for_tests() {
    let Some(p) = std::env::var_os("NSK_TEST_HOLD_AFTER_PIN") else {
        return;
    };
    let p = std::path::PathBuf::from(p);
    let with = |ext: &str| {
        let mut s = p.clone().into_os_string();
        s.push(ext);
        std::path::PathBuf::from(s)
    };
    let _ = std::fs::write(with(".pinned"), "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !with(".go").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
