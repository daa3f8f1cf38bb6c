//! Istio's `envoyfilter.EnvoyPatchAnalyzer`: EnvoyFilter patches whose operation does not fit
//! what they apply to, and relative operations without a priority.

use mast_config::Resource;
use serde_json::Value;

use super::webhook::Once;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::message::MessageType;
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(EnvoyPatchAnalyzer)]
}

/// `envoyfilter.EnvoyPatchAnalyzer`.
struct EnvoyPatchAnalyzer;

impl Analyzer for EnvoyPatchAnalyzer {
    fn name(&self) -> &'static str {
        "envoyfilter.EnvoyPatchAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks an envoyFilters "
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::ENVOY_FILTER]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        // Names of patched filters that some earlier patch pinned to a proxy version.
        let mut versioned: Vec<String> = Vec::new();
        let mut once = Once::default();
        for ef in store.list(kinds::ENVOY_FILTER) {
            analyze_filter(ctx, &mut once, ef, &mut versioned);
        }
    }
}

/// What a patch does to what, as far as this analyzer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Nothing to say.
    Fine,
    /// The operation is ignored for this `applyTo`.
    Misused(MessageType),
    /// A relative operation: order matters, so a priority is wanted.
    Relative,
}

/// Judges an operation against the `applyTo` it patches.
fn judge(operation: &str, apply_to: &str) -> Verdict {
    let route_level = matches!(apply_to, "ROUTE_CONFIGURATION" | "HTTP_ROUTE");
    match operation {
        "ADD" if route_level => {
            Verdict::Misused(catalogue::ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY)
        }
        "REMOVE" if route_level => {
            Verdict::Misused(catalogue::ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY)
        }
        "REPLACE" if !matches!(apply_to, "NETWORK_FILTER" | "HTTP_FILTER" | "VIRTUAL_HOST") => {
            Verdict::Misused(catalogue::ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY)
        }
        "REMOVE" | "REPLACE" | "INSERT_BEFORE" | "INSERT_AFTER" => Verdict::Relative,
        _ => Verdict::Fine,
    }
}

/// An enum field given by name or by number.
fn enum_name<'a>(v: Option<&'a Value>, names: &[&'a str]) -> &'a str {
    match v {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|i| names.get(i as usize))
            .copied()
            .unwrap_or_default(),
        _ => "",
    }
}

const OPERATIONS: &[&str] = &[
    "INVALID",
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
];
const APPLY_TO: &[&str] = &[
    "INVALID",
    "LISTENER",
    "FILTER_CHAIN",
    "NETWORK_FILTER",
    "HTTP_FILTER",
    "ROUTE_CONFIGURATION",
    "VIRTUAL_HOST",
    "HTTP_ROUTE",
    "CLUSTER",
    "EXTENSION_CONFIG",
    "BOOTSTRAP",
    "LISTENER_FILTER",
];

/// The name by which patches of the same filter are recognised: the patch value's `name`, else
/// the listener filter chain's filter name. The two kinds never compare equal, as in Istio.
fn instance_name(patch: &Value, matcher: &Value) -> String {
    match patch.get("value").and_then(Value::as_object) {
        Some(value) => match value.get("name") {
            Some(name) => format!("value:{name}"),
            None => matcher
                .pointer("/listener/filterChain")
                .filter(|fc| !fc.is_null())
                .map(|fc| {
                    fc.get("filter")
                        .map(|f| str_of(f, "name"))
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_default(),
        },
        None => String::new(),
    }
}

fn analyze_filter(
    ctx: &mut Context<'_>,
    once: &mut Once,
    ef: &Resource,
    versioned: &mut Vec<String>,
) {
    let priority = ef
        .spec()
        .get("priority")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    for (i, cp) in arr_of(ef.spec(), "configPatches").iter().enumerate() {
        let Some(patch) = cp.get("patch").filter(|p| !p.is_null()) else {
            break;
        };
        let matcher = cp.get("match").unwrap_or(&Value::Null);
        let name = instance_name(patch, matcher);
        let path = format!("/spec/configPatches/{i}/patch/value");
        let operation = enum_name(patch.get("operation"), OPERATIONS);
        let apply_to = enum_name(cp.get("applyTo"), APPLY_TO);
        match judge(operation, apply_to) {
            Verdict::Misused(kind) => once.report(ctx, ef, Some(&path), kind, vec![]),
            Verdict::Relative if priority == 0 => {
                let kind = if versioned.contains(&name) {
                    catalogue::ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION
                } else {
                    catalogue::ENVOY_FILTER_USES_RELATIVE_OPERATION
                };
                once.report(ctx, ef, Some(&path), kind, vec![]);
            }
            _ => {}
        }
        let version = matcher
            .pointer("/proxy/proxyVersion")
            .and_then(Value::as_str);
        if version.is_some_and(|v| !v.is_empty()) {
            versioned.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_against_targets() {
        use Verdict::*;
        let cases = [
            ("ADD", "HTTP_FILTER", Fine),
            (
                "ADD",
                "HTTP_ROUTE",
                Misused(catalogue::ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY),
            ),
            (
                "REMOVE",
                "ROUTE_CONFIGURATION",
                Misused(catalogue::ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY),
            ),
            ("REMOVE", "CLUSTER", Relative),
            (
                "REPLACE",
                "CLUSTER",
                Misused(catalogue::ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY),
            ),
            ("REPLACE", "VIRTUAL_HOST", Relative),
            ("INSERT_AFTER", "CLUSTER", Relative),
            ("INSERT_FIRST", "HTTP_FILTER", Fine),
            ("MERGE", "FILTER_CHAIN", Fine),
        ];
        for (op, to, want) in cases {
            assert_eq!(judge(op, to), want, "{op} {to}");
        }
    }
}
