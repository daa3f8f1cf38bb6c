//! xDS: generation of each type from a snapshot for one proxy, and the ADS server.
//!
//! Generation goes through the snapshot's [`cache`]: what proxies with the same relevant
//! facts share is generated and encoded once per snapshot.

pub mod cache;
pub mod cds;
pub mod connection;
pub mod eds;
pub mod lds;
pub mod rds;
pub mod scope;
pub mod server;
pub mod tls;

use std::sync::{Arc, OnceLock};

use envoy_types::pb::google::protobuf::Any;
use mast_xds::Proxy;
use mast_xds::types;

use crate::model::Snapshot;

/// One generated resource with its name. Shared (`Arc`) between the proxies it is served to.
#[derive(Debug, Clone)]
pub struct NamedResource {
    /// Resource name (listener, route configuration, cluster, or cluster of an assignment).
    pub name: String,
    /// The packed proto.
    pub resource: Any,
    version: OnceLock<String>,
    encoded: OnceLock<prost::bytes::Bytes>,
}

impl NamedResource {
    /// A resource named `name`.
    pub fn new(name: String, resource: Any) -> NamedResource {
        NamedResource {
            name,
            resource,
            version: OnceLock::new(),
            encoded: OnceLock::new(),
        }
    }

    /// The resource's encoding (of its `Any`), computed once and shared by every response
    /// that carries it.
    pub fn encoded(&self) -> &prost::bytes::Bytes {
        self.encoded.get_or_init(|| {
            use prost::Message;
            self.resource.encode_to_vec().into()
        })
    }

    /// Its version for delta xDS: a hash of its encoding, computed once.
    pub fn version(&self) -> &str {
        self.version
            .get_or_init(|| content_version(&self.resource.value))
    }
}

/// A version for one resource: a hash of its encoding.
pub(crate) fn content_version(bytes: &[u8]) -> String {
    // FNV-1a: stable across runs, cheap, and collisions only cost a skipped resend check
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// Generated resources, in order.
pub type Resources = Vec<Arc<NamedResource>>;

/// Why generation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenerateError {
    /// The proxy asked for a type mastd does not serve.
    #[error("type {0} is not served")]
    UnknownType(String),
}

/// Generates the resources of `type_url` for `proxy` (`names` restricts named types), taking
/// what other proxies share from the snapshot's cache.
pub fn generate(
    snap: &Snapshot,
    proxy: &Proxy,
    type_url: &str,
    names: &[String],
) -> Result<Resources, GenerateError> {
    cache::generate(snap, proxy, type_url, names)
}

/// Generates the resources of `type_url` for `proxy` from scratch, without the cache: what
/// [`generate`] must always equal.
pub fn generate_uncached(
    snap: &Snapshot,
    proxy: &Proxy,
    type_url: &str,
    names: &[String],
) -> Result<Resources, GenerateError> {
    let list = match type_url {
        types::LISTENER => lds::generate(snap, proxy, names),
        types::ROUTE => rds::generate(snap, proxy, names),
        types::CLUSTER => cds::generate(snap, proxy, names),
        types::ENDPOINT => eds::generate(snap, proxy, names),
        other => return Err(GenerateError::UnknownType(other.to_string())),
    };
    Ok(list.into_iter().map(Arc::new).collect())
}

#[cfg(test)]
mod bench_fixtures;
