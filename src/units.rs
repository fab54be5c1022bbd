//! The typed values of the command line: byte sizes (`512k`, `256M`, `1.5G`, `max`), CPU counts,
//! CPU lists, bounded counts and weights, signals and durations. Each type is parsed once, by
//! clap (`value_parser!`, through `FromStr`), so a bad value is refused before any verb runs and
//! the command code receives the value, never its text. A refusal says why and shows valid
//! examples; nsk prints it as `invalid --OPTION 'VALUE': why (examples: ...)`.

use crate::cgroup::DEFAULT_CPU_PERIOD_US;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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

/// Why a value given on the command line was refused, with valid examples. clap carries it as
/// the cause of its "invalid value" error; nsk's one-line rendering adds the option and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(pub String);

fn bad<T>(why: impl fmt::Display, examples: impl fmt::Display) -> Result<T, BadValue> {
    Err(BadValue(format!("{why} ({examples})")))
}

/// A byte size: `1024`, `512k`, `256M`, `1.5G`, `2T`, optionally with a `b`/`ib` suffix
/// (`256MiB`, `1gb`); units are binary and case-insensitive. `max` (or `-1`) means unlimited.
/// A fraction is taken when it comes to a whole number of bytes (`1.5G`, `0.5k`; not `1.5`),
/// and the result must be at least one byte and at most `i64::MAX` (what the kernel takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub Limit);

impl FromStr for Size {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Size, BadValue> {
        const EX: &str = "examples: 256M, 1.5G, 1048576, max";
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") || t == "-1" {
            return Ok(Size(Limit::Max));
        }
        if t.is_empty() {
            return bad("empty size", EX);
        }
        if t.starts_with('-') {
            return bad("negative size", EX);
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
            _ => return bad("unknown unit", EX),
        };
        if num.is_empty() || num.matches('.').count() > 1 || num == "." {
            return bad("not a number", EX);
        }
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: u128 = if int.is_empty() {
            0
        } else {
            match int.parse() {
                Ok(n) => n,
                Err(_) => return bad("too large", EX),
            }
        };
        if int > (u64::MAX as u128) {
            return bad("too large", EX);
        }
        let mut bytes: u128 = int << shift;
        if !frac.is_empty() {
            if frac.len() > 18 {
                return bad("too many decimals", EX);
            }
            let Ok(f) = frac.parse::<u128>() else {
                return bad("not a number", EX);
            };
            let scale = 10u128.pow(frac.len() as u32);
            let scaled = f << shift;
            if !scaled.is_multiple_of(scale) {
                return bad("not a whole number of bytes", EX);
            }
            bytes += scaled / scale;
        }
        if bytes == 0 {
            return bad("must be greater than zero", EX);
        }
        if bytes > i64::MAX as u128 {
            return bad("too large", EX);
        }
        Ok(Size(Limit::Value(bytes as u64)))
    }
}

/// A CPU count (`0.5`, `2`, `max`), held as the quota it means per CFS period of
/// `DEFAULT_CPU_PERIOD_US` (docker's): from 0.01 (1 ms, the kernel's least quota) to 4096 CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus(pub Limit);

impl Cpus {
    /// The quota in microseconds per `DEFAULT_CPU_PERIOD_US`, or no limit.
    pub fn quota_us(self) -> Limit {
        self.0
    }
}

impl FromStr for Cpus {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Cpus, BadValue> {
        const EX: &str = "examples: 0.5, 2, max";
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Cpus(Limit::Max));
        }
        let v: f64 = match t.parse() {
            Ok(v) if f64::is_finite(v) => v,
            _ => return bad("not a number", EX),
        };
        if v <= 0.0 {
            return bad("must be greater than zero", EX);
        }
        if v > 4096.0 {
            return bad("too large", EX);
        }
        let quota = (v * DEFAULT_CPU_PERIOD_US as f64).round() as u64;
        if quota < 1000 {
            return bad(
                "too small: the kernel needs at least 1 ms of quota per period",
                EX,
            );
        }
        Ok(Cpus(Limit::Value(quota)))
    }
}

/// A whole number from `MIN` to `MAX` (CPU shares and weights, I/O weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranged<const MIN: u64, const MAX: u64>(pub u64);

/// `--cpu-shares`: cgroup v1 `cpu.shares` (2 to 262144).
pub type CpuShares = Ranged<2, 262_144>;
/// `--cpu-weight`: cgroup v2 `cpu.weight` (1 to 10000).
pub type CpuWeight = Ranged<1, 10_000>;
/// `--io-weight`: v2 `io.weight` (1 to 10000; v1 `blkio.weight` takes 10 to 1000, checked
/// where it is written).
pub type IoWeight = Ranged<1, 10_000>;

fn whole(s: &str, min: u64, max: u64, examples: &str) -> Result<u64, BadValue> {
    let Ok(v) = s.trim().parse::<u64>() else {
        return bad("not a whole number", examples);
    };
    if v < min || v > max {
        return Err(BadValue(format!("must be between {min} and {max}")));
    }
    Ok(v)
}

impl<const MIN: u64, const MAX: u64> FromStr for Ranged<MIN, MAX> {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        whole(s, MIN, MAX, &format!("examples: {MIN}, {MAX}")).map(Ranged)
    }
}

/// A number of processes (1 to 4194304, the kernel's PID limit) or `max` (or `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pids(pub Limit);

impl FromStr for Pids {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Pids, BadValue> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") || t == "-1" {
            return Ok(Pids(Limit::Max));
        }
        whole(t, 1, 1 << 22, "examples: 1, 100, max").map(|v| Pids(Limit::Value(v)))
    }
}

/// A CPU list as cgroups write it (`0-3`, `0,2`, `0-1,3`): at least one CPU, ranges of at most
/// 65537. Held as typed (trimmed), since it is written as it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(String);

impl CpuList {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The CPUs, sorted, without duplicates.
    pub fn cpus(&self) -> Vec<u32> {
        crate::cgroup::expand_cpu_list(&self.0).unwrap_or_default()
    }
}

impl FromStr for CpuList {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<CpuList, BadValue> {
        match crate::cgroup::expand_cpu_list(s) {
            Some(v) if !v.is_empty() => Ok(CpuList(s.trim().to_string())),
            _ => bad("expected a CPU list", "examples: 0, 0-3, 0,2"),
        }
    }
}

/// A signal, by name (`KILL`, `SIGKILL`, `kill`) or number (`9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub nix::sys::signal::Signal);

impl FromStr for Signal {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Signal, BadValue> {
        const EX: &str = "examples: TERM, SIGKILL, 9";
        if let Ok(n) = s.parse::<i32>() {
            return nix::sys::signal::Signal::try_from(n)
                .map(Signal)
                .or_else(|_| bad("no such signal number", EX));
        }
        let up = s.to_ascii_uppercase();
        let name = if up.starts_with("SIG") {
            up
        } else {
            format!("SIG{up}")
        };
        nix::sys::signal::Signal::from_str(&name)
            .map(Signal)
            .or_else(|_| bad("no such signal name", EX))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A refresh interval in seconds, fractions allowed: 0.1 to 3600 (`top -i`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    secs: f64,
}

impl Interval {
    pub fn duration(self) -> Duration {
        Duration::from_secs_f64(self.secs)
    }
    /// The seconds as typed (2, 0.5), for what nsk shows.
    pub fn seconds(self) -> f64 {
        self.secs
    }
}

impl FromStr for Interval {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Interval, BadValue> {
        const EX: &str = "examples: 2, 0.5";
        let secs: f64 = match s.trim().parse() {
            Ok(v) if f64::is_finite(v) => v,
            _ => return bad("not a number of seconds", EX),
        };
        if !(0.1..=3600.0).contains(&secs) {
            return bad("from 0.1 to 3600 seconds", EX);
        }
        Ok(Interval { secs })
    }
}

/// A grace period in whole seconds (`stop -t`), 0 to 4294967295.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u32);

impl Seconds {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0.into())
    }
}

impl FromStr for Seconds {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Seconds, BadValue> {
        whole(s, 0, u32::MAX.into(), "examples: 0, 10, 30").map(|v| Seconds(v as u32))
    }
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
        s.parse::<Size>().unwrap().0.value().unwrap()
    }

    fn why<T: FromStr<Err = BadValue> + fmt::Debug>(s: &str) -> String {
        s.parse::<T>().unwrap_err().to_string()
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
        assert_eq!(ok(" 64M "), 64 << 20);
        assert_eq!(ok("1"), 1);
        assert_eq!(ok("8191P"), 8191 << 50);
        assert_eq!("max".parse::<Size>().unwrap(), Size(Limit::Max));
        assert_eq!("MAX".parse::<Size>().unwrap(), Size(Limit::Max));
        assert_eq!("-1".parse::<Size>().unwrap(), Size(Limit::Max));
    }

    #[test]
    fn bad_sizes_say_why_with_examples() {
        for (s, want) in [
            ("0", "must be greater than zero"),
            ("-5", "negative size"),
            ("-1G", "negative size"),
            ("abc", "unknown unit"),
            ("12q", "unknown unit"),
            ("1.5", "not a whole number of bytes"),
            ("0.3k", "not a whole number of bytes"),
            ("99999999999999999999G", "too large"),
            ("99999999999999999999", "too large"),
            ("8192P", "too large"),
            ("16E", "unknown unit"),
            ("", "empty size"),
            ("  ", "empty size"),
            ("1..2M", "not a number"),
            (".", "not a number"),
            ("0.0000000000000000001k", "too many decimals"),
        ] {
            let e = why::<Size>(s);
            assert_eq!(
                e,
                format!("{want} (examples: 256M, 1.5G, 1048576, max)"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(
            "0.5".parse::<Cpus>().unwrap().quota_us(),
            Limit::Value(50_000)
        );
        assert_eq!(
            "2".parse::<Cpus>().unwrap().quota_us(),
            Limit::Value(200_000)
        );
        assert_eq!(
            "0.01".parse::<Cpus>().unwrap().quota_us(),
            Limit::Value(1_000)
        );
        assert_eq!(
            "4096".parse::<Cpus>().unwrap().quota_us(),
            Limit::Value(409_600_000)
        );
        assert_eq!("max".parse::<Cpus>().unwrap().quota_us(), Limit::Max);
        for (s, want) in [
            ("0", "must be greater than zero"),
            ("-1", "must be greater than zero"),
            ("nan", "not a number"),
            ("inf", "not a number"),
            ("x", "not a number"),
            ("", "not a number"),
            ("4097", "too large"),
            ("0.001", "too small"),
        ] {
            let e = why::<Cpus>(s);
            assert!(
                e.starts_with(want) && e.ends_with("(examples: 0.5, 2, max)"),
                "{s:?}: {e}"
            );
        }
    }

    #[test]
    fn counts_and_weights() {
        assert_eq!("50".parse::<Pids>().unwrap(), Pids(Limit::Value(50)));
        assert_eq!("max".parse::<Pids>().unwrap(), Pids(Limit::Max));
        assert_eq!("-1".parse::<Pids>().unwrap(), Pids(Limit::Max));
        assert_eq!(
            "4194304".parse::<Pids>().unwrap(),
            Pids(Limit::Value(1 << 22))
        );
        assert_eq!(why::<Pids>("0"), "must be between 1 and 4194304");
        assert_eq!(why::<Pids>("4194305"), "must be between 1 and 4194304");
        assert_eq!(
            why::<Pids>("1.5"),
            "not a whole number (examples: 1, 100, max)"
        );
        assert_eq!(
            why::<Pids>("-3"),
            "not a whole number (examples: 1, 100, max)"
        );
        assert_eq!("2".parse::<CpuShares>().unwrap().0, 2);
        assert_eq!(why::<CpuShares>("1"), "must be between 2 and 262144");
        assert_eq!(
            why::<CpuShares>("max"),
            "not a whole number (examples: 2, 262144)"
        );
        assert_eq!("10000".parse::<CpuWeight>().unwrap().0, 10_000);
        assert_eq!(why::<CpuWeight>("0"), "must be between 1 and 10000");
        assert_eq!(
            why::<IoWeight>("99999999999999999999"),
            "not a whole number (examples: 1, 10000)"
        );
    }

    #[test]
    fn cpu_lists() {
        assert_eq!("0-1,3".parse::<CpuList>().unwrap().cpus(), vec![0, 1, 3]);
        assert_eq!(" 2 ".parse::<CpuList>().unwrap().as_str(), "2");
        for s in ["", " ", "a-b", "3-1", "1,", "-1", "0-70000"] {
            assert_eq!(
                why::<CpuList>(s),
                "expected a CPU list (examples: 0, 0-3, 0,2)",
                "{s:?}"
            );
        }
    }

    #[test]
    fn signals() {
        use nix::sys::signal::Signal::*;
        assert_eq!("KILL".parse::<Signal>().unwrap().0, SIGKILL);
        assert_eq!("sigterm".parse::<Signal>().unwrap().0, SIGTERM);
        assert_eq!("SIGTERM".parse::<Signal>().unwrap().0, SIGTERM);
        assert_eq!("10".parse::<Signal>().unwrap().0, SIGUSR1);
        assert_eq!("9".parse::<Signal>().unwrap().to_string(), "SIGKILL");
        assert_eq!(
            why::<Signal>("NOPE"),
            "no such signal name (examples: TERM, SIGKILL, 9)"
        );
        assert_eq!(
            why::<Signal>(""),
            "no such signal name (examples: TERM, SIGKILL, 9)"
        );
        assert_eq!(
            why::<Signal>("99"),
            "no such signal number (examples: TERM, SIGKILL, 9)"
        );
        assert_eq!(
            why::<Signal>("-9"),
            "no such signal number (examples: TERM, SIGKILL, 9)"
        );
        assert_eq!(
            why::<Signal>("0"),
            "no such signal number (examples: TERM, SIGKILL, 9)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            "2".parse::<Interval>().unwrap().duration(),
            Duration::from_secs(2)
        );
        assert_eq!(
            "0.1".parse::<Interval>().unwrap().duration(),
            Duration::from_millis(100)
        );
        assert_eq!("3600".parse::<Interval>().unwrap().seconds(), 3600.0);
        for s in ["0", "0.05", "3601", "-1", "nan", "inf", "x", ""] {
            assert!(
                "x".parse::<Interval>().is_err() && s.parse::<Interval>().is_err(),
                "{s:?}"
            );
        }
        assert_eq!(
            why::<Interval>("0"),
            "from 0.1 to 3600 seconds (examples: 2, 0.5)"
        );
        assert_eq!("0".parse::<Seconds>().unwrap().duration(), Duration::ZERO);
        assert_eq!(
            "10".parse::<Seconds>().unwrap().duration(),
            Duration::from_secs(10)
        );
        assert_eq!("4294967295".parse::<Seconds>().unwrap().0, u32::MAX);
        assert_eq!(
            why::<Seconds>("4294967296"),
            "must be between 0 and 4294967295"
        );
        assert_eq!(
            why::<Seconds>("1.5"),
            "not a whole number (examples: 0, 10, 30)"
        );
        assert_eq!(
            why::<Seconds>("-1"),
            "not a whole number (examples: 0, 10, 30)"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(256 << 20), "256M");
        assert_eq!(format_size(3 << 29), "1.5G");
        assert_eq!(format_size(1000), "1000");
    }
}
