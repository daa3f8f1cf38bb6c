//! xDS: generation of each type from a snapshot for one proxy, and the ADS server.

pub mod connection;
pub mod server;

use envoy_types::pb::google::protobuf::Any;
use mast_xds::Proxy;
use mast_xds::types;

use crate::model::Snapshot;

/// One generated resource with its name.
#[derive(Debug, Clone)]
pub struct NamedResource {
    /// Resource name (listener, route configuration, cluster, or cluster of an assignment).
    pub name: String,
    /// The packed proto.
    pub resource: Any,
}

/// Why generation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenerateError {
    /// The proxy asked for a type mastd does not serve.
    #[error("type {0} is not served")]
    UnknownType(String),
}

/// Generates the resources of `type_url` for `proxy` (`names` restricts named types).
pub fn generate(
    snap: &Snapshot,
    proxy: &Proxy,
    type_url: &str,
    names: &[String],
) -> Result<Vec<NamedResource>, GenerateError> {
    let _ = (snap, proxy, names);
    match type_url {
        types::LISTENER | types::ROUTE | types::CLUSTER | types::ENDPOINT => Ok(Vec::new()),
        other => Err(GenerateError::UnknownType(other.to_string())),
    }
}
