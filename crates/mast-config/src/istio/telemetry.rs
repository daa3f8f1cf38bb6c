//! `telemetry.istio.io`: `Telemetry` (istio/api `telemetry/v1alpha1`, served as `v1alpha1`
//! and `v1`), with Istio's validation rules (the istiod webhook and the CRD schema rules).

pub(crate) mod cel;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::istio::decode::decode_spec;
use crate::istio::mesh::Duration;
use crate::istio::security::{PolicyTargetReference, WorkloadSelector, check_attachment};
use crate::validate::Findings;

/// Telemetry settings (tracing, metrics, access logs) for the mesh, a namespace, or workloads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Telemetry {
    /// Workloads the settings apply to.
    pub selector: Option<WorkloadSelector>,
    /// The resource the settings are attached to (instead of `selector`).
    pub target_ref: Option<PolicyTargetReference>,
    /// The resources the settings are attached to (instead of `selector`).
    pub target_refs: Vec<PolicyTargetReference>,
    /// Tracing settings.
    pub tracing: Vec<Tracing>,
    /// Metrics settings.
    pub metrics: Vec<Metrics>,
    /// Access logging settings.
    pub access_logging: Vec<AccessLogging>,
}

/// Which side of the traffic a setting applies to (`telemetry.v1alpha1.WorkloadMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Both client and server side.
    #[default]
    ClientAndServer,
    /// Client (outbound) side.
    Client,
    /// Server (inbound) side.
    Server,
}

/// A provider of `meshConfig.extensionProviders`, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ProviderRef {
    /// The provider's name.
    pub name: String,
}

/// Tracing settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Tracing {
    /// Which traffic the settings apply to.
    pub r#match: Option<TracingSelector>,
    /// Tracing providers (one supported).
    pub providers: Vec<ProviderRef>,
    /// Percentage of requests sampled, 0 to 100.
    pub random_sampling_percentage: Option<f64>,
    /// Whether spans are not reported.
    pub disable_span_reporting: Option<bool>,
    /// Extra tags on spans, by tag name.
    pub custom_tags: BTreeMap<String, CustomTag>,
    /// Whether the request id decides sampling.
    pub use_request_id_for_trace_sampling: Option<bool>,
    /// Whether Istio's own tags are added.
    pub enable_istio_tags: Option<bool>,
    /// Whether trace context propagation is off.
    pub disable_context_propagation: Option<bool>,
}

/// `Tracing.TracingSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TracingSelector {
    /// Client side, server side, or both.
    pub mode: WorkloadMode,
}

/// Where a custom tag's value comes from (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CustomTag {
    /// A fixed value.
    pub literal: Option<Literal>,
    /// An environment variable of the proxy.
    pub environment: Option<NamedSource>,
    /// A request header.
    pub header: Option<NamedSource>,
    /// An Envoy formatter expression.
    pub formatter: Option<Literal>,
}

/// A fixed (or formatter) value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Literal {
    /// The value.
    pub value: String,
}

/// An environment variable or header, with a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NamedSource {
    /// The variable or header name.
    pub name: String,
    /// Value used when it is absent.
    pub default_value: String,
}

/// Metrics settings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Metrics {
    /// Metrics providers.
    pub providers: Vec<ProviderRef>,
    /// Changes to the generated metrics.
    pub overrides: Vec<MetricsOverrides>,
    /// How often metrics are reported (for providers that push).
    pub reporting_interval: Option<Duration>,
}

/// Selects metrics (a `oneof` of `metric` and `customMetric`, plus a mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MetricSelector {
    /// One of Istio's standard metrics.
    pub metric: Option<IstioMetric>,
    /// A metric by name.
    pub custom_metric: Option<String>,
    /// Client side, server side, or both.
    pub mode: WorkloadMode,
}

/// `MetricSelector.IstioMetric`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IstioMetric {
    /// Every metric.
    #[default]
    AllMetrics,
    /// `requests_total`.
    RequestCount,
    /// `request_duration_milliseconds`.
    RequestDuration,
    /// `request_bytes`.
    RequestSize,
    /// `response_bytes`.
    ResponseSize,
    /// `tcp_connections_opened_total`.
    TcpOpenedConnections,
    /// `tcp_connections_closed_total`.
    TcpClosedConnections,
    /// `tcp_sent_bytes_total`.
    TcpSentBytes,
    /// `tcp_received_bytes_total`.
    TcpReceivedBytes,
    /// `request_messages_total`.
    GrpcRequestMessages,
    /// `response_messages_total`.
    GrpcResponseMessages,
}

/// Changes to the selected metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MetricsOverrides {
    /// Which metrics.
    pub r#match: Option<MetricSelector>,
    /// Whether they are not generated.
    pub disabled: Option<bool>,
    /// Tag changes, by tag name.
    pub tag_overrides: BTreeMap<String, TagOverride>,
}

/// A change to one tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TagOverride {
    /// Add/replace or remove.
    pub operation: TagOperation,
    /// The value expression, for `UPSERT`.
    pub value: Option<String>,
}

/// `TagOverride.Operation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagOperation {
    /// Add or replace the tag.
    #[default]
    Upsert,
    /// Remove the tag.
    Remove,
}

/// Access logging settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AccessLogging {
    /// Which traffic the settings apply to.
    pub r#match: Option<LogSelector>,
    /// Logging providers.
    pub providers: Vec<ProviderRef>,
    /// Whether logging is off.
    pub disabled: Option<bool>,
    /// Which requests are logged.
    pub filter: Option<Filter>,
}

/// `AccessLogging.LogSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LogSelector {
    /// Client side, server side, or both.
    pub mode: WorkloadMode,
}

/// Which requests are logged: a CEL expression over Envoy's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Filter {
    /// The CEL expression; requests for which it is true are logged.
    pub expression: String,
}

/// Validates the spec of a `telemetry.istio.io` kind.
pub fn validate(kind: &str, spec: &Value, out: &mut Findings) {
    if kind == "Telemetry"
        && let Some(t) = decode_spec::<Telemetry>(spec, out)
    {
        validate_telemetry(&t, out);
    }
}

/// Istio's `ValidateTelemetry` plus the CRD rules.
pub fn validate_telemetry(t: &Telemetry, out: &mut Findings) {
    check_attachment(
        t.selector.as_ref(),
        t.target_ref.as_ref(),
        &t.target_refs,
        out,
    );
    for (i, m) in t.metrics.iter().enumerate() {
        check_metrics(m, &format!("spec.metrics[{i}]"), out);
    }
    if t.tracing.len() > 1 {
        out.warning(
            "spec.tracing",
            "multiple tracing is not currently supported",
        );
    }
    for (i, tr) in t.tracing.iter().enumerate() {
        check_tracing(tr, &format!("spec.tracing[{i}]"), out);
    }
    for (i, l) in t.access_logging.iter().enumerate() {
        let at = format!("spec.accessLogging[{i}]");
        if let Some(f) = &l.filter
            && let Err(e) = cel::parse(&f.expression)
        {
            out.error(
                format!("{at}.filter.expression"),
                format!("must be a valid CEL expression, {e}"),
            );
        }
        check_providers(&l.providers, &at, out);
    }
}

/// Istio's `validateTelemetryProviders`: every provider is named.
fn check_providers(providers: &[ProviderRef], at: &str, out: &mut Findings) {
    if let Some(i) = providers.iter().position(|p| p.name.is_empty()) {
        out.error(
            format!("{at}.providers[{i}].name"),
            "providers.name may not be empty",
        );
    }
}

fn check_metrics(m: &Metrics, at: &str, out: &mut Findings) {
    check_providers(&m.providers, at, out);
    if let Some(d) = m.reporting_interval
        && d < Duration::MILLISECOND
    {
        out.error(
            format!("{at}.reportingInterval"),
            "must be a valid duration greater than 1ms",
        );
    }
    for (i, o) in m.overrides.iter().enumerate() {
        let p = format!("{at}.overrides[{i}]");
        for (tag, to) in &o.tag_overrides {
            let tp = format!("{p}.tagOverrides[{tag:?}]");
            if tag.is_empty() {
                out.warning(&tp, "tagOverrides.name may not be empty");
            }
            let value = to.value.as_deref().unwrap_or_default();
            match to.operation {
                TagOperation::Upsert if value.is_empty() => {
                    out.error(
                        tp,
                        "tagOverrides.value must be set when operation is UPSERT",
                    );
                }
                TagOperation::Remove if to.value.is_some() => {
                    out.error(
                        tp,
                        "tagOverrides.value may only be set when operation is UPSERT",
                    );
                }
                _ => {}
            }
        }
        if let Some(sel) = &o.r#match {
            if sel.metric.is_some() && sel.custom_metric.is_some() {
                out.error(
                    format!("{p}.match"),
                    "only one of metric or customMetric may be set",
                );
            }
            if sel.custom_metric.as_deref() == Some("") {
                out.error(
                    format!("{p}.match.customMetric"),
                    "customMetric may not be empty",
                );
            }
        }
    }
}

fn check_tracing(tr: &Tracing, at: &str, out: &mut Findings) {
    if tr.providers.len() > 1 {
        out.warning(
            format!("{at}.providers"),
            "multiple providers is not currently supported",
        );
    }
    check_providers(&tr.providers, at, out);
    if let Some(p) = tr.random_sampling_percentage
        && !(0.0..=100.0).contains(&p)
    {
        out.error(
            format!("{at}.randomSamplingPercentage"),
            "randomSamplingPercentage must be in range [0.0, 100.0]",
        );
    }
    for (name, tag) in &tr.custom_tags {
        let p = format!("{at}.customTags[{name:?}]");
        if name.is_empty() {
            out.error(&p, "tag name may not be empty");
        }
        let kinds = [
            tag.literal.is_some(),
            tag.environment.is_some(),
            tag.header.is_some(),
            tag.formatter.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            out.error(
                &p,
                "only one of literal, environment, header or formatter may be set",
            );
        }
        if tag.literal.as_ref().is_some_and(|l| l.value.is_empty()) {
            out.error(
                format!("{p}.literal.value"),
                "literal tag value may not be empty",
            );
        }
        if tag.header.as_ref().is_some_and(|h| h.name.is_empty()) {
            out.error(
                format!("{p}.header.name"),
                "header tag name may not be empty",
            );
        }
        if tag.environment.as_ref().is_some_and(|e| e.name.is_empty()) {
            out.error(
                format!("{p}.environment.name"),
                "environment tag name may not be empty",
            );
        }
        if tag.formatter.as_ref().is_some_and(|f| f.value.is_empty()) {
            out.error(
                format!("{p}.formatter.value"),
                "formatter tag value may not be empty",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn telemetry_rules() {
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("empty", json!({}), None),
            (
                "provider name",
                json!({"metrics": [{"providers": [{"name": ""}]}]}),
                Some("providers.name may not be empty"),
            ),
            (
                "custom metric empty",
                json!({"metrics": [{"overrides": [{"match": {"customMetric": ""}}]}]}),
                Some("customMetric may not be empty"),
            ),
            (
                "upsert without value",
                json!({"metrics": [{"overrides": [{"tagOverrides": {"foo": {"operation": "UPSERT"}}}]}]}),
                Some("must be set when operation is UPSERT"),
            ),
            (
                "upsert default op",
                json!({"metrics": [{"overrides": [{"tagOverrides": {"foo": {}}}]}]}),
                Some("must be set when operation is UPSERT"),
            ),
            (
                "remove with value",
                json!({"metrics": [{"overrides": [{"tagOverrides": {"foo": {"operation": "REMOVE", "value": "oops"}}}]}]}),
                Some("may only be set when operation is UPSERT"),
            ),
            (
                "remove ok",
                json!({"metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT", "mode": "CLIENT"}, "tagOverrides": {"foo": {"operation": "REMOVE"}}}]}]}),
                None,
            ),
            (
                "sampling high",
                json!({"tracing": [{"randomSamplingPercentage": 101}]}),
                Some("randomSamplingPercentage must be in range [0.0, 100.0]"),
            ),
            (
                "sampling ok",
                json!({"tracing": [{"randomSamplingPercentage": 10.5, "providers": [{"name": "zipkin"}]}]}),
                None,
            ),
            (
                "literal empty",
                json!({"tracing": [{"customTags": {"a": {"literal": {"value": ""}}}}]}),
                Some("literal tag value may not be empty"),
            ),
            (
                "header empty",
                json!({"tracing": [{"customTags": {"a": {"header": {"name": ""}}}}]}),
                Some("header tag name may not be empty"),
            ),
            (
                "env ok",
                json!({"tracing": [{"customTags": {"a": {"environment": {"name": "X", "defaultValue": "y"}}}}]}),
                None,
            ),
            (
                "bad filter",
                json!({"accessLogging": [{"filter": {"expression": ")++++"}}]}),
                Some("must be a valid CEL expression"),
            ),
            (
                "good filter",
                json!({"accessLogging": [{"providers": [{"name": "envoy"}], "filter": {"expression": "response.code >= 400"}}]}),
                None,
            ),
            (
                "interval",
                json!({"metrics": [{"reportingInterval": "0s"}]}),
                Some("greater than 1ms"),
            ),
            (
                "bad interval",
                json!({"metrics": [{"reportingInterval": "ten"}]}),
                Some("invalid duration"),
            ),
        ];
        for (name, spec, want) in cases {
            let mut out = Findings::default();
            validate("Telemetry", &spec, &mut out);
            crate::validate::expect_errors(name, &out.error_lines(), want);
        }
    }
}
