use super::Ctx;
use crate::cli::LogsArgs;
use crate::error::{Context, Error, Result};
use crate::output;
use std::io::Read;

pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    let st = ctx.store.load(&a.name)?;
    let path = ctx.store.dir(&a.name)?.join("log");
    let mut f = ctx.store.open_file(&a.name, "log").map_err(|e| {
        if e.errno() == Some(nix::errno::Errno::ENOENT) {
            Error::failed(format!(
                "container {} has no log: only detached containers (nsk run -d) keep one",
                a.name
            ))
        } else {
            e
        }
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
