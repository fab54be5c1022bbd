use super::Ctx;
use crate::cli::LogsArgs;
use crate::error::{Context, Error, Result};
use crate::output;
use std::io::Read;

pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    let st = ctx.store.load(&a.name)?;
    let path = ctx.store.dir(&a.name)?.join("log");
    let mut f = std::fs::File::open(&path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Error::failed(format!(
            "container {} has no log: only detached containers (nsk run -d) keep one",
            a.name
        )),
        _ => Error::Io {
            what: format!("cannot open {}", path.display()),
            source: e,
        },
    })?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .ctx(|| format!("cannot read {}", path.display()))?;
        if n > 0 {
            output::print(&String::from_utf8_lossy(&buf[..n]));
            continue;
        }
        if !a.follow {
            return Ok(0);
        }
        let running = ctx
            .store
            .load(&a.name)
            .map(|s| s.is_running())
            .unwrap_or(false)
            && st.detached;
        if !running {
            // One last read for output written just before the exit.
            let n = f.read(&mut buf).unwrap_or(0);
            output::print(&String::from_utf8_lossy(&buf[..n]));
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
