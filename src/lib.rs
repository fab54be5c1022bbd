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
pub mod notice;
pub mod ns;
pub mod output;
pub mod process;
pub mod runtime;
pub mod scan;
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
use error::Error;

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
    let mut cmd = Cli::command();
    // The verbs' own subcommands are built with their arguments (defer): build them all, once,
    // on this error path.
    cmd.build();
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

/// A value refused by its parser (`units`), as nsk words it: `invalid --memory '0': must be
/// greater than zero (examples: ...)`, `invalid signal 'NOPE': ...` (a positional argument is
/// named by its value name). None for every other clap error.
pub fn invalid_value_line(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let why = std::error::Error::source(e)?.downcast_ref::<units::BadValue>()?;
    let text = |k| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    // "--memory <SIZE>", "-i <SECONDS>", or a positional's "[SIGNAL]".
    let arg = text(ContextKind::InvalidArg)?;
    let value = text(ContextKind::InvalidValue)?;
    let what = if arg.starts_with('-') {
        arg.split(' ').next().unwrap_or(arg).to_string()
    } else {
        arg.trim_matches(|c| "[]<>.".contains(c)).to_lowercase()
    };
    Some(format!("invalid {what} '{value}': {why}"))
}

/// A conflict with a group (`limit --reset` and the limit options): clap names every member of
/// the group; nsk names those given, as for a conflict between two options.
pub fn group_conflict_line(e: &clap::Error, args: &[String]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::ArgumentConflict {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let Some(ContextValue::Strings(others)) = e.get(ContextKind::PriorArg) else {
        return None;
    };
    let given = |o: &&String| {
        let name = o.split(' ').next().unwrap_or(o);
        args.iter()
            .any(|a| a == name || a.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
    };
    let used: Vec<&String> = others.iter().filter(given).collect();
    if others.len() < 2 || used.is_empty() {
        return None;
    }
    let with = match used.as_slice() {
        [one] => format!(" '{one}'"),
        many => format!(
            ": {}",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    let msg = format!("error: the argument '{arg}' cannot be used with{with}\n");
    Some(clap_one_line(&msg, args))
}

/// nsk's arguments (without argv[0]) as text, bytes that are not UTF-8 replaced: for the
/// messages that quote them and the checks that read them after clap (which refuses such bytes
/// where it wants text).
pub fn args_lossy() -> Vec<String> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Parse the command line, run the verb, and return the process exit code.
pub fn main_with_args() -> i32 {
    // A SIGCHLD that nsk's caller ignored would stay ignored here and in the container's init
    // (a fork): children would be reaped by the kernel, and neither would ever see its child
    // end. nsk waits for its children, so it takes the default back.
    sys::default_sigchld();
    // Started first, when the command line reads as a foreground `nsk run` (a guess, checked
    // against the parse). A command line that is refused, or only asks for help, drops it
    // without waiting for it (`abandon`): nsk exits right after.
    let netns = cmd::run::early_netns();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version.
            if let Some(t) = netns {
                t.abandon();
            }
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            if let Some(t) = netns {
                t.abandon();
            }
            let args = args_lossy();
            let line = invalid_value_line(&e)
                .or_else(|| group_conflict_line(&e, &args))
                .unwrap_or_else(|| clap_one_line(&e.render().to_string(), &args));
            eprintln!("nsk: {}", output::clean(&line));
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
    // Another verb: the guess was wrong, the task goes now.
    let netns = netns.filter(|_| matches!(cli.cmd, Command::Run(_)));
    let r = match cli.cmd {
        Command::Run(a) => cmd::run::run(&ctx, *a, netns),
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
        // The reader of nsk's output went away: the output ends there, quietly.
        Err(Error::OutputClosed) => 0,
        Err(e) => {
            eprintln!("nsk: {}", output::clean(&e.to_string()));
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line nsk prints for a command line clap refuses.
    fn line(args: &[&str]) -> String {
        let e = Cli::try_parse_from(std::iter::once("nsk").chain(args.iter().copied()))
            .expect_err("refused");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        invalid_value_line(&e)
            .or_else(|| group_conflict_line(&e, &args))
            .unwrap_or_else(|| clap_one_line(&e.render().to_string(), &args))
    }

    #[test]
    fn refused_values_name_the_option_and_the_value() {
        assert_eq!(
            line(&["limit", "x", "--memory-reservation", "1.5"]),
            "invalid --memory-reservation '1.5': not a whole number of bytes (examples: 256M, 1.5G, 1048576, max)"
        );
        assert_eq!(
            line(&["run", "--storage-size=-2"]),
            "invalid --storage-size '-2': negative size (examples: 256M, 1.5G, 1048576, max)"
        );
        assert_eq!(
            line(&["kill", "x", "0"]),
            "invalid signal '0': no such signal number (examples: TERM, SIGKILL, 9)"
        );
        assert_eq!(
            line(&["stop", "-t", "-1", "x"]),
            "unexpected argument '-1' found; to pass '-1' as a value, use '-- -1' (see nsk stop --help)"
        );
    }

    #[test]
    fn a_conflict_with_the_limit_group_names_what_was_given() {
        for (args, want) in [
            (
                &["limit", "x", "--reset", "--pids", "5"][..],
                "the argument '--reset' cannot be used with '--pids <N>' (see nsk limit --help)",
            ),
            (
                &["limit", "x", "--reset", "--freeze", "--cpuset-cpus=0"],
                "the argument '--reset' cannot be used with: --freeze --cpuset-cpus <LIST> (see nsk limit --help)",
            ),
            (
                &["limit", "x", "--io-weight", "5", "--reset"],
                "the argument '--io-weight <N>' cannot be used with '--reset' (see nsk limit --help)",
            ),
            (
                &["limit", "x", "--reset", "--dry-run"],
                "the argument '--reset' cannot be used with '--dry-run' (see nsk limit --help)",
            ),
        ] {
            assert_eq!(line(args), want, "{args:?}");
        }
        // Every option of the group conflicts with --reset, without a list to keep.
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        // The verbs' arguments are built when a verb is used (defer): build them all here.
        cmd.build();
        let limit = cmd.find_subcommand("limit").unwrap();
        let set: Vec<_> = limit
            .get_groups()
            .find(|g| g.get_id() == "set")
            .unwrap()
            .get_args()
            .map(|a| a.to_string())
            .collect();
        assert!(set.len() >= 11, "{set:?}");
        for a in limit.get_arguments().filter(|a| a.get_long().is_some()) {
            let id = a.get_id().to_string();
            let changes = ![
                "target", "force", "dry_run", "reset", "root", "json", "color", "help", "version",
            ]
            .contains(&id.as_str());
            assert_eq!(set.contains(&id), changes, "{id}");
        }
    }

    #[test]
    fn building_a_verb_keeps_the_summary_nsk_help_shows_for_it() {
        // A verb's arguments are added when it is built (defer); a doc comment on an argument
        // struct would then replace the verb's own summary in `nsk VERB --help`.
        use clap::CommandFactory;
        let cmd = Cli::command();
        let mut verbs = 0;
        for sub in cmd.get_subcommands() {
            let before = sub.get_about().map(|a| a.to_string());
            let mut built = sub.clone();
            built.build();
            assert_eq!(
                built.get_about().map(|a| a.to_string()),
                before,
                "{}",
                sub.get_name()
            );
            assert!(before.is_some(), "{} has no summary", sub.get_name());
            verbs += 1;
        }
        assert!(verbs >= 12, "{verbs}");
    }
}
