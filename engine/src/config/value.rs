//! Parsing configuration values. Every error names the key, the value and
//! what is allowed.

use std::time::Duration;

/// Parses Flink's duration syntax: `10 min`, `1s`, `100 ms`, `2h`, `1 d`;
/// a bare number is milliseconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let t = v.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        "a duration like 500 ms, 10 s, 5 min, 1 h or a number of milliseconds".to_string()
    })?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => n,
        "s" | "sec" | "secs" | "second" | "seconds" => n * 1e3,
        "m" | "min" | "mins" | "minute" | "minutes" => n * 60e3,
        "h" | "hour" | "hours" => n * 3600e3,
        "d" | "day" | "days" => n * 86400e3,
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => n / 1e3,
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => n / 1e6,
        _ => return Err("a duration with unit ms, s, min, h or d (e.g. 10 s)".into()),
    };
    Ok(Duration::from_nanos((ms * 1e6) as u64))
}

/// Parses an integer in `[min, max]`.
pub fn parse_int(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let allowed = || {
        if max == i64::MAX {
            format!("an integer >= {min}")
        } else {
            format!("an integer from {min} to {max}")
        }
    };
    let n: i64 = v.trim().parse().map_err(|_| allowed())?;
    if n < min || n > max {
        return Err(allowed());
    }
    Ok(n)
}

/// Parses a positive float.
pub fn parse_f64(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err("a positive number".into()),
    }
}

/// Parses `true` / `false`.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("true or false".into()),
    }
}

/// Parses one of `allowed` (case-insensitive), returning its canonical spelling.
pub fn parse_enum(v: &str, allowed: &[&'static str]) -> Result<&'static str, String> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(v.trim()))
        .copied()
        .ok_or_else(|| format!("one of {}", allowed.join(", ")))
}

/// The closest of `candidates` to `word`, if reasonably close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10 min").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250").unwrap(), Duration::from_millis(250));
        assert_eq!(
            parse_duration("1.5 s").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }

    #[test]
    fn suggestions() {
        let keys = [
            "execution.checkpointing.interval",
            "execution.checkpointing.timeout",
        ];
        assert_eq!(
            closest("execution.checkpointing.intervl", keys),
            Some("execution.checkpointing.interval")
        );
        assert_eq!(closest("zzz", keys), None);
    }
}
