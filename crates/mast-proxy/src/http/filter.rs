//! The HTTP filter trait: one method per phase of a request, in the order they run. Filters
//! run in config order on the request path and in reverse on the response path; the router
//! is the chain's end and is not a filter here (it forwards, see [`super::router`]).
//!
//! The route is resolved before the first filter runs (as Envoy resolves it when a filter
//! first asks), so filters see the route's per-filter configs ([`RouteCtx`]). Filters run
//! in the header and log phases; the body and trailer phases are declared for the filters
//! that will need them (Wasm) and are not driven yet, which [`HttpFilter::wants_body`] makes
//! explicit. The log phase runs when the response body has ended (or the downstream went
//! away), with sizes, duration and the gRPC status in [`StreamInfo`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request;
use http::response;
use http::{HeaderMap, HeaderValue, Response};

use super::body::Body;
use super::reply::{Flag, LocalReply};
use crate::model::ClusterRef;
use crate::model::filters::{Cors, Fault};
use crate::model::route::{Route, RouteTable, VirtualHost, WeightedCluster};

/// The route a request matched, with its cluster already picked (weighted clusters are
/// chosen at route resolution, as in Envoy).
#[derive(Debug, Clone, Copy)]
pub struct RouteCtx<'a> {
    /// The route configuration.
    pub table: &'a RouteTable,
    /// The virtual host.
    pub vhost: &'a VirtualHost,
    /// The route.
    pub route: &'a Route,
    /// The cluster picked, for forwarding routes.
    pub cluster: Option<&'a ClusterRef>,
    /// The weighted cluster entry picked, if the route has weighted clusters.
    pub weighted: Option<&'a WeightedCluster>,
}

impl<'a> RouteCtx<'a> {
    /// The most specific fault config: the route's, the virtual host's, the table's.
    pub fn fault(&self) -> Option<&'a Arc<Fault>> {
        self.route
            .per_filter
            .fault
            .as_ref()
            .or(self.vhost.per_filter.fault.as_ref())
            .or(self.table.per_filter.fault.as_ref())
    }

    /// The most specific CORS policy.
    pub fn cors(&self) -> Option<&'a Arc<Cors>> {
        self.route
            .per_filter
            .cors
            .as_ref()
            .or(self.vhost.per_filter.cors.as_ref())
            .or(self.table.per_filter.cors.as_ref())
    }
}

/// What a phase tells the chain.
#[derive(Debug)]
pub enum Status {
    /// Run the next filter.
    Continue,
    /// Skip the remaining filters of this phase (the request still goes on).
    StopIteration,
    /// Answer now with this reply; the request goes no further.
    Reply(LocalReply),
    /// Answer now with this response (no response flag: not an error reply).
    Respond(Response<Body>),
    /// Wait, then answer with the reply if there is one, else run the next filter.
    Delay(Duration, Option<LocalReply>),
}

/// What filters know about the request they are in.
#[derive(Debug, Default)]
pub struct StreamInfo {
    /// The peer's identity (SPIFFE ID of its certificate), for mTLS connections.
    pub peer_identity: Option<std::sync::Arc<str>>,
    /// The route chosen.
    pub route_name: Option<std::sync::Arc<str>>,
    /// The upstream cluster chosen.
    pub cluster: Option<std::sync::Arc<str>>,
    /// The upstream host that answered.
    pub upstream_host: Option<std::sync::Arc<str>>,
    /// The response code sent downstream.
    pub response_code: Option<u16>,
    /// Envoy's response flags.
    pub flags: Vec<Flag>,
    /// Attempts made upstream.
    pub attempts: u32,
    /// The CORS origin to allow in the response (set by the CORS filter on the request).
    pub cors_origin: Option<HeaderValue>,
    /// The fault being injected (its place among the active faults, given back on drop).
    pub fault: Option<crate::filters::fault::ActiveFault>,
    /// Whether the downstream connection is TLS.
    pub downstream_tls: bool,
    /// The downstream connection's local address: its original destination when captured
    /// (ORIGINAL_DST clusters connect there).
    pub downstream_local: Option<std::net::SocketAddr>,
    /// This workload's identity (its certificate's SPIFFE ID).
    pub local_identity: Option<std::sync::Arc<str>>,
    /// The downstream peer, from the metadata exchange.
    pub downstream_peer: Option<std::sync::Arc<crate::telemetry::peer::Peer>>,
    /// The upstream peer, from the metadata exchange.
    pub upstream_peer: Option<std::sync::Arc<crate::telemetry::peer::Peer>>,
    /// Whether the upstream connection was TLS.
    pub upstream_tls: bool,
    /// The upstream peer's identity (its certificate's SPIFFE ID).
    pub upstream_identity: Option<std::sync::Arc<str>>,
    /// The destination service, from the cluster's metadata.
    pub service: Option<std::sync::Arc<crate::telemetry::metrics::Service>>,
    /// The request's host without port (kept only when a filter needs it).
    pub request_host: Option<String>,
    /// Whether the request is gRPC.
    pub grpc: bool,
    /// The gRPC status of the response (headers or trailers).
    pub grpc_status: Option<u32>,
    /// Request header bytes (as Envoy counts them: names and values).
    pub request_header_bytes: u64,
    /// Request body bytes received.
    pub request_body_bytes: u64,
    /// Response header bytes.
    pub response_header_bytes: u64,
    /// Response body bytes sent.
    pub response_body_bytes: u64,
    /// From the request's arrival to the end of the response (set for the log phase).
    pub duration: Duration,
    /// Request values the stats filter's Telemetry API dimensions read.
    pub stats_captured: Vec<Option<String>>,
}

/// An HTTP filter. Every method has a default that lets the request through.
pub trait HttpFilter: std::fmt::Debug + Send + Sync {
    /// The filter's name (`envoy.filters.http.rbac`, a Wasm plugin's name...).
    fn name(&self) -> &str;

    /// Request headers arrived (`end_stream`: there is no body). May rewrite them, answer
    /// locally, or stop the phase.
    fn on_request_headers(
        &self,
        _info: &mut StreamInfo,
        _req: &mut request::Parts,
        _route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        Status::Continue
    }

    /// Whether the filter needs the body and trailer phases.
    fn wants_body(&self) -> bool {
        false
    }

    /// A chunk of the request body.
    fn on_request_body(
        &self,
        _info: &mut StreamInfo,
        _chunk: &mut Bytes,
        _end_stream: bool,
    ) -> Status {
        Status::Continue
    }

    /// The request trailers.
    fn on_request_trailers(&self, _info: &mut StreamInfo, _trailers: &mut HeaderMap) -> Status {
        Status::Continue
    }

    /// Response headers, from upstream or from a local reply. May rewrite them.
    fn on_response_headers(
        &self,
        _info: &mut StreamInfo,
        _resp: &mut response::Parts,
        _route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        Status::Continue
    }

    /// A chunk of the response body.
    fn on_response_body(
        &self,
        _info: &mut StreamInfo,
        _chunk: &mut Bytes,
        _end_stream: bool,
    ) -> Status {
        Status::Continue
    }

    /// The response trailers.
    fn on_response_trailers(&self, _info: &mut StreamInfo, _trailers: &mut HeaderMap) -> Status {
        Status::Continue
    }

    /// Whether the filter has a log phase ([`HttpFilter::on_log`]).
    fn wants_log(&self) -> bool {
        false
    }

    /// The request is over (stats, access logs). Runs only when a filter of the chain
    /// [wants it](HttpFilter::wants_log) or access logs are on.
    fn on_log(&self, _info: &StreamInfo) {}
}

/// What the request-header phase ended with, when a filter answered.
pub type Early = Result<Response<Body>, LocalReply>;

/// Runs the request-header phase; `Some` when a filter answers (its reply's flag is not yet
/// recorded: the caller records it when it sends the reply).
pub async fn request_headers(
    filters: &[Arc<dyn HttpFilter>],
    info: &mut StreamInfo,
    req: &mut request::Parts,
    route: Option<&RouteCtx<'_>>,
    end_stream: bool,
) -> Option<Early> {
    for f in filters {
        match f.on_request_headers(info, req, route, end_stream) {
            Status::Continue => {}
            Status::StopIteration => break,
            Status::Reply(r) => return Some(Err(r)),
            Status::Respond(r) => return Some(Ok(r)),
            Status::Delay(d, then) => {
                tokio::time::sleep(d).await;
                if let Some(r) = then {
                    return Some(Err(r));
                }
            }
        }
    }
    None
}

/// Runs the response-header phase in reverse order; a filter's reply replaces the response
/// (delays are not honoured on responses).
pub fn response_headers(
    filters: &[Arc<dyn HttpFilter>],
    info: &mut StreamInfo,
    resp: &mut response::Parts,
    route: Option<&RouteCtx<'_>>,
    end_stream: bool,
) -> Option<Early> {
    for f in filters.iter().rev() {
        match f.on_response_headers(info, resp, route, end_stream) {
            Status::Continue | Status::Delay(_, None) => {}
            Status::StopIteration => break,
            Status::Reply(r) | Status::Delay(_, Some(r)) => return Some(Err(r)),
            Status::Respond(r) => return Some(Ok(r)),
        }
    }
    None
}

/// Runs the log phase (when the response has ended, or the client went away).
pub fn log(filters: &[Arc<dyn HttpFilter>], info: &StreamInfo) {
    for f in filters {
        f.on_log(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Deny {
        logged: AtomicUsize,
    }

    impl HttpFilter for Deny {
        fn name(&self) -> &str {
            "test.deny"
        }

        fn on_request_headers(
            &self,
            _: &mut StreamInfo,
            req: &mut request::Parts,
            _: Option<&RouteCtx<'_>>,
            _: bool,
        ) -> Status {
            if req.headers.contains_key("x-deny") {
                return Status::Reply(LocalReply::new(
                    403,
                    "RBAC: access denied",
                    Flag::LocalReply,
                ));
            }
            req.headers.insert("x-seen", "1".parse().unwrap());
            Status::Continue
        }

        fn wants_log(&self) -> bool {
            true
        }

        fn on_log(&self, _: &StreamInfo) {
            self.logged.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn phases_continue_or_reply() {
        let deny = Arc::new(Deny::default());
        let filters: Vec<Arc<dyn HttpFilter>> = vec![deny.clone()];
        let mut info = StreamInfo::default();
        let (mut parts, ()) = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        assert!(
            request_headers(&filters, &mut info, &mut parts, None, true)
                .await
                .is_none()
        );
        assert_eq!(parts.headers["x-seen"], "1");
        parts.headers.insert("x-deny", "1".parse().unwrap());
        let r = request_headers(&filters, &mut info, &mut parts, None, true)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(r.status, 403);
        assert_eq!(r.flag, Flag::LocalReply);
        log(&filters, &info);
        assert_eq!(deny.logged.load(Ordering::Relaxed), 1);
    }
}
