use super::Ctx;
use crate::cgroup::{Limits, DEFAULT_CPU_PERIOD_US};
use crate::cli::{NetMode, RunArgs};
use crate::container::config::{self, Config, Net};
use crate::container::spawn;
use crate::error::Result;
use crate::units;

pub fn limits_from(a: &RunArgs) -> Result<Limits> {
    let mut l = Limits {
        memory: a.memory.map(|s| s.0),
        memory_swap: a.memory_swap.map(|s| s.0),
        cpu_quota_us: a.cpus.map(units::Cpus::quota_us),
        cpu_period_us: None,
        pids: a.pids.map(|p| p.0),
        ..Default::default()
    };
    if l.cpu_quota_us.is_some() {
        l.cpu_period_us = Some(DEFAULT_CPU_PERIOD_US);
    }
    l.validate()?;
    Ok(l)
}

/// The task that makes a foreground run's network namespace, started before the command line
/// is parsed when it reads as one (`reads_as_own_netns_run`), so that the namespace is made
/// while the parse and the checks run on the other CPU. Only a guess: `run` takes the task only
/// when the parsed command line wants that namespace, and otherwise (or for another verb) it is
/// killed and reaped at once; a run it missed starts its own after the parse.
pub fn early_netns() -> Option<spawn::NetPrep> {
    if !reads_as_own_netns_run(std::env::args_os().skip(1)) {
        return None;
    }
    spawn::NetPrep::start(Net::None, false)
}

/// Whether arguments (argv without argv[0]) read as `nsk [global options] run ...` with none of
/// the options that mean no network namespace of the container's own (`--net`, `--userns`) or
/// a detached run (`-d`, whose monitor makes its own) before `--`. A short option cluster with a
/// `d` counts as `-d`, and the command's own words are read too (without `--`), so the guess
/// errs towards "no": a miss costs only the head start.
fn reads_as_own_netns_run(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut args = args;
    loop {
        let Some(a) = args.next() else { return false };
        match a.as_bytes() {
            // Global options with a separate value.
            b"--root" | b"--color" => {
                args.next();
            }
            b"run" => break,
            w if w.starts_with(b"-") => {}
            _ => return false,
        }
    }
    for a in args {
        let w = a.as_bytes();
        if w == b"--" {
            break;
        }
        let short_d = w.len() > 1 && w[0] == b'-' && w[1] != b'-' && w.contains(&b'd');
        if short_d || w.starts_with(b"--net") || w == b"--userns" || w.starts_with(b"--detach") {
            return false;
        }
    }
    true
}

/// `early` is the task `early_netns` started, if it did.
pub fn run(ctx: &Ctx, a: RunArgs, early: Option<spawn::NetPrep>) -> Result<i32> {
    let net = match a.net {
        NetMode::None => Net::None,
        NetMode::Host => Net::Host,
    };
    // The network namespace is made beside everything that follows (a detached run's monitor
    // makes its own): by the task started before the parse when it guessed right, otherwise by
    // one started now.
    let netns = match (a.detach, early) {
        (true, _) => None,
        (false, Some(t)) if spawn::NetPrep::wanted(net, a.userns) => Some(t),
        (false, _) => spawn::NetPrep::start(net, a.userns),
    };
    let id = config::new_id()?;
    let name = a.name.clone().unwrap_or_else(|| id[..12].to_string());
    config::validate_name(&name)?;
    if let Some(n) = &a.name {
        // Refuse a name in use before an image is unpacked for nothing.
        if ctx.store.dir(n)?.exists() {
            return Err(crate::error::Error::failed(format!(
                "container name '{n}' is already in use (see nsk ps -a; remove it with nsk rm {n})"
            )));
        }
    }
    config::validate_cgroup_parent(&a.cgroup_parent)?;
    check_command_is_not_an_option(&a, &crate::args_lossy())?;
    if let Some(u) = &a.user {
        check_user(u)?;
    }
    if let Some(h) = &a.hostname {
        check_hostname(h)?;
    }
    if let Some(w) = &a.workdir {
        check_workdir(w)?;
    }
    let limits = limits_from(&a)?;
    check_run_minimums(&limits)?;
    check_open_file_limit()?;
    let storage = match a.storage_size.0 {
        units::Limit::Max => None,
        units::Limit::Value(n) if n < 1 << 20 => {
            return Err(crate::error::Error::invalid(format!(
                "invalid --storage-size {}: at least 1M (examples: 1G, 256M, max)",
                units::format_size(n)
            )))
        }
        units::Limit::Value(n) => Some(n),
    };
    let volumes = a
        .volumes
        .iter()
        .map(|v| config::parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    let mut user_env = vec![];
    for e in &a.env {
        user_env.extend(config::parse_env(e)?);
    }
    // Everything on the command line is checked before an image is imported.
    let image = match &a.image {
        Some(arg) => {
            let mut notices = super::Notices::stderr();
            Some(crate::image::for_run(&ctx.store.root, arg, &mut |n| {
                notices.show(n)
            })?)
        }
        None => None,
    };
    let defaults = image
        .as_ref()
        .map(|i| i.meta.defaults.clone())
        .unwrap_or_default();
    let hostname = a
        .hostname
        .clone()
        .or(defaults.hostname.clone())
        .unwrap_or_else(|| name.clone());
    check_hostname(&hostname)?;
    let stdin_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let tty = !a.no_tty && !a.detach && (a.tty || stdin_tty);
    let workdir = a
        .workdir
        .clone()
        .or(defaults.workdir.clone())
        .unwrap_or_else(|| "/".into());
    check_workdir(&workdir)?;
    let rootfs = match &a.rootfs {
        None => image.as_ref().map(|i| i.rootfs.clone()),
        Some(r) => Some(
            std::fs::canonicalize(r).map_err(|e| crate::error::Error::Io {
                what: format!("invalid --rootfs {}", r.display()),
                source: e,
            })?,
        ),
    };
    let command = command_line(&a, &defaults);
    let mut env = defaults.env.clone();
    env.extend(user_env);
    let cfg = Config {
        env: config::build_env(&hostname, tty, &env),
        name,
        id,
        hostname,
        rootfs,
        command,
        workdir,
        user: a.user.clone().or(defaults.user.clone()),
        net,
        userns: a.userns,
        volumes,
        limits,
        tty,
        detach: a.detach,
        remove: a.rm,
        privileged: a.privileged,
        cgroup_parent: a.cgroup_parent.clone(),
        storage,
        image: image.as_ref().map(|i| i.meta.id.clone()),
    };
    let detached = cfg.detach.then(|| cfg.name.clone());
    let code = spawn::run(&ctx.store, cfg, image.map(|i| i.pin), netns)?;
    if let Some(name) = detached {
        // Started: the name is the output (the container's goes to nsk logs).
        crate::output::print(&format!("{name}\n"))?;
    }
    Ok(code)
}

/// A hostname is 1 to 64 letters, digits, '-', '_' and '.', starting with a letter or digit:
/// no control characters, spaces or '/' reach the container's UTS namespace or a prompt.
pub fn check_hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        return Err(crate::error::Error::invalid(format!(
            "invalid hostname '{}': 1 to 64 letters, digits, '-', '_' and '.', starting with a letter or digit (example: web-1.local)",
            h.escape_debug()
        )));
    }
    Ok(())
}

/// `nsk run --bogus` is an unknown option, not a command named `--bogus`: a command that starts
/// with '-' must follow `--` (the command is the tail of the command line, so the argument just
/// before it; a `--` further on, as in `nsk run --bogus 1 -- true`, is part of what was taken).
fn check_command_is_not_an_option(a: &RunArgs, args: &[String]) -> Result<()> {
    if let Some(first) = a.command.first().filter(|c| c.starts_with('-')) {
        let before = args.len().checked_sub(a.command.len() + 1);
        if before.and_then(|i| args.get(i)).map(String::as_str) != Some("--") {
            return Err(crate::error::Error::invalid(format!(
                "unknown option '{first}' for nsk run (a command that starts with '-' goes after --: nsk run -- {first}; see nsk run --help)"
            )));
        }
    }
    Ok(())
}

/// What the kernel cannot give a container with so little: nsk's init is one of its processes
/// and needs a few MiB of its own.
fn check_run_minimums(l: &Limits) -> Result<()> {
    use crate::units::Limit;
    if let Some(Limit::Value(p)) = l.pids {
        if p < 2 {
            return Err(crate::error::Error::invalid(format!(
                "invalid --pids {p}: nsk's init counts as one of the container's processes, so it needs at least 2 (example: --pids 100)"
            )));
        }
    }
    if let Some(Limit::Value(m)) = l.memory {
        if m < MIN_MEMORY {
            return Err(crate::error::Error::invalid(format!(
                "invalid --memory {}: a container needs at least 6M (nsk's init and the command must fit; example: --memory 64M)",
                units::format_size(m)
            )));
        }
    }
    Ok(())
}

/// The open files a container's start may hold at once (the state root and its lock, pidfds, the
/// channel to init, the network namespace, the v1 cgroups' `tasks` files, a terminal, a
/// detached run's monitor), with room to spare: 19 at most were measured (`--userns`).
const RUN_FILES: u64 = 32;

/// Refuse a run that could run out of file descriptors half-way, before anything is made: a
/// failed step's clean-up needs descriptors of its own.
fn check_open_file_limit() -> Result<()> {
    use nix::sys::resource::{getrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) if soft < RUN_FILES => Err(crate::error::Error::failed(format!(
            "the open-file limit is {soft} (ulimit -n): starting a container needs {RUN_FILES}"
        ))),
        _ => Ok(()),
    }
}

/// docker's minimum memory limit.
const MIN_MEMORY: u64 = 6 << 20;

/// A numeric user or group must be a valid id: 4294967295 is (uid_t)-1, "no change".
fn check_user(u: &str) -> Result<()> {
    for part in u.split(':') {
        if !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<u32>().map_or(true, |n| n == u32::MAX)
        {
            return Err(crate::error::Error::invalid(format!(
                "invalid -u '{u}': a numeric user or group id is below 4294967295 (example: -u 1000:1000)"
            )));
        }
    }
    Ok(())
}

fn check_workdir(w: &str) -> Result<()> {
    if !w.starts_with('/') {
        return Err(crate::error::Error::invalid(format!(
            "invalid working directory '{w}': must be an absolute path"
        )));
    }
    Ok(())
}

/// Docker's rule: the Entrypoint (or --entrypoint) followed by the command line's arguments,
/// or by the image's Cmd when none are given; /bin/sh when all are empty.
fn command_line(a: &RunArgs, d: &crate::image::source::Defaults) -> Vec<String> {
    let entrypoint: Vec<String> = match &a.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => d.entrypoint.clone(),
    };
    // An explicit --entrypoint drops the image's Cmd, as docker does.
    let args = if !a.command.is_empty() {
        a.command.clone()
    } else if a.entrypoint.is_none() {
        d.cmd.clone()
    } else {
        vec![]
    };
    let mut c = entrypoint;
    c.extend(args);
    if c.is_empty() {
        c.push("/bin/sh".into());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::reads_as_own_netns_run;

    fn guess(line: &str) -> bool {
        reads_as_own_netns_run(line.split_whitespace().map(std::ffi::OsString::from))
    }

    #[test]
    fn a_foreground_run_with_its_own_network_namespace_is_guessed() {
        assert!(guess("run --rm --rootfs /r -- /bin/true"));
        assert!(guess("--root /s run --memory 256M -it /bin/sh"));
        assert!(guess("--root=/s --json --color never run /bin/true"));
        // A container command's own words after -- are not nsk's.
        assert!(guess("run --rm -- sh -c d --net host --userns"));
    }

    #[test]
    fn anything_else_is_not() {
        for line in [
            "",
            "ps",
            "--root run ps",
            "--color run ps",
            "enter run",
            "image run",
            "run -d /bin/true",
            "run -itd /bin/true",
            "run --detach /bin/true",
            "run --net host /bin/true",
            "run --net=host /bin/true",
            "run --userns /bin/true",
            // Without --, the command's words are read too: a miss, never a wrong start.
            "run /bin/sh -d",
        ] {
            assert!(!guess(line), "{line}");
        }
    }
}
