//! Output: tables for people (comfy-table), JSON for scripts, and stdout writes that treat a
//! closed pipe (`nsk ps | head`) as the end of output rather than an error.

use crate::error::{Error, Result};
use comfy_table::{presets, ContentArrangement, Table};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

/// Print to stdout. A closed pipe (`nsk ps | head`) is `Error::OutputClosed`: the verb stops
/// there and nsk exits quietly with success.
pub fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Error::OutputClosed),
        _ => Ok(()),
    }
}

pub fn print_json(v: &serde_json::Value) -> Result<()> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    print(&s)
}

/// Text from outside nsk (a command line, a cgroup or interface name, a hostname, an image tag)
/// made safe to show on a terminal: control characters and the bidirectional-text controls are
/// written as escapes (`\n`, `\x1b`, `\u{202e}`), so such text can neither drive the terminal
/// (move the cursor, retitle the window, write the clipboard) nor reorder or hide what is shown,
/// and a row stays one line. JSON output needs none of this: serde escapes what it must.
pub fn clean(s: &str) -> Cow<'_, str> {
    fn escaped(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if escaped(c) && (c as u32) < 0x100 => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c if escaped(c) => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

/// A table cell: its text is cleaned when the table is drawn; its color (an SGR code) is nsk's.
pub struct Cell {
    text: String,
    color: Option<u8>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, color: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

/// A cell in color `code` when color is on (green 32, red 31, yellow 33).
pub fn colored(text: impl Into<String>, code: u8, on: bool) -> Cell {
    Cell {
        text: text.into(),
        color: on.then_some(code),
    }
}

/// A borderless table with a header row, in the style of `docker ps`. Every cell is cleaned.
///
/// comfy-table lays out the clean text only; nsk's colors go in afterwards, around each colored
/// cell at the place the layout gave it, so comfy-table needs no ANSI-aware width code (its
/// `custom_styling` feature and the terminal crates that come with it).
pub fn table<C: Into<Cell>>(header: &[&str], rows: Vec<Vec<C>>) -> String {
    let rows: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| {
                    let c: Cell = c.into();
                    Cell {
                        text: clean(&c.text).into_owned(),
                        color: c.color,
                    }
                })
                .collect()
        })
        .collect();
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.iter().map(|h| h.to_string()));
    for r in &rows {
        t.add_row(r.iter().map(|c| c.text.as_str()));
    }
    let widths = t.column_max_content_widths();
    let mut s = String::new();
    for (i, line) in t.lines().enumerate() {
        // comfy-table pads the first column with one space; drop it so output starts at column 0.
        let line = line.strip_prefix(' ').unwrap_or(&line).trim_end();
        match i.checked_sub(1).and_then(|r| rows.get(r)) {
            Some(row) if row.iter().any(|c| c.color.is_some()) => {
                s.push_str(&paint_row(line, row, &widths))
            }
            _ => s.push_str(line),
        }
        s.push('\n');
    }
    s
}

/// Color the colored cells of one laid-out row. Without borders, a cell starts after the cells
/// before it, each padded with spaces to its column's width plus one space either side.
fn paint_row(line: &str, row: &[Cell], widths: &[u16]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut out = String::with_capacity(line.len() + 16);
    let (mut done, mut at) = (0, 0);
    for (c, w) in row.iter().zip(widths) {
        let end = (at + c.text.len()).min(line.len());
        if let Some(code) = c.color {
            // Only where the layout put the text: anything else is left uncolored.
            if at >= done && line.get(at..end).is_some_and(|t| c.text.starts_with(t)) {
                out.push_str(&line[done..at]);
                let _ = write!(out, "\x1b[{code}m{}\x1b[0m", &line[at..end]);
                done = end;
            }
        }
        at += c.text.len() + usize::from(*w).saturating_sub(c.text.width()) + 2;
    }
    out.push_str(line.get(done..).unwrap_or(""));
    out
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

/// `s`, cleaned, in an ANSI color or attribute when enabled (bold 1, red 31, green 32, yellow 33).
pub fn paint(s: &str, code: u8, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{}\x1b[0m", clean(s))
    } else {
        clean(s).into_owned()
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

/// "Up 5 minutes": how long a container has run.
pub fn uptime(secs: u64) -> String {
    let a = ago(secs);
    format!("Up {}", a.trim_end_matches(" ago"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_plain_columns() {
        let t = table(&["NAME", "PID"], vec![vec!["web", "42"]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("NAME"), "{t}");
        assert!(lines[1].starts_with("web"), "{t}");
    }

    #[test]
    fn text_from_outside_cannot_drive_the_terminal() {
        assert!(matches!(clean("sleep 100"), Cow::Borrowed(_)));
        assert_eq!(
            clean("a\nb\tc\r\x1b]0;owned\x07\x7f\u{9b}"),
            "a\\nb\\tc\\r\\x1b]0;owned\\x07\\x7f\\x9b"
        );
        assert_eq!(clean("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(clean("größe → 日本"), "größe → 日本");
        // A cell from a hostile process stays one line with no escape in it; nsk's own color
        // and the paint of a title survive, with the title text cleaned too.
        let t = table(
            &["COMMAND", "STATUS"],
            vec![vec![
                Cell::from("evil\n\x1b[2J"),
                colored("running", 32, true),
            ]],
        );
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.contains("evil\\n\\x1b[2J"), "{t}");
        assert_eq!(t.matches('\x1b').count(), 2, "{t}");
        assert!(t.contains("\x1b[32mrunning\x1b[0m"), "{t}");
        // Colors go in after the layout: the columns line up as they do without color, wide
        // and empty cells before a colored one included.
        let rows = || {
            vec![
                vec![
                    Cell::from("日本語"),
                    Cell::from(""),
                    colored("up", 32, true),
                ],
                vec![
                    Cell::from("a"),
                    Cell::from("b c"),
                    colored("exited", 31, true),
                ],
            ]
        };
        let strip = |t: &str| {
            t.replace("\x1b[32m", "")
                .replace("\x1b[31m", "")
                .replace("\x1b[0m", "")
        };
        let plain: Vec<Vec<Cell>> = rows()
            .into_iter()
            .map(|r| r.into_iter().map(|c| Cell::from(c.text)).collect())
            .collect();
        let t = table(&["NAME", "X", "STATUS"], rows());
        assert_eq!(strip(&t), table(&["NAME", "X", "STATUS"], plain), "{t}");
        assert!(t.contains("\x1b[32mup\x1b[0m\n"), "{t}");
        assert!(t.contains("\x1b[31mexited\x1b[0m\n"), "{t}");
        assert_eq!(paint("host\x1b[2J", 1, true), "\x1b[1mhost\\x1b[2J\x1b[0m");
        assert_eq!(paint("host\x1b[2J", 1, false), "host\\x1b[2J");
    }

    #[test]
    fn ages() {
        assert_eq!(ago(1), "1 second ago");
        assert_eq!(ago(125), "2 minutes ago");
        assert_eq!(ago(7200), "2 hours ago");
        assert_eq!(uptime(125), "Up 2 minutes");
    }
}
