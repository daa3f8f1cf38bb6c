//! Outbound clusters: `outbound|PORT||HOST` per visible service port and
//! `outbound|PORT|SUBSET|HOST` per DestinationRule subset, with the rule's traffic policy
//! (`applyDestinationRule`, `applyTrafficPolicy`) and upstream TLS (`buildUpstreamTLSSettings`,
//! `applyUpstreamTLSSettings`).

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    DiscoveryType, LbConfig, LbPolicy, OriginalDstLbConfig,
};
use envoy_types::pb::envoy::config::core::v3::UpstreamHttpProtocolOptions;
use mast_config::istio::networking::destination_rule::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, SimpleLb, Subset, TrafficPolicy,
};
use mast_xds::NodeType;
use serde_json::Value;

use super::Ctx;
use super::builder::{Wrapper, apply_eds_config, base, u32v};
use super::lb::apply_load_balancer;
use super::peer::MtlsMode;
use super::policy::{
    apply_connection_pool, apply_outlier_detection, apply_proxy_protocol, merge_subset, port_level,
    should_h2_upgrade, warn_once,
};
use super::rules::{Direction, Rule};
use crate::registry::{Protocol, Resolution, Service, ServicePort};
use crate::xds::eds::EndpointBuilder;
use crate::xds::tls::{auto_mtls_matches, istio_mutual, originate, tls_socket};

/// `outbound|PORT|SUBSET|HOST`.
pub fn cluster_name(port: u16, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}")
}

/// The SNI of in-mesh mTLS: `outbound_.PORT_.SUBSET_.HOST`.
pub fn mtls_sni(port: u16, subset: &str, host: &str) -> String {
    format!("outbound_.{port}_.{subset}_.{host}")
}

/// What the traffic policy of one cluster needs besides the policy.
struct Opts<'a> {
    service: &'a Service,
    port: &'a ServicePort,
    builder: EndpointBuilder<'a>,
    service_accounts: Vec<String>,
    sni: String,
    mtls_mode: MtlsMode,
    rule_has_selector: bool,
}

fn discovery_type(ctx: &Ctx<'_>, s: &Service) -> DiscoveryType {
    match s.resolution {
        Resolution::ClientSideLb => DiscoveryType::Eds,
        Resolution::Dns => DiscoveryType::StrictDns,
        Resolution::DnsRoundRobin => DiscoveryType::LogicalDns,
        Resolution::Passthrough if ctx.proxy.node_type == NodeType::Router => DiscoveryType::Eds,
        Resolution::Passthrough => DiscoveryType::OriginalDst,
    }
}

/// The clusters of one visible service.
pub fn service_clusters(ctx: &Ctx<'_>, service: &Service) -> Vec<Cluster> {
    let mut out = Vec::new();
    let rule = ctx
        .rules
        .lookup(ctx.snap, ctx.proxy, service, Direction::Outbound);
    for port in service.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
        out.extend(port_clusters(ctx, service, port, rule.as_ref()));
    }
    out
}

fn builder<'a>(
    ctx: &'a Ctx<'a>,
    service: &'a Service,
    port: &'a ServicePort,
    rule: Option<&'a Rule>,
    subset: &'a str,
) -> EndpointBuilder<'a> {
    EndpointBuilder {
        snap: ctx.snap,
        proxy: ctx.proxy,
        peers: ctx.peers,
        service,
        port,
        rule,
        subset,
        proxy_locality: &ctx.proxy_locality,
    }
}

fn port_clusters(
    ctx: &Ctx<'_>,
    service: &Service,
    port: &ServicePort,
    rule: Option<&Rule>,
) -> Vec<Cluster> {
    let name = cluster_name(port.port, "", &service.hostname);
    let kind = discovery_type(ctx, service);
    let eb = builder(ctx, service, port, rule, "");
    let (endpoints, _) = if matches!(kind, DiscoveryType::StrictDns | DiscoveryType::LogicalDns) {
        eb.for_cds()
    } else {
        Default::default()
    };
    let Some(mut w) = base(&name, kind, endpoints, port.protocol, &[service], ctx.facts) else {
        return Vec::new();
    };
    if kind == DiscoveryType::OriginalDst
        && let Some(target) = ctx.origins.passthrough_target_port(service, port.port)
    {
        w.cluster.lb_config = Some(LbConfig::OriginalDstLbConfig(OriginalDstLbConfig {
            upstream_port_override: u32v(target.into()),
            ..Default::default()
        }));
    }
    let (policy, _) = port_level(rule.and_then(|r| r.spec.traffic_policy.as_ref()), port.port);
    let endpoints = ctx.snap.registry.endpoints_of(service, port.port);
    // istiod checks the rule's top-level balancer here, port-level settings aside
    let passthrough_lb =
        lb_simple(rule.and_then(|r| r.spec.traffic_policy.as_ref())) == Some(SimpleLb::Passthrough);
    let mut opts = Opts {
        service,
        port,
        builder: eb,
        service_accounts: ctx.origins.service_accounts(ctx.snap, service),
        sni: mtls_sni(port.port, "", &service.hostname),
        mtls_mode: ctx.peers.service_mode(service, passthrough_lb, endpoints),
        rule_has_selector: rule.is_some_and(|r| r.spec.workload_selector.is_some()),
    };
    apply_traffic_policy(ctx, &mut w, policy.as_ref(), &opts);
    finish(&mut w);
    if service.mesh_external {
        w.istio.insert("external".into(), Value::Bool(true));
    }
    if let Some(r) = rule {
        w.istio.insert("config".into(), r.config_path().into());
        alpn_override(&mut w, policy.as_ref());
    }
    let mut out = vec![w.build()];
    let Some(r) = rule else { return out };
    for subset in &r.spec.subsets {
        opts.builder = builder(ctx, service, port, rule, &subset.name);
        if let Some(c) = subset_cluster(ctx, &mut opts, r, subset, policy.as_ref(), kind) {
            out.push(c);
        }
    }
    out
}

fn subset_cluster(
    ctx: &Ctx<'_>,
    opts: &mut Opts<'_>,
    rule: &Rule,
    subset: &Subset,
    policy: Option<&TrafficPolicy>,
    kind: DiscoveryType,
) -> Option<Cluster> {
    let (service, port) = (opts.service, opts.port);
    let name = cluster_name(port.port, &subset.name, &service.hostname);
    let subset_passthrough =
        lb_simple(subset.traffic_policy.as_ref()) == Some(SimpleLb::Passthrough);
    let kind = if subset_passthrough {
        DiscoveryType::OriginalDst
    } else {
        kind
    };
    let endpoints = if subset_passthrough || kind == DiscoveryType::Eds {
        Vec::new()
    } else {
        opts.builder.for_cds().0
    };
    let mut w = base(&name, kind, endpoints, port.protocol, &[service], ctx.facts)?;
    let merged = merge_subset(policy, subset.traffic_policy.as_ref(), port.port);
    let eps = ctx.snap.registry.endpoints_of(service, port.port);
    opts.mtls_mode = ctx.peers.service_mode(
        service,
        lb_simple(subset.traffic_policy.as_ref()) == Some(SimpleLb::Passthrough),
        eps,
    );
    opts.sni = mtls_sni(port.port, &subset.name, &service.hostname);
    apply_traffic_policy(ctx, &mut w, merged.as_ref(), opts);
    finish(&mut w);
    w.istio.insert("config".into(), rule.config_path().into());
    w.istio.insert("subset".into(), subset.name.clone().into());
    alpn_override(&mut w, merged.as_ref());
    Some(w.build())
}

fn lb_simple(tp: Option<&TrafficPolicy>) -> Option<SimpleLb> {
    tp.and_then(|t| t.load_balancer.as_ref())
        .and_then(|l| l.simple)
}

/// EDS over ADS, and the TCP metadata exchange filter as istiod adds it
/// ([`super::builder::metadata_exchange_filter`]).
fn finish(w: &mut Wrapper) {
    apply_eds_config(&mut w.cluster);
    w.cluster
        .filters
        .push(super::builder::metadata_exchange_filter());
}

fn alpn_override(w: &mut Wrapper, policy: Option<&TrafficPolicy>) {
    let mode = policy.and_then(|p| p.tls.as_ref()).map(|t| t.mode);
    if matches!(mode, Some(ClientTlsMode::Simple | ClientTlsMode::Mutual)) {
        w.istio.insert("alpn_override".into(), "false".into());
    }
}

fn apply_traffic_policy(
    ctx: &Ctx<'_>,
    w: &mut Wrapper,
    tp: Option<&TrafficPolicy>,
    opts: &Opts<'_>,
) {
    let default_pool = ConnectionPoolSettings::default();
    let pool = tp
        .and_then(|t| t.connection_pool.as_ref())
        .unwrap_or(&default_pool);
    if should_h2_upgrade(opts.port.protocol, Some(pool)) {
        w.set_h2();
    }
    apply_connection_pool(w, pool, tp.and_then(|t| t.retry_budget.as_ref()));
    apply_outlier_detection(w, tp.and_then(|t| t.outlier_detection.as_ref()));
    if let Some(mut la) = w.cluster.load_assignment.take() {
        let (_, labels) = opts.builder.for_cds();
        opts.builder.apply_locality(&mut la, &labels);
        w.cluster.load_assignment = Some(la);
    }
    apply_load_balancer(w, tp.and_then(|t| t.load_balancer.as_ref()));
    if tp.is_some_and(|t| t.tunnel.is_some()) {
        warn_once(
            "DestinationRule trafficPolicy.tunnel is not supported; traffic is sent without tunneling",
        );
    }
    let (tls, auto) = upstream_tls_settings(ctx, tp.and_then(|t| t.tls.as_ref()), opts);
    apply_upstream_tls(ctx, w, tls.as_ref(), auto, opts);
    apply_proxy_protocol(w, tp.and_then(|t| t.proxy_protocol.as_ref()));
    if w.kind() == DiscoveryType::OriginalDst {
        w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
    }
}

/// The TLS settings to apply and whether auto-mTLS chose them (`buildUpstreamTLSSettings`).
fn upstream_tls_settings(
    ctx: &Ctx<'_>,
    tls: Option<&ClientTlsSettings>,
    opts: &Opts<'_>,
) -> (Option<ClientTlsSettings>, bool) {
    let istio = |sans: Vec<String>, sni: String| ClientTlsSettings {
        mode: ClientTlsMode::IstioMutual,
        subject_alt_names: sans,
        sni,
        ..Default::default()
    };
    if let Some(t) = tls {
        if t.mode != ClientTlsMode::IstioMutual {
            return (Some(t.clone()), false);
        }
        let sni = if t.sni.is_empty() {
            opts.sni.clone()
        } else {
            t.sni.clone()
        };
        let sans = if t.subject_alt_names.is_empty() {
            opts.service_accounts.clone()
        } else {
            t.subject_alt_names.clone()
        };
        let mut s = istio(sans, sni);
        s.insecure_skip_verify = t.insecure_skip_verify;
        return (Some(s), false);
    }
    if opts.service.mesh_external
        || !ctx.snap.mesh.auto_mtls
        || matches!(opts.mtls_mode, MtlsMode::Unknown | MtlsMode::Disable)
    {
        return (None, false);
    }
    (
        Some(istio(opts.service_accounts.clone(), opts.sni.clone())),
        true,
    )
}

fn apply_upstream_tls(
    ctx: &Ctx<'_>,
    w: &mut Wrapper,
    tls: Option<&ClientTlsSettings>,
    auto: bool,
    opts: &Opts<'_>,
) {
    let Some(tls) = tls else { return };
    let sidecar = ctx.proxy.node_type == NodeType::Sidecar;
    let ctx_tls = match tls.mode {
        ClientTlsMode::Disable => None,
        ClientTlsMode::Simple | ClientTlsMode::Mutual
            if !tls.credential_name.is_empty() && sidecar && !opts.rule_has_selector =>
        {
            warn_once(
                "DestinationRule tls.credentialName is honoured for sidecars only in rules with a workloadSelector; TLS not originated",
            );
            None
        }
        ClientTlsMode::IstioMutual => {
            let sni = if tls.sni.is_empty() {
                w.cluster.name.clone()
            } else {
                tls.sni.clone()
            };
            Some(istio_mutual(&tls.subject_alt_names, &sni, w.is_http2()))
        }
        ClientTlsMode::Simple | ClientTlsMode::Mutual => {
            // SNI from the request's host, and the certificate checked against it, unless set
            if tls.sni.is_empty() {
                let up = w
                    .http_mut()
                    .upstream_http_protocol_options
                    .get_or_insert_with(UpstreamHttpProtocolOptions::default);
                up.auto_sni = true;
                up.auto_san_validation =
                    tls.subject_alt_names.is_empty() && tls.insecure_skip_verify != Some(true);
            }
            // a ServiceEntry's own subjectAltNames (and its workloads' identities) by default
            let external = opts.service.origin.starts_with("ServiceEntry ");
            let sans = if external && tls.subject_alt_names.is_empty() {
                opts.service_accounts.clone()
            } else {
                tls.subject_alt_names.clone()
            };
            let name = w.cluster.name.clone();
            match originate(&name, tls, &sans, w.is_http2()) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "failed to build upstream TLS context");
                    None
                }
            }
        }
    };
    if let Some(c) = ctx_tls {
        w.cluster.transport_socket = Some(tls_socket(c));
    }
    // auto-mTLS: mTLS to endpoints with a sidecar only (not for original destination)
    if auto
        && tls.mode == ClientTlsMode::IstioMutual
        && w.kind() != DiscoveryType::OriginalDst
        && let Some(ts) = w.cluster.transport_socket.take()
    {
        w.cluster.transport_socket_matches = auto_mtls_matches(ts);
    }
}
