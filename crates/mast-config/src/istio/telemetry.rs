//! `telemetry.istio.io`: `Telemetry` (istio/api `telemetry/v1alpha1`, served as `v1alpha1`
//! and `v1`), with Istio's validation rules (the istiod webhook and the CRD schema rules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::istio::mesh::Duration;
use crate::istio::decode::decode_spec;
use crate::istio::security::{
    PolicyTargetReference, WorkloadSelector, check_attachment,
};
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

/// A syntax check of Common Expression Language expressions, as `cel.Env.Parse` does it
/// (parsing only: no type checking, so unknown attributes are fine).
pub(crate) mod cel {
    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Ident(String),
        Int,
        Str,
        Punct(&'static str),
        End,
    }

    const PUNCTS: [&str; 25] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", ".",
        ",", "(", ")", "[", "]", "{", "}", "=",
    ];

    const RESERVED: [&str; 15] = [
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
    ];

    /// Parses `src`; the error names the first problem and its column.
    pub fn parse(src: &str) -> Result<(), String> {
        let toks = lex(src)?;
        let mut p = Parser { toks, pos: 0 };
        if p.peek() == &Tok::End {
            return Err("ERROR: <input>:1:1: Syntax error: mismatched input '<EOF>'".into());
        }
        p.expr(0)?;
        match p.peek() {
            Tok::End => Ok(()),
            t => Err(format!(
                "ERROR: <input>: Syntax error: extraneous input {}",
                show(t)
            )),
        }
    }

    fn show(t: &Tok) -> String {
        match t {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Int => "number".into(),
            Tok::Str => "string".into(),
            Tok::Punct(p) => format!("'{p}'"),
            Tok::End => "'<EOF>'".into(),
        }
    }

    fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
        let b = src.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let start = i;
            if c.is_ascii_whitespace() {
                i += 1;
            } else if src[i..].starts_with("//") {
                i = src[i..].find('\n').map_or(b.len(), |n| i + n);
            } else if c.is_ascii_alphabetic() || c == b'_' {
                let end = src[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .map_or(b.len(), |n| i + n);
                let word = &src[i..end];
                let quote = b.get(end).copied();
                if matches!(
                    word,
                    "r" | "R" | "b" | "B" | "rb" | "br" | "Rb" | "bR" | "rB" | "Br" | "RB" | "BR"
                ) && matches!(quote, Some(b'"' | b'\''))
                {
                    i = lex_string(src, end, word.contains(['r', 'R']))?;
                    out.push((Tok::Str, start));
                } else {
                    out.push((Tok::Ident(word.to_string()), start));
                    i = end;
                }
            } else if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
            {
                i = lex_number(src, i)?;
                out.push((Tok::Int, start));
            } else if c == b'"' || c == b'\'' {
                i = lex_string(src, i, false)?;
                out.push((Tok::Str, start));
            } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
                out.push((Tok::Punct(p), start));
                i += p.len();
            } else {
                let ch = src[i..].chars().next().unwrap_or_default();
                return Err(format!(
                    "ERROR: <input>:1:{}: Syntax error: token recognition error at: '{ch}'",
                    i + 1
                ));
            }
        }
        out.push((Tok::End, b.len()));
        Ok(out)
    }

    fn lex_number(src: &str, mut i: usize) -> Result<usize, String> {
        let b = src.as_bytes();
        if src[i..].starts_with("0x") || src[i..].starts_with("0X") {
            i += 2;
            let s = i;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
            if s == i {
                return Err(format!(
                    "ERROR: <input>:1:{}: Syntax error: invalid hex literal",
                    s
                ));
            }
        } else {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
        }
        if i < b.len() && (b[i] == b'u' || b[i] == b'U') {
            i += 1;
        }
        Ok(i)
    }

    fn lex_string(src: &str, i: usize, raw: bool) -> Result<usize, String> {
        let q = &src[i..i + 1];
        let triple: String = q.repeat(3);
        let (delim, mut j) = if src[i..].starts_with(&triple) {
            (triple.as_str(), i + 3)
        } else {
            (q, i + 1)
        };
        let b = src.as_bytes();
        while j < b.len() {
            if src[j..].starts_with(delim) {
                return Ok(j + delim.len());
            }
            if b[j] == b'\\' && !raw {
                j += 2;
                continue;
            }
            if b[j] == b'\n' && delim.len() == 1 {
                break;
            }
            j += src[j..].chars().next().map_or(1, char::len_utf8);
        }
        Err(format!(
            "ERROR: <input>:1:{}: Syntax error: token recognition error at: '{}'",
            i + 1,
            &src[i..]
        ))
    }

    struct Parser {
        toks: Vec<(Tok, usize)>,
        pos: usize,
    }

    impl Parser {
        fn peek(&self) -> &Tok {
            &self.toks[self.pos].0
        }

        fn next(&mut self) -> Tok {
            let t = self.toks[self.pos].0.clone();
            if t != Tok::End {
                self.pos += 1;
            }
            t
        }

        fn eat(&mut self, p: &str) -> bool {
            if matches!(self.peek(), Tok::Punct(q) if *q == p) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn expect(&mut self, p: &str) -> Result<(), String> {
            if self.eat(p) {
                Ok(())
            } else {
                Err(self.error(&format!("missing '{p}'")))
            }
        }

        fn error(&self, what: &str) -> String {
            let (t, col) = &self.toks[self.pos];
            format!(
                "ERROR: <input>:1:{}: Syntax error: {what} at {}",
                col + 1,
                show(t)
            )
        }

        /// Conditional, `||`, `&&`, relations, additive, multiplicative: precedence climbing.
        fn expr(&mut self, depth: usize) -> Result<(), String> {
            if depth > 250 {
                return Err(self.error("expression nested too deeply"));
            }
            self.binary(0, depth)?;
            if self.eat("?") {
                self.binary(0, depth)?;
                self.expect(":")?;
                self.expr(depth + 1)?;
            }
            Ok(())
        }

        fn binary(&mut self, level: usize, depth: usize) -> Result<(), String> {
            const LEVELS: [&[&str]; 5] = [
                &["||"],
                &["&&"],
                &["==", "!=", "<", "<=", ">", ">=", "in"],
                &["+", "-"],
                &["*", "/", "%"],
            ];
            if level == LEVELS.len() {
                return self.unary(depth);
            }
            self.binary(level + 1, depth)?;
            loop {
                let is_op = match self.peek() {
                    Tok::Punct(p) => LEVELS[level].contains(p),
                    Tok::Ident(w) => w == "in" && level == 2,
                    _ => false,
                };
                if !is_op {
                    return Ok(());
                }
                self.next();
                self.binary(level + 1, depth)?;
            }
        }

        fn unary(&mut self, depth: usize) -> Result<(), String> {
            while self.eat("!") || self.eat("-") {}
            self.member(depth)
        }

        fn member(&mut self, depth: usize) -> Result<(), String> {
            self.primary(depth)?;
            loop {
                if self.eat(".") {
                    match self.next() {
                        Tok::Ident(_) => {}
                        _ => return Err(self.error("expected a field name")),
                    }
                    if self.eat("(") {
                        self.list(")", depth)?;
                    }
                } else if self.eat("[") {
                    self.expr(depth + 1)?;
                    self.expect("]")?;
                } else if matches!(self.peek(), Tok::Punct("{")) && self.struct_allowed() {
                    self.next();
                    self.field_inits(depth)?;
                } else {
                    return Ok(());
                }
            }
        }

        /// `Name{field: value}` message construction follows a (qualified) identifier.
        fn struct_allowed(&self) -> bool {
            self.pos > 0 && matches!(self.toks[self.pos - 1].0, Tok::Ident(_))
        }

        fn primary(&mut self, depth: usize) -> Result<(), String> {
            let _ = self.eat(".");
            match self.next() {
                Tok::Ident(w) => {
                    if RESERVED.contains(&w.as_str()) || w == "in" {
                        self.pos -= 1;
                        return Err(self.error(&format!("reserved identifier: {w}")));
                    }
                    if self.eat("(") {
                        self.list(")", depth)?;
                    }
                    Ok(())
                }
                Tok::Int | Tok::Str => Ok(()),
                Tok::Punct("(") => {
                    self.expr(depth + 1)?;
                    self.expect(")")
                }
                Tok::Punct("[") => self.list("]", depth),
                Tok::Punct("{") => self.map_inits(depth),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    Err(self.error("mismatched input"))
                }
            }
        }

        /// Comma-separated expressions up to `close` (a trailing comma is allowed).
        fn list(&mut self, close: &str, depth: usize) -> Result<(), String> {
            if self.eat(close) {
                return Ok(());
            }
            loop {
                self.expr(depth + 1)?;
                if self.eat(close) {
                    return Ok(());
                }
                self.expect(",")?;
                if self.eat(close) {
                    return Ok(());
                }
            }
        }

        fn map_inits(&mut self, depth: usize) -> Result<(), String> {
            if self.eat("}") {
                return Ok(());
            }
            loop {
                self.expr(depth + 1)?;
                self.expect(":")?;
                self.expr(depth + 1)?;
                if self.eat("}") {
                    return Ok(());
                }
                self.expect(",")?;
                if self.eat("}") {
                    return Ok(());
                }
            }
        }

        fn field_inits(&mut self, depth: usize) -> Result<(), String> {
            if self.eat("}") {
                return Ok(());
            }
            loop {
                match self.next() {
                    Tok::Ident(_) => {}
                    _ => return Err(self.error("expected a field name")),
                }
                self.expect(":")?;
                self.expr(depth + 1)?;
                if self.eat("}") {
                    return Ok(());
                }
                self.expect(",")?;
                if self.eat("}") {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cel_syntax() {
        let cases = [
            ("response.code >= 400", true),
            (
                "connection.mtls && request.url_path.contains('v1beta3')",
                true,
            ),
            ("response.code", true),
            (")++++", false),
            ("", false),
            ("a ? b : c", true),
            ("a ? b", false),
            (
                "request.headers['x-user'] == \"bob\" || !(x in [1, 2, 3,])",
                true,
            ),
            ("{'a': 1, 'b': 2}.size() > 1", true),
            ("google.protobuf.Duration{seconds: 10} < d", true),
            ("r'raw\\d' + b\"bytes\" + '''multi\nline'''", true),
            ("1 + ", false),
            ("'unterminated", false),
            ("a.b.", false),
            ("x == 0x1F || y == 3u || z == 1.5e3 || w == .5", true),
            ("a @ b", false),
            ("if > 3", false),
            ("f(a, b)[0].g()", true),
        ];
        for (src, ok) in cases {
            assert_eq!(
                cel::parse(src).is_ok(),
                ok,
                "{src:?}: {:?}",
                cel::parse(src)
            );
        }
    }

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
            let errs: Vec<String> = out
                .into_vec()
                .into_iter()
                .filter(|f| f.severity == crate::validate::Severity::Error)
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            match want {
                None => assert!(errs.is_empty(), "{name}: {errs:?}"),
                Some(w) => assert!(
                    errs.iter().any(|e| e.contains(w)),
                    "{name}: want {w:?} in {errs:?}"
                ),
            }
        }
    }
}
