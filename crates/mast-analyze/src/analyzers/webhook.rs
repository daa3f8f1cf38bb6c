//! Istio's `webhook` analyzers: Istio's sidecar-injection webhooks must not overlap, and must
//! point at a Service that exists.
//!
//! Also home of two helpers other analyzers share: Kubernetes label-selector matching and
//! reporting each distinct message once.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::message::{Arg, MessageType, ResourceRef, render};
use crate::util::{arr_of, str_of, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(WebhookAnalyzer)]
}

/// The label carrying a control-plane revision.
pub(crate) const REVISION_LABEL: &str = "istio.io/rev";

/// Reports each distinct message once: Istio drops a message identical to one already reported
/// (same code, text and object) when neither carries a field line, which is the case for every
/// message whose field is a mapping or that names no field. The `path` reported with the first
/// one is kept for display only.
#[derive(Default)]
pub(crate) struct Once {
    seen: HashSet<(&'static str, String, String)>,
}

impl Once {
    /// Reports the message unless an identical one was reported through `self` before.
    pub(crate) fn report(
        &mut self,
        ctx: &mut Context<'_>,
        r: &Resource,
        path: Option<&str>,
        kind: MessageType,
        args: Vec<Arg>,
    ) {
        let object = format!("{} {}", ResourceRef::new(r, None).friendly_name(), r.origin);
        if self
            .seen
            .insert((kind.code, render(kind.template, &args), object))
        {
            ctx.report(r, path, kind, args);
        }
    }
}

/// Whether a Kubernetes `LabelSelector` (`matchLabels`, `matchExpressions`) selects `labels`.
/// An absent or empty selector selects everything; an invalid one selects nothing.
pub(crate) fn label_selector_matches(
    selector: Option<&Value>,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(sel) = selector.filter(|v| !v.is_null()) else {
        return true;
    };
    let match_labels = string_map(sel.get("matchLabels"));
    if !match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    arr_of(sel, "matchExpressions")
        .iter()
        .all(|e| expression_matches(e, labels) == Some(true))
}

/// One `matchExpressions` requirement; `None` when it is invalid.
fn expression_matches(e: &Value, labels: &BTreeMap<String, String>) -> Option<bool> {
    let key = str_of(e, "key");
    let values: Vec<&str> = arr_of(e, "values")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let value = labels.get(key).map(String::as_str);
    match str_of(e, "operator") {
        "In" if !values.is_empty() => Some(value.is_some_and(|v| values.contains(&v))),
        "NotIn" if !values.is_empty() => Some(!value.is_some_and(|v| values.contains(&v))),
        "Exists" if values.is_empty() => Some(value.is_some()),
        "DoesNotExist" if values.is_empty() => Some(value.is_none()),
        _ => None,
    }
}

/// `webhook.Analyzer`.
struct WebhookAnalyzer;

/// One webhook of a MutatingWebhookConfiguration, with the configuration it belongs to.
struct Hook<'a> {
    config: &'a Resource,
    index: usize,
    value: &'a Value,
}

impl Hook<'_> {
    fn name(&self) -> &str {
        str_of(self.value, "name")
    }

    /// `configuration/webhook`, as the overlap message names it.
    fn full_name(&self) -> String {
        format!("{}/{}", self.config.meta.name, self.name())
    }

    fn path(&self) -> String {
        format!("/webhooks/{}", self.index)
    }

    fn matches(
        &self,
        ns_labels: &BTreeMap<String, String>,
        obj_labels: &BTreeMap<String, String>,
    ) -> bool {
        label_selector_matches(self.value.get("namespaceSelector"), ns_labels)
            && label_selector_matches(self.value.get("objectSelector"), obj_labels)
    }
}

impl Analyzer for WebhookAnalyzer {
    fn name(&self) -> &'static str {
        "webhook.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of Istio webhooks"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::MUTATING_WEBHOOK, kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut hooks = Vec::new();
        let mut revisions = BTreeSet::new();
        for cfg in store.list(kinds::MUTATING_WEBHOOK) {
            let revs = revisions_of(cfg);
            if revs.is_empty() && !is_istio_webhook(cfg) {
                continue;
            }
            revisions.extend(revs);
            hooks.extend(arr_of(&cfg.value, "webhooks").iter().enumerate().map(
                |(index, value)| Hook {
                    config: cfg,
                    index,
                    value,
                },
            ));
        }
        let mut once = Once::default();
        report_overlaps(ctx, &mut once, &hooks, &revisions);
        report_missing_services(ctx, &mut once, &hooks);
    }
}

/// Whether any webhook of the configuration is one of Istio's (`*istio.io`).
fn is_istio_webhook(cfg: &Resource) -> bool {
    arr_of(&cfg.value, "webhooks")
        .iter()
        .any(|w| str_of(w, "name").ends_with("istio.io"))
}

/// The revisions a configuration serves: its `istio.io/rev` label and the revisions its
/// webhooks' selectors name.
fn revisions_of(cfg: &Resource) -> BTreeSet<String> {
    let mut revs = BTreeSet::new();
    if let Some(r) = cfg.meta.labels.get(REVISION_LABEL) {
        revs.insert(r.clone());
    }
    for w in arr_of(&cfg.value, "webhooks") {
        for sel in ["namespaceSelector", "objectSelector"] {
            let Some(s) = w.get(sel) else { continue };
            if let Some(r) = string_map(s.get("matchLabels")).remove(REVISION_LABEL) {
                revs.insert(r);
            }
            for e in arr_of(s, "matchExpressions") {
                if str_of(e, "key") == REVISION_LABEL {
                    revs.extend(
                        arr_of(e, "values")
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string),
                    );
                }
            }
        }
    }
    revs
}

/// The label sets to probe with: none, enabled, disabled; then each again with every revision.
fn probe_label_sets(
    key: &str,
    on: &str,
    off: &str,
    revisions: &BTreeSet<String>,
) -> Vec<BTreeMap<String, String>> {
    let base = || -> Vec<BTreeMap<String, String>> {
        vec![
            BTreeMap::new(),
            BTreeMap::from([(key.to_string(), on.to_string())]),
            BTreeMap::from([(key.to_string(), off.to_string())]),
        ]
    };
    let mut sets = base();
    for rev in revisions {
        for mut s in base() {
            s.insert(REVISION_LABEL.to_string(), rev.clone());
            sets.push(s);
        }
    }
    sets
}

/// Reports every webhook that, for some namespace/object label combination, would fire
/// together with another.
fn report_overlaps(
    ctx: &mut Context<'_>,
    once: &mut Once,
    hooks: &[Hook<'_>],
    revisions: &BTreeSet<String>,
) {
    let namespaces = probe_label_sets("istio-injection", "enabled", "disabled", revisions);
    let objects = probe_label_sets("sidecar.istio.io/inject", "true", "false", revisions);
    for ns in &namespaces {
        for obj in &objects {
            let matched: BTreeMap<String, &Hook<'_>> = hooks
                .iter()
                .filter(|h| h.matches(ns, obj))
                .map(|h| (h.full_name(), h))
                .collect();
            if matched.len() < 2 {
                continue;
            }
            for (me, h) in &matched {
                let others: Vec<&str> = matched
                    .keys()
                    .filter(|n| *n != me)
                    .map(String::as_str)
                    .collect();
                let text = format!(
                    "Webhook overlaps with others: [{}]. This may cause injection to occur twice.",
                    others.join(" ")
                );
                once.report(
                    ctx,
                    h.config,
                    Some(&h.path()),
                    catalogue::INVALID_WEBHOOK,
                    vec![text.into()],
                );
            }
        }
    }
}

/// Reports webhooks whose `clientConfig.service` names a Service that is not there.
fn report_missing_services(ctx: &mut Context<'_>, once: &mut Once, hooks: &[Hook<'_>]) {
    for h in hooks {
        let Some(svc) = h
            .value
            .get("clientConfig")
            .and_then(|c| c.get("service"))
            .filter(|s| !s.is_null())
        else {
            continue;
        };
        let (ns, name) = (str_of(svc, "namespace"), str_of(svc, "name"));
        if ctx.store.get(kinds::SERVICE, ns, name).is_some() {
            continue;
        }
        let text =
            format!("Injector refers to a control plane service that does not exist: {ns}/{name}.");
        let path = format!("{}/clientConfig/service", h.path());
        once.report(
            ctx,
            h.config,
            Some(&path),
            catalogue::INVALID_WEBHOOK,
            vec![text.into()],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        let cases = [
            (None, true),
            (Some(json!({})), true),
            (Some(json!({"matchLabels": {"a": "1"}})), true),
            (Some(json!({"matchLabels": {"a": "2"}})), false),
            (
                Some(
                    json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "3"]}]}),
                ),
                true,
            ),
            (
                Some(
                    json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}),
                ),
                false,
            ),
            (
                Some(
                    json!({"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["1"]}]}),
                ),
                true,
            ),
            (
                Some(json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]})),
                true,
            ),
            (
                Some(json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]})),
                true,
            ),
            // invalid: In without values
            (
                Some(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
                false,
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(
                label_selector_matches(sel.as_ref(), &labels),
                want,
                "{sel:?}"
            );
        }
    }
}
