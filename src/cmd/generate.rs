//! Man pages (one per verb) and shell completions, generated from the clap definitions.

use crate::cli::{Cli, GenerateArgs};
use crate::error::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

pub fn generate(a: GenerateArgs) -> Result<i32> {
    write_all(&a.dir)?;
    Ok(0)
}

/// Render every file into memory: (relative path, contents).
pub fn render() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let cmd = Cli::command();
    let mut buf = vec![];
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut buf);
    out.push(("man/nsk.1".to_string(), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("nsk-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).display_name(name.clone());
        let mut buf = vec![];
        let _ = clap_mangen::Man::new(sub).render(&mut buf);
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

fn write_all(dir: &Path) -> Result<()> {
    for (rel, body) in render() {
        let p = dir.join(&rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .ctx(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&p, body).ctx(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}
