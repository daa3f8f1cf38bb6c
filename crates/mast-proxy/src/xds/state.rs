//! The accepted xDS resources and what they compiled to. An update is compiled whole, then
//! installed: CDS, LDS and RDS by swapping the model, EDS by swapping the hosts of the
//! clusters it feeds. A resource that does not compile rejects the whole response and
//! nothing of it is installed.

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::google::protobuf::Any;
use mast_xds::types;

use crate::app::Shared;
use crate::model::cluster::{Assignment, Discovery};
use crate::model::compile::{self, Compiler};
use crate::model::listener::{ChainKind, Listener, RouteSource};
use crate::model::route::RouteTable;
use crate::model::{Model, Slots};
use crate::upstream::ClusterRt;

/// One accepted resource.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The version of the response it came in.
    pub version: String,
    /// The proto.
    pub resource: Any,
}

/// The accepted resources of every type, for `/config_dump`.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// By type URL, then name.
    pub types: BTreeMap<&'static str, BTreeMap<String, Accepted>>,
    /// The last accepted version per type.
    pub versions: BTreeMap<&'static str, String>,
}

/// The names to (re)subscribe after an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// EDS names, when they changed.
    pub endpoints: Option<Vec<String>>,
    /// RDS names, when they changed.
    pub routes: Option<Vec<String>>,
}

/// Everything accepted so far, and its compiled form.
#[derive(Debug, Default)]
pub struct XdsState {
    cluster_slots: Slots,
    route_slots: Slots,
    listeners: Vec<Arc<Listener>>,
    routes: BTreeMap<String, Arc<RouteTable>>,
    clusters: BTreeMap<String, Arc<ClusterRt>>,
    assignments: BTreeMap<String, Assignment>,
    eds_names: Vec<String>,
    rds_names: Vec<String>,
    /// What `/config_dump` shows.
    pub dump: Dump,
}

fn rds_names(listeners: &[Arc<Listener>]) -> Vec<String> {
    let mut out: Vec<String> = listeners
        .iter()
        .flat_map(|l| l.chains.iter().chain(l.default_chain.iter()))
        .filter_map(|c| match &c.kind {
            ChainKind::Http(h) => match &h.routes {
                RouteSource::Rds { name, .. } => Some(name.clone()),
                RouteSource::Inline(_) => None,
            },
            ChainKind::Tcp(_) => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl XdsState {
    /// The EDS names subscribed.
    pub fn eds_names(&self) -> &[String] {
        &self.eds_names
    }

    /// The RDS names subscribed.
    pub fn rds_names(&self) -> &[String] {
        &self.rds_names
    }

    /// The accepted resources of a type, by name (what a delta update is applied to).
    pub fn accepted(&self, type_url: &str) -> Vec<(String, Any)> {
        self.dump
            .types
            .iter()
            .find(|(t, _)| **t == type_url)
            .map(|(_, m)| {
                m.iter()
                    .map(|(n, a)| (n.clone(), a.resource.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets endpoint assignments or route tables mastd removed (delta xDS); the clusters
    /// and listeners that use them keep what they had, as Envoy does until they change.
    pub fn remove(&mut self, shared: &Shared, type_url: &str, names: &[String]) {
        if names.is_empty() {
            return;
        }
        match type_url {
            types::ENDPOINT => self.assignments.retain(|n, _| !names.contains(n)),
            types::ROUTE => {
                self.routes.retain(|n, _| !names.contains(n));
                shared.model.store(Arc::new(self.model()));
            }
            _ => {}
        }
        if let Some(m) = self.dump.types.iter_mut().find(|(t, _)| **t == type_url) {
            m.1.retain(|n, _| !names.contains(n));
        }
    }

    /// The last accepted version of a type ("" before any).
    pub fn version(&self, type_url: &str) -> String {
        self.dump
            .versions
            .iter()
            .find(|(t, _)| **t == type_url)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn model(&self) -> Model {
        let mut routes = vec![None; self.route_slots.len()];
        for (name, t) in &self.routes {
            if let Some(s) = self.route_slots.get(name) {
                routes[s] = Some(t.clone());
            }
        }
        let mut clusters = vec![None; self.cluster_slots.len()];
        for (name, c) in &self.clusters {
            if let Some(s) = self.cluster_slots.get(name) {
                clusters[s] = Some(c.clone());
            }
        }
        Model {
            addresses: Model::index(&self.listeners),
            listeners: self.listeners.clone(),
            routes,
            clusters,
        }
    }

    fn record(
        &mut self,
        type_url: &'static str,
        version: &str,
        resources: Vec<(String, Any)>,
        replace: bool,
    ) {
        let map = self.dump.types.entry(type_url).or_default();
        if replace {
            map.clear();
        }
        for (name, resource) in resources {
            map.insert(
                name,
                Accepted {
                    version: version.to_string(),
                    resource,
                },
            );
        }
        self.dump.versions.insert(type_url, version.to_string());
    }

    /// Applies a response: `Ok` with the subscriptions to update (ACK), `Err` with the reason
    /// (NACK; nothing changed).
    pub async fn apply(
        &mut self,
        shared: &Shared,
        type_url: &str,
        version: &str,
        resources: &[Any],
    ) -> Result<Subscriptions, String> {
        let mut c = Compiler {
            certs: &shared.certs,
            clusters: &mut self.cluster_slots,
            routes: &mut self.route_slots,
            telemetry: &shared.telemetry,
            direction: Default::default(),
        };
        match type_url {
            types::CLUSTER => {
                let mut next = BTreeMap::new();
                let mut named = Vec::new();
                for any in resources {
                    let spec = c.cluster(any).map_err(|e| e.to_string())?;
                    c.clusters.intern(&spec.name);
                    named.push((spec.name.clone(), any.clone()));
                    let rt = match self.clusters.get(&spec.name) {
                        Some(old) if old.spec.fingerprint == spec.fingerprint => old.clone(),
                        _ => {
                            let a = spec.eds_name.as_ref().and_then(|n| self.assignments.get(n));
                            Arc::new(ClusterRt::new(Arc::new(spec), a))
                        }
                    };
                    next.insert(rt.spec.name.clone(), rt);
                }
                self.clusters = next;
                let mut eds: Vec<String> = self
                    .clusters
                    .values()
                    .filter(|c| c.spec.discovery == Discovery::Eds)
                    .filter_map(|c| c.spec.eds_name.clone())
                    .collect();
                eds.sort();
                eds.dedup();
                self.assignments.retain(|n, _| eds.contains(n));
                self.record(types::CLUSTER, version, named, true);
                shared.model.store(Arc::new(self.model()));
                let changed = eds != self.eds_names;
                self.eds_names = eds.clone();
                Ok(Subscriptions {
                    endpoints: changed.then_some(eds),
                    routes: None,
                })
            }
            types::ENDPOINT => {
                let mut compiled = Vec::new();
                for any in resources {
                    compiled.push((
                        compile::assignment(any).map_err(|e| e.to_string())?,
                        any.clone(),
                    ));
                }
                let mut named = Vec::new();
                for ((name, a), any) in compiled {
                    for cl in self
                        .clusters
                        .values()
                        .filter(|c| c.spec.eds_name.as_deref() == Some(name.as_str()))
                    {
                        cl.set_assignment(&a);
                    }
                    named.push((name.clone(), any));
                    self.assignments.insert(name, a);
                }
                self.record(types::ENDPOINT, version, named, false);
                Ok(Subscriptions::default())
            }
            types::LISTENER => {
                let mut listeners = Vec::new();
                let mut named = Vec::new();
                for any in resources {
                    let l = c.listener(any).map_err(|e| e.to_string())?;
                    named.push((l.name.clone(), any.clone()));
                    let reuse = self
                        .listeners
                        .iter()
                        .find(|o| o.name == l.name && o.fingerprint == l.fingerprint);
                    listeners.push(reuse.cloned().unwrap_or_else(|| Arc::new(l)));
                }
                let prepared = shared
                    .listeners
                    .prepare(&listeners)
                    .await
                    .map_err(|e| e.to_string())?;
                self.listeners = listeners;
                let rds = rds_names(&self.listeners);
                self.routes.retain(|n, _| rds.contains(n));
                self.record(types::LISTENER, version, named, true);
                shared.model.store(Arc::new(self.model()));
                shared.listeners.commit(&self.listeners, prepared);
                let changed = rds != self.rds_names;
                self.rds_names = rds.clone();
                Ok(Subscriptions {
                    endpoints: None,
                    routes: changed.then_some(rds),
                })
            }
            types::ROUTE => {
                let mut compiled = Vec::new();
                for any in resources {
                    let t = c.route_table(any).map_err(|e| e.to_string())?;
                    compiled.push((t, any.clone()));
                }
                let mut named = Vec::new();
                for (t, any) in compiled {
                    c.routes.intern(&t.name);
                    named.push((t.name.clone(), any));
                    self.routes.insert(t.name.clone(), Arc::new(t));
                }
                self.record(types::ROUTE, version, named, false);
                shared.model.store(Arc::new(self.model()));
                Ok(Subscriptions::default())
            }
            other => Err(format!("type {other} is not supported by mast-proxy")),
        }
    }
}
