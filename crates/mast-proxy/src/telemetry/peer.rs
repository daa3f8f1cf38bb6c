//! Peers as Istio's metrics name them, and the HTTP peer metadata exchange.
//!
//! A workload's labels come from its node metadata (`WORKLOAD_NAME`, `NAMESPACE`, `LABELS`,
//! `CLUSTER_ID`) with Istio's fallbacks: the canonical service is the
//! `service.istio.io/canonical-name` label, else `app.kubernetes.io/name`, else `app`, else the
//! workload name; the canonical revision is `service.istio.io/canonical-revision`, else
//! `app.kubernetes.io/version`, else `version`, else `latest`. What is still missing is
//! `unknown`.
//!
//! Between proxies the metadata travels as `x-envoy-peer-metadata` (base64 of a serialized
//! `google.protobuf.Struct`) and `x-envoy-peer-metadata-id` (the node id), as Istio's
//! `istio_headers` discovery and propagation send them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// The header holding the peer's metadata.
pub const PEER_METADATA: HeaderName = HeaderName::from_static("x-envoy-peer-metadata");
/// The header holding the peer's node id.
pub const PEER_METADATA_ID: HeaderName = HeaderName::from_static("x-envoy-peer-metadata-id");

/// The value Istio puts in a label it cannot fill.
pub const UNKNOWN: &str = "unknown";

/// The node metadata keys sent to peers (the rest stays between the proxy and mastd).
const EXCHANGED: [&str; 12] = [
    "APP_CONTAINERS",
    "CLUSTER_ID",
    "INSTANCE_IPS",
    "ISTIO_VERSION",
    "LABELS",
    "MESH_ID",
    "NAME",
    "NAMESPACE",
    "OWNER",
    "PLATFORM_METADATA",
    "SERVICE_ACCOUNT",
    "WORKLOAD_NAME",
];

/// A workload's metric labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    /// `*_workload`.
    pub workload: Arc<str>,
    /// `*_workload_namespace`.
    pub namespace: Arc<str>,
    /// `*_app`.
    pub app: Arc<str>,
    /// `*_version`.
    pub version: Arc<str>,
    /// `*_canonical_service`.
    pub canonical_service: Arc<str>,
    /// `*_canonical_revision`.
    pub canonical_revision: Arc<str>,
    /// `*_cluster`.
    pub cluster: Arc<str>,
}

fn text<'a>(md: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    md.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Peer {
    /// Nothing known about the peer.
    pub fn unknown() -> Peer {
        let u: Arc<str> = UNKNOWN.into();
        Peer {
            workload: u.clone(),
            namespace: u.clone(),
            app: u.clone(),
            version: u.clone(),
            canonical_service: u.clone(),
            canonical_revision: u.clone(),
            cluster: u,
        }
    }

    /// The labels of the workload with this node metadata.
    pub fn from_metadata(md: &Map<String, Value>) -> Peer {
        let empty = Map::new();
        let labels = md
            .get("LABELS")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let label = |keys: &[&str]| keys.iter().find_map(|k| text(labels, k));
        let workload = text(md, "WORKLOAD_NAME");
        let app = label(&["app", "app.kubernetes.io/name"]);
        let version = label(&["version", "app.kubernetes.io/version"]);
        let canonical_service = label(&[
            "service.istio.io/canonical-name",
            "app.kubernetes.io/name",
            "app",
        ])
        .or(workload);
        let canonical_revision = label(&[
            "service.istio.io/canonical-revision",
            "app.kubernetes.io/version",
            "version",
        ])
        .unwrap_or("latest");
        let or_unknown = |v: Option<&str>| -> Arc<str> { v.unwrap_or(UNKNOWN).into() };
        Peer {
            workload: or_unknown(workload),
            namespace: or_unknown(text(md, "NAMESPACE")),
            app: or_unknown(app),
            version: or_unknown(version),
            canonical_service: or_unknown(canonical_service),
            canonical_revision: canonical_revision.into(),
            cluster: or_unknown(text(md, "CLUSTER_ID")),
        }
    }
}

/// Encodes node metadata as the `x-envoy-peer-metadata` value (only the exchanged keys).
pub fn encode(md: &Map<String, Value>) -> String {
    let s = mast_xds::structs::json_to_struct(&exchanged(md));
    STANDARD.encode(prost::Message::encode_to_vec(&s))
}

/// The node metadata keys sent to peers.
pub fn exchanged(md: &Map<String, Value>) -> Map<String, Value> {
    EXCHANGED
        .iter()
        .filter_map(|k| md.get(*k).map(|v| ((*k).to_string(), v.clone())))
        .collect()
}

/// Decodes an `x-envoy-peer-metadata` value into node metadata; `None` when it is not base64
/// of a `Struct`.
pub fn decode(value: &[u8]) -> Option<Map<String, Value>> {
    let bytes = STANDARD.decode(value).ok()?;
    let s: envoy_types::pb::google::protobuf::Struct =
        prost::Message::decode(bytes.as_slice()).ok()?;
    Some(mast_xds::structs::struct_to_json(&s))
}

/// This workload: its labels and the headers it sends to peers, built once.
#[derive(Debug)]
pub struct Local {
    /// Its labels.
    pub peer: Arc<Peer>,
    /// The `x-envoy-peer-metadata` value.
    pub header: HeaderValue,
    /// The `x-envoy-peer-metadata-id` value.
    pub id: HeaderValue,
    /// The TCP metadata exchange frame ([`super::tcp_exchange`]).
    pub tcp_frame: Vec<u8>,
}

impl Local {
    /// The workload with this node id and metadata.
    pub fn new(node_id: &str, md: &Map<String, Value>) -> Local {
        Local {
            peer: Arc::new(Peer::from_metadata(md)),
            header: HeaderValue::from_str(&encode(md)).expect("base64 is a header value"),
            id: HeaderValue::from_str(node_id).unwrap_or_else(|_| HeaderValue::from_static("")),
            tcp_frame: super::tcp_exchange::frame(node_id, &exchanged(md)),
        }
    }
}

/// Peers already decoded, by header value: a workload sends the same bytes every time, so
/// each is decoded once. Bounded; cleared when full.
#[derive(Debug, Default)]
pub struct PeerCache {
    seen: Mutex<HashMap<HeaderValue, Arc<Peer>>>,
}

/// Peers kept before the cache starts over.
const CACHE_MAX: usize = 1024;

impl PeerCache {
    /// The peer an `x-envoy-peer-metadata` value describes (`None` if it does not decode).
    pub fn get(&self, value: &HeaderValue) -> Option<Arc<Peer>> {
        if let Some(p) = self.seen.lock().expect("peer cache").get(value) {
            return Some(p.clone());
        }
        let peer = Arc::new(Peer::from_metadata(&decode(value.as_bytes())?));
        let mut seen = self.seen.lock().expect("peer cache");
        if seen.len() >= CACHE_MAX {
            seen.clear();
        }
        seen.insert(value.clone(), peer.clone());
        Some(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn md(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn labels_with_istio_fallbacks() {
        // (metadata, workload, app, version, canonical service, canonical revision)
        let cases = [
            (
                json!({"WORKLOAD_NAME": "reviews-v1", "NAMESPACE": "default", "CLUSTER_ID": "Kubernetes",
                       "LABELS": {"app": "reviews", "version": "v1"}}),
                [
                    "reviews-v1",
                    "default",
                    "reviews",
                    "v1",
                    "reviews",
                    "v1",
                    "Kubernetes",
                ],
            ),
            (
                json!({"WORKLOAD_NAME": "ratings", "LABELS": {"app.kubernetes.io/name": "rate", "app.kubernetes.io/version": "2",
                       "service.istio.io/canonical-revision": "r7"}}),
                ["ratings", "unknown", "rate", "2", "rate", "r7", "unknown"],
            ),
            (
                json!({"WORKLOAD_NAME": "bare"}),
                [
                    "bare", "unknown", "unknown", "unknown", "bare", "latest", "unknown",
                ],
            ),
            (
                json!({"LABELS": {"service.istio.io/canonical-name": "front", "app": "web"}}),
                [
                    "unknown", "unknown", "web", "unknown", "front", "latest", "unknown",
                ],
            ),
            (
                json!({}),
                [
                    "unknown", "unknown", "unknown", "unknown", "unknown", "latest", "unknown",
                ],
            ),
        ];
        for (m, want) in cases {
            let p = Peer::from_metadata(&md(m.clone()));
            let got = [
                &*p.workload,
                &*p.namespace,
                &*p.app,
                &*p.version,
                &*p.canonical_service,
                &*p.canonical_revision,
                &*p.cluster,
            ];
            assert_eq!(got, want, "{m}");
        }
    }

    #[test]
    fn header_round_trip_keeps_only_exchanged_keys() {
        let m = md(
            json!({"WORKLOAD_NAME": "reviews-v2", "NAMESPACE": "default",
            "LABELS": {"app": "reviews", "version": "v2"}, "ISTIO_META_SECRET": "x", "PROXY_CONFIG": {}}),
        );
        let h = encode(&m);
        let back = decode(h.as_bytes()).unwrap();
        assert_eq!(back["WORKLOAD_NAME"], "reviews-v2");
        assert_eq!(back["LABELS"]["version"], "v2");
        assert!(!back.contains_key("ISTIO_META_SECRET") && !back.contains_key("PROXY_CONFIG"));
        assert!(decode(b"not base64!").is_none());
        let cache = PeerCache::default();
        let v = HeaderValue::from_str(&h).unwrap();
        let a = cache.get(&v).unwrap();
        let b = cache.get(&v).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a.version, "v2");
        assert!(cache.get(&HeaderValue::from_static("%%%")).is_none());
    }
}
