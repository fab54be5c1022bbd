//! What library code has to tell the user while it works, besides its result: warnings, things
//! it skipped or could not keep, and progress. Library modules never print: they hand each
//! notice to the `Notify` callback the command layer (`src/cmd/`) passes in, and the command
//! layer decides how it is shown (`cmd::Notices`: on stderr, progress redrawn on a terminal).

/// One notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Something to know that did not stop the work: `nsk: warning: ...`.
    Warning(String),
    /// Something skipped or not kept (a device node, an extended attribute, a fifo): `nsk: ...`.
    Skipped(String),
    /// An image layer begins to unpack: its label (`layer 2/3`) and size in bytes.
    Unpacking { layer: &'a str, total: u64 },
    /// Bytes of the layer being unpacked read so far (sent often: the receiver throttles).
    Unpacked { done: u64 },
    /// Bytes of a large file copied so far, of `total`.
    Copied {
        what: &'a str,
        done: u64,
        total: u64,
    },
    /// The progress reported so far is complete.
    ProgressDone,
}

/// Where library code sends its notices.
pub type Notify<'n> = dyn FnMut(Notice<'_>) + 'n;

/// Notices dropped (tests, and callers with nothing to show).
pub fn ignore(_: Notice<'_>) {}
