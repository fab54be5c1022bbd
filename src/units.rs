//! Parsing of user-given quantities: byte sizes (`512k`, `256M`, `1.5G`, `max`), CPU counts and
//! PID counts. Every refusal names the value and shows a valid example.

use crate::error::{Error, Result};

/// A limit value: a number in kernel units, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Limit {
    Max,
    Value(u64),
}

impl Limit {
    pub fn value(self) -> Option<u64> {
        match self {
            Limit::Max => None,
            Limit::Value(v) => Some(v),
        }
    }
}

/// Parse a byte size: `1024`, `512k`, `256M`, `1.5G`, `2T`, optionally with a `b`/`ib` suffix
/// (`256MiB`, `1gb`); units are binary and case-insensitive. `max` (or `-1`) means unlimited.
pub fn parse_size(opt: &str, s: &str) -> Result<Limit> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid {opt} '{s}': {why} (examples: 256M, 1.5G, 1048576, max)"
        ))
    };
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") || t == "-1" {
        return Ok(Limit::Max);
    }
    if t.is_empty() {
        return Err(bad("empty size"));
    }
    if t.starts_with('-') {
        return Err(bad("negative size"));
    }
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => return Err(bad("unknown unit")),
    };
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(bad("not a number"));
    }
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad("too large"))?
    };
    let mut bytes: u128 = int.checked_shl(shift).ok_or_else(|| bad("too large"))?;
    if int > (u64::MAX as u128) {
        return Err(bad("too large"));
    }
    if !frac.is_empty() {
        if frac.len() > 18 {
            return Err(bad("too many decimals"));
        }
        let f: u128 = frac.parse().map_err(|_| bad("not a number"))?;
        let scale = 10u128.pow(frac.len() as u32);
        let scaled = f << shift;
        if !scaled.is_multiple_of(scale) {
            return Err(bad("not a whole number of bytes"));
        }
        bytes += scaled / scale;
    }
    if bytes == 0 {
        return Err(bad("must be greater than zero"));
    }
    if bytes > i64::MAX as u128 {
        return Err(bad("too large"));
    }
    Ok(Limit::Value(bytes as u64))
}

/// Parse a CPU count (`0.5`, `2`); returns it as a quota in microseconds per `period_us`.
pub fn parse_cpus(s: &str, period_us: u64) -> Result<Limit> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(Limit::Max);
    }
    let bad = |why: &str| {
        Error::invalid(format!(
            "invalid --cpus '{s}': {why} (examples: 0.5, 2, max)"
        ))
    };
    let v: f64 = t.parse().map_err(|_| bad("not a number"))?;
    if !v.is_finite() {
        return Err(bad("not a number"));
    }
    if v <= 0.0 {
        return Err(bad("must be greater than zero"));
    }
    if v > 4096.0 {
        return Err(bad("too large"));
    }
    let quota = (v * period_us as f64).round() as u64;
    if quota < 1000 {
        return Err(bad(
            "too small: the kernel needs at least 1 ms of quota per period",
        ));
    }
    Ok(Limit::Value(quota))
}

/// Parse a positive integer limit (pids, shares, weights) or `max`.
pub fn parse_count(opt: &str, s: &str, min: u64, max: u64, allow_max: bool) -> Result<Limit> {
    let t = s.trim();
    if allow_max && (t.eq_ignore_ascii_case("max") || t == "-1") {
        return Ok(Limit::Max);
    }
    let example = if allow_max {
        format!("{min}, 100, max")
    } else {
        format!("{min}, {max}")
    };
    let v: u64 = t.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid {opt} '{s}': not a whole number (examples: {example})"
        ))
    })?;
    if v < min || v > max {
        return Err(Error::invalid(format!(
            "invalid {opt} '{s}': must be between {min} and {max}"
        )));
    }
    Ok(Limit::Value(v))
}

/// Human form of a byte count: `256M`, `1.5G`, `512k`, `1000`.
pub fn format_size(b: u64) -> String {
    const UNITS: [(u32, &str); 5] = [(50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "k")];
    for (shift, u) in UNITS {
        let unit = 1u64 << shift;
        if b >= unit {
            let whole = b / unit;
            let tenth = (b % unit) * 10 / unit;
            return if tenth == 0 {
                format!("{whole}{u}")
            } else {
                format!("{whole}.{tenth}{u}")
            };
        }
    }
    b.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> u64 {
        parse_size("--memory", s).unwrap().value().unwrap()
    }

    #[test]
    fn sizes() {
        assert_eq!(ok("1024"), 1024);
        assert_eq!(ok("512k"), 512 << 10);
        assert_eq!(ok("512K"), 512 << 10);
        assert_eq!(ok("256M"), 256 << 20);
        assert_eq!(ok("256mib"), 256 << 20);
        assert_eq!(ok("1.5G"), 3 << 29);
        assert_eq!(ok("1gb"), 1 << 30);
        assert_eq!(ok("0.5k"), 512);
        assert_eq!(parse_size("--memory", "max").unwrap(), Limit::Max);
        assert_eq!(parse_size("--memory", "MAX").unwrap(), Limit::Max);
    }

    #[test]
    fn bad_sizes_name_the_value() {
        for s in [
            "0",
            "-5",
            "abc",
            "12q",
            "1.5",
            "0.3k",
            "99999999999999999999G",
            "",
            "1..2M",
            ".",
        ] {
            let e = parse_size("--memory", s).unwrap_err().to_string();
            assert!(e.contains(&format!("'{s}'")), "{e}");
            assert!(e.contains("256M"), "{e}");
        }
        assert!(parse_size("--memory", "16E").is_err());
        assert!(parse_size("--memory", "9000P").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5", 100_000).unwrap(), Limit::Value(50_000));
        assert_eq!(parse_cpus("2", 100_000).unwrap(), Limit::Value(200_000));
        for s in ["0", "-1", "nan", "inf", "x", "0.001"] {
            assert!(parse_cpus(s, 100_000).is_err(), "{s}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(
            parse_count("--pids", "50", 1, 1 << 22, true).unwrap(),
            Limit::Value(50)
        );
        assert_eq!(
            parse_count("--pids", "max", 1, 1 << 22, true).unwrap(),
            Limit::Max
        );
        assert!(parse_count("--pids", "0", 1, 1 << 22, true).is_err());
        assert!(parse_count("--pids", "1.5", 1, 1 << 22, true).is_err());
        assert!(parse_count("--cpu-shares", "max", 2, 262144, false).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(256 << 20), "256M");
        assert_eq!(format_size(3 << 29), "1.5G");
        assert_eq!(format_size(1000), "1000");
    }
}
