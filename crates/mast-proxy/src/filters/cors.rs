//! `envoy.filters.http.cors`: the route's CORS policy (the most specific of route, virtual
//! host and route configuration), as Envoy applies it. A request with an `Origin` the policy
//! allows is a CORS request: a preflight (`OPTIONS` with `Access-Control-Request-Method`) is
//! answered here with 200 and the `Access-Control-Allow-*` headers; any other gets
//! `Access-Control-Allow-Origin` (and `-Credentials`, `-Expose-Headers`) on its response. A
//! preflight from an origin not allowed goes upstream, or with
//! `forward_not_matching_preflights: false` is answered 200 without CORS headers.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderValue, ORIGIN,
};
use http::{HeaderMap, Method, Response, request, response};

use crate::http::body::Body;
use crate::http::filter::{HttpFilter, RouteCtx, Status, StreamInfo};
use crate::model::filters::{CORS, Cors};

const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";

/// The CORS filter.
#[derive(Debug, Default)]
pub struct CorsFilter;

/// What the filter does with a request's headers.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a CORS request (or the policy is off): nothing to do.
    Pass,
    /// A CORS request from an allowed origin: its response gets the CORS headers.
    Allowed,
    /// An allowed preflight: answer it here.
    Preflight,
    /// A preflight from an origin not allowed, not forwarded: answer 200 without CORS headers.
    RefusedPreflight,
}

/// The decision, from the request's method and headers (`enabled`: the policy's
/// `filter_enabled` roll hit).
pub fn verdict(p: &Cors, method: &Method, h: &HeaderMap, enabled: bool) -> Verdict {
    if !enabled {
        return Verdict::Pass;
    }
    let Some(origin) = h
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty())
    else {
        return Verdict::Pass;
    };
    let preflight = method == Method::OPTIONS
        && h.get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|v| !v.is_empty());
    match (p.allows(origin), preflight) {
        (true, true) => Verdict::Preflight,
        (true, false) => Verdict::Allowed,
        (false, true) if !p.forward_not_matching_preflights => Verdict::RefusedPreflight,
        (false, _) => Verdict::Pass,
    }
}

fn preflight(p: &Cors, req: &request::Parts, origin: HeaderValue) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    let h = r.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if p.allow_credentials {
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    for (name, v) in [
        (ACCESS_CONTROL_ALLOW_METHODS, &p.allow_methods),
        (ACCESS_CONTROL_ALLOW_HEADERS, &p.allow_headers),
        (ACCESS_CONTROL_MAX_AGE, &p.max_age),
    ] {
        if let Some(v) = v {
            h.insert(name, v.clone());
        }
    }
    if p.allow_private_network
        && req
            .headers
            .get(REQUEST_PRIVATE_NETWORK)
            .is_some_and(|v| v == "true")
    {
        h.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
    }
    r
}

impl HttpFilter for CorsFilter {
    fn name(&self) -> &str {
        CORS
    }

    fn on_request_headers(
        &self,
        info: &mut StreamInfo,
        req: &mut request::Parts,
        route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        let Some(p) = route.and_then(|r| r.cors()) else {
            return Status::Continue;
        };
        match verdict(p, &req.method, &req.headers, p.enabled.sample()) {
            Verdict::Pass => Status::Continue,
            Verdict::Allowed => {
                info.cors_origin = req.headers.get(ORIGIN).cloned();
                Status::Continue
            }
            Verdict::Preflight => {
                let origin = req.headers[ORIGIN].clone();
                Status::Respond(preflight(p, req, origin))
            }
            Verdict::RefusedPreflight => Status::Respond(Response::new(Body::Empty)),
        }
    }

    fn on_response_headers(
        &self,
        info: &mut StreamInfo,
        resp: &mut response::Parts,
        route: Option<&RouteCtx<'_>>,
        _end_stream: bool,
    ) -> Status {
        let (Some(origin), Some(p)) = (info.cors_origin.take(), route.and_then(|r| r.cors()))
        else {
            return Status::Continue;
        };
        resp.headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if p.allow_credentials {
            resp.headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(e) = &p.expose_headers {
            resp.headers
                .insert(ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
        Status::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::filters::Fraction;
    use crate::model::route::StringMatch;

    fn policy(forward: bool) -> Cors {
        Cors {
            origins: vec![
                (StringMatch::Exact("https://shop.example".into()), false),
                (StringMatch::Suffix(".test".into()), true),
            ],
            allow_methods: Some(HeaderValue::from_static("GET,POST")),
            allow_headers: None,
            expose_headers: None,
            max_age: Some(HeaderValue::from_static("60")),
            allow_credentials: true,
            allow_private_network: false,
            forward_not_matching_preflights: forward,
            enabled: Fraction::ALL,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn verdicts() {
        let pre = [
            ("origin", "https://shop.example"),
            ("access-control-request-method", "POST"),
        ];
        let foreign_pre = [
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ];
        let cases = [
            (true, Method::GET, &[][..], true, Verdict::Pass),
            (
                true,
                Method::GET,
                &[("origin", "")][..],
                true,
                Verdict::Pass,
            ),
            (
                true,
                Method::GET,
                &[("origin", "https://shop.example")][..],
                true,
                Verdict::Allowed,
            ),
            (
                true,
                Method::GET,
                &[("origin", "https://A.TEST")][..],
                true,
                Verdict::Allowed,
            ),
            (
                true,
                Method::GET,
                &[("origin", "https://evil.example")][..],
                true,
                Verdict::Pass,
            ),
            (true, Method::OPTIONS, &pre[..], true, Verdict::Preflight),
            (
                true,
                Method::OPTIONS,
                &[("origin", "https://shop.example")][..],
                true,
                Verdict::Allowed,
            ),
            (true, Method::OPTIONS, &foreign_pre[..], true, Verdict::Pass),
            (
                false,
                Method::OPTIONS,
                &foreign_pre[..],
                true,
                Verdict::RefusedPreflight,
            ),
            (true, Method::OPTIONS, &pre[..], false, Verdict::Pass),
        ];
        for (i, (forward, method, h, enabled, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                verdict(&policy(forward), &method, &headers(h), enabled),
                want,
                "case {i}"
            );
        }
    }
}
