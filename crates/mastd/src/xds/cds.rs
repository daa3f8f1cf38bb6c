//! CDS: the clusters of one proxy, as istiod's `BuildClusters` makes them for sidecars (and
//! gateways): outbound clusters of every visible service port and DestinationRule subset
//! ([`outbound`]), `BlackHoleCluster` and `PassthroughCluster`, inbound clusters of the
//! services the proxy serves and `InboundPassthroughCluster` ([`inbound`]).
//!
//! Cluster types follow the resolution: EDS over ADS for client-side load balancing,
//! STRICT_DNS for DNS, LOGICAL_DNS for DNS round robin, ORIGINAL_DST for passthrough.

pub mod builder;
pub mod inbound;
pub mod lb;
pub mod outbound;
pub mod peer;
pub mod policy;
pub mod rules;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policy;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbPolicy,
};
use envoy_types::util::pack_any;
use mast_config::Resource;
use mast_config::istio::networking::service_entry::ServiceEntry;
use mast_xds::{NodeType, Proxy};

use self::builder::ProxyFacts;
use self::peer::PeerPolicies;
use self::rules::Rules;
use crate::model::Snapshot;
use crate::registry::Service;
use crate::registry::kube::spiffe;
use crate::xds::{NamedResource, scope};

/// The objects services were made from, for what the registry does not carry: a
/// ServiceEntry's `subjectAltNames` and passthrough `targetPort`s, a Kubernetes Service's
/// service-account annotations.
#[derive(Debug, Default)]
pub struct Origins {
    config: Arc<Vec<Resource>>,
    by_origin: BTreeMap<String, usize>,
}

impl Origins {
    /// Indexes `snap`'s objects by `Kind namespace/name`.
    pub fn new(snap: &Snapshot) -> Origins {
        let by_origin = snap
            .config
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                (r.gvk.group.is_empty() && r.gvk.kind == "Service")
                    || (r.gvk.group == "networking.istio.io" && r.gvk.kind == "ServiceEntry")
            })
            .map(|(i, r)| (format!("{} {}", r.gvk.kind, r.namespaced_name()), i))
            .collect();
        Origins {
            config: snap.config.clone(),
            by_origin,
        }
    }

    fn object(&self, origin: &str) -> Option<&Resource> {
        self.by_origin.get(origin).map(|i| &self.config[*i])
    }

    fn entry(&self, s: &Service) -> Option<ServiceEntry> {
        let r = self
            .object(&s.origin)
            .filter(|r| r.gvk.kind == "ServiceEntry")?;
        serde_json::from_value(r.spec().clone()).ok()
    }

    /// The identities a service's servers may present (sorted): its endpoints', plus a
    /// ServiceEntry's `subjectAltNames` or a Kubernetes Service's service-account annotations.
    pub fn service_accounts(&self, snap: &Snapshot, s: &Service) -> Vec<String> {
        let mut out: BTreeSet<String> = s
            .ports
            .iter()
            .flat_map(|p| snap.registry.endpoints_of(s, p.port))
            .filter(|e| !e.identity.is_empty())
            .map(|e| e.identity.clone())
            .collect();
        if let Some(se) = self.entry(s) {
            out.extend(se.subject_alt_names);
        } else if let Some(r) = self.object(&s.origin) {
            let ann = &r.meta.annotations;
            let list = |k: &str| {
                ann.get(k).map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
            };
            out.extend(list("alpha.istio.io/canonical-serviceaccounts").unwrap_or_default());
            for ksa in list("alpha.istio.io/kubernetes-serviceaccounts").unwrap_or_default() {
                out.insert(spiffe(&snap.mesh.trust_domain, &s.namespace, &ksa));
            }
        }
        out.into_iter().collect()
    }

    /// The `targetPort` a passthrough ServiceEntry sets for `port`.
    pub fn passthrough_target_port(&self, s: &Service, port: u16) -> Option<u16> {
        let se = self.entry(s)?;
        let p = se
            .ports
            .iter()
            .find(|p| p.number == u32::from(port) && p.target_port != 0)?;
        u16::try_from(p.target_port).ok()
    }
}

/// What generation for one proxy shares.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    /// The proxy.
    pub proxy: &'a Proxy,
    /// DestinationRules.
    pub rules: &'a Rules,
    /// PeerAuthentications.
    pub peers: &'a PeerPolicies,
    /// Source objects of services.
    pub origins: &'a Origins,
    /// IP families of the proxy.
    pub facts: ProxyFacts,
    /// The proxy's locality.
    pub proxy_locality: String,
}

impl<'a> Ctx<'a> {
    /// The context for `proxy`.
    pub fn new(snap: &'a Snapshot, proxy: &'a Proxy) -> Ctx<'a> {
        let ipv4 = proxy.ips.is_empty() || proxy.ips.iter().any(|ip| ip.is_ipv4());
        Ctx {
            snap,
            proxy,
            rules: snap.rules(),
            peers: snap.peer_policies(),
            origins: snap.origins(),
            facts: ProxyFacts {
                ipv4,
                ipv6: proxy.ips.iter().any(|ip| ip.is_ipv6()),
            },
            proxy_locality: snap.proxy_locality(proxy),
        }
    }
}

/// The clusters of `proxy`, in istiod's order, names unique (the first kept).
pub fn clusters(snap: &Snapshot, proxy: &Proxy) -> Vec<Cluster> {
    let mut out = shared_clusters(snap, proxy);
    let names: BTreeSet<String> = out.iter().map(|c| c.name.clone()).collect();
    out.extend(own_clusters(snap, proxy, |n| names.contains(n)));
    out
}

/// The clusters every proxy with the same outbound facts gets (see [`crate::xds::cache`]):
/// outbound clusters of the visible services, `BlackHoleCluster` and, for sidecars,
/// `PassthroughCluster`; names unique (the first kept).
pub fn shared_clusters(snap: &Snapshot, proxy: &Proxy) -> Vec<Cluster> {
    let ctx = Ctx::new(snap, proxy);
    let mut out = Vec::new();
    for s in scope::visible_services(snap, proxy) {
        out.extend(outbound::service_clusters(&ctx, &s));
    }
    out.push(inbound::blackhole());
    if proxy.node_type == NodeType::Sidecar {
        out.push(inbound::passthrough());
    }
    let mut seen = BTreeSet::new();
    dedup(&mut out, proxy, |n| !seen.insert(n.to_string()));
    out
}

/// The clusters of the proxy alone, after the shared ones: inbound clusters of the services
/// it serves and `InboundPassthroughCluster` (sidecars only). Names `taken` (by the shared
/// clusters) are left out, as are repeated names.
pub fn own_clusters(snap: &Snapshot, proxy: &Proxy, taken: impl Fn(&str) -> bool) -> Vec<Cluster> {
    if proxy.node_type != NodeType::Sidecar {
        return Vec::new();
    }
    let ctx = Ctx::new(snap, proxy);
    let mut out = inbound::inbound_clusters(&ctx);
    out.push(inbound::inbound_passthrough(&ctx));
    let mut seen = BTreeSet::new();
    dedup(&mut out, proxy, |n| taken(n) || !seen.insert(n.to_string()));
    out
}

/// Drops the clusters whose name `duplicate` says was seen.
fn dedup(out: &mut Vec<Cluster>, proxy: &Proxy, mut duplicate: impl FnMut(&str) -> bool) {
    out.retain(|c| {
        let dup = duplicate(&c.name);
        if dup {
            tracing::debug!(cluster = %c.name, proxy = %proxy.id, "duplicate cluster dropped");
        }
        !dup
    });
}

/// CDS for `proxy`.
pub fn generate(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<NamedResource> {
    let mut list = clusters(snap, proxy);
    if proxy.is_grpc() {
        list = grpc_flavour(list, names);
    }
    list.into_iter()
        .map(|c| NamedResource::new(c.name.clone(), pack_any(c)))
        .collect()
}

/// What istiod's gRPC generator sends a proxyless gRPC client (`GENERATOR=grpc`): only the
/// outbound clusters it asks for (all of them when it names none), with a load balancing
/// policy gRPC implements (ROUND_ROBIN, or RING_HASH when consistent hashing is configured).
pub fn grpc_flavour(list: Vec<Cluster>, names: &[String]) -> Vec<Cluster> {
    list.into_iter()
        .filter(|c| c.name.starts_with("outbound|"))
        .filter(|c| names.is_empty() || names.contains(&c.name))
        .map(|mut c| {
            // no proxy filters for a gRPC client
            c.filters.clear();
            if c.lb_policy != LbPolicy::RingHash as i32 {
                c.lb_policy = LbPolicy::RoundRobin as i32;
                c.lb_config = None;
            }
            c
        })
        .collect()
}

/// The names of the proxy's EDS clusters.
pub fn eds_cluster_names(snap: &Snapshot, proxy: &Proxy) -> Vec<String> {
    clusters(snap, proxy)
        .into_iter()
        .filter(|c| {
            c.cluster_discovery_type == Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32))
        })
        .map(|c| c.name)
        .collect()
}
