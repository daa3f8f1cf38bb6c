//! `envoy.filters.http.fault`: delays and aborts injected into a share of requests, as Envoy
//! does it. The route's config (the most specific of route, virtual host and route
//! configuration) replaces the filter's own. A request is faulted only when the config's
//! headers match, its `x-envoy-downstream-service-node` is listed (if a list is set), the
//! route's cluster is `upstream_cluster` (if set) and fewer than `max_active_faults`
//! requests are faulted already. The delay comes first (flag DI), then the abort (flag FI,
//! body `fault filter abort`; gRPC requests get a trailers-only gRPC status).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::request;

use crate::http::filter::{HttpFilter, RouteCtx, Status, StreamInfo};
use crate::http::reply::{Flag, LocalReply};
use crate::model::filters::{AbortWith, FAULT, Fault};
use crate::model::route::RequestView;

/// The header that names the downstream node (`downstream_nodes`).
pub const DOWNSTREAM_NODE: &str = "x-envoy-downstream-service-node";

/// The fault filter.
#[derive(Debug, Default)]
pub struct FaultFilter {
    /// The filter's own config (used where the route sets none).
    pub default: Option<Arc<Fault>>,
}

/// What the config's conditions say about a request.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The config's `headers` all match.
    pub headers_match: bool,
    /// `x-envoy-downstream-service-node`.
    pub downstream_node: Option<&'a str>,
    /// The route's cluster.
    pub cluster: Option<&'a str>,
    /// Requests faulted now.
    pub active: u64,
}

/// The fault to inject: a delay and an abort, from two rolls in `[0, 1_000_000)`.
pub fn decide(
    f: &Fault,
    facts: Facts<'_>,
    roll_delay: u32,
    roll_abort: u32,
) -> (Option<Duration>, Option<AbortWith>) {
    let applies = facts.headers_match
        && (f.downstream_nodes.is_empty()
            || facts
                .downstream_node
                .is_some_and(|n| f.downstream_nodes.iter().any(|d| d == n)))
        && f.upstream_cluster
            .as_deref()
            .is_none_or(|c| facts.cluster == Some(c))
        && f.max_active.is_none_or(|m| facts.active < m);
    if !applies {
        return (None, None);
    }
    (
        f.delay.filter(|(_, p)| p.hit(roll_delay)).map(|(d, _)| d),
        f.abort.filter(|(_, p)| p.hit(roll_abort)).map(|(a, _)| a),
    )
}

/// Holds a place among the active faults for the life of the request.
#[derive(Debug)]
pub struct ActiveFault(Arc<Fault>);

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn abort_reply(f: &Fault, with: AbortWith) -> LocalReply {
    match with {
        AbortWith::Http(s) => LocalReply::new(s, f.abort_body.clone(), Flag::FaultInjected),
        AbortWith::Grpc(g) => {
            let mut r = LocalReply::new(503, f.abort_body.clone(), Flag::FaultInjected);
            r.grpc_status = Some(g);
            r
        }
    }
}

impl HttpFilter for FaultFilter {
    fn name(&self) -> &str {
        FAULT
    }

    fn on_request_headers(
        &self,
        info: &mut StreamInfo,
        req: &mut request::Parts,
        route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        let Some(f) = route.and_then(|r| r.fault()).or(self.default.as_ref()) else {
            return Status::Continue;
        };
        let headers_match = f.headers.is_empty() || {
            let pq = req.uri.path_and_query().map_or("/", |p| p.as_str());
            let view = RequestView {
                host: crate::http::authority(req),
                path_and_query: pq,
                method: &req.method,
                scheme: req.uri.scheme_str().unwrap_or("http"),
                headers: &req.headers,
            };
            f.headers.iter().all(|h| h.matches(&view))
        };
        let facts = Facts {
            headers_match,
            downstream_node: req
                .headers
                .get(DOWNSTREAM_NODE)
                .and_then(|v| v.to_str().ok()),
            cluster: route.and_then(|r| r.cluster).map(|c| &*c.name),
            active: f.active.load(Ordering::Relaxed),
        };
        let (delay, abort) = decide(
            f,
            facts,
            fastrand::u32(..1_000_000),
            fastrand::u32(..1_000_000),
        );
        if delay.is_none() && abort.is_none() {
            return Status::Continue;
        }
        f.active.fetch_add(1, Ordering::Relaxed);
        info.fault = Some(ActiveFault(f.clone()));
        let reply = abort.map(|a| abort_reply(f, a));
        match delay {
            Some(d) => {
                info.flags.push(Flag::DelayInjected);
                Status::Delay(d, reply)
            }
            None => Status::Reply(reply.expect("an abort")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::filters::Fraction;
    use std::sync::atomic::AtomicU64;

    fn fault(upstream: Option<&str>, nodes: &[&str], max: Option<u64>) -> Fault {
        Fault {
            delay: Some((Duration::from_millis(5), Fraction(500_000))),
            abort: Some((AbortWith::Http(503), Fraction(100_000))),
            abort_body: "fault filter abort".into(),
            upstream_cluster: upstream.map(str::to_string),
            headers: vec![],
            downstream_nodes: nodes.iter().map(|n| n.to_string()).collect(),
            max_active: max,
            active: AtomicU64::new(0),
        }
    }

    fn facts<'a>(node: Option<&'a str>, cluster: Option<&'a str>, active: u64) -> Facts<'a> {
        Facts {
            headers_match: true,
            downstream_node: node,
            cluster,
            active,
        }
    }

    #[test]
    fn decisions() {
        let d = Some(Duration::from_millis(5));
        let a = Some(AbortWith::Http(503));
        let any = fault(None, &[], None);
        let only_c = fault(Some("c"), &["web"], Some(2));
        // (fault, facts, delay roll, abort roll) → (delay, abort)
        let cases = [
            (&any, facts(None, None, 0), 0, 0, (d, a)),
            (&any, facts(None, None, 0), 499_999, 99_999, (d, a)),
            (&any, facts(None, None, 0), 500_000, 100_000, (None, None)),
            (&any, facts(None, None, 0), 0, 100_000, (d, None)),
            (&any, facts(None, None, 0), 600_000, 0, (None, a)),
            (&only_c, facts(Some("web"), Some("c"), 1), 0, 0, (d, a)),
            (
                &only_c,
                facts(Some("web"), Some("c"), 2),
                0,
                0,
                (None, None),
            ),
            (
                &only_c,
                facts(Some("api"), Some("c"), 0),
                0,
                0,
                (None, None),
            ),
            (&only_c, facts(None, Some("c"), 0), 0, 0, (None, None)),
            (
                &only_c,
                facts(Some("web"), Some("other"), 0),
                0,
                0,
                (None, None),
            ),
        ];
        for (i, (f, facts, rd, ra, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(f, facts, rd, ra), want, "case {i}");
        }
        let mut no_headers = facts(None, None, 0);
        no_headers.headers_match = false;
        assert_eq!(decide(&any, no_headers, 0, 0), (None, None));
    }

    #[test]
    fn grpc_aborts_carry_their_status() {
        let f = fault(None, &[], None);
        let r = abort_reply(&f, AbortWith::Grpc(14));
        assert_eq!(r.grpc_status, Some(14));
        assert_eq!(r.flag, Flag::FaultInjected);
        let r = abort_reply(&f, AbortWith::Http(418));
        assert_eq!(r.status.as_u16(), 418);
        assert_eq!(&r.body[..], b"fault filter abort");
    }
}
