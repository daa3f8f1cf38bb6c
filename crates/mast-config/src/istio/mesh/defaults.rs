//! Istio's defaults (`DefaultMeshConfig`, `DefaultProxyConfig`) and its merge of a mesh config
//! file over them (`ApplyMeshConfigDefaults`).

use serde_json::{Map, Value};

use super::read::parse_strict;
use super::{
    AccessLogEncoding, AuthenticationPolicy, DefaultProviders, Duration,
    EnvoyFileAccessLogProvider, ExtensionProvider, InboundTrafficMode, InboundTrafficPolicy,
    IngressControllerMode, MeshConfig, MeshConfigError, NetworkingObject, OutboundTrafficMode,
    OutboundTrafficPolicy, PrometheusMetricsProvider, ProxyConfig, StackdriverProvider,
};

impl ProxyConfig {
    /// Istio's `DefaultProxyConfig`.
    pub fn default_istio() -> ProxyConfig {
        ProxyConfig {
            config_path: "./etc/istio/proxy".into(),
            binary_path: "/usr/local/bin/envoy".into(),
            service_cluster: Some("istio-proxy".into()),
            drain_duration: Some(Duration::from_secs(45)),
            termination_drain_duration: Some(Duration::from_secs(5)),
            proxy_admin_port: 15000,
            control_plane_auth_policy: AuthenticationPolicy::MutualTls,
            discovery_address: "istiod.istio-system.svc:15012".into(),
            stat_name_length: 189,
            status_port: 15020,
            ..ProxyConfig::default()
        }
    }
}

impl MeshConfig {
    /// Istio's `DefaultMeshConfig`: what istiod uses when no mesh config is given.
    pub fn default_istio() -> MeshConfig {
        let mut locality = NetworkingObject::new();
        locality.insert("enabled".into(), Value::Bool(true));
        let provider = |name: &str| ExtensionProvider {
            name: name.into(),
            ..ExtensionProvider::default()
        };
        MeshConfig {
            enable_tracing: true,
            access_log_encoding: AccessLogEncoding::Text,
            protocol_detection_timeout: Some(Duration::default()),
            ingress_service: "istio-ingressgateway".into(),
            ingress_controller_mode: IngressControllerMode::Strict,
            ingress_class: "istio".into(),
            trust_domain: "cluster.local".into(),
            enable_auto_mtls: Some(true),
            outbound_traffic_policy: Some(OutboundTrafficPolicy {
                mode: OutboundTrafficMode::AllowAny,
                tls: None,
            }),
            inbound_traffic_policy: Some(InboundTrafficPolicy {
                mode: InboundTrafficMode::Passthrough,
            }),
            locality_lb_setting: Some(locality),
            default_config: Some(ProxyConfig::default_istio()),
            root_namespace: "istio-system".into(),
            proxy_listen_port: 15001,
            proxy_inbound_listen_port: 15006,
            connect_timeout: Some(Duration::from_secs(10)),
            default_service_export_to: vec!["*".into()],
            default_virtual_service_export_to: vec!["*".into()],
            default_destination_rule_export_to: vec!["*".into()],
            dns_refresh_rate: Some(Duration::from_secs(60)),
            enable_prometheus_merge: Some(true),
            default_providers: Some(DefaultProviders::default()),
            extension_providers: vec![
                ExtensionProvider {
                    prometheus: Some(PrometheusMetricsProvider {}),
                    ..provider("prometheus")
                },
                ExtensionProvider {
                    stackdriver: Some(StackdriverProvider::default()),
                    ..provider("stackdriver")
                },
                ExtensionProvider {
                    envoy_file_access_log: Some(EnvoyFileAccessLogProvider {
                        path: "/dev/stdout".into(),
                        ..EnvoyFileAccessLogProvider::default()
                    }),
                    ..provider("envoy")
                },
            ],
            ..MeshConfig::default()
        }
    }

    /// Reads a mesh config file the way istiod does (`ApplyMeshConfigDefaults`): fields given
    /// replace Istio's defaults, except that `defaultConfig` is merged field by field (its
    /// `proxyMetadata` key by key), `extensionProviders` replace or extend the default providers
    /// by name, and `trustDomainAliases` are sorted and de-duplicated.
    pub fn from_yaml_with_defaults(text: &str) -> Result<MeshConfig, MeshConfigError> {
        let (_, given) = parse_strict::<MeshConfig>(text)?;
        let mut merged = MeshConfig::default_istio().to_value();
        let (Value::Object(base), Value::Object(given)) = (&mut merged, camel_keys(given)) else {
            return Ok(MeshConfig::default_istio());
        };
        for (key, value) in given {
            match key.as_str() {
                "defaultConfig" => merge_proxy_config(base, value),
                "extensionProviders" => merge_extension_providers(base, value),
                "trustDomainAliases" => {
                    let mut aliases: Vec<Value> = value.as_array().cloned().unwrap_or_default();
                    aliases.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    aliases.dedup();
                    base.insert(key, Value::Array(aliases));
                }
                _ => {
                    base.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).map_err(|e| MeshConfigError {
            line: 1,
            field: String::new(),
            message: e.to_string(),
        })
    }
}

/// Protobuf's JSON name of a field name (`default_config` → `defaultConfig`).
fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the top-level keys of an object to their JSON names.
fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (json_name(&k), v)).collect()),
        other => other,
    }
}

fn merge_proxy_config(base: &mut Map<String, Value>, given: Value) {
    let Value::Object(given) = camel_keys(given) else {
        return;
    };
    let pc = base
        .entry("defaultConfig")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(pc) = pc else { return };
    for (key, value) in given {
        match (key.as_str(), pc.get_mut(&key), value) {
            ("proxyMetadata", Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
            (_, _, value) => {
                pc.insert(key, value);
            }
        }
    }
}

fn merge_extension_providers(base: &mut Map<String, Value>, given: Value) {
    let mut list = base
        .get("extensionProviders")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in given.as_array().cloned().unwrap_or_default() {
        let name = p.get("name").cloned();
        match list.iter_mut().find(|e| e.get("name") == name.as_ref()) {
            Some(existing) => *existing = p,
            None => list.push(p),
        }
    }
    base.insert("extensionProviders".into(), Value::Array(list));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Findings;

    #[test]
    fn istio_defaults() {
        let m = MeshConfig::default_istio();
        assert_eq!(m.trust_domain, "cluster.local");
        assert_eq!(m.root_namespace, "istio-system");
        assert_eq!(
            m.outbound_traffic_policy.as_ref().map(|p| p.mode),
            Some(OutboundTrafficMode::AllowAny)
        );
        assert_eq!(m.enable_auto_mtls, Some(true));
        assert_eq!(m.access_log_file, "");
        let pc = m.default_config.as_ref().unwrap();
        assert_eq!(pc.discovery_address, "istiod.istio-system.svc:15012");
        assert_eq!((pc.proxy_admin_port, pc.status_port), (15000, 15020));
        assert_eq!(pc.drain_duration, Some(Duration::from_secs(45)));
        assert_eq!(pc.termination_drain_duration, Some(Duration::from_secs(5)));
        let mut out = Findings::default();
        m.validate(&mut out);
        assert!(out.as_slice().is_empty(), "{:?}", out.as_slice());
        let v = m.to_value();
        assert_eq!(v["outboundTrafficPolicy"]["mode"], "ALLOW_ANY");
        assert_eq!(v["defaultConfig"]["drainDuration"], "45s");
        let back: MeshConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn merging_over_defaults() {
        let text = "accessLogFile: /dev/stdout\ndefaultConfig:\n  proxyMetadata:\n    A: b\n  concurrency: 2\nextensionProviders:\n- name: envoy\n  envoyFileAccessLog:\n    path: /tmp/log\n- name: zipkin\n  zipkin:\n    service: zipkin.istio-system.svc.cluster.local\n    port: 9411\n";
        let m = MeshConfig::from_yaml_with_defaults(text).unwrap();
        assert_eq!(m.access_log_file, "/dev/stdout");
        assert_eq!(m.trust_domain, "cluster.local");
        let pc = m.default_config.as_ref().unwrap();
        assert_eq!(pc.concurrency, Some(2));
        assert_eq!(pc.discovery_address, "istiod.istio-system.svc:15012");
        assert_eq!(pc.proxy_metadata.get("A").map(String::as_str), Some("b"));
        let names: Vec<&str> = m
            .extension_providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["prometheus", "stackdriver", "envoy", "zipkin"]);
        assert_eq!(
            m.extension_providers[2]
                .envoy_file_access_log
                .as_ref()
                .unwrap()
                .path,
            "/tmp/log"
        );
    }
}
