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
    let hostname = a.hostname.clone().unwrap_or_else(|| name.clone());
    if hostname.is_empty() || hostname.len() > 64 {
        return Err(crate::error::Error::invalid(format!(
            "invalid --hostname '{hostname}': 1 to 64 characters"
        )));
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
    let stdin_tty = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    let tty = !a.no_tty && !a.detach && (a.tty || stdin_tty);
    if !a.workdir.starts_with('/') {
        return Err(crate::error::Error::invalid(format!(
            "invalid --workdir '{}': must be an absolute path",
            a.workdir
        )));
    }
    let rootfs = match &a.rootfs {
        Some(r) => Some(
            std::fs::canonicalize(r).map_err(|e| crate::error::Error::Io {
                what: format!("invalid --rootfs {}", r.display()),
                source: e,
            })?,
        ),
        None => None,
    };
    let command = if a.command.is_empty() {
        vec!["/bin/sh".to_string()]
    } else {
        a.command.clone()
    };
    let cfg = Config {
        env: config::build_env(&hostname, tty, &user_env),
        name,
        id,
        hostname,
        rootfs,
        command,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
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
    };
    spawn::run(&ctx.store, cfg)
}
