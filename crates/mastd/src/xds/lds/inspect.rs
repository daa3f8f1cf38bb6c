//! Listener filters of inbound listeners (`populateListenerFilters`): original destination
//! for redirected listeners, and the TLS and HTTP inspectors enabled only on the ports whose
//! filter chains match on transport protocol or ALPN.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::listener::v3::{
    FilterChain, ListenerFilter, ListenerFilterChainMatchPredicate,
    listener_filter_chain_match_predicate as pred,
};
use envoy_types::pb::envoy::r#type::v3::Int32Range;

use super::filters::{TLS, http_inspector, original_dst, tls_inspector};

#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    http: bool,
    tls: bool,
}

fn exclude_ports(ports: &[u32]) -> ListenerFilterChainMatchPredicate {
    let mut ranges: Vec<ListenerFilterChainMatchPredicate> = ports
        .iter()
        .map(|p| ListenerFilterChainMatchPredicate {
            rule: Some(pred::Rule::DestinationPortRange(Int32Range {
                start: *p as i32,
                end: *p as i32 + 1,
            })),
        })
        .collect();
    if ranges.len() == 1 {
        return ranges.remove(0);
    }
    ListenerFilterChainMatchPredicate {
        rule: Some(pred::Rule::OrMatch(pred::MatchSet { rules: ranges })),
    }
}

fn include_ports(ports: &[u32]) -> ListenerFilterChainMatchPredicate {
    ListenerFilterChainMatchPredicate {
        rule: Some(pred::Rule::NotMatch(Box::new(exclude_ports(ports)))),
    }
}

/// The listener filters for an inbound listener with `chains`.
pub fn inbound_listener_filters(chains: &[FilterChain], bind_to_port: bool) -> Vec<ListenerFilter> {
    let mut out = Vec::new();
    if !bind_to_port {
        out.push(original_dst());
    }
    let mut needs: BTreeMap<u32, Needs> = BTreeMap::new();
    for fc in chains {
        let m = fc.filter_chain_match.as_ref();
        let port = m
            .and_then(|m| m.destination_port.as_ref())
            .map(|p| p.value)
            .unwrap_or(0);
        let tls = m.is_some_and(|m| m.transport_protocol == TLS);
        let http = m.is_some_and(|m| {
            m.application_protocols
                .iter()
                .any(|a| a == "http/1.1" || a == "h2c")
        });
        let n = needs.entry(port).or_default();
        n.http |= http;
        n.tls |= tls;
    }
    if needs.values().any(|n| n.tls) {
        let mut f = tls_inspector();
        let default_on = needs.get(&0).is_some_and(|n| n.tls);
        let ports: Vec<u32> = needs
            .iter()
            .filter(|(p, n)| **p != 0 && n.tls != default_on)
            .map(|(p, _)| *p)
            .collect();
        if !ports.is_empty() {
            f.filter_disabled = Some(if default_on {
                exclude_ports(&ports)
            } else {
                include_ports(&ports)
            });
        }
        out.push(f);
    }
    if needs.values().any(|n| n.http) {
        let mut f = http_inspector();
        let ports: Vec<u32> = needs
            .iter()
            .filter(|(_, n)| !n.http)
            .map(|(p, _)| *p)
            .collect();
        if !ports.is_empty() {
            f.filter_disabled = Some(exclude_ports(&ports));
        }
        out.push(f);
    }
    out
}
