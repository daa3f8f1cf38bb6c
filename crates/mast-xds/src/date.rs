//! RFC 3339 timestamps in UTC (`2026-12-07T01:02:03Z`), as Envoy's and istiod's JSON print
//! them, without a calendar crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn format(secs: i64, millis: Option<u32>) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let frac = millis.map(|ms| format!(".{ms:03}")).unwrap_or_default();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch as `2025-11-25T14:00:00Z`.
pub fn rfc3339(secs: i64) -> String {
    format(secs, None)
}

/// A time as `2025-11-25T14:00:00Z` (times before the epoch print as the epoch).
pub fn rfc3339_time(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format(secs, None)
}

/// A time with milliseconds, `2026-12-07T01:02:03.456Z`, as Envoy's `%START_TIME%`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format(d.as_secs() as i64, Some(d.subsec_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let cases: &[(i64, &str)] = &[
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_764_079_200, "2025-11-25T14:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc3339(*secs), *want);
        }
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_764_079_200_045)),
            "2025-11-25T14:00:00.045Z"
        );
        assert_eq!(rfc3339_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
