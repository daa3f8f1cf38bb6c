//! Istio's checks of names: DNS labels and domains (with wildcards), `namespace/host` pairs,
//! IP addresses and subnets, ports, port names, protocols, label maps and `exportTo` lists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

const DNS1123_LABEL_MAX: usize = 63;
const LABEL: &str = "[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?";
const QUALIFIED_NAME: &str = "(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

static TAG_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("^({LABEL}(?:\\.{LABEL})*/)?({QUALIFIED_NAME})$")).expect("tag key regex")
});
static LABEL_VALUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^({QUALIFIED_NAME})?$")).expect("label value regex"));

/// Whether `s` is a DNS-1123 label as Istio checks it (letters of either case, digits and
/// inner `-`, at most 63 characters).
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= DNS1123_LABEL_MAX
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 label optionally preceded by `*` or `*-`, or `*` alone.
pub fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > DNS1123_LABEL_MAX {
        return false;
    }
    if s == "*" || is_dns1123_label(s) {
        return true;
    }
    s.strip_prefix("*-").is_some_and(is_dns1123_label)
        || s.strip_prefix('*').is_some_and(is_dns1123_label)
}

fn dns1123_preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".to_string());
    }
    Ok(())
}

/// Go's `strconv.Atoi` succeeding: an optional sign and at least one digit.
fn is_go_int(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// Every dot-separated label of `domain` is a DNS-1123 label (a trailing dot is allowed) and
/// the top-level domain is not all digits.
pub fn validate_dns1123_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if is_go_int(tld) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// A fully qualified domain name (Istio's `ValidateFQDN`; short names pass).
pub fn validate_fqdn(fqdn: &str) -> Result<(), String> {
    dns1123_preconditions(fqdn)?;
    validate_dns1123_labels(fqdn)
}

/// A domain name whose first label may be a wildcard (`*`, `*.example.com`, `*-x.example.com`).
pub fn validate_wildcard_domain(domain: &str) -> Result<(), String> {
    dns1123_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    match rest {
        Some(r) => validate_dns1123_labels(r),
        None => Ok(()),
    }
}

/// A wildcard may only be the whole host or its first label (`*.example.com`).
pub fn validate_partial_wildcard(host: &str) -> Result<(), String> {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        return Err(format!("partial wildcard {host:?} not allowed"));
    }
    Ok(())
}

/// Whether `s` is an IPv4 or IPv6 address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// An IP address.
pub fn validate_ip_address(s: &str) -> Result<(), String> {
    if is_ip(s) {
        Ok(())
    } else {
        Err(format!("{s} is not a valid IP"))
    }
}

/// An IP address or a CIDR block.
pub fn validate_ip_subnet(s: &str) -> Result<(), String> {
    if s.matches('/').count() == 1 {
        if s.parse::<ipnet::IpNet>().is_err() {
            return Err(format!("{s} is not a valid CIDR block"));
        }
        return Ok(());
    }
    validate_ip_address(s)
}

fn hostname_part(hostname: &str, is_gateway: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if hostname != "*" && !hostname.contains('.') {
        errs.push("short names (non FQDN) are not allowed".to_string());
    }
    if let Err(e) = validate_wildcard_domain(hostname)
        && (!is_gateway || !is_ip(hostname))
    {
        errs.push(e);
    }
    if let Err(e) = validate_partial_wildcard(hostname) {
        errs.push(e);
    }
    errs
}

/// A host of a Sidecar egress listener (`namespace/dnsName`) or of a Gateway server (the same,
/// or a bare host): Istio's `ValidateNamespaceSlashWildcardHostname`.
pub fn validate_namespace_slash_wildcard_hostname(hostname: &str, is_gateway: bool) -> Vec<String> {
    let Some((ns, host)) = hostname.split_once('/') else {
        if is_gateway {
            return hostname_part(hostname, true);
        }
        return vec!["host must be of form namespace/dnsName".to_string()];
    };
    let mut errs = Vec::new();
    if ns.is_empty() || host.is_empty() {
        errs.push("config namespace and dnsName in host entry cannot be empty".to_string());
    }
    if !is_gateway {
        let bare = ns.strip_prefix('~').unwrap_or(ns);
        if !bare.is_empty() && bare != "*" && bare != "." && !is_dns1123_label(bare) {
            errs.push(format!("invalid namespace value {ns:?} in sidecar"));
        }
    } else if ns != "*" && ns != "." && !is_dns1123_label(ns) {
        errs.push(format!("invalid namespace value {ns:?} in gateway"));
    }
    errs.extend(hostname_part(host, is_gateway));
    errs
}

/// Whether two hosts overlap, wildcards included (Istio's `host.Name.Matches`).
pub fn host_matches(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if a.len() < b.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// Whether every host `a` matches is also matched by `b` (Istio's `host.Name.SubsetOf`).
pub fn host_subset_of(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => a.len() >= b.len() && sa.ends_with(sb),
        (Some(_), None) => false,
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// A port number in 1..65535.
pub fn validate_port(port: i64) -> Result<(), String> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!("port number {port} must be in the range 1..65535"))
    }
}

/// A port name: a DNS-1123 label.
pub fn validate_port_name(name: &str) -> Result<(), String> {
    if is_dns1123_label(name) {
        Ok(())
    } else {
        Err(format!("invalid port name: {name}"))
    }
}

/// The protocols Istio knows for ports, parsed case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `GRPC`.
    Grpc,
    /// `GRPC-Web`.
    GrpcWeb,
    /// `HTTP`.
    Http,
    /// `HTTP_PROXY`.
    HttpProxy,
    /// `HTTP2`.
    Http2,
    /// `HTTPS`.
    Https,
    /// `TCP`.
    Tcp,
    /// `TLS`.
    Tls,
    /// `UDP`.
    Udp,
    /// `Mongo`.
    Mongo,
    /// `Redis`.
    Redis,
    /// `MySQL`.
    MySql,
    /// Anything else (including the empty string: the protocol is sniffed).
    Unsupported,
}

impl Protocol {
    /// Parses a protocol name as Istio does (case-insensitive).
    pub fn parse(s: &str) -> Protocol {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "http" => Protocol::Http,
            "http_proxy" => Protocol::HttpProxy,
            "http2" => Protocol::Http2,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::MySql,
            _ => Protocol::Unsupported,
        }
    }

    /// HTTP of any version, gRPC included.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    /// TCP-based, opaque to the proxy.
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            Protocol::Tcp
                | Protocol::Https
                | Protocol::Tls
                | Protocol::Mongo
                | Protocol::Redis
                | Protocol::MySql
        )
    }

    /// TLS-wrapped (`HTTPS`, `TLS`).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }
}

/// A port protocol: empty (sniffed) or one Istio knows.
pub fn validate_protocol(s: &str) -> Result<(), String> {
    if !s.is_empty() && Protocol::parse(s) == Protocol::Unsupported {
        return Err(format!("unsupported protocol: {s}"));
    }
    Ok(())
}

/// A Unix domain socket path (after `unix://`): absolute and not a directory, or abstract (`@`).
pub fn validate_unix_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("unix address must not be empty".to_string());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// A label map: Kubernetes label keys (optional DNS prefix) and values (Istio's
/// `labels.Instance.Validate`).
pub fn validate_labels(labels: &BTreeMap<String, String>) -> Vec<String> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        match TAG_KEY.captures(k) {
            None => errs.push(format!("invalid tag key: {k:?}")),
            Some(c) => {
                let prefix_len = c.get(1).map_or(0, |m| m.as_str().len());
                if prefix_len > 0 && prefix_len - 1 > 253 {
                    errs.push(format!("invalid tag key: {k:?} (DNS prefix is too long)"));
                }
                if c.get(2).map_or(0, |m| m.as_str().len()) > DNS1123_LABEL_MAX {
                    errs.push(format!("invalid tag key: {k:?} (name is too long)"));
                }
            }
        }
        if !LABEL_VALUE.is_match(v) {
            errs.push(format!("invalid tag value: {v:?}"));
        }
    }
    errs
}

fn visibility_error(v: &str) -> Option<String> {
    match v {
        "." | "*" => None,
        "~" => Some("exportTo ~ (none) is not allowed for Istio configuration objects".to_string()),
        _ if !is_dns1123_label(v) => {
            Some("only .,*, or a valid DNS 1123 label is allowed as exportTo entry".to_string())
        }
        _ => None,
    }
}

/// Istio's check of an `exportTo` list (`validateExportTo`). `namespace` is the object's own
/// namespace (empty when unknown: `.` is then only compared with itself).
pub fn validate_export_to(
    namespace: &str,
    export_to: &[String],
    is_service_entry: bool,
    is_dr_with_selector: bool,
) -> Vec<String> {
    let mut errs = Vec::new();
    if export_to.is_empty() {
        return errs;
    }
    let own = if namespace.is_empty() { "." } else { namespace };
    let mut set: BTreeSet<&str> = BTreeSet::new();
    for e in export_to {
        let key = if e == "." { own } else { e.as_str() };
        if set.contains(key) {
            if key != e {
                errs.push(format!(
                    "duplicate entries in exportTo: . and current namespace {namespace}"
                ));
            } else {
                errs.push(format!("duplicate entries in exportTo for entry {e}"));
            }
        } else if is_service_entry && e == "~" {
            set.insert(key);
        } else if let Some(err) = visibility_error(key) {
            errs.push(err);
        } else {
            set.insert(key);
        }
    }
    if is_dr_with_selector && !set.is_empty() {
        if set.contains(own) {
            if set.len() > 1 {
                errs.push(
                    "destination rule with workload selector cannot have multiple entries in exportTo"
                        .to_string(),
                );
            }
        } else {
            errs.push(
                "destination rule with workload selector cannot have exportTo beyond current namespace"
                    .to_string(),
            );
        }
    }
    if set.contains("*") && export_to.len() > 1 {
        errs.push(
            "cannot have both public (*) and non-public exportTo values for a resource".to_string(),
        );
    }
    if set.contains("~") && export_to.len() > 1 {
        errs.push("cannot export service entry to no one (~) and someone".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        let cases = [
            ("reviews", true),
            ("reviews.default.svc.cluster.local", true),
            ("*.example.com", true),
            ("*", true),
            ("*-foo.example.com", true),
            ("foo.*.com", false),
            ("Foo.Example.com", true),
            ("istio.io.", true),
            ("a.123", false),
            ("", false),
            ("a..b", false),
            ("-a.com", false),
        ];
        for (d, ok) in cases {
            assert_eq!(validate_wildcard_domain(d).is_ok(), ok, "{d}");
        }
    }

    #[test]
    fn namespace_slash_hosts() {
        let cases = [
            ("abc/*", false, true),
            ("*/*", false, true),
            ("./foo.example.com", false, true),
            ("~foo/*", false, true),
            ("ns/foo", false, false),
            ("foo.com", false, false),
            ("Bad_ns/*", false, false),
            ("ns/*.foo.com", false, true),
            ("ns/a*.foo.com", false, false),
            ("*", true, true),
            ("10.0.0.1", true, true),
            ("short", true, false),
            ("istio-system/a.b.c", true, true),
            ("~/a.b.c", true, false),
        ];
        for (h, gw, ok) in cases {
            let errs = validate_namespace_slash_wildcard_hostname(h, gw);
            assert_eq!(errs.is_empty(), ok, "{h}: {errs:?}");
        }
    }

    #[test]
    fn host_overlap() {
        let cases = [
            ("*.foo.com", "a.foo.com", true, false),
            ("a.foo.com", "*.foo.com", true, true),
            ("*.com", "*.foo.com", true, false),
            ("*.foo.com", "*.com", true, true),
            ("a.com", "b.com", false, false),
            ("*", "anything", true, false),
        ];
        for (a, b, matches, subset) in cases {
            assert_eq!(host_matches(a, b), matches, "{a} matches {b}");
            assert_eq!(host_subset_of(a, b), subset, "{a} subset of {b}");
        }
    }

    #[test]
    fn export_to() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(validate_export_to("ns", &s(&[".", "other"]), false, false).is_empty());
        assert_eq!(
            validate_export_to("ns", &s(&[".", "ns"]), false, false).len(),
            1
        );
        assert_eq!(
            validate_export_to("ns", &s(&["*", "a"]), false, false).len(),
            1
        );
        assert_eq!(validate_export_to("ns", &s(&["~"]), false, false).len(), 1);
        assert!(validate_export_to("ns", &s(&["~"]), true, false).is_empty());
        assert_eq!(
            validate_export_to("ns", &s(&["Bad_"]), false, false).len(),
            1
        );
        assert_eq!(
            validate_export_to("ns", &s(&["other"]), false, true).len(),
            1
        );
        assert!(validate_export_to("", &s(&["."]), false, true).is_empty());
    }

    #[test]
    fn labels() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(validate_labels(&m("app.kubernetes.io/name", "v1.2_3")).is_empty());
        assert!(validate_labels(&m("version", "")).is_empty());
        assert_eq!(validate_labels(&m("/x", "a")).len(), 1);
        assert_eq!(validate_labels(&m("a", "b c")).len(), 1);
    }
}
