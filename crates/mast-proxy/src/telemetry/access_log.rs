//! Envoy's file access log (`envoy.access_loggers.file`) as Istio configures it: a text
//! format of `%COMMAND%` operators (Istio's default line, or MeshConfig `accessLogFormat`),
//! or a JSON object of them, written one line per request to a file (`/dev/stdout`), and
//! an optional CEL filter (`envoy.access_loggers.extension_filters.cel`, see
//! [`super::expr`]).
//!
//! The format is compiled once: operators Mast does not know are refused with their name,
//! so a proxy never prints a wrong field. Request values are captured when the headers
//! arrive (only those the format and filter read), response headers when they leave.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::{HeaderMap, HeaderName};
use serde_json::Value;

use super::expr::{Captured, Captures, Cond, ReqAttr};
use crate::http::filter::StreamInfo;
use crate::http::reply::Flag;

/// One operator.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    StartTime,
    /// A request header (or pseudo-header), by capture index, with its fallback.
    Req(usize, Option<usize>),
    /// A response header, by index in the response capture list.
    Resp(usize),
    Protocol,
    ResponseCode,
    ResponseFlags,
    ResponseCodeDetails,
    ConnectionTerminationDetails,
    UpstreamTransportFailureReason,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    DownstreamLocalAddress,
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    DownstreamPeerUriSan,
    DownstreamLocalUriSan,
    RequestedServerName,
    RouteName,
    GrpcStatus,
}

impl Cmd {
    fn numeric(&self) -> bool {
        matches!(
            self,
            Cmd::ResponseCode | Cmd::BytesReceived | Cmd::BytesSent | Cmd::Duration
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Cmd(Cmd, Option<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum Json {
    /// A value kept as is (numbers, booleans, null).
    Fixed(Value),
    /// A formatted string (a lone operator keeps its type).
    Text(Vec<Part>),
    Object(Vec<(String, Json)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Format {
    Text(Vec<Part>),
    Json(Json),
}

/// Why an access log was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct LogError {
    /// The field (`format`, `filter`, `path`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn err(field: &str, reason: impl Into<String>) -> LogError {
    LogError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// What the log writes to.
#[derive(Debug)]
enum Sink {
    Stdout,
    Stderr,
    File(Mutex<std::fs::File>),
    /// An OpenTelemetry collector: the line is the body, with these attributes.
    Otlp(Arc<super::trace::export::Reporter>, Option<Json>),
}

/// A compiled access log.
#[derive(Debug)]
pub struct AccessLog {
    path: String,
    sink: Sink,
    format: Format,
    filter: Option<Cond>,
    /// The request values the format and filter read.
    pub captures: Captures,
    response_headers: Vec<HeaderName>,
}

/// The downstream connection's facts a log line may print.
#[derive(Debug, Clone, Copy, Default)]
pub struct Downstream<'a> {
    /// Our address.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The TLS SNI.
    pub server_name: Option<&'a str>,
    /// The peer certificate's URI SAN.
    pub peer_uri: Option<&'a str>,
    /// Our certificate's URI SAN.
    pub local_uri: Option<&'a str>,
}

/// What one request left for its log line.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When the request arrived.
    pub start: SystemTime,
    /// `HTTP/1.1`, `HTTP/2`.
    pub protocol: &'static str,
    /// Request values, in [`AccessLog::captures`] order.
    pub request: Captured,
    /// Response header values, in the log's order.
    pub response: Vec<Option<String>>,
}

struct Compiling {
    captures: Captures,
    response_headers: Vec<HeaderName>,
}

impl Compiling {
    fn header(&mut self, spec: &str, op: &str) -> Result<usize, String> {
        let lower = spec.to_ascii_lowercase();
        let attr = match lower.as_str() {
            ":method" => ReqAttr::Method,
            ":path" => ReqAttr::Path,
            ":authority" | "host" => ReqAttr::Host,
            ":scheme" => ReqAttr::Scheme,
            p if p.starts_with(':') => {
                return Err(format!("{op}({spec}): unknown pseudo-header"));
            }
            h => ReqAttr::Header(
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| format!("{op}({spec}): not a header name"))?,
            ),
        };
        Ok(self.captures.intern(attr))
    }

    fn command(&mut self, body: &str) -> Result<Part, String> {
        // NAME, NAME(ARG), NAME(ARG):LEN
        let (head, len) = match body.rsplit_once("):") {
            Some((h, l)) => (
                format!("{h})"),
                Some(
                    l.parse::<usize>()
                        .map_err(|_| format!("bad length in %{body}%"))?,
                ),
            ),
            None => (body.to_string(), None),
        };
        let (name, arg) = match head.split_once('(') {
            Some((n, a)) => (
                n,
                Some(
                    a.strip_suffix(')')
                        .ok_or_else(|| format!("missing ) in %{body}%"))?,
                ),
            ),
            None => (head.as_str(), None),
        };
        let no_arg = |c: Cmd| match arg {
            None => Ok(c),
            Some(_) if name == "START_TIME" => {
                Err("START_TIME(format) is not supported by mast-proxy (only the default)".into())
            }
            Some(_) => Err(format!("%{name}% takes no argument")),
        };
        let cmd = match name {
            "REQ" => {
                let arg = arg.ok_or("REQ needs a header: %REQ(name)%")?;
                let (main, alt) = match arg.split_once('?') {
                    Some((m, a)) => (m, Some(a)),
                    None => (arg, None),
                };
                let i = self.header(main, "REQ")?;
                let alt = alt.map(|a| self.header(a, "REQ")).transpose()?;
                Cmd::Req(i, alt)
            }
            "RESP" => {
                let arg = arg.ok_or("RESP needs a header: %RESP(name)%")?;
                let h = HeaderName::from_bytes(arg.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("RESP({arg}): not a header name"))?;
                let i = match self.response_headers.iter().position(|x| *x == h) {
                    Some(i) => i,
                    None => {
                        self.response_headers.push(h);
                        self.response_headers.len() - 1
                    }
                };
                Cmd::Resp(i)
            }
            "START_TIME" => no_arg(Cmd::StartTime)?,
            "PROTOCOL" => no_arg(Cmd::Protocol)?,
            "RESPONSE_CODE" => no_arg(Cmd::ResponseCode)?,
            "RESPONSE_FLAGS" => no_arg(Cmd::ResponseFlags)?,
            "RESPONSE_CODE_DETAILS" => no_arg(Cmd::ResponseCodeDetails)?,
            "CONNECTION_TERMINATION_DETAILS" => no_arg(Cmd::ConnectionTerminationDetails)?,
            "UPSTREAM_TRANSPORT_FAILURE_REASON" => no_arg(Cmd::UpstreamTransportFailureReason)?,
            "BYTES_RECEIVED" => no_arg(Cmd::BytesReceived)?,
            "BYTES_SENT" => no_arg(Cmd::BytesSent)?,
            "DURATION" => no_arg(Cmd::Duration)?,
            "UPSTREAM_HOST" => no_arg(Cmd::UpstreamHost)?,
            "UPSTREAM_CLUSTER" => no_arg(Cmd::UpstreamCluster)?,
            "UPSTREAM_LOCAL_ADDRESS" => no_arg(Cmd::UpstreamLocalAddress)?,
            "DOWNSTREAM_LOCAL_ADDRESS" => no_arg(Cmd::DownstreamLocalAddress)?,
            "DOWNSTREAM_REMOTE_ADDRESS" => no_arg(Cmd::DownstreamRemoteAddress)?,
            "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
                no_arg(Cmd::DownstreamRemoteAddressWithoutPort)?
            }
            "DOWNSTREAM_PEER_URI_SAN" => no_arg(Cmd::DownstreamPeerUriSan)?,
            "DOWNSTREAM_LOCAL_URI_SAN" => no_arg(Cmd::DownstreamLocalUriSan)?,
            "REQUESTED_SERVER_NAME" => no_arg(Cmd::RequestedServerName)?,
            "ROUTE_NAME" => no_arg(Cmd::RouteName)?,
            "GRPC_STATUS_NUMBER" => no_arg(Cmd::GrpcStatus)?,
            other => return Err(format!("%{other}% is not supported by mast-proxy")),
        };
        Ok(Part::Cmd(cmd, len))
    }

    fn text(&mut self, s: &str) -> Result<Vec<Part>, String> {
        let mut out = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('%') {
            lit.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                lit.push('%');
                rest = r;
                continue;
            }
            let end = rest.find('%').ok_or_else(|| {
                format!(
                    "unterminated operator at {:?}",
                    &s[s.len() - rest.len() - 1..]
                )
            })?;
            if !lit.is_empty() {
                out.push(Part::Lit(std::mem::take(&mut lit)));
            }
            out.push(self.command(&rest[..end])?);
            rest = &rest[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            out.push(Part::Lit(lit));
        }
        Ok(out)
    }

    fn json(&mut self, v: &Value) -> Result<Json, String> {
        Ok(match v {
            Value::String(s) => Json::Text(self.text(s)?),
            Value::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Json::Fixed(other.clone()),
        })
    }
}

/// How a log's lines are laid out.
#[derive(Debug, Clone)]
pub enum LogFormat {
    /// A text line of operators (Envoy's default when `None`).
    Text(Option<String>),
    /// A JSON object whose string values hold operators.
    Json(Value),
}

/// Envoy's default text format (when the file logger has none).
pub const ENVOY_DEFAULT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

impl AccessLog {
    /// Compiles a log writing to `path` (`/dev/stdout`, `/dev/stderr` or a file, opened
    /// for appending) with `format` and an optional CEL `filter`.
    pub fn new(path: &str, format: LogFormat, filter: Option<&str>) -> Result<AccessLog, LogError> {
        let mut c = Compiling {
            captures: Captures::default(),
            response_headers: Vec::new(),
        };
        let format = match format {
            LogFormat::Text(t) => Format::Text(
                c.text(t.as_deref().unwrap_or(ENVOY_DEFAULT))
                    .map_err(|e| err("format", e))?,
            ),
            LogFormat::Json(v) => {
                if !v.is_object() {
                    return Err(err("format", "a JSON format must be an object"));
                }
                Format::Json(c.json(&v).map_err(|e| err("format", e))?)
            }
        };
        let filter = filter
            .map(|f| super::expr::condition(f, &mut c.captures))
            .transpose()
            .map_err(|e| err("filter", e.to_string()))?;
        let sink = match path {
            "/dev/stdout" | "" => Sink::Stdout,
            "/dev/stderr" => Sink::Stderr,
            p => Sink::File(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| err("path", format!("{p}: {e}")))?,
            )),
        };
        Ok(AccessLog {
            path: path.into(),
            sink,
            format,
            filter,
            captures: c.captures,
            response_headers: c.response_headers,
        })
    }

    /// The entry of a TCP connection started at `start`: no request or response values, and
    /// `-` as the protocol, as Envoy logs `tcp_proxy` connections.
    pub fn tcp_entry(&self, start: SystemTime) -> Entry {
        Entry {
            start,
            protocol: "-",
            request: vec![None; self.captures.len()],
            response: vec![None; self.response_headers.len()],
        }
    }

    /// Where it writes.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The response headers the format reads.
    pub fn response_values(&self, h: &HeaderMap) -> Vec<Option<String>> {
        self.response_headers
            .iter()
            .map(|n| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string))
            .collect()
    }

    /// The line of a finished request, if the filter lets it through (with its newline).
    pub fn line(&self, e: &Entry, info: &StreamInfo, d: &Downstream<'_>) -> Option<String> {
        if let Some(f) = &self.filter
            && !f.eval(&e.request, info)
        {
            return None;
        }
        Some(match &self.format {
            Format::Text(parts) => {
                let mut s = String::with_capacity(256);
                for p in parts {
                    match p {
                        Part::Lit(l) => s.push_str(l),
                        Part::Cmd(c, len) => s.push_str(
                            &truncate(value(c, e, info, d), *len).unwrap_or_else(|| "-".into()),
                        ),
                    }
                }
                if !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            }
            Format::Json(j) => {
                let mut s = json_value(j, e, info, d).to_string();
                s.push('\n');
                s
            }
        })
    }

    /// Sends this log's records to an OpenTelemetry collector (through `reporter`) instead
    /// of writing them: the format gives the body, `attributes` (a JSON object of formats)
    /// the attributes.
    pub fn to_collector(
        mut self,
        reporter: Arc<super::trace::export::Reporter>,
        attributes: Option<&Value>,
    ) -> Result<AccessLog, LogError> {
        let attrs = match attributes {
            None => None,
            Some(v) => {
                let mut c = Compiling {
                    captures: std::mem::take(&mut self.captures),
                    response_headers: std::mem::take(&mut self.response_headers),
                };
                let j = c.json(v).map_err(|e| err("attributes", e))?;
                self.captures = c.captures;
                self.response_headers = c.response_headers;
                Some(j)
            }
        };
        self.sink = Sink::Otlp(reporter, attrs);
        Ok(self)
    }

    /// Writes the line of a finished request (one write per line).
    pub fn write(&self, e: &Entry, info: &StreamInfo, d: &Downstream<'_>) {
        let Some(line) = self.line(e, info, d) else {
            return;
        };
        if let Sink::Otlp(reporter, attrs) = &self.sink {
            let attributes = match attrs.as_ref().map(|a| json_value(a, e, info, d)) {
                Some(Value::Object(m)) => m
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, v)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            reporter.log(super::trace::export::LogData {
                time: e.start,
                body: line.trim_end_matches('\n').to_string(),
                attributes,
            });
            return;
        }
        let r = match &self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Sink::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            Sink::File(f) => f.lock().expect("log file").write_all(line.as_bytes()),
            Sink::Otlp(..) => Ok(()),
        };
        if let Err(err) = r {
            tracing::debug!(path = %self.path, error = %err, "access log write failed");
        }
    }
}

fn truncate(v: Option<String>, len: Option<usize>) -> Option<String> {
    match (v, len) {
        (Some(mut s), Some(n)) if s.len() > n => {
            let mut n = n;
            while !s.is_char_boundary(n) {
                n -= 1;
            }
            s.truncate(n);
            Some(s)
        }
        (v, _) => v,
    }
}

fn json_value(j: &Json, e: &Entry, info: &StreamInfo, d: &Downstream<'_>) -> Value {
    match j {
        Json::Fixed(v) => v.clone(),
        Json::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_value(v, e, info, d)))
                .collect(),
        ),
        Json::Text(parts) => match parts.as_slice() {
            [Part::Cmd(c, len)] => match truncate(value(c, e, info, d), *len) {
                None => Value::Null,
                Some(v) if c.numeric() => v.parse::<u64>().map_or(Value::String(v), Value::from),
                Some(v) => Value::String(v),
            },
            parts => Value::String(
                parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(l) => l.clone(),
                        Part::Cmd(c, len) => {
                            truncate(value(c, e, info, d), *len).unwrap_or_else(|| "-".into())
                        }
                    })
                    .collect(),
            ),
        },
    }
}

/// Envoy's response code details for what Mast records.
fn details(info: &StreamInfo) -> Option<String> {
    // no response (a TCP connection): no details
    info.response_code?;
    let d = match info.flags.first() {
        None if info.upstream_host.is_some() => "via_upstream",
        None => return None,
        Some(Flag::NoRoute) => "route_not_found",
        Some(Flag::NoCluster) => "cluster_not_found",
        Some(Flag::NoHealthyUpstream) => "no_healthy_upstream",
        Some(Flag::UpstreamConnectFailure) => {
            "upstream_reset_before_response_started{connection_failure}"
        }
        Some(Flag::UpstreamOverflow) => "upstream_reset_before_response_started{overflow}",
        Some(Flag::UpstreamTimeout) => "response_timeout",
        Some(Flag::UpstreamConnectionTermination) => {
            "upstream_reset_before_response_started{connection_termination}"
        }
        Some(Flag::RetryLimitExceeded) => "upstream_reset_before_response_started{overflow}",
        Some(Flag::DownstreamTermination) => "downstream_remote_disconnect",
        Some(Flag::LocalReply) => "direct_response",
        Some(Flag::DelayInjected) if info.upstream_host.is_some() => "via_upstream",
        Some(Flag::DelayInjected) => return None,
        Some(Flag::FaultInjected) => "fault_filter_abort",
    };
    Some(d.into())
}

fn value(c: &Cmd, e: &Entry, info: &StreamInfo, d: &Downstream<'_>) -> Option<String> {
    let s = |v: Option<&str>| v.map(str::to_string);
    match c {
        Cmd::StartTime => Some(rfc3339_millis(e.start)),
        Cmd::Req(i, alt) => e
            .request
            .get(*i)
            .cloned()
            .flatten()
            .or_else(|| alt.and_then(|a| e.request.get(a).cloned().flatten())),
        Cmd::Resp(i) => e.response.get(*i).cloned().flatten(),
        Cmd::Protocol => Some(e.protocol.into()),
        Cmd::ResponseCode => Some(info.response_code.unwrap_or(0).to_string()),
        Cmd::ResponseFlags => Some(if info.flags.is_empty() {
            "-".into()
        } else {
            info.flags
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(",")
        }),
        Cmd::ResponseCodeDetails => details(info),
        Cmd::ConnectionTerminationDetails | Cmd::UpstreamTransportFailureReason => None,
        Cmd::BytesReceived => Some(info.request_body_bytes.to_string()),
        Cmd::BytesSent => Some(info.response_body_bytes.to_string()),
        Cmd::Duration => Some(info.duration.as_millis().to_string()),
        Cmd::UpstreamHost => s(info.upstream_host.as_deref()),
        Cmd::UpstreamCluster => s(info.cluster.as_deref()),
        Cmd::UpstreamLocalAddress => None,
        Cmd::DownstreamLocalAddress => d.local.map(|a| a.to_string()),
        Cmd::DownstreamRemoteAddress => d.remote.map(|a| a.to_string()),
        Cmd::DownstreamRemoteAddressWithoutPort => d.remote.map(|a| a.ip().to_string()),
        Cmd::DownstreamPeerUriSan => s(d.peer_uri),
        Cmd::DownstreamLocalUriSan => s(d.local_uri),
        Cmd::RequestedServerName => s(d.server_name),
        Cmd::RouteName => s(info.route_name.as_deref()),
        Cmd::GrpcStatus => info.grpc_status.map(|g| g.to_string()),
    }
}

pub use mast_xds::date::rfc3339_millis;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    /// Istio's default text format (what mastd sends).
    const ISTIO: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

    fn entry(log: &AccessLog) -> (Entry, StreamInfo) {
        let req = http::Request::builder()
            .method("GET")
            .uri("/reviews/0?x=1")
            .header("host", "reviews:9080")
            .header("user-agent", "curl/8")
            .header("x-request-id", "abc")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut resp = HeaderMap::new();
        resp.insert("x-envoy-upstream-service-time", "3".parse().unwrap());
        let e = Entry {
            start: UNIX_EPOCH + Duration::from_millis(1_796_605_323_456),
            protocol: "HTTP/1.1",
            request: log.captures.capture(&req, false),
            response: log.response_values(&resp),
        };
        let info = StreamInfo {
            response_code: Some(200),
            upstream_host: Some(Arc::from("10.0.0.9:9080")),
            cluster: Some(Arc::from(
                "outbound|9080||reviews.default.svc.cluster.local",
            )),
            route_name: Some(Arc::from("default")),
            request_body_bytes: 0,
            response_body_bytes: 295,
            duration: Duration::from_millis(4),
            ..Default::default()
        };
        (e, info)
    }

    fn down() -> Downstream<'static> {
        Downstream {
            local: Some("10.0.0.1:9080".parse().unwrap()),
            remote: Some("10.0.0.2:40000".parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn istio_default_text_line() {
        let log = AccessLog::new("/dev/stdout", LogFormat::Text(Some(ISTIO.into())), None).unwrap();
        let (e, info) = entry(&log);
        assert_eq!(
            log.line(&e, &info, &down()).unwrap(),
            "[2026-12-07T01:02:03.456Z] \"GET /reviews/0?x=1 HTTP/1.1\" 200 - via_upstream - \"-\" 0 295 4 3 \"-\" \"curl/8\" \"abc\" \"reviews:9080\" \"10.0.0.9:9080\" outbound|9080||reviews.default.svc.cluster.local - 10.0.0.1:9080 10.0.0.2:40000 - default\n"
        );
    }

    #[test]
    fn json_lines_keep_types() {
        let format = json!({"code": "%RESPONSE_CODE%", "path": "%REQ(:PATH)%", "sni": "%REQUESTED_SERVER_NAME%",
            "both": "%REQ(:METHOD)% %REQ(X-MISSING)%", "fixed": 1, "nested": {"ua": "%REQ(USER-AGENT):4%"}});
        let log = AccessLog::new("/dev/stdout", LogFormat::Json(format), None).unwrap();
        let (e, info) = entry(&log);
        let line = log.line(&e, &info, &down()).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"code": 200, "path": "/reviews/0?x=1", "sni": null, "both": "GET -", "fixed": 1,
                "nested": {"ua": "curl"}})
        );
    }

    #[test]
    fn filters_decide() {
        let log = AccessLog::new(
            "/dev/stdout",
            LogFormat::Text(None),
            Some("response.code >= 400 || request.headers['user-agent'] == 'probe'"),
        )
        .unwrap();
        let (e, mut info) = entry(&log);
        assert!(log.line(&e, &info, &down()).is_none());
        info.response_code = Some(503);
        assert!(log.line(&e, &info, &down()).is_some());
    }

    #[test]
    fn unknown_operators_and_filters_are_refused() {
        let cases = [
            (
                LogFormat::Text(Some("%NOPE%".into())),
                None,
                "format: %NOPE% is not supported",
            ),
            (
                LogFormat::Text(Some("%START_TIME(%s)%".into())),
                None,
                "format",
            ),
            (
                LogFormat::Text(Some("%REQ(:METHOD".into())),
                None,
                "format: unterminated",
            ),
            (
                LogFormat::Json(json!(["x"])),
                None,
                "format: a JSON format must be an object",
            ),
            (
                LogFormat::Text(None),
                Some("filter_state['x'] == 1"),
                "filter: expression",
            ),
        ];
        for (f, filter, want) in cases {
            let e = AccessLog::new("/dev/stdout", f, filter).expect_err(want);
            assert!(e.to_string().starts_with(want), "{e} (want {want})");
        }
    }

    #[test]
    fn start_time_is_utc_with_millis() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (1_796_605_323_456, "2026-12-07T01:02:03.456Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)), want);
        }
    }
}
