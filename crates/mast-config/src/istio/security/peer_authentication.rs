//! `PeerAuthentication`: which mutual TLS mode workloads accept, and Istio's
//! `ValidatePeerAuthentication`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::attachment::check_selector;
use crate::istio::common::WorkloadSelector;
use crate::validate::Findings;

/// Which mutual TLS mode workloads accept for incoming connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PeerAuthentication {
    /// Workloads the policy applies to; without it the policy is namespace-wide (or mesh-wide
    /// in the root namespace).
    pub selector: Option<WorkloadSelector>,
    /// The mTLS mode for all ports.
    pub mtls: Option<MutualTls>,
    /// Per-port mTLS modes (port number → settings); needs a workload selector.
    #[serde(deserialize_with = "port_keyed_map")]
    pub port_level_mtls: Option<BTreeMap<u32, MutualTls>>,
}

/// Reads a map keyed by port numbers written as strings (`"8080": {...}`).
fn port_keyed_map<'de, D, T>(d: D) -> Result<Option<BTreeMap<u32, T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let raw = Option::<BTreeMap<String, T>>::deserialize(d)?;
    let Some(raw) = raw else { return Ok(None) };
    let mut ports = BTreeMap::new();
    for (k, v) in raw {
        let port = k.parse::<u32>().map_err(|_| {
            serde::de::Error::custom(format!(
                "type conversion error from string {k:?} to a port number"
            ))
        })?;
        ports.insert(port, v);
    }
    Ok(Some(ports))
}

/// Mutual TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MutualTls {
    /// The mode.
    pub mode: MtlsMode,
}

/// `PeerAuthentication.MutualTLS.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent policy (mesh default: PERMISSIVE).
    #[default]
    Unset,
    /// Plaintext only.
    Disable,
    /// Both plaintext and mTLS.
    Permissive,
    /// mTLS only.
    Strict,
}

/// Istio's `ValidatePeerAuthentication` plus the CRD rules.
pub fn validate_peer_authentication(p: &PeerAuthentication, out: &mut Findings) {
    let no_labels = p
        .selector
        .as_ref()
        .is_none_or(|s| s.match_labels.is_empty());
    if let Some(ports) = &p.port_level_mtls {
        if no_labels && !ports.is_empty() {
            out.error(
                "spec.portLevelMtls",
                "mesh/namespace peer authentication cannot have port level mTLS",
            );
        }
        if ports.is_empty() {
            out.error(
                "spec.portLevelMtls",
                "port level mTLS, if defined, must have at least one element",
            );
        }
        for port in ports.keys() {
            if *port == 0 || *port > 65535 {
                out.error(
                    format!("spec.portLevelMtls.{port}"),
                    "port must be in range 1..65535",
                );
            }
        }
    }
    check_selector(p.selector.as_ref(), out);
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::istio::security::tests::run;

    #[test]
    fn peer_authentication_rules() {
        let cases: Vec<(&str, Value, &[&str])> = vec![
            ("strict", json!({"mtls": {"mode": "STRICT"}}), &[]),
            (
                "empty port map",
                json!({"portLevelMtls": {}}),
                &["must have at least one element"],
            ),
            (
                "ports without selector",
                json!({"portLevelMtls": {"80": {"mode": "STRICT"}}}),
                &["cannot have port level mTLS"],
            ),
            (
                "ports with selector",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"80": {"mode": "DISABLE"}}}),
                &[],
            ),
            (
                "port zero",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"0": {"mode": "DISABLE"}}}),
                &["port must be in range 1..65535"],
            ),
            (
                "port too high",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"42949672": {"mode": "DISABLE"}}}),
                &["port must be in range 1..65535"],
            ),
            (
                "port not a number",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"acd": {"mode": "DISABLE"}}}),
                &["acd"],
            ),
            (
                "bad mode",
                json!({"mtls": {"mode": "BLAH"}}),
                &["Unsupported value: \"BLAH\""],
            ),
        ];
        for (name, spec, want) in cases {
            let got = run("PeerAuthentication", spec);
            assert_eq!(got.is_empty(), want.is_empty(), "{name}: {got:?}");
            for w in want {
                assert!(
                    got.iter().any(|(p, m)| m.contains(w) || p.contains(w)),
                    "{name}: want {w:?} in {got:?}"
                );
            }
        }
    }
}
