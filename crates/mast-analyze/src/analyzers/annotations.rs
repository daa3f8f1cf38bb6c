//! Istio's `annotations` analyzers: Istio annotations on Kubernetes objects that are unknown,
//! misplaced, deprecated, invalid or part of alpha features.
//!
//! The catalogue of annotations below follows `annotation/annotations.yaml` of `istio/api`:
//! each known annotation with its maturity, deprecation and the kinds it may be put on.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;
use mast_config::Resource;
use regex::Regex;
use serde_json::Value;

use super::injection::SIDECAR_INJECT;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Compat, Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(K8sAnalyzer), Box::new(AlphaAnalyzer)]
}

/// Feature maturity of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Maturity {
    /// Alpha.
    Alpha,
    /// Beta.
    Beta,
    /// Stable.
    Stable,
}
use Maturity::{Alpha, Beta, Stable};

/// One known annotation.
#[derive(Debug)]
pub(crate) struct Def {
    /// Its name (`sidecar.istio.io/inject`).
    pub(crate) name: &'static str,
    /// Its maturity.
    pub(crate) maturity: Maturity,
    /// Whether it is deprecated.
    pub(crate) deprecated: bool,
    /// The kinds it may be put on (`Any` for every kind).
    pub(crate) resources: &'static [&'static str],
}

const fn def(
    name: &'static str,
    maturity: Maturity,
    deprecated: bool,
    resources: &'static [&'static str],
) -> Def {
    Def {
        name,
        maturity,
        deprecated,
        resources,
    }
}

/// The known annotations, by name.
#[rustfmt::skip]
static ANNOTATIONS: &[Def] = &[
    def("alpha.istio.io/canonical-serviceaccounts", Alpha, true, &["Service"]),
    def("alpha.istio.io/kubernetes-serviceaccounts", Alpha, true, &["Service"]),
    def("ambient.istio.io/bypass-inbound-capture", Alpha, false, &["Pod"]),
    def("ambient.istio.io/dns-capture", Alpha, false, &["Pod"]),
    def("ambient.istio.io/redirection", Beta, false, &["Pod"]),
    def("ambient.istio.io/waypoint-inbound-binding", Alpha, false, &["GatewayClass", "Gateway"]),
    def("galley.istio.io/analyze-suppress", Alpha, false, &["Any"]),
    def("gateway.istio.io/controller-version", Alpha, false, &["Any"]),
    def("gateway.istio.io/name-override", Alpha, false, &["Gateway"]),
    def("gateway.istio.io/service-account", Alpha, false, &["Gateway"]),
    def("inject.istio.io/templates", Alpha, false, &["Pod"]),
    def("istio.io/autoRegistrationGroup", Alpha, false, &["WorkloadEntry"]),
    def("istio.io/connectedAt", Alpha, false, &["WorkloadEntry"]),
    def("istio.io/disconnectedAt", Alpha, false, &["WorkloadEntry"]),
    def("istio.io/dry-run", Alpha, false, &["AuthorizationPolicy"]),
    def("istio.io/reroute-virtual-interfaces", Alpha, false, &["Pod"]),
    def("istio.io/rev", Alpha, false, &["Pod"]),
    def("istio.io/use-waypoint-canary-weight", Alpha, false, &["Service", "ServiceEntry", "Namespace"]),
    def("istio.io/workloadController", Alpha, false, &["WorkloadEntry"]),
    def("kubernetes.io/ingress.class", Stable, false, &["Ingress"]),
    def("networking.istio.io/exportTo", Alpha, false, &["Service"]),
    def("networking.istio.io/service-type", Alpha, false, &["Gateway"]),
    def("networking.istio.io/traffic-distribution", Alpha, false, &["Namespace", "Service", "ServiceEntry"]),
    def("prometheus.istio.io/merge-metrics", Alpha, false, &["Pod"]),
    def("proxy.istio.io/config", Beta, false, &["Pod"]),
    def("proxy.istio.io/overrides", Alpha, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/applicationPorts", Alpha, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/failureThreshold", Alpha, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/initialDelaySeconds", Alpha, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/periodSeconds", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/agentLogLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/bootstrapOverride", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/componentLogLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/discoveryAddress", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/extraStatTags", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/inject", Beta, true, &["Pod"]),
    def("sidecar.istio.io/interceptionMode", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/logLevel", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/nativeSidecar", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyCPU", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyCPULimit", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyImage", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyImageType", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyMemory", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/proxyMemoryLimit", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/rewriteAppHTTPProbers", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/statsCompression", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/statsEvictionInterval", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/statsFlushInterval", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/statsHistogramBins", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/statsHistogramBuckets", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/statsInclusionPrefixes", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/statsInclusionRegexps", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/statsInclusionSuffixes", Alpha, true, &["Pod"]),
    def("sidecar.istio.io/status", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/userVolume", Alpha, false, &["Pod"]),
    def("sidecar.istio.io/userVolumeMount", Alpha, false, &["Pod"]),
    def("status.sidecar.istio.io/port", Alpha, false, &["Pod"]),
    def("topology.istio.io/controlPlaneClusters", Alpha, false, &["Namespace"]),
    def("traffic.istio.io/nodeSelector", Stable, false, &["Service"]),
    def("traffic.sidecar.istio.io/excludeInboundPorts", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeInterfaces", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeOutboundIPRanges", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeOutboundPorts", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/includeInboundPorts", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/includeOutboundIPRanges", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/includeOutboundPorts", Alpha, false, &["Pod"]),
    def("traffic.sidecar.istio.io/kubevirtInterfaces", Alpha, true, &["Pod"]),
];

/// The annotations Istio 1.5 knew (`istio/api` of the 1.5 branch), by name. Maturity and
/// deprecation were not tracked then.
#[rustfmt::skip]
static ANNOTATIONS_1_5: &[Def] = &[
    def("alpha.istio.io/canonical-serviceaccounts", Stable, false, &["Service"]),
    def("alpha.istio.io/identity", Stable, false, &["Pod"]),
    def("alpha.istio.io/kubernetes-serviceaccounts", Stable, false, &["Service"]),
    def("galley.istio.io/analyze-suppress", Stable, false, &["Any"]),
    def("install.operator.istio.io/chart-owner", Stable, false, &["Any"]),
    def("install.operator.istio.io/owner-generation", Stable, false, &["Any"]),
    def("install.operator.istio.io/version", Stable, false, &["Any"]),
    def("kubernetes.io/ingress.class", Stable, false, &["Ingress"]),
    def("networking.alpha.istio.io/endpointsVersion", Stable, false, &["ServiceEntry"]),
    def("networking.alpha.istio.io/notReadyEndpoints", Stable, false, &["ServiceEntry"]),
    def("networking.alpha.istio.io/serviceVersion", Stable, false, &["ServiceEntry"]),
    def("networking.istio.io/exportTo", Stable, false, &["Service"]),
    def("policy.istio.io/check", Stable, false, &["Pod"]),
    def("policy.istio.io/checkBaseRetryWaitTime", Stable, false, &["Pod"]),
    def("policy.istio.io/checkMaxRetryWaitTime", Stable, false, &["Pod"]),
    def("policy.istio.io/checkRetries", Stable, false, &["Pod"]),
    def("policy.istio.io/lang", Stable, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/applicationPorts", Stable, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/failureThreshold", Stable, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/initialDelaySeconds", Stable, false, &["Pod"]),
    def("readiness.status.sidecar.istio.io/periodSeconds", Stable, false, &["Pod"]),
    def("security.istio.io/autoMTLS", Stable, false, &["Pod"]),
    def("sidecar.istio.io/bootstrapOverride", Stable, false, &["Pod"]),
    def("sidecar.istio.io/componentLogLevel", Stable, false, &["Pod"]),
    def("sidecar.istio.io/controlPlaneAuthPolicy", Stable, false, &["Pod"]),
    def("sidecar.istio.io/discoveryAddress", Stable, false, &["Pod"]),
    def("sidecar.istio.io/enableCoreDump", Stable, false, &["Pod"]),
    def("sidecar.istio.io/inject", Stable, false, &["Pod"]),
    def("sidecar.istio.io/interceptionMode", Stable, false, &["Pod"]),
    def("sidecar.istio.io/logLevel", Stable, false, &["Pod"]),
    def("sidecar.istio.io/proxyCPU", Stable, false, &["Pod"]),
    def("sidecar.istio.io/proxyImage", Stable, false, &["Pod"]),
    def("sidecar.istio.io/proxyMemory", Stable, false, &["Pod"]),
    def("sidecar.istio.io/rewriteAppHTTPProbers", Stable, false, &["Pod"]),
    def("sidecar.istio.io/statsInclusionPrefixes", Stable, false, &["Pod"]),
    def("sidecar.istio.io/statsInclusionRegexps", Stable, false, &["Pod"]),
    def("sidecar.istio.io/statsInclusionSuffixes", Stable, false, &["Pod"]),
    def("sidecar.istio.io/status", Stable, false, &["Pod"]),
    def("sidecar.istio.io/userVolume", Stable, false, &["Pod"]),
    def("sidecar.istio.io/userVolumeMount", Stable, false, &["Pod"]),
    def("status.sidecar.istio.io/port", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeInboundPorts", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeOutboundIPRanges", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/excludeOutboundPorts", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/includeInboundPorts", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/includeOutboundIPRanges", Stable, false, &["Pod"]),
    def("traffic.sidecar.istio.io/kubevirtInterfaces", Stable, false, &["Pod"]),
];

/// The definition of a known annotation.
pub(crate) fn lookup(name: &str) -> Option<&'static Def> {
    ANNOTATIONS.iter().find(|d| d.name == name)
}

/// The definition of an annotation in the table of the release `compat` reproduces.
fn lookup_for(compat: Compat, name: &str) -> Option<&'static Def> {
    match compat {
        Compat::Current => lookup(name),
        // 1.5 used the smaller annotation table of its istio/api.
        Compat::Istio1_5 => ANNOTATIONS_1_5.iter().find(|d| d.name == name),
    }
}

/// Annotations Istio or its controllers set themselves; never reported.
const ALWAYS_IGNORED: &[&str] = &[
    "sidecar.istio.io/status",
    "gateway.istio.io/controller-version",
    "istio.io/rev",
];

/// Alpha annotations istio-cni sets on every pod; not reported on pods that use the CNI.
const SET_BY_CNI: &[&str] = &[
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
];

/// Whether an annotation is in Istio's domain (`*istio.io/…`, and `kubernetes.io/ingress.class`
/// which Istio documents).
pub(crate) fn is_istio_annotation(name: &str) -> bool {
    name == "kubernetes.io/ingress.class"
        || name
            .split('/')
            .next()
            .is_some_and(|d| d.ends_with("istio.io"))
}

/// The kinds both analyzers look at, with the kind name annotations are placed by.
const ANNOTATED_KINDS: [Kind; 4] = [
    kinds::NAMESPACE,
    kinds::SERVICE,
    kinds::POD,
    kinds::DEPLOYMENT,
];

fn annotation_path(name: &str) -> String {
    format!("/metadata/annotations/{name}")
}

/// `annotations.K8sAnalyzer`.
struct K8sAnalyzer;

impl Analyzer for K8sAnalyzer {
    fn name(&self) -> &'static str {
        "annotations.K8sAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for misplaced and invalid Istio annotations in Kubernetes resources"
    }

    fn inputs(&self) -> &'static [Kind] {
        &ANNOTATED_KINDS
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for kind in ANNOTATED_KINDS {
            for r in store.list(kind) {
                for (name, value) in &r.meta.annotations {
                    check_annotation(ctx, r, kind.kind, name, value);
                }
            }
        }
    }
}

/// Checks one annotation of `r` (of kind `kind`).
fn check_annotation(ctx: &mut Context<'_>, r: &Resource, kind: &str, name: &str, value: &str) {
    let v1_5 = ctx.mesh.compat == Compat::Istio1_5;
    // 1.5 ignored no annotation by name: every one was looked up in its table.
    if !is_istio_annotation(name) || (!v1_5 && ALWAYS_IGNORED.contains(&name)) {
        return;
    }
    let path = annotation_path(name);
    let Some(d) = lookup_for(ctx.mesh.compat, name) else {
        ctx.report(
            r,
            Some(&path),
            catalogue::UNKNOWN_ANNOTATION,
            vec![name.into()],
        );
        return;
    };
    // Having both the deprecated annotation and its replacement label is deliberate.
    let has_replacement = name == SIDECAR_INJECT && r.meta.labels.contains_key(SIDECAR_INJECT);
    // 1.5 did not report deprecated annotations.
    if d.deprecated && !has_replacement && !v1_5 {
        let extra = if name == SIDECAR_INJECT {
            format!(" in favor of the \"{SIDECAR_INJECT}\" label")
        } else {
            String::new()
        };
        ctx.report(
            r,
            Some(&path),
            catalogue::DEPRECATED_ANNOTATION,
            vec![name.into(), extra.into()],
        );
    }
    if d.resources.contains(&"Any") {
        return;
    }
    if !d.resources.contains(&kind) {
        let args = vec![name.into(), d.resources.join(", ").into()];
        ctx.report(r, Some(&path), catalogue::MISPLACED_ANNOTATION, args);
        return;
    }
    // 1.5 checked only names and placement, not values.
    if v1_5 {
        return;
    }
    if let Some(Err(why)) = validate_value(name, value) {
        ctx.report(
            r,
            Some(&path),
            catalogue::INVALID_ANNOTATION,
            vec![name.into(), why.into()],
        );
    }
}

/// `annotations.AlphaAnalyzer`.
struct AlphaAnalyzer;

impl Analyzer for AlphaAnalyzer {
    fn name(&self) -> &'static str {
        "annotations.AlphaAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for alpha Istio annotations in Kubernetes resources"
    }

    fn inputs(&self) -> &'static [Kind] {
        &ANNOTATED_KINDS
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for kind in ANNOTATED_KINDS {
            for r in store.list(kind) {
                let uses_cni = kind == kinds::POD && !has_istio_init(r.spec());
                for name in r.meta.annotations.keys() {
                    if is_reported_alpha(name, uses_cni) {
                        let path = annotation_path(name);
                        ctx.report(
                            r,
                            Some(&path),
                            catalogue::ALPHA_ANNOTATION,
                            vec![name.as_str().into()],
                        );
                    }
                }
            }
        }
    }
}

/// Whether a pod spec has the `istio-init` container (that is, does not rely on istio-cni).
fn has_istio_init(spec: &Value) -> bool {
    arr_of(spec, "initContainers")
        .iter()
        .any(|c| str_of(c, "name") == "istio-init")
}

/// Whether an annotation is an alpha one worth reporting.
fn is_reported_alpha(name: &str, uses_cni: bool) -> bool {
    is_istio_annotation(name)
        && lookup(name).is_some_and(|d| d.maturity == Alpha)
        && !ALWAYS_IGNORED.contains(&name)
        && !(uses_cni && SET_BY_CNI.contains(&name))
}

/// Validates the value of an annotation that has a value syntax; `None` when it has none.
pub(crate) fn validate_value(name: &str, value: &str) -> Option<Result<(), String>> {
    Some(match name {
        "sidecar.istio.io/interceptionMode" => interception_mode(value),
        "status.sidecar.istio.io/port" => parse_port(value)
            .map(|_| ())
            .map_err(|e| format!("excludeInboundPorts invalid: {e}")),
        "readiness.status.sidecar.istio.io/initialDelaySeconds"
        | "readiness.status.sidecar.istio.io/periodSeconds"
        | "readiness.status.sidecar.istio.io/failureThreshold" => {
            parse_uint(value, u32::MAX.into()).map(|_| ())
        }
        "traffic.sidecar.istio.io/includeOutboundIPRanges" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeOutboundIPRanges" => {
            cidr_list(value).map_err(|e| format!("includeIPRanges invalid: {e}"))
        }
        "traffic.sidecar.istio.io/excludeOutboundIPRanges" => {
            cidr_list(value).map_err(|e| format!("excludeIPRanges invalid: {e}"))
        }
        "traffic.sidecar.istio.io/includeInboundPorts" if value == "*" => Ok(()),
        "traffic.sidecar.istio.io/includeInboundPorts" => port_list("includeInboundPorts", value),
        "traffic.sidecar.istio.io/excludeInboundPorts" => port_list("excludeInboundPorts", value),
        "traffic.sidecar.istio.io/excludeOutboundPorts" => port_list("excludeOutboundPorts", value),
        "traffic.sidecar.istio.io/excludeInterfaces"
        | "traffic.sidecar.istio.io/kubevirtInterfaces"
        | "istio.io/reroute-virtual-interfaces" => interface_names(value),
        "prometheus.istio.io/merge-metrics" => parse_bool(value),
        "proxy.istio.io/config" => proxy_config(value),
        "sidecar.istio.io/proxyCPU"
        | "sidecar.istio.io/proxyMemory"
        | "sidecar.istio.io/proxyCPULimit"
        | "sidecar.istio.io/proxyMemoryLimit" => quantity(value),
        _ => return None,
    })
}

fn interception_mode(mode: &str) -> Result<(), String> {
    match mode {
        "REDIRECT" | "TPROXY" | "NONE" => Ok(()),
        _ => Err(format!(
            "interceptionMode invalid, use REDIRECT,TPROXY,NONE: {mode}"
        )),
    }
}

/// An unsigned decimal no greater than `max`, as Go's `strconv.ParseUint` reads it.
fn parse_uint(s: &str, max: u64) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )),
    }
}

fn parse_port(s: &str) -> Result<u64, String> {
    parse_uint(s.trim(), u16::MAX.into()).map_err(|e| format!("failed parsing port '{s}': {e}"))
}

/// A comma-separated list of ports (empty allowed).
fn port_list(parameter: &str, ports: &str) -> Result<(), String> {
    let ports = ports.trim();
    if ports.is_empty() {
        return Ok(());
    }
    for p in ports.split(',') {
        parse_port(p)
            .map_err(|e| format!("{parameter} invalid: failed parsing port '{p}': {e}"))?;
    }
    Ok(())
}

/// A comma-separated list of CIDRs (empty allowed).
fn cidr_list(cidrs: &str) -> Result<(), String> {
    if cidrs.is_empty() {
        return Ok(());
    }
    for c in cidrs.split(',') {
        if c.parse::<IpNet>().is_err() {
            return Err(format!(
                "failed parsing cidr '{c}': netip.ParsePrefix({c:?}): invalid prefix"
            ));
        }
    }
    Ok(())
}

/// A comma-separated list of Linux interface names (empty allowed).
fn interface_names(list: &str) -> Result<(), String> {
    if list.is_empty() {
        return Ok(());
    }
    for iface in list.split(',').map(str::trim) {
        let mut chars = iface.chars();
        let Some(first) = chars.next() else {
            return Err("empty interface name".to_string());
        };
        if iface.len() > 15 {
            return Err(format!("interface name {iface:?} too long (max 15 chars)"));
        }
        if !first.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "interface name {iface:?} contains invalid characters"
            ));
        }
    }
    Ok(())
}

/// A boolean as Go's `strconv.ParseBool` reads it.
fn parse_bool(s: &str) -> Result<(), String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false"
        | "False" => Ok(()),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$").expect("quantity pattern")
});

/// A Kubernetes resource quantity (`100m`, `1Gi`, `1e3`).
fn quantity(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("value contains control characters".to_string());
    }
    if QUANTITY.is_match(s) {
        Ok(())
    } else {
        Err("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".to_string())
    }
}

/// The fields of a ProxyConfig (`mesh/v1alpha1/proxy.proto`), by JSON name.
#[rustfmt::skip]
const PROXY_CONFIG_FIELDS: &[&str] = &[
    "configPath", "binaryPath", "serviceCluster", "tracingServiceName", "drainDuration",
    "discoveryAddress", "discoveryRefreshDelay", "zipkinAddress", "statsdUdpAddress",
    "envoyMetricsServiceAddress", "proxyAdminPort", "availabilityZone", "controlPlaneAuthPolicy",
    "customConfigFile", "statNameLength", "concurrency", "proxyBootstrapTemplatePath",
    "interceptionMode", "tracing", "sds", "envoyAccessLogService", "envoyMetricsService",
    "proxyMetadata", "runtimeValues", "statusPort", "extraStatTags", "gatewayTopology",
    "terminationDrainDuration", "meshId", "readinessProbe", "proxyStatsMatcher",
    "holdApplicationUntilProxyStarts", "caCertificatesPem", "image", "privateKeyProvider",
    "proxyHeaders", "fileFlushInterval", "fileFlushMinSizeKb", "statsCompression",
    "connectionSettings",
];

/// Whether `key` names a ProxyConfig field, by JSON or proto (snake-case) name.
fn is_proxy_config_field(key: &str) -> bool {
    let camel = snake_to_camel(key);
    PROXY_CONFIG_FIELDS.contains(&camel.as_str())
}

fn snake_to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A `proxy.istio.io/config` value: a ProxyConfig overlay on the defaults that must still make
/// a valid proxy configuration (the common checks of Istio's ProxyConfig validation).
fn proxy_config(text: &str) -> Result<(), String> {
    let parsed = match mast_config::yaml::parse_stream(text) {
        Ok(docs) => docs
            .into_iter()
            .next()
            .map(|d| d.value)
            .unwrap_or(Value::Null),
        Err(e) => return Err(format!("failed to convert to apply proxy config: {e}")),
    };
    let fields = match &parsed {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => return Err("failed to convert to apply proxy config: not a mapping".to_string()),
    };
    if let Some(k) = fields.keys().find(|k| !is_proxy_config_field(k)) {
        return Err(format!(
            "failed to convert to apply proxy config: unknown field {k:?} in ProxyConfig"
        ));
    }
    let errors = proxy_config_errors(
        &fields
            .iter()
            .map(|(k, v)| (snake_to_camel(k), v.clone()))
            .collect(),
    );
    match errors.len() {
        0 => Ok(()),
        1 => Err(format!("1 error occurred:\n\t* {}\n\n", errors[0])),
        n => Err(format!(
            "{n} errors occurred:\n\t* {}\n\n",
            errors.join("\n\t* ")
        )),
    }
}

/// The validation errors of an overlay, given that the defaults are valid.
fn proxy_config_errors(pc: &BTreeMap<String, Value>) -> Vec<String> {
    let set_empty = |k: &str| pc.get(k).is_some_and(|v| v.as_str() == Some(""));
    let mut errs = Vec::new();
    if set_empty("configPath") {
        errs.push("config path must be set".to_string());
    }
    if set_empty("binaryPath") {
        errs.push("binary path must be set".to_string());
    }
    if set_empty("serviceCluster") {
        errs.push("service cluster must be specified".to_string());
    }
    if let Some(d) = pc.get("drainDuration").and_then(Value::as_str) {
        match duration_nanos(d) {
            None => errs.push(format!("invalid drain duration: invalid duration {d:?}")),
            Some(n) if n % 1_000_000_000 != 0 => {
                errs.push("drain time only supports durations to seconds precision".to_string())
            }
            Some(_) => {}
        }
    }
    match pc.get("discoveryAddress").and_then(Value::as_str) {
        Some("") => {
            errs.push("discovery address must be set to the proxy discovery service".to_string())
        }
        Some(a) => {
            if let Err(e) = proxy_address(a) {
                errs.push(format!("invalid discovery address: {e}"));
            }
        }
        None => {}
    }
    let statsd = pc.get("statsdUdpAddress").and_then(Value::as_str);
    if let Some(a) = statsd.filter(|a| !a.is_empty())
        && let Err(e) = proxy_address(a)
    {
        errs.push(format!("invalid statsd udp address {a:?}: {e}"));
    }
    errs
}

/// A protobuf JSON duration (`45s`, `1.5s`) in nanoseconds.
fn duration_nanos(s: &str) -> Option<i128> {
    let num = s.strip_suffix('s')?;
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let (neg, int) = int.strip_prefix('-').map_or((false, int), |i| (true, i));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = int.parse().ok()?;
    let nanos: i128 = format!("{frac:0<9}").parse().ok()?;
    let total = whole * 1_000_000_000 + nanos;
    Some(if neg { -total } else { total })
}

/// A `host:port` address whose host is a DNS name or an IP.
fn proxy_address(addr: &str) -> Result<(), String> {
    let (host, port) = split_host_port(addr).ok_or_else(|| format!("unable to split {addr:?}"))?;
    let port: i64 = port
        .parse()
        .map_err(|_| format!("port ({port}) is not a number"))?;
    if !(1..=65535).contains(&port) {
        return Err(format!("port number {port} must be in the range 1..65535"));
    }
    if !is_dns_name(host) && host.parse::<IpAddr>().is_err() {
        return Err(format!("{host:?} is not a valid hostname or an IP address"));
    }
    Ok(())
}

fn split_host_port(addr: &str) -> Option<(&str, &str)> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return Some((host, tail.strip_prefix(':')?));
    }
    let (host, port) = addr.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_sorted_and_unique() {
        assert!(ANNOTATIONS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(ANNOTATIONS_1_5.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn tables_by_release() {
        let placed = |compat, name| lookup_for(compat, name).map(|d| d.resources);
        let cases: &[(Compat, &str, Option<&[&str]>)] = &[
            (Compat::Current, "policy.istio.io/lang", None),
            (Compat::Istio1_5, "policy.istio.io/lang", Some(&["Pod"])),
            (Compat::Current, "istio.io/rev", Some(&["Pod"])),
            (Compat::Istio1_5, "istio.io/rev", None),
            (Compat::Istio1_5, "sidecar.istio.io/inject", Some(&["Pod"])),
            (
                Compat::Istio1_5,
                "install.operator.istio.io/version",
                Some(&["Any"]),
            ),
        ];
        for (compat, name, want) in cases {
            assert_eq!(placed(*compat, name), *want, "{compat:?} {name}");
        }
        assert!(ANNOTATIONS_1_5.iter().all(|d| !d.deprecated));
    }

    #[test]
    fn istio_annotations() {
        assert!(is_istio_annotation("sidecar.istio.io/inject"));
        assert!(is_istio_annotation("networking.istio.io/exportThree"));
        assert!(is_istio_annotation("kubernetes.io/ingress.class"));
        assert!(!is_istio_annotation("kubernetes.io/psp"));
        assert!(!is_istio_annotation("helm.sh/hook"));
    }

    #[test]
    fn values() {
        let cases: &[(&str, &str, bool)] = &[
            (
                "readiness.status.sidecar.istio.io/initialDelaySeconds",
                "bar",
                false,
            ),
            (
                "readiness.status.sidecar.istio.io/periodSeconds",
                "10",
                true,
            ),
            ("sidecar.istio.io/interceptionMode", "REDIRECT", true),
            ("sidecar.istio.io/interceptionMode", "redirect", false),
            (
                "traffic.sidecar.istio.io/excludeInboundPorts",
                "15020",
                true,
            ),
            (
                "traffic.sidecar.istio.io/excludeInboundPorts",
                "15020, 80",
                true,
            ),
            (
                "traffic.sidecar.istio.io/excludeInboundPorts",
                "99999",
                false,
            ),
            ("traffic.sidecar.istio.io/includeInboundPorts", "*", true),
            (
                "traffic.sidecar.istio.io/includeOutboundIPRanges",
                "*",
                true,
            ),
            (
                "traffic.sidecar.istio.io/includeOutboundIPRanges",
                "10.0.0.0/8,::/0",
                true,
            ),
            (
                "traffic.sidecar.istio.io/excludeOutboundIPRanges",
                "10.0.0.0",
                false,
            ),
            (
                "traffic.sidecar.istio.io/excludeInterfaces",
                "eth0,net1",
                true,
            ),
            ("traffic.sidecar.istio.io/excludeInterfaces", "0eth", false),
            ("prometheus.istio.io/merge-metrics", "True", true),
            ("prometheus.istio.io/merge-metrics", "yes", false),
            ("sidecar.istio.io/proxyCPU", "100m", true),
            ("sidecar.istio.io/proxyMemory", "1Gi", true),
            ("sidecar.istio.io/proxyMemory", "1GB", false),
            ("proxy.istio.io/config", "{}", true),
            (
                "proxy.istio.io/config",
                "concurrency: 2\nholdApplicationUntilProxyStarts: true",
                true,
            ),
            (
                "proxy.istio.io/config",
                "discoveryAddress: istiod:15012",
                true,
            ),
            ("proxy.istio.io/config", "discoveryAddress: istiod", false),
            ("proxy.istio.io/config", "drainDuration: 1.5s", false),
            ("proxy.istio.io/config", "notAField: 1", false),
        ];
        for (name, value, ok) in cases {
            assert_eq!(
                validate_value(name, value).map(|r| r.is_ok()),
                Some(*ok),
                "{name}: {value}"
            );
        }
        assert_eq!(validate_value("sidecar.istio.io/proxyImage", "x"), None);
    }
}
