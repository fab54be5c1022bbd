use super::Ctx;
use crate::cli::{ImageArgs, ImageCommand};
use crate::clock::parse_rfc3339;
use crate::error::{Error, Result};
use crate::image::{self, source, Cache, Meta};
use crate::output;

pub fn image(ctx: &Ctx, a: ImageArgs) -> Result<i32> {
    let cache = Cache::new(&ctx.store.root);
    match a.cmd {
        ImageCommand::Import(i) => {
            let (path, sel) = source::parse_arg(&i.file).ok_or_else(|| {
                // Say why the path cannot be reached (a symlink loop is not "no such file").
                let why = std::fs::metadata(&i.file)
                    .err()
                    .and_then(|e| e.raw_os_error())
                    .map(|n| crate::error::errno_text(nix::errno::Errno::from_raw(n)))
                    .unwrap_or_else(|| "no such file or directory".into());
                Error::invalid(format!("cannot import {}: {why}", i.file))
            })?;
            let mut notices = super::Notices::stderr();
            let m = image::import(&ctx.store.root, &path, &sel, i.name.as_deref(), &mut |n| {
                notices.show(n)
            })?;
            if ctx.json {
                output::print_json(&serde_json::to_value(&m).unwrap_or_default())?;
            } else {
                output::print(&format!("{} {}\n", m.id, output::clean(&m.names.join(" "))))?;
            }
            Ok(0)
        }
        ImageCommand::Ls => {
            let all = cache.list()?;
            if ctx.json {
                output::print_json(&serde_json::to_value(&all).unwrap_or_default())?;
                return Ok(0);
            }
            output::print(&output::table(
                &["NAME", "ID", "SIZE", "CREATED", "LAST USED"],
                rows(&all),
            ))?;
            Ok(0)
        }
        ImageCommand::Rm(r) => {
            let mut failed = None;
            for what in &r.images {
                match cache.remove(what, |id| images_users(&ctx.store, id)) {
                    Ok(image::Removed::Image(m)) => output::print(&format!("{}\n", m.id))?,
                    Ok(image::Removed::Untagged(n)) => {
                        output::print(&format!("untagged {}\n", output::clean(&n)))?
                    }
                    Err(e) => {
                        eprintln!("nsk: {}", output::clean(&e.to_string()));
                        failed = Some(e.exit_code());
                    }
                }
            }
            Ok(failed.unwrap_or(0))
        }
    }
}

fn rows(all: &[Meta]) -> Vec<Vec<String>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let when = |t: &Option<String>| match t {
        None => "-".to_string(),
        Some(s) => {
            parse_image_time(s).map_or_else(|| s.clone(), |t| output::ago(now.saturating_sub(t)))
        }
    };
    let mut out = vec![];
    for m in all {
        let names = if m.names.is_empty() {
            vec!["<none>".to_string()]
        } else {
            m.names.clone()
        };
        for n in names {
            out.push(vec![
                n,
                m.short().to_string(),
                crate::units::format_size(m.size),
                when(&m.created),
                when(&m.last_used),
            ]);
        }
    }
    out
}

/// Image configs carry RFC 3339 times with fractions and offsets ("2024-01-02T03:04:05.123Z");
/// the seconds are enough for "3 days ago".
fn parse_image_time(s: &str) -> Option<u64> {
    let base = s.get(..19)?;
    parse_rfc3339(&format!("{base}Z"))
}

/// The containers of `store` that run on the image `id`.
fn images_users(store: &crate::container::state::Store, id: &str) -> Result<Vec<String>> {
    Ok(store
        .names()?
        .into_iter()
        .filter(|n| {
            store
                .load(n)
                .is_ok_and(|st| st.image.as_deref() == Some(id))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_times() {
        assert_eq!(
            super::parse_image_time("1970-01-01T00:01:00.123456789Z"),
            Some(60)
        );
        assert_eq!(super::parse_image_time("garbage"), None);
    }
}
