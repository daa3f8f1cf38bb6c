//! Route actions other than forwarding (redirects, direct responses) and the hash policies
//! of consistent-hash load balancing, translated as istiod does.

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, redirect_action, route_action::HashPolicy,
    route_action::hash_policy,
};
use mast_config::istio::networking::destination_rule::ConsistentHashLb;
use mast_config::istio::networking::virtual_service::{
    HttpDirectResponse, HttpRedirect, RedirectPortSelection,
};

use super::util::{parse_duration, warn_once};

/// A redirect (`ApplyRedirect`); `None` for a status code Envoy cannot send.
pub fn redirect(r: &HttpRedirect, listen_port: u32) -> Option<RedirectAction> {
    let mut out = RedirectAction {
        host_redirect: r.authority.clone(),
        path_rewrite_specifier: Some(if r.prefix_rewrite.is_empty() {
            redirect_action::PathRewriteSpecifier::PathRedirect(r.uri.clone())
        } else {
            redirect_action::PathRewriteSpecifier::PrefixRewrite(r.prefix_rewrite.clone())
        }),
        ..Default::default()
    };
    if !r.scheme.is_empty() {
        out.scheme_rewrite_specifier = Some(
            redirect_action::SchemeRewriteSpecifier::SchemeRedirect(r.scheme.clone()),
        );
    }
    if r.port.is_some() || r.derive_port.is_some() {
        out.port_redirect = match (r.port, r.derive_port) {
            (Some(p), _) => p,
            (None, Some(RedirectPortSelection::FromRequestPort)) => listen_port,
            _ => 0,
        };
        let scheme = if r.scheme.is_empty() {
            "http"
        } else {
            r.scheme.as_str()
        };
        if (out.port_redirect == 80 && scheme == "http")
            || (out.port_redirect == 443 && scheme == "https")
        {
            out.port_redirect = 0;
        }
    }
    use redirect_action::RedirectResponseCode as C;
    out.response_code = match r.redirect_code {
        0 | 301 => C::MovedPermanently,
        302 => C::Found,
        303 => C::SeeOther,
        307 => C::TemporaryRedirect,
        308 => C::PermanentRedirect,
        other => {
            warn_once(
                &format!("redirectCode={other}"),
                &format!("redirect: code {other} is not supported; the route is dropped"),
            );
            return None;
        }
    } as i32;
    Some(out)
}

/// A direct response.
pub fn direct_response(d: &HttpDirectResponse) -> DirectResponseAction {
    let body = d.body.as_ref().and_then(|b| {
        if let Some(s) = &b.string {
            Some(DataSource {
                specifier: Some(Specifier::InlineString(s.clone())),
                ..Default::default()
            })
        } else {
            b.bytes.as_ref().map(|s| {
                let bytes = decode_base64(s).unwrap_or_else(|| {
                    warn_once(
                        &format!("directResponse.body.bytes={s}"),
                        "directResponse.body.bytes is not valid base64; sent as written",
                    );
                    s.as_bytes().to_vec()
                });
                DataSource {
                    specifier: Some(Specifier::InlineBytes(bytes)),
                    ..Default::default()
                }
            })
        }
    });
    DirectResponseAction {
        status: d.status,
        body,
        ..Default::default()
    }
}

/// Decodes standard base64 (padding optional), as protobuf JSON reads `bytes` fields.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

/// A consistent-hash load balancer's route hash policy (`ConsistentHashToHashPolicy`).
pub fn hash_policy(ch: &ConsistentHashLb) -> Option<HashPolicy> {
    use hash_policy::PolicySpecifier as P;
    let spec = if let Some(h) = &ch.http_header_name {
        P::Header(hash_policy::Header {
            header_name: h.clone(),
            ..Default::default()
        })
    } else if let Some(c) = &ch.http_cookie {
        P::Cookie(hash_policy::Cookie {
            name: c.name.clone(),
            ttl: c
                .ttl
                .as_deref()
                .and_then(|t| parse_duration(t, "consistentHash.httpCookie.ttl")),
            path: c.path.clone(),
            attributes: c
                .attributes
                .iter()
                .map(|a| hash_policy::CookieAttribute {
                    name: a.name.clone(),
                    value: a.value.clone(),
                })
                .collect(),
        })
    } else if let Some(ip) = ch.use_source_ip {
        P::ConnectionProperties(hash_policy::ConnectionProperties { source_ip: ip })
    } else if let Some(q) = &ch.http_query_parameter_name {
        P::QueryParameter(hash_policy::QueryParameter { name: q.clone() })
    } else {
        return None;
    };
    Some(HashPolicy {
        policy_specifier: Some(spec),
        terminal: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("!!"), None);
    }
}
