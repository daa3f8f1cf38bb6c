//! The HTTP filters of a connection manager's chain, each an [`HttpFilter`]
//! (crate::http::filter::HttpFilter) in Envoy's order: Istio's peer metadata exchange
//! ([`exchange`]), fault injection ([`fault`]), CORS ([`cors`]) and Istio's standard metrics
//! ([`stats`]) so far; RBAC, JWT and Wasm filters join them here.

pub mod cors;
pub mod exchange;
pub mod fault;
pub mod stats;
