//! Table tests of tracing resolution (legacy MeshConfig, Telemetry levels, providers,
//! modes) and of the connection manager's `tracing` it produces.

use serde_json::{Value, json};

use super::{TagSource, TraceProvider, TraceSpec, hcm_tracing, resolve};
use crate::model::Snapshot;
use crate::xds::lds::telemetry::levels;
use crate::xds::rds::testutil::{SnapBuilder, proxy};

fn providers() -> Value {
    json!([
        {"name": "otel", "opentelemetry": {"service": "otel-collector.observability.svc.cluster.local", "port": 4317}},
        {"name": "otel-http", "opentelemetry": {"service": "observability/otel-collector.observability.svc.cluster.local", "port": 4318, "http": {"path": "v1/traces"}}},
        {"name": "zipkin", "zipkin": {"service": "zipkin.istio-system.svc.cluster.local", "port": 9411}},
        {"name": "dd", "datadog": {"service": "datadog.istio-system.svc.cluster.local", "port": 8126}},
        {"name": "ghost", "opentelemetry": {"service": "nowhere.svc.cluster.local", "port": 4317}},
    ])
}

fn snap(mesh: Value, telemetries: &[(&str, &str, Value)]) -> Snapshot {
    let mut b = SnapBuilder::new()
        .service(
            "otel-collector",
            "observability",
            &[("grpc-otlp", 4317), ("http-otlp", 4318)],
            "10.0.0.9",
        )
        .service(
            "zipkin",
            "istio-system",
            &[("http-query", 9411)],
            "10.0.0.10",
        )
        .service("datadog", "istio-system", &[("http", 8126)], "10.0.0.11")
        .mesh_tracing(mesh);
    for (name, ns, spec) in telemetries {
        b = b.telemetry(name, ns, spec.clone());
    }
    b.build()
}

fn reviews() -> mast_xds::Proxy {
    proxy(
        "10.1.0.2",
        "reviews-v1",
        "default",
        &[
            ("app", "reviews"),
            ("service.istio.io/canonical-name", "reviews"),
            ("service.istio.io/canonical-revision", "v1"),
        ],
        json!({"MESH_ID": "mesh1"}),
    )
}

fn side(s: &Snapshot, client: bool) -> Option<TraceSpec> {
    let p = reviews();
    resolve(s, &p, &levels(s, &p), client)
}

fn tag<'a>(t: &'a TraceSpec, name: &str) -> Option<&'a TagSource> {
    t.tags.iter().find(|(n, _)| n == name).map(|(_, s)| s)
}

#[test]
fn legacy_mesh_config() {
    // enableTracing defaults to true: sampling 1%, no provider, no per-workload tags
    let t = side(&snap(json!({}), &[]), true).expect("on by default");
    assert_eq!(
        (t.provider.clone(), t.sampling, t.tags.clone()),
        (None, 1.0, vec![])
    );
    // off, sampling and tags from defaultConfig, >100 means 1
    assert_eq!(
        side(&snap(json!({"enableTracing": false}), &[]), true),
        None
    );
    let mesh = json!({"defaultConfig": {"tracing": {"sampling": 42.5, "maxPathTagLength": 99,
        "customTags": {"env": {"environment": {"name": "POD_NAME", "defaultValue": "x"}}}}}});
    let t = side(&snap(mesh, &[]), false).unwrap();
    assert_eq!((t.sampling, t.max_path_tag_length), (42.5, Some(99)));
    assert_eq!(
        t.tags,
        vec![(
            "env".into(),
            TagSource::Environment("POD_NAME".into(), "x".into())
        )]
    );
    let t = side(
        &snap(
            json!({"defaultConfig": {"tracing": {"sampling": 250}}}),
            &[],
        ),
        true,
    )
    .unwrap();
    assert_eq!(t.sampling, 1.0);
}

/// The provider and sampling, or tracing off.
type Want = Option<(Option<TraceProvider>, f64)>;

#[test]
fn providers_and_levels() {
    let mesh = json!({"extensionProviders": providers()});
    let tel = |spec: Value| ("mesh", "istio-system", spec);
    let cases: Vec<(&str, Value, Option<Value>, Want)> = vec![
        (
            "default provider, mesh sampling",
            json!({"extensionProviders": providers(), "defaultProviders": {"tracing": ["otel"]}, "defaultConfig": {"tracing": {"sampling": 10}}}),
            None,
            Some((
                Some(TraceProvider::OpenTelemetry {
                    cluster: "outbound|4317||otel-collector.observability.svc.cluster.local".into(),
                    authority: "otel-collector.observability.svc.cluster.local".into(),
                    http_path: None,
                    service_name: "reviews.default".into(),
                    max_tag_length: 0,
                }),
                10.0,
            )),
        ),
        (
            "Telemetry provider and sampling",
            mesh.clone(),
            Some(
                json!({"tracing": [{"providers": [{"name": "zipkin"}], "randomSamplingPercentage": 100}]}),
            ),
            Some((
                Some(TraceProvider::Zipkin {
                    cluster: "outbound|9411||zipkin.istio-system.svc.cluster.local".into(),
                    hostname: "zipkin.istio-system.svc.cluster.local".into(),
                    path: "/api/v2/spans".into(),
                    trace_id_128: true,
                    w3c: false,
                    max_tag_length: 0,
                }),
                100.0,
            )),
        ),
        (
            "OTLP over HTTP, namespaced service",
            mesh.clone(),
            Some(json!({"tracing": [{"providers": [{"name": "otel-http"}]}]})),
            Some((
                Some(TraceProvider::OpenTelemetry {
                    cluster: "outbound|4318||otel-collector.observability.svc.cluster.local".into(),
                    authority: "otel-collector.observability.svc.cluster.local".into(),
                    http_path: Some("/v1/traces".into()),
                    service_name: "reviews.default".into(),
                    max_tag_length: 0,
                }),
                1.0,
            )),
        ),
        (
            "unsupported provider keeps sampling, no spans",
            mesh.clone(),
            Some(
                json!({"tracing": [{"providers": [{"name": "dd"}], "randomSamplingPercentage": 5}]}),
            ),
            Some((None, 5.0)),
        ),
        (
            "service not in the registry: off",
            mesh.clone(),
            Some(json!({"tracing": [{"providers": [{"name": "ghost"}]}]})),
            None,
        ),
        (
            "provider not defined: off",
            mesh.clone(),
            Some(json!({"tracing": [{"providers": [{"name": "nope"}]}]})),
            None,
        ),
        (
            "disableSpanReporting: off",
            mesh.clone(),
            Some(
                json!({"tracing": [{"providers": [{"name": "otel"}], "disableSpanReporting": true}]}),
            ),
            None,
        ),
    ];
    for (name, mesh, telemetry, want) in cases {
        let tels: Vec<_> = telemetry.into_iter().map(tel).collect();
        let s = snap(mesh, &tels);
        let got = side(&s, true).map(|t| (t.provider, t.sampling));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn workload_level_and_modes() {
    let mesh = json!({"extensionProviders": providers()});
    let s = snap(
        mesh,
        &[
            (
                "mesh",
                "istio-system",
                json!({"tracing": [{"providers": [{"name": "otel"}], "randomSamplingPercentage": 20}]}),
            ),
            (
                "ns",
                "default",
                json!({"tracing": [{"randomSamplingPercentage": 50, "customTags": {"team": {"literal": {"value": "a"}}}}]}),
            ),
            (
                "wl",
                "default",
                json!({"selector": {"matchLabels": {"app": "reviews"}}, "tracing": [
                    {"match": {"mode": "SERVER"}, "disableSpanReporting": true}
                ]}),
            ),
        ],
    );
    let client = side(&s, true).expect("client side traced");
    assert_eq!(client.sampling, 50.0);
    assert_eq!(tag(&client, "team"), Some(&TagSource::Literal("a".into())));
    assert_eq!(
        tag(&client, "istio.canonical_service"),
        Some(&TagSource::Literal("reviews".into()))
    );
    assert_eq!(
        tag(&client, "istio.canonical_revision"),
        Some(&TagSource::Literal("v1".into()))
    );
    assert_eq!(
        tag(&client, "istio.mesh_id"),
        Some(&TagSource::Literal("mesh1".into()))
    );
    assert_eq!(
        tag(&client, "istio.namespace"),
        Some(&TagSource::Literal("default".into()))
    );
    let names: Vec<&str> = client.tags.iter().map(|(n, _)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "tags sorted by name as istiod does");
    assert_eq!(
        side(&s, false),
        None,
        "server side turned off by the workload"
    );
}

#[test]
fn hcm_tracing_fields() {
    let s = snap(
        json!({"extensionProviders": providers()}),
        &[(
            "mesh",
            "istio-system",
            json!({"tracing": [{"providers": [{"name": "otel"}], "randomSamplingPercentage": 12.5}]}),
        )],
    );
    let t = side(&s, true).unwrap();
    let h = hcm_tracing(&t);
    assert_eq!(h.random_sampling.unwrap().value, 12.5);
    assert_eq!(h.client_sampling.unwrap().value, 100.0);
    assert_eq!(h.overall_sampling.unwrap().value, 100.0);
    let p = h.provider.unwrap();
    assert_eq!(p.name, "envoy.tracers.opentelemetry");
    let Some(envoy_types::pb::envoy::config::trace::v3::tracing::http::ConfigType::TypedConfig(
        any,
    )) = p.config_type
    else {
        panic!("typed config");
    };
    let oc: envoy_types::pb::envoy::config::trace::v3::OpenTelemetryConfig =
        crate::xds::rds::testutil::unpack(&any);
    assert_eq!(oc.service_name, "reviews.default");
    let Some(envoy_types::pb::envoy::config::core::v3::grpc_service::TargetSpecifier::EnvoyGrpc(g)) =
        oc.grpc_service.unwrap().target_specifier
    else {
        panic!("envoy gRPC");
    };
    assert_eq!(
        g.cluster_name,
        "outbound|4317||otel-collector.observability.svc.cluster.local"
    );
    assert_eq!(
        g.authority,
        "otel-collector.observability.svc.cluster.local"
    );
    assert!(
        h.custom_tags
            .iter()
            .any(|c| c.tag == "istio.authorization.dry_run.deny_policy.name")
    );
}

#[test]
fn listeners_are_shared_unless_spans_name_the_workload() {
    use mast_xds::types;
    let ratings = proxy(
        "10.1.0.3",
        "ratings-v1",
        "default",
        &[("app", "ratings")],
        json!({}),
    );
    let first = |s: &Snapshot, p: &mast_xds::Proxy| {
        crate::xds::generate(s, p, types::LISTENER, &[])
            .expect("generate")
            .first()
            .cloned()
            .expect("a listener")
    };
    for (mesh, shared) in [
        (json!({"extensionProviders": providers()}), true),
        (
            json!({"extensionProviders": providers(), "defaultProviders": {"tracing": ["otel"]}}),
            false,
        ),
    ] {
        let s = snap(mesh, &[]);
        let same = std::sync::Arc::ptr_eq(&first(&s, &reviews()), &first(&s, &ratings));
        assert_eq!(same, shared, "shared: {shared}");
    }
}
