//! The attribute expressions of the Telemetry API: metric tag values (`request.host`,
//! `request.headers['x-user']`, `'literal'`...) and access log filters (a subset of CEL:
//! comparisons of attributes and literals joined by `&&`, `||`, `!` and parentheses, such
//! as `response.code >= 400`).
//!
//! Request attributes are read once, when the request headers arrive, into a
//! [`Captured`] list; response attributes are read from the [`StreamInfo`] at the log
//! phase. An attribute outside [`ReqAttr`] and [`RespAttr`] is refused when the config is
//! compiled, so a proxy never NACKs late or logs a wrong value.

use http::{HeaderName, request};

use crate::http::filter::StreamInfo;

/// An attribute read from the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReqAttr {
    /// `request.host` (the authority, port included as sent).
    Host,
    /// `request.method`.
    Method,
    /// `request.path` (with the query).
    Path,
    /// `request.url_path` (without the query).
    UrlPath,
    /// `request.scheme`.
    Scheme,
    /// `request.protocol` (`HTTP/1.1`, `HTTP/2`).
    Protocol,
    /// `request.id` (`x-request-id`).
    Id,
    /// `request.useragent`.
    UserAgent,
    /// `request.referer`.
    Referer,
    /// `request.headers['name']`.
    Header(HeaderName),
}

/// An attribute read at the end of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespAttr {
    /// `response.code`.
    Code,
    /// `response.grpc_status`.
    GrpcStatus,
    /// `response.flags` (Envoy's short flags, comma separated).
    Flags,
    /// `response.total_size` / `response.size` (body bytes sent).
    Size,
    /// `request.size` (body bytes received).
    RequestSize,
    /// `request.duration` in milliseconds (as an integer).
    DurationMs,
    /// `xds.cluster_name`.
    Cluster,
    /// `xds.route_name`.
    Route,
    /// `upstream.address`.
    UpstreamAddress,
    /// `connection.mtls`.
    Mtls,
}

/// A value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

impl Val {
    /// The value as a tag or log value prints it.
    pub fn text(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Str(s) => s.clone(),
            Val::Bool(b) => b.to_string(),
        }
    }
}

/// An operand: a request attribute (by its index in the capture list), a response
/// attribute, or a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// The capture at this index.
    Req(usize),
    /// A response attribute.
    Resp(RespAttr),
    /// A literal.
    Lit(Val),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Every one holds.
    And(Vec<Cond>),
    /// Some one holds.
    Or(Vec<Cond>),
    /// It does not hold.
    Not(Box<Cond>),
    /// A comparison.
    Cmp(Operand, Op, Operand),
    /// A boolean operand (`connection.mtls`, `true`).
    Is(Operand),
}

/// The request attributes one config reads, in capture order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    attrs: Vec<ReqAttr>,
}

/// Request attribute values, in [`Captures`] order (`None`: absent).
pub type Captured = Vec<Option<String>>;

impl Captures {
    /// The index of `a`, added if new.
    pub fn intern(&mut self, a: ReqAttr) -> usize {
        match self.attrs.iter().position(|x| *x == a) {
            Some(i) => i,
            None => {
                self.attrs.push(a);
                self.attrs.len() - 1
            }
        }
    }

    /// How many attributes are read.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether nothing is read from requests.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Reads every attribute from a request.
    pub fn capture(&self, req: &request::Parts, tls: bool) -> Captured {
        self.attrs
            .iter()
            .map(|a| request_attr(a, req, tls))
            .collect()
    }
}

fn header(req: &request::Parts, name: &HeaderName) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn request_attr(a: &ReqAttr, req: &request::Parts, tls: bool) -> Option<String> {
    match a {
        ReqAttr::Host => Some(crate::http::authority(req).to_string()),
        ReqAttr::Method => Some(req.method.as_str().to_string()),
        ReqAttr::Path => Some(
            req.uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
        ),
        ReqAttr::UrlPath => Some(req.uri.path().to_string()),
        ReqAttr::Scheme => Some(
            req.uri
                .scheme_str()
                .unwrap_or(if tls { "https" } else { "http" })
                .to_string(),
        ),
        ReqAttr::Protocol => Some(protocol(req.version).to_string()),
        ReqAttr::Id => header(req, &HeaderName::from_static("x-request-id")),
        ReqAttr::UserAgent => header(req, &http::header::USER_AGENT),
        ReqAttr::Referer => header(req, &http::header::REFERER),
        ReqAttr::Header(h) => header(req, h),
    }
}

/// The protocol as Envoy names it.
pub fn protocol(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

impl Operand {
    /// The operand's value (`None`: absent, as a missing header).
    pub fn eval(&self, captured: &[Option<String>], info: &StreamInfo) -> Option<Val> {
        match self {
            Operand::Req(i) => captured.get(*i).cloned().flatten().map(Val::Str),
            Operand::Lit(v) => Some(v.clone()),
            Operand::Resp(a) => match a {
                RespAttr::Code => info.response_code.map(|c| Val::Int(i64::from(c))),
                RespAttr::GrpcStatus => info.grpc_status.map(|c| Val::Int(i64::from(c))),
                RespAttr::Flags => Some(Val::Str(
                    info.flags
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                RespAttr::Size => Some(Val::Int(info.response_body_bytes as i64)),
                RespAttr::RequestSize => Some(Val::Int(info.request_body_bytes as i64)),
                RespAttr::DurationMs => Some(Val::Int(info.duration.as_millis() as i64)),
                RespAttr::Cluster => info.cluster.as_deref().map(|s| Val::Str(s.into())),
                RespAttr::Route => info.route_name.as_deref().map(|s| Val::Str(s.into())),
                RespAttr::UpstreamAddress => {
                    info.upstream_host.as_deref().map(|s| Val::Str(s.into()))
                }
                RespAttr::Mtls => Some(Val::Bool(info.peer_identity.is_some())),
            },
        }
    }
}

impl Cond {
    /// Whether the condition holds (a comparison with an absent value or of mismatched
    /// types does not, as a CEL error makes Envoy's filter fail closed).
    pub fn eval(&self, captured: &[Option<String>], info: &StreamInfo) -> bool {
        match self {
            Cond::And(cs) => cs.iter().all(|c| c.eval(captured, info)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(captured, info)),
            Cond::Not(c) => !c.eval(captured, info),
            Cond::Is(o) => o.eval(captured, info) == Some(Val::Bool(true)),
            Cond::Cmp(a, op, b) => {
                let (Some(a), Some(b)) = (a.eval(captured, info), b.eval(captured, info)) else {
                    return false;
                };
                let ord = match (&a, &b) {
                    (Val::Int(x), Val::Int(y)) => x.cmp(y),
                    (Val::Str(x), Val::Str(y)) => x.cmp(y),
                    (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
                    _ => return false,
                };
                use std::cmp::Ordering::*;
                match op {
                    Op::Eq => ord == Equal,
                    Op::Ne => ord != Equal,
                    Op::Lt => ord == Less,
                    Op::Le => ord != Greater,
                    Op::Gt => ord == Greater,
                    Op::Ge => ord != Less,
                }
            }
        }
    }
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression {expr:?}: {reason}")]
pub struct ExprError {
    /// The expression.
    pub expr: String,
    /// What is wrong or unsupported.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Op(&'static str),
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' || c == b'"' {
            let end = s[i + 1..].find(c as char).ok_or("unterminated string")?;
            out.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
            i += end + 2;
        } else if c.is_ascii_digit() {
            let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            out.push(Tok::Int(
                s[i..i + n].parse().map_err(|_| "integer out of range")?,
            ));
            i += n;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let n = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
                .count();
            out.push(Tok::Ident(s[i..i + n].to_string()));
            i += n;
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let op = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|o| *o == two);
            match op {
                Some(o) => {
                    out.push(Tok::Op(o));
                    i += 2;
                }
                None => {
                    let one = ["<", ">", "!", "(", ")", "[", "]"]
                        .into_iter()
                        .find(|o| o.as_bytes()[0] == c)
                        .ok_or_else(|| format!("unexpected {:?}", c as char))?;
                    out.push(Tok::Op(one));
                    i += 1;
                }
            }
        }
    }
    Ok(out)
}

/// The attributes an expression may read.
pub const SUPPORTED: &str = "request.host, request.method, request.path, request.url_path, \
request.scheme, request.protocol, request.id, request.useragent, request.referer, \
request.headers['name'], request.size, request.duration, response.code, response.grpc_status, \
response.flags, response.size, response.total_size, xds.cluster_name, xds.route_name, \
upstream.address, connection.mtls, and string and integer literals";

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    captures: &'a mut Captures,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Tok::Op(static_op(op))) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut all = vec![self.and()?];
        while self.eat("||") {
            all.push(self.and()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Cond::Or(all)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut all = vec![self.unary()?];
        while self.eat("&&") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Cond::And(all)
        })
    }

    fn unary(&mut self) -> Result<Cond, String> {
        if self.eat("!") {
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let c = self.or()?;
            if !self.eat(")") {
                return Err("missing )".into());
            }
            return Ok(c);
        }
        let a = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => Op::Eq,
            Some(Tok::Op("!=")) => Op::Ne,
            Some(Tok::Op("<")) => Op::Lt,
            Some(Tok::Op("<=")) => Op::Le,
            Some(Tok::Op(">")) => Op::Gt,
            Some(Tok::Op(">=")) => Op::Ge,
            _ => return Ok(Cond::Is(a)),
        };
        self.at += 1;
        Ok(Cond::Cmp(a, op, self.operand()?))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Lit(Val::Str(s))),
            Some(Tok::Int(i)) => Ok(Operand::Lit(Val::Int(i))),
            Some(Tok::Ident(id)) => self.attribute(&id),
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end".into()),
        }
    }

    fn attribute(&mut self, id: &str) -> Result<Operand, String> {
        let req = |a: ReqAttr, p: &mut Parser<'_>| Ok(Operand::Req(p.captures.intern(a)));
        match id {
            "true" => Ok(Operand::Lit(Val::Bool(true))),
            "false" => Ok(Operand::Lit(Val::Bool(false))),
            "request.host" => req(ReqAttr::Host, self),
            "request.method" => req(ReqAttr::Method, self),
            "request.path" => req(ReqAttr::Path, self),
            "request.url_path" => req(ReqAttr::UrlPath, self),
            "request.scheme" => req(ReqAttr::Scheme, self),
            "request.protocol" => req(ReqAttr::Protocol, self),
            "request.id" => req(ReqAttr::Id, self),
            "request.useragent" => req(ReqAttr::UserAgent, self),
            "request.referer" => req(ReqAttr::Referer, self),
            "request.headers" => {
                if !self.eat("[") {
                    return Err("request.headers must be indexed: request.headers['name']".into());
                }
                let Some(Tok::Str(name)) = self.next() else {
                    return Err("request.headers takes a quoted header name".into());
                };
                if !self.eat("]") {
                    return Err("missing ]".into());
                }
                let h = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("{name:?} is not a header name"))?;
                req(ReqAttr::Header(h), self)
            }
            "request.size" => Ok(Operand::Resp(RespAttr::RequestSize)),
            "request.duration" => Ok(Operand::Resp(RespAttr::DurationMs)),
            "response.code" => Ok(Operand::Resp(RespAttr::Code)),
            "response.grpc_status" => Ok(Operand::Resp(RespAttr::GrpcStatus)),
            "response.flags" => Ok(Operand::Resp(RespAttr::Flags)),
            "response.size" | "response.total_size" => Ok(Operand::Resp(RespAttr::Size)),
            "xds.cluster_name" => Ok(Operand::Resp(RespAttr::Cluster)),
            "xds.route_name" => Ok(Operand::Resp(RespAttr::Route)),
            "upstream.address" => Ok(Operand::Resp(RespAttr::UpstreamAddress)),
            "connection.mtls" => Ok(Operand::Resp(RespAttr::Mtls)),
            other => Err(format!(
                "attribute {other} is not supported by mast-proxy (supported: {SUPPORTED})"
            )),
        }
    }
}

fn static_op(op: &str) -> &'static str {
    [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]",
    ]
    .into_iter()
    .find(|o| *o == op)
    .expect("known operator")
}

fn parser<'a>(expr: &str, captures: &'a mut Captures) -> Result<Parser<'a>, ExprError> {
    let toks = tokens(expr).map_err(|reason| ExprError {
        expr: expr.into(),
        reason,
    })?;
    Ok(Parser {
        toks,
        at: 0,
        captures,
    })
}

/// Parses a condition (an access log filter), adding the request attributes it reads.
pub fn condition(expr: &str, captures: &mut Captures) -> Result<Cond, ExprError> {
    let mut p = parser(expr, captures)?;
    let err = |reason: String| ExprError {
        expr: expr.into(),
        reason,
    };
    let c = p.or().map_err(err)?;
    if p.at < p.toks.len() {
        return Err(err(format!("unexpected {:?}", p.toks[p.at])));
    }
    Ok(c)
}

/// Parses a value expression (a metric tag): an attribute or a literal, optionally wrapped
/// in `string(...)`.
pub fn value(expr: &str, captures: &mut Captures) -> Result<Operand, ExprError> {
    let inner = expr
        .trim()
        .strip_prefix("string(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or(expr);
    let mut p = parser(inner, captures)?;
    let err = |reason: String| ExprError {
        expr: expr.into(),
        reason,
    };
    let o = p.operand().map_err(err)?;
    if p.at < p.toks.len() {
        return Err(err(format!(
            "only an attribute or a literal is supported, found more after it: {:?}",
            p.toks[p.at]
        )));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::reply::Flag;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn conditions() {
        let r = req(
            "POST",
            "http://reviews:9080/api/x?y=1",
            &[("x-user", "alice")],
        );
        let ok = StreamInfo {
            response_code: Some(200),
            ..Default::default()
        };
        let failed = StreamInfo {
            response_code: Some(503),
            flags: vec![Flag::UpstreamConnectFailure],
            ..Default::default()
        };
        // (expression, holds for the 200, holds for the 503)
        let cases = [
            ("response.code >= 400", false, true),
            ("response.code == 200", true, false),
            (
                "response.code >= 500 && request.method == 'POST'",
                false,
                true,
            ),
            ("response.code < 300 || response.flags == 'UF'", true, true),
            ("!(response.code == 200)", false, true),
            ("request.headers['X-User'] == 'alice'", true, true),
            ("request.headers['x-other'] == 'bob'", false, false),
            (
                "request.url_path == '/api/x' && request.path == '/api/x?y=1'",
                true,
                true,
            ),
            ("request.host == \"reviews:9080\"", true, true),
            ("response.code == '200'", false, false),
            ("connection.mtls", false, false),
            ("true", true, true),
        ];
        for (e, a, b) in cases {
            let mut caps = Captures::default();
            let c = condition(e, &mut caps).unwrap_or_else(|err| panic!("{e}: {err}"));
            let captured = caps.capture(&r, false);
            assert_eq!(c.eval(&captured, &ok), a, "{e} on 200");
            assert_eq!(c.eval(&captured, &failed), b, "{e} on 503");
        }
    }

    #[test]
    fn refused_expressions_name_the_problem() {
        let cases = [
            (
                "upstream_peer.labels['app']",
                "attribute upstream_peer.labels",
            ),
            ("response.code >=", "unexpected end"),
            ("(response.code == 1", "missing )"),
            (
                "request.headers.foo == 'x'",
                "attribute request.headers.foo",
            ),
            ("response.code == 'x", "unterminated string"),
            ("response.code + 1", "unexpected '+'"),
        ];
        for (e, want) in cases {
            let err = condition(e, &mut Captures::default()).expect_err(e);
            assert!(err.to_string().contains(want), "{e}: {err}");
        }
        let err = value("request.host == 'x'", &mut Captures::default()).expect_err("value");
        assert!(err.to_string().contains("only an attribute"), "{err}");
    }

    #[test]
    fn values_and_captures_are_shared() {
        let mut caps = Captures::default();
        let a = value("request.host", &mut caps).unwrap();
        let b = value("string(request.host)", &mut caps).unwrap();
        let c = value("request.headers['x-user']", &mut caps).unwrap();
        assert_eq!(a, b);
        assert_eq!(c, Operand::Req(1));
        let lit = value("'canary'", &mut caps).unwrap();
        let r = req("GET", "/", &[("host", "ratings"), ("x-user", "bob")]);
        let captured = caps.capture(&r, false);
        let info = StreamInfo::default();
        assert_eq!(a.eval(&captured, &info), Some(Val::Str("ratings".into())));
        assert_eq!(c.eval(&captured, &info), Some(Val::Str("bob".into())));
        assert_eq!(lit.eval(&captured, &info), Some(Val::Str("canary".into())));
        assert_eq!(
            value("response.code", &mut caps)
                .unwrap()
                .eval(&captured, &info),
            None
        );
    }
}
