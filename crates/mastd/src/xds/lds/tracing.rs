//! Tracing of HTTP connection managers, as istiod configures it (`configureTracing`).
//!
//! The Telemetry API's `tracing` levels (mesh, namespace, workload; later ones override) pick
//! a provider by name (else MeshConfig `defaultProviders.tracing`), looked up in MeshConfig
//! `extensionProviders`; the sampling percentage comes from the Telemetry
//! (`randomSamplingPercentage`), else the proxy config (`defaultConfig.tracing.sampling`),
//! else `PILOT_TRACE_SAMPLING` (1%). Without any Telemetry tracing or default provider, and
//! with `enableTracing` (the default), the legacy settings apply: sampling and the proxy
//! config's custom tags, no provider (istiod adds its per-workload `istio.*` tags there too;
//! with no tracer to report them mastd leaves them out, so that neighbours share listeners;
//! `defaultConfig.tracing.zipkin` bootstrap tracers are not supported). `disableSpanReporting` turns tracing off for the side it selects.
//!
//! Providers: `opentelemetry` (OTLP over gRPC, or over HTTP with `http`) and `zipkin` (Zipkin
//! v2 JSON). Others (Datadog, SkyWalking, Lightstep, OpenCensus, Stackdriver) are not
//! supported by mast-proxy: sampling and tags are kept, spans are not reported, with a warning.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    GrpcService, HttpService, HttpUri, grpc_service, http_uri,
};
use envoy_types::pb::envoy::config::trace::v3::{
    OpenTelemetryConfig, ZipkinConfig, tracing, zipkin_config,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::Tracing as HcmTracing;
use envoy_types::pb::envoy::r#type::metadata::v3::{
    MetadataKey, MetadataKind, metadata_key, metadata_kind,
};
use envoy_types::pb::envoy::r#type::tracing::v3::{CustomTag, custom_tag};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::util::pack_any;
use mast_config::istio::mesh::{ExtensionProvider, ProxyTracing};
use mast_config::istio::telemetry::{Tracing, WorkloadMode};
use mast_xds::Proxy;
use serde_json::Value;

use crate::model::{Config, Snapshot};
use crate::xds::rds::util::warn_once;

/// `PILOT_TRACE_SAMPLING`'s default (percent).
pub const DEFAULT_SAMPLING: f64 = 1.0;

/// Where a span tag's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSource {
    /// A fixed value.
    Literal(String),
    /// An environment variable of the proxy, with a default.
    Environment(String, String),
    /// A request header, with a default.
    Header(String, String),
    /// A key of the RBAC filter's dynamic metadata (Istio's dry-run policy tags).
    RbacMetadata(String),
}

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceProvider {
    /// OpenTelemetry: OTLP/gRPC to `cluster` (`:authority` `authority`), or OTLP/HTTP to
    /// `http_path` on it.
    OpenTelemetry {
        /// The collector's outbound cluster.
        cluster: String,
        /// Its hostname.
        authority: String,
        /// OTLP/HTTP path (`None`: gRPC).
        http_path: Option<String>,
        /// `service.name` of the spans' resource.
        service_name: String,
        /// Maximum path tag length.
        max_tag_length: u32,
    },
    /// Zipkin v2 JSON over HTTP.
    Zipkin {
        /// The collector's outbound cluster.
        cluster: String,
        /// Its hostname (the `Host` header).
        hostname: String,
        /// Endpoint path (`/api/v2/spans`).
        path: String,
        /// 128-bit trace ids (Istio's default).
        trace_id_128: bool,
        /// W3C `traceparent` propagated beside B3.
        w3c: bool,
        /// Maximum path tag length.
        max_tag_length: u32,
    },
}

/// The tracing of one side of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    /// Where spans go (`None`: decisions and tags only).
    pub provider: Option<TraceProvider>,
    /// Random sampling, percent.
    pub sampling: f64,
    /// Custom tags, sorted by name.
    pub tags: Vec<(String, TagSource)>,
    /// `maxPathTagLength` of the proxy config.
    pub max_path_tag_length: Option<u32>,
}

// sampling is a validated percentage, never NaN
impl Eq for TraceSpec {}

/// The tracing parts of MeshConfig mastd reads, with the extension providers and default
/// access log providers (which the Telemetry API's access logs read too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshTracing {
    /// `enableTracing` (default true).
    pub enable: bool,
    /// `extensionProviders`.
    pub providers: Vec<ExtensionProvider>,
    /// `defaultProviders.tracing`.
    pub default_providers: Vec<String>,
    /// `defaultConfig.tracing`.
    pub proxy: Option<ProxyTracing>,
    /// `defaultProviders.accessLogging` (read by the access log resolution).
    pub default_access_logging: Vec<String>,
}

// sampling is a validated percentage, never NaN
impl Eq for MeshTracing {}

impl MeshTracing {
    /// Reads them from a MeshConfig document (validated already; parts that do not decode
    /// are left at their defaults).
    pub fn from_mesh_config(v: &Value) -> MeshTracing {
        let decode = |p: &str| v.pointer(p).cloned();
        MeshTracing {
            enable: v
                .get("enableTracing")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            providers: decode("/extensionProviders")
                .and_then(|p| serde_json::from_value(p).ok())
                .unwrap_or_default(),
            default_providers: decode("/defaultProviders/tracing")
                .and_then(|p| serde_json::from_value(p).ok())
                .unwrap_or_default(),
            proxy: decode("/defaultConfig/tracing").and_then(|p| serde_json::from_value(p).ok()),
            default_access_logging: decode("/defaultProviders/accessLogging")
                .and_then(|p| serde_json::from_value(p).ok())
                .unwrap_or_default(),
        }
    }

    /// The extension provider named `name` (case-insensitive, as istiod looks them up).
    pub fn provider(&self, name: &str) -> Option<&ExtensionProvider> {
        self.providers
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The proxy config's sampling, as istiod reads it (over 100 means 1).
    fn sampling(&self) -> f64 {
        match self.proxy.as_ref().map(|t| t.sampling) {
            Some(s) if s > 100.0 => 1.0,
            Some(s) if s != 0.0 => s,
            _ => DEFAULT_SAMPLING,
        }
    }
}

/// What the Telemetry levels say for one side.
#[derive(Debug, Default)]
struct Merged {
    provider: Option<String>,
    disabled: bool,
    sampling: Option<f64>,
    tags: Option<BTreeMap<String, mast_config::istio::telemetry::CustomTag>>,
    istio_tags: bool,
}

fn applies(t: &Tracing, client: bool) -> bool {
    match t.r#match.as_ref().map(|m| m.mode).unwrap_or_default() {
        WorkloadMode::ClientAndServer => true,
        WorkloadMode::Client => client,
        WorkloadMode::Server => !client,
    }
}

/// Merges the levels' tracing for one side (`None`: no Telemetry tracing nor default
/// provider, the legacy settings apply).
fn merge(
    levels: &[&Config<mast_config::istio::telemetry::Telemetry>],
    mesh: &MeshTracing,
    client: bool,
) -> Option<Merged> {
    let entries: Vec<&Tracing> = levels
        .iter()
        .flat_map(|c| c.spec.tracing.iter())
        .filter(|t| applies(t, client))
        .collect();
    let mut names = mesh.default_providers.clone();
    for t in &entries {
        if !t.providers.is_empty() {
            names = t.providers.iter().map(|p| p.name.clone()).collect();
        }
    }
    if entries.is_empty() && names.is_empty() {
        return None;
    }
    let chosen = names.first().cloned();
    let mut m = Merged {
        provider: chosen.clone(),
        istio_tags: true,
        ..Default::default()
    };
    for t in entries {
        let relevant = t.providers.is_empty()
            || chosen
                .as_deref()
                .is_some_and(|c| t.providers.iter().any(|p| p.name.eq_ignore_ascii_case(c)));
        if !relevant {
            continue;
        }
        if let Some(d) = t.disable_span_reporting {
            m.disabled = d;
        }
        if !t.custom_tags.is_empty() {
            m.tags = Some(t.custom_tags.clone());
        }
        if let Some(s) = t.random_sampling_percentage {
            m.sampling = Some(s);
        }
        if let Some(e) = t.enable_istio_tags {
            m.istio_tags = e;
        }
    }
    Some(m)
}

/// The collector's hostname and outbound cluster (`service` is `host` or `namespace/host`),
/// as istiod's `LookupCluster`.
pub fn lookup_cluster(
    snap: &Snapshot,
    service: &str,
    port: u32,
) -> Result<(String, String), String> {
    let (ns, host) = match service.split_once('/') {
        Some((ns, host)) => (Some(ns), host),
        None => (None, service),
    };
    let found = snap
        .registry
        .services
        .iter()
        .find(|s| s.hostname == host && ns.is_none_or(|n| n == s.namespace));
    match found {
        Some(s) => Ok((
            s.hostname.clone(),
            crate::xds::cds::outbound::cluster_name(port as u16, "", &s.hostname),
        )),
        None => Err(format!(
            "could not find service {service} in Istio service registry"
        )),
    }
}

fn provider_config(
    snap: &Snapshot,
    proxy: &Proxy,
    p: &ExtensionProvider,
) -> Result<Option<TraceProvider>, String> {
    if let Some(o) = &p.opentelemetry {
        if o.dynatrace_sampler.is_some() {
            return Err("the Dynatrace sampler is not supported by mast-proxy".into());
        }
        let (host, cluster) = lookup_cluster(snap, &o.service, o.port)?;
        return Ok(Some(TraceProvider::OpenTelemetry {
            http_path: o.http.as_ref().map(|h| {
                let path = h.path.trim_start_matches('/');
                format!("/{path}")
            }),
            cluster,
            authority: host,
            service_name: proxy.cluster_name(),
            max_tag_length: o.max_tag_length,
        }));
    }
    if let Some(z) = &p.zipkin {
        let (host, cluster) = lookup_cluster(snap, &z.service, z.port)?;
        return Ok(Some(TraceProvider::Zipkin {
            cluster,
            hostname: host,
            path: if z.path.is_empty() {
                "/api/v2/spans".into()
            } else {
                z.path.clone()
            },
            trace_id_128: !z.enable_64bit_trace_id,
            w3c: z.trace_context_option
                == mast_config::istio::mesh::TraceContextOption::UseB3WithW3cPropagation,
            max_tag_length: z.max_tag_length,
        }));
    }
    let kind = if p.datadog.is_some() {
        "datadog"
    } else if p.skywalking.is_some() {
        "skywalking"
    } else if p.lightstep.is_some() {
        "lightstep"
    } else if p.opencensus.is_some() {
        "opencensus"
    } else if p.stackdriver.is_some() {
        "stackdriver"
    } else {
        return Err(format!("provider {:?} does not support tracing", p.name));
    };
    warn_once(
        &format!("tracing provider {kind}"),
        &format!(
            "tracing provider {:?} ({kind}) is not supported by mast-proxy: requests are sampled and traced headers kept, spans are not reported",
            p.name
        ),
    );
    Ok(None)
}

/// The proxy's canonical service and revision, as Istio's injector labels pods
/// (`service.istio.io/canonical-*`, else the `app.kubernetes.io` or `app` / `version`
/// labels, else the workload name and `latest`).
pub fn canonical(proxy: &Proxy) -> (String, String) {
    let find = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| proxy.labels.get(*k).filter(|v| !v.is_empty()).cloned())
    };
    let service = find(&[
        "service.istio.io/canonical-name",
        "app.kubernetes.io/name",
        "app",
    ])
    .or_else(|| (!proxy.workload_name.is_empty()).then(|| proxy.workload_name.clone()))
    .unwrap_or_else(|| "unknown".into());
    let revision = find(&[
        "service.istio.io/canonical-revision",
        "app.kubernetes.io/version",
        "version",
    ])
    .unwrap_or_else(|| "latest".into());
    (service, revision)
}

/// Istio's tags naming the proxy's workload.
fn istio_tags(proxy: &Proxy) -> Vec<(String, TagSource)> {
    let (service, revision) = canonical(proxy);
    let meta = |k: &str, d: &str| {
        proxy
            .metadata
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .unwrap_or(d)
            .to_string()
    };
    let lit = |k: &str, v: String| (k.to_string(), TagSource::Literal(v));
    let rbac = |k: &str, v: &str| (k.to_string(), TagSource::RbacMetadata(v.to_string()));
    vec![
        lit("istio.canonical_revision", revision),
        lit("istio.canonical_service", service),
        lit("istio.mesh_id", meta("MESH_ID", "unknown")),
        lit(
            "istio.namespace",
            if proxy.namespace.is_empty() {
                "default".into()
            } else {
                proxy.namespace.clone()
            },
        ),
        lit(
            "istio.cluster_id",
            if proxy.cluster_id.is_empty() {
                "unknown".into()
            } else {
                proxy.cluster_id.clone()
            },
        ),
        rbac(
            "istio.authorization.dry_run.allow_policy.name",
            "istio_dry_run_allow_shadow_effective_policy_id",
        ),
        rbac(
            "istio.authorization.dry_run.allow_policy.result",
            "istio_dry_run_allow_shadow_engine_result",
        ),
        rbac(
            "istio.authorization.dry_run.deny_policy.name",
            "istio_dry_run_deny_shadow_effective_policy_id",
        ),
        rbac(
            "istio.authorization.dry_run.deny_policy.result",
            "istio_dry_run_deny_shadow_engine_result",
        ),
    ]
}

fn telemetry_tags(
    tags: &BTreeMap<String, mast_config::istio::telemetry::CustomTag>,
) -> Vec<(String, TagSource)> {
    tags.iter()
        .filter_map(|(name, t)| {
            let src = if let Some(l) = &t.literal {
                TagSource::Literal(l.value.clone())
            } else if let Some(e) = &t.environment {
                TagSource::Environment(e.name.clone(), e.default_value.clone())
            } else if let Some(h) = &t.header {
                TagSource::Header(h.name.clone(), h.default_value.clone())
            } else {
                warn_once(
                    &format!("tracing formatter tag {name}"),
                    &format!("tracing custom tag {name:?}: formatter tags are not supported by mast-proxy; skipped"),
                );
                return None;
            };
            Some((name.clone(), src))
        })
        .collect()
}

fn proxy_config_tags(t: Option<&ProxyTracing>) -> Vec<(String, TagSource)> {
    t.map(|t| {
        t.custom_tags
            .iter()
            .filter_map(|(name, c)| {
                let src = if let Some(l) = &c.literal {
                    TagSource::Literal(l.value.clone())
                } else if let Some(e) = &c.environment {
                    TagSource::Environment(e.name.clone(), e.default_value.clone())
                } else {
                    let h = c.header.as_ref()?;
                    TagSource::Header(h.name.clone(), h.default_value.clone())
                };
                Some((name.clone(), src))
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Whether any proxy may report spans in `snap` (span tags and the tracer's service name
/// then name each workload).
pub fn may_trace(snap: &Snapshot) -> bool {
    !snap.mesh.tracing.default_providers.is_empty()
        || snap
            .telemetries
            .iter()
            .any(|c| c.spec.tracing.iter().any(|t| !t.providers.is_empty()))
}

/// Resolves the tracing of one side (`client`: outbound) of `proxy`; `None` when off.
pub fn resolve(
    snap: &Snapshot,
    proxy: &Proxy,
    levels: &[&Config<mast_config::istio::telemetry::Telemetry>],
    client: bool,
) -> Option<TraceSpec> {
    let mesh = &snap.mesh.tracing;
    let max_path = mesh
        .proxy
        .as_ref()
        .map(|t| t.max_path_tag_length)
        .filter(|l| *l != 0);
    let Some(m) = merge(levels, mesh, client) else {
        if !mesh.enable {
            return None;
        }
        if let Some(t) = &mesh.proxy {
            let bootstrap = [
                ("zipkin", t.zipkin.is_some()),
                ("lightstep", t.lightstep.is_some()),
                ("datadog", t.datadog.is_some()),
                ("stackdriver", t.stackdriver.is_some()),
                ("openCensusAgent", t.open_census_agent.is_some()),
            ];
            for (name, set) in bootstrap {
                if set {
                    warn_once(
                        &format!("bootstrap tracer {name}"),
                        &format!(
                            "defaultConfig.tracing.{name} (a bootstrap tracer) is not supported by mast-proxy: spans are not reported; define an extensionProvider and select it with a Telemetry"
                        ),
                    );
                }
            }
        }
        // without a provider no span is made, so Istio's per-workload tags would only keep
        // neighbours from sharing listeners; the proxy config's custom tags are mesh-wide
        let mut tags = proxy_config_tags(mesh.proxy.as_ref());
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        return Some(TraceSpec {
            provider: None,
            sampling: mesh.sampling(),
            tags,
            max_path_tag_length: max_path,
        });
    };
    let name = m.provider.clone().unwrap_or_default();
    let Some(p) = mesh.provider(&name) else {
        // a provider that is not defined disables tracing, as in istiod
        warn_once(
            &format!("tracing provider {name} missing"),
            &format!(
                "tracing provider {name:?} is not in MeshConfig extensionProviders; tracing is off"
            ),
        );
        return None;
    };
    if m.disabled {
        return None;
    }
    let provider = match provider_config(snap, proxy, p) {
        Ok(p) => p,
        Err(e) => {
            warn_once(
                &format!("tracing provider {name}: {e}"),
                &format!("Not able to configure requested tracing provider {name:?}: {e}"),
            );
            return None;
        }
    };
    let mut tags = if m.istio_tags {
        istio_tags(proxy)
    } else {
        vec![]
    };
    match &m.tags {
        Some(t) => tags.extend(telemetry_tags(t)),
        None => tags.extend(proxy_config_tags(mesh.proxy.as_ref())),
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let provider_max = match &provider {
        Some(TraceProvider::OpenTelemetry { max_tag_length, .. })
        | Some(TraceProvider::Zipkin { max_tag_length, .. }) => {
            Some(*max_tag_length).filter(|l| *l != 0)
        }
        None => None,
    };
    Some(TraceSpec {
        provider,
        sampling: m.sampling.unwrap_or_else(|| mesh.sampling()),
        tags,
        max_path_tag_length: provider_max.or(max_path),
    })
}

fn percent(v: f64) -> Option<Percent> {
    Some(Percent { value: v })
}

/// The connection manager's `tracing` of `spec`.
pub fn hcm_tracing(spec: &TraceSpec) -> HcmTracing {
    let provider = spec.provider.as_ref().map(|p| match p {
        TraceProvider::OpenTelemetry {
            cluster,
            authority,
            http_path,
            service_name,
            ..
        } => {
            let mut oc = OpenTelemetryConfig {
                service_name: service_name.clone(),
                ..Default::default()
            };
            match http_path {
                Some(path) => {
                    oc.http_service = Some(HttpService {
                        http_uri: Some(HttpUri {
                            uri: format!("{authority}{path}"),
                            http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(
                                cluster.clone(),
                            )),
                            timeout: None,
                        }),
                        ..Default::default()
                    })
                }
                None => {
                    oc.grpc_service = Some(GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: cluster.clone(),
                                authority: authority.clone(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    })
                }
            }
            tracing::Http {
                name: "envoy.tracers.opentelemetry".into(),
                config_type: Some(tracing::http::ConfigType::TypedConfig(pack_any(oc))),
            }
        }
        TraceProvider::Zipkin {
            cluster,
            hostname,
            path,
            trace_id_128,
            w3c,
            ..
        } => {
            let zc = ZipkinConfig {
                collector_cluster: cluster.clone(),
                collector_endpoint: path.clone(),
                collector_hostname: hostname.clone(),
                trace_id_128bit: *trace_id_128,
                shared_span_context: Some(envoy_types::pb::google::protobuf::BoolValue {
                    value: false,
                }),
                collector_endpoint_version: zipkin_config::CollectorEndpointVersion::HttpJson
                    as i32,
                trace_context_option: if *w3c {
                    zipkin_config::TraceContextOption::UseB3WithW3cPropagation as i32
                } else {
                    zipkin_config::TraceContextOption::UseB3 as i32
                },
                ..Default::default()
            };
            tracing::Http {
                name: "envoy.tracers.zipkin".into(),
                config_type: Some(tracing::http::ConfigType::TypedConfig(pack_any(zc))),
            }
        }
    });
    let custom_tags = spec
        .tags
        .iter()
        .map(|(name, src)| CustomTag {
            tag: name.clone(),
            r#type: Some(match src {
                TagSource::Literal(v) => {
                    custom_tag::Type::Literal(custom_tag::Literal { value: v.clone() })
                }
                TagSource::Environment(n, d) => {
                    custom_tag::Type::Environment(custom_tag::Environment {
                        name: n.clone(),
                        default_value: d.clone(),
                    })
                }
                TagSource::Header(n, d) => custom_tag::Type::RequestHeader(custom_tag::Header {
                    name: n.clone(),
                    default_value: d.clone(),
                }),
                TagSource::RbacMetadata(key) => custom_tag::Type::Metadata(custom_tag::Metadata {
                    kind: Some(MetadataKind {
                        kind: Some(metadata_kind::Kind::Request(metadata_kind::Request {})),
                    }),
                    metadata_key: Some(MetadataKey {
                        key: "envoy.filters.http.rbac".into(),
                        path: vec![metadata_key::PathSegment {
                            segment: Some(metadata_key::path_segment::Segment::Key(key.clone())),
                        }],
                    }),
                    default_value: String::new(),
                }),
            }),
        })
        .collect();
    HcmTracing {
        client_sampling: percent(100.0),
        random_sampling: percent(spec.sampling),
        overall_sampling: percent(100.0),
        max_path_tag_length: spec
            .max_path_tag_length
            .map(|v| envoy_types::pb::google::protobuf::UInt32Value { value: v }),
        custom_tags,
        provider,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
