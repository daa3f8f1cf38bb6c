//! Istio's checks of TLS and TCP routes, and of the hosts of a VirtualService bound to
//! gateways.

use std::collections::BTreeMap;

use super::{
    RouteDestination, TcpRoute, TlsMatchAttributes, TlsRoute, validate_destination,
    validate_gateway_names,
};
use crate::istio::common::{
    host_subset_of, is_ip, report, validate_ip_subnet, validate_labels, validate_port,
    validate_wildcard_domain,
};
use crate::validate::Findings;

/// Hosts of a VirtualService bound to a gateway may also be the SNI names Istio generates for
/// `AUTO_PASSTHROUGH` (`outbound_.80_._.host`) when the VirtualService has TLS routes.
pub(super) fn validate_gateway_bound_domain(sni: bool, domain: &str) -> Result<(), String> {
    const FORMAT: &str = "outbound_.<port>_._.<hostname>";
    if domain.is_empty() || domain.len() > 255 {
        return validate_wildcard_domain(domain);
    }
    if sni && domain.starts_with("outbound_") {
        let parts: Vec<&str> = domain.split('_').collect();
        if parts.len() < 4 {
            return Err(format!(
                "domain name {domain} invalid, should follow '{FORMAT}' format"
            ));
        }
        let port = parts[1].trim_matches('.');
        let host = parts[3].trim_matches('.');
        if parts[0] != "outbound" {
            return Err(format!(
                "domain name {domain:?} invalid (label {:?} invalid)",
                parts[0]
            ));
        }
        if !port.bytes().any(|b| b.is_ascii_digit()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {port:?} invalid). should follow {FORMAT} format"
            ));
        }
        if !host.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {host:?} invalid). should follow {FORMAT} format"
            ));
        }
        return Ok(());
    }
    validate_wildcard_domain(domain)
}

/// What an SNI host is checked against.
pub(super) struct SniContext<'a> {
    pub(super) hosts: &'a [String],
    pub(super) bound_to_gateway: bool,
}

pub(super) fn validate_tls_route(
    r: &TlsRoute,
    vs: &SniContext<'_>,
    out: &mut Findings,
    path: &str,
) {
    if r.matches.is_empty() {
        out.error(path, "TLS route must have at least one match condition");
    }
    for (i, m) in r.matches.iter().enumerate() {
        validate_tls_match(m, vs, out, &format!("{path}.match[{i}]"));
    }
    if r.route.is_empty() {
        out.error(path, "TLS route is required");
    }
    validate_route_destinations(&r.route, out, &format!("{path}.route"));
}

fn validate_tls_match(m: &TlsMatchAttributes, vs: &SniContext<'_>, out: &mut Findings, path: &str) {
    if m.sni_hosts.is_empty() {
        out.error(path, "TLS match must have at least one SNI host");
    }
    for (i, h) in m.sni_hosts.iter().enumerate() {
        validate_sni_host(h, vs, out, &format!("{path}.sniHosts[{i}]"));
    }
    validate_l4_common(
        &m.destination_subnets,
        m.port,
        &m.source_labels,
        &m.gateways,
        out,
        path,
    );
}

fn validate_sni_host(sni: &str, vs: &SniContext<'_>, out: &mut Findings, path: &str) {
    let r = if vs.bound_to_gateway {
        validate_gateway_bound_domain(true, sni)
    } else {
        validate_wildcard_domain(sni)
    };
    if let Err(e) = r {
        if is_ip(sni) {
            out.warning(
                path,
                format!("using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"),
            );
        } else {
            out.error(path, e);
        }
        return;
    }
    if vs.hosts.iter().any(|h| host_subset_of(sni, h)) {
        return;
    }
    out.error(
        path,
        format!(
            "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
            vs.hosts.join(", ")
        ),
    );
}

pub(super) fn validate_tcp_route(r: &TcpRoute, out: &mut Findings, path: &str) {
    for (i, m) in r.matches.iter().enumerate() {
        let p = format!("{path}.match[{i}]");
        validate_l4_common(
            &m.destination_subnets,
            m.port,
            &m.source_labels,
            &m.gateways,
            out,
            &p,
        );
    }
    if r.route.is_empty() {
        out.error(path, "TCP route is required");
    }
    validate_route_destinations(&r.route, out, &format!("{path}.route"));
}

fn validate_l4_common(
    subnets: &[String],
    port: u32,
    source_labels: &BTreeMap<String, String>,
    gateways: &[String],
    out: &mut Findings,
    path: &str,
) {
    for (i, s) in subnets.iter().enumerate() {
        report(
            out,
            &format!("{path}.destinationSubnets[{i}]"),
            validate_ip_subnet(s),
        );
    }
    if port != 0 {
        report(out, &format!("{path}.port"), validate_port(port.into()));
    }
    for e in validate_labels(source_labels) {
        out.error(format!("{path}.sourceLabels"), e);
    }
    validate_gateway_names(gateways, out, &format!("{path}.gateways"));
}

fn validate_route_destinations(routes: &[RouteDestination], out: &mut Findings, path: &str) {
    let mut total: i64 = 0;
    for (i, r) in routes.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &r.destination {
            None => out.error(&p, "destination is required"),
            Some(d) => validate_destination(d, out, &format!("{p}.destination")),
        }
        if r.weight < 0 {
            out.error(format!("{p}.weight"), format!("weight {} < 0", r.weight));
        }
        total += i64::from(r.weight);
    }
    if routes.len() > 1 && total == 0 {
        out.error(path, "total destination weight = 0");
    }
}
