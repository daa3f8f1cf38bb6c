//! Istio's `externalcontrolplane` analyzers: the webhooks of a remote cluster must reach an
//! external control plane at a usable address.

use std::net::IpAddr;

use mast_config::Resource;
use serde_json::Value;

use super::webhook::Once;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(ExternalControlPlaneAnalyzer)]
}

/// `externalcontrolplane.ExternalControlPlaneAnalyzer`.
struct ExternalControlPlaneAnalyzer;

impl Analyzer for ExternalControlPlaneAnalyzer {
    fn name(&self) -> &'static str {
        "externalcontrolplane.ExternalControlPlaneAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks that the remote IstioOperator resources reference an external control plane"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::VALIDATING_WEBHOOK, kinds::MUTATING_WEBHOOK]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut once = Once::default();
        for cfg in store.list(kinds::VALIDATING_WEBHOOK) {
            let name = cfg.meta.name.as_str();
            if name == "istiod-default-validator" || name.starts_with("istio-validator") {
                check_webhooks(ctx, &mut once, cfg);
            }
        }
        for cfg in store.list(kinds::MUTATING_WEBHOOK) {
            if cfg.meta.name.starts_with("istio-sidecar-injector") {
                check_webhooks(ctx, &mut once, cfg);
            }
        }
    }
}

/// Checks the `clientConfig` of every webhook of `cfg`.
fn check_webhooks(ctx: &mut Context<'_>, once: &mut Once, cfg: &Resource) {
    for (i, hook) in arr_of(&cfg.value, "webhooks").iter().enumerate() {
        let name = str_of(hook, "name").to_string();
        let client = hook.get("clientConfig").unwrap_or(&Value::Null);
        let path = format!("/webhooks/{i}/clientConfig");
        match client.get("url").and_then(Value::as_str) {
            Some(url) => match url_host(url) {
                Err(why) => {
                    let args = vec![url.into(), name.into(), why.into()];
                    once.report(
                        ctx,
                        cfg,
                        Some(&path),
                        catalogue::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
                        args,
                    );
                }
                Ok(host) if host.parse::<IpAddr>().is_ok() => {
                    let args = vec![url.into(), name.into()];
                    once.report(
                        ctx,
                        cfg,
                        Some(&path),
                        catalogue::EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
                        args,
                    );
                }
                Ok(_) => {}
            },
            None if client.get("service").is_none_or(Value::is_null) => {
                let args = vec!["".into(), name.into(), "is blank".into()];
                once.report(
                    ctx,
                    cfg,
                    Some(&path),
                    catalogue::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
                    args,
                );
            }
            None => {}
        }
    }
}

/// The host of a URL (without brackets, user or port), or why the URL cannot be parsed, in the
/// manner of Go's `url.Parse` followed by `Hostname()`.
fn url_host(url: &str) -> Result<String, &'static str> {
    const INVALID: &str = "was provided in an invalid format";
    if url.chars().any(|c| c.is_ascii_control()) || !valid_escapes(url) {
        return Err(INVALID);
    }
    let rest = url.split(['#', '?']).next().unwrap_or_default();
    let rest = match rest.split_once(':') {
        Some((scheme, after)) if is_scheme(scheme) => after,
        Some(("", _)) => return Err(INVALID),
        _ => rest,
    };
    let Some(after) = rest.strip_prefix("//") else {
        return Ok(String::new());
    };
    let authority = after.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, tail) = bracketed.split_once(']').ok_or(INVALID)?;
        if !tail.is_empty() && !tail.strip_prefix(':').is_some_and(all_digits) {
            return Err(INVALID);
        }
        return Ok(host.to_string());
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if all_digits(port) => Ok(host.to_string()),
        Some(_) => Err(INVALID),
        None => Ok(host_port.to_string()),
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn all_digits(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_digit())
}

/// Whether every `%` starts a two-digit hex escape.
fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| {
            b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("https://test.com:15017/validate", Ok("test.com")),
            ("https://1.1.1.1:5100/inject", Ok("1.1.1.1")),
            ("https://[::1]:443/x", Ok("::1")),
            ("https://user@host/x", Ok("host")),
            ("", Ok("")),
            ("https://test.com:abc/", Err(())),
            ("https://[::1/", Err(())),
            ("https://a%zz", Err(())),
            (":foo", Err(())),
        ];
        for (url, want) in cases {
            assert_eq!(
                url_host(url).map_err(|_| ()),
                want.map(str::to_string),
                "{url}"
            );
        }
    }
}
