//! Istio's `sidecar` analyzers.

use std::collections::{BTreeMap, HashSet};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::analyzers::virtualservice::services::{first_selector_label, selector_string};
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{selector_matches, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(SelectorAnalyzer),
        Box::new(DefaultSelectorAnalyzer),
    ]
}

/// The annotation of pods whose traffic ztunnel redirects (ambient mode).
const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";
/// The namespace label that puts a namespace in ambient mode.
const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
/// The namespace label that enables sidecar injection.
const INJECTION_LABEL: &str = "istio-injection";
/// The namespace label that selects a control plane revision for injection.
const REVISION_LABEL: &str = "istio.io/rev";

/// Whether a pod runs in ambient mode (no sidecar).
fn pod_in_ambient_mode(pod: &Resource) -> bool {
    pod.meta
        .annotations
        .get(AMBIENT_REDIRECTION)
        .map(String::as_str)
        == Some("enabled")
}

/// Whether a namespace is in ambient mode: labelled so, and not also labelled for sidecar
/// injection (by `istio-injection=enabled` or a revision).
fn namespace_in_ambient_mode(ns: Option<&Resource>) -> bool {
    let Some(ns) = ns else {
        return false;
    };
    let labels = &ns.meta.labels;
    if labels.get(INJECTION_LABEL).map(String::as_str) == Some("enabled") {
        return false;
    }
    if labels.get(REVISION_LABEL).is_some_and(|v| !v.is_empty()) {
        return false;
    }
    labels.get(DATAPLANE_MODE).map(String::as_str) == Some("ambient")
}

/// A Sidecar's `workloadSelector.labels`.
fn workload_labels(spec: &Value) -> BTreeMap<String, String> {
    string_map(spec.get("workloadSelector").and_then(|w| w.get("labels")))
}

/// The sorted names of `sidecars`.
fn sorted_names(sidecars: &[&Resource]) -> Vec<String> {
    let mut names: Vec<String> = sidecars.iter().map(|r| r.meta.name.clone()).collect();
    names.sort();
    names
}

/// Reports namespaces with more than one selector-less Sidecar.
fn report_multiple_defaults(ctx: &mut Context<'_>, ns: &str, sidecars: &[&Resource]) {
    if sidecars.len() < 2 {
        return;
    }
    let names = sorted_names(sidecars);
    for r in sidecars {
        ctx.report(
            r,
            None,
            catalogue::MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
            vec![names.clone().into(), ns.into()],
        );
    }
}

/// Checks that Sidecars with a workload selector select some pod, that no pod is selected by
/// several Sidecars, that a namespace has at most one Sidecar without selector, and that no
/// Sidecar applies to ambient workloads.
pub struct SelectorAnalyzer;

impl Analyzer for SelectorAnalyzer {
    fn name(&self) -> &'static str {
        "sidecar.SelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that sidecars that define a workload selector match at least one pod, and that there aren't multiple sidecar resources that select overlapping pods"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SIDECAR, kinds::POD, kinds::NAMESPACE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut pod_sidecars: BTreeMap<(String, String), (&Resource, Vec<&Resource>)> =
            BTreeMap::new();
        let mut ns_sidecars: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for sc in store.list(kinds::SIDECAR) {
            let selector = workload_labels(sc.spec());
            if selector.is_empty() {
                ns_sidecars
                    .entry(sc.meta.namespace.clone())
                    .or_default()
                    .push(sc);
                continue;
            }
            let pods = store.list(kinds::POD).filter(|p| {
                p.meta.namespace == sc.meta.namespace && selector_matches(&selector, &p.meta.labels)
            });
            let mut found = false;
            for pod in pods {
                found = true;
                let key = (pod.meta.namespace.clone(), pod.meta.name.clone());
                pod_sidecars
                    .entry(key)
                    .or_insert((pod, Vec::new()))
                    .1
                    .push(sc);
            }
            if !found {
                let text = selector_string(&selector);
                let path = format!(
                    "/spec/workloadSelector/labels/{}",
                    first_selector_label(&text)
                );
                ctx.report(
                    sc,
                    Some(&path),
                    catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                    vec!["selector".into(), text.into()],
                );
            }
        }
        let mut ineffective: HashSet<(String, String)> = HashSet::new();
        for ((pod_ns, pod_name), (pod, sidecars)) in &pod_sidecars {
            let ambient = pod_in_ambient_mode(pod);
            if sidecars.len() == 1 && !ambient {
                continue;
            }
            let names = sorted_names(sidecars);
            for sc in sidecars {
                if ambient {
                    report_ineffective(
                        ctx,
                        sc,
                        &mut ineffective,
                        "selected workload is in ambient mode, the policy has no impact",
                    );
                    continue;
                }
                ctx.report(
                    sc,
                    Some("/metadata/name"),
                    catalogue::CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                    vec![names.clone().into(), pod_ns.into(), pod_name.into()],
                );
            }
        }
        for (ns, sidecars) in &ns_sidecars {
            if namespace_in_ambient_mode(store.get(kinds::NAMESPACE, "", ns)) {
                for sc in sidecars {
                    report_ineffective(
                        ctx,
                        sc,
                        &mut ineffective,
                        "namespace is in ambient mode, the policy has no impact",
                    );
                }
                continue;
            }
            report_multiple_defaults(ctx, ns, sidecars);
        }
    }
}

/// Reports a Sidecar as having no effect, once.
fn report_ineffective(
    ctx: &mut Context<'_>,
    sc: &Resource,
    done: &mut HashSet<(String, String)>,
    why: &str,
) {
    if done.insert((sc.meta.namespace.clone(), sc.meta.name.clone())) {
        ctx.report(sc, None, catalogue::INEFFECTIVE_POLICY, vec![why.into()]);
    }
}

/// Istio 1.5's check that a namespace has at most one Sidecar without a `workloadSelector`
/// (current Istio folds it into [`SelectorAnalyzer`]).
pub struct DefaultSelectorAnalyzer;

impl Analyzer for DefaultSelectorAnalyzer {
    fn name(&self) -> &'static str {
        "sidecar.DefaultSelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that there aren't multiple sidecar resources that have no selector"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SIDECAR]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut by_ns: BTreeMap<String, Vec<&Resource>> = BTreeMap::new();
        for sc in store.list(kinds::SIDECAR) {
            if sc.spec().get("workloadSelector").is_none_or(Value::is_null) {
                by_ns.entry(sc.meta.namespace.clone()).or_default().push(sc);
            }
        }
        for (ns, sidecars) in &by_ns {
            report_multiple_defaults(ctx, ns, sidecars);
        }
    }
}
