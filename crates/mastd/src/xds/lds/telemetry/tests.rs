//! Table tests of the Telemetry API's resolution (levels, modes, overrides, access logs) and
//! of what it changes in generated listeners.

use std::sync::Arc;

use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_filter,
};
use mast_xds::types;
use serde_json::{Value, json};

use super::{MetricChange, policy_for};
use crate::model::Snapshot;
use crate::xds::lds::sidecar_listeners;
use crate::xds::rds::testutil::{SnapBuilder, proxy, unpack};

fn base() -> SnapBuilder {
    SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .service("mongodb", "default", &[("tcp-mongo", 27017)], "10.0.0.6")
}

fn reviews() -> mast_xds::Proxy {
    proxy(
        "10.1.0.2",
        "reviews-v1",
        "default",
        &[("app", "reviews")],
        json!({}),
    )
}

fn ratings() -> mast_xds::Proxy {
    proxy(
        "10.1.0.3",
        "ratings-v1",
        "default",
        &[("app", "ratings")],
        json!({}),
    )
}

fn disable(metric: &str, mode: &str) -> Value {
    json!({"metrics": [{"overrides": [{"match": {"metric": metric, "mode": mode}, "disabled": true}]}]})
}

#[test]
fn levels_apply_mesh_then_namespace_then_workload() {
    let snap = base()
        // mesh: every metric off
        .telemetry("mesh", "istio-system", disable("ALL_METRICS", "CLIENT_AND_SERVER"))
        // namespace: requests_total back on, protocol tag removed
        .telemetry(
            "ns",
            "default",
            json!({"metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT"}, "disabled": false,
                "tagOverrides": {"request_protocol": {"operation": "REMOVE"}}}]}]}),
        )
        // workload: reviews' server side gets a new tag and its protocol tag back
        .telemetry(
            "reviews",
            "default",
            json!({"selector": {"matchLabels": {"app": "reviews"}},
                "metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT", "mode": "SERVER"},
                "tagOverrides": {"request_protocol": {"value": "request.protocol"},
                                 "host": {"operation": "UPSERT", "value": "request.host"}}}]}]}),
        )
        // another namespace's settings never apply
        .telemetry("other", "prod", disable("REQUEST_COUNT", "CLIENT_AND_SERVER"))
        .build();

    let rv = policy_for(&snap, &reviews());
    let rt = policy_for(&snap, &ratings());
    let removed = MetricChange {
        drop: false,
        dimensions: Default::default(),
        remove: ["request_protocol".to_string()].into(),
    };
    // (policy, side, metric, expected)
    let cases: Vec<(&str, &super::Side, &str, MetricChange)> = vec![
        (
            "ratings client",
            &rt.client,
            "requests_total",
            removed.clone(),
        ),
        (
            "ratings server",
            &rt.server,
            "requests_total",
            removed.clone(),
        ),
        (
            "reviews client",
            &rv.client,
            "requests_total",
            removed.clone(),
        ),
        (
            "reviews server",
            &rv.server,
            "requests_total",
            MetricChange {
                drop: false,
                dimensions: [
                    ("host".to_string(), "request.host".to_string()),
                    (
                        "request_protocol".to_string(),
                        "request.protocol".to_string(),
                    ),
                ]
                .into(),
                remove: Default::default(),
            },
        ),
        (
            "ratings duration",
            &rt.client,
            "request_duration_milliseconds",
            MetricChange {
                drop: true,
                ..Default::default()
            },
        ),
        (
            "reviews tcp",
            &rv.server,
            "tcp_sent_bytes_total",
            MetricChange {
                drop: true,
                ..Default::default()
            },
        ),
    ];
    for (name, side, metric, want) in cases {
        assert_eq!(side.metrics.get(metric), Some(&want), "{name}");
    }
    assert!(!rt.client.metrics_off(), "requests_total is back on");
    assert_eq!(super::levels(&snap, &reviews()).len(), 3);
    assert_eq!(super::levels(&snap, &ratings()).len(), 2);
}

#[test]
fn modes_pick_the_side() {
    let cases = [
        ("CLIENT", true, false),
        ("SERVER", false, true),
        ("CLIENT_AND_SERVER", true, true),
    ];
    for (mode, client_off, server_off) in cases {
        let snap = base()
            .telemetry("t", "default", disable("ALL_METRICS", mode))
            .build();
        let p = policy_for(&snap, &reviews());
        assert_eq!(p.client.metrics_off(), client_off, "{mode}: client");
        assert_eq!(p.server.metrics_off(), server_off, "{mode}: server");
    }
}

#[test]
fn access_logs_from_mesh_config_and_telemetry() {
    // MeshConfig's accessLogFile turns logs on everywhere; a workload's Telemetry turns its
    // server side off; a namespace's adds a filter.
    let snap = base()
        .access_log_file("/dev/stdout")
        .telemetry(
            "ns",
            "default",
            json!({"accessLogging": [{"providers": [{"name": "envoy"}],
                "filter": {"expression": "response.code >= 400"}}]}),
        )
        .telemetry(
            "rv",
            "default",
            json!({"selector": {"matchLabels": {"app": "reviews"}},
                "accessLogging": [{"match": {"mode": "SERVER"}, "disabled": true}]}),
        )
        .build();
    let rv = policy_for(&snap, &reviews());
    let rt = policy_for(&snap, &ratings());
    assert!(rv.server.access_log.is_none());
    let log = rv.client.access_log.clone().expect("client log");
    assert_eq!(log.path, "/dev/stdout");
    assert_eq!(log.filter.as_deref(), Some("response.code >= 400"));
    assert_eq!(rt.server.access_log, Some(log));

    // without MeshConfig, an envoy provider turns logs on at /dev/stdout
    let snap = base()
        .telemetry(
            "mesh",
            "istio-system",
            json!({"accessLogging": [{"providers": [{"name": "envoy"}]}]}),
        )
        .build();
    let p = policy_for(&snap, &ratings());
    assert_eq!(
        p.server.access_log.as_ref().map(|l| l.path.as_str()),
        Some("/dev/stdout")
    );
    // an unsupported provider is skipped
    let snap = base()
        .telemetry(
            "mesh",
            "istio-system",
            json!({"accessLogging": [{"providers": [{"name": "otel"}]}]}),
        )
        .build();
    assert!(policy_for(&snap, &ratings()).server.access_log.is_none());
}

#[test]
fn access_log_providers_from_mesh_config() {
    let mesh = json!({
        "extensionProviders": [
            {"name": "json-file", "envoyFileAccessLog": {"path": "/var/log/mesh.log",
                "logFormat": {"labels": {"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"}}}},
            {"name": "text-file", "envoyFileAccessLog": {"path": "/dev/stderr",
                "logFormat": {"text": "%RESPONSE_CODE% %UPSTREAM_CLUSTER%"}}},
            {"name": "als", "envoyOtelAls": {"service": "otel.observability.svc.cluster.local", "port": 4317}},
        ],
        "defaultProviders": {"accessLogging": ["text-file"]},
    });
    // the default provider, when no Telemetry speaks of access logs
    let snap = base().mesh_tracing(mesh.clone()).build();
    let p = policy_for(&snap, &ratings());
    let text = p.server.access_log.clone().expect("default provider");
    assert_eq!(
        (text.path.as_str(), text.json, text.format.as_deref()),
        (
            "/dev/stderr",
            false,
            Some("%RESPONSE_CODE% %UPSTREAM_CLUSTER%")
        )
    );
    assert_eq!(p.client.access_log, Some(text));
    // a Telemetry naming a file provider with labels: JSON lines with those keys; the
    // server side it turns off stays off despite the default
    let snap = base()
        .mesh_tracing(mesh.clone())
        .telemetry(
            "mesh",
            "istio-system",
            json!({"accessLogging": [
                {"match": {"mode": "CLIENT"}, "providers": [{"name": "als"}, {"name": "json-file"}]},
                {"match": {"mode": "SERVER"}, "disabled": true},
            ]}),
        )
        .build();
    let p = policy_for(&snap, &ratings());
    let json = p.client.access_log.clone().expect("client log");
    assert_eq!((json.path.as_str(), json.json), ("/var/log/mesh.log", true));
    let fields: Value = serde_json::from_str(json.format.as_deref().unwrap()).unwrap();
    assert_eq!(
        fields,
        json!({"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%"})
    );
    assert!(p.server.access_log.is_none());
    // only an unsupported provider: skipped, and the default provider is not in scope
    let snap = base()
        .mesh_tracing(mesh)
        .telemetry(
            "mesh",
            "istio-system",
            json!({"accessLogging": [{"providers": [{"name": "als"}]}]}),
        )
        .build();
    let p = policy_for(&snap, &ratings());
    assert_eq!(p.server.access_log, None);
}

fn hcms(ls: &[Listener]) -> Vec<(String, HttpConnectionManager)> {
    let mut out = Vec::new();
    for l in ls {
        for c in l.filter_chains.iter().chain(l.default_filter_chain.iter()) {
            for f in &c.filters {
                if f.name == "envoy.filters.network.http_connection_manager" {
                    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
                        panic!()
                    };
                    out.push((l.name.clone(), unpack(any)));
                }
            }
        }
    }
    out
}

fn has_tcp_stats(ls: &[Listener], name: &str) -> bool {
    ls.iter()
        .filter(|l| l.name == name)
        .flat_map(|l| l.filter_chains.iter())
        .any(|c| c.filters.iter().any(|f| f.name == "istio.stats"))
}

fn tcp_access_logs(
    ls: &[Listener],
    name: &str,
) -> Vec<envoy_types::pb::envoy::config::accesslog::v3::AccessLog> {
    use envoy_types::pb::envoy::config::listener::v3::filter;
    use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
    ls.iter()
        .filter(|l| l.name == name)
        .flat_map(|l| l.filter_chains.iter())
        .flat_map(|c| c.filters.iter())
        .filter(|f| f.name == "envoy.filters.network.tcp_proxy")
        .flat_map(|f| match &f.config_type {
            Some(filter::ConfigType::TypedConfig(a)) => {
                <TcpProxy as prost::Message>::decode(a.value.as_slice())
                    .unwrap()
                    .access_log
            }
            _ => vec![],
        })
        .collect()
}

fn stats_config(h: &HttpConnectionManager) -> Option<Value> {
    let f = h.http_filters.iter().find(|f| f.name == "istio.stats")?;
    let Some(http_filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        panic!()
    };
    let ts = mast_xds::typed_struct::TypedStruct::from_any(any)
        .expect("decodes")
        .expect("typed struct");
    Some(Value::Object(ts.json()))
}

#[test]
fn listeners_follow_the_policy() {
    let snap: Snapshot = base()
        .access_log_file("/dev/stdout")
        .telemetry("mesh", "istio-system", disable("ALL_METRICS", "CLIENT"))
        .telemetry(
            "rv",
            "default",
            json!({"selector": {"matchLabels": {"app": "reviews"}},
                "metrics": [{"overrides": [{"match": {"metric": "REQUEST_COUNT", "mode": "SERVER"},
                    "tagOverrides": {"response_flags": {"operation": "REMOVE"}}}]}],
                "accessLogging": [{"filter": {"expression": "response.code >= 500"}}]}),
        )
        .build();
    let ls = sidecar_listeners(&snap, &reviews());
    // outbound: metrics off (no istio.stats, HTTP or TCP), access log on with the filter
    let outbound = hcms(&ls)
        .into_iter()
        .find(|(n, _)| n == "0.0.0.0_9080")
        .expect("outbound 9080")
        .1;
    assert!(stats_config(&outbound).is_none());
    assert_eq!(outbound.access_log.len(), 1);
    assert_eq!(outbound.access_log[0].name, "envoy.access_loggers.file");
    assert!(outbound.access_log[0].filter.is_some());
    assert!(!has_tcp_stats(&ls, "10.0.0.6_27017"));
    // TCP connections are logged too, with the same filter
    let tcp = tcp_access_logs(&ls, "10.0.0.6_27017");
    assert_eq!(tcp.len(), 1, "{tcp:?}");
    assert!(tcp[0].filter.is_some());
    // inbound: stats with the tag removal, access log
    let inbound = hcms(&ls)
        .into_iter()
        .find(|(n, _)| n == "virtualInbound")
        .expect("virtualInbound")
        .1;
    assert_eq!(
        stats_config(&inbound).expect("inbound stats"),
        json!({"disable_host_header_fallback": true,
               "metrics": [{"name": "requests_total", "tags_to_remove": ["response_flags"]}]})
    );
    assert_eq!(inbound.access_log.len(), 1);

    // ratings (not selected): only the mesh level; no filter on its log
    let ls = sidecar_listeners(&snap, &ratings());
    let inbound = hcms(&ls)
        .into_iter()
        .find(|(n, _)| n == "virtualInbound")
        .expect("virtualInbound")
        .1;
    assert_eq!(
        stats_config(&inbound),
        Some(json!({"disable_host_header_fallback": true}))
    );
    assert!(inbound.access_log[0].filter.is_none());
}

#[test]
fn a_workload_telemetry_splits_the_shared_listener_cache() {
    let snap = base()
        .telemetry(
            "rv",
            "default",
            json!({"selector": {"matchLabels": {"app": "reviews"}}, "accessLogging": [{}]}),
        )
        .build();
    let first = |p: &mast_xds::Proxy| {
        crate::xds::generate(&snap, p, types::LISTENER, &[]).expect("generate")[0].clone()
    };
    let other_ratings = proxy(
        "10.1.0.4",
        "ratings-v2",
        "default",
        &[("app", "ratings")],
        json!({}),
    );
    assert!(!Arc::ptr_eq(&first(&reviews()), &first(&ratings())));
    assert!(Arc::ptr_eq(&first(&ratings()), &first(&other_ratings)));
}

#[test]
fn custom_metrics_naming_standard_ones() {
    let snap = base()
        .telemetry(
            "mesh",
            "istio-system",
            json!({"metrics": [{"overrides": [
                {"match": {"customMetric": "istio_requests_total"}, "disabled": true},
                {"match": {"customMetric": "request_bytes", "mode": "SERVER"},
                    "tagOverrides": {"team": {"value": "'blue'"}}},
                {"match": {"customMetric": "my_own_metric"}, "disabled": true},
            ]}]}),
        )
        .build();
    let p = policy_for(&snap, &ratings());
    for side in [&p.client, &p.server] {
        assert!(side.metrics["requests_total"].drop);
        assert!(!side.metrics.contains_key("my_own_metric"));
    }
    assert_eq!(
        p.server.metrics["request_bytes"]
            .dimensions
            .get("team")
            .map(String::as_str),
        Some("'blue'")
    );
    assert!(!p.client.metrics.contains_key("request_bytes"));
}

#[test]
fn opentelemetry_access_log_service() {
    use envoy_types::pb::envoy::config::accesslog::v3::access_log::ConfigType;
    use envoy_types::pb::envoy::extensions::access_loggers::open_telemetry::v3::OpenTelemetryAccessLogConfig;
    let mesh = json!({"extensionProviders": [
        {"name": "als", "envoyOtelAls": {"service": "reviews.default.svc.cluster.local", "port": 9080,
            "logFormat": {"labels": {"code": "%RESPONSE_CODE%"}}}},
    ]});
    let snap = base()
        .mesh_tracing(mesh)
        .telemetry(
            "mesh",
            "istio-system",
            json!({"accessLogging": [{"providers": [{"name": "als"}],
                "filter": {"expression": "response.code >= 500"}}]}),
        )
        .build();
    let p = policy_for(&snap, &ratings());
    let log = p.server.access_log.clone().expect("server log");
    let otel = log.otel.clone().expect("to the collector");
    assert_eq!(
        otel.cluster,
        "outbound|9080||reviews.default.svc.cluster.local"
    );
    assert_eq!(otel.log_name, "otel_envoy_accesslog");
    let pb = crate::xds::lds::hcm::access_log(&log);
    assert_eq!(pb.name, "envoy.access_loggers.open_telemetry");
    assert!(pb.filter.is_some());
    let Some(ConfigType::TypedConfig(any)) = pb.config_type else {
        panic!("typed config")
    };
    let cfg: OpenTelemetryAccessLogConfig = unpack(&any);
    assert!(cfg.disable_builtin_labels);
    assert_eq!(cfg.log_name, "otel_envoy_accesslog");
    assert!(cfg.grpc_service.is_some());
    let attrs = cfg.attributes.unwrap().values;
    assert_eq!(attrs[0].key, "code");
    // Istio's default text format is the body
    let body = format!("{:?}", cfg.body.unwrap());
    assert!(body.contains("%START_TIME%"), "{body}");
}
