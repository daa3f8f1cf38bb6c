//! `ProxyConfig` (`networking.istio.io/v1beta1`): per-workload proxy settings, and Istio's
//! checks of it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::istio::common::{WorkloadSelector, validate_workload_selector};
use crate::validate::Findings;

/// `ProxyConfig`: settings for the proxies of the selected workloads (or the namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfig {
    /// Workloads it applies to.
    pub selector: Option<WorkloadSelector>,
    /// Worker threads (0: one per core).
    pub concurrency: Option<i32>,
    /// Environment variables of the proxy.
    pub environment_variables: BTreeMap<String, String>,
    /// Proxy image variant.
    pub image: Option<ProxyImage>,
}

/// `ProxyImage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyImage {
    /// `default`, `debug` or `distroless`.
    pub image_type: String,
}

impl ProxyConfig {
    /// Istio's `ValidateProxyConfig`.
    pub fn validate(&self, out: &mut Findings) {
        validate_workload_selector(self.selector.as_ref(), out, "spec.selector");
        if self.concurrency.is_some_and(|c| c < 0) {
            out.error(
                "spec.concurrency",
                "concurrency must be greater than or equal to 0",
            );
        }
    }
}
