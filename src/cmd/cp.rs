//! `nsk cp`: copy between the host and a container.

use super::Ctx;
use crate::cli::CpArgs;
use crate::cp::{self, Options};
use crate::error::Result;

pub fn cp(ctx: &Ctx, a: CpArgs) -> Result<i32> {
    let mut notices = super::Notices::stderr();
    let o = Options {
        archive: a.archive,
        follow: a.follow_link,
        progress: !a.quiet && cp::stderr_is_terminal(),
    };
    cp::cp(
        cp::parse_spec(&a.src),
        cp::parse_spec(&a.dst),
        |t| crate::target::resolve(&ctx.store, t),
        o,
        &mut |n| notices.show(n),
    )?;
    Ok(0)
}
