//! `istio.metadata_exchange`: the HTTP peer metadata exchange (Istio's `istio_headers`
//! discovery and propagation). On an outbound chain the proxy sends its metadata with the
//! request and learns the server's from the response; on an inbound chain it learns the
//! client's from the request and answers with its own. The headers are removed before the
//! application (or, outbound, the client application) sees them.

use std::sync::Arc;

use http::{request, response};

use crate::http::filter::{HttpFilter, RouteCtx, Status, StreamInfo};
use crate::telemetry::Telemetry;
use crate::telemetry::peer::{PEER_METADATA, PEER_METADATA_ID};

/// The filter's name.
pub const NAME: &str = "istio.metadata_exchange";
/// Its config type (given as a `TypedStruct`).
pub const CONFIG_TYPE: &str = "io.istio.http.peer_metadata.Config";

/// Which way the exchange goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Outbound: propagate upstream, discover the upstream peer from the response.
    Upstream,
    /// Inbound: discover the downstream peer from the request, propagate in the response.
    Downstream,
}

/// The filter.
#[derive(Debug)]
pub struct ExchangeFilter {
    /// Which way.
    pub side: Side,
    /// Whether peers are read from headers (`*_discovery` has `istio_headers`).
    pub discover: bool,
    /// Whether this workload's metadata is sent (`*_propagation` has `istio_headers`).
    pub propagate: bool,
    /// This workload and the peers seen.
    pub telemetry: Arc<Telemetry>,
}

impl HttpFilter for ExchangeFilter {
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
        let h = &mut req.headers;
        match self.side {
            Side::Upstream => {
                // whatever the application sent is not ours to forward
                h.remove(PEER_METADATA);
                h.remove(PEER_METADATA_ID);
                if self.propagate {
                    h.insert(PEER_METADATA, self.telemetry.local.header.clone());
                    h.insert(PEER_METADATA_ID, self.telemetry.local.id.clone());
                }
            }
            Side::Downstream => {
                let md = h.remove(PEER_METADATA);
                h.remove(PEER_METADATA_ID);
                if self.discover
                    && let Some(v) = md
                {
                    info.downstream_peer = self.telemetry.peers.get(&v);
                }
            }
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
        let h = &mut resp.headers;
        match self.side {
            Side::Upstream => {
                let md = h.remove(PEER_METADATA);
                h.remove(PEER_METADATA_ID);
                if self.discover
                    && let Some(v) = md
                {
                    info.upstream_peer = self.telemetry.peers.get(&v);
                }
            }
            Side::Downstream => {
                h.remove(PEER_METADATA);
                h.remove(PEER_METADATA_ID);
                if self.propagate {
                    h.insert(PEER_METADATA, self.telemetry.local.header.clone());
                    h.insert(PEER_METADATA_ID, self.telemetry.local.id.clone());
                }
            }
        }
        Status::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn telemetry(workload: &str) -> Arc<Telemetry> {
        let md =
            json!({"WORKLOAD_NAME": workload, "NAMESPACE": "default", "LABELS": {"app": workload}});
        Telemetry::new(
            &format!("sidecar~10.0.0.1~{workload}.default~default.svc.cluster.local"),
            md.as_object().unwrap(),
        )
    }

    #[test]
    fn client_and_server_learn_each_other() {
        let client = ExchangeFilter {
            side: Side::Upstream,
            discover: true,
            propagate: true,
            telemetry: telemetry("productpage"),
        };
        let server = ExchangeFilter {
            side: Side::Downstream,
            discover: true,
            propagate: true,
            telemetry: telemetry("reviews"),
        };
        let (mut req, ()) = http::Request::builder()
            .header(PEER_METADATA, "forged")
            .body(())
            .unwrap()
            .into_parts();
        let (mut ci, mut si) = (StreamInfo::default(), StreamInfo::default());
        client.on_request_headers(&mut ci, &mut req, None, true);
        assert_ne!(req.headers[PEER_METADATA], "forged");
        assert!(
            req.headers[PEER_METADATA_ID]
                .to_str()
                .unwrap()
                .contains("productpage")
        );
        server.on_request_headers(&mut si, &mut req, None, true);
        assert!(
            !req.headers.contains_key(PEER_METADATA),
            "stripped before the app"
        );
        assert_eq!(
            &*si.downstream_peer.as_ref().unwrap().workload,
            "productpage"
        );
        let (mut resp, ()) = http::Response::new(()).into_parts();
        server.on_response_headers(&mut si, &mut resp, None, true);
        client.on_response_headers(&mut ci, &mut resp, None, true);
        assert!(
            !resp.headers.contains_key(PEER_METADATA),
            "stripped before the client"
        );
        assert_eq!(&*ci.upstream_peer.as_ref().unwrap().app, "reviews");
    }
}
