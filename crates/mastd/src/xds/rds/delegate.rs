//! VirtualServices as generation reads them: short host names expanded in the namespace of
//! their object, and delegate VirtualServices merged into the routes of their root, as
//! istiod's push context prepares them.

use std::collections::BTreeMap;
use std::sync::Arc;

use mast_config::istio::common::StringMatch;
use mast_config::istio::networking::virtual_service::{
    Destination, HttpMatchRequest, HttpRoute, VirtualService,
};

use super::util::{MESH_GATEWAY, resolve_short_name, warn_once};
use crate::model::{Config, Snapshot};

/// A VirtualService ready for generation.
pub type ResolvedVs = Arc<Config<VirtualService>>;

/// Whether a config exported with `export_to` from `owner_ns` is visible in `namespace`
/// (`*` by default, `.` its own namespace, `~` nowhere).
pub fn exported_to(export_to: &[String], owner_ns: &str, namespace: &str) -> bool {
    if export_to.is_empty() {
        return true;
    }
    export_to.iter().any(|e| match e.as_str() {
        "*" => true,
        "." => owner_ns == namespace,
        "~" => false,
        other => other == namespace,
    })
}

/// Whether the VirtualService applies to sidecars (`gateways` empty or containing `mesh`).
pub fn bound_to_mesh(vs: &VirtualService) -> bool {
    vs.gateways.is_empty() || vs.gateways.iter().any(|g| g == MESH_GATEWAY)
}

/// Every root VirtualService of the snapshot (those with hosts), with short names resolved and
/// delegates merged, in snapshot order.
pub fn resolved_virtual_services(snap: &Snapshot) -> Vec<ResolvedVs> {
    snap.virtual_services
        .iter()
        .filter(|c| !c.spec.hosts.is_empty())
        .map(|c| {
            let mut out = c.clone();
            resolve(&mut out.spec, &c.namespace);
            if out.spec.http.iter().any(|h| h.delegate.is_some()) {
                out.spec.http = merge_delegates(snap, &c.namespace, &c.name, &out.spec.http);
            }
            Arc::new(out)
        })
        .collect()
}

fn resolve_destination(d: &mut Destination, ns: &str) {
    d.host = resolve_short_name(&d.host, ns);
}

fn resolve_http(routes: &mut [HttpRoute], ns: &str) {
    for r in routes {
        for d in r.route.iter_mut().filter_map(|d| d.destination.as_mut()) {
            resolve_destination(d, ns);
        }
        if let Some(m) = r.mirror.as_mut() {
            resolve_destination(m, ns);
        }
        for m in r.mirrors.iter_mut().filter_map(|m| m.destination.as_mut()) {
            resolve_destination(m, ns);
        }
    }
}

/// Expands short names in hosts and destinations (`ResolveVirtualServiceShortnames`).
pub fn resolve(vs: &mut VirtualService, ns: &str) {
    for h in &mut vs.hosts {
        *h = resolve_short_name(h, ns);
    }
    resolve_http(&mut vs.http, ns);
    for r in &mut vs.tcp {
        for d in r.route.iter_mut().filter_map(|d| d.destination.as_mut()) {
            resolve_destination(d, ns);
        }
    }
    for r in &mut vs.tls {
        for d in r.route.iter_mut().filter_map(|d| d.destination.as_mut()) {
            resolve_destination(d, ns);
        }
    }
}

fn merge_delegates(
    snap: &Snapshot,
    root_ns: &str,
    root_name: &str,
    routes: &[HttpRoute],
) -> Vec<HttpRoute> {
    let mut out = Vec::new();
    for route in routes {
        let Some(d) = &route.delegate else {
            out.push(route.clone());
            continue;
        };
        let ns = if d.namespace.is_empty() {
            root_ns
        } else {
            d.namespace.as_str()
        };
        let found = snap
            .virtual_services
            .iter()
            .find(|c| c.name == d.name && c.namespace == ns && c.spec.hosts.is_empty());
        let Some(delegate) = found else {
            warn_once(
                &format!("delegate {root_ns}/{root_name} {ns}/{}", d.name),
                &format!(
                    "VirtualService {root_ns}/{root_name}: delegate {ns}/{} not found; its routes are skipped",
                    d.name
                ),
            );
            continue;
        };
        if !exported_to(&delegate.spec.export_to, &delegate.namespace, root_ns) {
            warn_once(
                &format!("delegate-export {root_ns}/{root_name} {ns}/{}", d.name),
                &format!(
                    "VirtualService {root_ns}/{root_name}: delegate {ns}/{} is not exported to {root_ns}; skipped",
                    d.name
                ),
            );
            continue;
        }
        let mut leaves = delegate.spec.http.clone();
        resolve_http(&mut leaves, &delegate.namespace);
        let mut root = route.clone();
        root.delegate = None;
        out.extend(
            leaves
                .into_iter()
                .filter_map(|leaf| merge_route(&root, leaf)),
        );
    }
    out
}

/// Merges a delegate's route into its root's (`mergeHTTPRoute`); `None` when the matches
/// conflict.
pub fn merge_route(root: &HttpRoute, mut leaf: HttpRoute) -> Option<HttpRoute> {
    leaf.matches = merge_matches(&root.matches, &leaf.matches)?;
    leaf.name = match (root.name.is_empty(), leaf.name.is_empty()) {
        (_, true) => root.name.clone(),
        (false, false) => format!("{}-{}", root.name, leaf.name),
        (true, false) => leaf.name,
    };
    macro_rules! inherit {
        ($($f:ident),*) => { $( if leaf.$f.is_none() { leaf.$f = root.$f.clone(); } )* };
    }
    inherit!(
        rewrite,
        direct_response,
        timeout,
        retries,
        fault,
        mirror,
        mirror_percent,
        mirror_percentage,
        cors_policy,
        headers
    );
    if leaf.mirrors.is_empty() {
        leaf.mirrors = root.mirrors.clone();
    }
    Some(leaf)
}

fn merge_matches(
    root: &[HttpMatchRequest],
    leaf: &[HttpMatchRequest],
) -> Option<Vec<HttpMatchRequest>> {
    if root.is_empty() {
        return Some(leaf.to_vec());
    }
    if leaf.is_empty() {
        return Some(root.to_vec());
    }
    let mut out = Vec::new();
    for l in leaf {
        let merged: Vec<_> = root
            .iter()
            .filter(|r| !has_conflict(r, l))
            .map(|r| merge_match(r, l))
            .collect();
        if merged.is_empty() {
            return None;
        }
        out.extend(merged);
    }
    Some(out)
}

fn merge_map<V: Clone>(
    root: &BTreeMap<String, V>,
    leaf: &BTreeMap<String, V>,
) -> BTreeMap<String, V> {
    let mut out = root.clone();
    out.extend(leaf.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = match (root.name.is_empty(), out.name.is_empty()) {
        (_, true) => root.name.clone(),
        (false, false) => format!("{}-{}", root.name, out.name),
        (true, false) => out.name,
    };
    macro_rules! inherit {
        ($($f:ident),*) => { $( if out.$f.is_none() { out.$f = root.$f.clone(); } )* };
    }
    inherit!(uri, scheme, method, authority);
    out.headers = merge_map(&root.headers, &leaf.headers);
    out.without_headers = merge_map(&root.without_headers, &leaf.without_headers);
    out.query_params = merge_map(&root.query_params, &leaf.query_params);
    out.source_labels = merge_map(&root.source_labels, &leaf.source_labels);
    if out.port == 0 {
        out.port = root.port;
    }
    if out.source_namespace.is_empty() {
        out.source_namespace = root.source_namespace.clone();
    }
    if out.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    if out.stat_prefix.is_empty() {
        out.stat_prefix = root.stat_prefix.clone();
    }
    out
}

fn has_conflict(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    if pairs
        .iter()
        .any(|(r, l)| string_conflict(r.as_ref(), l.as_ref()))
    {
        return true;
    }
    let maps = [
        (&root.headers, &leaf.headers),
        (&root.without_headers, &leaf.without_headers),
        (&root.query_params, &leaf.query_params),
    ];
    if maps
        .iter()
        .any(|(r, l)| l.iter().any(|(k, v)| string_conflict(r.get(k), Some(v))))
    {
        return true;
    }
    if root.ignore_uri_case != leaf.ignore_uri_case
        || (root.port > 0 && leaf.port > 0 && root.port != leaf.port)
        || (!root.source_namespace.is_empty() && leaf.source_namespace != root.source_namespace)
    {
        return true;
    }
    if leaf
        .source_labels
        .iter()
        .any(|(k, v)| root.source_labels.get(k).is_some_and(|r| r != v))
    {
        return true;
    }
    !root.gateways.is_empty()
        && !leaf.gateways.is_empty()
        && leaf.gateways.iter().any(|g| !root.gateways.contains(g))
}

fn string_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
    if set(&root.regex) || set(&leaf.regex) {
        return true;
    }
    if set(&root.exact) {
        return set(&leaf.prefix) || leaf.exact != root.exact;
    }
    if let Some(p) = root.prefix.as_deref().filter(|p| !p.is_empty()) {
        if let Some(lp) = leaf.prefix.as_deref().filter(|p| !p.is_empty()) {
            return !lp.starts_with(p);
        }
        if let Some(le) = leaf.exact.as_deref().filter(|p| !p.is_empty()) {
            return !le.starts_with(p);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: serde_json::Value) -> HttpMatchRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conflicts() {
        let root = m(serde_json::json!({"uri": {"prefix": "/api"}}));
        assert!(!has_conflict(
            &root,
            &m(serde_json::json!({"uri": {"prefix": "/api/v1"}}))
        ));
        assert!(has_conflict(
            &root,
            &m(serde_json::json!({"uri": {"prefix": "/other"}}))
        ));
        assert!(!has_conflict(
            &root,
            &m(serde_json::json!({"uri": {"exact": "/api/x"}}))
        ));
        assert!(has_conflict(
            &root,
            &m(serde_json::json!({"uri": {"regex": "/api.*"}}))
        ));
        assert!(!has_conflict(
            &root,
            &m(serde_json::json!({"headers": {"a": {"exact": "b"}}}))
        ));
    }

    #[test]
    fn merge() {
        let root: HttpRoute = serde_json::from_value(serde_json::json!({
            "name": "root", "match": [{"uri": {"prefix": "/api"}, "headers": {"x": {"exact": "1"}}}], "timeout": "5s"
        }))
        .unwrap();
        let leaf: HttpRoute = serde_json::from_value(serde_json::json!({
            "name": "leaf", "match": [{"uri": {"prefix": "/api/v1"}}], "route": [{"destination": {"host": "a"}}]
        }))
        .unwrap();
        let out = merge_route(&root, leaf).unwrap();
        assert_eq!(out.name, "root-leaf");
        assert_eq!(out.timeout.as_deref(), Some("5s"));
        assert_eq!(out.matches[0].uri.as_ref().unwrap().prefix(), "/api/v1");
        assert_eq!(out.matches[0].headers.len(), 1);
        let bad: HttpRoute =
            serde_json::from_value(serde_json::json!({"match": [{"uri": {"prefix": "/x"}}]}))
                .unwrap();
        assert!(merge_route(&root, bad).is_none());
    }

    #[test]
    fn export() {
        assert!(exported_to(&[], "a", "b"));
        assert!(!exported_to(&[".".into()], "a", "b"));
        assert!(exported_to(&[".".into()], "a", "a"));
        assert!(exported_to(&["b".into()], "a", "b"));
        assert!(!exported_to(&["~".into()], "a", "a"));
    }
}
