//! mastd: Mast's control plane (istiod's counterpart).
//!
//! - [`source`]: where configuration comes from, and the store of last valid objects.
//! - [`model`]: the immutable snapshot a push serves.
//! - [`push`]: debouncing config events into pushes.
//! - [`xds`]: generation and the ADS server.
//! - [`ca`]: the mesh CA (`IstioCertificateService`), its keys, and the TLS gRPC port.
//! - [`metrics`]: istiod's metric names.
//! - [`debug`]: the monitoring port's pages.
//! - [`args`], [`app`]: flags and wiring.

pub mod app;
pub mod args;
pub mod ca;
pub mod debug;
pub mod metrics;
pub mod model;
pub mod push;
pub mod registry;
pub mod source;
pub mod xds;
