//! Istio's `destinationrule` analyzers.

use std::collections::BTreeMap;

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::analyzers::virtualservice::services::{ServiceHosts, strings_of};
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, selector_matches, str_of, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(CaCertificateAnalyzer),
        Box::new(SubsetSelectPodAnalyzer),
    ]
}

/// Reports TLS settings in `SIMPLE` or `MUTUAL` mode that set no `caCertificates`, so the
/// server's identity is not verified.
pub struct CaCertificateAnalyzer;

impl Analyzer for CaCertificateAnalyzer {
    fn name(&self) -> &'static str {
        "destinationrule.CaCertificateAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::DESTINATION_RULE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for r in store.list(kinds::DESTINATION_RULE) {
            check_ca_certificates(ctx, r);
        }
    }
}

/// The TLS mode of a `ClientTLSSettings` when it is `SIMPLE` or `MUTUAL` and the settings do
/// not verify the server: no `caCertificates`, and no `credentialName` on a DestinationRule
/// with a workload selector (where the credential carries the CA).
fn unverified_mode(tls: Option<&Value>, has_workload_selector: bool) -> Option<&str> {
    let tls = tls?;
    let mode = str_of(tls, "mode");
    if mode != "SIMPLE" && mode != "MUTUAL" {
        return None;
    }
    let has_ca = !str_of(tls, "caCertificates").is_empty();
    let credential_with_selector =
        !str_of(tls, "credentialName").is_empty() && has_workload_selector;
    (!has_ca && !credential_with_selector).then_some(mode)
}

/// How Go prints a `PortSelector` message (`number:9443`).
fn port_selector_text(port: Option<&Value>) -> String {
    match port.and_then(|p| p.get("number")).and_then(Value::as_u64) {
        Some(n) if n != 0 => format!("number:{n}"),
        _ => String::new(),
    }
}

fn check_ca_certificates(ctx: &mut Context<'_>, r: &Resource) {
    let spec = r.spec();
    let host = str_of(spec, "host");
    let has_selector = spec.get("workloadSelector").is_some_and(|w| !w.is_null());
    let policy = spec.get("trafficPolicy");
    let name = r.namespaced_name();
    let ns = r.meta.namespace.clone();
    if let Some(mode) = unverified_mode(policy.and_then(|p| p.get("tls")), has_selector) {
        ctx.report(
            r,
            Some("/spec/trafficPolicy/tls/caCertificates"),
            catalogue::NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
            vec![
                name.clone().into(),
                ns.clone().into(),
                mode.into(),
                host.into(),
            ],
        );
    }
    let ports = policy
        .map(|p| arr_of(p, "portLevelSettings"))
        .unwrap_or_default();
    for (i, p) in ports.iter().enumerate() {
        if let Some(mode) = unverified_mode(p.get("tls"), has_selector) {
            ctx.report(
                r,
                Some(&format!(
                    "/spec/trafficPolicy/portLevelSettings/{i}/tls/caCertificates"
                )),
                catalogue::NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                vec![
                    name.clone().into(),
                    ns.clone().into(),
                    mode.into(),
                    host.into(),
                    port_selector_text(p.get("port")).into(),
                ],
            );
        }
    }
}

/// Reports DestinationRules whose host is no known service, and subsets that select no pod.
pub struct SubsetSelectPodAnalyzer;

impl Analyzer for SubsetSelectPodAnalyzer {
    fn name(&self) -> &'static str {
        "destinationrule.SubsetSelectPodAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks if pods are selected by subsets in destination rules."
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::DESTINATION_RULE,
            kinds::POD,
            kinds::SERVICE,
            kinds::SERVICE_ENTRY,
            kinds::NODE,
            kinds::WORKLOAD_ENTRY,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let services = ServiceHosts::from_store(store);
        let mut subsets: Vec<(&Resource, String, BTreeMap<String, String>)> = Vec::new();
        for r in store.list(kinds::DESTINATION_RULE) {
            let spec = r.spec();
            let host = str_of(spec, "host");
            let Some(service) =
                services.lookup(&r.meta.namespace, &strings_of(spec, "exportTo"), host)
            else {
                ctx.report(
                    r,
                    Some("/spec/host"),
                    catalogue::UNKNOWN_DESTINATION_RULE_HOST,
                    vec![host.into()],
                );
                continue;
            };
            for subset in arr_of(spec, "subsets") {
                let mut selector = service.workload_selector.clone();
                selector.extend(string_map(subset.get("labels")));
                let name = str_of(subset, "name").to_string();
                // A later subset of the same name replaces an earlier one.
                subsets.retain(|(dr, n, _)| !(std::ptr::eq(*dr, r) && *n == name));
                subsets.push((r, name, selector));
            }
        }
        let mut pod_labels = augmented_pod_labels(ctx);
        pod_labels.extend(
            crate::util::workload_entries(store)
                .into_iter()
                .map(|(_, l)| l),
        );
        for (r, name, selector) in subsets {
            if !pod_labels
                .iter()
                .any(|labels| selector_matches(&selector, labels))
            {
                ctx.report(
                    r,
                    None,
                    catalogue::DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
                    vec![name.into()],
                );
            }
        }
    }
}

const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
const LABEL_REGION: &str = "topology.kubernetes.io/region";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
const LABEL_SUBZONE: &str = "topology.istio.io/subzone";

/// The labels of every pod as the service registry sees them: its own labels plus the
/// locality labels of its node and the node's host name.
fn augmented_pod_labels(ctx: &Context<'_>) -> Vec<BTreeMap<String, String>> {
    let nodes: BTreeMap<&str, &BTreeMap<String, String>> = ctx
        .store
        .list(kinds::NODE)
        .map(|n| (n.meta.name.as_str(), &n.meta.labels))
        .collect();
    ctx.store
        .list(kinds::POD)
        .map(|pod| {
            let node = str_of(pod.spec(), "nodeName");
            augment_labels(&pod.meta.labels, node, nodes.get(node).copied())
        })
        .collect()
}

/// `labels` with region, zone and subzone from the node's topology labels (each only when
/// set, and a finer level only when the coarser ones are) and the node name as host name.
fn augment_labels(
    labels: &BTreeMap<String, String>,
    node: &str,
    node_labels: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    if let Some(nl) = node_labels {
        let get = |k: &str| nl.get(k).cloned().unwrap_or_default();
        let (region, zone, subzone) = (get(LABEL_REGION), get(LABEL_ZONE), get(LABEL_SUBZONE));
        // The locality string `region/zone/subzone` stops at the first empty level after the
        // region, so a subzone counts only under a zone.
        let subzone = if zone.is_empty() {
            String::new()
        } else {
            subzone
        };
        for (k, v) in [
            (LABEL_REGION, region),
            (LABEL_ZONE, zone),
            (LABEL_SUBZONE, subzone),
        ] {
            if !v.is_empty() {
                out.insert(k.to_string(), v);
            }
        }
    }
    if !node.is_empty() {
        out.insert(LABEL_HOSTNAME.to_string(), node.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unverified_modes() {
        let cases = [
            (serde_json::json!({"mode": "SIMPLE"}), false, Some("SIMPLE")),
            (
                serde_json::json!({"mode": "MUTUAL", "caCertificates": "/ca"}),
                false,
                None,
            ),
            (
                serde_json::json!({"mode": "SIMPLE", "credentialName": "c"}),
                false,
                Some("SIMPLE"),
            ),
            (
                serde_json::json!({"mode": "SIMPLE", "credentialName": "c"}),
                true,
                None,
            ),
            (serde_json::json!({"mode": "ISTIO_MUTUAL"}), false, None),
        ];
        for (tls, selector, want) in cases {
            assert_eq!(unverified_mode(Some(&tls), selector), want, "{tls}");
        }
    }

    #[test]
    fn locality_labels() {
        let node = m(&[(LABEL_REGION, "r"), (LABEL_SUBZONE, "s")]);
        let got = augment_labels(&m(&[("app", "a")]), "n1", Some(&node));
        assert_eq!(
            got,
            m(&[("app", "a"), (LABEL_REGION, "r"), (LABEL_HOSTNAME, "n1")])
        );
        let empty = m(&[(LABEL_REGION, "")]);
        assert_eq!(augment_labels(&m(&[]), "", Some(&empty)), m(&[]));
    }
}
