//! Parsing of URLs with the rules of Go's `net/url` (`url.Parse`, `url.ParseRequestURI`),
//! which Istio and the Kubernetes CEL URL library use.

/// The parts of a parsed URL that the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Url {
    /// Lower-cased scheme (may be empty).
    pub scheme: String,
    /// Host without port.
    pub host: String,
    /// Port digits (may be empty).
    pub port: String,
}

/// `url.Parse`: the fragment after `#` is split off first.
pub fn parse(raw: &str) -> Result<Url, String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let url = parse_inner(u, false).map_err(|e| format!("parse {raw:?}: {e}"))?;
    unescape_check(frag).map_err(|e| format!("parse {raw:?}: {e}"))?;
    Ok(url)
}

/// `url.ParseRequestURI`: an absolute URL or an absolute path; no fragment.
pub fn parse_request_uri(raw: &str) -> Result<Url, String> {
    parse_inner(raw, true).map_err(|e| format!("parse {raw:?}: {e}"))
}

fn parse_inner(raw: &str, via_request: bool) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        return Ok(url);
    }
    let (scheme, rest) = split_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(p, _)| p)
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            return Ok(url);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        let first = rest.split('/').next().unwrap_or_default();
        if first.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///"))
        && rest.starts_with("//")
    {
        let after = &rest[2..];
        let (authority, p) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let (host, port) = parse_authority(authority)?;
        url.host = host;
        url.port = port;
        path = p;
    }
    unescape_check(path)?;
    Ok(url)
}

fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, b) in raw.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<(String, String), String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let user = &authority[..i];
            let ok = user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
            if !ok {
                return Err("net/url: invalid userinfo".into());
            }
            unescape_check(user)?;
            &authority[i + 1..]
        }
        None => authority,
    };
    let (name, port) = if let Some(stripped) = host.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            return Err("missing ']' in host".into());
        };
        let colon_port = &stripped[close + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {colon_port:?} after host"));
        }
        (&stripped[..close], colon_port.trim_start_matches(':'))
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {colon_port:?} after host"));
        }
        (&host[..i], &colon_port[1..])
    } else {
        (host, "")
    };
    for c in name.chars() {
        let ok =
            !c.is_ascii() || c.is_ascii_alphanumeric() || "-_.~!$&'()*+,;=:[]<>\"%".contains(c);
        if !ok {
            return Err(format!(
                "invalid character {:?} in host name",
                c.to_string()
            ));
        }
    }
    unescape_check(name)?;
    Ok((name.to_string(), port.to_string()))
}

fn valid_optional_port(p: &str) -> bool {
    p.is_empty()
        || p.strip_prefix(':')
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
}

/// Every `%` must start a two-hex-digit escape.
fn unescape_check(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!("invalid URL escape {:?}", &s[i..end]));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::istio::security::go_url;

    #[test]
    fn go_urls() {
        let cases: &[(&str, bool, bool)] = &[
            // (url, url.Parse ok, url.ParseRequestURI ok)
            ("https://example.com/a", true, true),
            ("example.com/a", true, false),
            ("oci://ghcr.io/x:1.0", true, true),
            ("http://#%blah$#@", false, false),
            ("#%blah$#@", false, false),
            (":foo", false, false),
            ("http://x:8080/", true, true),
            ("http://x:80a/", false, false),
            ("http://[::1]:80/", true, true),
            ("a:b/c", true, true),
            ("/abs/path", true, true),
            ("http://x/%zz", false, false),
        ];
        for (u, parse, req) in cases {
            assert_eq!(
                go_url::parse(u).is_ok(),
                *parse,
                "Parse {u}: {:?}",
                go_url::parse(u)
            );
            assert_eq!(
                go_url::parse_request_uri(u).is_ok(),
                *req,
                "ParseRequestURI {u}"
            );
        }
    }
}
