use super::Ctx;
use crate::cgroup::{Limits, DEFAULT_CPU_PERIOD_US};
use crate::cli::{NetMode, RunArgs};
use crate::container::config::{self, Config, Net};
use crate::container::spawn;
use crate::error::Result;
use crate::units;

pub fn limits_from(a: &RunArgs) -> Result<Limits> {
    let mut l = Limits {
        memory: a
            .memory
            .as_deref()
            .map(|s| units::parse_size("--memory", s))
            .transpose()?,
        memory_swap: a
            .memory_swap
            .as_deref()
            .map(|s| units::parse_size("--memory-swap", s))
            .transpose()?,
        cpu_quota_us: a
            .cpus
            .as_deref()
            .map(|s| units::parse_cpus(s, DEFAULT_CPU_PERIOD_US))
            .transpose()?,
        cpu_period_us: None,
        pids: a
            .pids
            .as_deref()
            .map(|s| units::parse_count("--pids", s, 1, 1 << 22, true))
            .transpose()?,
        ..Default::default()
    };
    if l.cpu_quota_us.is_some() {
        l.cpu_period_us = Some(DEFAULT_CPU_PERIOD_US);
    }
    l.validate()?;
    Ok(l)
}

pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
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
    if let Some(h) = &a.hostname {
        check_hostname(h)?;
    }
    if let Some(w) = &a.workdir {
        check_workdir(w)?;
    }
    let limits = limits_from(&a)?;
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
        Some(arg) => Some(crate::image::for_run(&ctx.store.root, arg)?),
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
        net: match a.net {
            NetMode::None => Net::None,
            NetMode::Host => Net::Host,
        },
        userns: a.userns,
        volumes,
        limits,
        tty,
        detach: a.detach,
        remove: a.rm,
        privileged: a.privileged,
        cgroup_parent: a.cgroup_parent.clone(),
        image: image.as_ref().map(|i| i.meta.id.clone()),
    };
    spawn::run(&ctx.store, cfg, image.map(|i| i.pin))
}

fn check_hostname(h: &str) -> Result<()> {
    if h.is_empty() || h.len() > 64 {
        return Err(crate::error::Error::invalid(format!(
            "invalid hostname '{h}': 1 to 64 characters"
        )));
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
