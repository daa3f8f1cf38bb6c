//! Service lookups shared by the analyzers that resolve a destination host: every
//! `ServiceEntry` host and every Kubernetes `Service` becomes a service visible in some
//! namespaces (its export scope), keyed as `scope/fqdn`, as Istio's analyzer utilities do.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::context::{Store, kinds};
use crate::util::{arr_of, string_map};

/// The export scope that makes a service visible everywhere.
pub(crate) const EXPORT_ALL: &str = "*";
/// The export scope that keeps a service in its own namespace.
pub(crate) const EXPORT_LOCAL: &str = ".";
/// The annotation through which a Kubernetes Service names its export scopes.
const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";
/// The Kubernetes cluster DNS suffix of service FQDNs.
const SVC_SUFFIX: &str = "svc.cluster.local";

/// What a host lookup finds: the ports a service exposes and, for a `ServiceEntry`, the
/// workload selector of its endpoints.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServiceInfo {
    /// Port numbers, in declaration order.
    pub ports: Vec<u32>,
    /// `spec.workloadSelector.labels` of a ServiceEntry (empty for Kubernetes Services).
    pub workload_selector: BTreeMap<String, String>,
}

/// Every service visible to the mesh, keyed by `scope/fqdn`.
#[derive(Debug, Default)]
pub(crate) struct ServiceHosts {
    by_scoped_host: BTreeMap<String, ServiceInfo>,
}

/// Turns `host` into an FQDN in `namespace` unless it is a wildcard or already has a dot.
pub(crate) fn host_to_fqdn(namespace: &str, host: &str) -> String {
    if host.starts_with('*') || host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.{namespace}.{SVC_SUFFIX}")
    }
}

/// The `scope/fqdn` key of `host` (short names resolved in `namespace`).
pub(crate) fn scoped_fqdn(scope: &str, namespace: &str, host: &str) -> String {
    format!("{scope}/{}", host_to_fqdn(namespace, host))
}

/// Splits a `scope/fqdn` key.
pub(crate) fn split_scoped(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or((key, ""))
}

/// `(name, namespace)` of a Kubernetes service FQDN `name.namespace.svc.cluster.local`.
pub(crate) fn name_from_fqdn(fqdn: &str) -> Option<(String, String)> {
    let rest = fqdn.strip_suffix(".svc.cluster.local")?;
    let (name, ns) = rest.rsplit_once('.')?;
    (!name.is_empty() && !ns.is_empty()).then(|| (name.to_string(), ns.to_string()))
}

/// The `(namespace, name)` a destination host refers to: the parts of a service FQDN, or the
/// host itself in `default_ns`.
pub(crate) fn resource_name_from_host(default_ns: &str, host: &str) -> (String, String) {
    match name_from_fqdn(host) {
        Some((name, ns)) => (ns, name),
        None => (default_ns.to_string(), host.to_string()),
    }
}

/// Whether an `exportTo` list exports to every namespace (empty, or containing `*`).
pub(crate) fn exports_to_all(export_to: &[String]) -> bool {
    export_to.is_empty() || export_to.iter().any(|e| e == EXPORT_ALL)
}

/// The strings of an array field.
pub(crate) fn strings_of(v: &Value, key: &str) -> Vec<String> {
    arr_of(v, key)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A `uint32` field, or 0.
pub(crate) fn u32_of(v: &Value, key: &str) -> u32 {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// The namespaces a Kubernetes Service is visible in, from its `exportTo` annotation.
fn service_scopes(annotation: Option<&String>, namespace: &str) -> Vec<String> {
    match annotation.map(String::as_str) {
        None | Some("") => vec![EXPORT_ALL.to_string()],
        Some(a) => a
            .split(',')
            .map(str::trim)
            .map(|ns| {
                if ns == EXPORT_LOCAL {
                    namespace.to_string()
                } else {
                    ns.to_string()
                }
            })
            .collect(),
    }
}

/// The scopes a ServiceEntry's hosts are registered under.
fn service_entry_scopes(export_to: &[String], namespace: &str) -> Vec<String> {
    if export_to.is_empty() {
        return vec![EXPORT_ALL.to_string()];
    }
    let mut scopes = Vec::new();
    for e in export_to {
        match e.as_str() {
            EXPORT_ALL => {
                scopes.push(EXPORT_ALL.to_string());
                break;
            }
            EXPORT_LOCAL => scopes.push(namespace.to_string()),
            other => scopes.push(other.to_string()),
        }
    }
    scopes
}

impl ServiceHosts {
    /// Collects the ServiceEntries and Kubernetes Services of `store`; a Service replaces a
    /// ServiceEntry registered under the same key.
    pub(crate) fn from_store(store: &Store) -> ServiceHosts {
        let mut out = ServiceHosts::default();
        for r in store.list(kinds::SERVICE_ENTRY) {
            let spec = r.spec();
            let info = ServiceInfo {
                ports: arr_of(spec, "ports")
                    .iter()
                    .map(|p| u32_of(p, "number"))
                    .collect(),
                workload_selector: string_map(
                    spec.get("workloadSelector").and_then(|w| w.get("labels")),
                ),
            };
            let ns = &r.meta.namespace;
            let scopes = service_entry_scopes(&strings_of(spec, "exportTo"), ns);
            for host in strings_of(spec, "hosts") {
                for scope in &scopes {
                    out.by_scoped_host
                        .insert(scoped_fqdn(scope, ns, &host), info.clone());
                }
            }
        }
        for r in store.list(kinds::SERVICE) {
            let info = ServiceInfo {
                ports: arr_of(r.spec(), "ports")
                    .iter()
                    .map(|p| u32_of(p, "port"))
                    .collect(),
                workload_selector: BTreeMap::new(),
            };
            let ns = &r.meta.namespace;
            for scope in service_scopes(r.meta.annotations.get(EXPORT_TO_ANNOTATION), ns) {
                out.by_scoped_host
                    .insert(scoped_fqdn(&scope, ns, &r.meta.name), info.clone());
            }
        }
        out
    }

    /// The service `host` names as seen from namespace `source_ns` of a config exported to
    /// `export_to`: an exact match visible everywhere, then one visible in the config's export
    /// scopes, then a wildcard service visible everywhere or in `source_ns` whose suffix covers
    /// the host.
    pub(crate) fn lookup(
        &self,
        source_ns: &str,
        export_to: &[String],
        host: &str,
    ) -> Option<&ServiceInfo> {
        if let Some(s) = self
            .by_scoped_host
            .get(&scoped_fqdn(EXPORT_ALL, source_ns, host))
        {
            return Some(s);
        }
        let scopes: Vec<&str> = if export_to.is_empty() {
            vec![source_ns]
        } else {
            export_to
                .iter()
                .map(|e| {
                    if e == EXPORT_LOCAL {
                        source_ns
                    } else {
                        e.as_str()
                    }
                })
                .collect()
        };
        for scope in scopes {
            if let Some(s) = self
                .by_scoped_host
                .get(&scoped_fqdn(scope, source_ns, host))
            {
                return Some(s);
            }
        }
        self.wildcard_lookup(source_ns, host)
    }

    fn wildcard_lookup(&self, source_ns: &str, host: &str) -> Option<&ServiceInfo> {
        let host_suffix = host.strip_prefix('*').unwrap_or(host);
        self.by_scoped_host.iter().find_map(|(key, s)| {
            let (scope, se_host) = split_scoped(key);
            let se_suffix = se_host.strip_prefix('*')?;
            let visible = scope == EXPORT_ALL || scope == source_ns;
            (visible && host_suffix.ends_with(se_suffix)).then_some(s)
        })
    }
}

/// Whether two host names match, as Istio's `host.Name.Matches`: a wildcard `*.x` covers every
/// name ending in `.x`, two wildcards match when one suffix ends with the other, and plain names
/// match only themselves.
pub(crate) fn names_match(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if a.len() < b.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// A label map as Kubernetes prints the equality selector built from it: `k=v` pairs sorted by
/// key and joined by commas (empty for an empty map).
pub(crate) fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The key of the first pair of a printed selector (`istio` of `istio=ingressgateway`), used
/// to point at the selector field.
pub(crate) fn first_selector_label(selector: &str) -> &str {
    selector.split_once('=').map(|(k, _)| k).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_parts() {
        let cases = [
            (
                "reviews.default.svc.cluster.local",
                Some(("reviews", "default")),
            ),
            ("a.b.c.svc.cluster.local", Some(("a.b", "c"))),
            ("reviews", None),
            ("google.com", None),
        ];
        for (host, want) in cases {
            let got = name_from_fqdn(host);
            assert_eq!(
                got.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                want,
                "{host}"
            );
        }
        assert_eq!(host_to_fqdn("ns", "r"), "r.ns.svc.cluster.local");
        assert_eq!(host_to_fqdn("ns", "*.r"), "*.r");
        assert_eq!(
            resource_name_from_host("d", "r"),
            ("d".to_string(), "r".to_string())
        );
    }

    #[test]
    fn host_names_match() {
        let cases = [
            ("*", "a.com", true),
            ("*.productpage.d", "*.d", true),
            ("*.d", "*.productpage.d", true),
            ("*.a.com", "b.a.com", true),
            ("b.a.com", "*.a.com", true),
            ("a.com", "b.com", false),
            ("*.a.com", "a.com", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(names_match(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn scopes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(service_entry_scopes(&[], "ns"), s(&["*"]));
        assert_eq!(service_entry_scopes(&s(&[".", "a"]), "ns"), s(&["ns", "a"]));
        assert_eq!(
            service_entry_scopes(&s(&["a", "*", "b"]), "ns"),
            s(&["a", "*"])
        );
        let anno = "hello1, hello2,.".to_string();
        assert_eq!(
            service_scopes(Some(&anno), "hello"),
            s(&["hello1", "hello2", "hello"])
        );
        assert_eq!(service_scopes(None, "x"), s(&["*"]));
        assert!(exports_to_all(&[]));
        assert!(!exports_to_all(&s(&["bogus"])));
    }
}
