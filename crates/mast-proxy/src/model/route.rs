//! Compiled route tables (RDS) and route matching, as Envoy does it: the virtual host by the
//! request's authority (exact, then the longest `*suffix`, then the longest `prefix*`, then
//! `*`), then the first route whose path, header, query and gRPC matches all hold.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;

use super::ClusterRef;
use super::filters::PerFilter;

/// A route configuration.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Its name.
    pub name: String,
    /// Virtual hosts in config order.
    pub vhosts: Vec<VirtualHost>,
    /// Exact domains (lower case) → virtual host.
    pub exact: HashMap<String, usize>,
    /// `*suffix` domains, longest suffix first.
    pub suffixes: Vec<(String, usize)>,
    /// `prefix*` domains, longest prefix first.
    pub prefixes: Vec<(String, usize)>,
    /// The `*` virtual host.
    pub wildcard: Option<usize>,
    /// Header changes of the whole configuration (applied last).
    pub headers: HeaderOps,
    /// Filter configs of the whole configuration.
    pub per_filter: PerFilter,
}

/// A virtual host.
#[derive(Debug, Default)]
pub struct VirtualHost {
    /// Its name.
    pub name: String,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
    /// Header changes of the virtual host.
    pub headers: HeaderOps,
    /// Retry policy of routes that set none.
    pub retry: Option<Arc<RetryPolicy>>,
    /// Whether `x-envoy-attempt-count` is sent upstream.
    pub attempt_count: bool,
    /// Filter configs of the virtual host.
    pub per_filter: PerFilter,
}

/// A route.
#[derive(Debug)]
pub struct Route {
    /// Its name.
    pub name: std::sync::Arc<str>,
    /// What it matches.
    pub matcher: RouteMatch,
    /// What it does.
    pub action: Action,
    /// Its header changes.
    pub headers: HeaderOps,
    /// Its filter configs.
    pub per_filter: PerFilter,
    /// The decorator's operation: the name of the spans of its requests.
    pub decorator: Option<std::sync::Arc<str>>,
}

/// What a route matches.
#[derive(Debug)]
pub struct RouteMatch {
    /// The path.
    pub path: PathMatch,
    /// Whether prefix and exact path matches are case sensitive.
    pub case_sensitive: bool,
    /// Header matches (all must hold).
    pub headers: Vec<HeaderMatch>,
    /// Query parameter matches (all must hold).
    pub query: Vec<QueryMatch>,
    /// Only gRPC requests.
    pub grpc: bool,
}

/// A path match (the query string excluded).
#[derive(Debug)]
pub enum PathMatch {
    /// Starts with.
    Prefix(String),
    /// Equals.
    Exact(String),
    /// Whole-path regex.
    Regex(Regex),
    /// Equals, or starts with it followed by `/`.
    SeparatedPrefix(String),
}

/// Which header a header match reads.
#[derive(Debug, Clone)]
pub enum HeaderKey {
    /// `:authority` (the Host header).
    Authority,
    /// `:method`.
    Method,
    /// `:path` (with the query).
    Path,
    /// `:scheme`.
    Scheme,
    /// A regular header.
    Name(HeaderName),
}

/// A string match (Envoy's `StringMatcher` and the legacy header specifiers).
#[derive(Debug)]
pub enum StringMatch {
    /// Equals.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// Contains.
    Contains(String),
    /// Whole-value regex.
    Regex(Regex),
}

impl StringMatch {
    /// Whether `v` matches (`ignore_case` compares ASCII case-insensitively; the pattern is
    /// lower-cased at compile time).
    pub fn matches(&self, v: &str, ignore_case: bool) -> bool {
        let lower;
        let v = if ignore_case && v.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = v.to_ascii_lowercase();
            lower.as_str()
        } else {
            v
        };
        match self {
            StringMatch::Exact(s) => v == s,
            StringMatch::Prefix(s) => v.starts_with(s.as_str()),
            StringMatch::Suffix(s) => v.ends_with(s.as_str()),
            StringMatch::Contains(s) => v.contains(s.as_str()),
            StringMatch::Regex(r) => r.is_match(v),
        }
    }
}

/// How a header value is matched.
#[derive(Debug)]
pub enum ValueMatch {
    /// The header is present (`true`) or absent (`false`).
    Present(bool),
    /// A string match.
    String(StringMatch, bool),
    /// An integer in `[start, end)`.
    Range(i64, i64),
}

/// A header match.
#[derive(Debug)]
pub struct HeaderMatch {
    /// The header.
    pub key: HeaderKey,
    /// The match.
    pub value: ValueMatch,
    /// Inverts the result.
    pub invert: bool,
    /// A missing header is matched as the empty string.
    pub missing_as_empty: bool,
}

/// A query parameter match.
#[derive(Debug)]
pub struct QueryMatch {
    /// The parameter.
    pub name: String,
    /// `None`: present; else its value matches.
    pub value: Option<(StringMatch, bool)>,
}

/// What a route does.
#[derive(Debug)]
pub enum Action {
    /// Forward upstream.
    Forward(Forward),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer directly.
    Direct(DirectResponse),
}

/// Forwarding to a cluster.
#[derive(Debug)]
pub struct Forward {
    /// The cluster or clusters.
    pub clusters: ClusterChoice,
    /// Whole-request timeout (`None`: disabled). Envoy's default is 15 s.
    pub timeout: Option<Duration>,
    /// `prefix_rewrite`: the matched prefix (or path) is replaced.
    pub prefix_rewrite: Option<String>,
    /// `regex_rewrite`: pattern and substitution applied to the path.
    pub regex_rewrite: Option<(Regex, String)>,
    /// `host_rewrite_literal`.
    pub host_rewrite: Option<HeaderValue>,
    /// The retry policy (the virtual host's when the route sets none).
    pub retry: Option<Arc<RetryPolicy>>,
    /// `max_grpc_timeout`: `Some(None)` honours `grpc-timeout` without a cap.
    pub grpc_timeout_max: Option<Option<Duration>>,
    /// Clusters that get a copy of the request (`request_mirror_policies`).
    pub mirrors: Vec<Mirror>,
    /// How the request's hash is made for RING_HASH and MAGLEV clusters (`hash_policy`).
    pub hash_policies: Vec<HashPolicy>,
}

/// One `hash_policy` of a route: what of the request its hash comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPolicy {
    /// Where the key comes from.
    pub key: HashKey,
    /// Stop at this policy when it gave a hash.
    pub terminal: bool,
}

/// The key of a [`HashPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// A request header's value.
    Header(http::HeaderName),
    /// A cookie's value; with a TTL, a cookie is made (and set on the response) when the
    /// request has none.
    Cookie {
        /// Its name.
        name: String,
        /// Its lifetime when the proxy makes it.
        ttl: Option<Duration>,
        /// Its path when the proxy makes it.
        path: String,
    },
    /// The downstream connection's source IP.
    SourceIp,
    /// A query parameter's value.
    Query(String),
}

/// A request mirror (shadow): a copy of the request goes to `cluster`, its response is
/// dropped.
#[derive(Debug)]
pub struct Mirror {
    /// Where the copies go.
    pub cluster: ClusterRef,
    /// The share of requests copied.
    pub fraction: super::filters::Fraction,
    /// Append `-shadow` to the host (`disable_shadow_host_suffix_append: false`).
    pub host_suffix: bool,
}

/// One cluster, or several by weight.
#[derive(Debug)]
pub enum ClusterChoice {
    /// One cluster.
    Single(ClusterRef),
    /// Weighted clusters: cumulative weights, picked at random.
    Weighted {
        /// Sum of the weights.
        total: u32,
        /// The clusters with their cumulative upper bounds.
        entries: Vec<WeightedCluster>,
    },
}

/// One of weighted clusters.
#[derive(Debug)]
pub struct WeightedCluster {
    /// The cluster.
    pub cluster: ClusterRef,
    /// Its weight.
    pub weight: u32,
    /// Cumulative weight up to and including this one.
    pub upper: u32,
    /// Header changes when chosen.
    pub headers: HeaderOps,
    /// Host rewrite when chosen.
    pub host_rewrite: Option<HeaderValue>,
}

impl ClusterChoice {
    /// Picks a cluster; `roll` is a number in `[0, total)` for weighted choices.
    pub fn pick(&self, roll: impl FnOnce(u32) -> u32) -> (&ClusterRef, Option<&WeightedCluster>) {
        match self {
            ClusterChoice::Single(c) => (c, None),
            ClusterChoice::Weighted { total, entries } => {
                let r = roll(*total);
                let e = entries
                    .iter()
                    .find(|e| r < e.upper)
                    .unwrap_or(&entries[entries.len() - 1]);
                (&e.cluster, Some(e))
            }
        }
    }
}

/// A redirect.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// New scheme.
    pub scheme: Option<String>,
    /// New host.
    pub host: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// New path (replaces the whole path).
    pub path: Option<String>,
    /// New prefix (replaces the matched prefix).
    pub prefix: Option<String>,
    /// Status code (301, 302, 303, 307, 308).
    pub status: u16,
    /// Drop the query string.
    pub strip_query: bool,
}

/// A direct response.
#[derive(Debug, Clone)]
pub struct DirectResponse {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: bytes::Bytes,
}

/// Header additions and removals at one level.
#[derive(Debug, Default, Clone)]
pub struct HeaderOps {
    /// Request headers to add (`true`: append) .
    pub request_add: Vec<(HeaderName, HeaderValue, bool)>,
    /// Request headers to remove.
    pub request_remove: Vec<HeaderName>,
    /// Response headers to add (`true`: append).
    pub response_add: Vec<(HeaderName, HeaderValue, bool)>,
    /// Response headers to remove.
    pub response_remove: Vec<HeaderName>,
}

impl HeaderOps {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.request_add.is_empty()
            && self.request_remove.is_empty()
            && self.response_add.is_empty()
            && self.response_remove.is_empty()
    }

    fn apply(add: &[(HeaderName, HeaderValue, bool)], remove: &[HeaderName], h: &mut HeaderMap) {
        for n in remove {
            h.remove(n);
        }
        for (n, v, append) in add {
            if *append {
                h.append(n.clone(), v.clone());
            } else {
                h.insert(n.clone(), v.clone());
            }
        }
    }

    /// Applies the request changes.
    pub fn apply_request(&self, h: &mut HeaderMap) {
        Self::apply(&self.request_add, &self.request_remove, h);
    }

    /// Applies the response changes.
    pub fn apply_response(&self, h: &mut HeaderMap) {
        Self::apply(&self.response_add, &self.response_remove, h);
    }
}

/// Retry conditions (`retry_on`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOn {
    /// `5xx`.
    pub status_5xx: bool,
    /// `gateway-error`: 502, 503, 504.
    pub gateway_error: bool,
    /// `reset`: the upstream reset or timed out before headers.
    pub reset: bool,
    /// `reset-before-request`: the connection failed before the request was sent.
    pub reset_before_request: bool,
    /// `connect-failure`.
    pub connect_failure: bool,
    /// `retriable-4xx`: 409.
    pub retriable_4xx: bool,
    /// `refused-stream`: HTTP/2 REFUSED_STREAM.
    pub refused_stream: bool,
    /// `retriable-status-codes`.
    pub status_codes: bool,
    /// gRPC statuses: cancelled (1), deadline-exceeded (4), resource-exhausted (8),
    /// internal (13), unavailable (14).
    pub grpc: [bool; 5],
}

/// A retry policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Conditions.
    pub on: RetryOn,
    /// Retries (attempts − 1).
    pub num_retries: u32,
    /// Timeout of each attempt.
    pub per_try_timeout: Option<Duration>,
    /// Status codes for `retriable-status-codes`.
    pub status_codes: Vec<u16>,
    /// Prefer hosts not tried before (`previous_hosts` predicate).
    pub other_hosts: bool,
    /// Host picks per retry when avoiding previous hosts.
    pub host_selection_attempts: u32,
    /// Back-off base interval (25 ms by default; the cap is ten times it).
    pub backoff_base: Duration,
    /// Back-off cap.
    pub backoff_max: Duration,
}

/// The parts of a request route matching reads.
#[derive(Debug)]
pub struct RequestView<'a> {
    /// Authority (Host), as sent.
    pub host: &'a str,
    /// Path with the query.
    pub path_and_query: &'a str,
    /// Method.
    pub method: &'a Method,
    /// Scheme.
    pub scheme: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
}

impl RequestView<'_> {
    fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(p, _)| p)
    }

    fn query(&self) -> &str {
        self.path_and_query.split_once('?').map_or("", |(_, q)| q)
    }

    fn header(&self, k: &HeaderKey) -> Option<&str> {
        match k {
            HeaderKey::Authority => Some(self.host),
            HeaderKey::Method => Some(self.method.as_str()),
            HeaderKey::Path => Some(self.path_and_query),
            HeaderKey::Scheme => Some(self.scheme),
            HeaderKey::Name(n) => self.headers.get(n).and_then(|v| v.to_str().ok()),
        }
    }

    fn is_grpc(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
    }
}

impl RouteTable {
    /// The virtual host for `host` (Envoy's domain matching, case-insensitive).
    pub fn vhost(&self, host: &str) -> Option<&VirtualHost> {
        let lower;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = host.to_ascii_lowercase();
            lower.as_str()
        } else {
            host
        };
        let idx = self
            .exact
            .get(host)
            .copied()
            .or_else(|| {
                self.suffixes
                    .iter()
                    .find(|(s, _)| host.len() > s.len() && host.ends_with(s.as_str()))
                    .map(|(_, i)| *i)
            })
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| host.len() > p.len() && host.starts_with(p.as_str()))
                    .map(|(_, i)| *i)
            })
            .or(self.wildcard)?;
        self.vhosts.get(idx)
    }

    /// The virtual host and route for a request; `None` is Envoy's NR (404).
    pub fn find(&self, req: &RequestView<'_>) -> Option<(&VirtualHost, &Route)> {
        let vh = self.vhost(req.host)?;
        let r = vh.routes.iter().find(|r| r.matcher.matches(req))?;
        Some((vh, r))
    }
}

fn eq_ci(a: &str, b: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

fn starts_ci(s: &str, prefix: &str, case_sensitive: bool) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && eq_ci(&s[..prefix.len()], prefix, case_sensitive)
}

impl RouteMatch {
    /// Whether the request matches.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        let path = req.path();
        let ok = match &self.path {
            PathMatch::Prefix(p) => starts_ci(path, p, self.case_sensitive),
            PathMatch::Exact(p) => eq_ci(path, p, self.case_sensitive),
            PathMatch::Regex(r) => r.is_match(path),
            PathMatch::SeparatedPrefix(p) => {
                starts_ci(path, p, self.case_sensitive)
                    && (path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
            }
        };
        if !ok || (self.grpc && !req.is_grpc()) {
            return false;
        }
        self.headers.iter().all(|h| h.matches(req))
            && self.query.iter().all(|q| q.matches(req.query()))
    }
}

impl HeaderMatch {
    /// Whether the request matches.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        let v = req.header(&self.key).or(if self.missing_as_empty {
            Some("")
        } else {
            None
        });
        let hit = match (&self.value, v) {
            (ValueMatch::Present(want), v) => v.is_some() == *want,
            (_, None) => return false,
            (ValueMatch::String(m, ic), Some(v)) => m.matches(v, *ic),
            (ValueMatch::Range(lo, hi), Some(v)) => {
                v.parse::<i64>().is_ok_and(|n| *lo <= n && n < *hi)
            }
        };
        hit != self.invert
    }
}

impl QueryMatch {
    fn matches(&self, query: &str) -> bool {
        let found = query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == self.name).then_some(v)
        });
        match (&self.value, found) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some((m, ic)), Some(v)) => m.matches(v, *ic),
        }
    }
}
