//! Output: tables for people (comfy-table), JSON for scripts, and stdout writes that treat a
//! closed pipe (`nsk ps | head`) as the end of output rather than an error.

use comfy_table::{presets, ContentArrangement, Table};
use std::io::Write;

/// Print to stdout; a broken pipe ends the process quietly with success.
pub fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

pub fn print_json(v: &serde_json::Value) {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    print(&s);
}

/// A borderless table with a header row, in the style of `docker ps`.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    let mut s = t.trim_fmt();
    s.push('\n');
    // comfy-table pads the first column with one space; drop it so output starts at column 0.
    s.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).to_string() + "\n")
        .collect()
}

/// Color decision: `--color`, then NO_COLOR, then whether stdout is a terminal.
pub fn use_color(choice: crate::cli::ColorChoice) -> bool {
    use crate::cli::ColorChoice::*;
    match choice {
        Always => true,
        Never => false,
        Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && nix::unistd::isatty(std::io::stdout()).unwrap_or(false)
        }
    }
}

/// Wrap `s` in an ANSI color when enabled (green 32, red 31, yellow 33).
pub fn paint(s: &str, code: u8, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// "3 seconds ago", "5 minutes ago", "2 hours ago", "4 days ago".
pub fn ago(secs: u64) -> String {
    let (n, u) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86399 => (secs / 3600, "hour"),
        _ => (secs / 86400, "day"),
    };
    format!("{n} {u}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_plain_columns() {
        let t = table(&["NAME", "PID"], vec![vec!["web".into(), "42".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("NAME"), "{t}");
        assert!(lines[1].starts_with("web"), "{t}");
    }

    #[test]
    fn ages() {
        assert_eq!(ago(1), "1 second ago");
        assert_eq!(ago(125), "2 minutes ago");
        assert_eq!(ago(7200), "2 hours ago");
    }
}
