//! `virtualservice.JWTClaimRouteAnalyzer`: routing on JWT claims at a gateway needs a
//! RequestAuthentication that applies to the gateway's pods.

use std::collections::{BTreeMap, HashMap};

use mast_config::Resource;
use serde_json::Value;

use super::conflicting_hosts::MESH_GATEWAY;
use super::gateways::{full_name_string, short_or_full_name};
use super::services::strings_of;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, selector_matches, string_map};

/// The header prefix that routes on a JWT claim.
const CLAIM_HEADER_PREFIX: &str = "@request.auth.claims";
/// The namespace whose RequestAuthentications apply to every namespace.
const ISTIO_SYSTEM: &str = "istio-system";

/// Checks that VirtualServices routing on JWT claims have a RequestAuthentication for the
/// gateway pods.
pub struct JwtClaimRouteAnalyzer;

impl Analyzer for JwtClaimRouteAnalyzer {
    fn name(&self) -> &'static str {
        "virtualservice.JWTClaimRouteAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the VirtualService using JWT claim based routing has corresponding RequestAuthentication"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::VIRTUAL_SERVICE,
            kinds::REQUEST_AUTHENTICATION,
            kinds::GATEWAY,
            kinds::POD,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut selectors: HashMap<String, Vec<BTreeMap<String, String>>> = HashMap::new();
        for ra in store.list(kinds::REQUEST_AUTHENTICATION) {
            let labels = string_map(ra.spec().get("selector").and_then(|s| s.get("matchLabels")));
            selectors
                .entry(ra.meta.namespace.clone())
                .or_default()
                .push(labels);
        }
        for r in store.list(kinds::VIRTUAL_SERVICE) {
            if let Some(key) = claim_route_key(r.spec()) {
                check_gateways(ctx, r, &key, &selectors);
            }
        }
    }
}

/// Whether a header name routes on a JWT claim (`@request.auth.claims.x` or
/// `@request.auth.claims[x]`).
fn is_claim_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(CLAIM_HEADER_PREFIX) else {
        return false;
    };
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

/// The first header of an HTTP match (in `headers` or `withoutHeaders`) that routes on a claim.
fn claim_route_key(spec: &Value) -> Option<String> {
    for rule in arr_of(spec, "http") {
        for m in arr_of(rule, "match") {
            for field in ["headers", "withoutHeaders"] {
                if let Some(Value::Object(headers)) = m.get(field)
                    && let Some(k) = headers.keys().find(|k| is_claim_header(k))
                {
                    return Some(k.clone());
                }
            }
        }
    }
    None
}

/// Reports each pod of the VirtualService's gateways that no RequestAuthentication selects.
fn check_gateways(
    ctx: &mut Context<'_>,
    r: &Resource,
    key: &str,
    selectors: &HashMap<String, Vec<BTreeMap<String, String>>>,
) {
    let store = ctx.store;
    for reference in strings_of(r.spec(), "gateways") {
        if reference == MESH_GATEWAY {
            continue;
        }
        let (ns, name) = short_or_full_name(&r.meta.namespace, &reference);
        let Some(gw) = store.get(kinds::GATEWAY, &ns, &name) else {
            continue;
        };
        let gw_selector = string_map(gw.spec().get("selector"));
        for pod in store.list(kinds::POD) {
            if !selector_matches(&gw_selector, &pod.meta.labels) {
                continue;
            }
            let applicable = selectors
                .get(ISTIO_SYSTEM)
                .into_iter()
                .chain(selectors.get(&pod.meta.namespace))
                .flatten();
            let covered = applicable
                .into_iter()
                .any(|s| selector_matches(s, &pod.meta.labels));
            if !covered {
                ctx.report(
                    r,
                    None,
                    catalogue::JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N,
                    vec![
                        key.into(),
                        full_name_string(&ns, &name).into(),
                        pod.meta.name.clone().into(),
                    ],
                );
            }
        }
    }
}
