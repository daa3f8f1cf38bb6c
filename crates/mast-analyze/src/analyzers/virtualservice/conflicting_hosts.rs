//! `virtualservice.ConflictingMeshGatewayHostsAnalyzer`: VirtualServices bound to the mesh
//! gateway that define the same host for the same namespaces.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use mast_config::Resource;

use super::services::{
    EXPORT_ALL, EXPORT_LOCAL, exports_to_all, names_match, scoped_fqdn, split_scoped, strings_of,
};
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Compat, Context, Kind, kinds};

/// The name of the implicit gateway of sidecars.
pub(crate) const MESH_GATEWAY: &str = "mesh";

/// Reports VirtualServices of the mesh gateway whose hosts collide in a namespace they are
/// both visible in.
pub struct ConflictingMeshGatewayHostsAnalyzer;

impl Analyzer for ConflictingMeshGatewayHostsAnalyzer {
    fn name(&self) -> &'static str {
        "virtualservice.ConflictingMeshGatewayHostsAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if multiple virtual services associated with the mesh gateway have conflicting hosts"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::VIRTUAL_SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let compat = ctx.mesh.compat;
        let hosts = mesh_gateway_hosts(store.list(kinds::VIRTUAL_SERVICE), compat);
        if compat == Compat::Istio1_5 {
            report_1_5(ctx, &hosts);
            return;
        }
        let mut reported: HashSet<(String, String)> = HashSet::new();
        for (key, own) in &hosts {
            let mut list = own.clone();
            if split_scoped(key).0 != EXPORT_ALL {
                list.extend(exported_to_all_matching(key, &hosts));
            }
            if list.len() < 2 {
                continue;
            }
            let names = joined_names(&list);
            for r in list {
                let id = (r.meta.namespace.clone(), r.meta.name.clone());
                if reported.insert(id) {
                    ctx.report(
                        r,
                        Some("/metadata/name"),
                        catalogue::CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                        vec![names.clone().into(), key.clone().into()],
                    );
                }
            }
        }
    }
}

/// Whether a VirtualService applies to sidecars (no gateways, or `mesh` among them).
pub(crate) fn attached_to_mesh(spec: &serde_json::Value) -> bool {
    let gateways = strings_of(spec, "gateways");
    gateways.is_empty() || gateways.iter().any(|g| g == MESH_GATEWAY)
}

/// Istio 1.5: every VirtualService sharing a `scope/fqdn` key with another is reported, once
/// per such key, naming the others in input order; no matching across scopes.
fn report_1_5(ctx: &mut Context<'_>, hosts: &BTreeMap<String, Vec<&Resource>>) {
    for (key, list) in hosts.iter().filter(|(_, list)| list.len() > 1) {
        let names: Vec<String> = list.iter().map(|r| r.namespaced_name()).collect();
        let args = || vec![names.join(",").into(), key.clone().into()];
        for r in list {
            let kind = catalogue::CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS;
            ctx.report(r, Some("/metadata/name"), kind, args());
        }
    }
}

/// Istio 1.5's reading of `exportTo`: everywhere unless the last of `.` and `*` before the
/// first `*` is `.`; other namespace names are ignored.
fn exports_to_all_1_5(export_to: &[String]) -> bool {
    let mut all = true;
    for e in export_to {
        if e == EXPORT_ALL {
            return true;
        }
        if e == EXPORT_LOCAL {
            all = false;
        }
    }
    all
}

/// The namespaces a VirtualService's hosts are visible in (`*` for all).
fn host_scopes(export_to: &[String], namespace: &str, compat: Compat) -> BTreeSet<String> {
    if compat == Compat::Istio1_5 {
        // 1.5 had one scope per VirtualService: everywhere, or its own namespace.
        let scope = if exports_to_all_1_5(export_to) {
            EXPORT_ALL
        } else {
            namespace
        };
        return BTreeSet::from([scope.to_string()]);
    }
    if exports_to_all(export_to) {
        return BTreeSet::from([EXPORT_ALL.to_string()]);
    }
    export_to
        .iter()
        .map(|e| {
            if e == EXPORT_LOCAL {
                namespace.to_string()
            } else {
                e.clone()
            }
        })
        .collect()
}

/// The mesh-gateway VirtualServices by `scope/fqdn` of each host, in input order.
fn mesh_gateway_hosts<'a>(
    vss: impl Iterator<Item = &'a Resource>,
    compat: Compat,
) -> BTreeMap<String, Vec<&'a Resource>> {
    let mut out: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
    for r in vss {
        let spec = r.spec();
        if !attached_to_mesh(spec) {
            continue;
        }
        let ns = &r.meta.namespace;
        for scope in host_scopes(&strings_of(spec, "exportTo"), ns, compat) {
            for host in strings_of(spec, "hosts") {
                out.entry(scoped_fqdn(&scope, ns, &host))
                    .or_default()
                    .push(r);
            }
        }
    }
    out
}

/// The VirtualServices exported everywhere whose host matches the host of `key`.
fn exported_to_all_matching<'a>(
    key: &str,
    hosts: &BTreeMap<String, Vec<&'a Resource>>,
) -> Vec<&'a Resource> {
    let host = split_scoped(key).1;
    hosts
        .iter()
        .filter(|(k, _)| {
            let (scope, other) = split_scoped(k);
            scope == EXPORT_ALL && names_match(host, other)
        })
        .flat_map(|(_, list)| list.iter().copied())
        .collect()
}

/// `ns/name` of each object, sorted and joined by commas.
fn joined_names(list: &[&Resource]) -> String {
    let mut names: Vec<String> = list.iter().map(|r| r.namespaced_name()).collect();
    names.sort();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_release() {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let cases: &[(&[&str], Compat, &[&str])] = &[
            (&[], Compat::Current, &["*"]),
            (&[], Compat::Istio1_5, &["*"]),
            (&["."], Compat::Current, &["ns"]),
            (&["."], Compat::Istio1_5, &["ns"]),
            (&["team1"], Compat::Current, &["team1"]),
            (&["team1"], Compat::Istio1_5, &["*"]),
            (&[".", "team1"], Compat::Current, &["ns", "team1"]),
            (&[".", "team1"], Compat::Istio1_5, &["ns"]),
            (&["*", "."], Compat::Istio1_5, &["*"]),
        ];
        for (export_to, compat, want) in cases {
            assert_eq!(
                host_scopes(&v(export_to), "ns", *compat),
                set(want),
                "{export_to:?} {compat:?}"
            );
        }
    }
}
