//! Span (and OpenTelemetry access log) reporting: finished spans are queued to one reporter
//! per tracer configuration, which
//! sends them in batches (Envoy's defaults: at 5 spans, or every 5 s) through the proxy's own
//! cluster to the collector — OTLP over gRPC (`TraceService/Export`, HTTP/2), OTLP over HTTP
//! (protobuf), or Zipkin v2 JSON; access log records go the same way over OTLP/gRPC
//! (`LogsService/Export`). A full queue drops items; every outcome is counted
//! (`tracing.opentelemetry.*`, `tracing.zipkin.*`, `access_logs.open_telemetry.*` on
//! `/stats/prometheus`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use http::{Request, header};
use http_body_util::BodyExt;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message;
use tokio::sync::mpsc;

use super::SpanContext;
use crate::http::body::Body;
use crate::model::SharedModel;
use crate::model::cluster::UpstreamProtocol;
use crate::upstream::pool;

/// Spans that trigger a flush.
pub const MIN_FLUSH_SPANS: usize = 5;
/// Flush interval.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Spans queued per reporter before new ones are dropped.
pub const QUEUE: usize = 4096;
/// How long one export may take.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// A finished span.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its context.
    pub context: SpanContext,
    /// Its parent.
    pub parent: Option<u64>,
    /// Its name.
    pub name: String,
    /// CLIENT (outbound) or SERVER.
    pub client: bool,
    /// Start.
    pub start: SystemTime,
    /// End.
    pub end: SystemTime,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Whether it failed.
    pub error: bool,
    /// The proxy's address on the downstream connection.
    pub local: Option<IpAddr>,
}

/// An access log record for an OpenTelemetry collector.
#[derive(Debug, Clone)]
pub struct LogData {
    /// When the request started.
    pub time: SystemTime,
    /// The formatted body.
    pub body: String,
    /// The formatted attributes.
    pub attributes: Vec<(String, String)>,
}

/// What a reporter queues.
#[derive(Debug, Clone)]
pub enum Item {
    /// A span.
    Span(Finished),
    /// An access log record.
    Log(LogData),
}

/// Where a reporter sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Export {
    /// OTLP/gRPC.
    OtlpGrpc {
        /// Cluster.
        cluster: String,
        /// `:authority`.
        authority: String,
        /// `service.name`.
        service_name: String,
    },
    /// OTLP/HTTP (protobuf).
    OtlpHttp {
        /// Cluster.
        cluster: String,
        /// Host.
        authority: String,
        /// Path (`/v1/traces`).
        path: String,
        /// `service.name`.
        service_name: String,
    },
    /// OTLP/gRPC logs (access logs).
    OtlpLogs {
        /// Cluster.
        cluster: String,
        /// `:authority`.
        authority: String,
        /// `log_name` (a resource attribute unless built-in labels are off).
        log_name: String,
        /// Whether the built-in resource labels are left out.
        no_builtin_labels: bool,
    },
    /// Zipkin v2 JSON.
    Zipkin {
        /// Cluster.
        cluster: String,
        /// Host.
        hostname: String,
        /// Path (`/api/v2/spans`).
        path: String,
        /// `localEndpoint.serviceName`.
        service_name: String,
    },
}

impl Export {
    fn cluster(&self) -> &str {
        match self {
            Export::OtlpGrpc { cluster, .. }
            | Export::OtlpHttp { cluster, .. }
            | Export::OtlpLogs { cluster, .. }
            | Export::Zipkin { cluster, .. } => cluster,
        }
    }

    fn stats(&self) -> usize {
        match self {
            Export::Zipkin { .. } => 1,
            Export::OtlpLogs { .. } => 2,
            _ => 0,
        }
    }
}

/// Counters of one tracer kind.
#[derive(Debug, Default)]
pub struct Counters {
    /// Spans sent.
    pub spans_sent: AtomicU64,
    /// Flushes by the timer.
    pub timer_flushed: AtomicU64,
    /// Batches accepted by the collector.
    pub reports_sent: AtomicU64,
    /// Spans dropped (queue full).
    pub reports_dropped: AtomicU64,
    /// Batches that failed.
    pub reports_failed: AtomicU64,
    /// Batches not sent: the cluster is unknown or has no host.
    pub reports_skipped_no_cluster: AtomicU64,
}

/// Every reporter of the proxy, shared across configuration updates: an update that keeps a
/// tracer keeps its reporter and queue.
#[derive(Debug, Default)]
pub struct Tracers {
    model: OnceLock<SharedModel>,
    reporters: Mutex<HashMap<Export, Weak<Reporter>>>,
    /// OpenTelemetry spans, Zipkin spans, OpenTelemetry access logs.
    pub counters: [Arc<Counters>; 3],
}

impl Tracers {
    /// Gives the reporters the model whose clusters they send through.
    pub fn bind(&self, model: SharedModel) {
        let _ = self.model.set(model);
    }

    /// The reporter for `export`, started on first use (within a Tokio runtime).
    pub fn reporter(&self, export: Export) -> Arc<Reporter> {
        let mut map = self.reporters.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(r) = map.get(&export).and_then(Weak::upgrade) {
            return r;
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = self.counters[export.stats()].clone();
        let r = Arc::new(Reporter {
            tx,
            counters: counters.clone(),
        });
        map.insert(export.clone(), Arc::downgrade(&r));
        let model = self.model.get().cloned();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(run(rx, export, model, counters));
        }
        r
    }

    /// The tracer and OpenTelemetry access log counters in Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        for (i, kind) in [
            "tracing_opentelemetry",
            "tracing_zipkin",
            "access_logs_open_telemetry",
        ]
        .iter()
        .enumerate()
        {
            let c = &self.counters[i];
            let sent = if i == 2 { "logs_sent" } else { "spans_sent" };
            for (name, v) in [
                (sent, &c.spans_sent),
                ("timer_flushed", &c.timer_flushed),
                ("reports_sent", &c.reports_sent),
                ("reports_dropped", &c.reports_dropped),
                ("reports_failed", &c.reports_failed),
                ("reports_skipped_no_cluster", &c.reports_skipped_no_cluster),
            ] {
                let _ = writeln!(
                    out,
                    "# TYPE envoy_{kind}_{name} counter\nenvoy_{kind}_{name} {}",
                    v.load(Ordering::Relaxed)
                );
            }
        }
    }
}

/// The queue of one tracer or OpenTelemetry access log.
#[derive(Debug)]
pub struct Reporter {
    tx: mpsc::Sender<Item>,
    counters: Arc<Counters>,
}

impl Reporter {
    /// Queues a span (dropped, and counted, when the queue is full).
    pub fn report(&self, s: Finished) {
        self.queue(Item::Span(s));
    }

    /// Queues an access log record.
    pub fn log(&self, l: LogData) {
        self.queue(Item::Log(l));
    }

    fn queue(&self, i: Item) {
        if self.tx.try_send(i).is_err() {
            self.counters
                .reports_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Item>,
    export: Export,
    model: Option<SharedModel>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.tick().await;
    loop {
        let timer = tokio::select! {
            s = rx.recv() => match s {
                Some(s) => {
                    batch.push(s);
                    if batch.len() < MIN_FLUSH_SPANS {
                        continue;
                    }
                    false
                }
                None => {
                    if !batch.is_empty() {
                        flush(&export, model.as_ref(), &counters, std::mem::take(&mut batch)).await;
                    }
                    return;
                }
            },
            _ = tick.tick() => {
                if batch.is_empty() {
                    continue;
                }
                true
            }
        };
        if timer {
            counters.timer_flushed.fetch_add(1, Ordering::Relaxed);
        }
        flush(
            &export,
            model.as_ref(),
            &counters,
            std::mem::take(&mut batch),
        )
        .await;
    }
}

/// Why a batch was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The cluster is not in the model, or has no usable host.
    #[error("cluster {0:?} is unknown or has no healthy host")]
    NoCluster(String),
    /// The request failed.
    #[error("request failed: {0}")]
    Send(String),
    /// The collector refused it.
    #[error("collector answered {0}")]
    Refused(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

async fn flush(
    export: &Export,
    model: Option<&SharedModel>,
    counters: &Counters,
    batch: Vec<Item>,
) {
    let n = batch.len() as u64;
    let result = match model {
        Some(m) => tokio::time::timeout(EXPORT_TIMEOUT, send(export, m, &batch))
            .await
            .unwrap_or(Err(ExportError::Timeout)),
        None => Err(ExportError::NoCluster(export.cluster().to_string())),
    };
    match result {
        Ok(()) => {
            counters.reports_sent.fetch_add(1, Ordering::Relaxed);
            counters.spans_sent.fetch_add(n, Ordering::Relaxed);
        }
        Err(ExportError::NoCluster(c)) => {
            counters
                .reports_skipped_no_cluster
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(cluster = %c, spans = n, "spans not reported: no cluster");
        }
        Err(e) => {
            counters.reports_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, spans = n, "spans not reported");
        }
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn string_kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
    }
}

/// The OTLP request of a batch.
pub fn otlp_request(service_name: &str, batch: &[&Finished]) -> ExportTraceServiceRequest {
    let spans = batch
        .iter()
        .map(|s| Span {
            trace_id: s.context.trace_id.to_be_bytes().to_vec(),
            span_id: s.context.span_id.to_be_bytes().to_vec(),
            trace_state: s.context.state.clone().unwrap_or_default(),
            parent_span_id: s
                .parent
                .map(|p| p.to_be_bytes().to_vec())
                .unwrap_or_default(),
            flags: 0x100 | u32::from(s.parent.is_some()) << 9 | u32::from(s.context.sampled),
            name: s.name.clone(),
            kind: if s.client {
                span::SpanKind::Client
            } else {
                span::SpanKind::Server
            } as i32,
            start_time_unix_nano: nanos(s.start),
            end_time_unix_nano: nanos(s.end),
            attributes: s.tags.iter().map(|(k, v)| string_kv(k, v)).collect(),
            status: s.error.then(|| Status {
                code: status::StatusCode::Error as i32,
                message: String::new(),
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service_name),
                    string_kv("telemetry.sdk.name", "mast-proxy"),
                    string_kv("telemetry.sdk.language", "rust"),
                    string_kv("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "mast-proxy".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The OTLP logs request of a batch of access log records.
pub fn otlp_logs(
    log_name: &str,
    no_builtin_labels: bool,
    batch: &[&LogData],
) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let records = batch
        .iter()
        .map(|l| LogRecord {
            time_unix_nano: nanos(l.time),
            observed_time_unix_nano: nanos(SystemTime::now()),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(l.body.clone())),
            }),
            attributes: l.attributes.iter().map(|(k, v)| string_kv(k, v)).collect(),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: if no_builtin_labels {
                    vec![]
                } else {
                    vec![string_kv("log_name", log_name)]
                },
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "mast-proxy".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The Zipkin v2 JSON of a batch.
pub fn zipkin_json(service_name: &str, batch: &[&Finished]) -> serde_json::Value {
    let micros = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    serde_json::Value::Array(
        batch
            .iter()
            .map(|s| {
                let mut o = serde_json::Map::new();
                o.insert("traceId".into(), s.context.trace_hex().into());
                o.insert("id".into(), format!("{:016x}", s.context.span_id).into());
                if let Some(p) = s.parent {
                    o.insert("parentId".into(), format!("{p:016x}").into());
                }
                o.insert("name".into(), s.name.clone().into());
                o.insert(
                    "kind".into(),
                    if s.client { "CLIENT" } else { "SERVER" }.into(),
                );
                o.insert("timestamp".into(), (micros(s.start) as u64).into());
                let dur = s.end.duration_since(s.start).map_or(0, |d| d.as_micros());
                o.insert("duration".into(), (dur.max(1) as u64).into());
                let mut ep = serde_json::Map::new();
                ep.insert("serviceName".into(), service_name.into());
                match s.local {
                    Some(IpAddr::V4(a)) => {
                        ep.insert("ipv4".into(), a.to_string().into());
                    }
                    Some(IpAddr::V6(a)) => {
                        ep.insert("ipv6".into(), a.to_string().into());
                    }
                    None => {}
                }
                o.insert("localEndpoint".into(), ep.into());
                let tags: serde_json::Map<String, serde_json::Value> = s
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                o.insert("tags".into(), tags.into());
                serde_json::Value::Object(o)
            })
            .collect(),
    )
}

/// A gRPC message frame (uncompressed).
pub fn grpc_frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.len());
    b.put_u8(0);
    b.put_u32(msg.len() as u32);
    b.put_slice(msg);
    b.freeze()
}

async fn send(export: &Export, model: &SharedModel, items: &[Item]) -> Result<(), ExportError> {
    let spans: Vec<&Finished> = items
        .iter()
        .filter_map(|i| match i {
            Item::Span(s) => Some(s),
            Item::Log(_) => None,
        })
        .collect();
    let batch = spans.as_slice();
    let (authority, path, content_type, body, grpc) = match export {
        Export::OtlpLogs {
            authority,
            log_name,
            no_builtin_labels,
            ..
        } => {
            let logs: Vec<&LogData> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Log(l) => Some(l),
                    Item::Span(_) => None,
                })
                .collect();
            (
                authority,
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                "application/grpc",
                grpc_frame(&otlp_logs(log_name, *no_builtin_labels, &logs).encode_to_vec()),
                true,
            )
        }
        Export::OtlpGrpc {
            authority,
            service_name,
            ..
        } => (
            authority,
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "application/grpc",
            grpc_frame(&otlp_request(service_name, batch).encode_to_vec()),
            true,
        ),
        Export::OtlpHttp {
            authority,
            path,
            service_name,
            ..
        } => (
            authority,
            path.as_str(),
            "application/x-protobuf",
            Bytes::from(otlp_request(service_name, batch).encode_to_vec()),
            false,
        ),
        Export::Zipkin {
            hostname,
            path,
            service_name,
            ..
        } => (
            hostname,
            path.as_str(),
            "application/json",
            Bytes::from(zipkin_json(service_name, batch).to_string()),
            false,
        ),
    };
    let no_cluster = || ExportError::NoCluster(export.cluster().to_string());
    let cluster = model
        .load()
        .cluster_named(export.cluster())
        .cloned()
        .ok_or_else(no_cluster)?;
    let host = cluster.pick(&[], 1).ok_or_else(no_cluster)?;
    let h2 = grpc || cluster.spec.protocol == UpstreamProtocol::Http2;
    let mut req = Request::post(format!("http://{authority}{path}"))
        .header(header::CONTENT_TYPE, content_type)
        .header(header::USER_AGENT, "mast-proxy");
    if grpc {
        req = req.header(header::TE, "trailers");
    }
    if !h2 {
        req = req.header(header::HOST, authority.as_str());
    }
    let req = req
        .body(Body::Full(Some(body)))
        .map_err(|e| ExportError::Send(e.to_string()))?;
    let sent = if h2 {
        pool::send_h2(&host, &cluster.spec, req).await
    } else {
        pool::send_h1(&host, &cluster.spec, req).await
    };
    let (resp, checkout) = sent.map_err(|(e, _)| ExportError::Send(format!("{e:?}")))?;
    let status = resp.status();
    let header_grpc = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ExportError::Send(e.to_string()))?;
    checkout.release();
    if !status.is_success() {
        return Err(ExportError::Refused(format!("HTTP {status}")));
    }
    if grpc {
        let code = header_grpc.or_else(|| {
            collected
                .trailers()
                .and_then(|t| t.get("grpc-status"))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        });
        if code.as_deref() != Some("0") {
            return Err(ExportError::Refused(format!(
                "grpc-status {}",
                code.as_deref().unwrap_or("missing")
            )));
        }
    }
    Ok(())
}
