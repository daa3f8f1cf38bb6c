//! What an analyzer sees: the objects under analysis, indexed by kind, the mesh configuration,
//! and a place to report messages.

use std::collections::HashMap;

use mast_config::Resource;
use serde_json::Value;

use crate::message::{Arg, Message, MessageType, ResourceRef};

/// A kind, independent of its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Kind name.
    pub kind: &'static str,
}

impl Kind {
    /// Whether `r` is of this kind (any version).
    pub fn matches(&self, r: &Resource) -> bool {
        r.gvk.kind == self.kind && r.gvk.group == self.group
    }
}

/// The kinds analyzers read.
pub mod kinds {
    use super::Kind;

    macro_rules! kinds {
        ($($name:ident = $g:expr, $k:expr;)*) => {
            $(
                #[doc = concat!("`", $k, "` of group `", $g, "`.")]
                pub const $name: Kind = Kind { group: $g, kind: $k };
            )*
        };
    }

    kinds! {
        VIRTUAL_SERVICE = "networking.istio.io", "VirtualService";
        DESTINATION_RULE = "networking.istio.io", "DestinationRule";
        GATEWAY = "networking.istio.io", "Gateway";
        SERVICE_ENTRY = "networking.istio.io", "ServiceEntry";
        SIDECAR = "networking.istio.io", "Sidecar";
        WORKLOAD_ENTRY = "networking.istio.io", "WorkloadEntry";
        WORKLOAD_GROUP = "networking.istio.io", "WorkloadGroup";
        ENVOY_FILTER = "networking.istio.io", "EnvoyFilter";
        PROXY_CONFIG = "networking.istio.io", "ProxyConfig";
        PEER_AUTHENTICATION = "security.istio.io", "PeerAuthentication";
        REQUEST_AUTHENTICATION = "security.istio.io", "RequestAuthentication";
        AUTHORIZATION_POLICY = "security.istio.io", "AuthorizationPolicy";
        WASM_PLUGIN = "extensions.istio.io", "WasmPlugin";
        TELEMETRY = "telemetry.istio.io", "Telemetry";
        POLICY = "authentication.istio.io", "Policy";
        MESH_POLICY = "authentication.istio.io", "MeshPolicy";
        SERVICE_ROLE = "rbac.istio.io", "ServiceRole";
        SERVICE_ROLE_BINDING = "rbac.istio.io", "ServiceRoleBinding";
        RBAC_CONFIG = "rbac.istio.io", "RbacConfig";
        CLUSTER_RBAC_CONFIG = "rbac.istio.io", "ClusterRbacConfig";
        NAMESPACE = "", "Namespace";
        SERVICE = "", "Service";
        ENDPOINTS = "", "Endpoints";
        POD = "", "Pod";
        NODE = "", "Node";
        CONFIG_MAP = "", "ConfigMap";
        SECRET = "", "Secret";
        DEPLOYMENT = "apps", "Deployment";
        ENDPOINT_SLICE = "discovery.k8s.io", "EndpointSlice";
        INGRESS = "networking.k8s.io", "Ingress";
        MUTATING_WEBHOOK = "admissionregistration.k8s.io", "MutatingWebhookConfiguration";
        VALIDATING_WEBHOOK = "admissionregistration.k8s.io", "ValidatingWebhookConfiguration";
        CRD = "apiextensions.k8s.io", "CustomResourceDefinition";
        K8S_GATEWAY_CLASS = "gateway.networking.k8s.io", "GatewayClass";
        K8S_GATEWAY = "gateway.networking.k8s.io", "Gateway";
        K8S_HTTP_ROUTE = "gateway.networking.k8s.io", "HTTPRoute";
        K8S_GRPC_ROUTE = "gateway.networking.k8s.io", "GRPCRoute";
    }
}

/// The objects under analysis, indexed by kind and by namespace/name.
#[derive(Debug, Default)]
pub struct Store {
    resources: Vec<Resource>,
    by_kind: HashMap<(String, String), Vec<usize>>,
    by_name: HashMap<(String, String, String, String), usize>,
}

impl Store {
    /// Indexes `resources`. Objects of group `extensions` and `apps` are indexed as the same
    /// Deployment/Ingress kinds Istio folds them into.
    pub fn new(resources: Vec<Resource>) -> Store {
        let mut s = Store::default();
        for r in resources {
            s.insert(r);
        }
        s
    }

    /// Adds one object; a later object with the same kind, namespace and name replaces the
    /// earlier one in name lookups, as a later `kubectl apply` would.
    pub fn insert(&mut self, r: Resource) {
        let idx = self.resources.len();
        let group = canonical_group(&r.gvk.group, &r.gvk.kind).to_string();
        let key = (group.clone(), r.gvk.kind.clone());
        let name_key = (
            group,
            r.gvk.kind.clone(),
            r.meta.namespace.clone(),
            r.meta.name.clone(),
        );
        if let Some(old) = self.by_name.insert(name_key, idx)
            && let Some(list) = self.by_kind.get_mut(&key)
        {
            list.retain(|i| *i != old);
        }
        self.by_kind.entry(key).or_default().push(idx);
        self.resources.push(r);
    }

    /// Every object of `kind`, in the order read.
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &Resource> + '_ {
        self.by_kind
            .get(&(kind.group.to_string(), kind.kind.to_string()))
            .into_iter()
            .flatten()
            .map(|i| &self.resources[*i])
    }

    /// The object of `kind` named `name` in `namespace` (empty for cluster-scoped kinds).
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Resource> {
        self.by_name
            .get(&(
                kind.group.to_string(),
                kind.kind.to_string(),
                namespace.to_string(),
                name.to_string(),
            ))
            .map(|i| &self.resources[*i])
    }

    /// Whether any object of `kind` is present.
    pub fn has(&self, kind: Kind) -> bool {
        self.list(kind).next().is_some()
    }

    /// Every object.
    pub fn all(&self) -> &[Resource] {
        &self.resources
    }
}

/// Istio reads `extensions/v1beta1` Deployments and Ingresses as the `apps` and
/// `networking.k8s.io` kinds.
fn canonical_group<'a>(group: &'a str, kind: &str) -> &'a str {
    match (group, kind) {
        ("extensions", "Deployment") => "apps",
        ("extensions", "Ingress") => "networking.k8s.io",
        _ => group,
    }
}

/// Which Istio release's analyzer behaviour to reproduce where releases differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Current Istio (the default).
    #[default]
    Current,
    /// Istio 1.5: the checks and codes of its analyzers (e.g. IST0104 for gateway ports,
    /// IST0105 per pod for proxy images), for users comparing against a 1.5 istioctl.
    Istio1_5,
}

/// Mesh-wide settings analyzers read (a MeshConfig as YAML/JSON), with Istio's defaults.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// Which Istio release's behaviour to reproduce.
    pub compat: Compat,
    /// The MeshConfig document.
    pub config: Value,
    /// The namespace of the control plane (`istio-system`).
    pub istio_namespace: String,
    /// MeshNetworks, when given.
    pub networks: Option<Value>,
}

impl Mesh {
    /// The defaults: an empty MeshConfig and `istio-system`.
    pub fn new(istio_namespace: &str) -> Mesh {
        Mesh {
            compat: Compat::Current,
            config: Value::Object(Default::default()),
            istio_namespace: istio_namespace.to_string(),
            networks: None,
        }
    }

    fn str_or(&self, key: &str, default: &str) -> String {
        self.config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(default)
            .to_string()
    }

    /// `rootNamespace` (default: the control plane's namespace).
    pub fn root_namespace(&self) -> String {
        self.str_or("rootNamespace", &self.istio_namespace)
    }

    /// `ingressService` (default `istio-ingressgateway`).
    pub fn ingress_service(&self) -> String {
        self.str_or("ingressService", "istio-ingressgateway")
    }

    /// `ingressControllerMode` (default `STRICT`, as the analyzers' tests see it).
    pub fn ingress_controller_mode(&self) -> String {
        self.str_or("ingressControllerMode", "STRICT")
            .to_ascii_uppercase()
    }

    /// `trustDomain` (default `cluster.local`).
    pub fn trust_domain(&self) -> String {
        self.str_or("trustDomain", "cluster.local")
    }

    /// `enableAutoMtls` (default true since Istio 1.5's analyzers read it so... false in 1.5's
    /// MeshConfig default; analyzers that care read the field directly).
    pub fn bool_field(&self, key: &str) -> Option<bool> {
        self.config.get(key).and_then(Value::as_bool)
    }
}

/// The state one analysis runs over, and the messages it collects.
pub struct Context<'a> {
    /// Objects under analysis.
    pub store: &'a Store,
    /// Mesh settings.
    pub mesh: &'a Mesh,
    messages: Vec<Message>,
}

impl<'a> Context<'a> {
    /// A context over `store` with `mesh`.
    pub fn new(store: &'a Store, mesh: &'a Mesh) -> Context<'a> {
        Context {
            store,
            mesh,
            messages: Vec::new(),
        }
    }

    /// Reports a message about `r`; `path` (e.g. `/spec/http/0/route/0`) locates the field.
    pub fn report(&mut self, r: &Resource, path: Option<&str>, kind: MessageType, args: Vec<Arg>) {
        self.messages.push(Message {
            kind,
            args,
            resource: Some(ResourceRef::new(r, path)),
        });
    }

    /// Reports a message that is about no particular object.
    pub fn report_global(&mut self, kind: MessageType, args: Vec<Arg>) {
        self.messages.push(Message {
            kind,
            args,
            resource: None,
        });
    }

    /// The messages reported so far.
    pub fn into_messages(self) -> Vec<Message> {
        self.messages
    }
}
