//! Distributed tracing end to end: mastd (in-process) configures a client proxy
//! (`productpage`) and a server proxy (`reviews`) over mTLS with a tracing provider from
//! MeshConfig `extensionProviders` and a mesh-wide Telemetry; the collector is a real server
//! in the test, reached through the proxies' outbound cluster for it.
//!
//! - OpenTelemetry: an OTLP/gRPC `TraceService` (tonic, opentelemetry-proto). Each request
//!   gives a CLIENT span (productpage) and a SERVER span (reviews) in one trace, the server's
//!   parent being the client's span and the application seeing the server span in
//!   `traceparent`; a caller's unsampled `traceparent` is followed (nothing reported). The
//!   same collector serves `LogsService`: access logs of an `envoyOtelAls` provider arrive
//!   as OTLP log records (body from the text format, attributes from the labels).
//! - OpenTelemetry over HTTP (`http.path`): protobuf POSTs to `/v1/traces`.
//! - Zipkin: a v2 JSON collector over HTTP, B3 headers, 0% random sampling: requests are not
//!   reported unless the caller samples them (`x-b3-sampled: 1`), whose span becomes the
//!   client span's parent.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::addr;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::net::TcpListener;

fn config(client: &str, server: &str, collector: &str, provider: &str, sampling: u32) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 9080, name: http, protocol: HTTP}}
  resolution: STATIC
  workloadSelector:
    labels:
      app: reviews
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v2
  namespace: default
spec:
  address: {server}
  labels:
    app: reviews
    version: v2
  serviceAccount: reviews
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: collector
  namespace: observability
spec:
  hosts: [otel-collector.observability.svc.cluster.local, zipkin.observability.svc.cluster.local]
  location: MESH_INTERNAL
  ports:
  - {{number: 4317, name: grpc-otlp, protocol: GRPC}}
  - {{number: 9411, name: http-zipkin, protocol: HTTP}}
  - {{number: 4318, name: http-otlp, protocol: HTTP}}
  resolution: STATIC
  endpoints:
  - address: {collector}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: reviews
  namespace: default
spec:
  workloadSelector:
    labels:
      app: reviews
  ingress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {server}, defaultEndpoint: "0.0.0.0:8080", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
  - {{bind: {server}, captureMode: NONE, hosts: ["observability/*"], port: {{number: 4317, protocol: GRPC, name: grpc}}}}
  - {{bind: {server}, captureMode: NONE, hosts: ["observability/*"], port: {{number: 9411, protocol: HTTP, name: http}}}}
  - {{bind: {server}, captureMode: NONE, hosts: ["observability/*"], port: {{number: 4318, protocol: HTTP, name: http}}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: productpage
  namespace: default
spec:
  workloadSelector:
    labels:
      app: productpage
  egress:
  - {{port: {{number: 9080, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
  # the collector's ports: a Sidecar listener with a port imports only that port
  - {{port: {{number: 4317, protocol: GRPC, name: grpc}}, bind: {client}, captureMode: NONE, hosts: ["observability/*"]}}
  - {{port: {{number: 9411, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["observability/*"]}}
  - {{port: {{number: 4318, protocol: HTTP, name: http}}, bind: {client}, captureMode: NONE, hosts: ["observability/*"]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: istio-system
spec:
  tracing:
  - providers: [{{name: {provider}}}]
    randomSamplingPercentage: {sampling}
  accessLogging:
  - providers: [{{name: otel-als}}]
"#
    )
}

const MESH: &str = r#"extensionProviders:
- name: otel
  opentelemetry:
    service: otel-collector.observability.svc.cluster.local
    port: 4317
- name: zipkin
  zipkin:
    service: zipkin.observability.svc.cluster.local
    port: 9411
- name: otel-http
  opentelemetry:
    service: otel-collector.observability.svc.cluster.local
    port: 4318
    http:
      path: /v1/traces
- name: otel-als
  envoyOtelAls:
    service: otel-collector.observability.svc.cluster.local
    port: 4317
    logFormat:
      text: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%"
      labels:
        code: "%RESPONSE_CODE%"
        cluster: "%UPSTREAM_CLUSTER%"
"#;

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, Span)>>>, Arc<Mutex<Vec<LogRecord>>>);

impl Collector {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }

    fn add(&self, r: ExportTraceServiceRequest) {
        let mut all = self.0.lock().unwrap();
        for rs in r.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    all.push((service.clone(), s));
                }
            }
        }
    }

    fn logs(&self) -> Vec<LogRecord> {
        self.1.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let mut all = self.1.lock().unwrap();
        for rl in req.into_inner().resource_logs {
            for sl in rl.scope_logs {
                all.extend(sl.log_records);
            }
        }
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.add(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An HTTP collector on `at`: `take` gets each request's path, content type and body and
/// says whether it is accepted (answered `ok`) or not (400).
async fn http_collector<F>(at: SocketAddr, ok: u16, take: F)
where
    F: Fn(&str, &str, Bytes) -> bool + Send + Sync + 'static,
{
    let take = Arc::new(take);
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            let take = take.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let take = take.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let ct = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let status = if take(&path, &ct, body) { ok } else { 400 };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
}

/// A Zipkin collector: every span POSTed as JSON to `/api/v2/spans`.
async fn zipkin_collector(at: SocketAddr) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    http_collector(at, 202, move |path, ct, body| {
        let Ok(serde_json::Value::Array(spans)) = serde_json::from_slice(&body) else {
            return false;
        };
        g.lock().unwrap().extend(spans);
        path == "/api/v2/spans" && ct == "application/json"
    })
    .await;
    got
}

async fn mesh(provider: &str, sampling: u32) -> ([u8; 3], common::Pair) {
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let cfg = config(&ip(1), &ip(2), &ip(9), provider, sampling);
    common::start_app(addr(net, 2, 8080), "reviews").await;
    (net, common::pair(net, &cfg, Some(MESH), |_, _| {}).await)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr(s: &Span, key: &str) -> Option<String> {
    s.attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(v) => Some(v.clone()),
            _ => None,
        }
    })
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    // spans are flushed every 5 s, or at 5
    for _ in 0..300 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_spans_over_otlp_grpc() {
    let (net, m) = mesh("otel", 100).await;
    let collector = Collector::default();
    let at = addr(net, 9, 4317);
    // one collector for traces and access logs, as an OpenTelemetry collector is
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(LogsServiceServer::new(collector.clone()))
            .serve(at),
    );
    let host = "reviews.default.svc.cluster.local:9080";
    let front = addr(net, 1, 9080);
    let g = common::get_until(front, host, "/traced", 200).await;
    let tp = g.json()["traceparent"].as_str().unwrap().to_string();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "the application sees a traceparent: {tp}");
    assert_eq!(parts[3], "01", "sampled at 100%");
    let (trace, app_parent) = (parts[1].to_string(), parts[2].to_string());
    // the application's parent is the server span; its parent is the client span
    let (client, server) = wait_for("both spans", || {
        let spans = collector.spans();
        let of = |svc: &str| {
            spans
                .iter()
                .find(|(s, sp)| s == svc && hex(&sp.trace_id) == trace)
                .map(|(_, sp)| sp.clone())
        };
        Some((of("productpage.default")?, of("reviews.default")?))
    })
    .await;
    assert_eq!(hex(&server.span_id), app_parent);
    assert_eq!(server.parent_span_id, client.span_id);
    assert!(
        client.parent_span_id.is_empty(),
        "the client span is the root"
    );
    assert_eq!(client.kind, 3, "CLIENT");
    assert_eq!(server.kind, 2, "SERVER");
    // span names are the routes' decorators: the service's on the client, the Sidecar
    // ingress listener's (`sidecar-name.namespace`, as istiod names it) on the server
    assert_eq!(client.name, "reviews.default.svc.cluster.local:9080/*");
    assert_eq!(server.name, "reviews.default:9080/*");
    for s in [&client, &server] {
        assert_eq!(attr(s, "http.method").as_deref(), Some("GET"));
        assert_eq!(attr(s, "http.status_code").as_deref(), Some("200"));
        assert_eq!(
            attr(s, "guid:x-request-id").as_deref(),
            g.json()["request_id"].as_str(),
            "one request id on both sides"
        );
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
    }
    assert_eq!(
        attr(&client, "istio.canonical_service").as_deref(),
        Some("productpage")
    );
    assert_eq!(
        attr(&server, "istio.canonical_service").as_deref(),
        Some("reviews")
    );
    assert_eq!(attr(&server, "istio.namespace").as_deref(), Some("default"));
    assert_eq!(
        attr(&client, "upstream_cluster").as_deref(),
        Some("outbound|9080||reviews.default.svc.cluster.local")
    );
    let rid = g.json()["request_id"].as_str().unwrap().to_string();
    assert_eq!(
        &rid[14..15],
        "a",
        "the trace reason travels in x-request-id: {rid}"
    );

    // a caller that does not sample: followed, nothing reported for its trace
    let theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let g = common::request(front, host, "/unsampled", &[("traceparent", theirs)])
        .await
        .unwrap();
    let tp = g.json()["traceparent"].as_str().unwrap().to_string();
    assert!(
        tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && tp.ends_with("-00"),
        "{tp}"
    );
    assert_ne!(tp, theirs, "a new span id");
    // a sampled caller: its span is the client span's parent
    let sampled = "00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203331-01";
    common::request(front, host, "/sampled", &[("traceparent", sampled)])
        .await
        .unwrap();
    let client2 = wait_for("the sampled caller's spans", || {
        collector
            .spans()
            .into_iter()
            .find(|(s, sp)| {
                s == "productpage.default"
                    && hex(&sp.trace_id) == "0af7651916cd43dd8448eb211c80319d"
            })
            .map(|(_, sp)| sp)
    })
    .await;
    assert_eq!(hex(&client2.parent_span_id), "b7ad6b7169203331");
    assert!(
        !collector
            .spans()
            .iter()
            .any(|(_, sp)| hex(&sp.trace_id) == "0af7651916cd43dd8448eb211c80319c"),
        "unsampled spans are not reported"
    );
    // access logs over OTLP: the text format is the body, the labels the attributes; both
    // proxies log the request (the client's names the outbound cluster, the server's the
    // inbound one)
    let attrs_of = |l: &LogRecord| -> std::collections::BTreeMap<String, String> {
        l.attributes
            .iter()
            .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(v) => Some((kv.key.clone(), v.clone())),
                _ => None,
            })
            .collect()
    };
    let records = wait_for("access log records from both proxies", || {
        let of = |prefix: &str| {
            collector.logs().into_iter().find(|l| {
                matches!(l.body.as_ref().and_then(|b| b.value.as_ref()),
                    Some(any_value::Value::StringValue(b)) if b == "GET /traced 200")
                    && attrs_of(l)
                        .get("cluster")
                        .is_some_and(|c| c.starts_with(prefix))
            })
        };
        Some((
            of("outbound|9080||reviews.default.svc.cluster.local")?,
            of("inbound|9080")?,
        ))
    })
    .await;
    let log = records.0;
    assert_eq!(attrs_of(&log).get("code").map(String::as_str), Some("200"));
    assert!(log.time_unix_nano > 0);
    // counted once the collector's answer is back
    common::eventually_async(|| async {
        let stats = common::scrape(m.client.prometheus_addr).await;
        counter(&stats, "envoy_tracing_opentelemetry_spans_sent").filter(|n| *n >= 2.0)
    })
    .await;
}

fn counter(stats: &str, name: &str) -> Option<f64> {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zipkin_spans_with_b3_propagation() {
    let (net, m) = mesh("zipkin", 0).await;
    let got = zipkin_collector(addr(net, 9, 9411)).await;
    let host = "reviews.default.svc.cluster.local:9080";
    let front = addr(net, 1, 9080);
    // 0% sampling: propagated, not reported
    let g = common::get_until(front, host, "/quiet", 200).await;
    let b3 = g.json()["b3"].clone();
    assert_eq!(b3[3], "0", "not sampled: {b3}");
    assert_eq!(
        b3[0].as_str().unwrap().len(),
        32,
        "128-bit trace ids (Istio's default)"
    );
    let quiet_trace = b3[0].as_str().unwrap().to_string();
    // the caller samples: both proxies report, under the caller's span
    let trace = "463ac35c9f6413ad48485a3953bb6124";
    let g = common::request(
        front,
        host,
        "/loud",
        &[
            ("x-b3-traceid", trace),
            ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ("x-b3-sampled", "1"),
        ],
    )
    .await
    .unwrap();
    let b3 = g.json()["b3"].clone();
    assert_eq!(b3[0], trace);
    assert_eq!(b3[3], "1");
    let app_parent = b3[1].as_str().unwrap().to_string();
    let spans = wait_for("client and server spans", || {
        let all = got.lock().unwrap().clone();
        let of = |svc: &str| {
            all.iter()
                .find(|s| s["traceId"] == trace && s["localEndpoint"]["serviceName"] == svc)
                .cloned()
        };
        Some((of("productpage.default")?, of("reviews.default")?))
    })
    .await;
    let (client, server) = spans;
    assert_eq!(client["parentId"], "a2fb4a1d1a96d312");
    assert_eq!(client["kind"], "CLIENT");
    assert_eq!(server["kind"], "SERVER");
    assert_eq!(server["parentId"], client["id"]);
    assert_eq!(server["id"], app_parent.as_str());
    assert_eq!(
        b3[2], client["id"],
        "the app's x-b3-parentspanid is the client span"
    );
    assert_eq!(server["tags"]["http.status_code"], "200");
    assert_eq!(client["name"], "reviews.default.svc.cluster.local:9080/*");
    assert!(
        !got.lock()
            .unwrap()
            .iter()
            .any(|s| s["traceId"] == quiet_trace.as_str()),
        "the unsampled trace is not reported"
    );
    let stats = common::eventually_async(|| async {
        let stats = common::scrape(m.server.prometheus_addr).await;
        counter(&stats, "envoy_tracing_zipkin_reports_sent")
            .filter(|n| *n >= 1.0)
            .map(|_| stats)
    })
    .await;
    assert!(counter(&stats, "envoy_tracing_zipkin_spans_sent").is_some_and(|n| n >= 1.0));
    assert_eq!(
        counter(&stats, "envoy_tracing_zipkin_reports_failed"),
        Some(0.0)
    );
}

/// An OTLP/HTTP collector: every span POSTed as protobuf to `/v1/traces`, with the service
/// name of its resource.
async fn otlp_http_collector(at: SocketAddr) -> Collector {
    use prost::Message;
    let got = Collector::default();
    let g = got.clone();
    http_collector(at, 200, move |path, ct, body| {
        let Ok(r) = ExportTraceServiceRequest::decode(body.as_ref()) else {
            return false;
        };
        g.add(r);
        path == "/v1/traces" && ct == "application/x-protobuf"
    })
    .await;
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_spans_over_otlp_http() {
    let (net, _m) = mesh("otel-http", 100).await;
    let collector = otlp_http_collector(addr(net, 9, 4318)).await;
    let host = "reviews.default.svc.cluster.local:9080";
    let g = common::get_until(addr(net, 1, 9080), host, "/http-export", 200).await;
    let tp = g.json()["traceparent"].as_str().unwrap().to_string();
    let trace = tp.split('-').nth(1).unwrap().to_string();
    let (client, server) = wait_for("both spans over OTLP/HTTP", || {
        let all = collector.spans();
        let of = |svc: &str| {
            all.iter()
                .find(|(s, sp)| s == svc && hex(&sp.trace_id) == trace)
                .map(|(_, sp)| sp.clone())
        };
        Some((of("productpage.default")?, of("reviews.default")?))
    })
    .await;
    assert_eq!(server.parent_span_id, client.span_id);
    assert_eq!(attr(&server, "http.status_code").as_deref(), Some("200"));
}
