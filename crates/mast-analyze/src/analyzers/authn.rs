//! Istio's `authn` analyzers.

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The istiod environment variable that restricts where JWKS URIs may be fetched from.
const BLOCKED_CIDRS_ENV: &str = "BLOCKED_CIDRS_IN_JWKS_URIS";
/// How many RequestAuthentication names a message lists before summarizing.
const MAX_NAMES_SHOWN: usize = 5;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(BlockedCidrsAnalyzer)]
}

/// Warns when RequestAuthentications exist but istiod does not restrict JWKS URI fetches.
pub struct BlockedCidrsAnalyzer;

impl Analyzer for BlockedCidrsAnalyzer {
    fn name(&self) -> &'static str {
        "authn.BlockedCIDRsAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks that BLOCKED_CIDRS_IN_JWKS_URIS is configured on istiod when RequestAuthentication resources exist"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::REQUEST_AUTHENTICATION, kinds::DEPLOYMENT]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let names: Vec<String> = store
            .list(kinds::REQUEST_AUTHENTICATION)
            .map(Resource::namespaced_name)
            .collect();
        if names.is_empty() {
            return;
        }
        let listed = summarize_names(&names);
        for d in store.list(kinds::DEPLOYMENT) {
            if is_istiod(d) && !restricts_jwks_fetches(d) {
                let args = vec![names.len().into(), listed.clone().into()];
                ctx.report(
                    d,
                    Some("/spec/template/spec/containers"),
                    catalogue::JWKS_URI_FETCH_UNRESTRICTED,
                    args,
                );
            }
        }
    }
}

fn is_istiod(d: &Resource) -> bool {
    d.meta.labels.get("app").map(String::as_str) == Some("istiod")
}

/// Whether any container of the pod template sets the variable to a non-empty value.
fn restricts_jwks_fetches(d: &Resource) -> bool {
    let containers = d
        .spec()
        .pointer("/template/spec")
        .map(|s| arr_of(s, "containers"))
        .unwrap_or_default();
    containers.iter().flat_map(|c| arr_of(c, "env")).any(|e| {
        str_of(e, "name") == BLOCKED_CIDRS_ENV
            && e.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
    })
}

/// `a, b, c`, or the first few names and `and N more`.
fn summarize_names(names: &[String]) -> String {
    if names.len() <= MAX_NAMES_SHOWN {
        return names.join(", ");
    }
    format!(
        "{}, and {} more",
        names[..MAX_NAMES_SHOWN].join(", "),
        names.len() - MAX_NAMES_SHOWN
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_summarized() {
        let names: Vec<String> = (1..=7).map(|i| format!("ns/ra{i}")).collect();
        assert_eq!(summarize_names(&names[..2]), "ns/ra1, ns/ra2");
        assert_eq!(
            summarize_names(&names),
            "ns/ra1, ns/ra2, ns/ra3, ns/ra4, ns/ra5, and 2 more"
        );
    }
}
