//! Man pages (one per verb) and shell completions, rendered from the clap definitions. Shared
//! by the staleness test and `cargo run --example generate -- .`, which rewrites man/ and
//! completions/; the shipped binary carries no generator.

use clap::CommandFactory;
use nsk::cli::Cli;

/// Every generated file: (path relative to the repository, contents).
pub fn render() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut cmd = Cli::command();
    // Every verb's arguments (built only for the verb used otherwise, by `defer`).
    cmd.build();
    let mut buf = vec![];
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .expect("render nsk.1");
    out.push(("man/nsk.1".to_string(), buf));
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("nsk-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).display_name(name.clone());
        let mut buf = vec![];
        clap_mangen::Man::new(sub)
            .render(&mut buf)
            .expect("render a man page");
        out.push((format!("man/{name}.1"), buf));
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "completions/nsk.bash"),
        (clap_complete::Shell::Zsh, "completions/_nsk"),
        (clap_complete::Shell::Fish, "completions/nsk.fish"),
    ] {
        let mut buf = vec![];
        let mut c = Cli::command();
        clap_complete::generate(shell, &mut c, "nsk", &mut buf);
        out.push((file.to_string(), buf));
    }
    out
}
