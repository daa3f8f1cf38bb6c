//! Istio's `applicationUID.Analyzer`: application containers must not run as UID 1337, which
//! the sidecar proxy uses (its traffic is exempt from redirection).

use mast_config::Resource;
use serde_json::Value;

use super::injection::{OPERATOR_CONTAINER, PROXY_CONTAINER, is_istio_control_plane};
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(ApplicationUidAnalyzer)]
}

/// The UID reserved for the proxy.
const PROXY_UID: i64 = 1337;

/// `applicationUID.Analyzer`.
struct ApplicationUidAnalyzer;

impl Analyzer for ApplicationUidAnalyzer {
    fn name(&self) -> &'static str {
        "applicationUID.Analyzer"
    }

    fn description(&self) -> &'static str {
        "Checks invalid application UID"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::POD, kinds::DEPLOYMENT]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for pod in store.list(kinds::POD) {
            check(ctx, pod, pod.spec(), "/spec");
        }
        for d in store.list(kinds::DEPLOYMENT) {
            let spec = d
                .spec()
                .get("template")
                .and_then(|t| t.get("spec"))
                .unwrap_or(&Value::Null);
            check(ctx, d, spec, "/spec/template/spec");
        }
    }
}

/// Reports `r` once if its pod spec (at `base`) runs the pod or an application container as
/// the proxy's UID. Control-plane objects are exempt.
fn check(ctx: &mut Context<'_>, r: &Resource, spec: &Value, base: &str) {
    if is_istio_control_plane(r) {
        return;
    }
    if let Some(path) = uid_1337_field(spec) {
        ctx.report(
            r,
            Some(&format!("{base}{path}")),
            catalogue::INVALID_APPLICATION_UID,
            vec![],
        );
    }
}

/// The path (under the pod spec) of the first `runAsUser: 1337`, if any.
fn uid_1337_field(spec: &Value) -> Option<String> {
    if runs_as_proxy(spec) {
        return Some("/securityContext/runAsUser".to_string());
    }
    arr_of(spec, "containers")
        .iter()
        .enumerate()
        .filter(|(_, c)| !matches!(str_of(c, "name"), PROXY_CONTAINER | OPERATOR_CONTAINER))
        .find(|(_, c)| runs_as_proxy(c))
        .map(|(i, _)| format!("/containers/{i}/securityContext/runAsUser"))
}

/// Whether `securityContext.runAsUser` of a pod spec or container is the proxy's UID.
fn runs_as_proxy(v: &Value) -> bool {
    v.get("securityContext")
        .and_then(|s| s.get("runAsUser"))
        .and_then(Value::as_i64)
        == Some(PROXY_UID)
}
