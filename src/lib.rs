//! nsk: an exec-debugging toolkit for Linux containers that talks to the kernel directly.
//! The binary is a thin `main`; everything lives here and returns typed errors.

pub mod cgroup;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod confine;
pub mod container;
pub mod cp;
pub mod enter;
pub mod error;
pub mod exec;
pub mod image;
pub mod inspect;
pub mod limit;
pub mod ns;
pub mod output;
pub mod process;
pub mod runtime;
pub mod secure;
pub mod sys;
pub mod target;
pub mod tools;
pub mod top;
pub mod units;

#[cfg(test)]
mod proptests;

use clap::Parser;
use cli::{Cli, Command};

/// clap's error, which spans 3 to 7 lines (message, possible values, tip, usage), as one line:
/// the message, what clap suggests, and where to read more, with an example for a value.
pub fn clap_one_line(rendered: &str, args: &[String]) -> String {
    let mut msg = String::new();
    let mut tips = vec![];
    for (i, line) in rendered.lines().enumerate() {
        let t = line.trim();
        if i == 0 {
            msg = t.strip_prefix("error: ").unwrap_or(t).to_string();
        } else if t.is_empty() || t.starts_with("For more information") || t.starts_with("Usage:") {
            continue;
        } else if let Some(tip) = t.strip_prefix("tip: ") {
            tips.push(tip.to_string());
        } else {
            msg.push(' ');
            msg.push_str(t);
        }
    }
    // The verb typed (for its --help): "run", "image import".
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut verb = vec!["nsk".to_string()];
    let mut level = &cmd;
    for a in args {
        if let Some(sub) = level.find_subcommand(a) {
            verb.push(a.clone());
            level = sub;
        }
    }
    // An example for the kinds of value nsk takes.
    let example = [
        ("<SIZE>", "256M"),
        ("<N>", "2"),
        ("<KEY=VAL>", "LANG=C.UTF-8"),
        ("<HOST:CONTAINER[:ro]>", "/srv/data:/data:ro"),
        ("<USER[:GROUP]>", "www:www"),
        ("<DIR>", "/srv/rootfs"),
        ("<LIST>", "0-3"),
        ("<PATH>", "machine/nsk"),
        ("<WHEN>", "never"),
    ]
    .iter()
    .find_map(|(v, ex)| {
        let at = msg.find(&format!(" {v}'"))?;
        let opt = msg[..at].rsplit('\'').next()?;
        (msg.starts_with("a value is required") || msg.starts_with("invalid value"))
            .then(|| format!("; example: {opt} {ex}"))
    })
    .unwrap_or_default();
    let tips = if tips.is_empty() {
        String::new()
    } else {
        format!("; {}", tips.join("; "))
    };
    format!("{msg}{tips}{example} (see {} --help)", verb.join(" "))
}

/// Parse the command line, run the verb, and return the process exit code.
pub fn main_with_args() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            eprintln!(
                "nsk: {}",
                output::clean(&clap_one_line(&e.render().to_string(), &args))
            );
            return 125;
        }
    };
    let ctx = cmd::Ctx {
        store: container::state::Store::new(
            cli.root
                .clone()
                .unwrap_or_else(container::state::default_root),
        ),
        json: cli.json,
        color: output::use_color(cli.color),
    };
    let r = match cli.cmd {
        Command::Run(a) => cmd::run::run(&ctx, *a),
        Command::Ps(a) => cmd::ps::ps(&ctx, a),
        Command::Inspect(a) => cmd::inspect::inspect(&ctx, a),
        Command::Limit(a) => cmd::limit::limit(&ctx, a),
        Command::Enter(a) => cmd::enter::enter(&ctx, a),
        Command::Stop(a) => cmd::lifecycle::stop(&ctx, a),
        Command::Kill(a) => cmd::lifecycle::kill(&ctx, a),
        Command::Rm(a) => cmd::lifecycle::rm(&ctx, a),
        Command::Logs(a) => cmd::logs::logs(&ctx, a),
        Command::Image(a) => cmd::image::image(&ctx, a),
        Command::Cp(a) => cmd::cp::cp(&ctx, a),
        Command::Top(a) => cmd::top::top(&ctx, a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nsk: {}", output::clean(&e.to_string()));
            e.exit_code()
        }
    }
}
