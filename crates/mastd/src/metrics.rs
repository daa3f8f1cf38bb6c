//! mastd's own metrics, with istiod's names, served on `/metrics` (15014).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set `type` (`cds`, `eds`, `lds`, `rds`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// The xDS type, lower case.
    pub r#type: String,
}

/// Label set `version` for `pilot_xds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    /// The proxies' Istio version.
    pub version: String,
}

/// Every metric mastd exports.
pub struct Metrics {
    /// Prometheus registry holding them.
    pub registry: Registry,
    /// `pilot_xds`: connected proxies by version.
    pub xds_clients: Family<VersionLabel, Gauge>,
    /// `pilot_xds_pushes`: responses sent, by type.
    pub pushes: Family<TypeLabel, Counter>,
    /// `pilot_total_xds_rejects`: NACKs received, by type.
    pub rejects: Family<TypeLabel, Counter>,
    /// `pilot_proxy_convergence_time`: from a config change to a proxy's ACK, seconds.
    pub convergence: Histogram,
    /// `pilot_debounce_time`: time spent debouncing a push, seconds.
    pub debounce: Histogram,
    /// `pilot_xds_push_time`: time to generate and send one type, seconds, by type.
    pub push_time: Family<TypeLabel, Histogram>,
    /// `mast_config_invalid_objects`: objects currently rejected by validation.
    pub invalid_objects: Gauge,
    /// `pilot_total_xds_internal_errors`: generation failures.
    pub internal_errors: Counter,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let xds_clients = Family::<VersionLabel, Gauge>::default();
        let pushes = Family::<TypeLabel, Counter>::default();
        let rejects = Family::<TypeLabel, Counter>::default();
        let convergence = Histogram::new(seconds_buckets());
        let debounce = Histogram::new(seconds_buckets());
        let push_time = Family::<TypeLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        let invalid_objects = Gauge::default();
        let internal_errors = Counter::default();
        registry.register(
            "pilot_xds",
            "Number of endpoints connected to this pilot using XDS",
            xds_clients.clone(),
        );
        registry.register(
            "pilot_xds_pushes",
            "Pilot build and send errors for lds, rds, cds and eds",
            pushes.clone(),
        );
        registry.register(
            "pilot_total_xds_rejects",
            "Total number of XDS responses from pilot rejected by proxy",
            rejects.clone(),
        );
        registry.register("pilot_proxy_convergence_time", "Delay in seconds between config change and a proxy receiving all required configuration", convergence.clone());
        registry.register("pilot_debounce_time", "Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue", debounce.clone());
        registry.register(
            "pilot_xds_push_time",
            "Total time in seconds Pilot takes to push lds, rds, cds and eds",
            push_time.clone(),
        );
        registry.register(
            "mast_config_invalid_objects",
            "Configuration objects rejected by validation whose last valid version keeps serving",
            invalid_objects.clone(),
        );
        registry.register(
            "pilot_total_xds_internal_errors",
            "Total number of internal XDS errors in pilot",
            internal_errors.clone(),
        );
        Metrics {
            registry,
            xds_clients,
            pushes,
            rejects,
            convergence,
            debounce,
            push_time,
            invalid_objects,
            internal_errors,
        }
    }
}

impl Metrics {
    /// The Prometheus text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// `cds`, `eds`, `lds`, `rds`, `sds` for a type URL.
pub fn type_label(type_url: &str) -> TypeLabel {
    TypeLabel {
        r#type: mast_xds::types::short_name(type_url).to_ascii_lowercase(),
    }
}
