//! Generated resources shared between proxies, one cache per snapshot (istiod's `XdsCache`).
//!
//! Most of what a sidecar gets depends on a few facts about it, not on which pod it is: its
//! namespace, the Sidecar resource that applies, the labels some rule selects on, its
//! locality. Proxies that agree on those facts get the same outbound clusters, endpoints,
//! outbound listeners and route configurations, so these are generated and encoded once and
//! served as shared `Arc`s. What is the proxy's alone — its inbound clusters and listeners,
//! built from its IPs and the services it serves — is generated per request.
//!
//! The cache lives in the [`Snapshot`] and is dropped with it: nothing generated from older
//! configuration can be served. Entries are filled lazily, each behind a `OnceLock` (one
//! proxy generates, others wanting the same entry wait for it); the maps finding them take a
//! read lock on the way, and a write lock only to add an entry.
//!
//! The key of an entry ([`ClassKey`]) must hold every proxy fact its generation reads. When
//! generation starts reading another fact of the proxy (a field of [`Proxy`], a label through
//! a new kind of selector), add it to [`ClassKey::of`]; the tests compare cached with
//! uncached output for proxies differing in each fact.

#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use envoy_types::util::pack_any;
use mast_xds::node::InterceptionMode;
use mast_xds::{NodeType, Proxy, types};
use serde_json::Value;

use super::cds::peer::PeerPolicies;
use super::cds::rules::Rules;
use super::cds::{self, Origins};
use super::{GenerateError, NamedResource, Resources, eds, lds, rds};
use crate::model::Snapshot;
use crate::registry::Resolution;

/// The resources a snapshot generated so far for classes of proxies.
#[derive(Default)]
pub struct XdsCache {
    index: OnceLock<Index>,
    rules: OnceLock<Rules>,
    peers: OnceLock<PeerPolicies>,
    origins: OnceLock<Origins>,
    clusters: Shelf<ClassKey, ClusterClass>,
    listeners: Shelf<ClassKey, ListenerClass>,
    routes: Shelf<ClassKey, Shelf<String, OnceLock<Arc<NamedResource>>>>,
    generated: AtomicUsize,
}

impl std::fmt::Debug for XdsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdsCache")
            .field("cluster_classes", &self.clusters.len())
            .field("listener_classes", &self.listeners.len())
            .field("route_classes", &self.routes.len())
            .field("generated", &self.generated())
            .finish()
    }
}

impl XdsCache {
    /// How many shared entries (lists of clusters, of assignments, of listeners, and route
    /// configurations) were generated so far.
    pub fn generated(&self) -> usize {
        self.generated.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.generated.fetch_add(1, Ordering::Relaxed);
    }
}

/// The snapshot-wide indexes generation reads, built once per snapshot on first use.
impl Snapshot {
    fn xds_index(&self) -> &Index {
        self.cache.index.get_or_init(|| Index::new(self))
    }

    /// The DestinationRules, indexed.
    pub fn rules(&self) -> &Rules {
        self.cache.rules.get_or_init(|| Rules::new(self))
    }

    /// The PeerAuthentications, indexed.
    pub fn peer_policies(&self) -> &PeerPolicies {
        self.cache.peers.get_or_init(|| PeerPolicies::new(self))
    }

    /// The objects services come from, indexed.
    pub fn origins(&self) -> &Origins {
        self.cache.origins.get_or_init(|| Origins::new(self))
    }

    /// The locality of `proxy` ([`crate::xds::scope::proxy_locality`], by index).
    pub fn proxy_locality(&self, proxy: &Proxy) -> String {
        self.xds_index().locality(self, proxy)
    }
}

/// A map of lazily filled entries: readers share a read lock to find an entry; a missing
/// entry is added under the write lock, empty, and filled by its finder outside any lock.
struct Shelf<K, V>(RwLock<HashMap<K, Arc<V>>>);

impl<K, V> Default for Shelf<K, V> {
    fn default() -> Self {
        Shelf(RwLock::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Default> Shelf<K, V> {
    fn get<Q>(&self, key: &Q) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(v) = self.0.read().expect("cache lock").get(key) {
            return v.clone();
        }
        self.0
            .write()
            .expect("cache lock")
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    fn len(&self) -> usize {
        self.0.read().expect("cache lock").len()
    }
}

/// Snapshot-wide facts the keys are computed from.
#[derive(Debug)]
struct Index {
    /// Label keys outbound generation may read from a proxy: those of DestinationRule and
    /// Sidecar workload selectors, of VirtualService `sourceLabels`, and of
    /// `failoverPriority` entries.
    label_keys: BTreeSet<String>,
    /// Whether some service is headless (passthrough without addresses): outbound listeners
    /// then depend on the proxy's own IP.
    headless: bool,
    /// Workloads by address, in registry order.
    workloads_by_ip: HashMap<String, Vec<usize>>,
}

impl Index {
    fn new(snap: &Snapshot) -> Index {
        let mut label_keys = BTreeSet::new();
        for r in snap.config.iter().filter(|r| {
            r.gvk.group == "networking.istio.io"
                && matches!(
                    r.gvk.kind.as_str(),
                    "DestinationRule" | "VirtualService" | "Sidecar"
                )
        }) {
            selector_keys(r.spec(), "", &mut label_keys);
        }
        let mut workloads_by_ip: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, w) in snap.registry.workloads.iter().enumerate() {
            workloads_by_ip
                .entry(w.address.clone())
                .or_default()
                .push(i);
        }
        Index {
            label_keys,
            headless: snap
                .registry
                .services
                .iter()
                .any(|s| s.resolution == Resolution::Passthrough && s.addresses.is_empty()),
            workloads_by_ip,
        }
    }

    /// [`crate::xds::scope::proxy_locality`], by index.
    fn locality(&self, snap: &Snapshot, proxy: &Proxy) -> String {
        let first = proxy
            .ips
            .iter()
            .filter_map(|ip| self.workloads_by_ip.get(&ip.to_string()))
            .flatten()
            .copied()
            .filter(|i| {
                let w = &snap.registry.workloads[*i];
                w.namespace == proxy.namespace || proxy.namespace.is_empty()
            })
            .min();
        first
            .map(|i| snap.registry.workloads[i].locality.clone())
            .unwrap_or_default()
    }
}

/// Collects the label keys of selectors in a spec: keys of `sourceLabels` and `matchLabels`
/// objects and of `workloadSelector.labels`, and the label names of `failoverPriority`.
fn selector_keys(v: &Value, parent: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let selector = k == "sourceLabels"
                    || k == "matchLabels"
                    || (k == "labels" && parent == "workloadSelector");
                if selector && let Value::Object(labels) = child {
                    out.extend(labels.keys().cloned());
                }
                if k == "failoverPriority"
                    && let Value::Array(list) = child
                {
                    for p in list.iter().filter_map(Value::as_str) {
                        out.insert(p.split_once('=').map(|(k, _)| k).unwrap_or(p).to_string());
                    }
                }
                selector_keys(child, k, out);
            }
        }
        Value::Array(list) => {
            for x in list {
                selector_keys(x, parent, out);
            }
        }
        _ => {}
    }
}

/// What a kind of shared entry is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Outbound and fixed clusters, and the endpoints of EDS clusters.
    Clusters,
    /// Outbound listeners, `virtualOutbound`, and the route names they use.
    Listeners,
    /// Route configurations.
    Routes,
}

/// The proxy facts a kind of shared entry depends on; proxies with equal keys are served the
/// same entries. Facts a kind does not read are left out (`None`), so that proxies differing
/// only in them share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassKey {
    kind: u8,
    node_type: NodeType,
    /// `GENERATOR=grpc`.
    grpc: bool,
    namespace: String,
    /// The Sidecar resource that applies, by position in the snapshot.
    sidecar: Option<usize>,
    /// The proxy's labels that some outbound rule selects on or orders failover by.
    labels: Vec<(String, String)>,
    /// Whether the proxy has labels at all (failover priorities are skipped without).
    has_labels: bool,
    /// Its locality (endpoint priorities, DNS clusters): clusters only.
    locality: Option<String>,
    /// Whether it has IPv4 (or no address), and IPv6 addresses: clusters only.
    families: Option<(bool, bool)>,
    /// Whether its first address is IPv6 (wildcard binds): listeners only.
    first_ipv6: Option<bool>,
    /// Its interception mode: listeners only.
    interception: Option<u8>,
    /// Its first IP, when headless services make outbound listeners skip it: listeners only.
    own_ip: Option<IpAddr>,
    /// Its DNS domain (short names in virtual host domains): routes only.
    dns_domain: Option<String>,
    /// The workload-level Telemetry that selects it, by position: listeners only (the mesh
    /// and namespace levels follow from the namespace).
    telemetry: Option<usize>,
    /// What the span tags and the tracer's service name say of the proxy (canonical name and
    /// revision labels, `app.namespace`, mesh id, cluster id): listeners only, when tracing
    /// can be on.
    trace_identity: Option<[String; 5]>,
}

impl ClassKey {
    /// The key of `proxy`'s entries of `kind` in `snap`.
    pub fn of(snap: &Snapshot, proxy: &Proxy, kind: Kind) -> ClassKey {
        let index = snap.xds_index();
        let sidecar = super::scope::sidecar_scope(snap, proxy)
            .and_then(|s| snap.sidecars.iter().position(|c| std::ptr::eq(c, s)));
        let labels = proxy
            .labels
            .iter()
            .filter(|(k, _)| index.label_keys.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let clusters = kind == Kind::Clusters;
        let listeners = kind == Kind::Listeners;
        ClassKey {
            kind: kind as u8,
            node_type: proxy.node_type,
            grpc: proxy.is_grpc(),
            namespace: proxy.namespace.clone(),
            sidecar,
            labels,
            has_labels: !proxy.labels.is_empty(),
            locality: clusters.then(|| index.locality(snap, proxy)),
            families: clusters.then(|| {
                (
                    proxy.ips.is_empty() || proxy.ips.iter().any(IpAddr::is_ipv4),
                    proxy.ips.iter().any(IpAddr::is_ipv6),
                )
            }),
            first_ipv6: listeners.then(|| proxy.ips.first().is_some_and(IpAddr::is_ipv6)),
            interception: listeners.then_some(match proxy.interception_mode {
                InterceptionMode::Redirect => 0,
                InterceptionMode::Tproxy => 1,
                InterceptionMode::None => 2,
            }),
            own_ip: if listeners && index.headless {
                proxy.ips.first().copied()
            } else {
                None
            },
            dns_domain: (kind == Kind::Routes).then(|| proxy.dns_domain.clone()),
            telemetry: if listeners {
                super::lds::telemetry::workload_level(snap, proxy)
            } else {
                None
            },
            trace_identity: (listeners && super::lds::tracing::may_trace(snap)).then(|| {
                let (service, revision) = super::lds::tracing::canonical(proxy);
                [
                    service,
                    revision,
                    proxy.cluster_name(),
                    proxy
                        .metadata
                        .get("MESH_ID")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    proxy.cluster_id.clone(),
                ]
            }),
        }
    }
}

/// The cluster entries of one class.
#[derive(Default)]
struct ClusterClass {
    shared: OnceLock<SharedClusters>,
    /// Assignments of clusters the class's CDS does not have as EDS clusters.
    other_assignments: Shelf<String, OnceLock<Arc<NamedResource>>>,
}

struct SharedClusters {
    /// The shared clusters, in the gRPC flavour for proxyless clients.
    list: Resources,
    /// Their names (before the gRPC flavour filters).
    names: HashSet<String>,
    /// The EDS clusters among them, in order.
    eds_names: Vec<String>,
    /// Their assignments.
    assignments: OnceLock<HashMap<String, Arc<NamedResource>>>,
}

fn is_eds(c: &Cluster) -> bool {
    c.cluster_discovery_type == Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32))
}

fn packed<T: prost::Name>(name: String, msg: T) -> Arc<NamedResource> {
    Arc::new(NamedResource::new(name, pack_any(msg)))
}

impl SharedClusters {
    fn new(snap: &Snapshot, proxy: &Proxy) -> SharedClusters {
        snap.cache.count();
        let list = cds::shared_clusters(snap, proxy);
        let names = list.iter().map(|c| c.name.clone()).collect();
        let eds_names = list
            .iter()
            .filter(|c| is_eds(c))
            .map(|c| c.name.clone())
            .collect();
        let list = if proxy.is_grpc() {
            cds::grpc_flavour(list, &[])
        } else {
            list
        };
        SharedClusters {
            list: list
                .into_iter()
                .map(|c| packed(c.name.clone(), c))
                .collect(),
            names,
            eds_names,
            assignments: OnceLock::new(),
        }
    }
}

fn cluster_class(snap: &Snapshot, proxy: &Proxy) -> Arc<ClusterClass> {
    snap.cache
        .clusters
        .get(&ClassKey::of(snap, proxy, Kind::Clusters))
}

fn clusters(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Resources {
    let class = cluster_class(snap, proxy);
    let shared = class
        .shared
        .get_or_init(|| SharedClusters::new(snap, proxy));
    if proxy.is_grpc() {
        // only the outbound clusters asked for (all without names); no inbound ones
        return shared
            .list
            .iter()
            .filter(|r| names.is_empty() || names.contains(&r.name))
            .cloned()
            .collect();
    }
    let mut out = shared.list.clone();
    out.extend(
        cds::own_clusters(snap, proxy, |n| shared.names.contains(n))
            .into_iter()
            .map(|c| packed(c.name.clone(), c)),
    );
    out
}

fn endpoints(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Resources {
    let class = cluster_class(snap, proxy);
    let shared = class
        .shared
        .get_or_init(|| SharedClusters::new(snap, proxy));
    let all = shared.assignments.get_or_init(|| {
        snap.cache.count();
        let a = eds::Assignments::new(snap, proxy);
        shared
            .eds_names
            .iter()
            .map(|n| (n.clone(), Arc::new(a.resource(n))))
            .collect()
    });
    let wanted = if names.is_empty() {
        &shared.eds_names
    } else {
        names
    };
    let mut context = None;
    wanted
        .iter()
        .map(|name| match all.get(name) {
            Some(r) => r.clone(),
            None => class
                .other_assignments
                .get(name.as_str())
                .get_or_init(|| {
                    snap.cache.count();
                    let a = context.get_or_insert_with(|| eds::Assignments::new(snap, proxy));
                    Arc::new(a.resource(name))
                })
                .clone(),
        })
        .collect()
}

/// The listener entries of one class.
#[derive(Default)]
struct ListenerClass {
    shared: OnceLock<SharedListeners>,
}

struct SharedListeners {
    list: Resources,
    routes: Vec<String>,
}

fn listener_class(snap: &Snapshot, proxy: &Proxy) -> Arc<ListenerClass> {
    snap.cache
        .listeners
        .get(&ClassKey::of(snap, proxy, Kind::Listeners))
}

fn shared_listeners<'c>(
    snap: &Snapshot,
    proxy: &Proxy,
    class: &'c ListenerClass,
) -> &'c SharedListeners {
    class.shared.get_or_init(|| {
        snap.cache.count();
        let (list, routes) = lds::shared_listeners(snap, proxy);
        SharedListeners {
            list: list
                .into_iter()
                .map(|l| packed(l.name.clone(), l))
                .collect(),
            routes,
        }
    })
}

fn listeners(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Resources {
    if proxy.node_type == NodeType::Router || rds::is_grpc(proxy) {
        // gateways get none; gRPC listeners are per client (names, its own servers)
        return lds::generate(snap, proxy, names)
            .into_iter()
            .map(Arc::new)
            .collect();
    }
    let class = listener_class(snap, proxy);
    let mut out = shared_listeners(snap, proxy, &class).list.clone();
    out.extend(
        lds::own_listeners(snap, proxy)
            .into_iter()
            .map(|l| packed(l.name.clone(), l)),
    );
    out
}

fn routes(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Resources {
    let all;
    let names = if !names.is_empty() {
        names
    } else if rds::is_grpc(proxy) {
        all = lds::route_names(snap, proxy);
        &all
    } else {
        let class = listener_class(snap, proxy);
        all = shared_listeners(snap, proxy, &class).routes.clone();
        &all
    };
    let class = snap
        .cache
        .routes
        .get(&ClassKey::of(snap, proxy, Kind::Routes));
    let mut view = None;
    names
        .iter()
        .map(|name| {
            class
                .get(name.as_str())
                .get_or_init(|| {
                    snap.cache.count();
                    let view = view.get_or_insert_with(|| rds::egress::view(snap, proxy));
                    packed(
                        name.clone(),
                        rds::route_configuration(snap, proxy, view, name),
                    )
                })
                .clone()
        })
        .collect()
}

/// Generates the resources of `type_url` for `proxy`, shared parts from `snap`'s cache.
pub fn generate(
    snap: &Snapshot,
    proxy: &Proxy,
    type_url: &str,
    names: &[String],
) -> Result<Resources, GenerateError> {
    match type_url {
        types::CLUSTER => Ok(clusters(snap, proxy, names)),
        types::ENDPOINT => Ok(endpoints(snap, proxy, names)),
        types::LISTENER => Ok(listeners(snap, proxy, names)),
        types::ROUTE => Ok(routes(snap, proxy, names)),
        other => Err(GenerateError::UnknownType(other.to_string())),
    }
}
