//! Helpers shared by analyzers: host names, label selectors, port protocols.

use std::collections::BTreeMap;

use serde_json::Value;

/// The cluster's DNS suffix.
pub const DOMAIN_SUFFIX: &str = "cluster.local";

/// Turns a short host (`reviews`, `reviews.prod`) into its FQDN in `namespace`, as Istio's
/// `ConvertToFQDN`/`resolveHost` does: names with a dot are taken as they are (Istio expands
/// only names without dots); wildcards stay.
pub fn fqdn(host: &str, namespace: &str) -> String {
    if host.starts_with('*') || host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.{namespace}.svc.{DOMAIN_SUFFIX}")
    }
}

/// Whether the host pattern `a` (possibly `*.x.y` or `*`) matches host `b`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        if let Some(hs) = host.strip_prefix('*') {
            return hs.ends_with(suffix);
        }
        return host.ends_with(suffix);
    }
    pattern == host
}

/// Whether two host patterns overlap (either matches the other).
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    host_matches(a, b) || host_matches(b, a)
}

/// Reads a JSON object of strings (labels, selectors).
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    mast_config::resource::string_map(v)
}

/// Whether `labels` satisfy the equality `selector` (an empty selector selects everything).
pub fn selector_matches(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The protocol Istio infers from a Service port name (`http-web` → `HTTP`), or `None` when
/// the name carries no known protocol prefix.
pub fn protocol_from_port_name(name: &str) -> Option<&'static str> {
    let prefix = name
        .split('-')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    protocol_from_str(&prefix)
}

/// Parses a protocol name as Istio's `protocol.Parse` does (case-insensitive).
pub fn protocol_from_str(s: &str) -> Option<&'static str> {
    Some(match s.to_ascii_lowercase().as_str() {
        "tcp" => "TCP",
        "udp" => "UDP",
        "grpc" => "GRPC",
        "grpc-web" => "GRPC-Web",
        "http" => "HTTP",
        "http_proxy" => "HTTP_PROXY",
        "http2" => "HTTP2",
        "https" => "HTTPS",
        "tls" => "TLS",
        "mongo" => "Mongo",
        "redis" => "Redis",
        "mysql" => "MySQL",
        _ => return None,
    })
}

/// The workloads WorkloadEntries describe, as (namespace, labels): `metadata.labels` with
/// `spec.labels` over them, as Istio's registry merges them.
///
/// Istio's analyzers look only at pods when they ask whether a selector matches a workload,
/// and so flag every selector that picks VM workloads; Mast's analyzers count these too,
/// since workloads outside Kubernetes are first-class in Mast.
pub fn workload_entries(store: &crate::Store) -> Vec<(String, BTreeMap<String, String>)> {
    store
        .list(crate::context::kinds::WORKLOAD_ENTRY)
        .map(|we| {
            let mut labels = we.meta.labels.clone();
            labels.extend(string_map(we.spec().get("labels")));
            (we.meta.namespace.clone(), labels)
        })
        .collect()
}

/// A string field, or `""`.
pub fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// An array field, or an empty slice.
pub fn arr_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_and_matching() {
        assert_eq!(
            fqdn("reviews", "default"),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(
            fqdn("reviews.prod.svc.cluster.local", "default"),
            "reviews.prod.svc.cluster.local"
        );
        assert_eq!(fqdn("*", "default"), "*");
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "*.b.example.com"));
        assert!(!host_matches("a.example.com", "*.example.com"));
        assert!(hosts_overlap("a.example.com", "*.example.com"));
        assert_eq!(protocol_from_port_name("http-web"), Some("HTTP"));
        assert_eq!(protocol_from_port_name("foo"), None);
    }
}
