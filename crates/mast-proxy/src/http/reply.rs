//! Local replies with Envoy's status codes, bodies and response flags; gRPC requests get
//! them as trailers-only gRPC errors, as Envoy sends them.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use super::body::Body;

/// Envoy's response flags (what access logs print), for failures the proxy answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// No route.
    NoRoute,
    /// The route's cluster does not exist.
    NoCluster,
    /// No healthy upstream host.
    NoHealthyUpstream,
    /// Upstream connection failure.
    UpstreamConnectFailure,
    /// Upstream connection pool or circuit breaker overflow.
    UpstreamOverflow,
    /// Upstream request timeout.
    UpstreamTimeout,
    /// Upstream connection termination.
    UpstreamConnectionTermination,
    /// Upstream retry limit exceeded.
    RetryLimitExceeded,
    /// Downstream connection termination.
    DownstreamTermination,
    /// A local reply from a filter or a direct response.
    LocalReply,
    /// The fault filter delayed the request.
    DelayInjected,
    /// The fault filter aborted the request.
    FaultInjected,
}

impl Flag {
    /// Envoy's short form.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::NoRoute => "NR",
            Flag::NoCluster => "NC",
            Flag::NoHealthyUpstream => "UH",
            Flag::UpstreamConnectFailure => "UF",
            Flag::UpstreamOverflow => "UO",
            Flag::UpstreamTimeout => "UT",
            Flag::UpstreamConnectionTermination => "UC",
            Flag::RetryLimitExceeded => "URX",
            Flag::DownstreamTermination => "DC",
            Flag::LocalReply => "LR",
            Flag::DelayInjected => "DI",
            Flag::FaultInjected => "FI",
        }
    }
}

/// A response the proxy makes itself.
#[derive(Debug, Clone)]
pub struct LocalReply {
    /// Status.
    pub status: StatusCode,
    /// Body (text/plain).
    pub body: Bytes,
    /// Why.
    pub flag: Flag,
    /// The gRPC status of gRPC requests (`None`: mapped from `status` as Envoy maps it).
    pub grpc_status: Option<u32>,
}

impl LocalReply {
    /// A reply.
    pub fn new(status: u16, body: impl Into<Bytes>, flag: Flag) -> LocalReply {
        LocalReply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: body.into(),
            flag,
            grpc_status: None,
        }
    }

    /// NR: 404, no body.
    pub fn no_route() -> LocalReply {
        LocalReply::new(404, Bytes::new(), Flag::NoRoute)
    }

    /// NC: 503.
    pub fn no_cluster() -> LocalReply {
        LocalReply::new(503, Bytes::new(), Flag::NoCluster)
    }

    /// UH: 503 `no healthy upstream`.
    pub fn no_healthy_upstream() -> LocalReply {
        LocalReply::new(503, "no healthy upstream", Flag::NoHealthyUpstream)
    }

    /// UF: 503 with the transport failure reason.
    pub fn connect_failure(reason: &str) -> LocalReply {
        LocalReply::new(
            503,
            format!(
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: {reason}"
            ),
            Flag::UpstreamConnectFailure,
        )
    }

    /// UC: 503.
    pub fn connection_termination() -> LocalReply {
        LocalReply::new(
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            Flag::UpstreamConnectionTermination,
        )
    }

    /// UO: 503, a circuit breaker limit.
    pub fn overflow() -> LocalReply {
        LocalReply::new(
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            Flag::UpstreamOverflow,
        )
    }

    /// UT: 504 `upstream request timeout`.
    pub fn timeout() -> LocalReply {
        LocalReply::new(504, "upstream request timeout", Flag::UpstreamTimeout)
    }

    /// The HTTP response, or for gRPC requests a trailers-only gRPC error.
    pub fn into_response(self, grpc: bool, server: &HeaderValue) -> Response<Body> {
        let mut b = Response::builder().header(header::SERVER, server.clone());
        if grpc {
            let code = self.grpc_status.unwrap_or_else(|| grpc_status(self.status));
            b = b
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/grpc")
                .header("grpc-status", code.to_string());
            let msg = String::from_utf8_lossy(&self.body);
            if !msg.is_empty()
                && let Ok(v) = HeaderValue::from_str(&percent_encode(&msg))
            {
                b = b.header("grpc-message", v);
            }
            return b.body(Body::Empty).expect("valid local reply");
        }
        b = b.status(self.status);
        if !self.body.is_empty() {
            b = b
                .header(header::CONTENT_TYPE, "text/plain")
                .header(header::CONTENT_LENGTH, self.body.len());
        } else {
            b = b.header(header::CONTENT_LENGTH, 0);
        }
        b.body(Body::full(self.body)).expect("valid local reply")
    }
}

/// Envoy's mapping of an HTTP status to a gRPC status.
pub fn grpc_status(s: StatusCode) -> u32 {
    match s.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_requests_get_trailers_only_errors() {
        let server = HeaderValue::from_static("envoy");
        let r = LocalReply::no_healthy_upstream().into_response(true, &server);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "no healthy upstream");
        let r = LocalReply::timeout().into_response(false, &server);
        assert_eq!(r.status(), 504);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(
            LocalReply::no_route()
                .into_response(false, &server)
                .status(),
            404
        );
    }
}
