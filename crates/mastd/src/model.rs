//! The immutable snapshot one push serves: validated configuration, mesh settings, the
//! service registry, and the indexes generation reads.

use std::sync::Arc;
use std::time::SystemTime;

use std::collections::BTreeMap;

use mast_config::Resource;
use mast_config::istio::networking::destination_rule::DestinationRule;
use mast_config::istio::networking::gateway::Gateway;
use mast_config::istio::networking::sidecar::Sidecar;
use mast_config::istio::networking::virtual_service::VirtualService;
use mast_config::istio::security::{
    AuthorizationPolicy, PeerAuthentication, RequestAuthentication,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::registry::Registry;
use crate::xds::cache::XdsCache;

/// A configuration object decoded into its typed spec, with the metadata generation needs.
#[derive(Debug, Clone)]
pub struct Config<T> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The typed spec.
    pub spec: T,
}

fn typed<T: DeserializeOwned>(objects: &[Resource], group: &str, kind: &str) -> Vec<Config<T>> {
    objects
        .iter()
        .filter(|r| r.gvk.group == group && r.gvk.kind == kind)
        .filter_map(|r| match serde_json::from_value::<T>(r.spec().clone()) {
            Ok(spec) => Some(Config {
                name: r.meta.name.clone(),
                namespace: r.meta.namespace.clone(),
                labels: r.meta.labels.clone(),
                spec,
            }),
            Err(e) => {
                // validated objects always decode; a failure here is a bug, not bad input
                tracing::error!(object = %format!("{} {}", r.gvk.kind, r.namespaced_name()), error = %e, "typed decode failed");
                None
            }
        })
        .collect()
}

/// Mesh-wide settings mastd reads from MeshConfig, with Istio's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSettings {
    /// `trustDomain` (default `cluster.local`).
    pub trust_domain: String,
    /// `rootNamespace` (default `istio-system`).
    pub root_namespace: String,
    /// `outboundTrafficPolicy.mode == ALLOW_ANY` (the default) versus `REGISTRY_ONLY`.
    pub allow_any: bool,
    /// `enableAutoMtls` (default true).
    pub auto_mtls: bool,
    /// `accessLogFile` (empty: no access logs unless a Telemetry asks).
    pub access_log_file: String,
    /// `accessLogEncoding: JSON` (default TEXT).
    pub access_log_json: bool,
    /// `accessLogFormat` (empty: Istio's default).
    pub access_log_format: String,
    /// `enableTracing`, the tracing providers and the proxies' tracing defaults.
    pub tracing: crate::xds::lds::tracing::MeshTracing,
}

impl Default for MeshSettings {
    fn default() -> Self {
        MeshSettings {
            trust_domain: "cluster.local".into(),
            root_namespace: "istio-system".into(),
            allow_any: true,
            auto_mtls: true,
            access_log_file: String::new(),
            access_log_json: false,
            access_log_format: String::new(),
            tracing: crate::xds::lds::tracing::MeshTracing {
                enable: true,
                ..Default::default()
            },
        }
    }
}

impl MeshSettings {
    /// Reads the settings from a MeshConfig document, defaulting what is absent.
    pub fn from_mesh_config(v: &Value) -> MeshSettings {
        let d = MeshSettings::default();
        let s = |k: &str, def: String| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or(def)
        };
        MeshSettings {
            trust_domain: s("trustDomain", d.trust_domain),
            root_namespace: s("rootNamespace", d.root_namespace),
            allow_any: v
                .pointer("/outboundTrafficPolicy/mode")
                .and_then(Value::as_str)
                .is_none_or(|m| m != "REGISTRY_ONLY"),
            auto_mtls: v
                .get("enableAutoMtls")
                .and_then(Value::as_bool)
                .unwrap_or(d.auto_mtls),
            access_log_file: s("accessLogFile", d.access_log_file),
            access_log_json: v.get("accessLogEncoding").and_then(Value::as_str) == Some("JSON"),
            access_log_format: s("accessLogFormat", d.access_log_format),
            tracing: crate::xds::lds::tracing::MeshTracing::from_mesh_config(v),
        }
    }
}

/// What one push serves. Built once per push, then only read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The version sent as `version_info` (`<RFC 3339 time>/<push number>`, as istiod's).
    pub version: String,
    /// When it was built.
    pub created: Option<SystemTime>,
    /// Mesh settings.
    pub mesh: MeshSettings,
    /// The validated configuration.
    pub config: Arc<Vec<Resource>>,
    /// Services, endpoints and workloads.
    pub registry: Registry,
    /// VirtualServices, in creation (read) order.
    pub virtual_services: Vec<Config<VirtualService>>,
    /// DestinationRules.
    pub destination_rules: Vec<Config<DestinationRule>>,
    /// Gateways.
    pub gateways: Vec<Config<Gateway>>,
    /// Sidecars.
    pub sidecars: Vec<Config<Sidecar>>,
    /// PeerAuthentications.
    pub peer_authentications: Vec<Config<PeerAuthentication>>,
    /// RequestAuthentications.
    pub request_authentications: Vec<Config<RequestAuthentication>>,
    /// AuthorizationPolicies.
    pub authorization_policies: Vec<Config<AuthorizationPolicy>>,
    /// Telemetries.
    pub telemetries: Vec<Config<mast_config::istio::telemetry::Telemetry>>,
    /// Resources generated from this snapshot that proxies share; dropped with it.
    pub cache: XdsCache,
}

impl Snapshot {
    /// Builds push number `n` from the served objects.
    pub fn build(n: u64, mesh: MeshSettings, config: Vec<Resource>) -> Snapshot {
        let created = SystemTime::now();
        const NET: &str = "networking.istio.io";
        const SEC: &str = "security.istio.io";
        Snapshot {
            version: format!("{}/{n}", rfc3339(created)),
            created: Some(created),
            registry: Registry::build(&config, &mesh),
            virtual_services: typed(&config, NET, "VirtualService"),
            destination_rules: typed(&config, NET, "DestinationRule"),
            gateways: typed(&config, NET, "Gateway"),
            sidecars: typed(&config, NET, "Sidecar"),
            peer_authentications: typed(&config, SEC, "PeerAuthentication"),
            request_authentications: typed(&config, SEC, "RequestAuthentication"),
            authorization_policies: typed(&config, SEC, "AuthorizationPolicy"),
            telemetries: typed(&config, "telemetry.istio.io", "Telemetry"),
            mesh,
            config: Arc::new(config),
            cache: XdsCache::default(),
        }
    }
}

pub use mast_xds::date::rfc3339_time as rfc3339;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_564_800)),
            "2026-11-25T00:00:00Z"
        );
    }

    #[test]
    fn mesh_defaults_and_overrides() {
        let m = MeshSettings::from_mesh_config(&serde_json::json!({}));
        assert_eq!(m, MeshSettings::default());
        let m = MeshSettings::from_mesh_config(
            &serde_json::json!({"trustDomain": "td", "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}, "enableAutoMtls": false}),
        );
        assert_eq!(m.trust_domain, "td");
        assert!(!m.allow_any);
        assert!(!m.auto_mtls);
    }
}
