//! The runtime model: xDS protos compiled once into plain structs ([`compile`]) that requests
//! read without locks.
//!
//! The [`Model`] lives in an `ArcSwap`: an accepted LDS, RDS or CDS update builds a new model
//! and swaps it in whole. Route tables and clusters are referred to by *slots*, indexes that
//! stay stable for a name across updates, so a request finds its route table and its cluster
//! by indexing a vector (no hashing, no relinking when a single type changes). Endpoints
//! (EDS) change more often than anything else; each cluster holds its own swappable endpoint
//! set ([`crate::upstream::ClusterRt`]), so an EDS update swaps just that.

pub mod cluster;
pub mod compile;
pub mod filters;
pub mod listener;
pub mod route;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::upstream::ClusterRt;
use listener::Listener;
use route::RouteTable;

/// A stable index for a name (a cluster or a route configuration).
pub type Slot = usize;

/// Interned names: the same name always gets the same slot.
#[derive(Debug, Default, Clone)]
pub struct Slots {
    by_name: HashMap<String, Slot>,
    names: Vec<Arc<str>>,
}

impl Slots {
    /// The slot of `name`, assigned on first use.
    pub fn intern(&mut self, name: &str) -> Slot {
        if let Some(s) = self.by_name.get(name) {
            return *s;
        }
        let s = self.names.len();
        self.by_name.insert(name.to_string(), s);
        self.names.push(name.into());
        s
    }

    /// The slot of `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<Slot> {
        self.by_name.get(name).copied()
    }

    /// The name of a slot.
    pub fn name(&self, slot: Slot) -> Option<&Arc<str>> {
        self.names.get(slot)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no name was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A reference to a cluster by name, resolved through its slot at request time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    /// The cluster name (for logs and the NC response flag).
    pub name: Arc<str>,
    /// Its slot in [`Model::clusters`].
    pub slot: Slot,
}

/// Everything the proxy serves with, compiled.
#[derive(Debug, Default)]
pub struct Model {
    /// Listeners by name, in LDS order.
    pub listeners: Vec<Arc<Listener>>,
    /// Route tables by route slot (RDS).
    pub routes: Vec<Option<Arc<RouteTable>>>,
    /// Clusters by cluster slot (CDS).
    pub clusters: Vec<Option<Arc<ClusterRt>>>,
    /// Index of `listeners` by address (a captured connection is handed to the listener of
    /// its original destination).
    pub addresses: std::collections::HashMap<std::net::SocketAddr, usize>,
}

impl Model {
    /// The route table in `slot`.
    #[inline]
    pub fn route(&self, slot: Slot) -> Option<&Arc<RouteTable>> {
        self.routes.get(slot).and_then(Option::as_ref)
    }

    /// The cluster `r` refers to.
    #[inline]
    pub fn cluster(&self, r: &ClusterRef) -> Option<&Arc<ClusterRt>> {
        self.clusters.get(r.slot).and_then(Option::as_ref)
    }

    /// The listener a connection captured for `dst` is handed to, as Envoy's
    /// `use_original_dst` does it: the listener on exactly that address, else the one on the
    /// wildcard address of that port.
    pub fn listener_for(&self, dst: std::net::SocketAddr) -> Option<&Arc<Listener>> {
        let wildcard = match dst {
            std::net::SocketAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            std::net::SocketAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        self.addresses
            .get(&dst)
            .or_else(|| {
                self.addresses
                    .get(&std::net::SocketAddr::new(wildcard, dst.port()))
            })
            .and_then(|i| self.listeners.get(*i))
    }

    /// The listeners by address, for [`Model::addresses`] (the first of two on one address).
    pub fn index(
        listeners: &[Arc<Listener>],
    ) -> std::collections::HashMap<std::net::SocketAddr, usize> {
        let mut out = std::collections::HashMap::with_capacity(listeners.len());
        for (i, l) in listeners.iter().enumerate() {
            out.entry(l.address).or_insert(i);
        }
        out
    }

    /// The cluster named `name` (admin and tests; requests use slots).
    pub fn cluster_named(&self, name: &str) -> Option<&Arc<ClusterRt>> {
        self.clusters.iter().flatten().find(|c| c.spec.name == name)
    }
}

/// The model shared by listeners, requests and the xDS client.
pub type SharedModel = Arc<ArcSwap<Model>>;
