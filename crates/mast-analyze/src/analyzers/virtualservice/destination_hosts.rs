//! `virtualservice.DestinationHostAnalyzer`: every destination host must be a known service
//! (a ServiceEntry host or a Kubernetes Service visible from the VirtualService's namespace),
//! with a port when the service has several; gateway routes without a subset are flagged when
//! another VirtualService routes that host by subset.

use std::collections::BTreeMap;

use mast_config::Resource;

use super::destinations::{Destination, Place, mirror_destinations, route_destinations};
use super::services::{ServiceHosts, ServiceInfo, strings_of};
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::message::Arg;
use crate::util::arr_of;

/// Checks the destination hosts associated with each VirtualService.
pub struct DestinationHostAnalyzer;

impl Analyzer for DestinationHostAnalyzer {
    fn name(&self) -> &'static str {
        "virtualservice.DestinationHostAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the destination hosts associated with each virtual service"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE_ENTRY, kinds::VIRTUAL_SERVICE, kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let services = ServiceHosts::from_store(store);
        let subset_routes = subset_destinations(store.list(kinds::VIRTUAL_SERVICE));
        for r in store.list(kinds::VIRTUAL_SERVICE) {
            check_hosts(ctx, r, &services);
            check_ingress_subsets(ctx, r, &subset_routes);
        }
    }
}

/// Reports destinations (routes and mirrors) whose host or port is unknown.
fn check_hosts(ctx: &mut Context<'_>, r: &Resource, services: &ServiceHosts) {
    let spec = r.spec();
    let export_to = strings_of(spec, "exportTo");
    let ns = &r.meta.namespace;
    let all = route_destinations(spec)
        .into_iter()
        .chain(mirror_destinations(spec));
    for d in all {
        match services.lookup(ns, &export_to, d.host()) {
            None => {
                let what = if d.place == Place::Mirror || d.place == Place::Mirrors {
                    "mirror host"
                } else {
                    "host"
                };
                ctx.report(
                    r,
                    Some(&d.host_path()),
                    catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                    vec![what.into(), d.host().into()],
                );
            }
            Some(s) => check_port(ctx, r, &d, s),
        }
    }
}

/// Reports a destination without a port to a multi-port service, or with a port the service
/// does not expose.
fn check_port(ctx: &mut Context<'_>, r: &Resource, d: &Destination<'_>, s: &ServiceInfo) {
    let path = d.host_path();
    match d.port() {
        None if s.ports.len() > 1 => {
            let ports: Vec<String> = s.ports.iter().map(u32::to_string).collect();
            ctx.report(
                r,
                Some(&path),
                catalogue::VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
                vec![d.host().into(), Arg::List(ports)],
            );
        }
        None => {}
        Some(port) if !s.ports.contains(&port) => {
            ctx.report(
                r,
                Some(&path),
                catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                vec!["host:port".into(), format!("{}:{port}", d.host()).into()],
            );
        }
        Some(_) => {}
    }
}

/// For each VirtualService, the hosts of its HTTP route destinations that name a subset and
/// are one of the VirtualService's own hosts (literally).
fn subset_destinations<'a>(
    vss: impl Iterator<Item = &'a Resource>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in vss {
        let spec = r.spec();
        let hosts = strings_of(spec, "hosts");
        for d in route_destinations(spec) {
            if d.place != Place::Route("http") || d.subset().is_empty() {
                continue;
            }
            for h in &hosts {
                if d.host() == h {
                    out.entry(r.namespaced_name())
                        .or_default()
                        .push(d.host().to_string());
                }
            }
        }
    }
    out
}

/// On a gateway VirtualService, reports each HTTP route without a subset whose host another
/// VirtualService routes by subset: subsets do not apply to the ingress route.
fn check_ingress_subsets(
    ctx: &mut Context<'_>,
    r: &Resource,
    subset_routes: &BTreeMap<String, Vec<String>>,
) {
    let spec = r.spec();
    if arr_of(spec, "gateways").is_empty() {
        return;
    }
    for d in route_destinations(spec) {
        if d.place != Place::Route("http") || !d.subset().is_empty() {
            continue;
        }
        for (vs, hosts) in subset_routes {
            for h in hosts {
                if h == d.host() {
                    ctx.report(
                        r,
                        Some(&d.host_path()),
                        catalogue::INGRESS_ROUTE_RULES_NOT_AFFECTED,
                        vec![vs.into(), r.namespaced_name().into()],
                    );
                }
            }
        }
    }
}
