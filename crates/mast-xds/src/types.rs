//! xDS v3 type URLs.

/// Listener (LDS).
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// RouteConfiguration (RDS).
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// Cluster (CDS).
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// ClusterLoadAssignment (EDS).
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// Secret (SDS).
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The order in which a push sends types, so that a proxy never sees a reference before its
/// target (clusters before the endpoints that fill them, listeners before their routes).
pub const PUSH_ORDER: [&str; 4] = [CLUSTER, ENDPOINT, LISTENER, ROUTE];

/// Short name of a type URL as Istio's debug pages print it (`CDS`, `EDS`, `LDS`, `RDS`, `SDS`).
pub fn short_name(type_url: &str) -> &'static str {
    match type_url {
        LISTENER => "LDS",
        ROUTE => "RDS",
        CLUSTER => "CDS",
        ENDPOINT => "EDS",
        SECRET => "SDS",
        _ => "UNKNOWN",
    }
}

/// Whether resources of this type are requested by name (RDS, EDS, SDS) rather than sent
/// whole (LDS, CDS).
pub fn is_named(type_url: &str) -> bool {
    matches!(type_url, ROUTE | ENDPOINT | SECRET)
}
