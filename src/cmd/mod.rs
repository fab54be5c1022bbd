//! One module per verb: arguments → library call → rendering.

pub mod cp;
pub mod enter;
pub mod image;
pub mod inspect;
pub mod lifecycle;
pub mod limit;
pub mod logs;
pub mod ps;
mod render;
pub mod run;
pub mod top;

use crate::container::state::Store;

/// What every verb gets from the global options.
pub struct Ctx {
    pub store: Store,
    pub json: bool,
    pub color: bool,
}

/// Shows on stderr what library code reports while it works (`notice::Notice`): warnings and
/// notes as one line each, progress redrawn in place on a terminal, and one line per image
/// layer elsewhere (so logs and CI output stay readable).
pub struct Notices {
    tty: bool,
    layer: String,
    total: u64,
    last: Option<std::time::Instant>,
    drawn: bool,
}

impl Notices {
    pub fn stderr() -> Notices {
        use std::io::IsTerminal;
        Notices {
            tty: std::io::stderr().is_terminal(),
            layer: String::new(),
            total: 0,
            last: None,
            drawn: false,
        }
    }

    pub fn show(&mut self, n: crate::notice::Notice<'_>) {
        use crate::notice::Notice;
        use crate::output::clean;
        use crate::units::format_size;
        use std::io::Write;
        match n {
            Notice::Warning(w) => eprintln!("nsk: warning: {}", clean(&w)),
            Notice::Skipped(w) => eprintln!("nsk: {}", clean(&w)),
            Notice::Unpacking { layer, total } => {
                self.layer = layer.to_string();
                self.total = total;
                self.last = None;
                if self.tty {
                    self.unpacked(0);
                } else {
                    eprintln!("nsk: unpacking {} ({})", clean(layer), format_size(total));
                }
            }
            Notice::Unpacked { done } => self.unpacked(done),
            Notice::Copied { what, done, total } => {
                let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
                let mut e = std::io::stderr().lock();
                let _ = write!(
                    e,
                    "\r{} {} / {} MiB ({pct}%)",
                    clean(what),
                    done >> 20,
                    total >> 20
                );
                let _ = e.flush();
                self.drawn = true;
            }
            Notice::ProgressDone => {
                if self.drawn {
                    eprintln!();
                    self.drawn = false;
                }
            }
        }
    }

    /// The bar of the layer unpacking, at most every 100 ms (and at its end).
    fn unpacked(&mut self, done: u64) {
        use std::io::Write;
        if !self.tty {
            return;
        }
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < std::time::Duration::from_millis(100))
            && done < self.total
        {
            return;
        }
        self.last = Some(now);
        let frac = if self.total == 0 {
            1.0
        } else {
            (done as f64 / self.total as f64).min(1.0)
        };
        let width = 30;
        let fill = (frac * width as f64) as usize;
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[Knsk: unpacking {} [{}{}] {:>3.0}% of {}",
            crate::output::clean(&self.layer),
            "#".repeat(fill),
            " ".repeat(width - fill),
            frac * 100.0,
            crate::units::format_size(self.total)
        );
        let _ = e.flush();
        self.drawn = true;
    }
}
