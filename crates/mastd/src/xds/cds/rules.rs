//! Which DestinationRule applies to a service for a proxy, with Istio's precedence: a rule in
//! the proxy's namespace (any `exportTo` that includes it), else one the service's namespace
//! exports to the proxy, else one the root namespace exports. Within a namespace the rule for
//! the exact host wins over the most specific wildcard. Rules for the same host and namespace
//! are merged: subsets are concatenated, the first top-level traffic policy is kept. Among the
//! candidates, a rule whose `workloadSelector` matches the proxy (same namespace) wins for
//! outbound traffic; otherwise the selector-less one applies.

use std::collections::BTreeMap;

use mast_config::istio::networking::destination_rule::DestinationRule;
use mast_xds::Proxy;

use crate::model::{Config, Snapshot};
use crate::registry::Service;
use crate::xds::scope::{resolve_short_name, selects};

/// A DestinationRule as it applies: merged spec, and the name and namespace of the first
/// object merged (reported in cluster metadata).
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name of the (first) object.
    pub name: String,
    /// Namespace of the (first) object.
    pub namespace: String,
    /// The merged spec, `host` resolved to a FQDN.
    pub spec: DestinationRule,
}

impl Rule {
    /// Istio's `istio.config` metadata value for the rule.
    pub fn config_path(&self) -> String {
        format!(
            "/apis/networking.istio.io/v1/namespaces/{}/destination-rule/{}",
            self.namespace, self.name
        )
    }

    fn selector(&self) -> Option<&BTreeMap<String, String>> {
        self.spec
            .workload_selector
            .as_ref()
            .map(|w| &w.match_labels)
            .filter(|m| !m.is_empty())
    }
}

/// Traffic direction a rule is looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client side: workload selectors apply.
    Outbound,
    /// Server side (inbound clusters): only selector-less rules.
    Inbound,
}

/// A rule with its export set (empty: everyone).
#[derive(Debug, Clone)]
struct Entry {
    rule: Rule,
    export_to: Vec<String>,
}

/// Rules of one namespace bucket, by resolved host.
type Bucket = BTreeMap<String, Vec<Entry>>;

fn merge_into(
    bucket: &mut Bucket,
    cfg: &Config<DestinationRule>,
    host: &str,
    export_to: &[String],
) {
    let list = bucket.entry(host.to_string()).or_default();
    let sel = cfg
        .spec
        .workload_selector
        .as_ref()
        .map(|w| &w.match_labels)
        .filter(|m| !m.is_empty());
    let mut separate = true;
    for e in list.iter_mut() {
        if e.export_to != export_to || e.rule.selector() != sel {
            continue;
        }
        separate = false;
        for s in &cfg.spec.subsets {
            if e.rule.spec.subsets.iter().any(|x| x.name == s.name) {
                tracing::warn!(host, subset = %s.name, "duplicate subset while merging DestinationRules; first kept");
            } else {
                e.rule.spec.subsets.push(s.clone());
            }
        }
        if e.rule.spec.traffic_policy.is_none() {
            e.rule.spec.traffic_policy = cfg.spec.traffic_policy.clone();
        }
    }
    if separate {
        let mut spec = cfg.spec.clone();
        spec.host = host.to_string();
        list.push(Entry {
            rule: Rule {
                name: cfg.name.clone(),
                namespace: cfg.namespace.clone(),
                spec,
            },
            export_to: export_to.to_vec(),
        });
    }
}

/// The rules indexed as Istio's `destinationRuleIndex`.
#[derive(Debug, Default)]
struct Index {
    namespace_local: BTreeMap<String, Bucket>,
    exported: BTreeMap<String, Bucket>,
    root_local: Bucket,
}

fn index(snap: &Snapshot) -> Index {
    let mut idx = Index::default();
    let root = &snap.mesh.root_namespace;
    // rules with a selector come first, as Istio sorts them
    let mut rules: Vec<&Config<DestinationRule>> = snap.destination_rules.iter().collect();
    rules.sort_by_key(|r| {
        r.spec
            .workload_selector
            .as_ref()
            .is_none_or(|w| w.match_labels.is_empty())
    });
    for cfg in rules {
        let host = resolve_short_name(&cfg.spec.host, &cfg.namespace);
        let ns = &cfg.namespace;
        let export_to: Vec<String> = if cfg.spec.workload_selector.is_some() {
            vec![".".into()]
        } else {
            cfg.spec.export_to.clone()
        };
        if export_to.is_empty() || export_to.iter().any(|e| e == "*" || e == "." || e == ns) {
            merge_into(
                idx.namespace_local.entry(ns.clone()).or_default(),
                cfg,
                &host,
                &export_to,
            );
        }
        let private_only = export_to.len() == 1 && (export_to[0] == "." || &export_to[0] == ns);
        if !private_only {
            merge_into(
                idx.exported.entry(ns.clone()).or_default(),
                cfg,
                &host,
                &export_to,
            );
        } else if ns == root {
            merge_into(&mut idx.root_local, cfg, &host, &export_to);
        }
    }
    idx
}

/// The entries for the most specific host of `bucket` matching `needle`.
fn most_specific<'a>(bucket: &'a Bucket, needle: &str) -> Option<&'a Vec<Entry>> {
    if let Some(e) = bucket.get(needle) {
        return Some(e);
    }
    let suffix = needle.strip_prefix('*').unwrap_or(needle);
    bucket
        .iter()
        .filter_map(|(h, e)| h.strip_prefix('*').map(|w| (w, e)))
        .filter(|(w, _)| suffix.ends_with(w))
        .max_by_key(|(w, _)| w.len())
        .map(|(_, e)| e)
}

fn exported_to<'a>(idx: &'a Index, owner: &str, host: &str, client: &str) -> Vec<&'a Entry> {
    idx.exported
        .get(owner)
        .and_then(|b| most_specific(b, host))
        .map(|list| {
            list.iter()
                .filter(|e| {
                    e.export_to.is_empty() || e.export_to.iter().any(|x| x == "*" || x == client)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn candidates<'a>(
    idx: &'a Index,
    snap: &Snapshot,
    client: &str,
    service: &Service,
) -> Vec<&'a Entry> {
    let host = service.hostname.as_str();
    let root = snap.mesh.root_namespace.as_str();
    let local = if client != root {
        idx.namespace_local.get(client)
    } else {
        Some(&idx.root_local)
    };
    if let Some(found) = local.and_then(|b| most_specific(b, host)) {
        return found.iter().collect();
    }
    let out = exported_to(idx, &service.namespace, host, client);
    if !out.is_empty() {
        return out;
    }
    exported_to(idx, root, host, client)
}

/// The DestinationRules of a snapshot, indexed once for many lookups.
#[derive(Debug)]
pub struct Rules {
    idx: Index,
}

impl Rules {
    /// Indexes the snapshot's rules.
    pub fn new(snap: &Snapshot) -> Rules {
        Rules { idx: index(snap) }
    }

    /// The DestinationRule that applies to `service` for `proxy`, if any.
    pub fn lookup(
        &self,
        snap: &Snapshot,
        proxy: &Proxy,
        service: &Service,
        dir: Direction,
    ) -> Option<Rule> {
        let mut catch_all = None;
        for e in candidates(&self.idx, snap, &proxy.namespace, service) {
            match e.rule.selector() {
                None => catch_all = Some(&e.rule),
                Some(sel) => {
                    if dir == Direction::Outbound
                        && e.rule.namespace == proxy.namespace
                        && selects(sel, &proxy.labels)
                    {
                        return Some(e.rule.clone());
                    }
                }
            }
        }
        catch_all.cloned()
    }
}

/// The DestinationRule that applies to `service` for `proxy`, if any (one-off lookup; use
/// [`Rules`] for many).
pub fn destination_rule(
    snap: &Snapshot,
    proxy: &Proxy,
    service: &Service,
    dir: Direction,
) -> Option<Rule> {
    Rules::new(snap).lookup(snap, proxy, service, dir)
}
