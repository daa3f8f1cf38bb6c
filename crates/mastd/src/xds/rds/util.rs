//! Small helpers shared by route and listener generation: istiod's cluster names, protobuf
//! wrappers, durations, string matchers, and the once-only warning for fields mastd cannot
//! honour.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::{BoolValue, Duration, UInt32Value};
use mast_config::istio::common::StringMatch;

/// Name of the cluster that drops traffic.
pub const BLACK_HOLE_CLUSTER: &str = "BlackHoleCluster";
/// Name of the cluster that forwards to the original destination (outbound).
pub const PASSTHROUGH_CLUSTER: &str = "PassthroughCluster";
/// Name of the cluster that forwards to the original destination (inbound).
pub const INBOUND_PASSTHROUGH_CLUSTER: &str = "InboundPassthroughCluster";
/// The gateway name VirtualServices use for sidecars.
pub const MESH_GATEWAY: &str = "mesh";
/// Kubernetes cluster domain suffix used to expand short names (`reviews` →
/// `reviews.NS.svc.cluster.local`).
pub const DOMAIN_SUFFIX: &str = "cluster.local";

/// istiod's cluster key: `DIRECTION|PORT|SUBSET|HOST` (`outbound|9080|v1|reviews.default.svc.cluster.local`).
pub fn cluster_name(direction: &str, subset: &str, host: &str, port: u32) -> String {
    format!("{direction}|{port}|{subset}|{host}")
}

/// `outbound|PORT|SUBSET|HOST`.
pub fn outbound_cluster(subset: &str, host: &str, port: u32) -> String {
    cluster_name("outbound", subset, host, port)
}

/// `inbound|PORT||`.
pub fn inbound_cluster(port: u32) -> String {
    cluster_name("inbound", "", "", port)
}

/// Parses `outbound|PORT|SUBSET|HOST` into (subset, host, port).
pub fn parse_cluster_name(name: &str) -> Option<(&str, &str, u32)> {
    let mut parts = name.split('|');
    let (dir, port, subset, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || (dir != "outbound" && dir != "inbound") {
        return None;
    }
    Some((subset, host, port.parse().ok()?))
}

/// `host:port`, with brackets around IPv6 addresses (Go's `net.JoinHostPort`).
pub fn domain_name(host: &str, port: u32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Brackets an IPv6 address (`util.IPv6Compliant`).
pub fn ipv6_compliant(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Expands a short host name written in a config of `namespace` as istiod does:
/// `reviews` → `reviews.NAMESPACE.svc.cluster.local`; names with dots, `*` and IPs are kept.
pub fn resolve_short_name(host: &str, namespace: &str) -> String {
    if host.is_empty() || host == "*" || host.contains('.') || host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    let mut out = host.to_string();
    if !namespace.is_empty() {
        out.push('.');
        out.push_str(namespace);
    }
    out.push_str(".svc.");
    out.push_str(DOMAIN_SUFFIX);
    out
}

/// A `google.protobuf.Duration` from nanoseconds.
pub fn duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// A zero duration (`0s`): "disabled" for Envoy's timeouts.
pub fn no_timeout() -> Duration {
    Duration::default()
}

/// Parses a Go duration string from a config field; a bad value (validation should have
/// rejected it) is reported once and treated as absent.
pub fn parse_duration(value: &str, field: &str) -> Option<Duration> {
    match mast_config::istio::common::parse_duration(value) {
        Ok(n) => Some(duration(n)),
        Err(e) => {
            warn_once(
                &format!("{field}={value}"),
                &format!("{field}: {e}; field ignored"),
            );
            None
        }
    }
}

/// `google.protobuf.BoolValue`.
pub fn bool_value(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

/// `google.protobuf.UInt32Value`.
pub fn u32_value(value: u32) -> Option<UInt32Value> {
    Some(UInt32Value { value })
}

/// An exact string matcher.
pub fn exact(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Exact(s.to_string())),
        ignore_case: false,
    }
}

/// A prefix string matcher.
pub fn prefix(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Prefix(s.to_string())),
        ignore_case: false,
    }
}

/// A suffix string matcher.
pub fn suffix(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Suffix(s.to_string())),
        ignore_case: false,
    }
}

/// A safe-regex (RE2) string matcher.
pub fn regex(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::SafeRegex(regex_matcher(s))),
        ignore_case: false,
    }
}

/// An RE2 regex matcher.
pub fn regex_matcher(s: &str) -> RegexMatcher {
    RegexMatcher {
        regex: s.to_string(),
        ..Default::default()
    }
}

/// Istio's `StringMatch` as an Envoy `StringMatcher` (`util.ConvertToEnvoyMatch`).
pub fn string_match(m: &StringMatch) -> Option<StringMatcher> {
    if let Some(e) = &m.exact {
        Some(exact(e))
    } else if let Some(p) = &m.prefix {
        Some(prefix(p))
    } else {
        m.regex.as_deref().map(regex)
    }
}

/// Logs `message` once per `key` for the life of the process: used where a field cannot be
/// honoured, so a user sees it without a log line per push.
pub fn warn_once(key: &str, message: &str) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(key.to_string())
    {
        tracing::warn!(key, "{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            outbound_cluster("v1", "reviews.default.svc.cluster.local", 9080),
            "outbound|9080|v1|reviews.default.svc.cluster.local"
        );
        assert_eq!(inbound_cluster(9080), "inbound|9080||");
        assert_eq!(
            parse_cluster_name("outbound|9080||a.b"),
            Some(("", "a.b", 9080))
        );
        assert_eq!(parse_cluster_name("PassthroughCluster"), None);
        assert_eq!(domain_name("::1", 80), "[::1]:80");
        assert_eq!(
            resolve_short_name("reviews", "default"),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(
            resolve_short_name("reviews.default", "x"),
            "reviews.default"
        );
        assert_eq!(resolve_short_name("*", "x"), "*");
        assert_eq!(resolve_short_name("10.0.0.1", "x"), "10.0.0.1");
    }

    #[test]
    fn durations() {
        assert_eq!(
            duration(1_500_000_000),
            Duration {
                seconds: 1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            parse_duration("2s", "t"),
            Some(Duration {
                seconds: 2,
                nanos: 0
            })
        );
        assert_eq!(parse_duration("bogus", "t"), None);
    }
}
