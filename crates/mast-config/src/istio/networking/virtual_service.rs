//! `VirtualService`: routing rules for traffic to a set of hosts, and Istio's checks of them.
//! The HTTP route checks are in [`http`], the detection of unreachable rules in `unreachable`.

mod http;
mod l4;
mod unreachable;

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Context;
use crate::istio::common::{
    PortSelector, StringMatch, go_list, host_matches, is_dns1123_label, is_ip, is_jwt_claim_route,
    proto_enum, report, validate_export_to, validate_fqdn, validate_port, validate_wildcard_domain,
};
use crate::validate::Findings;

/// `VirtualService`: the hosts it applies to, the gateways it is bound to, and its HTTP, TLS
/// and TCP routes. A VirtualService without hosts is a delegate, included by another one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualService {
    /// Destination hosts the rules apply to (names, wildcards or IPs).
    pub hosts: Vec<String>,
    /// Gateways (`namespace/name`, or `mesh` for sidecars) the rules apply to.
    pub gateways: Vec<String>,
    /// HTTP routes, first match wins.
    pub http: Vec<HttpRoute>,
    /// TLS (SNI) routes for unterminated TLS.
    pub tls: Vec<TlsRoute>,
    /// TCP routes for opaque traffic.
    pub tcp: Vec<TcpRoute>,
    /// Namespaces the VirtualService is visible in.
    pub export_to: Vec<String>,
}

/// `Destination`: a service (host), optionally a subset of it and a port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// Service host from the registry (required).
    pub host: String,
    /// Subset name defined in a DestinationRule.
    pub subset: String,
    /// Port on the host.
    pub port: Option<PortSelector>,
}

/// `HTTPRoute`: conditions and actions for HTTP/1.1, HTTP/2 and gRPC traffic.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRoute {
    /// Name of the route, used in logs and debug output.
    pub name: String,
    /// Match conditions (ORed); none means everything.
    #[serde(rename = "match")]
    pub matches: Vec<HttpMatchRequest>,
    /// Weighted destinations to forward to.
    pub route: Vec<HttpRouteDestination>,
    /// Redirect instead of forwarding.
    pub redirect: Option<HttpRedirect>,
    /// Respond directly instead of forwarding.
    pub direct_response: Option<HttpDirectResponse>,
    /// Delegate to another VirtualService.
    pub delegate: Option<Delegate>,
    /// Rewrite URI or authority before forwarding.
    pub rewrite: Option<HttpRewrite>,
    /// Request timeout (duration).
    pub timeout: Option<String>,
    /// Retry policy.
    pub retries: Option<HttpRetry>,
    /// Fault injection.
    pub fault: Option<HttpFaultInjection>,
    /// Mirror traffic to this destination as well.
    pub mirror: Option<Destination>,
    /// Several mirrors, each with its percentage.
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// Deprecated: percentage of traffic mirrored (integer); use `mirrorPercentage`.
    #[serde(alias = "mirror_percent")]
    pub mirror_percent: Option<u32>,
    /// Percentage of traffic mirrored.
    pub mirror_percentage: Option<Percent>,
    /// CORS policy.
    pub cors_policy: Option<CorsPolicy>,
    /// Header manipulation.
    pub headers: Option<Headers>,
}

/// `Delegate`: the VirtualService an HTTP route delegates to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Delegate {
    /// Name of the delegate VirtualService.
    pub name: String,
    /// Its namespace (defaults to the root's).
    pub namespace: String,
}

/// `Headers`: header changes for requests and responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    /// Changes to the request.
    pub request: Option<HeaderOperations>,
    /// Changes to the response.
    pub response: Option<HeaderOperations>,
}

/// `Headers.HeaderOperations`: headers to set, append and remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOperations {
    /// Overwrite these headers.
    pub set: BTreeMap<String, String>,
    /// Append to these headers.
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    pub remove: Vec<String>,
}

/// `TLSRoute`: SNI-based routing of unterminated TLS.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsRoute {
    /// Match conditions (required).
    #[serde(rename = "match")]
    pub matches: Vec<TlsMatchAttributes>,
    /// Weighted destinations.
    pub route: Vec<RouteDestination>,
}

/// `TCPRoute`: routing of opaque TCP.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpRoute {
    /// Match conditions.
    #[serde(rename = "match")]
    pub matches: Vec<L4MatchAttributes>,
    /// Weighted destinations.
    pub route: Vec<RouteDestination>,
}

/// `HTTPMatchRequest`: conditions on an HTTP request, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMatchRequest {
    /// Name of the match, appended to the route's name in logs.
    pub name: String,
    /// URI match.
    pub uri: Option<StringMatch>,
    /// Scheme match.
    pub scheme: Option<StringMatch>,
    /// Method match.
    pub method: Option<StringMatch>,
    /// Authority match.
    pub authority: Option<StringMatch>,
    /// Header matches (lowercase keys).
    pub headers: BTreeMap<String, StringMatch>,
    /// Port the request was received on.
    pub port: u32,
    /// Labels of the source workload.
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to (overrides the VirtualService's).
    pub gateways: Vec<String>,
    /// Query parameter matches.
    pub query_params: BTreeMap<String, StringMatch>,
    /// Match the URI case-insensitively.
    pub ignore_uri_case: bool,
    /// Headers that must not match.
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Namespace of the source workload.
    pub source_namespace: String,
    /// Prefix for the route's statistics.
    pub stat_prefix: String,
}

/// `HTTPRouteDestination`: a destination with its weight and header changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteDestination {
    /// Where to send the request (required).
    pub destination: Option<Destination>,
    /// Relative weight.
    pub weight: i32,
    /// Header changes for this destination.
    pub headers: Option<Headers>,
}

/// `RouteDestination`: a TLS or TCP destination with its weight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDestination {
    /// Where to send the connection (required).
    pub destination: Option<Destination>,
    /// Relative weight.
    pub weight: i32,
}

/// `L4MatchAttributes`: conditions on a TCP connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct L4MatchAttributes {
    /// Destination IPs or subnets.
    pub destination_subnets: Vec<String>,
    /// Destination port.
    pub port: u32,
    /// Source subnet (kept by Istio's schema, unused).
    pub source_subnet: String,
    /// Labels of the source workload.
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to.
    pub gateways: Vec<String>,
    /// Namespace of the source workload.
    pub source_namespace: String,
}

/// `TLSMatchAttributes`: conditions on a TLS connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsMatchAttributes {
    /// SNI values to match (required).
    pub sni_hosts: Vec<String>,
    /// Destination IPs or subnets.
    pub destination_subnets: Vec<String>,
    /// Destination port.
    pub port: u32,
    /// Labels of the source workload.
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to.
    pub gateways: Vec<String>,
    /// Namespace of the source workload.
    pub source_namespace: String,
}

proto_enum! {
    /// `HTTPRedirect.RedirectPortSelection`: which port a redirect goes to.
    pub enum RedirectPortSelection {
        /// 80 for HTTP, 443 for HTTPS.
        FromProtocolDefault = "FROM_PROTOCOL_DEFAULT",
        /// The port the request came in on.
        FromRequestPort = "FROM_REQUEST_PORT",
    }
}

/// `HTTPRedirect`: a 3xx response sent instead of forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRedirect {
    /// Replacement path.
    pub uri: String,
    /// Replacement authority.
    pub authority: String,
    /// Replacement port (one of `port`, `derivePort`).
    pub port: Option<u32>,
    /// How to choose the port (one of `port`, `derivePort`).
    pub derive_port: Option<RedirectPortSelection>,
    /// Replacement scheme (`http` or `https`).
    pub scheme: String,
    /// Status code (default 301).
    pub redirect_code: u32,
    /// Replacement of the matched prefix.
    pub prefix_rewrite: String,
}

/// `HTTPDirectResponse`: a fixed response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDirectResponse {
    /// Status code (required).
    pub status: u32,
    /// Body.
    pub body: Option<HttpBody>,
}

/// `HTTPBody`: a response body as text or base64 bytes (one of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBody {
    /// Text body.
    pub string: Option<String>,
    /// Binary body, base64-encoded.
    pub bytes: Option<String>,
}

/// `HTTPRewrite`: changes to the request before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRewrite {
    /// Replacement of the matched URI or prefix.
    pub uri: String,
    /// Replacement authority.
    pub authority: String,
    /// Regex-based path rewrite.
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// `RegexRewrite`: a regular expression and its replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RegexRewrite {
    /// RE2 pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Replacement, with `\1`-style group references.
    pub rewrite: String,
}

/// `HTTPRetry`: retry policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRetry {
    /// Number of retries.
    pub attempts: i32,
    /// Timeout per attempt (duration).
    pub per_try_timeout: Option<String>,
    /// Comma-separated retry conditions (Envoy's `x-envoy-retry-on` values or status codes).
    pub retry_on: String,
    /// Retry in other localities.
    pub retry_remote_localities: Option<bool>,
    /// Avoid hosts already tried.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base interval between retries (duration).
    pub backoff: Option<String>,
}

proto_enum! {
    /// `CorsPolicy.UnmatchedPreflights`: what to do with preflights from other origins.
    pub enum UnmatchedPreflights {
        /// Default (forward).
        Unspecified = "UNSPECIFIED",
        /// Forward to the upstream.
        Forward = "FORWARD",
        /// Answer without CORS headers.
        Ignore = "IGNORE",
    }
}

/// `CorsPolicy`: Cross-Origin Resource Sharing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsPolicy {
    /// Deprecated: exact origins; use `allowOrigins`.
    pub allow_origin: Vec<String>,
    /// Origins allowed.
    pub allow_origins: Vec<StringMatch>,
    /// Methods allowed.
    pub allow_methods: Vec<String>,
    /// Request headers allowed.
    pub allow_headers: Vec<String>,
    /// Response headers exposed.
    pub expose_headers: Vec<String>,
    /// How long preflight results are cached (duration).
    pub max_age: Option<String>,
    /// Whether credentials are allowed.
    pub allow_credentials: Option<bool>,
    /// Handling of preflights from origins not allowed.
    pub unmatched_preflights: UnmatchedPreflights,
}

/// `HTTPFaultInjection`: delays and aborts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFaultInjection {
    /// Delay before forwarding.
    pub delay: Option<FaultDelay>,
    /// Abort with an error.
    pub abort: Option<FaultAbort>,
}

/// `HTTPFaultInjection.Delay`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultDelay {
    /// Deprecated: integer percentage; use `percentage`.
    pub percent: i32,
    /// Fixed delay (duration; one of `fixedDelay`, `exponentialDelay`).
    pub fixed_delay: Option<String>,
    /// Exponential delay (not supported; one of `fixedDelay`, `exponentialDelay`).
    pub exponential_delay: Option<String>,
    /// Percentage of requests delayed.
    pub percentage: Option<Percent>,
}

/// `HTTPFaultInjection.Abort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultAbort {
    /// HTTP status to return (one of the error types).
    pub http_status: Option<i32>,
    /// gRPC status name to return (one of the error types).
    pub grpc_status: Option<String>,
    /// HTTP/2 error (not supported; one of the error types).
    pub http2_error: Option<String>,
    /// Percentage of requests aborted.
    pub percentage: Option<Percent>,
}

/// `HTTPMirrorPolicy`: one mirror destination.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMirrorPolicy {
    /// Where to mirror to (required).
    pub destination: Option<Destination>,
    /// Percentage of traffic mirrored.
    pub percentage: Option<Percent>,
}

/// `Percent`: a percentage as a double in [0, 100].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Percent {
    /// The percentage.
    pub value: f64,
}

/// The gateway name that means "the sidecars of the mesh".
pub const MESH_GATEWAY: &str = "mesh";

impl VirtualService {
    /// Istio's `ValidateVirtualService`.
    pub fn validate(&self, ctx: &Context<'_>, out: &mut Findings) {
        let delegate = self.hosts.is_empty();
        if delegate && ctx.delegates_disabled {
            out.error("spec.hosts", "virtual service must have at least one host");
        } else if delegate {
            self.check_delegate(out);
        }
        let mut applies_to_gateway = false;
        if !self.gateways.is_empty() {
            validate_gateway_names(&self.gateways, out, "spec.gateways");
            applies_to_gateway = !self.gateways.iter().any(|g| g == MESH_GATEWAY);
        }
        if !applies_to_gateway {
            self.check_jwt_claim_routes(out);
        }
        let all_hosts_valid = self.check_hosts(applies_to_gateway, out);
        if all_hosts_valid {
            self.check_duplicate_hosts(out);
        }
        if self.http.is_empty() && self.tcp.is_empty() && self.tls.is_empty() {
            out.error(
                "spec",
                "http, tcp or tls must be provided in virtual service",
            );
        }
        for (i, r) in self.http.iter().enumerate() {
            http::validate_http_route(r, delegate, out, &format!("spec.http[{i}]"));
        }
        let sni_vs = l4::SniContext {
            hosts: &self.hosts,
            bound_to_gateway: self.is_gateway(),
        };
        for (i, r) in self.tls.iter().enumerate() {
            l4::validate_tls_route(r, &sni_vs, out, &format!("spec.tls[{i}]"));
        }
        for (i, r) in self.tcp.iter().enumerate() {
            l4::validate_tcp_route(r, out, &format!("spec.tcp[{i}]"));
        }
        for e in validate_export_to(ctx.namespace, &self.export_to, false, false) {
            out.error("spec.exportTo", e);
        }
        unreachable::analyze(self, out);
    }

    fn check_delegate(&self, out: &mut Findings) {
        if !self.gateways.is_empty() {
            out.error(
                "spec.gateways",
                "delegate virtual service must have no gateways specified",
            );
        }
        if !self.tls.is_empty() {
            out.error(
                "spec.tls",
                "delegate virtual service must have no tls route specified",
            );
        }
        if !self.tcp.is_empty() {
            out.error(
                "spec.tcp",
                "delegate virtual service must have no tcp route specified",
            );
        }
    }

    /// Whether the rules apply to gateways only (`mesh` is not among the gateways).
    fn is_gateway(&self) -> bool {
        !self.gateways.iter().any(|g| g == MESH_GATEWAY)
    }

    fn has_sni_hosts(&self) -> bool {
        self.tls
            .iter()
            .any(|t| t.matches.iter().any(|m| !m.sni_hosts.is_empty()))
    }

    fn check_jwt_claim_routes(&self, out: &mut Findings) {
        for (i, r) in self.http.iter().enumerate() {
            for (j, m) in r.matches.iter().enumerate() {
                let keys = m.headers.keys().chain(m.without_headers.keys());
                for key in keys.filter(|k| is_jwt_claim_route(k)) {
                    out.error(
                        format!("spec.http[{i}].match[{j}]"),
                        format!(
                            "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: {}",
                            go_list(&self.gateways)
                        ),
                    );
                }
            }
        }
    }

    /// Checks each host; returns whether all are valid.
    fn check_hosts(&self, applies_to_gateway: bool, out: &mut Findings) -> bool {
        let applies_to_mesh = !applies_to_gateway;
        let sni = self.has_sni_hosts();
        let mut all_valid = true;
        for (i, host) in self.hosts.iter().enumerate() {
            let path = format!("spec.hosts[{i}]");
            let r = if applies_to_gateway {
                l4::validate_gateway_bound_domain(sni, host)
            } else {
                validate_wildcard_domain(host)
            };
            match r {
                Err(e) if !is_ip(host) => {
                    out.error(path, e);
                    all_valid = false;
                }
                Ok(()) if applies_to_mesh && host == "*" => {
                    out.error(
                        path,
                        "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                    );
                    all_valid = false;
                }
                _ => {}
            }
        }
        all_valid
    }

    fn check_duplicate_hosts(&self, out: &mut Findings) {
        for (i, a) in self.hosts.iter().enumerate() {
            for b in &self.hosts[i + 1..] {
                if host_matches(a, b) {
                    out.error(
                        format!("spec.hosts[{i}]"),
                        format!("duplicate hosts in virtual service: {a} & {b}"),
                    );
                }
            }
        }
    }
}

/// Istio's check of gateway references (`validateGatewayNames`): `namespace/name`, `mesh`, or
/// the legacy `name.namespace` form (a warning).
pub fn validate_gateway_names(names: &[String], out: &mut Findings, path: &str) {
    for (i, name) in names.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some((ns, gw)) = name.split_once('/') else {
            if name.contains('.') {
                let parts: Vec<&str> = name.split('.').collect();
                out.warning(
                    &p,
                    format!(
                        "using legacy gatewayName format {name:?}; prefer the <namespace>/<name> format: {:?}",
                        format!("{}/{}", parts[1], parts[0])
                    ),
                );
            }
            report(out, &p, validate_fqdn(name));
            // Istio stops at the first name without a slash.
            return;
        };
        if ns.is_empty() || gw.is_empty() {
            out.error(&p, "config namespace and gateway name cannot be empty");
        }
        if !is_dns1123_label(ns) {
            out.error(&p, format!("invalid value for namespace: {ns:?}"));
        }
        if !is_dns1123_label(gw) {
            out.error(&p, format!("invalid value for gateway name: {gw:?}"));
        }
    }
}

/// Istio's check of a destination (`validateDestination`): a host (not `*`), a subset name
/// that is a DNS label, a valid port.
pub fn validate_destination(d: &Destination, out: &mut Findings, path: &str) {
    let host_path = format!("{path}.host");
    if d.host == "*" {
        out.error(host_path, format!("invalid destination host {}", d.host));
    } else {
        report(out, &host_path, validate_wildcard_domain(&d.host));
    }
    if !d.subset.is_empty() {
        report(
            out,
            &format!("{path}.subset"),
            validate_subset_name(&d.subset),
        );
    }
    if let Some(p) = &d.port {
        report(
            out,
            &format!("{path}.port.number"),
            validate_port(p.number.into()),
        );
    }
}

/// A subset name: a DNS label.
pub fn validate_subset_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("subset name cannot be empty".to_string());
    }
    if !is_dns1123_label(name) {
        return Err(format!("subset name is invalid: {name}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
