//! Table tests of trace contexts, sampling decisions and span encodings.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use prost::Message;

use super::context::{
    self, Extracted, SpanContext, extract, format_traceparent, inject, parse_traceparent,
    trace_reason, with_trace_reason,
};
use super::export::{Finished, grpc_frame, otlp_request, zipkin_json};
use super::{Active, Propagation, Reason, TagValue, Tracing, decide};

type Headers<'a> = Vec<(&'a str, &'a str)>;
/// trace id, span id, sampled.
type Ctx = Option<(u128, u64, bool)>;

fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in list {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn traceparent_parsing() {
    let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let c = parse_traceparent(ok).expect("valid");
    assert_eq!(c.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
    assert_eq!(c.span_id, 0x00f067aa0ba902b7);
    assert!(c.sampled);
    assert_eq!(format_traceparent(&c), ok);
    let cases = [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            Some(false),
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            Some(true),
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            None,
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            None,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            None,
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            None,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            None,
        ),
        ("garbage", None),
    ];
    for (v, want) in cases {
        assert_eq!(parse_traceparent(v).map(|c| c.sampled), want, "{v}");
    }
}

#[test]
fn b3_extraction() {
    let b3 = Propagation::B3 {
        w3c: false,
        wide: true,
    };
    let cases: Vec<(Headers, Ctx, Option<bool>)> = vec![
        (
            vec![
                ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
                ("x-b3-sampled", "1"),
            ],
            Some((0x80f198ee56343ba864fe8b2a57d3eff7, 0xe457b5a2e4d86bd1, true)),
            Some(true),
        ),
        (
            vec![
                ("x-b3-traceid", "64fe8b2a57d3eff7"),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ],
            Some((0x64fe8b2a57d3eff7, 0xe457b5a2e4d86bd1, false)),
            None,
        ),
        (vec![("x-b3-sampled", "0")], None, Some(false)),
        (vec![("x-b3-flags", "1")], None, Some(true)),
        (vec![("b3", "d")], None, Some(true)),
        (
            vec![(
                "b3",
                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
            )],
            Some((0x80f198ee56343ba864fe8b2a57d3eff7, 0xe457b5a2e4d86bd1, true)),
            Some(true),
        ),
        (
            vec![("x-b3-traceid", "xyz"), ("x-b3-spanid", "e457b5a2e4d86bd1")],
            None,
            None,
        ),
        (
            vec![(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
            None,
            None,
        ),
    ];
    for (h, ctx, sampled) in cases {
        let e = extract(b3, &headers(&h));
        assert_eq!(
            e.context.map(|c| (c.trace_id, c.span_id, c.sampled)),
            ctx,
            "{h:?}"
        );
        assert_eq!(e.sampled, sampled, "{h:?}");
    }
    // with W3C propagation, traceparent is read when no B3 header came
    let both = Propagation::B3 {
        w3c: true,
        wide: true,
    };
    let e = extract(
        both,
        &headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]),
    );
    assert_eq!(e.context.map(|c| c.span_id), Some(0x00f067aa0ba902b7));
    assert_eq!(
        extract(Propagation::W3c, &headers(&[("x-b3-sampled", "1")])),
        Extracted::default()
    );
}

#[test]
fn injection_writes_this_span() {
    let c = SpanContext {
        trace_id: 0x64fe8b2a57d3eff7,
        span_id: 0x1111,
        sampled: false,
        wide: false,
        state: Some("congo=t61rcWkgMzE".into()),
    };
    let mut h = headers(&[("b3", "1"), ("x-b3-parentspanid", "0000000000000009")]);
    inject(
        Propagation::B3 {
            w3c: true,
            wide: false,
        },
        &c,
        Some(0x2222),
        &mut h,
    );
    let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(get("x-b3-traceid").as_deref(), Some("64fe8b2a57d3eff7"));
    assert_eq!(get("x-b3-spanid").as_deref(), Some("0000000000001111"));
    assert_eq!(
        get("x-b3-parentspanid").as_deref(),
        Some("0000000000002222")
    );
    assert_eq!(get("x-b3-sampled").as_deref(), Some("0"));
    assert_eq!(
        get("b3"),
        None,
        "the single header would shadow the new context"
    );
    assert_eq!(
        get("traceparent").as_deref(),
        Some("00-000000000000000064fe8b2a57d3eff7-0000000000001111-00")
    );
    assert_eq!(get("tracestate").as_deref(), Some("congo=t61rcWkgMzE"));
    let mut h = HeaderMap::new();
    inject(
        Propagation::W3c,
        &SpanContext { sampled: true, ..c },
        None,
        &mut h,
    );
    assert!(h.get("x-b3-traceid").is_none());
    assert!(
        h.get("traceparent")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-01")
    );
}

#[test]
fn request_id_trace_reasons() {
    let rid = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
    assert_eq!(trace_reason(rid), Reason::NotTraceable);
    for (r, c) in [
        (Reason::Sampling, 'a'),
        (Reason::ServiceForced, 'b'),
        (Reason::ClientForced, 'c'),
        (Reason::NotTraceable, '9'),
    ] {
        let s = with_trace_reason(rid, r).unwrap();
        assert_eq!(s.as_bytes()[14] as char, c);
        assert_eq!(trace_reason(&s), r);
    }
    assert_eq!(with_trace_reason("not-a-uuid", Reason::Sampling), None);
    assert_eq!(context::request_id_integer(rid), Some(0x4bf92f35));
}

fn tracing(random: f64) -> Tracing {
    Tracing {
        client_sampling: 100.0,
        random_sampling: random,
        overall_sampling: 100.0,
        max_path_tag_length: 20,
        tags: vec![
            ("lit".into(), TagValue::Fixed("v".into())),
            (
                "hdr".into(),
                TagValue::Header("x-team".parse().unwrap(), "none".into()),
            ),
            ("md".into(), TagValue::Unset(String::new())),
        ],
        tracer: None,
        egress: true,
    }
}

#[test]
fn sampling_decisions() {
    // 0x00000fa0 % 10000 = 4000; 0x4bf92f35 % 10000 = 1273045301 % 10000 = 5301
    let low = "00000fa0-77b3-4da6-a3ce-929d0e0e4736";
    let high = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
    let sampled = with_trace_reason(high, Reason::Sampling).unwrap();
    let cases: Vec<(&str, f64, Headers, Reason)> = vec![
        (
            "random below the rate",
            40.01,
            vec![("x-request-id", low)],
            Reason::Sampling,
        ),
        (
            "random at the rate",
            40.0,
            vec![("x-request-id", low)],
            Reason::NotTraceable,
        ),
        ("0%", 0.0, vec![("x-request-id", low)], Reason::NotTraceable),
        (
            "100%",
            100.0,
            vec![("x-request-id", high)],
            Reason::Sampling,
        ),
        (
            "earlier proxy's decision",
            0.0,
            vec![("x-request-id", &sampled)],
            Reason::Sampling,
        ),
        (
            "forced",
            0.0,
            vec![("x-request-id", high), ("x-envoy-force-trace", "1")],
            Reason::ServiceForced,
        ),
        (
            "client",
            0.0,
            vec![("x-request-id", high), ("x-client-trace-id", "abc")],
            Reason::ClientForced,
        ),
        ("no request id", 100.0, vec![], Reason::NotTraceable),
        (
            "request id not hex",
            100.0,
            vec![("x-request-id", "zzzzzzzz-1")],
            Reason::NotTraceable,
        ),
    ];
    for (name, rate, h, want) in cases {
        let mut h = headers(&h);
        assert_eq!(decide(&tracing(rate), &mut h), want, "{name}");
        if let Some(rid) = h.get("x-request-id").and_then(|v| v.to_str().ok())
            && rid.len() == 36
        {
            assert_eq!(trace_reason(rid), want, "{name}: written back");
        }
    }
}

fn request(h: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::get("http://reviews:9080/a/very/long/path/indeed");
    for (k, v) in h {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

#[test]
fn spans_without_a_reporter_still_propagate() {
    let mut t = tracing(100.0);
    t.tracer = Some(super::Tracer {
        propagation: Propagation::W3c,
        reporter: None,
    });
    let t = Arc::new(t);
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let mut parts = request(&[
        ("x-request-id", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"),
        ("traceparent", parent),
        ("x-team", "blue"),
    ]);
    let a = Active::start(&t, &mut parts, "http", "10.0.0.1:5000".parse().unwrap()).unwrap();
    assert_eq!(a.parent, Some(0x00f067aa0ba902b7));
    assert_eq!(a.context.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
    assert!(!a.sampled(), "the caller's flag wins over random sampling");
    assert_ne!(a.context.span_id, 0x00f067aa0ba902b7);
    let tp = parts.headers.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(tp, format_traceparent(&a.context));
    // without a context: a new root, sampled by the decision, tags recorded
    let mut parts = request(&[
        ("x-request-id", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"),
        ("x-team", "blue"),
    ]);
    let a = Active::start(&t, &mut parts, "http", "10.0.0.1:5000".parse().unwrap()).unwrap();
    assert!(a.sampled() && a.parent.is_none());
    let tag = |n: &str| a.tags.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(
        tag("http.url"),
        Some("http://reviews:9080/"),
        "cut at max_path_tag_length"
    );
    assert_eq!(tag("lit"), Some("v"));
    assert_eq!(tag("hdr"), Some("blue"));
    assert_eq!(tag("md"), None);
    assert_eq!(tag("http.method"), Some("GET"));
    assert_eq!(a.name, "egress reviews:9080");
}

fn finished() -> Finished {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    Finished {
        context: SpanContext {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x1234,
            sampled: true,
            wide: true,
            state: None,
        },
        parent: Some(0x5678),
        name: "reviews.default.svc.cluster.local:9080/*".into(),
        client: true,
        start,
        end: start + Duration::from_millis(3),
        tags: vec![("http.status_code".into(), "503".into())],
        error: true,
        local: Some("10.1.0.2".parse().unwrap()),
    }
}

#[test]
fn otlp_and_zipkin_encodings() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let req = otlp_request("reviews.default", &[&finished()]);
    let frame = grpc_frame(&req.encode_to_vec());
    assert_eq!(frame[0], 0);
    let len = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
    let back = ExportTraceServiceRequest::decode(&frame[5..5 + len]).unwrap();
    let rs = &back.resource_spans[0];
    let attrs = &rs.resource.as_ref().unwrap().attributes;
    assert!(attrs.iter().any(|kv| kv.key == "service.name"
        && matches!(&kv.value.as_ref().unwrap().value,
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) if s == "reviews.default")));
    let s = &rs.scope_spans[0].spans[0];
    assert_eq!(
        s.trace_id,
        0x4bf92f3577b34da6a3ce929d0e0e4736u128
            .to_be_bytes()
            .to_vec()
    );
    assert_eq!(s.parent_span_id, 0x5678u64.to_be_bytes().to_vec());
    assert_eq!(s.kind, 3, "CLIENT");
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 3_000_000);
    assert_eq!(s.status.as_ref().unwrap().code, 2, "ERROR");
    let z = zipkin_json("reviews.default", &[&finished()]);
    assert_eq!(z[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(z[0]["id"], "0000000000001234");
    assert_eq!(z[0]["parentId"], "0000000000005678");
    assert_eq!(z[0]["kind"], "CLIENT");
    assert_eq!(z[0]["duration"], 3000);
    assert_eq!(z[0]["timestamp"], 1_700_000_000_000_000u64);
    assert_eq!(z[0]["localEndpoint"]["serviceName"], "reviews.default");
    assert_eq!(z[0]["localEndpoint"]["ipv4"], "10.1.0.2");
    assert_eq!(z[0]["tags"]["http.status_code"], "503");
}
