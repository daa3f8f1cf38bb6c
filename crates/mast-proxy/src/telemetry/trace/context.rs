//! Trace contexts in headers (W3C Trace Context, B3 multi and single header) and the trace
//! reason Envoy keeps in a UUID `x-request-id` (its version nibble: `a` sampled, `b` forced
//! by the service, `c` forced by the client, `9` not traced).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::Propagation;

/// `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `x-b3-traceid`.
pub const B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
/// `x-b3-spanid`.
pub const B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
/// `x-b3-parentspanid`.
pub const B3_PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
/// `x-b3-sampled`.
pub const B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
/// `x-b3-flags` (`1`: debug, sampled).
pub const B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
/// `b3` (single header).
pub const B3: HeaderName = HeaderName::from_static("b3");

/// Why a request is traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not traced.
    NotTraceable,
    /// Picked by random sampling.
    Sampling,
    /// `x-envoy-force-trace`.
    ServiceForced,
    /// `x-client-trace-id`.
    ClientForced,
}

/// A span's identity in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanContext {
    /// Trace id (64-bit ids in the low half).
    pub trace_id: u128,
    /// Span id.
    pub span_id: u64,
    /// Whether the trace is sampled.
    pub sampled: bool,
    /// Whether the trace id is 128-bit (as written in headers).
    pub wide: bool,
    /// W3C `tracestate`, passed on unchanged.
    pub state: Option<String>,
}

impl SpanContext {
    /// The trace id in hex (16 or 32 digits).
    pub fn trace_hex(&self) -> String {
        if self.wide {
            format!("{:032x}", self.trace_id)
        } else {
            format!("{:016x}", self.trace_id as u64)
        }
    }
}

/// What a request's headers say: a context, and a sampling flag (B3 may send the flag
/// alone).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The caller's span.
    pub context: Option<SpanContext>,
    /// The caller's decision.
    pub sampled: Option<bool>,
}

/// A new non-zero trace id.
pub fn new_trace_id(wide: bool) -> u128 {
    loop {
        let id = if wide {
            fastrand::u128(..)
        } else {
            u128::from(fastrand::u64(..))
        };
        if id != 0 {
            return id;
        }
    }
}

/// A new non-zero span id.
pub fn new_span_id() -> u64 {
    fastrand::u64(1..)
}

fn hex_u128(s: &str) -> Option<u128> {
    (s.bytes().all(|b| b.is_ascii_hexdigit()) && !s.is_empty() && s.len() <= 32)
        .then(|| u128::from_str_radix(s, 16).ok())
        .flatten()
}

fn hex_u64(s: &str) -> Option<u64> {
    (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
        .filter(|v| *v != 0)
}

/// Parses a W3C `traceparent` (`version-traceid-parentid-flags`; future versions may append
/// fields). Invalid values, all-zero ids and version `ff` give `None`.
pub fn parse_traceparent(v: &str) -> Option<SpanContext> {
    let parts: Vec<&str> = v.trim().split('-').collect();
    if parts.len() < 4 {
        return None;
    }
    let (version, trace, span, flags) = (parts[0], parts[1], parts[2], parts[3]);
    let lower_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if version.len() != 2 || !lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && parts.len() != 4 {
        return None;
    }
    if trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    if !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags) {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok().filter(|t| *t != 0)?;
    let span_id = u64::from_str_radix(span, 16).ok().filter(|s| *s != 0)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        wide: true,
        state: None,
    })
}

/// A `traceparent` value.
pub fn format_traceparent(c: &SpanContext) -> String {
    format!(
        "00-{:032x}-{:016x}-{}",
        c.trace_id,
        c.span_id,
        if c.sampled { "01" } else { "00" }
    )
}

fn b3_sampled(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "d" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn b3_trace(v: &str) -> Option<(u128, bool)> {
    match v.len() {
        16 | 32 => hex_u128(v).filter(|t| *t != 0).map(|t| (t, v.len() == 32)),
        _ => None,
    }
}

/// Reads B3: the single `b3` header first, else the `x-b3-*` headers.
pub fn extract_b3(h: &HeaderMap) -> Extracted {
    let get = |n: &HeaderName| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(single) = get(&B3) {
        let parts: Vec<&str> = single.split('-').collect();
        if parts.len() == 1 {
            return Extracted {
                context: None,
                sampled: b3_sampled(parts[0]),
            };
        }
        let ctx = b3_trace(parts[0]).zip(hex_u64(parts[1]));
        if ctx.is_none() {
            return Extracted::default();
        }
        return b3_context(ctx, parts.get(2).and_then(|s| b3_sampled(s)));
    }
    let sampled = if get(&B3_FLAGS) == Some("1") {
        Some(true)
    } else {
        get(&B3_SAMPLED).and_then(b3_sampled)
    };
    let ctx = get(&B3_TRACE_ID)
        .and_then(b3_trace)
        .zip(get(&B3_SPAN_ID).and_then(hex_u64));
    b3_context(ctx, sampled)
}

/// B3 ids and flag as read.
fn b3_context(ids: Option<((u128, bool), u64)>, sampled: Option<bool>) -> Extracted {
    Extracted {
        context: ids.map(|((trace_id, wide), span_id)| SpanContext {
            trace_id,
            span_id,
            sampled: sampled.unwrap_or(false),
            wide,
            state: None,
        }),
        sampled,
    }
}

/// Reads W3C Trace Context.
pub fn extract_w3c(h: &HeaderMap) -> Extracted {
    let Some(mut c) = h
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent)
    else {
        return Extracted::default();
    };
    c.state = h
        .get(TRACESTATE)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Extracted {
        sampled: Some(c.sampled),
        context: Some(c),
    }
}

/// Reads the context a tracer understands.
pub fn extract(p: Propagation, h: &HeaderMap) -> Extracted {
    match p {
        Propagation::W3c => extract_w3c(h),
        Propagation::B3 { w3c, .. } => {
            let b3 = extract_b3(h);
            if b3 == Extracted::default() && w3c {
                extract_w3c(h)
            } else {
                b3
            }
        }
    }
}

fn put(h: &mut HeaderMap, n: HeaderName, v: String) {
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(n, v);
    }
}

/// Writes `c` (this proxy's span) for the upstream.
pub fn inject(p: Propagation, c: &SpanContext, parent: Option<u64>, h: &mut HeaderMap) {
    let w3c = match p {
        Propagation::W3c => true,
        Propagation::B3 { w3c, .. } => {
            h.remove(B3);
            put(h, B3_TRACE_ID, c.trace_hex());
            put(h, B3_SPAN_ID, format!("{:016x}", c.span_id));
            match parent {
                Some(p) => put(h, B3_PARENT_SPAN_ID, format!("{p:016x}")),
                None => {
                    h.remove(B3_PARENT_SPAN_ID);
                }
            }
            put(h, B3_SAMPLED, if c.sampled { "1" } else { "0" }.into());
            w3c
        }
    };
    if w3c {
        // a 64-bit B3 trace id is zero-padded, as the W3C spec asks
        let wide = SpanContext {
            wide: true,
            ..c.clone()
        };
        put(h, TRACEPARENT, format_traceparent(&wide));
        if let Some(s) = &c.state {
            put(h, TRACESTATE, s.clone());
        }
    }
}

/// Whether `rid` is a UUID (8-4-4-4-12 hex digits).
fn is_uuid(rid: &str) -> bool {
    let b = rid.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The number random sampling compares (Envoy: the request id's first 8 hex digits).
pub fn request_id_integer(rid: &str) -> Option<u64> {
    rid.get(..8).and_then(|s| u64::from_str_radix(s, 16).ok())
}

/// The trace reason kept in a UUID request id.
pub fn trace_reason(rid: &str) -> Reason {
    if !is_uuid(rid) {
        return Reason::NotTraceable;
    }
    match rid.as_bytes()[14] {
        b'a' => Reason::Sampling,
        b'b' => Reason::ServiceForced,
        b'c' => Reason::ClientForced,
        _ => Reason::NotTraceable,
    }
}

/// `rid` with `r` written in (`None`: not a UUID, left alone).
pub fn with_trace_reason(rid: &str, r: Reason) -> Option<String> {
    if !is_uuid(rid) {
        return None;
    }
    let mut s = rid.to_string();
    s.replace_range(14..15, &char::from(reason_char(r)).to_string());
    Some(s)
}

/// The request id nibble of a trace reason.
pub fn reason_char(r: Reason) -> u8 {
    match r {
        Reason::NotTraceable => b'9',
        Reason::Sampling => b'a',
        Reason::ServiceForced => b'b',
        Reason::ClientForced => b'c',
    }
}
