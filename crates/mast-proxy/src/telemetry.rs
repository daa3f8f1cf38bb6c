//! Istio's telemetry in the proxy ("Telemetry v2"): who the peers are and the standard
//! metrics.
//!
//! - [`peer`]: a workload's metric labels from its node metadata, and the
//!   `x-envoy-peer-metadata` headers that carry them between proxies.
//! - [`metrics`]: the `istio_*` series and their Prometheus text.
//! - [`overrides`]: the Telemetry API's changes to them (dropped metrics, tags removed or
//!   set from [`expr`]essions).
//! - [`access_log`]: Envoy's file access log (Istio's default text format, JSON, a CEL
//!   filter).
//! - [`trace`]: sampling decisions, trace context propagation (W3C, B3), spans reported over
//!   OTLP or to Zipkin.
//!
//! The filters that use them are `istio.metadata_exchange` ([`crate::filters::exchange`]) and
//! `istio.stats` ([`crate::filters::stats`]).

pub mod access_log;
pub mod expr;
pub mod metrics;
pub mod overrides;
pub mod peer;
pub mod tcp_exchange;
pub mod trace;

use std::sync::Arc;

use serde_json::{Map, Value};

use metrics::Metrics;
use peer::{Local, PeerCache};

/// What the telemetry filters of every listener share: this workload, the peers seen, the
/// metrics.
#[derive(Debug)]
pub struct Telemetry {
    /// This workload.
    pub local: Arc<Local>,
    /// Peers decoded from headers.
    pub peers: Arc<PeerCache>,
    /// The `istio_*` metrics.
    pub metrics: Arc<Metrics>,
    /// `unknown`, shared by every label that is.
    pub unknown: Arc<str>,
    /// A peer nothing is known of.
    pub unknown_peer: Arc<peer::Peer>,
    /// Span reporters.
    pub tracers: trace::export::Tracers,
    /// Envoy's service cluster (`app.namespace`): the service name of Zipkin spans.
    pub service_cluster: String,
}

impl Telemetry {
    /// Telemetry for the workload with this node id and metadata.
    pub fn new(node_id: &str, metadata: &Map<String, Value>) -> Arc<Telemetry> {
        Arc::new(Telemetry {
            local: Arc::new(Local::new(node_id, metadata)),
            peers: Arc::new(PeerCache::default()),
            metrics: Arc::new(Metrics::default()),
            unknown: peer::UNKNOWN.into(),
            unknown_peer: Arc::new(peer::Peer::unknown()),
            tracers: trace::export::Tracers::default(),
            service_cluster: service_cluster(node_id, metadata),
        })
    }
}

/// `app.namespace` from the node's labels and namespace, as Istio's agent sets Envoy's
/// service cluster (`istio-proxy` without an app label).
fn service_cluster(node_id: &str, md: &Map<String, Value>) -> String {
    let labels = md.get("LABELS").and_then(Value::as_object);
    let app = ["app", "app.kubernetes.io/name"]
        .iter()
        .find_map(|k| labels.and_then(|l| l.get(*k)).and_then(Value::as_str))
        .unwrap_or("istio-proxy");
    let ns = md
        .get("NAMESPACE")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            // sidecar~IP~POD.NAMESPACE~DOMAIN
            let pod = node_id.split('~').nth(2)?;
            pod.split_once('.').map(|(_, ns)| ns.to_string())
        })
        .unwrap_or_default();
    format!("{app}.{ns}")
}
