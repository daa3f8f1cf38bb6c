//! `Sidecar`: what a sidecar listens on and which services it can reach, and Istio's checks of
//! it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::Context;
use super::destination_rule::ConnectionPoolSettings;
use super::destination_rule::policy::validate_connection_pool;
use super::gateway::{ServerTlsMode, ServerTlsSettings, validate_server_tls};
use super::service_entry::LabelSelector;
use super::virtual_service::{Destination, validate_destination};
use crate::istio::common::{
    Protocol, proto_enum, report, report_all, validate_fqdn, validate_ip_address,
    validate_label_selector, validate_namespace_slash_wildcard_hostname, validate_port,
    validate_port_name, validate_protocol, validate_unix_address,
};
use crate::validate::Findings;

/// `Sidecar`: the listeners and reachable services of the workloads it selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Sidecar {
    /// Workloads it applies to (all in the namespace when absent).
    pub workload_selector: Option<LabelSelector>,
    /// Inbound listeners.
    pub ingress: Vec<IngressListener>,
    /// Outbound listeners and the hosts they reach.
    pub egress: Vec<EgressListener>,
    /// Connection pool for inbound connections.
    pub inbound_connection_pool: Option<ConnectionPoolSettings>,
    /// What to do with traffic to unknown destinations.
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

proto_enum! {
    /// `CaptureMode`: how traffic reaches a listener.
    pub enum CaptureMode {
        /// The environment's default.
        Default = "DEFAULT",
        /// Redirected by iptables.
        Iptables = "IPTABLES",
        /// Sent to the listener directly.
        None = "NONE",
    }
}

/// `IstioIngressListener`: an inbound listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressListener {
    /// Port (required).
    pub port: Option<SidecarPort>,
    /// Address to bind to.
    pub bind: String,
    /// How traffic reaches the listener.
    pub capture_mode: CaptureMode,
    /// Where traffic is forwarded (`127.0.0.1:port`, `unix://path`, ...).
    pub default_endpoint: String,
    /// TLS termination.
    pub tls: Option<ServerTlsSettings>,
    /// Connection pool for this port.
    pub connection_pool: Option<ConnectionPoolSettings>,
}

/// `IstioEgressListener`: an outbound listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressListener {
    /// Port (absent: the catch-all listener).
    pub port: Option<SidecarPort>,
    /// Address to bind to.
    pub bind: String,
    /// How traffic reaches the listener.
    pub capture_mode: CaptureMode,
    /// Reachable services as `namespace/host` (required).
    pub hosts: Vec<String>,
}

/// `SidecarPort`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarPort {
    /// Port number (0 for a Unix domain socket).
    pub number: u32,
    /// Protocol.
    pub protocol: String,
    /// Name.
    pub name: String,
    /// Deprecated; has no effect on sidecars.
    pub target_port: u32,
}

proto_enum! {
    /// `OutboundTrafficPolicy.Mode`.
    pub enum OutboundMode {
        /// Only services in the registry are reachable.
        RegistryOnly = "REGISTRY_ONLY",
        /// Unknown destinations are passed through.
        AllowAny = "ALLOW_ANY",
        /// MeshConfig only; rejected in a Sidecar.
        AllowAnyDynamicDns = "ALLOW_ANY_DYNAMIC_DNS",
    }
}

/// `OutboundTrafficPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundTrafficPolicy {
    /// Mode.
    pub mode: OutboundMode,
    /// Proxy for unknown destinations (`ALLOW_ANY` only).
    pub egress_proxy: Option<Destination>,
}

const UNIX_PREFIX: &str = "unix://";

impl Sidecar {
    /// Istio's `ValidateSidecar`.
    pub fn validate(&self, ctx: &Context<'_>, out: &mut Findings) {
        if let Some(sel) = &self.workload_selector {
            let (warning, errs) = validate_label_selector(&sel.labels);
            if !errs.is_empty() {
                report_all(out, "spec.workloadSelector.labels", errs);
                return;
            }
            if let Some(w) = warning {
                out.warning(
                    "spec.workloadSelector",
                    format!("sidecar: {w}, will be applied to all services in namespace"),
                );
            }
        }
        if self.egress.is_empty()
            && self.ingress.is_empty()
            && self.outbound_traffic_policy.is_none()
            && self.inbound_connection_pool.is_none()
        {
            out.error("spec", "sidecar: empty configuration provided");
            return;
        }
        let mut ports = BTreeSet::new();
        for (i, l) in self.ingress.iter().enumerate() {
            validate_ingress(l, &mut ports, out, &format!("spec.ingress[{i}]"));
        }
        if let Some(c) = &self.inbound_connection_pool {
            validate_connection_pool(c, out, "spec.inboundConnectionPool");
        }
        self.validate_egress(ctx, out);
        if let Some(tp) = &self.outbound_traffic_policy {
            validate_outbound_policy(tp, out, "spec.outboundTrafficPolicy");
        }
    }

    fn validate_egress(&self, ctx: &Context<'_>, out: &mut Findings) {
        let mut ports = BTreeSet::new();
        let mut sockets = BTreeSet::new();
        let mut catch_all = false;
        for (i, l) in self.egress.iter().enumerate() {
            let p = format!("spec.egress[{i}]");
            match &l.port {
                None if catch_all => {
                    out.error(&p, "sidecar: egress can have only one listener with empty port");
                    continue;
                }
                None if i == self.egress.len() - 1 => catch_all = true,
                None => out.error(
                    &p,
                    "sidecar: the egress listener with empty port should be the last listener in the list",
                ),
                Some(port) => {
                    let pp = format!("{p}.port");
                    if port.target_port > 0 {
                        out.error(format!("{pp}.targetPort"), "targetPort has no impact on Sidecars");
                    }
                    validate_egress_port(port, &l.bind, l.capture_mode, out, &p);
                    if port.number == 0 {
                        if !sockets.insert(l.bind.as_str()) {
                            out.error(&p, "sidecar: unix domain socket values for listeners must be unique");
                        }
                    } else if !ports.insert(port.number) {
                        out.error(&pp, "sidecar: ports on IP bound listeners must be unique");
                    }
                }
            }
            validate_egress_hosts(&l.hosts, ctx, out, &format!("{p}.hosts"));
        }
    }
}

fn validate_ingress(
    l: &IngressListener,
    ports: &mut BTreeSet<u32>,
    out: &mut Findings,
    path: &str,
) {
    let Some(port) = &l.port else {
        out.error(path, "sidecar: port is required for ingress listeners");
        return;
    };
    let pp = format!("{path}.port");
    if port.target_port > 0 {
        out.error(
            format!("{pp}.targetPort"),
            "targetPort has no impact on Sidecars",
        );
    }
    if !port.name.is_empty() {
        report(out, &format!("{pp}.name"), validate_port_name(&port.name));
    }
    report(
        out,
        &format!("{pp}.protocol"),
        validate_protocol(&port.protocol),
    );
    report(
        out,
        &format!("{pp}.number"),
        validate_port(port.number.into()),
    );
    if !l.bind.is_empty() {
        report(out, &format!("{path}.bind"), validate_ip_address(&l.bind));
    }
    if !ports.insert(port.number) {
        out.error(&pp, "sidecar: ports on IP bound listeners must be unique");
    }
    if !l.default_endpoint.is_empty() {
        validate_default_endpoint(&l.default_endpoint, out, &format!("{path}.defaultEndpoint"));
    }
    if let Some(tls) = &l.tls {
        validate_ingress_tls(tls, port, out, &format!("{path}.tls"));
    }
    if let Some(c) = &l.connection_pool {
        let cp = format!("{path}.connectionPool");
        validate_connection_pool(c, out, &cp);
        if c.http.is_some() && !Protocol::parse(&port.protocol).is_http() {
            out.warning(
                cp,
                format!(
                    "sidecar: HTTP connection pool settings are configured for port {} ({:?}) but its protocol is not HTTP ({}); only TCP settings will apply",
                    port.number, port.name, port.protocol
                ),
            );
        }
    }
}

/// Go's `net.SplitHostPort`, with its error texts.
fn split_host_port(addr: &str) -> Result<(&str, &str), String> {
    let err = |why: &str| Err(format!("address {addr}: {why}"));
    if let Some(rest) = addr.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return err("missing ']' in address");
        };
        return match rest[end + 1..].strip_prefix(':') {
            Some(port) => Ok((&rest[..end], port)),
            None if end + 1 == rest.len() => err("missing port in address"),
            None => err("missing port in address"),
        };
    }
    let Some(i) = addr.rfind(':') else {
        return err("missing port in address");
    };
    let host = &addr[..i];
    if host.contains(':') {
        return err("too many colons in address");
    }
    if host.contains('[') || host.contains(']') {
        return err("unexpected '[' in address");
    }
    Ok((host, &addr[i + 1..]))
}

fn validate_default_endpoint(ep: &str, out: &mut Findings, path: &str) {
    if let Some(sock) = ep.strip_prefix(UNIX_PREFIX) {
        report(out, path, validate_unix_address(sock));
        return;
    }
    let (host, port) = match split_host_port(ep) {
        Ok(hp) => hp,
        Err(e) => {
            out.error(path, e);
            ("", "")
        }
    };
    if !host.is_empty() && !matches!(host, "127.0.0.1" | "0.0.0.0" | "::1" | "::") {
        out.error(
            path,
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset",
        );
    }
    match port.parse::<i64>() {
        Ok(n) => report(out, path, validate_port(n)),
        Err(_) => out.error(
            path,
            format!(
                "sidecar: defaultEndpoint port ({port}) is not a number: strconv.Atoi: parsing {port:?}: invalid syntax"
            ),
        ),
    }
}

fn validate_ingress_tls(
    tls: &ServerTlsSettings,
    port: &SidecarPort,
    out: &mut Findings,
    path: &str,
) {
    let unsupported = [
        (
            !tls.subject_alt_names.is_empty(),
            "sidecar: subjectAltNames is not supported in ingress tls",
        ),
        (
            tls.https_redirect,
            "sidecar: httpsRedirect is not supported",
        ),
        (
            !tls.credential_name.is_empty(),
            "sidecar: credentialName is not currently supported",
        ),
        (
            !tls.credential_names.is_empty(),
            "sidecar: credentialNames is not currently supported",
        ),
        (
            !tls.tls_certificates.is_empty(),
            "sidecar: tls_certificates is not currently supported",
        ),
    ];
    for (hit, msg) in unsupported {
        if hit {
            out.error(path, msg);
        }
    }
    if matches!(
        tls.mode,
        ServerTlsMode::IstioMutual | ServerTlsMode::AutoPassthrough
    ) {
        out.error(
            format!("{path}.mode"),
            format!(
                "configuration is invalid: cannot set mode to {} in sidecar ingress tls",
                tls.mode
            ),
        );
    }
    if !Protocol::parse(&port.protocol).is_tls() {
        out.error(
            path,
            "server cannot have TLS settings for non HTTPS/TLS ports",
        );
    }
    validate_server_tls(tls, out, path);
}

fn validate_egress_port(
    port: &SidecarPort,
    bind: &str,
    mode: CaptureMode,
    out: &mut Findings,
    path: &str,
) {
    let pp = format!("{path}.port");
    if !port.name.is_empty() {
        report(out, &format!("{pp}.name"), validate_port_name(&port.name));
    }
    report(
        out,
        &format!("{pp}.protocol"),
        validate_protocol(&port.protocol),
    );
    let bind_path = format!("{path}.bind");
    if port.number == 0 {
        match bind.strip_prefix(UNIX_PREFIX) {
            None => out.error(
                &bind_path,
                "sidecar: ports with 0 value must have a unix domain socket bind address",
            ),
            Some(sock) => report(out, &bind_path, validate_unix_address(sock)),
        }
        if !matches!(mode, CaptureMode::Default | CaptureMode::None) {
            out.error(
                format!("{path}.captureMode"),
                "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
            );
        }
    } else {
        report(
            out,
            &format!("{pp}.number"),
            validate_port(port.number.into()),
        );
        if !bind.is_empty() {
            report(out, &bind_path, validate_ip_address(bind));
        }
    }
}

/// Hosts are `namespace/host`; repeating a host (or listing one under a namespace already
/// taken whole) is a warning.
fn validate_egress_hosts(hosts: &[String], ctx: &Context<'_>, out: &mut Findings, path: &str) {
    if hosts.is_empty() {
        out.error(
            path,
            "sidecar: egress listener must contain at least one host",
        );
        return;
    }
    let mut by_ns: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (i, h) in hosts.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if let Some((ns, svc)) = h.split_once('/').filter(|(ns, _)| !ns.starts_with('~')) {
            let ns = if ns == "." && !ctx.namespace.is_empty() {
                ctx.namespace
            } else {
                ns
            };
            let svcs = by_ns.entry(ns.to_string()).or_default();
            let duplicate = if svc == "*" {
                !svcs.is_empty()
            } else {
                svcs.contains(svc) || svcs.contains("*")
            };
            if duplicate {
                out.warning(&p, format!("duplicated egress host: {h}"));
            }
            svcs.insert(svc);
        }
        report_all(
            out,
            &p,
            validate_namespace_slash_wildcard_hostname(h, false),
        );
    }
    if by_ns.get("*").is_some_and(|s| s.contains("*")) && by_ns.len() != 1 {
        out.warning(
            path,
            "`*/*` host select all resources, no other hosts can be added",
        );
    }
}

fn validate_outbound_policy(tp: &OutboundTrafficPolicy, out: &mut Findings, path: &str) {
    if tp.mode == OutboundMode::AllowAnyDynamicDns {
        out.error(
            format!("{path}.mode"),
            "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in Sidecar resource",
        );
        return;
    }
    let Some(proxy) = &tp.egress_proxy else {
        return;
    };
    let pp = format!("{path}.egressProxy");
    if tp.mode != OutboundMode::AllowAny {
        out.error(
            &pp,
            "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
        );
        return;
    }
    report(out, &format!("{pp}.host"), validate_fqdn(&proxy.host));
    if proxy.port.is_none() {
        out.error(&pp, "sidecar: egress_proxy port must be non-nil");
        return;
    }
    validate_destination(proxy, out, &pp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("127.0.0.1:80"), Ok(("127.0.0.1", "80")));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert_eq!(split_host_port(":80"), Ok(("", "80")));
        assert!(split_host_port("127.0.0.1").is_err());
        assert!(split_host_port("::1:80").is_err());
    }
}
