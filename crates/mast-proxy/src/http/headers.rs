//! Header work of the connection manager and router: hop-by-hop removal, request ids,
//! `x-forwarded-*`, `x-forwarded-client-cert`, path normalization, `grpc-timeout`.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-forwarded-proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-for`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-client-cert`.
pub const XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");
/// `x-envoy-upstream-service-time`.
pub const UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
/// `x-envoy-attempt-count`.
pub const ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");
/// `grpc-timeout`.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("http2-settings"),
];

/// Removes hop-by-hop headers (and those the `Connection` header names); `te` survives only
/// as `trailers`, which gRPC needs.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    if let Some(c) = h
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    {
        for name in c.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if let Ok(n) = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                && n != header::TE
            {
                h.remove(n);
            }
        }
    }
    for n in &HOP_BY_HOP {
        h.remove(n);
    }
    if h.get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        h.remove(header::TE);
    }
}

/// A random UUID v4, as Envoy generates request ids.
pub fn request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = [0u8; 36];
    let mut o = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = HEX[usize::from(byte >> 4)];
        out[o + 1] = HEX[usize::from(byte & 0xf)];
        o += 2;
    }
    HeaderValue::from_bytes(&out).expect("hex is a header value")
}

/// The peer's certificate details for `x-forwarded-client-cert`, computed at the handshake.
#[derive(Debug, Clone, Default)]
pub struct PeerCert {
    /// Hex SHA-256 of the leaf certificate.
    pub hash: String,
    /// Subject (RFC 2253 form).
    pub subject: String,
    /// URI SANs.
    pub uris: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
}

impl PeerCert {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> PeerCert {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let hash = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let mut out = PeerCert {
            hash,
            ..Default::default()
        };
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
            out.subject = cert.subject().to_string();
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                for n in &san.value.general_names {
                    match n {
                        x509_parser::extensions::GeneralName::URI(u) => {
                            out.uris.push(u.to_string())
                        }
                        x509_parser::extensions::GeneralName::DNSName(d) => {
                            out.dns.push(d.to_string())
                        }
                        _ => {}
                    }
                }
            }
        }
        out
    }
}

/// The XFCC element for a peer: `By=...;Hash=...;Subject="...";URI=...;DNS=...`.
pub fn xfcc_element(
    by: Option<&str>,
    peer: &PeerCert,
    d: crate::model::listener::ClientCertDetails,
) -> String {
    let mut parts = Vec::new();
    if let Some(by) = by {
        parts.push(format!("By={by}"));
    }
    parts.push(format!("Hash={}", peer.hash));
    if d.subject {
        parts.push(format!("Subject=\"{}\"", peer.subject.replace('"', "\\\"")));
    }
    if d.uri {
        parts.extend(peer.uris.iter().map(|u| format!("URI={u}")));
    }
    if d.dns {
        parts.extend(peer.dns.iter().map(|u| format!("DNS={u}")));
    }
    parts.join(";")
}

/// Removes `.` and `..` segments (RFC 3986 5.2.4) and, with `merge`, repeated slashes.
pub fn normalize_path(path: &str, merge: bool) -> Option<String> {
    let needs = path.contains("/.") || (merge && path.contains("//"));
    if !needs {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').collect();
    let last = segs.len() - 1;
    for (i, s) in segs.iter().enumerate().skip(1) {
        match *s {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            "" if merge && i != last => {}
            s => out.push(s),
        }
    }
    Some(format!("/{}", out.join("/")))
}

/// Parses a `grpc-timeout` value (`10S`, `100m`, ...).
pub fn grpc_timeout(v: &HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?;
    if s.len() < 2 || s.len() > 9 {
        return None;
    }
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        let cases = [
            ("/a/b", false, None),
            ("/a/./b", false, Some("/a/b")),
            ("/a/../b", false, Some("/b")),
            ("/../a", false, Some("/a")),
            ("/a/b/..", false, Some("/a/")),
            ("/a//b", true, Some("/a/b")),
            ("/a//b", false, None),
        ];
        for (input, merge, want) in cases {
            assert_eq!(normalize_path(input, merge).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn hop_by_hop_and_grpc_timeout() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert(header::TE, "trailers".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-private").is_none() && h.get(header::CONNECTION).is_none());
        assert_eq!(h[header::TE], "trailers");
        assert_eq!(h["x-kept"], "1");
        assert_eq!(
            grpc_timeout(&"250m".parse().unwrap()),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            grpc_timeout(&"2S".parse().unwrap()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(grpc_timeout(&"x".parse().unwrap()), None);
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id.to_str().unwrap()[14..15], "4");
    }
}
