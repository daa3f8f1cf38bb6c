//! The Telemetry API (`telemetry.istio.io` Telemetry) and MeshConfig's access log settings,
//! resolved for one proxy and one side (client = outbound, server = inbound).
//!
//! Levels apply in Istio's order: the root namespace's Telemetry without selector (mesh), the
//! proxy's namespace's without selector, then the first one selecting the workload; a later
//! level overrides an earlier one. Metrics go to the `prometheus` provider (the default):
//! `overrides` disable metrics (all of them or one) and change tags (`REMOVE`, or `UPSERT`
//! with an expression the proxy evaluates). Access logs go to the built-in `envoy` provider
//! (stdout, Istio's default text format, or JSON / a custom format from MeshConfig) or to an
//! `envoyFileAccessLog` extension provider (its path, `text` format or JSON `labels`), and
//! may carry a CEL `filter`; MeshConfig `defaultProviders.accessLogging` applies to sides no
//! Telemetry speaks of. MeshConfig `accessLogFile` turns access logs on for every proxy.
//! Other providers (OpenTelemetry and gRPC access log services, Stackdriver...) are not
//! supported and are skipped with a warning.

use std::collections::{BTreeMap, BTreeSet};

use mast_config::istio::telemetry::{IstioMetric, TagOperation, Telemetry, WorkloadMode};
use mast_xds::Proxy;
use serde_json::{Value, json};

use crate::model::{Config, Snapshot};
use crate::xds::rds::util::warn_once;

#[cfg(test)]
mod tests;

/// Istio's standard metrics by their stats-plugin names.
pub const METRICS: [&str; 10] = [
    "requests_total",
    "request_duration_milliseconds",
    "request_bytes",
    "response_bytes",
    "tcp_connections_opened_total",
    "tcp_connections_closed_total",
    "tcp_sent_bytes_total",
    "tcp_received_bytes_total",
    "request_messages_total",
    "response_messages_total",
];

fn metric_names(m: IstioMetric) -> &'static [&'static str] {
    match m {
        IstioMetric::AllMetrics => &METRICS,
        IstioMetric::RequestCount => &METRICS[0..1],
        IstioMetric::RequestDuration => &METRICS[1..2],
        IstioMetric::RequestSize => &METRICS[2..3],
        IstioMetric::ResponseSize => &METRICS[3..4],
        IstioMetric::TcpOpenedConnections => &METRICS[4..5],
        IstioMetric::TcpClosedConnections => &METRICS[5..6],
        IstioMetric::TcpSentBytes => &METRICS[6..7],
        IstioMetric::TcpReceivedBytes => &METRICS[7..8],
        IstioMetric::GrpcRequestMessages => &METRICS[8..9],
        IstioMetric::GrpcResponseMessages => &METRICS[9..10],
    }
}

/// One metric's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricChange {
    /// Not generated.
    pub drop: bool,
    /// Tags added or replaced, with their value expressions.
    pub dimensions: BTreeMap<String, String>,
    /// Tags removed.
    pub remove: BTreeSet<String>,
}

/// An access log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLog {
    /// Where lines go (`/dev/stdout`).
    pub path: String,
    /// JSON lines instead of text.
    pub json: bool,
    /// A custom format (text, or JSON object text), else Istio's default.
    pub format: Option<String>,
    /// A CEL expression; only requests for which it holds are logged.
    pub filter: Option<String>,
    /// Sent to an OpenTelemetry collector instead of written (`format` is the body).
    pub otel: Option<OtelLog>,
}

/// An OpenTelemetry access log service (`envoyOtelAls`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtelLog {
    /// The collector's outbound cluster.
    pub cluster: String,
    /// Its hostname.
    pub authority: String,
    /// `logName` (Istio's default `otel_envoy_accesslog`).
    pub log_name: String,
    /// The attributes (`labels`), as JSON object text.
    pub attributes: Option<String>,
}

/// The telemetry of one side of a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Side {
    /// Changes by metric name.
    pub metrics: BTreeMap<&'static str, MetricChange>,
    /// The access log, if on.
    pub access_log: Option<AccessLog>,
    /// Tracing, if on.
    pub tracing: Option<super::tracing::TraceSpec>,
}

impl Side {
    /// Whether every metric is dropped (the stats filter is then left out).
    pub fn metrics_off(&self) -> bool {
        METRICS
            .iter()
            .all(|m| self.metrics.get(m).is_some_and(|c| c.drop))
    }

    /// The `stats.PluginConfig` of this side.
    pub fn stats_config(&self, inbound: bool) -> Value {
        let mut cfg = serde_json::Map::new();
        if inbound {
            cfg.insert("disable_host_header_fallback".into(), true.into());
        }
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .filter(|(_, c)| **c != MetricChange::default())
            .map(|(name, c)| {
                let mut m = serde_json::Map::new();
                m.insert("name".into(), (*name).into());
                if c.drop {
                    m.insert("drop".into(), true.into());
                }
                if !c.dimensions.is_empty() {
                    m.insert("dimensions".into(), json!(c.dimensions));
                }
                if !c.remove.is_empty() {
                    m.insert("tags_to_remove".into(), json!(c.remove));
                }
                Value::Object(m)
            })
            .collect();
        if !metrics.is_empty() {
            cfg.insert("metrics".into(), Value::Array(metrics));
        }
        Value::Object(cfg)
    }
}

/// The telemetry of a proxy, by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryPolicy {
    /// Outbound.
    pub client: Side,
    /// Inbound.
    pub server: Side,
}

fn sides(mode: WorkloadMode) -> (bool, bool) {
    match mode {
        WorkloadMode::ClientAndServer => (true, true),
        WorkloadMode::Client => (true, false),
        WorkloadMode::Server => (false, true),
    }
}

fn selects(c: &Config<Telemetry>, proxy: &Proxy) -> Option<bool> {
    super::mtls::selector_applies(c.spec.selector.as_ref(), proxy)
}

/// The Telemetry resources applying to `proxy`, least specific first.
pub fn levels<'a>(snap: &'a Snapshot, proxy: &Proxy) -> Vec<&'a Config<Telemetry>> {
    let root = snap.mesh.root_namespace.as_str();
    let (mut mesh, mut namespace, mut workload) = (None, None, None);
    for c in &snap.telemetries {
        if c.namespace != root && c.namespace != proxy.namespace {
            continue;
        }
        match selects(c, proxy) {
            Some(false) if c.namespace == root => mesh = mesh.or(Some(c)),
            Some(false) => namespace = namespace.or(Some(c)),
            Some(true) if c.namespace != root || root == proxy.namespace => {
                workload = workload.or(Some(c))
            }
            _ => {}
        }
    }
    [mesh, namespace, workload].into_iter().flatten().collect()
}

/// The position in the snapshot of the workload-level Telemetry of `proxy` (what, beyond its
/// namespace, makes its listeners differ from its neighbours').
pub fn workload_level(snap: &Snapshot, proxy: &Proxy) -> Option<usize> {
    levels(snap, proxy)
        .into_iter()
        .filter(|c| selects(c, proxy) == Some(true))
        .find_map(|c| snap.telemetries.iter().position(|t| std::ptr::eq(t, c)))
}

/// Access logs to stdout with MeshConfig's encoding and format (the built-in `envoy`
/// provider).
fn stdout(mesh: &crate::model::MeshSettings) -> AccessLog {
    AccessLog {
        path: "/dev/stdout".into(),
        json: mesh.access_log_json,
        format: (!mesh.access_log_format.is_empty()).then(|| mesh.access_log_format.clone()),
        filter: None,
        otel: None,
    }
}

/// The access log of provider `name`: an `envoyFileAccessLog` extension provider (its path,
/// and its `text` format or `labels` as JSON), an `envoyOtelAls` one (its collector's
/// cluster, `logName`, `text` body and `labels` attributes), or the built-in `envoy`
/// (stdout). `None` for other kinds.
fn file_provider(snap: &Snapshot, name: &str) -> Option<AccessLog> {
    let mesh = &snap.mesh;
    match mesh.tracing.provider(name) {
        Some(p) if p.envoy_otel_als.is_some() => {
            let o = p.envoy_otel_als.as_ref()?;
            let (authority, cluster) =
                match super::tracing::lookup_cluster(snap, &o.service, o.port) {
                    Ok(found) => found,
                    Err(e) => {
                        warn_once(
                            &format!("access log provider {name}: {e}"),
                            &format!("access log provider {name:?}: {e}; skipped"),
                        );
                        return None;
                    }
                };
            let format = o.log_format.as_ref();
            Some(AccessLog {
                path: String::new(),
                json: false,
                format: format.map(|f| f.text.clone()).filter(|t| !t.is_empty()),
                filter: None,
                otel: Some(OtelLog {
                    cluster,
                    authority,
                    log_name: if o.log_name.is_empty() {
                        "otel_envoy_accesslog".into()
                    } else {
                        o.log_name.clone()
                    },
                    attributes: format
                        .and_then(|f| f.labels.as_ref())
                        .filter(|l| !l.is_empty())
                        .map(|l| serde_json::Value::Object(l.clone()).to_string()),
                }),
            })
        }
        Some(p) => {
            let f = p.envoy_file_access_log.as_ref()?;
            let (json, format) = match &f.log_format {
                Some(lf) if lf.labels.is_some() => (
                    true,
                    lf.labels
                        .as_ref()
                        .map(|l| serde_json::Value::Object(l.clone()).to_string()),
                ),
                Some(lf) => (false, lf.text.clone().filter(|t| !t.is_empty())),
                None => (false, None),
            };
            Some(AccessLog {
                path: if f.path.is_empty() {
                    "/dev/stdout".into()
                } else {
                    f.path.clone()
                },
                json,
                format,
                filter: None,
                otel: None,
            })
        }
        None if name.eq_ignore_ascii_case("envoy") => Some(stdout(mesh)),
        None => None,
    }
}

/// Resolves the telemetry of `proxy`.
pub fn policy_for(snap: &Snapshot, proxy: &Proxy) -> TelemetryPolicy {
    let mut p = TelemetryPolicy::default();
    let mesh = &snap.mesh;
    if !mesh.access_log_file.is_empty() {
        let log = AccessLog {
            path: mesh.access_log_file.clone(),
            ..stdout(mesh)
        };
        p.client.access_log = Some(log.clone());
        p.server.access_log = Some(log);
    }
    let lv = levels(snap, proxy);
    // the sides (client, server) a Telemetry access logging entry decided
    let (mut logged_client, mut logged_server) = (false, false);
    p.client.tracing = super::tracing::resolve(snap, proxy, &lv, true);
    p.server.tracing = super::tracing::resolve(snap, proxy, &lv, false);
    for c in lv {
        let at = format!("Telemetry {}/{}", c.namespace, c.name);
        for m in &c.spec.metrics {
            if !m.providers.is_empty() && !m.providers.iter().any(|p| p.name == "prometheus") {
                warn_once(
                    &format!("{at} metrics providers"),
                    &format!(
                        "{at}: metrics providers other than prometheus are not supported; skipped"
                    ),
                );
                continue;
            }
            for o in &m.overrides {
                let sel = o.r#match.clone().unwrap_or_default();
                // a customMetric naming a standard metric is that metric; custom metric
                // definitions do not exist in mast
                let custom = match &sel.custom_metric {
                    None => None,
                    Some(name) => {
                        let bare = name.strip_prefix("istio_").unwrap_or(name);
                        match METRICS.iter().position(|m| *m == bare) {
                            Some(i) => Some(&METRICS[i..=i]),
                            None => {
                                warn_once(
                                    &format!("{at} customMetric {name}"),
                                    &format!(
                                        "{at}: customMetric {name:?} is not one of the standard metrics (custom metric definitions are not supported); skipped"
                                    ),
                                );
                                continue;
                            }
                        }
                    }
                };
                let (client, server) = sides(sel.mode);
                for side in [(client, &mut p.client), (server, &mut p.server)]
                    .into_iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, s)| s)
                {
                    for name in
                        custom.unwrap_or_else(|| metric_names(sel.metric.unwrap_or_default()))
                    {
                        let ch = side.metrics.entry(name).or_default();
                        if let Some(d) = o.disabled {
                            ch.drop = d;
                        }
                        for (tag, t) in &o.tag_overrides {
                            match t.operation {
                                TagOperation::Remove => {
                                    ch.dimensions.remove(tag);
                                    ch.remove.insert(tag.clone());
                                }
                                TagOperation::Upsert => {
                                    ch.remove.remove(tag);
                                    ch.dimensions
                                        .insert(tag.clone(), t.value.clone().unwrap_or_default());
                                }
                            }
                        }
                    }
                }
            }
        }
        for l in &c.spec.access_logging {
            let base = if l.providers.is_empty() {
                Some(None)
            } else {
                let found = l
                    .providers
                    .iter()
                    .find_map(|r| file_provider(snap, &r.name).map(Some));
                if found.is_none() {
                    warn_once(
                        &format!("{at} access log providers"),
                        &format!(
                            "{at}: access log providers other than envoy, envoyFileAccessLog and envoyOtelAls are not supported; skipped"
                        ),
                    );
                }
                found
            };
            let (client, server) = sides(l.r#match.clone().unwrap_or_default().mode);
            let Some(base) = base else {
                // the side's providers are these, none of which mastd can configure
                logged_client |= client;
                logged_server |= server;
                continue;
            };
            if l.providers.len() > 1 {
                warn_once(
                    &format!("{at} several access log providers"),
                    &format!("{at}: only the first supported access log provider is used"),
                );
            }
            for (side, decided) in [
                (client, &mut p.client, &mut logged_client),
                (server, &mut p.server, &mut logged_server),
            ]
            .into_iter()
            .filter(|(on, _, _)| *on)
            .map(|(_, s, d)| (s, d))
            {
                *decided = true;
                side.access_log = if l.disabled == Some(true) {
                    None
                } else {
                    let base = base
                        .clone()
                        .or_else(|| side.access_log.clone())
                        .unwrap_or_else(|| stdout(mesh));
                    Some(AccessLog {
                        filter: l
                            .filter
                            .as_ref()
                            .map(|f| f.expression.clone())
                            .filter(|e| !e.is_empty()),
                        ..base
                    })
                };
            }
        }
    }
    // no Telemetry access logging: MeshConfig's default providers, if any
    if let Some(log) = mesh
        .tracing
        .default_access_logging
        .iter()
        .find_map(|n| file_provider(snap, n))
    {
        for (side, decided) in [
            (&mut p.client, logged_client),
            (&mut p.server, logged_server),
        ] {
            if !decided && side.access_log.is_none() {
                side.access_log = Some(log.clone());
            }
        }
    }
    p
}
