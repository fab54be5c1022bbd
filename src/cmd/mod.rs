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
