//! Durations as Istio reads them: protobuf `Duration` fields are written as strings in Go's
//! `time.ParseDuration` syntax (`1.5s`, `300ms`, `1h2m`), which Istio's JSON reader accepts.

use crate::validate::Findings;

const NANOS_PER: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const MILLI: i64 = 1_000_000;

/// Parses `s` as Go's `time.ParseDuration` does: an optional sign, then one or more decimal
/// numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `0` alone is allowed.
/// Returns nanoseconds, or Go's error text.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_end];
        rest = &rest[int_end..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_end];
            rest = &after_dot[frac_end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        let Some((_, scale)) = NANOS_PER.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("time: unknown unit {unit:?} in duration {s:?}"));
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(*scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(30)];
            let num: u128 = digits.parse().map_err(|_| invalid())?;
            let den = 10u128.pow(digits.len() as u32);
            value += num * scale / den;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    let total = total as i64;
    Ok(if neg { -total } else { total })
}

/// Reads the duration at `path`: records an error if it does not parse (Istio fails to read
/// the object then) and returns its nanoseconds otherwise.
pub fn check_duration(out: &mut Findings, path: &str, value: Option<&str>) -> Option<i64> {
    let v = value?;
    match parse_duration(v) {
        Ok(n) => Some(n),
        Err(e) => {
            out.error(path, format!("bad Duration: {e}"));
            None
        }
    }
}

/// Reads the duration at `path` and applies Istio's `ValidateDuration`: at least 1ms, and a
/// whole number of milliseconds.
pub fn validate_duration(out: &mut Findings, path: &str, value: Option<&str>) -> Option<i64> {
    let n = check_duration(out, path, value)?;
    if n < MILLI {
        out.error(path, "duration must be greater than 1ms");
    } else if n % MILLI != 0 {
        out.error(path, "only durations to ms precision are supported");
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases: &[(&str, Result<i64, ()>)] = &[
            ("1.5s", Ok(1_500_000_000)),
            ("300ms", Ok(300_000_000)),
            ("1h2m", Ok(3_720_000_000_000)),
            ("0", Ok(0)),
            ("-2s", Ok(-2_000_000_000)),
            ("10us", Ok(10_000)),
            ("10µs", Ok(10_000)),
            (".5s", Ok(500_000_000)),
            ("1.s", Ok(1_000_000_000)),
            ("", Err(())),
            ("10", Err(())),
            ("s", Err(())),
            ("1d", Err(())),
            ("1.2.3s", Err(())),
            ("9999999999h", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s).map_err(|_| ()), *want, "{s}");
        }
    }

    #[test]
    fn istio_duration_rules() {
        let cases = [
            ("1ms", true),
            ("0.5ms", false),
            ("1.0005s", false),
            ("0s", false),
            ("2s", true),
        ];
        for (s, ok) in cases {
            let mut out = Findings::default();
            validate_duration(&mut out, "spec.timeout", Some(s));
            assert_eq!(!out.has_errors(), ok, "{s}");
        }
    }
}
