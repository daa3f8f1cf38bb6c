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
//!
//! The filters that use them are `istio.metadata_exchange` ([`crate::filters::exchange`]) and
//! `istio.stats` ([`crate::filters::stats`]).

pub mod access_log;
pub mod expr;
pub mod metrics;
pub mod overrides;
pub mod peer;
pub mod tcp_exchange;

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
        })
    }
}
