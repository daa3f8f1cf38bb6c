//! Listeners for proxyless gRPC clients (istiod's `grpcgen`): an API listener `HOST:PORT` per
//! service port the client names (short names expanded in its namespace), whose connection
//! manager takes routes `outbound|PORT||HOST` over RDS; and for gRPC servers, listeners
//! `xds.istio.io/grpc/lds/inbound/IP:PORT` enforcing mTLS and RBAC.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ConfigSource, config_source::ConfigSourceSpecifier,
};
use envoy_types::pb::envoy::config::listener::v3::{ApiListener, FilterChain, Listener};
use envoy_types::pb::envoy::config::rbac::v3::{Rbac, rbac::Action as RbacAction};
use envoy_types::pb::envoy::config::route::v3::{
    NonForwardingAction, Route, RouteConfiguration, VirtualHost, route,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, Rds, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext,
    common_tls_context::{
        CertificateProviderInstance, CombinedCertificateValidationContext, ValidationContextType,
    },
};
use envoy_types::util::pack_any;
use mast_config::istio::security::AuthorizationPolicy;
use mast_xds::Proxy;

use super::authz::{self, model::Model};
use super::filters::{address, downstream_tls_socket, network_filter};
use super::hcm::{http_filter, router};
use super::mtls::{MtlsMode, peer_policy};
use crate::model::{Config, Snapshot};
use crate::xds::rds::egress;
use crate::xds::rds::matches::match_all;
use crate::xds::rds::route::FAULT_FILTER;
use crate::xds::rds::util::{bool_value, domain_name, outbound_cluster, warn_once};

/// Prefix of the names of gRPC server listeners.
pub const INBOUND_PREFIX: &str = "xds.istio.io/grpc/lds/inbound/";

/// Requested hosts and ports: an empty port set means every port.
type NameFilter = BTreeMap<String, (BTreeSet<String>, BTreeSet<u32>)>;

fn fqdn_of(name: &str, proxy: &Proxy) -> Option<String> {
    if !name.contains('.') {
        return Some(format!("{name}.{}", proxy.dns_domain));
    }
    for suffix in [proxy.namespace.clone(), format!("{}.svc", proxy.namespace)] {
        if let Some(short) = name.strip_suffix(&format!(".{suffix}"))
            && proxy.dns_domain.starts_with(&suffix)
        {
            return Some(format!("{short}.{}", proxy.dns_domain));
        }
    }
    None
}

fn name_filter(names: &[String], proxy: &Proxy) -> NameFilter {
    let mut out: NameFilter = BTreeMap::new();
    for name in names.iter().filter(|n| !n.starts_with(INBOUND_PREFIX)) {
        let (host, port) = match name
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u32>().ok().map(|p| (h, p)))
        {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (name.clone(), None),
        };
        let mut keys = vec![host.clone()];
        keys.extend(fqdn_of(&host, proxy));
        for k in keys {
            let fresh = !out.contains_key(&k);
            let entry = out.entry(k).or_default();
            entry.0.insert(host.clone());
            match port {
                Some(p) if fresh || !entry.1.is_empty() => {
                    entry.1.insert(p);
                }
                Some(_) => {}
                None => entry.1.clear(),
            }
        }
    }
    out
}

fn rds_source() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    }
}

/// The client listeners (and their route names) for `names`; every service when empty.
fn outbound(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<(Listener, String)> {
    let view = egress::view(snap, proxy);
    let filter = name_filter(names, proxy);
    let mut out = Vec::new();
    for svc in view.services() {
        let (requested, ports) = if names.is_empty() {
            (BTreeSet::from([svc.hostname.clone()]), BTreeSet::new())
        } else {
            match filter.get(&svc.hostname) {
                Some(f) => f.clone(),
                None => continue,
            }
        };
        for host in &requested {
            for p in svc
                .ports
                .iter()
                .filter(|p| ports.is_empty() || ports.contains(&u32::from(p.port)))
            {
                let port = u32::from(p.port);
                let rds = outbound_cluster("", &svc.hostname, port);
                let hcm = HttpConnectionManager {
                    http_filters: vec![http_filter(FAULT_FILTER, HttpFault::default()), router()],
                    route_specifier: Some(RouteSpecifier::Rds(Rds {
                        config_source: Some(rds_source()),
                        route_config_name: rds.clone(),
                    })),
                    ..Default::default()
                };
                let vip = svc
                    .addresses
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "0.0.0.0".into());
                let l = Listener {
                    name: domain_name(host, port),
                    address: Some(address(&vip, port)),
                    api_listener: Some(ApiListener {
                        api_listener: Some(pack_any(hcm)),
                    }),
                    ..Default::default()
                };
                out.push((l, rds));
            }
        }
    }
    out
}

/// Both the current and the deprecated certificate provider fields, as istiod sends them for
/// older gRPC clients.
#[allow(deprecated)]
fn grpc_tls_context() -> CommonTlsContext {
    let current = |c: &str| CertificateProviderPluginInstance {
        instance_name: "default".into(),
        certificate_name: c.into(),
    };
    let old = |c: &str| CertificateProviderInstance {
        instance_name: "default".into(),
        certificate_name: c.into(),
    };
    CommonTlsContext {
        tls_certificate_provider_instance: Some(current("default")),
        tls_certificate_certificate_provider_instance: Some(old("default")),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                validation_context_certificate_provider_instance: Some(old("ROOTCA")),
                default_validation_context: Some(CertificateValidationContext {
                    ca_certificate_provider_instance: Some(current("ROOTCA")),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn grpc_rbac(policies: &[&Config<AuthorizationPolicy>], action: RbacAction) -> Option<Rbac> {
    let mut rules = Rbac {
        action: action as i32,
        ..Default::default()
    };
    for c in policies {
        for (i, rule) in c.spec.rules.iter().enumerate() {
            match Model::new(rule)
                .and_then(|m| m.generate(false, action == RbacAction::Allow, &c.namespace))
            {
                Ok(p) => {
                    rules
                        .policies
                        .insert(format!("{}-{}-{i}", c.namespace, c.name), p);
                }
                Err(e) => warn_once(
                    &format!("grpc-authz {}/{} {i}", c.namespace, c.name),
                    &format!("gRPC RBAC rule skipped: {e}"),
                ),
            }
        }
    }
    (!rules.policies.is_empty()).then_some(rules)
}

fn inbound_chain(
    snap: &Snapshot,
    proxy: &Proxy,
    suffix: &str,
    tls: Option<DownstreamTlsContext>,
) -> FilterChain {
    let policies = authz::policies_for(snap, proxy);
    if !policies.audit.is_empty() {
        warn_once(
            "grpc-audit",
            "AUDIT AuthorizationPolicies are not enforced for proxyless gRPC servers",
        );
    }
    let mut filters = Vec::new();
    if let Some(r) = grpc_rbac(&policies.deny, RbacAction::Deny) {
        filters.push(http_filter(
            "envoy.filters.http.rbac.DENY",
            HttpRbac {
                rules: Some(r),
                ..Default::default()
            },
        ));
    }
    if let Some(r) = grpc_rbac(&policies.allow, RbacAction::Allow) {
        filters.push(http_filter(
            authz::HTTP_RBAC,
            HttpRbac {
                rules: Some(r),
                ..Default::default()
            },
        ));
    }
    filters.push(router());
    let rc = RouteConfiguration {
        name: "inbound".into(),
        virtual_hosts: vec![VirtualHost {
            domains: vec!["*".into()],
            routes: vec![Route {
                r#match: Some(match_all()),
                action: Some(route::Action::NonForwardingAction(NonForwardingAction {})),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let hcm = HttpConnectionManager {
        http_filters: filters,
        route_specifier: Some(RouteSpecifier::RouteConfig(rc)),
        ..Default::default()
    };
    FilterChain {
        name: format!("inbound-{suffix}"),
        filters: vec![network_filter(
            &format!("inbound-hcm{suffix}"),
            pack_any(hcm),
        )],
        transport_socket: tls.map(downstream_tls_socket),
        ..Default::default()
    }
}

fn inbound(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<Listener> {
    let targets: BTreeMap<u32, ()> = snap
        .registry
        .services_of_proxy(&proxy.ips)
        .iter()
        .flat_map(|(_, eps)| eps.iter().map(|e| (u32::from(e.port), ())))
        .collect();
    let peer = peer_policy(snap, proxy);
    let mut out = Vec::new();
    for name in names.iter().filter(|n| n.starts_with(INBOUND_PREFIX)) {
        let addr = &name[INBOUND_PREFIX.len()..];
        let Some((host, port)) = addr.rsplit_once(':').and_then(|(h, p)| {
            p.parse::<u32>()
                .ok()
                .map(|p| (h.trim_matches(['[', ']']), p))
        }) else {
            warn_once(
                &format!("grpc-lds {name}"),
                &format!("gRPC listener name {name} has no IP:PORT; skipped"),
            );
            continue;
        };
        if !targets.contains_key(&port) {
            warn_once(
                &format!("grpc-lds-port {name}"),
                &format!(
                    "{}: no service instance for port {port}; listener {name} skipped",
                    proxy.id
                ),
            );
            continue;
        }
        let mut mode = peer.for_port(port);
        if mode == MtlsMode::Permissive
            && proxy
                .labels
                .get("security.istio.io/tlsMode")
                .is_some_and(|v| v == "istio")
        {
            mode = MtlsMode::Strict;
        }
        let chain = match mode {
            MtlsMode::Strict => {
                let ctx = DownstreamTlsContext {
                    common_tls_context: Some(grpc_tls_context()),
                    require_client_certificate: bool_value(true),
                    ..Default::default()
                };
                inbound_chain(snap, proxy, "mtls", Some(ctx))
            }
            _ => inbound_chain(snap, proxy, "plaintext", None),
        };
        out.push(Listener {
            name: name.clone(),
            address: Some(address(host, port)),
            filter_chains: vec![chain],
            ..Default::default()
        });
    }
    out
}

/// The listeners a proxyless gRPC client or server asked for.
pub fn listeners(snap: &Snapshot, proxy: &Proxy, names: &[String]) -> Vec<Listener> {
    let mut out: Vec<Listener> = outbound(snap, proxy, names)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    out.extend(inbound(snap, proxy, names));
    out
}

/// The route names of every client listener.
pub fn route_names(snap: &Snapshot, proxy: &Proxy) -> Vec<String> {
    let mut out: Vec<String> = outbound(snap, proxy, &[])
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    out.sort();
    out.dedup();
    out
}
