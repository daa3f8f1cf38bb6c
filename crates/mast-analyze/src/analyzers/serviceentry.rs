//! Istio's `serviceentry` analyzers.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::analyzers::virtualservice::services::{
    EXPORT_ALL, EXPORT_LOCAL, exports_to_all, strings_of, u32_of,
};
use crate::catalogue;
use crate::context::{Context, Kind, Mesh, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(ProtocolAddressesAnalyzer),
        Box::new(ConflictingServiceEntryProtocolAnalyzer),
    ]
}

/// Reports ServiceEntries with TCP (or unspecified protocol) ports but no addresses, unless
/// addresses are allocated (in the status, or by the proxies' DNS auto-allocation).
pub struct ProtocolAddressesAnalyzer;

impl Analyzer for ProtocolAddressesAnalyzer {
    fn name(&self) -> &'static str {
        "serviceentry.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of ServiceEntry"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE_ENTRY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let auto_allocated = dns_auto_allocates(ctx.mesh);
        for se in store.list(kinds::SERVICE_ENTRY) {
            if auto_allocated || has_addresses(se) {
                continue;
            }
            for (i, port) in arr_of(se.spec(), "ports").iter().enumerate() {
                let protocol = str_of(port, "protocol");
                if protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP") {
                    ctx.report(
                        se,
                        Some(&format!("/spec/ports/{i}/name")),
                        catalogue::SERVICE_ENTRY_ADDRESSES_REQUIRED,
                        vec![],
                    );
                }
            }
        }
    }
}

/// Whether the mesh's default proxy metadata captures DNS and auto-allocates addresses.
fn dns_auto_allocates(mesh: &Mesh) -> bool {
    let metadata = mesh
        .config
        .get("defaultConfig")
        .and_then(|d| d.get("proxyMetadata"));
    let flag = |k: &str| metadata.and_then(|m| m.get(k)).and_then(Value::as_str) == Some("true");
    flag("ISTIO_META_DNS_CAPTURE")
        && (flag("ISTIO_META_DNS_AUTO_ALLOCATE") || flag("PILOT_ENABLE_IP_AUTOALLOCATE"))
}

/// Whether a ServiceEntry has addresses in its spec or allocated in its status.
fn has_addresses(se: &Resource) -> bool {
    let allocated = se
        .value
        .get("status")
        .map(|s| arr_of(s, "addresses"))
        .unwrap_or_default();
    !arr_of(se.spec(), "addresses").is_empty() || !allocated.is_empty()
}

/// Reports ServiceEntries that define the same host and port with different protocols in a
/// namespace where both are visible.
pub struct ConflictingServiceEntryProtocolAnalyzer;

impl Analyzer for ConflictingServiceEntryProtocolAnalyzer {
    fn name(&self) -> &'static str {
        "serviceentry.ConflictingServiceEntryProtocolAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if multiple ServiceEntries define the same host and port with different protocols"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE_ENTRY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let index = protocol_index(store.list(kinds::SERVICE_ENTRY));
        let mut reported: HashSet<(String, String)> = HashSet::new();
        for ((scope, host, port), own) in &index {
            let mut entries = own.clone();
            if scope != EXPORT_ALL {
                let key = (EXPORT_ALL.to_string(), host.clone(), *port);
                entries.extend(index.get(&key).into_iter().flatten().cloned());
            }
            let protocols: BTreeSet<String> = entries
                .iter()
                .map(|(p, _)| p.to_ascii_uppercase())
                .collect();
            if protocols.len() < 2 {
                continue;
            }
            let names: BTreeSet<String> =
                entries.iter().map(|(_, r)| r.namespaced_name()).collect();
            let names = names.into_iter().collect::<Vec<_>>().join(", ");
            let protocols = protocols.into_iter().collect::<Vec<_>>().join(", ");
            for (_, r) in &entries {
                if reported.insert((r.meta.namespace.clone(), r.meta.name.clone())) {
                    ctx.report(
                        r,
                        Some("/metadata/name"),
                        catalogue::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
                        vec![
                            names.clone().into(),
                            host.into(),
                            (*port).into(),
                            protocols.clone().into(),
                        ],
                    );
                }
            }
        }
    }
}

/// `(scope, host, port)` of a ServiceEntry port.
type HostPort = (String, String, u32);

/// Each ServiceEntry port's protocol, by the namespaces it is visible in, host and port.
fn protocol_index<'a>(
    ses: impl Iterator<Item = &'a Resource>,
) -> BTreeMap<HostPort, Vec<(String, &'a Resource)>> {
    let mut index: BTreeMap<HostPort, Vec<(String, &Resource)>> = BTreeMap::new();
    for se in ses {
        let spec = se.spec();
        let scopes = export_scopes(&strings_of(spec, "exportTo"), &se.meta.namespace);
        for scope in &scopes {
            for host in strings_of(spec, "hosts") {
                for port in arr_of(spec, "ports") {
                    let key = (scope.clone(), host.clone(), u32_of(port, "number"));
                    index
                        .entry(key)
                        .or_default()
                        .push((str_of(port, "protocol").to_string(), se));
                }
            }
        }
    }
    index
}

/// The namespaces an `exportTo` list makes a ServiceEntry visible in (`*` for all).
fn export_scopes(export_to: &[String], namespace: &str) -> BTreeSet<String> {
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
