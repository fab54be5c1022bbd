//! Freezing and thawing a set of cgroups: v2's cgroup.freeze (confirmed by cgroup.events) or
//! the v1 freezer's freezer.state.

use super::{read_keyed, write_value, CgroupSet, Version};
use crate::error::{Context, Error, Result};
use serde::Serialize;
use std::fs;
use std::path::PathBuf;

/// One file nsk changed: its value before and after.
#[derive(Debug, Serialize)]
pub struct Change {
    pub file: String,
    pub before: String,
    pub after: String,
}

/// How long the kernel may take to freeze or thaw before nsk gives up.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

impl CgroupSet {
    /// The file that freezes the set: v2 cgroup.freeze, v1 freezer.state (on a hybrid host the
    /// v1 freezer, which runtimes there use).
    pub fn freeze_file(&self) -> Option<PathBuf> {
        match self.version {
            Version::V2 => self
                .dir_for("memory")
                .or_else(|| self.v2_dir())
                .map(|d| d.join("cgroup.freeze")),
            _ => self.dir_for("freezer").map(|d| d.join("freezer.state")),
        }
    }

    /// The controller whose directory holds the freeze file (for the root-cgroup check).
    pub fn freeze_controller(&self) -> &'static str {
        match self.version {
            Version::V2 => "memory",
            _ => "freezer",
        }
    }

    /// What the freeze file holds when the set is not frozen.
    pub fn thawed_value(&self) -> &'static str {
        match self.version {
            Version::V2 => "0",
            _ => "THAWED",
        }
    }

    /// Is the set frozen or freezing, by the file that freezes it?
    pub fn is_frozen(&self) -> bool {
        let Some(f) = self.freeze_file() else {
            return false;
        };
        let Ok(s) = fs::read_to_string(&f) else {
            return false;
        };
        match self.version {
            Version::V2 => s.trim() == "1",
            _ => s.trim() != "THAWED",
        }
    }

    /// Freeze (true) or thaw (false) the set, waiting until the kernel says it is done.
    pub fn set_frozen(&self, frozen: bool) -> Result<Change> {
        let file = self.freeze_file().ok_or_else(|| match self.version {
            Version::V2 => Error::failed("no cgroup2 directory to freeze"),
            _ => Error::failed("the freezer cgroup controller is not mounted on this host"),
        })?;
        let (value, done): (&str, Box<dyn Fn() -> bool>) = match self.version {
            Version::V2 => {
                let ev = file.with_file_name("cgroup.events");
                (
                    if frozen { "1" } else { "0" },
                    Box::new(move || read_keyed(&ev, "frozen") == Some(frozen as u64)),
                )
            }
            _ => {
                let want = if frozen { "FROZEN" } else { "THAWED" };
                let st = file.clone();
                (
                    want,
                    Box::new(move || fs::read_to_string(&st).is_ok_and(|s| s.trim() == want)),
                )
            }
        };
        let before = fs::read_to_string(&file)
            .ctx(|| format!("cannot read {}", file.display()))?
            .trim()
            .to_string();
        write_value(&file, value)
            .ctx(|| format!("cannot write '{value}' to {}", file.display()))?;
        let deadline = std::time::Instant::now() + SETTLE;
        while !done() {
            if std::time::Instant::now() > deadline {
                return Err(Error::failed(format!(
                    "{} did not reach {value} within 10 s",
                    file.display()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(Change {
            file: file.display().to_string(),
            before,
            after: value.into(),
        })
    }
}
