//! `virtualservice.DestinationRuleAnalyzer`: a destination's subset must be defined by a
//! DestinationRule for its host.

use std::collections::HashSet;

use mast_config::Resource;

use super::destinations::{Destination, Place, mirror_destinations, route_destinations};
use super::services::resource_name_from_host;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// `(namespace, name, subset)` of a service subset.
type HostSubset = (String, String, String);

/// Checks the destination rules associated with each VirtualService.
pub struct DestinationRuleAnalyzer;

impl Analyzer for DestinationRuleAnalyzer {
    fn name(&self) -> &'static str {
        "virtualservice.DestinationRuleAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the destination rules associated with each virtual service"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::VIRTUAL_SERVICE, kinds::DESTINATION_RULE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let known = defined_subsets(store.list(kinds::DESTINATION_RULE));
        for r in store.list(kinds::VIRTUAL_SERVICE) {
            let spec = r.spec();
            let all = route_destinations(spec)
                .into_iter()
                .chain(mirror_destinations(spec));
            for d in all {
                if !subset_defined(&r.meta.namespace, &d, &known) {
                    report_missing(ctx, r, &d);
                }
            }
        }
    }
}

fn report_missing(ctx: &mut Context<'_>, r: &Resource, d: &Destination<'_>) {
    let what = match d.place {
        Place::Route(_) => "host+subset in destinationrule",
        Place::Mirror | Place::Mirrors => "mirror+subset in destinationrule",
    };
    ctx.report(
        r,
        Some(&d.host_path()),
        catalogue::REFERENCED_RESOURCE_NOT_FOUND,
        vec![what.into(), format!("{}+{}", d.host(), d.subset()).into()],
    );
}

/// Every subset each DestinationRule defines, keyed by the service its host names.
fn defined_subsets<'a>(drs: impl Iterator<Item = &'a Resource>) -> HashSet<HostSubset> {
    let mut out = HashSet::new();
    for r in drs {
        let spec = r.spec();
        let (ns, name) = resource_name_from_host(&r.meta.namespace, str_of(spec, "host"));
        for subset in arr_of(spec, "subsets") {
            out.insert((ns.clone(), name.clone(), str_of(subset, "name").to_string()));
        }
    }
    out
}

/// Whether `d` names no subset, or one some DestinationRule defines for its host.
fn subset_defined(vs_namespace: &str, d: &Destination<'_>, known: &HashSet<HostSubset>) -> bool {
    if d.subset().is_empty() {
        return true;
    }
    let (ns, name) = resource_name_from_host(vs_namespace, d.host());
    known.contains(&(ns, name, d.subset().to_string()))
}
