//! Istio's `injection` analyzers: namespaces and pods that should carry the sidecar, proxies
//! running an image other than the injector's, and `image: auto` workloads no webhook injects.
//!
//! Also home of the sidecar-related helpers other analyzers share (control-plane objects,
//! whether a workload is in the mesh).

use std::collections::{BTreeMap, BTreeSet};

use mast_config::Resource;
use serde_json::Value;

use super::webhook::label_selector_matches;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Compat, Context, Kind, Mesh, Store, kinds};
use crate::util::{arr_of, str_of, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(InjectionAnalyzer),
        Box::new(ImageAnalyzer),
        Box::new(ImageAutoAnalyzer),
    ]
}

/// The sidecar container's name.
pub(crate) const PROXY_CONTAINER: &str = "istio-proxy";
/// The operator container's name.
pub(crate) const OPERATOR_CONTAINER: &str = "istio-operator";
/// The namespace label that turns injection on (`enabled`) or off.
pub(crate) const INJECTION_LABEL: &str = "istio-injection";
/// The pod label (and deprecated annotation) that turns injection on or off.
pub(crate) const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
/// The namespace label that puts a namespace in ambient mode (`ambient`).
const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
/// The injector ConfigMap of the default revision.
const INJECTOR_CONFIG_MAP: &str = "istio-sidecar-injector";
/// The namespace Istio's injection analyzer never checks.
const ISTIO_SYSTEM: &str = "istio-system";

/// Whether `r` belongs to Istio's control plane (labelled `istio`, or `release: istio`).
pub(crate) fn is_istio_control_plane(r: &Resource) -> bool {
    r.meta.labels.contains_key("istio")
        || r.meta.labels.get("release").is_some_and(|v| v == "istio")
}

/// Whether a Deployment's pods are in the mesh: they carry the proxy, or injection is asked
/// for by their label, their annotation or their namespace's label (in that order).
pub(crate) fn deployment_in_mesh(store: &Store, d: &Resource) -> bool {
    let template = d.spec().get("template").unwrap_or(&Value::Null);
    let meta = template.get("metadata").unwrap_or(&Value::Null);
    let containers = arr_of(template.get("spec").unwrap_or(&Value::Null), "containers");
    in_mesh(
        store,
        &string_map(meta.get("annotations")),
        &string_map(meta.get("labels")),
        &d.meta.namespace,
        containers.iter(),
    )
}

fn in_mesh<'a>(
    store: &Store,
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    namespace: &str,
    mut containers: impl Iterator<Item = &'a Value>,
) -> bool {
    if containers
        .find(|c| str_of(c, "name") == PROXY_CONTAINER)
        .is_some_and(|c| !str_of(c, "image").is_empty())
    {
        return true;
    }
    if let Some(v) = labels
        .get(SIDECAR_INJECT)
        .or_else(|| annotations.get(SIDECAR_INJECT))
    {
        return v == "true";
    }
    store
        .get(kinds::NAMESPACE, "", namespace)
        .is_some_and(|ns| {
            ns.meta
                .labels
                .get(INJECTION_LABEL)
                .is_some_and(|v| v == "enabled")
        })
}

/// The injector ConfigMap's name for a revision (`default` and none are the plain name).
fn injector_config_map_name(revision: &str) -> String {
    if revision.is_empty() || revision == "default" {
        INJECTOR_CONFIG_MAP.to_string()
    } else {
        format!("{INJECTOR_CONFIG_MAP}-{revision}")
    }
}

/// The `values` document of an injector ConfigMap, parsed.
fn injector_values(cm: &Resource) -> Option<Value> {
    let text = cm.value.get("data")?.get("values")?.as_str()?;
    serde_json::from_str(text).ok()
}

/// The containers and init containers of a pod spec.
fn all_containers(spec: &Value) -> impl Iterator<Item = &Value> {
    arr_of(spec, "containers")
        .iter()
        .chain(arr_of(spec, "initContainers"))
}

/// `injection.Analyzer`.
struct InjectionAnalyzer;

impl Analyzer for InjectionAnalyzer {
    fn name(&self) -> &'static str {
        "injection.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks conditions related to Istio sidecar injection"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::NAMESPACE, kinds::POD, kinds::CONFIG_MAP]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut enabled_by_default = false;
        let mut injected = BTreeSet::new();
        for ns in store.list(kinds::NAMESPACE) {
            if ns.meta.name == ISTIO_SYSTEM {
                continue;
            }
            if check_namespace(ctx, ns, &mut enabled_by_default) {
                injected.insert(ns.meta.name.clone());
            }
        }
        for pod in store.list(kinds::POD) {
            if injected.contains(&pod.meta.namespace) && pod_lacks_proxy(pod) {
                let name = pod.namespaced_name();
                ctx.report(pod, None, catalogue::POD_MISSING_PROXY, vec![name.into()]);
            }
        }
    }
}

/// The injection labels of a namespace that count towards "more than one kind of label":
/// `istio-injection`, and `istio.io/rev` and the dataplane mode unless the legacy label is there
/// with a value other than `enabled`.
fn injection_labels(labels: &BTreeMap<String, String>) -> Vec<String> {
    let legacy = labels.get(INJECTION_LABEL);
    let mut out: Vec<String> = legacy
        .map(|v| format!("{INJECTION_LABEL}={v}"))
        .into_iter()
        .collect();
    if legacy.is_none_or(|v| v == "enabled") {
        for key in [super::webhook::REVISION_LABEL, DATAPLANE_MODE_LABEL] {
            if let Some(v) = labels.get(key) {
                out.push(format!("{key}={v}"));
            }
        }
    }
    out
}

/// Reports on one namespace; returns whether it is injected. `enabled_by_default` carries the
/// injector's `enableNamespacesByDefault` from the last injector ConfigMap seen.
fn check_namespace(ctx: &mut Context<'_>, ns: &Resource, enabled_by_default: &mut bool) -> bool {
    let labels = &ns.meta.labels;
    let found = injection_labels(labels);
    if found.len() > 1 {
        ctx.report(
            ns,
            Some("/metadata/labels"),
            catalogue::NAMESPACE_MULTIPLE_INJECTION_LABELS,
            vec![found.into()],
        );
    }
    if labels
        .get(DATAPLANE_MODE_LABEL)
        .is_some_and(|v| v == "ambient")
    {
        return false;
    }
    let revision = labels.get(super::webhook::REVISION_LABEL);
    let cm_name = injector_config_map_name(revision.map(String::as_str).unwrap_or_default());
    if let Some(cm) = ctx
        .store
        .list(kinds::CONFIG_MAP)
        .find(|cm| cm.meta.name == cm_name)
    {
        *enabled_by_default = injector_values(cm)
            .and_then(|v| {
                v.get("sidecarInjectorWebhook")?
                    .get("enableNamespacesByDefault")?
                    .as_bool()
            })
            .unwrap_or(false);
    }
    let legacy = labels
        .get(INJECTION_LABEL)
        .map(String::as_str)
        .unwrap_or_default();
    if legacy.is_empty() && revision.is_none() {
        if *enabled_by_default {
            ctx.report(
                ns,
                None,
                catalogue::NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
                vec![],
            );
        } else {
            let name = ns.meta.name.clone();
            let args = vec![name.clone().into(), name.into()];
            ctx.report(
                ns,
                Some("/metadata/name"),
                catalogue::NAMESPACE_NOT_INJECTED,
                args,
            );
        }
        return false;
    }
    legacy == "enabled"
}

/// Whether a pod of an injected namespace should carry the proxy and does not.
fn pod_lacks_proxy(pod: &Resource) -> bool {
    let inject = pod
        .meta
        .labels
        .get(SIDECAR_INJECT)
        .or_else(|| pod.meta.annotations.get(SIDECAR_INJECT));
    if inject.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return false;
    }
    let spec = pod.spec();
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        return false;
    }
    let proxy = all_containers(spec).find(|c| str_of(c, "name") == PROXY_CONTAINER);
    proxy.is_none_or(|c| str_of(c, "image").is_empty())
}

/// `injection.ImageAnalyzer`.
struct ImageAnalyzer;

impl Analyzer for ImageAnalyzer {
    fn name(&self) -> &'static str {
        "injection.ImageAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the image of auto-injection configured with the running proxies on pods"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::NAMESPACE,
            kinds::POD,
            kinds::CONFIG_MAP,
            kinds::PROXY_CONFIG,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        if ctx.mesh.compat == Compat::Istio1_5 {
            // 1.5 reported IST0105 per pod against the one default injector, without revisions.
            analyze_images_1_5(ctx);
            return;
        }
        let store = ctx.store;
        let images: BTreeMap<String, String> = store
            .list(kinds::CONFIG_MAP)
            .filter(|cm| cm.meta.name.starts_with(INJECTOR_CONFIG_MAP))
            .map(|cm| (cm.meta.name.clone(), injector_proxy_image(cm)))
            .collect();
        if images.is_empty() {
            return;
        }
        let revisions = injected_namespace_revisions(store);
        let resolver = ImageTypeResolver::new(store, ctx.mesh);
        let mut mismatched: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pod in store.list(kinds::POD) {
            let Some(rev) = revisions.get(&pod.meta.namespace) else {
                continue;
            };
            if pod
                .meta
                .annotations
                .get("sidecar.istio.io/proxyImage")
                .is_some_and(|v| !v.is_empty())
            {
                continue;
            }
            let Some(want) = images.get(&injector_config_map_name(rev)) else {
                continue;
            };
            let variant = resolver.image_type(pod);
            let stale = all_containers(pod.spec())
                .filter(|c| str_of(c, "name") == PROXY_CONTAINER)
                .filter(|c| !image_matches(str_of(c, "image"), want, &variant))
                .count();
            for _ in 0..stale {
                mismatched
                    .entry(pod.meta.namespace.clone())
                    .or_default()
                    .push(pod.meta.name.clone());
            }
        }
        for (ns, mut pods) in mismatched {
            pods.sort();
            if let Some(r) = store.get(kinds::NAMESPACE, "", &ns) {
                ctx.report(
                    r,
                    None,
                    catalogue::PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
                    vec![pods.into()],
                );
            }
        }
    }
}

/// Istio 1.5's image check: the `hub/image:tag` of the first `istio-sidecar-injector` ConfigMap
/// against each proxy container of the pods of namespaces labelled `istio-injection=enabled`,
/// reported on the pod.
fn analyze_images_1_5(ctx: &mut Context<'_>) {
    let store = ctx.store;
    let Some(want) = store
        .list(kinds::CONFIG_MAP)
        .find(|cm| cm.meta.name == INJECTOR_CONFIG_MAP)
        .and_then(injector_proxy_image_1_5)
    else {
        return;
    };
    let injected: BTreeSet<&str> = store
        .list(kinds::NAMESPACE)
        .filter(|ns| {
            let label = ns.meta.labels.get(INJECTION_LABEL);
            label.is_some_and(|v| v == "enabled")
        })
        .map(|ns| ns.meta.name.as_str())
        .collect();
    for pod in store.list(kinds::POD) {
        let custom = pod.meta.annotations.get("sidecar.istio.io/proxyImage");
        if !injected.contains(pod.meta.namespace.as_str()) || custom.is_some_and(|v| !v.is_empty())
        {
            continue;
        }
        let proxies = arr_of(pod.spec(), "containers")
            .iter()
            .filter(|c| str_of(c, "name") == PROXY_CONTAINER);
        for c in proxies {
            let running = str_of(c, "image");
            if running != want {
                let args = vec![running.into(), want.clone().into()];
                ctx.report(pod, None, catalogue::ISTIO_PROXY_IMAGE_MISMATCH, args);
            }
        }
    }
}

/// The proxy image of an injector ConfigMap as 1.5 read it: always `hub/image:tag`; `None`
/// when the `values` document does not parse.
fn injector_proxy_image_1_5(cm: &Resource) -> Option<String> {
    let values = injector_values(cm)?;
    let global = values.get("global").unwrap_or(&Value::Null);
    let image = global.get("proxy").map(|p| str_of(p, "image"));
    Some(format!(
        "{}/{}:{}",
        str_of(global, "hub"),
        image.unwrap_or_default(),
        str_of(global, "tag")
    ))
}

/// Whether a running proxy image is the injector's, plain or in the configured variant.
fn image_matches(running: &str, injector: &str, variant: &str) -> bool {
    running == injector || running == format!("{injector}-{variant}")
}

/// Namespaces with injection on, mapped to the revision that injects them.
fn injected_namespace_revisions(store: &Store) -> BTreeMap<String, String> {
    store
        .list(kinds::NAMESPACE)
        .filter_map(|ns| {
            let labels = &ns.meta.labels;
            let rev = match labels.get(super::webhook::REVISION_LABEL) {
                Some(rev) => rev.clone(),
                None if labels.get(INJECTION_LABEL).is_some_and(|v| v == "enabled") => {
                    "default".to_string()
                }
                None => return None,
            };
            Some((ns.meta.name.clone(), rev))
        })
        .collect()
}

/// The proxy image an injector ConfigMap injects: `global.proxy.image` when it is a full
/// reference, else `hub/image:tag`.
fn injector_proxy_image(cm: &Resource) -> String {
    let Some(values) = injector_values(cm) else {
        return String::new();
    };
    let global = values.get("global").unwrap_or(&Value::Null);
    let image = global
        .get("proxy")
        .map(|p| str_of(p, "image"))
        .unwrap_or_default();
    if image.contains('/') {
        image.to_string()
    } else {
        format!(
            "{}/{}:{}",
            str_of(global, "hub"),
            image,
            str_of(global, "tag")
        )
    }
}

/// The effective proxy image type (`distroless`, …) of a pod, from the mesh default, the
/// root-namespace, namespace and workload ProxyConfigs and the pod's `proxy.istio.io/config`.
struct ImageTypeResolver<'a> {
    mesh_default: String,
    root: Option<&'a Resource>,
    namespaces: BTreeMap<&'a str, &'a Resource>,
    workloads: Vec<&'a Resource>,
}

/// `image.imageType` of a ProxyConfig-shaped value.
fn image_type_of(v: &Value) -> &str {
    v.get("image")
        .map(|i| str_of(i, "imageType"))
        .unwrap_or_default()
}

impl<'a> ImageTypeResolver<'a> {
    fn new(store: &'a Store, mesh: &Mesh) -> ImageTypeResolver<'a> {
        let root_ns = mesh.root_namespace();
        let mesh_default = mesh
            .config
            .get("defaultConfig")
            .map(image_type_of)
            .unwrap_or_default()
            .to_string();
        let mut resolver = ImageTypeResolver {
            mesh_default,
            root: None,
            namespaces: BTreeMap::new(),
            workloads: Vec::new(),
        };
        for pc in store.list(kinds::PROXY_CONFIG) {
            if pc.meta.namespace == root_ns {
                resolver.root = Some(pc);
            } else if pc.spec().get("selector").is_none_or(Value::is_null) {
                resolver.namespaces.insert(&pc.meta.namespace, pc);
            } else {
                resolver.workloads.push(pc);
            }
        }
        resolver
    }

    fn image_type(&self, pod: &Resource) -> String {
        let mut variant = self.mesh_default.clone();
        let mut take = |v: &str| {
            if !v.is_empty() {
                variant = v.to_string();
            }
        };
        if let Some(root) = self.root {
            take(image_type_of(root.spec()));
        }
        if let Some(ns) = self.namespaces.get(pod.meta.namespace.as_str()) {
            take(image_type_of(ns.spec()));
        }
        for w in self
            .workloads
            .iter()
            .filter(|w| w.meta.namespace == pod.meta.namespace)
        {
            let selector = string_map(w.spec().get("selector").and_then(|s| s.get("matchLabels")));
            if selector
                .iter()
                .all(|(k, v)| pod.meta.labels.get(k) == Some(v))
            {
                take(image_type_of(w.spec()));
            }
        }
        let overlay = pod.meta.annotations.get("proxy.istio.io/config");
        if let Some(pc) = overlay.and_then(|text| parse_yaml(text)) {
            take(image_type_of(&pc));
        }
        if variant == "default" {
            String::new()
        } else {
            variant
        }
    }
}

/// Parses one YAML (or JSON) document.
pub(crate) fn parse_yaml(text: &str) -> Option<Value> {
    mast_config::yaml::parse_stream(text)
        .ok()?
        .into_iter()
        .next()
        .map(|d| d.value)
}

/// `injection.ImageAutoAnalyzer`.
struct ImageAutoAnalyzer;

impl Analyzer for ImageAutoAnalyzer {
    fn name(&self) -> &'static str {
        "injection.ImageAutoAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Makes sure that Pods and Deployments with `image: auto` are going to be injected"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::NAMESPACE,
            kinds::POD,
            kinds::DEPLOYMENT,
            kinds::MUTATING_WEBHOOK,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let webhooks: Vec<&Value> = store
            .list(kinds::MUTATING_WEBHOOK)
            .flat_map(|cfg| arr_of(&cfg.value, "webhooks"))
            .filter(|w| str_of(w, "name").ends_with("istio.io"))
            .collect();
        for pod in store.list(kinds::POD) {
            if has_auto_image(pod.spec()) {
                let args = vec!["Pod".into(), pod.meta.name.clone().into()];
                ctx.report(
                    pod,
                    None,
                    catalogue::IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
                    args,
                );
            }
        }
        for d in store.list(kinds::DEPLOYMENT) {
            let template = d.spec().get("template").unwrap_or(&Value::Null);
            if !has_auto_image(template.get("spec").unwrap_or(&Value::Null)) {
                continue;
            }
            let ns_name = if d.meta.namespace.is_empty() {
                "default"
            } else {
                d.meta.namespace.as_str()
            };
            let ns_labels = store
                .get(kinds::NAMESPACE, "", ns_name)
                .map(|n| n.meta.labels.clone())
                .unwrap_or_default();
            let pod_labels = string_map(template.get("metadata").and_then(|m| m.get("labels")));
            let injected = webhooks.iter().any(|w| {
                label_selector_matches(w.get("namespaceSelector"), &ns_labels)
                    && label_selector_matches(w.get("objectSelector"), &pod_labels)
            });
            if !injected {
                let args = vec!["Deployment".into(), d.meta.name.clone().into()];
                ctx.report(
                    d,
                    None,
                    catalogue::IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
                    args,
                );
            }
        }
    }
}

/// Whether the proxy container of a pod spec asks for `image: auto`.
fn has_auto_image(spec: &Value) -> bool {
    arr_of(spec, "containers")
        .iter()
        .any(|c| str_of(c, "name") == PROXY_CONTAINER && str_of(c, "image") == "auto")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiple_injection_labels() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases: &[(&[(&str, &str)], usize)] = &[
            (
                &[("istio-injection", "enabled"), ("istio.io/rev", "canary")],
                2,
            ),
            (
                &[("istio-injection", "disabled"), ("istio.io/rev", "canary")],
                1,
            ),
            (
                &[
                    ("istio.io/rev", "test"),
                    ("istio.io/dataplane-mode", "ambient"),
                ],
                2,
            ),
            (
                &[
                    ("istio-injection", "disabled"),
                    ("istio.io/dataplane-mode", "ambient"),
                ],
                1,
            ),
            (&[], 0),
        ];
        for (l, n) in cases {
            assert_eq!(injection_labels(&labels(l)).len(), *n, "{l:?}");
        }
    }

    #[test]
    fn injector_config_map_names() {
        assert_eq!(injector_config_map_name(""), "istio-sidecar-injector");
        assert_eq!(
            injector_config_map_name("default"),
            "istio-sidecar-injector"
        );
        assert_eq!(
            injector_config_map_name("canary"),
            "istio-sidecar-injector-canary"
        );
    }
}
