//! Distributed tracing as Envoy's connection manager does it: the sampling decision carried
//! in `x-request-id`, trace contexts read from and written to headers (W3C `traceparent` for
//! the OpenTelemetry tracer, B3 for Zipkin), one span per request on each proxy (SERVER on
//! inbound listeners, CLIENT on outbound ones), reported in batches by [`export`].
//!
//! Sidecars do not spawn upstream spans: the span of a request is also the parent its
//! upstream sees. Unsampled requests still carry a context (sampled flag off), so the whole
//! trace agrees; only sampled spans are reported.

pub mod context;
pub mod export;

use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::http::filter::StreamInfo;
pub use context::{Reason, SpanContext};
use export::{Finished, Reporter};

/// Envoy's default `max_path_tag_length`.
pub const DEFAULT_MAX_PATH_TAG_LENGTH: usize = 256;

/// How a tracer reads and writes trace contexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// W3C `traceparent` / `tracestate` (OpenTelemetry).
    W3c,
    /// B3 (`x-b3-*` or `b3`), Zipkin's; with `w3c`, `traceparent` is read when no B3
    /// header is present and written beside them. `wide`: new traces get 128-bit ids.
    B3 {
        /// Also W3C.
        w3c: bool,
        /// 128-bit trace ids for new traces.
        wide: bool,
    },
}

/// A tracer: its propagation and where its spans go.
#[derive(Debug)]
pub struct Tracer {
    /// Header format.
    pub propagation: Propagation,
    /// The span reporter (`None`: spans are not reported).
    pub reporter: Option<Arc<Reporter>>,
}

/// A custom tag's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagValue {
    /// Fixed (literal, or an environment variable read when the config was loaded).
    Fixed(String),
    /// A request header, with a default.
    Header(HeaderName, String),
    /// Dynamic metadata nothing sets (RBAC dry-run results): the default, or no tag.
    Unset(String),
}

/// The `tracing` of a connection manager.
#[derive(Debug)]
pub struct Tracing {
    /// `client_sampling` (percent): requests with `x-client-trace-id`.
    pub client_sampling: f64,
    /// `random_sampling` (percent).
    pub random_sampling: f64,
    /// `overall_sampling` (percent).
    pub overall_sampling: f64,
    /// Longest `http.url` tag.
    pub max_path_tag_length: usize,
    /// Custom tags.
    pub tags: Vec<(String, TagValue)>,
    /// The tracer (`None`: decisions only, no spans).
    pub tracer: Option<Tracer>,
    /// Outbound (egress, CLIENT spans) or inbound (ingress, SERVER spans).
    pub egress: bool,
}

/// `x-client-trace-id`.
pub const X_CLIENT_TRACE_ID: HeaderName = HeaderName::from_static("x-client-trace-id");
/// `x-envoy-force-trace`.
pub const X_ENVOY_FORCE_TRACE: HeaderName = HeaderName::from_static("x-envoy-force-trace");

/// One percent value against a request id's number (`0..10000`), as Envoy's runtime
/// `featureEnabled` with a percentage.
fn enabled(percent: f64, n: u64) -> bool {
    let numerator = (percent * 100.0).round().clamp(0.0, 10_000.0) as u64;
    n % 10_000 < numerator
}

/// The sampling decision of a request (Envoy's `mutateTracingRequestHeader`): the reason an
/// earlier proxy put in the request id, else a forced or random one; the reason is written
/// back into the request id. Requests without a usable request id are not traced.
pub fn decide(t: &Tracing, headers: &mut HeaderMap) -> Reason {
    let Some(rid) = headers
        .get(crate::http::headers::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return Reason::NotTraceable;
    };
    let Some(n) = context::request_id_integer(&rid) else {
        return Reason::NotTraceable;
    };
    let mut reason = context::trace_reason(&rid);
    if reason == Reason::NotTraceable {
        if headers.contains_key(X_CLIENT_TRACE_ID) && enabled(t.client_sampling, n) {
            reason = Reason::ClientForced;
        } else if headers.contains_key(X_ENVOY_FORCE_TRACE) {
            reason = Reason::ServiceForced;
        } else if enabled(t.random_sampling, n) {
            reason = Reason::Sampling;
        }
    }
    if reason != Reason::NotTraceable && !enabled(t.overall_sampling, n) {
        reason = Reason::NotTraceable;
    }
    // written back only when it changes (a later proxy usually finds it there already)
    if rid.as_bytes().get(14) != Some(&context::reason_char(reason))
        && let Some(v) =
            context::with_trace_reason(&rid, reason).and_then(|s| HeaderValue::from_str(&s).ok())
    {
        headers.insert(crate::http::headers::X_REQUEST_ID, v);
    }
    reason
}

/// The span of one request, from its headers to the end of its response.
#[derive(Debug)]
pub struct Active {
    cfg: Arc<Tracing>,
    /// This span's context (what the upstream sees as its parent).
    pub context: SpanContext,
    /// The parent span, when the request carried a context.
    pub parent: Option<u64>,
    name: String,
    start: SystemTime,
    tags: Vec<(String, String)>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl Active {
    /// Starts the span of a request whose headers the connection manager has prepared
    /// (request id set): decides sampling, reads the caller's context, and writes this
    /// span's context for the upstream. `None` when the connection manager has no tracer.
    pub fn start(
        cfg: &Arc<Tracing>,
        parts: &mut http::request::Parts,
        scheme: &str,
        remote: std::net::SocketAddr,
    ) -> Option<Active> {
        let reason = decide(cfg, &mut parts.headers);
        let tracer = cfg.tracer.as_ref()?;
        let h = &mut parts.headers;
        let extracted = context::extract(tracer.propagation, h);
        let traced = extracted.sampled.unwrap_or(reason != Reason::NotTraceable);
        let (trace_id, wide, parent, state) = match &extracted.context {
            Some(c) => (c.trace_id, c.wide, Some(c.span_id), c.state.clone()),
            None => {
                let wide = match tracer.propagation {
                    Propagation::W3c => true,
                    Propagation::B3 { wide, .. } => wide,
                };
                (context::new_trace_id(wide), wide, None, None)
            }
        };
        let ctx = SpanContext {
            trace_id,
            span_id: context::new_span_id(),
            sampled: traced,
            wide,
            state,
        };
        context::inject(tracer.propagation, &ctx, parent, h);
        let host = crate::http::authority(parts);
        let name = if cfg.egress {
            format!("egress {host}")
        } else {
            "ingress".to_string()
        };
        let mut tags = Vec::new();
        if traced {
            let h = &parts.headers;
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut url = format!("{scheme}://{host}{path}");
            if url.len() > cfg.max_path_tag_length {
                let mut cut = cfg.max_path_tag_length;
                while !url.is_char_boundary(cut) {
                    cut -= 1;
                }
                url.truncate(cut);
            }
            let or_dash = |v: Option<&str>| v.unwrap_or("-").to_string();
            tags.push((
                "guid:x-request-id".into(),
                or_dash(header(h, "x-request-id")),
            ));
            tags.push(("http.url".into(), url));
            tags.push(("http.method".into(), parts.method.to_string()));
            tags.push((
                "downstream_cluster".into(),
                or_dash(header(h, "x-envoy-downstream-service-cluster")),
            ));
            tags.push(("user_agent".into(), or_dash(header(h, "user-agent"))));
            tags.push((
                "http.protocol".into(),
                crate::telemetry::expr::protocol(parts.version).to_string(),
            ));
            tags.push(("peer.address".into(), remote.ip().to_string()));
            tags.push(("component".into(), "proxy".into()));
            for (name, v) in &cfg.tags {
                let value = match v {
                    TagValue::Fixed(s) => Some(s.clone()),
                    TagValue::Header(n, d) => h
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                        .or_else(|| (!d.is_empty()).then(|| d.clone())),
                    TagValue::Unset(d) => (!d.is_empty()).then(|| d.clone()),
                };
                if let Some(value) = value {
                    tags.push((name.clone(), value));
                }
            }
        }
        Some(Active {
            cfg: cfg.clone(),
            context: ctx,
            parent,
            name,
            start: SystemTime::now(),
            tags,
        })
    }

    /// Names the span after the route's decorator.
    pub fn set_operation(&mut self, op: &str) {
        self.name = op.to_string();
    }

    /// Whether the span is reported.
    pub fn sampled(&self) -> bool {
        self.context.sampled
    }

    /// Ends the span with what the stream did, and hands it to the reporter (sampled spans).
    pub fn finish(mut self, info: &StreamInfo) {
        let Some(tracer) = self.cfg.tracer.as_ref().filter(|_| self.context.sampled) else {
            return;
        };
        let code = info.response_code.unwrap_or(0);
        let flags: Vec<&str> = info.flags.iter().map(|f| f.as_str()).collect();
        let mut add = |k: &str, v: String| self.tags.push((k.to_string(), v));
        add("request_size", info.request_body_bytes.to_string());
        add("response_size", info.response_body_bytes.to_string());
        add(
            "response_flags",
            if flags.is_empty() {
                "-".into()
            } else {
                flags.join(",")
            },
        );
        add("http.status_code", code.to_string());
        if let Some(c) = &info.cluster {
            add("upstream_cluster", c.to_string());
            add("upstream_cluster.name", c.to_string());
        }
        if let Some(h) = &info.upstream_host {
            add("upstream_address", h.to_string());
        }
        if let Some(g) = info.grpc_status {
            add("grpc.status_code", g.to_string());
        }
        let error = code >= 500 || code == 0;
        if error {
            add("error", "true".into());
        }
        let end = self.start + info.duration;
        let Some(reporter) = &tracer.reporter else {
            return;
        };
        reporter.report(Finished {
            context: self.context,
            parent: self.parent,
            name: self.name,
            client: self.cfg.egress,
            start: self.start,
            end,
            tags: self.tags,
            error,
            local: info.downstream_local.map(|a| a.ip()),
        });
    }
}

#[cfg(test)]
mod tests;
