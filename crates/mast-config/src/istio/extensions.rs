//! `extensions.istio.io`: `WasmPlugin` (istio/api `extensions/v1alpha1`), with Istio's
//! validation rules (the istiod webhook and the CRD schema rules).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::istio::common::PortSelector;
use crate::istio::decode::decode_spec;
use crate::istio::security::{PolicyTargetReference, WorkloadSelector, check_attachment, go_url};
use crate::validate::Findings;

/// A WebAssembly plugin added to the proxies' filter chains.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WasmPlugin {
    /// Workloads the plugin applies to.
    pub selector: Option<WorkloadSelector>,
    /// The resource the plugin is attached to (instead of `selector`).
    pub target_ref: Option<PolicyTargetReference>,
    /// The resources the plugin is attached to (instead of `selector`).
    pub target_refs: Vec<PolicyTargetReference>,
    /// Where the module comes from: `oci://`, `file://`, `http(s)://`, or an OCI image
    /// reference without scheme.
    pub url: String,
    /// SHA256 checksum of the module (64 lowercase hex digits).
    pub sha256: String,
    /// When to pull the image again (OCI images only).
    pub image_pull_policy: PullPolicy,
    /// Name of the secret with registry credentials.
    pub image_pull_secret: String,
    /// Public key to verify the module's signature.
    pub verification_key: String,
    /// Configuration handed to the plugin.
    pub plugin_config: Option<Map<String, Value>>,
    /// Name of the plugin inside the module.
    pub plugin_name: String,
    /// Where in the filter chain the plugin goes.
    pub phase: PluginPhase,
    /// Order among plugins of the same phase (higher runs first).
    pub priority: Option<i32>,
    /// What to do when the plugin fails.
    pub fail_strategy: FailStrategy,
    /// Settings of the Wasm virtual machine.
    pub vm_config: Option<VmConfig>,
    /// Traffic the plugin applies to; empty means all.
    pub r#match: Vec<TrafficSelector>,
    /// HTTP or network filter.
    pub r#type: PluginType,
}

/// Which traffic a plugin applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TrafficSelector {
    /// Client side, server side, or both.
    pub mode: WorkloadMode,
    /// Ports; empty means all.
    pub ports: Vec<PortSelector>,
}

/// `istio.type.v1beta1.WorkloadMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Unspecified (both).
    #[default]
    Undefined,
    /// Outbound traffic.
    Client,
    /// Inbound traffic.
    Server,
    /// Both directions.
    ClientAndServer,
}

/// `PluginType`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginType {
    /// Unspecified (HTTP).
    #[default]
    #[serde(rename = "UNSPECIFIED_PLUGIN_TYPE")]
    Unspecified,
    /// An HTTP filter.
    #[serde(rename = "HTTP")]
    Http,
    /// A network filter.
    #[serde(rename = "NETWORK")]
    Network,
}

/// `PluginPhase`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginPhase {
    /// At the end of the chain, before the router.
    #[default]
    #[serde(rename = "UNSPECIFIED_PHASE")]
    Unspecified,
    /// Before Istio's authentication filters.
    #[serde(rename = "AUTHN")]
    Authn,
    /// Before Istio's authorization filters.
    #[serde(rename = "AUTHZ")]
    Authz,
    /// Before Istio's stats filters.
    #[serde(rename = "STATS")]
    Stats,
}

/// `PullPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    /// `IfNotPresent`, except `Always` for the `latest` tag.
    #[default]
    #[serde(rename = "UNSPECIFIED_POLICY")]
    Unspecified,
    /// Pull only when not cached.
    IfNotPresent,
    /// Always pull.
    Always,
}

/// `FailStrategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailStrategy {
    /// Fail requests when the plugin fails.
    #[default]
    FailClose,
    /// Skip the plugin when it fails.
    FailOpen,
    /// Reload the VM and retry.
    FailReload,
}

/// Settings of the Wasm VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct VmConfig {
    /// Environment variables of the VM.
    pub env: Vec<EnvVar>,
}

/// One environment variable of the VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Where the value comes from.
    pub value_from: EnvValueSource,
    /// The value, for `INLINE`.
    pub value: String,
}

/// `EnvValueSource`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvValueSource {
    /// The `value` field.
    #[default]
    Inline,
    /// The proxy's environment.
    Host,
}

/// Validates the spec of an `extensions.istio.io` kind.
pub fn validate(kind: &str, spec: &Value, out: &mut Findings) {
    if kind == "WasmPlugin"
        && let Some(w) = decode_spec::<WasmPlugin>(spec, out)
    {
        validate_wasm_plugin(&w, out);
    }
}

/// Istio's `ValidateWasmPlugin` plus the CRD rules.
pub fn validate_wasm_plugin(w: &WasmPlugin, out: &mut Findings) {
    check_attachment(
        w.selector.as_ref(),
        w.target_ref.as_ref(),
        &w.target_refs,
        out,
    );
    if let Err(e) = check_plugin_url(&w.url) {
        out.error("spec.url", e);
    }
    if let Err(e) = check_sha256(&w.sha256) {
        out.error("spec.sha256", e);
    }
    if w.image_pull_secret.len() > 253 {
        out.error(
            "spec.imagePullSecret",
            "imagePullSecret field must be less than 253 characters long",
        );
    }
    if w.plugin_name.len() > 256 {
        out.error(
            "spec.pluginName",
            "pluginName field must be less than 255 characters long",
        );
    }
    if let Some(vm) = &w.vm_config {
        check_vm_config(vm, out);
    }
    for (i, sel) in w.r#match.iter().enumerate() {
        for (j, port) in sel.ports.iter().enumerate() {
            if port.number == 0 || port.number > 65535 {
                out.error(
                    format!("spec.match[{i}].ports[{j}].number"),
                    format!(
                        "spec.Match[{i}].Ports[{j}] is out of range: {}",
                        port.number
                    ),
                );
            }
        }
    }
}

/// Istio's `validateWasmPluginURL`: set, parseable (as given or with `http://` prepended),
/// and with one of the schemes Istio fetches from.
fn check_plugin_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("url field needs to be set".into());
    }
    let parsed = match go_url::parse_request_uri(url) {
        Ok(u) => go_url::parse(url)
            .map(|_| u)
            .map_err(|e| format!("failed to strict parse url: {e}"))?,
        Err(first) => {
            let with_scheme = format!("http://{url}");
            let u = go_url::parse_request_uri(&with_scheme)
                .map_err(|_| format!("failed to parse url: {first}"))?;
            go_url::parse(&with_scheme).map_err(|e| format!("failed to strict parse url: {e}"))?;
            u
        }
    };
    match parsed.scheme.as_str() {
        "" | "file" | "http" | "https" | "oci" => Ok(()),
        other => Err(format!("url contains unsupported scheme: {other}")),
    }
}

/// Istio's `validateWasmPluginSHA`: empty, or 64 lowercase hex digits.
fn check_sha256(sha: &str) -> Result<(), String> {
    if sha.is_empty() {
        return Ok(());
    }
    if sha.len() != 64 {
        return Err("sha256 field must be 64 characters long".into());
    }
    if !sha
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("sha256 field must match [a-f0-9]{64} pattern".into());
    }
    Ok(())
}

/// Istio's `validateWasmPluginVMConfig` plus the CRD limits.
fn check_vm_config(vm: &VmConfig, out: &mut Findings) {
    if vm.env.len() > 256 {
        out.error("spec.vmConfig.env", "Too many: must have at most 256 items");
    }
    let mut seen = BTreeSet::new();
    for (i, env) in vm.env.iter().enumerate() {
        let at = format!("spec.vmConfig.env[{i}]");
        if env.name.is_empty() {
            out.error(format!("{at}.name"), "spec.vmConfig.env invalid");
        }
        if env.name.len() > 256 {
            out.error(
                format!("{at}.name"),
                "env.name field must be less than 255 characters long",
            );
        }
        if !env.name.is_empty() && !seen.insert(env.name.as_str()) {
            out.error(format!("{at}.name"), "duplicate env");
        }
        if env.value_from != EnvValueSource::Inline && !env.value.is_empty() {
            out.error(
                format!("{at}.value"),
                "value may only be set when valueFrom is INLINE",
            );
        }
        if env.value.len() > 2048 {
            out.error(
                format!("{at}.value"),
                "Too long: may not be more than 2048 bytes",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wasm_plugin_rules() {
        let sha = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b";
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("empty", json!({}), Some("url field needs to be set")),
            (
                "ftp",
                json!({"url": "ftp://test.com/test"}),
                Some("url contains unsupported scheme: ftp"),
            ),
            ("http", json!({"url": "http://test.com/test"}), None),
            (
                "oci",
                json!({"url": "oci://test.com/test", "sha256": sha}),
                None,
            ),
            ("no scheme", json!({"url": "test.com/test:v1"}), None),
            ("file", json!({"url": "file:///opt/filter.wasm"}), None),
            (
                "fake scheme",
                json!({"url": "fake://example.com"}),
                Some("unsupported scheme: fake"),
            ),
            (
                "garbage",
                json!({"url": "#%blah$#@"}),
                Some("failed to parse url"),
            ),
            (
                "short sha",
                json!({"url": "http://a/b", "sha256": "01ba47"}),
                Some("must be 64 characters long"),
            ),
            (
                "upper sha",
                json!({"url": "http://a/b", "sha256": sha.to_uppercase()}),
                Some("[a-f0-9]{64}"),
            ),
            (
                "dup env",
                json!({"url": "http://a/b", "vmConfig": {"env": [{"name": "a"}, {"name": "a"}]}}),
                Some("duplicate env"),
            ),
            (
                "empty env",
                json!({"url": "http://a/b", "vmConfig": {"env": [{"name": ""}]}}),
                Some("spec.vmConfig.env invalid"),
            ),
            (
                "host value",
                json!({"url": "http://a/b", "vmConfig": {"env": [{"name": "a", "valueFrom": "HOST", "value": "x"}]}}),
                Some("value may only be set when valueFrom is INLINE"),
            ),
            (
                "host ok",
                json!({"url": "http://a/b", "vmConfig": {"env": [{"name": "a", "valueFrom": "HOST"}]}}),
                None,
            ),
            (
                "port zero",
                json!({"url": "http://a/b", "match": [{"ports": [{}]}]}),
                Some("spec.Match[0].Ports[0] is out of range: 0"),
            ),
            (
                "match ok",
                json!({"url": "http://a/b", "match": [{"mode": "SERVER", "ports": [{"number": 80}]}], "phase": "AUTHN", "priority": 10, "imagePullPolicy": "IfNotPresent", "type": "HTTP", "pluginConfig": {"a": [1, 2]}}),
                None,
            ),
            (
                "bad phase",
                json!({"url": "http://a/b", "phase": "LATE"}),
                Some("Unsupported value: \"LATE\""),
            ),
        ];
        for (name, spec, want) in cases {
            let mut out = Findings::default();
            validate("WasmPlugin", &spec, &mut out);
            crate::validate::expect_errors(name, &out.error_lines(), want);
        }
    }
}
