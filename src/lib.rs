//! nsk: an exec-debugging toolkit for Linux containers that talks to the kernel directly.
//! The binary is a thin `main`; everything lives here and returns typed errors.

pub mod cgroup;
pub mod channel;
pub mod cli;
pub mod cmd;
pub mod container;
pub mod enter;
pub mod error;
pub mod image;
pub mod inspect;
pub mod limit;
pub mod ns;
pub mod output;
pub mod process;
pub mod pty;
pub mod runtime;
pub mod secure;
pub mod sys;
pub mod target;
pub mod tools;
pub mod units;

use clap::Parser;
use cli::{Cli, Command};

/// Parse the command line, run the verb, and return the process exit code.
pub fn main_with_args() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return code;
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
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nsk: {}", output::clean(&e.to_string()));
            e.exit_code()
        }
    }
}
