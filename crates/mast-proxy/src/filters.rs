//! The HTTP filters of a connection manager's chain, each an [`HttpFilter`]
//! (crate::http::filter::HttpFilter) in Envoy's order: fault injection ([`fault`]) and CORS
//! ([`cors`]) so far; RBAC, JWT and Wasm filters join them here.

pub mod cors;
pub mod fault;
