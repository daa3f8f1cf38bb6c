//! What mastd and mast-proxy both speak.
//!
//! - [`types`]: xDS type URLs.
//! - [`ca`]: Istio's CA service (`IstioCertificateService`), SPIFFE ids, workload token claims.
//! - [`node`]: the node id (`sidecar~IP~POD.NS~NS.svc.cluster.local`) and the node metadata
//!   Istio's agent sends, read into a typed [`node::Proxy`].
//! - [`structs`]: `google.protobuf.Struct` to and from JSON.
//! - [`ack`]: ADS ACK/NACK bookkeeping per type.
//! - [`http`]: a minimal client for the debug and admin endpoints.
//! - [`json`]: Envoy protos as JSON for config dumps.
//! - [`typed_struct`]: `udpa.type.v1.TypedStruct`, how Istio's own filters are configured.
//!
//! Envoy's protos come from `envoy-types`, re-exported as [`pb`].

pub mod ack;
pub mod ca;
pub mod date;
pub mod http;
pub mod json;
pub mod node;
pub mod structs;
pub mod typed_struct;
pub mod types;

pub use envoy_types::pb;
pub use node::{NodeError, NodeType, Proxy};
