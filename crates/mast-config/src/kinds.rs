//! The kinds Mast reads: Istio's, the legacy ones Istio 1.5 still read, Kubernetes' and the
//! Gateway API's, with their versions and scope.

/// Where a kind comes from; decides how it is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A current Istio CRD (networking, security, extensions, telemetry).
    Istio,
    /// A kind Istio 1.5 still served and removed later (authentication.istio.io,
    /// rbac.istio.io).
    IstioLegacy,
    /// Mixer's config.istio.io kinds: parsed so their analyzers run, never served.
    Mixer,
    /// A Kubernetes built-in kind.
    Kubernetes,
    /// A Kubernetes Gateway API kind.
    GatewayApi,
}

/// A known kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group (`""` for the Kubernetes core group).
    pub group: &'static str,
    /// Kind name as written in `kind:`.
    pub kind: &'static str,
    /// apiVersions (without the group) that are served.
    pub versions: &'static [&'static str],
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Where the kind comes from.
    pub family: Family,
}

const NET: &[&str] = &["v1alpha3", "v1beta1", "v1"];
const SEC: &[&str] = &["v1beta1", "v1"];

macro_rules! k {
    ($g:expr, $k:expr, $v:expr, $ns:expr, $f:ident) => {
        KindInfo {
            group: $g,
            kind: $k,
            versions: $v,
            namespaced: $ns,
            family: Family::$f,
        }
    };
}

/// Every kind Mast knows.
pub static KINDS: &[KindInfo] = &[
    k!("networking.istio.io", "VirtualService", NET, true, Istio),
    k!("networking.istio.io", "DestinationRule", NET, true, Istio),
    k!("networking.istio.io", "Gateway", NET, true, Istio),
    k!("networking.istio.io", "ServiceEntry", NET, true, Istio),
    k!("networking.istio.io", "Sidecar", NET, true, Istio),
    k!("networking.istio.io", "WorkloadEntry", NET, true, Istio),
    k!("networking.istio.io", "WorkloadGroup", NET, true, Istio),
    k!(
        "networking.istio.io",
        "EnvoyFilter",
        &["v1alpha3"],
        true,
        Istio
    ),
    k!(
        "networking.istio.io",
        "ProxyConfig",
        &["v1beta1"],
        true,
        Istio
    ),
    k!("security.istio.io", "PeerAuthentication", SEC, true, Istio),
    k!(
        "security.istio.io",
        "RequestAuthentication",
        SEC,
        true,
        Istio
    ),
    k!("security.istio.io", "AuthorizationPolicy", SEC, true, Istio),
    k!(
        "extensions.istio.io",
        "WasmPlugin",
        &["v1alpha1"],
        true,
        Istio
    ),
    k!(
        "telemetry.istio.io",
        "Telemetry",
        &["v1alpha1", "v1"],
        true,
        Istio
    ),
    k!(
        "authentication.istio.io",
        "Policy",
        &["v1alpha1"],
        true,
        IstioLegacy
    ),
    k!(
        "authentication.istio.io",
        "MeshPolicy",
        &["v1alpha1"],
        false,
        IstioLegacy
    ),
    k!(
        "rbac.istio.io",
        "ServiceRole",
        &["v1alpha1"],
        true,
        IstioLegacy
    ),
    k!(
        "rbac.istio.io",
        "ServiceRoleBinding",
        &["v1alpha1"],
        true,
        IstioLegacy
    ),
    k!(
        "rbac.istio.io",
        "RbacConfig",
        &["v1alpha1"],
        true,
        IstioLegacy
    ),
    k!(
        "rbac.istio.io",
        "ClusterRbacConfig",
        &["v1alpha1"],
        false,
        IstioLegacy
    ),
    k!("", "Namespace", &["v1"], false, Kubernetes),
    k!("", "Service", &["v1"], true, Kubernetes),
    k!("", "Endpoints", &["v1"], true, Kubernetes),
    k!("", "Pod", &["v1"], true, Kubernetes),
    k!("", "Node", &["v1"], false, Kubernetes),
    k!("", "ConfigMap", &["v1"], true, Kubernetes),
    k!("", "Secret", &["v1"], true, Kubernetes),
    k!("", "ServiceAccount", &["v1"], true, Kubernetes),
    k!(
        "discovery.k8s.io",
        "EndpointSlice",
        &["v1", "v1beta1"],
        true,
        Kubernetes
    ),
    k!(
        "apps",
        "Deployment",
        &["v1", "v1beta1", "v1beta2"],
        true,
        Kubernetes
    ),
    k!("extensions", "Deployment", &["v1beta1"], true, Kubernetes),
    k!("apps", "StatefulSet", &["v1"], true, Kubernetes),
    k!("apps", "DaemonSet", &["v1"], true, Kubernetes),
    k!("apps", "ReplicaSet", &["v1"], true, Kubernetes),
    k!(
        "networking.k8s.io",
        "Ingress",
        &["v1", "v1beta1"],
        true,
        Kubernetes
    ),
    k!("extensions", "Ingress", &["v1beta1"], true, Kubernetes),
    k!(
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        &["v1", "v1beta1"],
        false,
        Kubernetes
    ),
    k!(
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        &["v1", "v1beta1"],
        false,
        Kubernetes
    ),
    k!(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        &["v1", "v1beta1"],
        false,
        Kubernetes
    ),
    k!(
        "gateway.networking.k8s.io",
        "GatewayClass",
        &["v1", "v1beta1", "v1alpha2"],
        false,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "Gateway",
        &["v1", "v1beta1", "v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "HTTPRoute",
        &["v1", "v1beta1", "v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "GRPCRoute",
        &["v1", "v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "TCPRoute",
        &["v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "TLSRoute",
        &["v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "UDPRoute",
        &["v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.k8s.io",
        "ReferenceGrant",
        &["v1beta1", "v1alpha2"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.x-k8s.io",
        "XListenerSet",
        &["v1alpha1"],
        true,
        GatewayApi
    ),
    k!(
        "gateway.networking.x-k8s.io",
        "XBackendTrafficPolicy",
        &["v1alpha1"],
        true,
        GatewayApi
    ),
];

/// Splits `apiVersion` into group and version (`v1` → `("", "v1")`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// Looks a kind up by group and kind name. Any kind of Mixer's `config.istio.io` group is known.
pub fn lookup(group: &str, kind: &str) -> Option<&'static KindInfo> {
    if let Some(k) = KINDS.iter().find(|k| k.group == group && k.kind == kind) {
        return Some(k);
    }
    if group == "config.istio.io" {
        static MIXER: KindInfo = KindInfo {
            group: "config.istio.io",
            kind: "*",
            versions: &["v1alpha2"],
            namespaced: true,
            family: Family::Mixer,
        };
        return Some(&MIXER);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        let cases = [
            ("networking.istio.io", "VirtualService", Some(Family::Istio)),
            ("", "Service", Some(Family::Kubernetes)),
            ("config.istio.io", "rule", Some(Family::Mixer)),
            ("networking.istio.io", "Unicorn", None),
            (
                "gateway.networking.k8s.io",
                "Gateway",
                Some(Family::GatewayApi),
            ),
        ];
        for (g, k, want) in cases {
            assert_eq!(lookup(g, k).map(|i| i.family), want, "{g}/{k}");
        }
        assert_eq!(
            split_api_version("networking.istio.io/v1"),
            ("networking.istio.io", "v1")
        );
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
