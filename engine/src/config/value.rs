//! Parsing configuration values. Every error names the key, the value and
//! what is allowed.

/// Flink's duration syntax (shared with the reporters' options).
pub use tidemark_agent::export::config::parse_duration;

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

/// A memory size: `64mb`, `1 gb`, `512k`, `4096` (bytes); binary units as Flink.
pub fn parse_bytes(v: &str) -> Result<u64, String> {
    let allowed = || "a size such as 64mb, 1gb, 512kb or a number of bytes".to_string();
    let t = v.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| allowed())?;
    let mult: u64 = match unit.trim() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return Err(allowed()),
    };
    n.checked_mul(mult).filter(|b| *b > 0).ok_or_else(allowed)
}

/// A ratio strictly between 0 and 1.
pub fn parse_ratio(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err("a number between 0 and 1 (exclusive)".into()),
    }
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
    use std::time::Duration;

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
