//! Istio's `k8sgateway` analyzers (Kubernetes Gateway API).

use std::collections::BTreeMap;

use mast_config::Resource;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{selector_matches, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(SelectorAnalyzer), Box::new(CrdVersionAnalyzer)]
}

/// The label Istio puts on the pods of a Kubernetes Gateway, naming the Gateway.
const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
/// The annotation carrying the Gateway API release a CRD belongs to.
const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";

/// The policy kinds whose `selector` can address gateway pods.
const POLICY_KINDS: [Kind; 4] = [
    kinds::AUTHORIZATION_POLICY,
    kinds::REQUEST_AUTHENTICATION,
    kinds::TELEMETRY,
    kinds::WASM_PLUGIN,
];

/// Reports policies that select Kubernetes Gateway pods by label instead of a `targetRef`.
pub struct SelectorAnalyzer;

impl Analyzer for SelectorAnalyzer {
    fn name(&self) -> &'static str {
        "k8sgateway.SelectorAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Check that selectors are effective for Kubernetes gateway"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::AUTHORIZATION_POLICY,
            kinds::REQUEST_AUTHENTICATION,
            kinds::TELEMETRY,
            kinds::WASM_PLUGIN,
            kinds::POD,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut gateway_pods: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
        for pod in store.list(kinds::POD) {
            if pod.meta.labels.contains_key(GATEWAY_NAME_LABEL) {
                gateway_pods
                    .entry(pod.meta.namespace.as_str())
                    .or_default()
                    .push(pod);
            }
        }
        for kind in POLICY_KINDS {
            for policy in store.list(kind) {
                let spec = policy.spec();
                if spec.get("targetRef").is_some_and(|t| !t.is_null()) {
                    continue;
                }
                let Some(selector) = spec.get("selector").filter(|s| !s.is_null()) else {
                    continue;
                };
                let labels = string_map(selector.get("matchLabels"));
                let pods = gateway_pods
                    .get(policy.meta.namespace.as_str())
                    .into_iter()
                    .flatten();
                for pod in pods {
                    if selector_matches(&labels, &pod.meta.labels) {
                        let gateway = pod.meta.labels[GATEWAY_NAME_LABEL].clone();
                        ctx.report(
                            policy,
                            Some("/spec/selector"),
                            catalogue::INEFFECTIVE_SELECTOR,
                            vec![gateway.into()],
                        );
                    }
                }
            }
        }
    }
}

/// The minimum Gateway API release of each CRD this Istio processes.
const MINIMUM_CRD_VERSIONS: [(&str, (u64, u64, u64)); 4] = [
    ("grpcroutes.gateway.networking.k8s.io", (1, 1, 0)),
    ("backendtlspolicies.gateway.networking.k8s.io", (1, 4, 0)),
    ("tlsroutes.gateway.networking.k8s.io", (1, 5, 0)),
    ("tcproutes.gateway.networking.k8s.io", (1, 6, 0)),
];

/// Reports Gateway API CRDs older than the release Istio requires.
pub struct CrdVersionAnalyzer;

impl Analyzer for CrdVersionAnalyzer {
    fn name(&self) -> &'static str {
        "k8sgateway.CRDVersionAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks Gateway API CRDs are at the minimum version required by this Istio version"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::CRD]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for crd in store.list(kinds::CRD) {
            let Some((_, minimum)) = MINIMUM_CRD_VERSIONS
                .iter()
                .find(|(n, _)| *n == crd.meta.name)
            else {
                continue;
            };
            let Some(installed) = crd
                .meta
                .annotations
                .get(BUNDLE_VERSION_ANNOTATION)
                .and_then(|v| Version::parse(v))
            else {
                continue;
            };
            if installed.core() < *minimum {
                let min = format!("{}.{}.{}", minimum.0, minimum.1, minimum.2);
                ctx.report(
                    crd,
                    Some("/metadata/annotations"),
                    catalogue::GATEWAY_APICRD_VERSION_BELOW_MINIMUM,
                    vec![
                        crd.meta.name.clone().into(),
                        installed.to_string().into(),
                        min.into(),
                    ],
                );
            }
        }
    }
}

/// A semantic version as the Gateway API bundle annotation carries it (`v1.4.1`, `1.5.0-rc.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    build: String,
}

impl Version {
    /// Parses leniently, as Masterminds' `semver.NewVersion`: an optional `v`, one to three
    /// numeric parts (missing ones are 0), then `-prerelease` and `+build`.
    fn parse(text: &str) -> Option<Version> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) => (r, b.to_string()),
            None => (text, String::new()),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, p.to_string()),
            None => (rest, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        Some(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            build,
        })
    }

    /// The numeric part, without prerelease or build.
    fn core(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = Version::parse("v1.4.1").unwrap();
        assert_eq!(v.core(), (1, 4, 1));
        assert_eq!(v.to_string(), "1.4.1");
        let rc = Version::parse("1.5.0-rc.1+abc").unwrap();
        assert_eq!(rc.core(), (1, 5, 0));
        assert_eq!(rc.to_string(), "1.5.0-rc.1+abc");
        assert_eq!(Version::parse("1.5").unwrap().core(), (1, 5, 0));
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
    }
}
