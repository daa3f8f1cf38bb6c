//! `EnvoyFilter`: patches to the Envoy configuration Istio generates, and Istio's checks of
//! them. Also reads the `workloadLabels` and `filters` fields Istio 1.5 still accepted
//! (deprecated then, removed later), with 1.5's checks.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

mod deprecated;

pub use deprecated::{
    DeprecatedFilter, DeprecatedFilterType, DeprecatedListenerMatch, DeprecatedListenerProtocol,
    DeprecatedListenerType, InsertIndex, InsertPosition,
};

use super::service_entry::LabelSelector;
use crate::istio::common::{
    PolicyTargetReference, check_oneof, one_line, proto_enum, validate_label_selector,
};
use crate::validate::Findings;

/// `EnvoyFilter`: which proxies to patch and the patches.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvoyFilter {
    /// Workloads to patch (all in the namespace when absent).
    pub workload_selector: Option<LabelSelector>,
    /// Resources (e.g. a Gateway) whose proxies to patch, instead of a selector.
    #[serde(rename = "targetRefs")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// The patches, applied in order.
    pub config_patches: Vec<ConfigPatch>,
    /// Order among EnvoyFilters in the same context.
    pub priority: i32,
    /// Deprecated in Istio 1.5 (removed later): workload labels; use `workloadSelector`.
    pub workload_labels: Option<BTreeMap<String, String>>,
    /// Deprecated in Istio 1.5 (removed later): filters to insert; use `configPatches`.
    pub filters: Vec<DeprecatedFilter>,
}

proto_enum! {
    /// `EnvoyFilter.ApplyTo`: the kind of Envoy object patched.
    pub enum ApplyTo {
        /// Not set.
        Invalid = "INVALID",
        /// A listener.
        Listener = "LISTENER",
        /// A filter chain of a listener.
        FilterChain = "FILTER_CHAIN",
        /// A network filter.
        NetworkFilter = "NETWORK_FILTER",
        /// An HTTP filter.
        HttpFilter = "HTTP_FILTER",
        /// A route configuration.
        RouteConfiguration = "ROUTE_CONFIGURATION",
        /// A virtual host.
        VirtualHost = "VIRTUAL_HOST",
        /// A route.
        HttpRoute = "HTTP_ROUTE",
        /// A cluster.
        Cluster = "CLUSTER",
        /// An extension configuration (ECDS).
        ExtensionConfig = "EXTENSION_CONFIG",
        /// The bootstrap.
        Bootstrap = "BOOTSTRAP",
        /// A listener filter.
        ListenerFilter = "LISTENER_FILTER",
    }
}

proto_enum! {
    /// `EnvoyFilter.PatchContext`: which proxies and traffic a patch is for.
    pub enum PatchContext {
        /// All.
        Any = "ANY",
        /// Sidecar inbound.
        SidecarInbound = "SIDECAR_INBOUND",
        /// Sidecar outbound.
        SidecarOutbound = "SIDECAR_OUTBOUND",
        /// Gateways.
        Gateway = "GATEWAY",
        /// Waypoint proxies.
        Waypoint = "WAYPOINT",
    }
}

/// `EnvoyFilter.EnvoyConfigObjectPatch`: what to patch, where, and how.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatch {
    /// The kind of object patched.
    pub apply_to: ApplyTo,
    /// Which objects.
    #[serde(rename = "match")]
    pub object_match: Option<ObjectMatch>,
    /// The patch.
    pub patch: Option<Patch>,
}

/// `EnvoyFilter.EnvoyConfigObjectMatch` (one of `listener`, `routeConfiguration`, `cluster`,
/// `waypoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMatch {
    /// Proxy context.
    pub context: PatchContext,
    /// Proxy version and metadata.
    pub proxy: Option<ProxyMatch>,
    /// A listener.
    pub listener: Option<ListenerMatch>,
    /// A route configuration.
    pub route_configuration: Option<RouteConfigurationMatch>,
    /// A cluster.
    pub cluster: Option<ClusterMatch>,
    /// A waypoint's objects.
    pub waypoint: Option<WaypointMatch>,
}

/// `EnvoyFilter.ProxyMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyMatch {
    /// RE2 regular expression on the proxy version.
    pub proxy_version: String,
    /// Node metadata to match.
    pub metadata: BTreeMap<String, String>,
}

/// `EnvoyFilter.ClusterMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterMatch {
    /// Service port.
    pub port_number: u32,
    /// Service host.
    pub service: String,
    /// Subset.
    pub subset: String,
    /// Exact cluster name.
    pub name: String,
}

/// `EnvoyFilter.RouteConfigurationMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteConfigurationMatch {
    /// Service port.
    pub port_number: u32,
    /// Port name (gateways).
    pub port_name: String,
    /// Gateway (`namespace/name`).
    pub gateway: String,
    /// Virtual host.
    pub vhost: Option<VirtualHostMatch>,
    /// Route configuration name.
    pub name: String,
}

/// `RouteConfigurationMatch.VirtualHostMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualHostMatch {
    /// Virtual host name.
    pub name: String,
    /// A domain of the virtual host.
    pub domain_name: String,
    /// Route.
    pub route: Option<RouteMatch>,
}

proto_enum! {
    /// `RouteMatch.Action`.
    pub enum RouteAction {
        /// Any.
        Any = "ANY",
        /// Forwarding routes.
        Route = "ROUTE",
        /// Redirects.
        Redirect = "REDIRECT",
        /// Direct responses.
        DirectResponse = "DIRECT_RESPONSE",
    }
}

/// `RouteConfigurationMatch.RouteMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    /// Route name.
    pub name: String,
    /// Route action.
    pub action: RouteAction,
}

/// `EnvoyFilter.ListenerMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerMatch {
    /// Service or listener port.
    pub port_number: u32,
    /// Port name (unused).
    pub port_name: String,
    /// Filter chain.
    pub filter_chain: Option<FilterChainMatch>,
    /// Listener filter name.
    pub listener_filter: String,
    /// Listener name.
    pub name: String,
}

/// `ListenerMatch.FilterChainMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterChainMatch {
    /// Filter chain name.
    pub name: String,
    /// SNI.
    pub sni: String,
    /// `tls` or `raw_buffer`.
    pub transport_protocol: String,
    /// ALPN values, comma-separated.
    pub application_protocols: String,
    /// A network filter in the chain.
    pub filter: Option<FilterMatch>,
    /// Destination port of the chain.
    pub destination_port: u32,
    /// Transport socket name.
    pub transport_socket: String,
}

/// `ListenerMatch.FilterMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterMatch {
    /// Filter name.
    pub name: String,
    /// An HTTP filter of the HTTP connection manager.
    pub sub_filter: Option<SubFilterMatch>,
}

/// `ListenerMatch.SubFilterMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SubFilterMatch {
    /// Filter name.
    pub name: String,
}

/// `EnvoyFilter.WaypointMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WaypointMatch {
    /// Port.
    pub port_number: u32,
    /// Route.
    pub route: Option<SubFilterMatch>,
    /// Filter.
    pub filter: Option<FilterMatch>,
}

proto_enum! {
    /// `Patch.Operation`.
    pub enum Operation {
        /// Not set.
        Invalid = "INVALID",
        /// Merge into the object.
        Merge = "MERGE",
        /// Add to a list.
        Add = "ADD",
        /// Remove the object.
        Remove = "REMOVE",
        /// Insert before the matched object.
        InsertBefore = "INSERT_BEFORE",
        /// Insert after the matched object.
        InsertAfter = "INSERT_AFTER",
        /// Insert first.
        InsertFirst = "INSERT_FIRST",
        /// Replace the object.
        Replace = "REPLACE",
        /// Merge, replacing lists.
        MergeAndReplaceList = "MERGE_AND_REPLACE_LIST",
    }
}

proto_enum! {
    /// `Patch.FilterClass`: where an inserted HTTP filter goes.
    pub enum FilterClass {
        /// By operation.
        Unspecified = "UNSPECIFIED",
        /// After Istio's authentication filter.
        Authn = "AUTHN",
        /// After Istio's authorization filter.
        Authz = "AUTHZ",
        /// Before Istio's stats filter.
        Stats = "STATS",
    }
}

/// `EnvoyFilter.Patch`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// Operation.
    pub operation: Operation,
    /// The Envoy configuration (a `google.protobuf.Struct`).
    pub value: Option<Map<String, Value>>,
    /// Placement of an inserted HTTP filter.
    pub filter_class: FilterClass,
}

/// Deprecated Envoy filter names and their canonical names.
const DEPRECATED_FILTER_NAMES: &[(&str, &str)] = &[
    ("envoy.buffer", "envoy.filters.http.buffer"),
    ("envoy.cors", "envoy.filters.http.cors"),
    ("envoy.csrf", "envoy.filters.http.csrf"),
    ("envoy.http_dynamo_filter", "envoy.filters.http.dynamo"),
    ("envoy.ext_authz", "envoy.filters.network.ext_authz"),
    ("envoy.fault", "envoy.filters.http.fault"),
    (
        "envoy.grpc_http1_bridge",
        "envoy.filters.http.grpc_http1_bridge",
    ),
    (
        "envoy.grpc_json_transcoder",
        "envoy.filters.http.grpc_json_transcoder",
    ),
    ("envoy.grpc_web", "envoy.filters.http.grpc_web"),
    ("envoy.gzip", "envoy.filters.http.gzip"),
    ("envoy.health_check", "envoy.filters.http.health_check"),
    ("envoy.ip_tagging", "envoy.filters.http.ip_tagging"),
    ("envoy.lua", "envoy.filters.http.lua"),
    ("envoy.rate_limit", "envoy.filters.http.ratelimit"),
    ("envoy.router", "envoy.filters.http.router"),
    ("envoy.squash", "envoy.filters.http.squash"),
    (
        "envoy.listener.http_inspector",
        "envoy.filters.listener.http_inspector",
    ),
    (
        "envoy.listener.original_dst",
        "envoy.filters.listener.original_dst",
    ),
    (
        "envoy.listener.original_src",
        "envoy.filters.listener.original_src",
    ),
    (
        "envoy.listener.proxy_protocol",
        "envoy.filters.listener.proxy_protocol",
    ),
    (
        "envoy.listener.tls_inspector",
        "envoy.filters.listener.tls_inspector",
    ),
    (
        "envoy.client_ssl_auth",
        "envoy.filters.network.client_ssl_auth",
    ),
    (
        "envoy.http_connection_manager",
        "envoy.filters.network.http_connection_manager",
    ),
    ("envoy.mongo_proxy", "envoy.filters.network.mongo_proxy"),
    ("envoy.ratelimit", "envoy.filters.network.ratelimit"),
    ("envoy.redis_proxy", "envoy.filters.network.redis_proxy"),
    ("envoy.tcp_proxy", "envoy.filters.network.tcp_proxy"),
];

const HCM: &str = "envoy.filters.network.http_connection_manager";

/// Patterns longer than this are ignored by Istio rather than compiled.
const MAX_PROXY_VERSION_LEN: usize = 1024;

impl EnvoyFilter {
    /// Istio's `ValidateEnvoyFilter`, plus Istio 1.5's checks of the deprecated fields.
    pub fn validate(&self, out: &mut Findings) {
        out.warning(
            "spec",
            "EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.",
        );
        if let Some(sel) = &self.workload_selector {
            let (warning, errs) = validate_label_selector(&sel.labels);
            if !errs.is_empty() {
                for e in errs {
                    out.error("spec.workloadSelector.labels", e);
                }
                return;
            }
            if let Some(w) = warning {
                out.warning(
                    "spec.workloadSelector",
                    format!("Envoy filter: {w}, will be applied to all services in namespace"),
                );
            }
        }
        self.check_target_refs(out);
        deprecated::check(self, out);
        for (i, cp) in self.config_patches.iter().enumerate() {
            validate_patch(cp, out, &format!("spec.configPatches[{i}]"));
        }
    }

    fn check_target_refs(&self, out: &mut Findings) {
        if self.workload_selector.is_some() && !self.target_refs.is_empty() {
            out.error(
                "spec",
                "only one of targetRefs or workloadSelector can be set",
            );
        }
        for (i, r) in self.target_refs.iter().enumerate() {
            let p = format!("spec.targetRefs[{i}]");
            if r.kind.is_empty() {
                out.error(format!("{p}.kind"), "targetRef kind must be set");
            }
            if r.name.is_empty() {
                out.error(format!("{p}.name"), "targetRef name must be set");
            }
            if !r.namespace.is_empty() {
                out.error(
                    format!("{p}.namespace"),
                    "cross namespace referencing is not currently supported",
                );
            }
        }
    }
}

fn validate_patch(cp: &ConfigPatch, out: &mut Findings, path: &str) {
    if let Some(m) = &cp.object_match {
        let mp = format!("{path}.match");
        check_oneof(
            out,
            &mp,
            &[
                ("listener", m.listener.is_some()),
                ("routeConfiguration", m.route_configuration.is_some()),
                ("cluster", m.cluster.is_some()),
                ("waypoint", m.waypoint.is_some()),
            ],
        );
        if (m.context == PatchContext::Waypoint) != m.waypoint.is_some() {
            out.error(&mp, "only support waypointMatch when context is WAYPOINT");
        }
        if m.context == PatchContext::Waypoint {
            return;
        }
    }
    if cp.apply_to == ApplyTo::Invalid {
        out.error(format!("{path}.applyTo"), "Envoy filter: missing applyTo");
        return;
    }
    let Some(patch) = &cp.patch else {
        out.error(path, "Envoy filter: missing patch");
        return;
    };
    if patch.operation == Operation::Invalid {
        out.error(
            format!("{path}.patch.operation"),
            "Envoy filter: missing patch operation",
        );
        return;
    }
    if patch.operation != Operation::Remove && patch.value.is_none() {
        out.error(
            format!("{path}.patch"),
            "Envoy filter: missing patch value for non-remove operation",
        );
        return;
    }
    if let Some(proxy) = cp.object_match.as_ref().and_then(|m| m.proxy.as_ref())
        && !check_proxy_version(
            &proxy.proxy_version,
            out,
            &format!("{path}.match.proxy.proxyVersion"),
        )
    {
        return;
    }
    if !check_match_kind(cp, out, path) {
        return;
    }
    if let Some(v) = &patch.value {
        check_type_urls(v, out, &format!("{path}.patch.value"));
    }
}

/// The proxy version is an RE2 pattern; returns false when it does not compile.
fn check_proxy_version(pattern: &str, out: &mut Findings, path: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    if pattern.len() > MAX_PROXY_VERSION_LEN {
        out.warning(
            path,
            format!("Envoy filter: proxyVersion match exceeds {MAX_PROXY_VERSION_LEN} characters and will be ignored"),
        );
        return true;
    }
    if let Err(e) = regex::Regex::new(pattern) {
        out.error(
            path,
            format!(
                "Envoy filter: invalid regex for proxy version, [{}]",
                one_line(&e.to_string())
            ),
        );
        return false;
    }
    true
}

/// `applyTo` and the kind of match must agree; returns false on the errors after which Istio
/// stops checking the patch.
fn check_match_kind(cp: &ConfigPatch, out: &mut Findings, path: &str) -> bool {
    let Some(m) = &cp.object_match else {
        return true;
    };
    let has_object = m.listener.is_some()
        || m.route_configuration.is_some()
        || m.cluster.is_some()
        || m.waypoint.is_some();
    if !has_object {
        return true;
    }
    let mp = format!("{path}.match");
    match cp.apply_to {
        ApplyTo::Listener | ApplyTo::FilterChain | ApplyTo::NetworkFilter | ApplyTo::HttpFilter => {
            let Some(l) = &m.listener else {
                out.error(
                    &mp,
                    "Envoy filter: applyTo for listener class objects cannot have non listener match",
                );
                return false;
            };
            check_filter_match(
                cp.apply_to,
                l,
                out,
                &format!("{mp}.listener.filterChain.filter"),
            )
        }
        ApplyTo::RouteConfiguration | ApplyTo::VirtualHost | ApplyTo::HttpRoute => {
            if m.route_configuration.is_none() {
                out.error(
                    &mp,
                    "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
                );
            }
            true
        }
        ApplyTo::Cluster => {
            if m.cluster.is_none() {
                out.error(
                    &mp,
                    "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
                );
            }
            true
        }
        _ => true,
    }
}

fn check_filter_match(
    apply_to: ApplyTo,
    l: &ListenerMatch,
    out: &mut Findings,
    path: &str,
) -> bool {
    let Some(f) = l.filter_chain.as_ref().and_then(|c| c.filter.as_ref()) else {
        return true;
    };
    if matches!(apply_to, ApplyTo::Listener | ApplyTo::FilterChain) {
        out.warning(
            path,
            format!("Envoy filter: filter match has no effect when used with {apply_to}"),
        );
    }
    if f.name.is_empty() {
        out.error(path, "Envoy filter: filter match has no name to match on");
        return false;
    }
    if let Some(sub) = &f.sub_filter {
        if apply_to != ApplyTo::HttpFilter {
            out.error(
                path,
                "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only",
            );
            return false;
        }
        if f.name != HCM && f.name != "envoy.http_connection_manager" {
            out.error(
                path,
                format!("Envoy filter: subfilter match requires filter match with {HCM}"),
            );
            return false;
        }
        if sub.name.is_empty() {
            out.error(
                path,
                "Envoy filter: subfilter match has no name to match on",
            );
            return false;
        }
    }
    let sub_name = f
        .sub_filter
        .as_ref()
        .map(|s| s.name.as_str())
        .unwrap_or_default();
    for name in [f.name.as_str(), sub_name] {
        if let Some((_, canonical)) = DEPRECATED_FILTER_NAMES.iter().find(|(d, _)| *d == name) {
            out.warning(
                path,
                format!("using deprecated filter name {name:?}; use {canonical:?} instead"),
            );
        }
    }
    true
}

/// Envoy's v2 API is gone: typed configs naming v2 types do not resolve.
fn check_type_urls(v: &Map<String, Value>, out: &mut Findings, path: &str) {
    let mut urls = Vec::new();
    collect_type_urls(&Value::Object(v.clone()), &mut urls);
    for url in urls
        .into_iter()
        .filter(|u| u.contains(".v2.") || u.contains(".v2alpha."))
    {
        out.error(
            path,
            format!(
                "referenced type unknown (hint: try using the v3 XDS API): could not resolve Any message type: {url}"
            ),
        );
    }
}

fn collect_type_urls(v: &Value, urls: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("@type") {
                urls.push(t.clone());
            }
            m.values().for_each(|x| collect_type_urls(x, urls));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_type_urls(x, urls)),
        _ => {}
    }
}
