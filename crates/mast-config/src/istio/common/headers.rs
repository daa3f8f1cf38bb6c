//! Istio's checks of HTTP header names and values used in routing and header manipulation.

/// RFC 7230 `tchar`s: what a header name may be made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

const PSEUDO_HEADERS: &[&str] = &[":method", ":scheme", ":authority", ":path", ":status"];

const JWT_CLAIM_PREFIX: &str = "@request.auth.claims";

/// Whether a header name is Istio's JWT claim routing form: `@request.auth.claims.a.b` or
/// `@request.auth.claims[a][b]`.
pub fn is_jwt_claim_route(name: &str) -> bool {
    if !name.to_ascii_lowercase().starts_with(JWT_CLAIM_PREFIX) {
        return false;
    }
    let rest = &name[JWT_CLAIM_PREFIX.len()..];
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

fn empty_name() -> Result<(), String> {
    Err("header name cannot be empty".to_string())
}

fn invalid_name(name: &str) -> Result<(), String> {
    Err(format!("header name {name} is not a valid header name"))
}

/// A header name in a match: a token, a pseudo-header, or a JWT claim route
/// (`ValidateHTTPHeaderNameOrJwtClaimRoute`).
pub fn validate_header_name_or_jwt_claim(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return empty_name();
    }
    if is_jwt_claim_route(name) || PSEUDO_HEADERS.contains(&name) {
        return Ok(());
    }
    if !name.bytes().all(is_tchar) {
        return invalid_name(name);
    }
    Ok(())
}

/// A header name in a CORS policy: a token or `*` (`ValidateCORSHTTPHeaderName`).
pub fn validate_cors_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return empty_name();
    }
    if name == "*" || name.bytes().all(is_tchar) {
        return Ok(());
    }
    invalid_name(name)
}

/// A header name in a readiness probe: letters, digits and `-` (`ValidateProbeHeaderName`).
pub fn validate_probe_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return empty_name();
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Ok(());
    }
    invalid_name(name)
}

fn is_internal_header(name: &str) -> bool {
    name.starts_with(':') || name.eq_ignore_ascii_case("host")
}

/// Whether a header name means the authority (`:authority` or `host`).
pub fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// A header name added or set on a request: no pseudo-headers except the authority
/// (`ValidateHTTPHeaderWithAuthorityOperationName`).
pub fn validate_header_with_authority_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return empty_name();
    }
    if is_internal_header(name) && !is_authority_header(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// A header name removed from a request or changed on a response: not `Host`, no
/// pseudo-headers (`ValidateHTTPHeaderOperationName`).
pub fn validate_header_operation_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return empty_name();
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(format!("invalid header {name:?}: cannot set Host header"));
    }
    if is_internal_header(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// A header value Envoy will accept: no control characters, and `%VAR%` / `%VAR(args)%`
/// expressions well formed (`ValidateHTTPHeaderValue`).
pub fn validate_header_value(value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{a}'..='\u{1f}' | '\u{7f}'))
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    check_variables(value).map_err(|e| format!("header value configuration: {e}"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Literal,
    VariableName,
    ExpectArray,
    ExpectString,
    String,
    ExpectDelimiterOrEnd,
    ExpectArgsEnd,
    ExpectVariableEnd,
}

/// Envoy's header formatter grammar, as Istio checks it.
fn check_variables(v: &str) -> Result<(), String> {
    let b = v.as_bytes();
    let mut state = State::Literal;
    let mut pos = 0;
    while pos < b.len() {
        let ch = b[pos];
        let has_next = pos + 1 < b.len();
        state = match state {
            State::Literal if ch != b'%' => State::Literal,
            State::Literal if !has_next => {
                return Err("invalid header configuration. Un-escaped %".into());
            }
            State::Literal if b[pos + 1] == b'%' => {
                pos += 1;
                State::Literal
            }
            State::Literal => State::VariableName,
            State::VariableName if ch == b'%' => State::Literal,
            State::VariableName if ch == b'(' => State::ExpectArray,
            State::VariableName => State::VariableName,
            State::ExpectArray if ch == b'[' => State::ExpectString,
            State::ExpectArray if ch != b' ' => State::String,
            State::ExpectArray => State::ExpectArray,
            State::ExpectDelimiterOrEnd if ch == b',' => State::ExpectString,
            State::ExpectDelimiterOrEnd if ch == b']' => State::ExpectArgsEnd,
            State::ExpectDelimiterOrEnd if ch != b' ' => {
                return Err(
                    "invalid header configuration. Expecting ',', ']', or whitespace".into(),
                );
            }
            State::ExpectDelimiterOrEnd => State::ExpectDelimiterOrEnd,
            State::ExpectString if ch == b'"' => State::String,
            State::ExpectString if ch != b' ' => {
                return Err("invalid header configuration. Expecting '\"'".into());
            }
            State::ExpectString => State::ExpectString,
            State::String if ch == b'\\' => {
                if !has_next {
                    return Err(
                        "invalid header configuration. Un-terminated backslash in JSON string"
                            .into(),
                    );
                }
                pos += 1;
                State::String
            }
            State::String if ch == b')' => State::ExpectVariableEnd,
            State::String if ch == b'"' => State::ExpectDelimiterOrEnd,
            State::String => State::String,
            State::ExpectArgsEnd if ch == b')' => State::ExpectVariableEnd,
            State::ExpectArgsEnd if ch != b' ' => {
                return Err("invalid header configuration. Expecting ')' or whitespace after '{}', but found '{}'".into());
            }
            State::ExpectArgsEnd => State::ExpectArgsEnd,
            State::ExpectVariableEnd if ch == b'%' => State::Literal,
            State::ExpectVariableEnd if ch != b' ' => {
                return Err(
                    "invalid header configuration. Expecting '%' or whitespace after".into(),
                );
            }
            State::ExpectVariableEnd => State::ExpectVariableEnd,
        };
        pos += 1;
    }
    if state != State::Literal {
        return Err(format!(
            "invalid header configuration. Un-terminated variable expression '{v}'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        let cases = [
            ("foo", true),
            ("%HOSTNAME%", true),
            ("100%%", true),
            ("prefix %HOSTNAME% suffix", true),
            ("%REQ(x-foo)%", true),
            ("%DYNAMIC_METADATA([\"a\", \"b\"])%", true),
            ("abc%123", false),
            ("%START_TIME%%", false),
            ("a\nb", false),
            ("", true),
        ];
        for (v, ok) in cases {
            assert_eq!(validate_header_value(v).is_ok(), ok, "{v:?}");
        }
    }

    #[test]
    fn header_names() {
        assert!(validate_header_name_or_jwt_claim("x-foo").is_ok());
        assert!(validate_header_name_or_jwt_claim(":authority").is_ok());
        assert!(validate_header_name_or_jwt_claim("@request.auth.claims.group").is_ok());
        assert!(validate_header_name_or_jwt_claim("@request.auth.claims[a][b]").is_ok());
        assert!(validate_header_name_or_jwt_claim("x foo").is_err());
        assert!(validate_header_name_or_jwt_claim("").is_err());
        assert!(validate_header_with_authority_name(":path").is_err());
        assert!(validate_header_with_authority_name("Host").is_ok());
        assert!(validate_header_operation_name("Host").is_err());
        assert!(validate_probe_header_name("x_foo").is_err());
        assert!(validate_cors_header_name("*").is_ok());
    }
}
