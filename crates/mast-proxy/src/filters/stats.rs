//! `istio.stats`: Istio's standard HTTP and gRPC metrics, recorded when the response ends.
//! The reporter is `source` on outbound chains and `destination` on inbound ones (the
//! listener's direction, unless the config names one). Labels follow Istio's stats filter:
//! the local workload from the node metadata, the peer from the metadata exchange, principals
//! from the certificates of the connection, the destination service from the cluster's
//! `istio` metadata (else, outbound, the request's host and the cluster's name).

use std::sync::Arc;

use http::{HeaderMap, request, response};

use crate::http::filter::{HttpFilter, RouteCtx, Status, StreamInfo};
use crate::telemetry::Telemetry;
use crate::telemetry::metrics::{Flags, Labels, Protocol, Reporter, Request, Security, Service};
use crate::telemetry::overrides::{self, Metric, Overrides};
use crate::telemetry::peer::UNKNOWN;

/// The filter's name.
pub const NAME: &str = "istio.stats";
/// Its config type (given as a `TypedStruct`).
pub const CONFIG_TYPE: &str = "stats.PluginConfig";

/// The filter.
#[derive(Debug)]
pub struct StatsFilter {
    reporter: Reporter,
    host_fallback: bool,
    telemetry: Arc<Telemetry>,
    overrides: Overrides,
}

impl StatsFilter {
    /// A filter reporting as `reporter`; `host_fallback`: name the destination service after
    /// the request's host when the cluster does not say.
    pub fn new(reporter: Reporter, host_fallback: bool, telemetry: Arc<Telemetry>) -> StatsFilter {
        StatsFilter {
            reporter,
            host_fallback,
            telemetry,
            overrides: Overrides::default(),
        }
    }

    /// The filter with the Telemetry API's changes.
    pub fn with_overrides(mut self, overrides: Overrides) -> StatsFilter {
        self.overrides = overrides;
        self
    }

    /// Who reports.
    pub fn reporter(&self) -> Reporter {
        self.reporter
    }

    /// The labels of a finished request.
    pub fn labels(&self, info: &StreamInfo) -> Labels {
        let protocol = if info.grpc {
            Protocol::Grpc
        } else {
            Protocol::Http
        };
        labels(self.reporter, &self.telemetry, info, protocol)
    }
}

/// The labels of a finished request or a TCP connection, as Istio's stats filter sets them.
pub fn labels(reporter: Reporter, t: &Telemetry, info: &StreamInfo, protocol: Protocol) -> Labels {
    let or_unknown = |v: &Option<Arc<str>>| v.clone().unwrap_or_else(|| t.unknown.clone());
    let local = t.local.peer.clone();
    let (source, source_principal, destination, destination_principal, security) = match reporter {
        Reporter::Source => (
            local,
            if info.upstream_tls {
                or_unknown(&info.local_identity)
            } else {
                t.unknown.clone()
            },
            info.upstream_peer
                .clone()
                .unwrap_or_else(|| t.unknown_peer.clone()),
            or_unknown(&info.upstream_identity),
            Security::Unknown,
        ),
        Reporter::Destination => (
            info.downstream_peer
                .clone()
                .unwrap_or_else(|| t.unknown_peer.clone()),
            or_unknown(&info.peer_identity),
            local,
            if info.downstream_tls {
                or_unknown(&info.local_identity)
            } else {
                t.unknown.clone()
            },
            if info.peer_identity.is_some() {
                Security::MutualTls
            } else {
                Security::None
            },
        ),
    };
    let service = info.service.clone().unwrap_or_else(|| {
        Arc::new(Service::unknown(
            info.request_host.as_deref(),
            info.cluster.as_deref().unwrap_or(UNKNOWN),
        ))
    });
    let code = info.response_code.unwrap_or(0);
    Labels {
        reporter,
        source,
        source_principal,
        destination,
        destination_principal,
        service,
        protocol,
        response_code: code,
        grpc_status: (protocol == Protocol::Grpc)
            .then(|| info.grpc_status.unwrap_or_else(|| http_to_grpc(code))),
        flags: Flags::of(&info.flags),
        security,
    }
}

/// The label text of a metric changed by `o`: its dimensions evaluated (`unknown` when a
/// value is absent, as Istio's plugin reports it).
pub fn changed_labels(
    labels: &Labels,
    o: &overrides::MetricOverride,
    captured: &[Option<String>],
    info: &StreamInfo,
) -> String {
    let extra: Vec<(String, String)> = o
        .dims
        .iter()
        .map(|(tag, op)| {
            (
                tag.clone(),
                op.eval(captured, info)
                    .map_or_else(|| UNKNOWN.to_string(), |v| v.text()),
            )
        })
        .collect();
    labels.render_with(&o.remove, &extra)
}

/// The gRPC status of a response without one, as Envoy maps HTTP statuses.
pub fn http_to_grpc(status: u16) -> u32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

/// The size of a header block as Envoy counts it (names and values).
pub fn header_bytes(h: &HeaderMap) -> u64 {
    h.iter()
        .map(|(k, v)| (k.as_str().len() + v.len()) as u64)
        .sum()
}

impl HttpFilter for StatsFilter {
    fn name(&self) -> &str {
        NAME
    }

    fn on_request_headers(
        &self,
        info: &mut StreamInfo,
        req: &mut request::Parts,
        _route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        info.grpc = crate::http::is_grpc(&req.headers);
        if !self.overrides.captures.is_empty() {
            info.stats_captured = self.overrides.captures.capture(req, info.downstream_tls);
        }
        let host = crate::http::authority(req);
        // the pseudo-headers count as Envoy keeps them in the header map
        info.request_header_bytes = header_bytes(&req.headers)
            + (":method".len() + req.method.as_str().len()) as u64
            + (":path".len() + req.uri.path_and_query().map_or(1, |p| p.as_str().len())) as u64
            + (":authority".len() + host.len()) as u64;
        if self.host_fallback {
            let bare = match host.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => host,
            };
            info.request_host = Some(bare.to_string());
        }
        Status::Continue
    }

    fn on_response_headers(
        &self,
        info: &mut StreamInfo,
        resp: &mut response::Parts,
        _route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        info.response_header_bytes = header_bytes(&resp.headers) + (":status".len() + 3) as u64;
        if info.grpc
            && let Some(s) = resp
                .headers
                .get("grpc-status")
                .and_then(|v| v.to_str().ok()?.parse().ok())
        {
            info.grpc_status = Some(s);
        }
        Status::Continue
    }

    fn wants_log(&self) -> bool {
        true
    }

    fn on_log(&self, info: &StreamInfo) {
        let r = Request {
            duration_ms: info.duration.as_millis().min(u128::from(u64::MAX)) as u64,
            request_bytes: info.request_header_bytes + info.request_body_bytes,
            response_bytes: info.response_header_bytes + info.response_body_bytes,
        };
        let metrics = &self.telemetry.metrics;
        if self.overrides.is_empty() {
            metrics.record_http(self.labels(info), r);
            return;
        }
        let labels = self.labels(info);
        for m in overrides::HTTP {
            let Some(o) = self.overrides.get(m).filter(|o| !o.drop) else {
                continue;
            };
            let v = match m {
                Metric::RequestsTotal => 1,
                Metric::RequestDuration => r.duration_ms,
                Metric::RequestBytes => r.request_bytes,
                _ => r.response_bytes,
            };
            metrics.record_custom(m, changed_labels(&labels, o, &info.stats_captured, info), v);
        }
        let mask = self.overrides.standard_mask(&overrides::HTTP);
        if mask != 0 {
            metrics.record_http_masked(labels, r, mask);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::reply::Flag;
    use crate::telemetry::peer::Peer;
    use serde_json::json;

    fn telemetry() -> Arc<Telemetry> {
        let md = json!({"WORKLOAD_NAME": "reviews-v1", "NAMESPACE": "default", "CLUSTER_ID": "Kubernetes",
            "LABELS": {"app": "reviews", "version": "v1"}});
        Telemetry::new(
            "sidecar~10.0.0.2~reviews-v1.default~default.svc.cluster.local",
            md.as_object().unwrap(),
        )
    }

    #[test]
    fn labels_by_reporter() {
        let t = telemetry();
        let client_peer = Arc::new(Peer::from_metadata(
            json!({"WORKLOAD_NAME": "productpage-v1", "NAMESPACE": "default", "LABELS": {"app": "productpage"}})
                .as_object()
                .unwrap(),
        ));
        let inbound = StatsFilter::new(Reporter::Destination, false, t.clone());
        let outbound = StatsFilter::new(Reporter::Source, true, t);
        // (reporter filter, stream, source workload, source principal, destination workload,
        //  destination principal, service, service name, security, grpc status, flags)
        let mtls_in = StreamInfo {
            peer_identity: Some("spiffe://cluster.local/ns/default/sa/productpage".into()),
            downstream_tls: true,
            local_identity: Some("spiffe://cluster.local/ns/default/sa/reviews".into()),
            downstream_peer: Some(client_peer.clone()),
            service: Some(Arc::new(Service {
                host: "reviews.default.svc.cluster.local".into(),
                name: "reviews".into(),
                namespace: "default".into(),
            })),
            response_code: Some(200),
            ..Default::default()
        };
        let plain_in = StreamInfo {
            response_code: Some(503),
            grpc: true,
            cluster: Some("inbound|9080||".into()),
            flags: vec![Flag::UpstreamConnectFailure],
            ..Default::default()
        };
        let out_passthrough = StreamInfo {
            request_host: Some("httpbin.org".into()),
            cluster: Some("PassthroughCluster".into()),
            local_identity: Some("spiffe://cluster.local/ns/default/sa/reviews".into()),
            response_code: Some(200),
            ..Default::default()
        };
        type Case<'a> = (
            &'a StatsFilter,
            &'a StreamInfo,
            [&'a str; 9],
            Option<u32>,
            &'a str,
        );
        let cases: [Case<'_>; 3] = [
            (
                &inbound,
                &mtls_in,
                [
                    "productpage-v1",
                    "spiffe://cluster.local/ns/default/sa/productpage",
                    "reviews-v1",
                    "spiffe://cluster.local/ns/default/sa/reviews",
                    "reviews.default.svc.cluster.local",
                    "reviews",
                    "default",
                    "mutual_tls",
                    "destination",
                ],
                None,
                "-",
            ),
            (
                &inbound,
                &plain_in,
                [
                    "unknown",
                    "unknown",
                    "reviews-v1",
                    "unknown",
                    "unknown",
                    "inbound|9080||",
                    "unknown",
                    "none",
                    "destination",
                ],
                Some(14),
                "UF",
            ),
            (
                &outbound,
                &out_passthrough,
                [
                    "reviews-v1",
                    "unknown",
                    "unknown",
                    "unknown",
                    "httpbin.org",
                    "PassthroughCluster",
                    "unknown",
                    "unknown",
                    "source",
                ],
                None,
                "-",
            ),
        ];
        for (f, info, want, grpc, flags) in cases {
            let l = f.labels(info);
            let text = l.render();
            let got = [
                &*l.source.workload,
                &*l.source_principal,
                &*l.destination.workload,
                &*l.destination_principal,
                &*l.service.host,
                &*l.service.name,
                &*l.service.namespace,
                if text.contains("connection_security_policy=\"mutual_tls\"") {
                    "mutual_tls"
                } else if text.contains("connection_security_policy=\"none\"") {
                    "none"
                } else {
                    "unknown"
                },
                if text.starts_with("reporter=\"source\"") {
                    "source"
                } else {
                    "destination"
                },
            ];
            assert_eq!(got, want, "{text}");
            assert_eq!(l.grpc_status, grpc, "{text}");
            assert!(
                text.contains(&format!("response_flags=\"{flags}\"")),
                "{text}"
            );
        }
    }

    #[test]
    fn grpc_status_from_http() {
        for (http, grpc) in [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (503, 14),
            (200, 2),
        ] {
            assert_eq!(http_to_grpc(http), grpc, "{http}");
        }
    }
}
