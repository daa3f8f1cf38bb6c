//! Istio's `telemetry` analyzers: Telemetry selectors, access-log providers, and the
//! deprecated Lightstep tracer.

use std::collections::{BTreeMap, BTreeSet};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, selector_matches, str_of, string_map};

use super::auth::label_selector_string;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(DefaultSelectorAnalyzer),
        Box::new(LightstepAnalyzer),
        Box::new(ProviderAnalyzer),
        Box::new(SelectorAnalyzer),
    ]
}

/// Whether the Telemetry has a `selector` at all (an empty one counts).
fn has_selector(t: &Resource) -> bool {
    t.spec().get("selector").is_some_and(|s| !s.is_null())
}

/// The names of `list`, sorted, as the messages list them.
fn sorted_names(list: &[&Resource]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|r| r.meta.name.clone()).collect();
    names.sort();
    names
}

/// Flags namespaces with more than one Telemetry without a workload selector.
pub struct DefaultSelectorAnalyzer;

impl Analyzer for DefaultSelectorAnalyzer {
    fn name(&self) -> &'static str {
        "telemetry.DefaultSelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that there aren't multiple telemetry resources that have no selector"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::TELEMETRY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut by_ns: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
        for t in store.list(kinds::TELEMETRY).filter(|t| !has_selector(t)) {
            by_ns.entry(t.meta.namespace.as_str()).or_default().push(t);
        }
        for (ns, list) in by_ns.into_iter().filter(|(_, l)| l.len() > 1) {
            let names = sorted_names(&list);
            for t in list {
                let args = vec![names.clone().into(), ns.into()];
                ctx.report(
                    t,
                    None,
                    catalogue::MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
                    args,
                );
            }
        }
    }
}

/// Flags tracing that uses a Lightstep extension provider, which is deprecated.
pub struct LightstepAnalyzer;

impl Analyzer for LightstepAnalyzer {
    fn name(&self) -> &'static str {
        "telemetry.LightstepAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that lightstep provider is still used"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::TELEMETRY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let lightstep: BTreeSet<&str> = arr_of(&ctx.mesh.config, "extensionProviders")
            .iter()
            .filter(|p| p.get("lightstep").is_some_and(|l| !l.is_null()))
            .map(|p| str_of(p, "name"))
            .collect();
        if lightstep.is_empty() {
            return;
        }
        let store = ctx.store;
        for t in store.list(kinds::TELEMETRY) {
            for (i, tracing) in arr_of(t.spec(), "tracing").iter().enumerate() {
                for (j, p) in arr_of(tracing, "providers").iter().enumerate() {
                    let name = str_of(p, "name");
                    if lightstep.contains(name) {
                        let text = format!(
                            "The Lightstep provider {name} is deprecated, please migrate to OpenTelemetry provider."
                        );
                        let path = format!("/spec/tracing/{i}/providers/{j}/name");
                        ctx.report(t, Some(&path), catalogue::DEPRECATED, vec![text.into()]);
                    }
                }
            }
        }
    }
}

/// Flags enabled access-logging entries with no providers when the mesh has no default
/// access-log provider.
pub struct ProviderAnalyzer;

impl Analyzer for ProviderAnalyzer {
    fn name(&self) -> &'static str {
        "telemetry.ProviderAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that providers in telemetry resource is valid"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::TELEMETRY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let defaults = ctx.mesh.config.pointer("/defaultProviders/accessLogging");
        if defaults
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return;
        }
        let store = ctx.store;
        for t in store.list(kinds::TELEMETRY) {
            for (i, log) in arr_of(t.spec(), "accessLogging").iter().enumerate() {
                let disabled = log
                    .get("disabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if !disabled && arr_of(log, "providers").is_empty() {
                    let args = vec![t.meta.name.clone().into(), t.meta.namespace.clone().into()];
                    let path = format!("/spec/accessLogging/{i}");
                    ctx.report(t, Some(&path), catalogue::INVALID_TELEMETRY_PROVIDER, args);
                }
            }
        }
    }
}

/// Flags Telemetry selectors that match no pod in their namespace, and pods that more than
/// one Telemetry selects.
pub struct SelectorAnalyzer;

impl Analyzer for SelectorAnalyzer {
    fn name(&self) -> &'static str {
        "telemetry.SelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Validates that telemetries that define a selector match at least one pod, and that there aren't multiple telemetry resources that select overlapping pods"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::TELEMETRY, kinds::POD]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        // Pods (by namespace and name) and the Telemetries selecting them.
        let mut selected: BTreeMap<(&str, &str), Vec<&Resource>> = BTreeMap::new();
        for t in store.list(kinds::TELEMETRY) {
            let selector = string_map(t.spec().pointer("/selector/matchLabels"));
            if selector.is_empty() {
                continue;
            }
            let mut found = false;
            for pod in store.list(kinds::POD) {
                if pod.meta.namespace == t.meta.namespace
                    && selector_matches(&selector, &pod.meta.labels)
                {
                    found = true;
                    selected
                        .entry((&pod.meta.namespace, &pod.meta.name))
                        .or_default()
                        .push(t);
                }
            }
            if !found {
                let first = selector
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or_default();
                let path = format!("/spec/selector/matchLabels/{first}");
                let args = vec!["selector".into(), label_selector_string(&selector).into()];
                ctx.report(
                    t,
                    Some(&path),
                    catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                    args,
                );
            }
        }
        for ((ns, pod), list) in selected.into_iter().filter(|(_, l)| l.len() > 1) {
            let names = sorted_names(&list);
            for t in list {
                let args = vec![names.clone().into(), ns.into(), pod.into()];
                ctx.report(
                    t,
                    Some("/metadata/name"),
                    catalogue::CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
                    args,
                );
            }
        }
    }
}
