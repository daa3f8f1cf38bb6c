//! EDS: a `ClusterLoadAssignment` per requested `outbound|PORT|SUBSET|HOST` cluster, as
//! istiod's endpoint builder makes it: the service port's endpoints (a subset's labels
//! filtering them), grouped by locality in locality order, each with its health, weight,
//! `envoy.transport_socket_match` `{tlsMode: istio}` when it takes mTLS, and Istio's
//! `istio.workload` telemetry string; locality failover and distribution applied for the
//! proxy's locality. Static and DNS clusters of CDS embed the same endpoints.

pub mod locality;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    Address, HealthStatus, Metadata, Pipe, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::google::protobuf::UInt32Value;
use envoy_types::util::pack_any;
use mast_config::istio::networking::destination_rule::{ClientTlsMode, TrafficPolicy};
use mast_xds::Proxy;
use serde_json::json;

use crate::model::Snapshot;
use crate::registry::kube::CLUSTER_ID;
use crate::registry::{Endpoint, Resolution, Service, ServicePort};
use crate::xds::NamedResource;
use crate::xds::cds::builder::{ISTIO_METADATA, to_struct};
use crate::xds::cds::lb::effective_locality;
use crate::xds::cds::peer::{MtlsMode, PeerPolicies};
use crate::xds::cds::policy::merge_subset;
use crate::xds::cds::rules::{Direction, Rule, Rules};
use crate::xds::scope;
use crate::xds::tls::TRANSPORT_SOCKET_MATCH_KEY;

/// `outbound|PORT|SUBSET|HOST` split (`None` for other names).
pub fn parse_cluster_name(name: &str) -> Option<(u16, &str, &str)> {
    let mut p = name.splitn(4, '|');
    if p.next()? != "outbound" {
        return None;
    }
    let port = p.next()?.parse().ok()?;
    Some((port, p.next()?, p.next()?))
}

/// The endpoints of one cluster (service port, optional subset) for one proxy.
#[derive(Debug)]
pub struct EndpointBuilder<'a> {
    /// The snapshot.
    pub snap: &'a Snapshot,
    /// The proxy the endpoints are for.
    pub proxy: &'a Proxy,
    /// PeerAuthentications, for whether an endpoint takes mTLS.
    pub peers: &'a PeerPolicies,
    /// The service.
    pub service: &'a Service,
    /// Its port.
    pub port: &'a ServicePort,
    /// The DestinationRule applying, if any.
    pub rule: Option<&'a Rule>,
    /// The subset name (empty for none).
    pub subset: &'a str,
    /// The proxy's locality.
    pub proxy_locality: &'a str,
}

/// The canonical service name and revision Istio derives from workload labels.
fn canonical(labels: &BTreeMap<String, String>, workload: &str) -> (String, String) {
    let find = |keys: &[&str]| keys.iter().find_map(|k| labels.get(*k).cloned());
    let name = find(&[
        "service.istio.io/canonical-name",
        "app.kubernetes.io/name",
        "app",
    ])
    .unwrap_or_else(|| workload.to_string());
    let rev = find(&[
        "service.istio.io/canonical-revision",
        "app.kubernetes.io/version",
        "version",
    ])
    .unwrap_or_default();
    (name, if rev == "latest" { String::new() } else { rev })
}

/// A socket address, or a pipe for a Unix socket path (port 0).
pub fn address(host: &str, port: u16) -> Address {
    if port == 0 && host.starts_with('/') {
        return Address {
            address: Some(address::Address::Pipe(Pipe {
                path: host.to_string(),
                mode: 0,
            })),
        };
    }
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: host.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port.into())),
            ..Default::default()
        })),
    }
}

impl<'a> EndpointBuilder<'a> {
    /// The subset's labels (none without a subset, or for an unknown one).
    fn subset_labels(&self) -> BTreeMap<String, String> {
        self.rule
            .and_then(|r| r.spec.subsets.iter().find(|s| s.name == self.subset))
            .map(|s| s.labels.clone())
            .unwrap_or_default()
    }

    /// The rule's policy for this port and subset.
    pub fn policy(&self) -> Option<TrafficPolicy> {
        let r = self.rule?;
        let subset = r
            .spec
            .subsets
            .iter()
            .find(|s| s.name == self.subset)
            .and_then(|s| s.traffic_policy.as_ref());
        merge_subset(r.spec.traffic_policy.as_ref(), subset, self.port.port)
    }

    /// The TLS mode the rule sets for this cluster (`tlsModeForDestinationRule`): a
    /// port-level `tls` over the top level, the subset's over the rule's.
    fn rule_tls_mode(&self) -> Option<ClientTlsMode> {
        let r = self.rule?;
        let for_port = |tp: Option<&TrafficPolicy>| -> Option<ClientTlsMode> {
            let tp = tp?;
            let port_mode = tp
                .port_level_settings
                .iter()
                .find(|p| {
                    p.port
                        .as_ref()
                        .is_some_and(|s| s.number == u32::from(self.port.port))
                        && p.tls.is_some()
                })
                .and_then(|p| p.tls.as_ref().map(|t| t.mode));
            port_mode.or(tp.tls.as_ref().map(|t| t.mode))
        };
        if self.subset.is_empty() {
            return for_port(r.spec.traffic_policy.as_ref());
        }
        let s = r.spec.subsets.iter().find(|s| s.name == self.subset)?;
        for_port(s.traffic_policy.as_ref()).or_else(|| for_port(r.spec.traffic_policy.as_ref()))
    }

    /// Whether `ep` gets the mTLS transport socket match (`checkMtlsEnabled`).
    fn mtls_enabled(&self, ep: &Endpoint) -> bool {
        if let Some(mode) = self.rule_tls_mode() {
            return mode == ClientTlsMode::IstioMutual;
        }
        ep.has_proxy
            && self
                .peers
                .workload_port_mode(&self.service.namespace, &ep.labels, ep.port)
                != MtlsMode::Disable
    }

    fn lb_endpoint(&self, ep: &Endpoint) -> LbEndpoint {
        let mut md = Metadata::default();
        if ep.has_proxy && self.mtls_enabled(ep) {
            md.filter_metadata.insert(
                TRANSPORT_SOCKET_MATCH_KEY.into(),
                to_struct(json!({"tlsMode": "istio"})),
            );
        }
        let (name, rev) = canonical(&ep.labels, &ep.workload);
        let workload = format!(
            "{};{};{name};{rev};{CLUSTER_ID}",
            ep.workload, self.service.namespace
        );
        md.filter_metadata.insert(
            ISTIO_METADATA.into(),
            to_struct(json!({ "workload": workload })),
        );
        LbEndpoint {
            health_status: if ep.healthy {
                HealthStatus::Healthy
            } else {
                HealthStatus::Unhealthy
            } as i32,
            load_balancing_weight: Some(UInt32Value {
                value: ep.weight.max(1),
            }),
            metadata: Some(md),
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(EnvoyEndpoint {
                address: Some(address(&ep.address, ep.port)),
                ..Default::default()
            })),
        }
    }

    /// Unhealthy endpoints are sent (for Envoy's accounting) unless outlier detection sets a
    /// minimum health percentage.
    fn sends_unhealthy(&self) -> bool {
        self.policy()
            .and_then(|p| p.outlier_detection)
            .is_none_or(|o| o.min_health_percent <= 0)
    }

    /// The endpoints, filtered (subset, health, IPs only for EDS) and grouped by locality in
    /// locality order, with each group's endpoint labels.
    fn groups(
        &self,
        ip_only: bool,
    ) -> (Vec<LocalityLbEndpoints>, Vec<Vec<BTreeMap<String, String>>>) {
        let subset = self.subset_labels();
        let unhealthy = self.sends_unhealthy();
        type Group = (Vec<LbEndpoint>, Vec<BTreeMap<String, String>>);
        let mut by_locality: BTreeMap<&str, Group> = BTreeMap::new();
        for ep in self
            .snap
            .registry
            .endpoints_of(self.service, self.port.port)
        {
            let valid = ep.port == 0 || ep.address.parse::<IpAddr>().is_ok();
            if (ip_only && !valid)
                || !scope::selects(&subset, &ep.labels)
                || (!unhealthy && !ep.healthy)
            {
                continue;
            }
            let entry = by_locality.entry(ep.locality.as_str()).or_default();
            entry.0.push(self.lb_endpoint(ep));
            entry.1.push(ep.labels.clone());
        }
        let mut groups = Vec::new();
        let mut labels = Vec::new();
        for (loc, (eps, l)) in by_locality {
            let weight = eps
                .iter()
                .map(|e| {
                    e.load_balancing_weight
                        .as_ref()
                        .map(|w| w.value)
                        .unwrap_or(0)
                })
                .fold(0u32, u32::saturating_add);
            groups.push(LocalityLbEndpoints {
                locality: Some(locality::locality(loc)),
                lb_endpoints: eps,
                load_balancing_weight: Some(UInt32Value { value: weight }),
                ..Default::default()
            });
            labels.push(l);
        }
        (groups, labels)
    }

    /// Applies locality load balancing for the proxy to `la` (failover only with outlier
    /// detection, or when `force`).
    pub fn apply_locality(
        &self,
        la: &mut ClusterLoadAssignment,
        labels: &[Vec<BTreeMap<String, String>>],
    ) {
        let policy = self.policy();
        let Some(setting) =
            effective_locality(policy.as_ref().and_then(|p| p.load_balancer.as_ref()))
        else {
            return;
        };
        let failover = policy
            .as_ref()
            .is_some_and(|p| p.outlier_detection.is_some());
        locality::apply(
            la,
            labels,
            self.proxy_locality,
            &self.proxy.labels,
            &setting,
            failover,
        );
    }

    /// The endpoints a DNS or static cluster embeds, with their labels.
    pub fn for_cds(&self) -> (Vec<LocalityLbEndpoints>, Vec<Vec<BTreeMap<String, String>>>) {
        self.groups(false)
    }

    /// The assignment EDS serves under `name`.
    pub fn assignment(&self, name: &str) -> ClusterLoadAssignment {
        let (endpoints, labels) = self.groups(true);
        let mut la = ClusterLoadAssignment {
            cluster_name: name.to_string(),
            endpoints,
            ..Default::default()
        };
        if !la.endpoints.is_empty() {
            self.apply_locality(&mut la, &labels);
        }
        la
    }
}

/// What generating assignments for one proxy reads, computed once for many names.
#[derive(Debug)]
pub struct Assignments<'a> {
    snap: &'a Snapshot,
    proxy: &'a Proxy,
    services: BTreeMap<String, Arc<Service>>,
    rules: &'a Rules,
    peers: &'a PeerPolicies,
    proxy_locality: String,
}

impl<'a> Assignments<'a> {
    /// The context of `proxy`.
    pub fn new(snap: &'a Snapshot, proxy: &'a Proxy) -> Assignments<'a> {
        Assignments {
            snap,
            proxy,
            services: scope::visible_services(snap, proxy)
                .into_iter()
                .map(|s| (s.hostname.clone(), s))
                .collect(),
            rules: snap.rules(),
            peers: snap.peer_policies(),
            proxy_locality: snap.proxy_locality(proxy),
        }
    }

    /// The assignment of the cluster `name` (empty for an unknown cluster).
    pub fn assignment(&self, name: &str) -> ClusterLoadAssignment {
        if let Some((port, subset, host)) = parse_cluster_name(name)
            && let Some(service) = self.services.get(host)
            && let Some(sp) = service.port(port)
            && matches!(
                service.resolution,
                Resolution::ClientSideLb | Resolution::Passthrough
            )
        {
            let rule = self
                .rules
                .lookup(self.snap, self.proxy, service, Direction::Outbound);
            let b = EndpointBuilder {
                snap: self.snap,
                proxy: self.proxy,
                peers: self.peers,
                service,
                port: sp,
                rule: rule.as_ref(),
                subset,
                proxy_locality: &self.proxy_locality,
            };
            return b.assignment(name);
        }
        ClusterLoadAssignment {
            cluster_name: name.to_string(),
            ..Default::default()
        }
    }

    /// The assignment of `name`, packed.
    pub fn resource(&self, name: &str) -> NamedResource {
        NamedResource::new(name.to_string(), pack_any(self.assignment(name)))
    }
}

/// Generates the assignments `names` asks for; without names, those of every EDS cluster the
/// proxy's CDS has (the assignment of an unknown cluster is empty).
pub fn generate(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<NamedResource> {
    let wanted: Vec<String> = if names.is_empty() {
        crate::xds::cds::eds_cluster_names(snap, proxy)
    } else {
        names.to_vec()
    };
    let a = Assignments::new(snap, proxy);
    wanted.iter().map(|name| a.resource(name)).collect()
}

#[cfg(test)]
mod tests;
