//! The HTTP filter trait: one method per phase of a request, in the order they run. Filters
//! run in config order on the request path and in reverse on the response path; the router
//! is the chain's end and is not a filter here (it forwards, see [`super::router`]).
//!
//! Only the router exists today; RBAC, JWT, Wasm, fault and stats filters implement this
//! trait as they land. The connection manager runs the header and log phases; the body and
//! trailer phases are declared for those filters and are not yet driven (no filter needs them
//! yet), which [`HttpFilter::wants_body`] makes explicit.

use bytes::Bytes;
use http::HeaderMap;
use http::request;
use http::response;

use super::reply::{Flag, LocalReply};

/// What a phase tells the chain.
#[derive(Debug)]
pub enum Status {
    /// Run the next filter.
    Continue,
    /// Skip the remaining filters of this phase (the request still goes on).
    StopIteration,
    /// Answer now with this reply; the request goes no further.
    Reply(LocalReply),
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

    /// The request is over (stats, access logs).
    fn on_log(&self, _info: &StreamInfo) {}
}

/// Runs the request-header phase; `Some(reply)` when a filter answers.
pub fn request_headers(
    filters: &[std::sync::Arc<dyn HttpFilter>],
    info: &mut StreamInfo,
    req: &mut request::Parts,
    end_stream: bool,
) -> Option<LocalReply> {
    for f in filters {
        match f.on_request_headers(info, req, end_stream) {
            Status::Continue => {}
            Status::StopIteration => break,
            Status::Reply(r) => {
                info.flags.push(r.flag);
                return Some(r);
            }
        }
    }
    None
}

/// Runs the response-header phase in reverse order; a filter's reply replaces the response.
pub fn response_headers(
    filters: &[std::sync::Arc<dyn HttpFilter>],
    info: &mut StreamInfo,
    resp: &mut response::Parts,
    end_stream: bool,
) -> Option<LocalReply> {
    for f in filters.iter().rev() {
        match f.on_response_headers(info, resp, end_stream) {
            Status::Continue => {}
            Status::StopIteration => break,
            Status::Reply(r) => {
                info.flags.push(r.flag);
                return Some(r);
            }
        }
    }
    None
}

/// Runs the log phase.
pub fn log(filters: &[std::sync::Arc<dyn HttpFilter>], info: &StreamInfo) {
    for f in filters {
        f.on_log(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
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

        fn on_log(&self, _: &StreamInfo) {
            self.logged.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn phases_continue_or_reply() {
        let deny = Arc::new(Deny::default());
        let filters: Vec<Arc<dyn HttpFilter>> = vec![deny.clone()];
        let mut info = StreamInfo::default();
        let (mut parts, ()) = http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        assert!(request_headers(&filters, &mut info, &mut parts, true).is_none());
        assert_eq!(parts.headers["x-seen"], "1");
        parts.headers.insert("x-deny", "1".parse().unwrap());
        let r = request_headers(&filters, &mut info, &mut parts, true).unwrap();
        assert_eq!(r.status, 403);
        assert_eq!(info.flags, vec![Flag::LocalReply]);
        log(&filters, &info);
        assert_eq!(deny.logged.load(Ordering::Relaxed), 1);
    }
}
