//! Syntax checks of the values in AuthorizationPolicy rules: condition keys and values
//! (`validate_attribute`), IP addresses and CIDR ranges, ports, service accounts, trust domains
//! and path templates.

use std::net::IpAddr;

use crate::validate::Findings;

/// Istio's `security.ValidateAttribute`: the condition keys Istio knows and the syntax of
/// their values.
pub fn validate_attribute(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    match key {
        k if k.starts_with("request.headers") => map_key(k),
        "source.ip" | "remote.ip" | "destination.ip" => ips_error(values),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(()),
        "source.serviceAccount" => check_service_accounts(key, values),
        "source.trustDomain" => check_wildcard_values(key, values),
        k if k.starts_with("request.auth.claims") => map_key(k),
        "destination.port" => ports_error(values),
        k if k.starts_with("experimental.envoy.filters.") => map_key(k),
        "destination.namespace" => Err(format!(
            "attribute {key} is replaced by the metadata.namespace"
        )),
        k if k.starts_with("destination.labels") => Err(format!(
            "attribute {key} is replaced by the workload selector"
        )),
        "destination.name" | "destination.user" => Err(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        )),
        _ => Err(format!("unknown attribute: {key}")),
    }
}

/// A key of the form `a[b]`.
fn map_key(key: &str) -> Result<(), String> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 && open + 2 < key.len() => Ok(()),
        _ => Err(format!("bad key ({key}): should have format a[b]")),
    }
}

/// The Go field name Istio uses in its messages (`notIpBlocks` → `NotIpBlocks`).
pub(super) fn go_field_name(field: &str) -> String {
    let mut c = field.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

pub(super) fn report(out: &mut Findings, at: &str, r: Result<(), String>) {
    if let Err(e) = r {
        out.error(at, e);
    }
}

pub(super) fn check_empty_values(key: &str, values: &[String]) -> Result<(), String> {
    if values.iter().any(String::is_empty) {
        return Err(format!("empty value not allowed, found in {key}"));
    }
    Ok(())
}

fn check_wildcard_values(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    for v in values {
        let n = v.matches('*').count();
        if n > 1 {
            return Err(format!(
                "at most one wildcard is allowed, found in {key}: {v:?}"
            ));
        }
        if n == 1 && v != "*" && !v.starts_with('*') && !v.ends_with('*') {
            return Err(format!(
                "wildcard is only allowed at the start or end, found in {key}: {v:?}"
            ));
        }
    }
    Ok(())
}

pub(super) fn check_trust_domains(key: &str, values: &[String]) -> Result<(), String> {
    check_wildcard_values(key, values)?;
    if let Some(v) = values.iter().find(|v| v.contains('/')) {
        return Err(format!(
            "trust domain must not contain '/', found in {key}: {v:?}"
        ));
    }
    Ok(())
}

pub(super) fn check_service_accounts(key: &str, values: &[String]) -> Result<(), String> {
    if values.len() > 16 {
        return Err("may not have more than 16 values".into());
    }
    let format_msg = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
    for v in values {
        if v.is_empty() {
            return Err(format!("empty value not allowed, found in {key}"));
        }
        if v.contains('*') {
            return Err(format!("wildcard not allowed, found in {key}"));
        }
        if v.matches('/').count() > 1 {
            return Err(format!("{format_msg}, found {v:?} in {key}"));
        }
        if v.len() > 320 {
            return Err(format!(
                "value cannot exceed 320 characters, found {v:?} in {key}"
            ));
        }
        if let Some((ns, sa)) = v.split_once('/') {
            if ns.is_empty() {
                return Err(format!(
                    "{format_msg}, found empty namespace {v:?} in {key}"
                ));
            }
            if sa.is_empty() {
                return Err(format!(
                    "{format_msg}, found empty serviceAccount {v:?} in {key}"
                ));
            }
        }
    }
    Ok(())
}

/// Istio's `CheckValidPathTemplate`: `{*}` matches one segment, `{**}` the rest and must come
/// last; other braces are invalid, and with templates every segment must be a valid literal.
pub(super) fn check_path_templates(key: &str, paths: &[String]) -> Result<(), String> {
    for path in paths {
        let has_template = path.contains("{*}") || path.contains("{**}");
        let trimmed = path.trim_matches('/');
        let mut seen_any = false;
        for glob in trimmed.split('/') {
            if glob == "{*}" || glob == "{**}" {
                if seen_any {
                    return Err(format!(
                        "invalid or unsupported path {trimmed}, found in {key}. {{**}} is not the last operator"
                    ));
                }
                seen_any = glob == "{**}";
                continue;
            }
            if glob.contains(['{', '}']) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains '{{' or '}}' beyond a supported path template"
                ));
            }
            if has_template && !is_valid_literal(glob) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains segment {glob} with invalid string literal"
                ));
            }
        }
    }
    Ok(())
}

/// An RFC 3986 `pchar` run (what Envoy accepts in a path template literal).
fn is_valid_literal(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b))
}

pub(super) fn check_ips(values: &[String], at: &str, out: &mut Findings) {
    for (i, v) in values.iter().enumerate() {
        if let Err(e) = ip_or_cidr(v) {
            out.error(format!("{at}[{i}]"), e);
        }
    }
}

fn ips_error(values: &[String]) -> Result<(), String> {
    let errs: Vec<String> = values.iter().filter_map(|v| ip_or_cidr(v).err()).collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Istio's `ValidateIPs` for one value: an address, or a CIDR range when it contains `/`.
pub(crate) fn ip_or_cidr(v: &str) -> Result<(), String> {
    if let Some((addr, bits)) = v.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!("bad CIDR range ({v}): netip.ParsePrefix({v:?}): ParseAddr({addr:?}): unable to parse IP")
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let ok = !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && !(bits.len() > 1 && bits.starts_with('0'))
            && bits.parse::<u32>().is_ok_and(|n| n <= max);
        if !ok {
            return Err(format!(
                "bad CIDR range ({v}): netip.ParsePrefix({v:?}): bad bits after slash: {bits:?}"
            ));
        }
        return Ok(());
    }
    v.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("bad IP address ({v})"))
}

pub(super) fn check_ports(values: &[String], at: &str, out: &mut Findings) {
    for (i, v) in values.iter().enumerate() {
        if let Err(e) = port_string(v) {
            out.error(format!("{at}[{i}]"), e);
        }
    }
}

fn ports_error(values: &[String]) -> Result<(), String> {
    let errs: Vec<String> = values.iter().filter_map(|v| port_string(v).err()).collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Istio's `ValidatePorts` for one value: a decimal number up to 65535.
fn port_string(port: &str) -> Result<(), String> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad port ({port}): strconv.ParseUint: parsing {port:?}: invalid syntax"
        ));
    }
    match port.parse::<u32>() {
        Err(_) => Err(format!(
            "bad port ({port}): strconv.ParseUint: parsing {port:?}: value out of range"
        )),
        Ok(p) if p > 65535 => Err(format!("bad port ({port}): <nil>")),
        Ok(_) => Ok(()),
    }
}
