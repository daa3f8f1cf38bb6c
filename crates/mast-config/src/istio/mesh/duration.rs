//! `Duration`: a `google.protobuf.Duration` field of the mesh config, read in Go duration
//! syntax and printed in protobuf JSON form.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A `google.protobuf.Duration` as Istio reads it from YAML: Go duration syntax (`45s`,
/// `1m30s`, `300ms`, `1.5h`, `0`). Stored in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Length in nanoseconds (may be negative).
    pub nanos: i64,
}

impl Duration {
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration { nanos: 1_000_000 };

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Duration {
        Duration {
            nanos: secs * 1_000_000_000,
        }
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: i64) -> Duration {
        Duration {
            nanos: ms * 1_000_000,
        }
    }

    /// Parses Go's `time.ParseDuration` syntax.
    pub fn parse(s: &str) -> Result<Duration, String> {
        crate::istio::common::parse_duration(s).map(|nanos| Duration { nanos })
    }
}

impl fmt::Display for Duration {
    /// Prints the protobuf JSON form: seconds with up to nine fractional digits and `s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let secs = abs / 1_000_000_000;
        let frac = abs % 1_000_000_000;
        if frac == 0 {
            write!(f, "{sign}{secs}s")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{sign}{secs}.{}s", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"10s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            Duration::parse("1m30s").map(|d| d.nanos),
            Ok(90_000_000_000)
        );
        assert!(Duration::parse("10").is_err());
        assert_eq!(Duration::from_secs(45).to_string(), "45s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(Duration::from_millis(-5).to_string(), "-0.005s");
    }
}
