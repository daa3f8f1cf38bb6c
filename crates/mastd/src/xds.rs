//! xDS: generation of each type from a snapshot for one proxy, and the ADS server.

pub mod cds;
pub mod connection;
pub mod eds;
pub mod lds;
pub mod rds;
pub mod scope;
pub mod server;
pub mod tls;

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
    match type_url {
        types::LISTENER => Ok(lds::generate(snap, proxy, names)),
        types::ROUTE => Ok(rds::generate(snap, proxy, names)),
        types::CLUSTER => Ok(cds::generate(snap, proxy, names)),
        types::ENDPOINT => Ok(eds::generate(snap, proxy, names)),
        other => Err(GenerateError::UnknownType(other.to_string())),
    }
}

#[cfg(test)]
mod perf_tests;
