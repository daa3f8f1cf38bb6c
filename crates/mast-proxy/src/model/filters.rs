//! Compiled configuration of the HTTP filters that routes can override
//! (`typed_per_filter_config`): fault injection and CORS. A filter in a connection manager's
//! chain reads the most specific config of the request's route — the route's, else its
//! virtual host's, else the route configuration's — and falls back to its own.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::HeaderValue;

use super::route::{HeaderMatch, StringMatch};

/// Envoy's filter names, as routes key their per-filter configs.
pub const FAULT: &str = "envoy.filters.http.fault";
/// The CORS filter.
pub const CORS: &str = "envoy.filters.http.cors";

/// A share of requests, in millionths (Envoy's `FractionalPercent` normalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction(pub u32);

impl Fraction {
    /// Every request.
    pub const ALL: Fraction = Fraction(1_000_000);

    /// Whether a roll in `[0, 1_000_000)` falls inside.
    pub fn hit(self, roll: u32) -> bool {
        roll < self.0
    }

    /// Rolls the dice.
    pub fn sample(self) -> bool {
        self.0 >= 1_000_000 || (self.0 > 0 && self.hit(fastrand::u32(..1_000_000)))
    }
}

/// Per-filter configs at one level (route configuration, virtual host or route).
#[derive(Debug, Default, Clone)]
pub struct PerFilter {
    /// `envoy.filters.http.fault`.
    pub fault: Option<Arc<Fault>>,
    /// `envoy.filters.http.cors`.
    pub cors: Option<Arc<Cors>>,
}

impl PerFilter {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.fault.is_none() && self.cors.is_none()
    }
}

/// How an abort answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortWith {
    /// An HTTP status (gRPC requests get it mapped to a gRPC status).
    Http(u16),
    /// A gRPC status (as a trailers-only response).
    Grpc(u32),
}

/// Fault injection (`envoy.extensions.filters.http.fault.v3.HTTPFault`).
#[derive(Debug)]
pub struct Fault {
    /// A fixed delay and the share of requests that get it.
    pub delay: Option<(Duration, Fraction)>,
    /// An abort and the share of requests that get it.
    pub abort: Option<(AbortWith, Fraction)>,
    /// The abort's body (Envoy's default `fault filter abort`).
    pub abort_body: bytes::Bytes,
    /// Only requests to this cluster.
    pub upstream_cluster: Option<String>,
    /// Only requests whose headers all match.
    pub headers: Vec<HeaderMatch>,
    /// Only requests whose `x-envoy-downstream-service-node` is one of these.
    pub downstream_nodes: Vec<String>,
    /// At most this many requests faulted at once (`None`: no limit).
    pub max_active: Option<u64>,
    /// Requests being faulted now.
    pub active: AtomicU64,
}

/// A CORS policy (`envoy.extensions.filters.http.cors.v3.CorsPolicy`).
#[derive(Debug)]
pub struct Cors {
    /// Allowed origins (each `StringMatcher` with its `ignore_case`).
    pub origins: Vec<(StringMatch, bool)>,
    /// `access-control-allow-methods`.
    pub allow_methods: Option<HeaderValue>,
    /// `access-control-allow-headers`.
    pub allow_headers: Option<HeaderValue>,
    /// `access-control-expose-headers`.
    pub expose_headers: Option<HeaderValue>,
    /// `access-control-max-age`.
    pub max_age: Option<HeaderValue>,
    /// `access-control-allow-credentials: true`.
    pub allow_credentials: bool,
    /// `access-control-allow-private-network: true` on preflights that ask for it.
    pub allow_private_network: bool,
    /// Preflights whose origin is not allowed go on to the upstream (else answered 200).
    pub forward_not_matching_preflights: bool,
    /// The share of requests the policy is enforced on.
    pub enabled: Fraction,
}

impl Cors {
    /// Whether `origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|(m, ic)| m.matches(origin, *ic))
    }
}
