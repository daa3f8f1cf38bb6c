//! Istio's standard metrics end to end: mastd (in-process) configures a client proxy
//! (`productpage`) and a server proxy (`reviews`) with HTTP, gRPC and TCP ports over mTLS;
//! after one HTTP request, one gRPC call that fails with NOT_FOUND and one TCP exchange, both
//! proxies are scraped on 15090's `/stats/prometheus`, every scrape is parsed by a Prometheus
//! text parser from crates.io, and every label of every series is checked.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::addr;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config(client: &str, server: &str) -> String {
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
  - {{number: 9090, name: grpc, protocol: GRPC}}
  - {{number: 9100, name: tcp, protocol: TCP}}
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
  - {{port: {{number: 9090, protocol: GRPC, name: grpc}}, bind: {server}, defaultEndpoint: "0.0.0.0:8090", captureMode: NONE}}
  - {{port: {{number: 9100, protocol: TCP, name: tcp}}, bind: {server}, defaultEndpoint: "0.0.0.0:8100", captureMode: NONE}}
  egress:
  - {{bind: 127.0.0.1, captureMode: NONE, hosts: ["./*"], port: {{number: 19999, protocol: HTTP, name: http}}}}
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
  - {{port: {{number: 9090, protocol: GRPC, name: grpc}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
  - {{port: {{number: 9100, protocol: TCP, name: tcp}}, bind: {client}, captureMode: NONE, hosts: ["./*"]}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
"#
    )
}

/// A gRPC server (HTTP/2 prior knowledge) whose every call fails with NOT_FOUND in the
/// trailers after one response message.
async fn grpc_app(at: SocketAddr) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("grpc-status", "5".parse().unwrap());
                    trailers.insert("grpc-message", "no such review".parse().unwrap());
                    let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
                        Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]))),
                        Ok(Frame::trailers(trailers)),
                    ];
                    let body = StreamBody::new(futures_stream(frames));
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
}

fn futures_stream<T: Send + 'static>(
    items: Vec<T>,
) -> impl tokio_stream::Stream<Item = T> + Send + 'static {
    tokio_stream::iter(items)
}

/// One unary gRPC call over HTTP/2 prior knowledge; the response's `grpc-status`.
async fn grpc_call(to: SocketAddr) -> Option<String> {
    let s = TcpStream::connect(to).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .method("POST")
        .uri("http://reviews.default.svc.cluster.local:9090/reviews.Reviews/Get")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 2, 8, 7])))
        .unwrap();
    let resp = tx.send_request(req).await.ok()?;
    let collected = resp.into_body().collect().await.ok()?;
    collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Writes `msg`, half-closes, reads the echo.
async fn tcp_exchange(to: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(to).await?;
    s.write_all(msg).await?;
    s.shutdown().await?;
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut back))
        .await
        .map_err(|_| std::io::Error::other("echo timeout"))??;
    Ok(back)
}

/// The application's own metrics endpoint (`/metrics`).
async fn metrics_app(at: SocketAddr) {
    let sock = TcpListener::bind(at).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = sock.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let body = if req.uri().path() == "/metrics" {
                        "# TYPE reviews_cache_hits counter\nreviews_cache_hits 42\n"
                    } else {
                        "not here"
                    };
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
}

/// The samples of `metric` in a scrape, parsed by `prometheus-parse`, as (labels, value).
fn samples(text: &str, metric: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("scrape does not parse: {e}\n{text}"));
    scrape
        .samples
        .into_iter()
        .filter(|s| s.metric == metric)
        .map(|s| {
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let v = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(h) => {
                    h.iter().map(|c| c.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            };
            (labels, v)
        })
        .collect()
}

/// The labels both proxies agree on for traffic from productpage-v1 to reviews-v2.
fn peers(reporter: &str, protocol: &str, security: &str) -> Vec<(&'static str, String)> {
    let productpage = "spiffe://cluster.local/ns/default/sa/productpage";
    let reviews = "spiffe://cluster.local/ns/default/sa/reviews";
    // over TCP the peers learn each other by the TCP metadata exchange (ALPN
    // istio-peer-exchange), over HTTP by the peer metadata headers
    let _ = protocol;
    let (src_wl, dst_wl) = ("productpage-v1", "reviews-v2");
    let known = |wl: &str, v: &'static str| if wl == "unknown" { "unknown" } else { v };
    vec![
        ("reporter", reporter.into()),
        ("source_workload", src_wl.into()),
        (
            "source_canonical_service",
            known(src_wl, "productpage").into(),
        ),
        (
            "source_canonical_revision",
            if src_wl == "unknown" { "unknown" } else { "v1" }.into(),
        ),
        ("source_workload_namespace", known(src_wl, "default").into()),
        ("source_principal", productpage.into()),
        ("source_app", known(src_wl, "productpage").into()),
        ("source_version", known(src_wl, "v1").into()),
        ("source_cluster", known(src_wl, "Kubernetes").into()),
        ("destination_workload", dst_wl.into()),
        (
            "destination_workload_namespace",
            known(dst_wl, "default").into(),
        ),
        ("destination_principal", reviews.into()),
        ("destination_app", known(dst_wl, "reviews").into()),
        ("destination_version", known(dst_wl, "v2").into()),
        (
            "destination_service",
            "reviews.default.svc.cluster.local".into(),
        ),
        (
            "destination_canonical_service",
            known(dst_wl, "reviews").into(),
        ),
        (
            "destination_canonical_revision",
            if dst_wl == "unknown" { "unknown" } else { "v2" }.into(),
        ),
        (
            "destination_service_name",
            "reviews.default.svc.cluster.local".into(),
        ),
        ("destination_service_namespace", "default".into()),
        ("destination_cluster", known(dst_wl, "Kubernetes").into()),
        ("request_protocol", protocol.into()),
        ("response_flags", "-".into()),
        ("connection_security_policy", security.into()),
    ]
}

fn expect(
    base: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> =
        base.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_standard_metrics_on_both_proxies() {
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    common::start_app(addr(net, 2, 8080), "reviews").await;
    grpc_app(addr(net, 2, 8090)).await;
    common::start_tcp_echo(addr(net, 2, 8100)).await;
    metrics_app(addr(net, 2, 8200)).await;
    let common::Pair { client, server, .. } =
        &common::pair(net, &config(&ip(1), &ip(2)), None, |sa, c| {
            if sa == "reviews" {
                c.app_metrics = Some(r#"{"scrape":"true","port":"8200","path":"/metrics"}"#.into());
            }
        })
        .await;

    // HTTP: the peer metadata headers never reach the application or the client
    let g = common::get_until(
        addr(net, 1, 9080),
        "reviews.default.svc.cluster.local:9080",
        "/r/1",
        200,
    )
    .await;
    assert!(!g.headers.contains_key("x-envoy-peer-metadata"), "{g:?}");
    assert!(!g.body.contains("x-envoy-peer-metadata"), "{}", g.body);
    // the first request may have raced the server's config: count from a clean state
    let http_before = |text: &str| {
        samples(text, "istio_requests_total")
            .iter()
            .filter(|(l, _)| l["request_protocol"] == "http")
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    let c0 = http_before(&common::scrape(client.prometheus_addr).await);
    let g = common::get(
        addr(net, 1, 9080),
        "reviews.default.svc.cluster.local:9080",
        "/r/2",
    )
    .await
    .unwrap();
    assert_eq!(g.status, 200, "{g:?}");

    // gRPC failing with NOT_FOUND
    let status = common::eventually_async(|| grpc_call(addr(net, 1, 9090))).await;
    assert_eq!(status, "5");

    // TCP
    let back = common::eventually_async(|| async {
        tcp_exchange(addr(net, 1, 9100), b"hello tcp")
            .await
            .ok()
            .filter(|b| !b.is_empty())
    })
    .await;
    assert_eq!(back, b"hello tcp");

    let (cs, ss) = (client.prometheus_addr, server.prometheus_addr);
    // the series are recorded when the responses and connections end
    let client_text = common::eventually_async(|| async {
        let t = common::scrape(cs).await;
        (samples(&t, "istio_tcp_connections_closed_total")
            .iter()
            .any(|(_, v)| *v >= 1.0))
        .then_some(t)
    })
    .await;
    let server_text = common::eventually_async(|| async {
        let t = common::scrape(ss).await;
        (samples(&t, "istio_tcp_connections_closed_total")
            .iter()
            .any(|(_, v)| *v >= 1.0)
            && samples(&t, "istio_requests_total")
                .iter()
                .any(|(l, _)| l["request_protocol"] == "grpc"))
        .then_some(t)
    })
    .await;

    for (who, text, reporter, security) in [
        ("client", &client_text, "source", "unknown"),
        ("server", &server_text, "destination", "mutual_tls"),
    ] {
        let http = expect(
            peers(reporter, "http", security),
            &[("response_code", "200"), ("grpc_response_status", "")],
        );
        let grpc = expect(
            peers(reporter, "grpc", security),
            &[("response_code", "200"), ("grpc_response_status", "5")],
        );
        let requests = samples(text, "istio_requests_total");
        for want in [&http, &grpc] {
            assert!(
                requests.iter().any(|(l, _)| l == want),
                "{who}: no istio_requests_total with\n{want:#?}\namong\n{requests:#?}"
            );
        }
        let grpc_count = requests.iter().find(|(l, _)| *l == grpc).unwrap().1;
        assert_eq!(grpc_count, 1.0, "{who}: one gRPC call");
        for h in [
            "istio_request_duration_milliseconds",
            "istio_request_bytes",
            "istio_response_bytes",
        ] {
            let s = samples(text, h);
            assert!(
                s.iter().any(|(l, _)| *l == http),
                "{who}: no {h} with the HTTP labels among\n{s:#?}"
            );
            assert!(
                text.contains(&format!("# TYPE {h} histogram")),
                "{who}: {h} type"
            );
        }
        // bucket bounds as Envoy prints them
        assert!(text.contains("le=\"3.6e+06\""), "{who}");
        // sizes: the response carries a JSON body of more than 100 bytes
        let resp_sum = text
            .lines()
            .find(|l| {
                l.starts_with("istio_response_bytes_sum{")
                    && l.contains("request_protocol=\"http\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap();
        assert!(resp_sum > 100.0, "{who}: response bytes {resp_sum}");

        let tcp = expect(peers(reporter, "tcp", security), &[]);
        for (m, at_least) in [
            ("istio_tcp_connections_opened_total", 1.0),
            ("istio_tcp_connections_closed_total", 1.0),
            ("istio_tcp_sent_bytes_total", 9.0),
            ("istio_tcp_received_bytes_total", 9.0),
        ] {
            let s = samples(text, m);
            let got = s
                .iter()
                .find(|(l, _)| *l == tcp)
                .unwrap_or_else(|| panic!("{who}: no {m} with\n{tcp:#?}\namong\n{s:#?}"))
                .1;
            assert!(got >= at_least, "{who}: {m} = {got}");
        }
    }
    // the status port merges the application's metrics into the proxy's, as Istio's agent does
    let merged = common::scrape(server.status_addr).await;
    assert_eq!(
        samples(&merged, "reviews_cache_hits")[0].1,
        42.0,
        "{merged}"
    );
    assert!(
        !samples(&merged, "istio_requests_total").is_empty(),
        "{merged}"
    );
    let unmerged = common::scrape(client.status_addr).await;
    assert!(samples(&unmerged, "reviews_cache_hits").is_empty());

    let c1 = http_before(&client_text);
    assert_eq!(c1 - c0, 1.0, "one more HTTP request counted on the client");
}

/// The Telemetry API end to end: client-side metrics off mesh-wide, a tag removed and one
/// added from the request on reviews' `istio_requests_total`, access logs from MeshConfig
/// `accessLogFile` in Istio's text format, with a CEL filter on the client side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_api_changes_metrics_and_access_logs() {
    let net = common::loopback_net();
    let ip = |h: u8| addr(net, h, 0).ip().to_string();
    let logs = tempfile::tempdir().unwrap();
    let telemetry = r#"
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  metrics:
  - overrides:
    - match: {metric: ALL_METRICS, mode: CLIENT}
      disabled: true
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: namespace, namespace: default}
spec:
  accessLogging:
  - match: {mode: CLIENT}
    filter: {expression: "request.url_path == '/r/2'"}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides:
        response_flags: {operation: REMOVE}
        request_path: {value: request.url_path}
"#;
    let log_path = logs.path().join("access.log");
    common::start_app(addr(net, 2, 8080), "reviews").await;
    common::start_tcp_echo(addr(net, 2, 8100)).await;
    let common::Pair { client, server, .. } = &common::pair(
        net,
        &(config(&ip(1), &ip(2)) + telemetry),
        Some(&format!("accessLogFile: {}\n", log_path.display())),
        |_, _| {},
    )
    .await;

    let host = "reviews.default.svc.cluster.local:9080";
    common::get_until(addr(net, 1, 9080), host, "/r/1", 200).await;
    let g = common::get(addr(net, 1, 9080), host, "/r/2?q=1")
        .await
        .unwrap();
    assert_eq!(g.status, 200, "{g:?}");
    let back = common::eventually_async(|| async {
        tcp_exchange(addr(net, 1, 9100), b"hello tcp")
            .await
            .ok()
            .filter(|b| !b.is_empty())
    })
    .await;
    assert_eq!(back, b"hello tcp");

    // server: requests_total without response_flags and with request_path; the other
    // metrics keep Istio's standard labels
    let ss = server.prometheus_addr;
    let server_text = common::eventually_async(|| async {
        let t = common::scrape(ss).await;
        (samples(&t, "istio_requests_total")
            .iter()
            .any(|(l, _)| l.get("request_path").map(String::as_str) == Some("/r/2"))
            && samples(&t, "istio_tcp_connections_closed_total")
                .iter()
                .any(|(_, v)| *v >= 1.0))
        .then_some(t)
    })
    .await;
    let requests = samples(&server_text, "istio_requests_total");
    for (l, _) in &requests {
        assert!(!l.contains_key("response_flags"), "{l:?}");
        assert!(l.contains_key("request_path"), "{l:?}");
        assert_eq!(l["reporter"], "destination");
        assert_eq!(l["source_workload"], "productpage-v1");
    }
    let paths: Vec<&str> = requests
        .iter()
        .map(|(l, _)| l["request_path"].as_str())
        .collect();
    assert!(
        paths.contains(&"/r/1") && paths.contains(&"/r/2"),
        "{paths:?}"
    );
    for (l, _) in samples(&server_text, "istio_request_duration_milliseconds") {
        assert_eq!(l["response_flags"], "-", "{l:?}");
        assert!(!l.contains_key("request_path"), "{l:?}");
    }

    // client: no istio_* series at all (its metrics are off), its own envoy_* remain
    let client_text = common::scrape(client.prometheus_addr).await;
    let parsed = prometheus_parse::Scrape::parse(client_text.lines().map(|l| Ok(l.to_string())))
        .expect("client scrape parses");
    assert!(
        parsed
            .samples
            .iter()
            .all(|s| !s.metric.starts_with("istio_") || s.metric.starts_with("istio_agent_")),
        "{client_text}"
    );
    // its own metrics: config sizes, no NACK, the certificate's remaining life
    let one = |m: &str| {
        samples(&client_text, m)
            .first()
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {m} in\n{client_text}"))
    };
    assert!(one("envoy_cluster_manager_active_clusters") >= 3.0);
    assert!(one("envoy_listener_manager_total_listeners_active") >= 1.0);
    assert!(one("istio_agent_cert_expiry_seconds") > 0.0);
    assert!(
        samples(&client_text, "mast_xds_rejected")
            .iter()
            .all(|(_, v)| *v == 0.0)
    );

    // access logs: the server logs every request, the client only /r/2; Istio's format
    let lines = common::eventually_async(|| async {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| l.contains("\"GET /r/2?q=1 HTTP/1.1\""))
            .count();
        (n >= 2).then_some(text)
    })
    .await;
    let client_lines: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains(" outbound|9080||reviews.default.svc.cluster.local "))
        .collect();
    let server_lines: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains(" inbound|9080|| "))
        .collect();
    assert_eq!(client_lines.len(), 1, "{lines}");
    assert!(
        client_lines[0].contains("\"GET /r/2?q=1 HTTP/1.1\" 200 - via_upstream"),
        "{lines}"
    );
    assert!(
        server_lines
            .iter()
            .any(|l| l.contains("\"GET /r/1 HTTP/1.1\" 200 - via_upstream")),
        "{lines}"
    );
    assert!(
        server_lines.iter().any(|l| l.contains("/r/2?q=1")),
        "{lines}"
    );
    // [start] "method path protocol" code flags details ... "authority" "upstream host"
    let l = client_lines[0];
    assert!(l.starts_with('[') && l.as_bytes()[24] == b'Z', "{l}");
    assert!(l.contains(&format!("\"{host}\"")), "{l}");
    // the TCP connection is logged by the server (its CLIENT filter reads a URL path, which a
    // TCP connection has not): no request, protocol `-`, code 0, the bytes each way
    let tcp_lines = common::eventually_async(|| async {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tcp: Vec<String> = text
            .lines()
            .filter(|l| l.contains(" inbound|9100|| "))
            .map(str::to_string)
            .collect();
        (!tcp.is_empty()).then_some(tcp)
    })
    .await;
    assert_eq!(tcp_lines.len(), 1, "{tcp_lines:?}");
    assert!(
        tcp_lines[0].contains("\"- - -\" 0 - - - \"-\" 9 9 "),
        "{tcp_lines:?}"
    );
    let all = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !all.lines().any(|l| l.contains("outbound|9100||")),
        "the client's filter keeps TCP out: {all}"
    );
    assert!(!all.contains("hello tcp"));
}
