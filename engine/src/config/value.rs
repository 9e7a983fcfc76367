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
