//! Durations as runbooks write them: `500ms`, `5s`, `10m`, `1h30m`.

use std::time::Duration;

/// The longest duration a runbook may write: a week. Nothing in a release
/// waits longer, and arithmetic on it (deadlines, backoff) cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a duration; the error says what was wrong in words a runbook author can act on.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` has no unit; write `{text}s`, `{text}m` or `{text}ms`"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` is not a duration; use forms like 500ms, 5s, 10m, 1h30m"));
        }
        let too_long = || format!("`{text}` is longer than a week (168h), the longest a runbook may wait");
        let number: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per = match unit {
            "ms" => None,
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "" => return Err(format!("`{text}`: a number without a unit; units are ms, s, m, h")),
            other => return Err(format!("`{text}`: unknown unit `{other}`; units are ms, s, m, h")),
        };
        let part = match seconds_per {
            None => Some(Duration::from_millis(number)),
            Some(per) => number.checked_mul(per).map(Duration::from_secs),
        };
        total = part.and_then(|p| total.checked_add(p)).filter(|t| *t <= MAX_DURATION).ok_or_else(too_long)?;
    }
    Ok(total)
}

/// The short human form used in plans and progress (`1m30s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        if h == 0 && m == 0 && !ms.is_multiple_of(1000) && secs < 10 {
            out.push_str(&format!("{:.1}s", d.as_secs_f64()));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        assert!(parse_duration("30").unwrap_err().contains("30s"));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
