//! `injection.JwtAnalyzer` (Istio 1.5, Go type `auth.JwtAnalyzer`): an `authentication.istio.io`
//! Policy with a JWT origin only works on Service ports named `http`, `http2` or `https`
//! (optionally `-suffix`) over TCP.

use std::collections::HashMap;

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::message::Arg;
use crate::util::{arr_of, fqdn, str_of};

/// Checks the Service ports that JWT Policies target.
pub struct JwtAnalyzer;

impl Analyzer for JwtAnalyzer {
    fn name(&self) -> &'static str {
        "injection.JwtAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks that jwt auth policies are against valid services"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::POLICY, kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let services: HashMap<String, &Resource> = store
            .list(kinds::SERVICE)
            .map(|s| (fqdn(&s.meta.name, &s.meta.namespace), s))
            .collect();
        for policy in store.list(kinds::POLICY) {
            check_policy(ctx, policy, &services);
        }
    }
}

/// Checks every target of the policy, once per JWT origin.
fn check_policy(ctx: &mut Context<'_>, policy: &Resource, services: &HashMap<String, &Resource>) {
    let spec = policy.spec();
    let jwt_origins = arr_of(spec, "origins")
        .iter()
        .filter(|o| o.get("jwt").is_some_and(|j| !j.is_null()))
        .count();
    for _ in 0..jwt_origins {
        for target in arr_of(spec, "targets") {
            // A target without a Service is not this check's concern.
            let Some(svc) = services.get(&fqdn(str_of(target, "name"), &policy.meta.namespace))
            else {
                continue;
            };
            let ports = arr_of(svc.spec(), "ports");
            let bad = bad_ports(ports, arr_of(target, "ports"));
            for port in bad {
                ctx.report(
                    policy,
                    Some("/spec/targets"),
                    catalogue::JWT_FAILURE_DUE_TO_INVALID_SERVICE_PORT_PREFIX,
                    port_args(port),
                );
            }
        }
    }
}

/// The Service ports that make the target fail: with no target ports, every port that is not
/// a TCP port with a JWT-capable name; otherwise, per target port, the port it names when
/// that one is not TCP (by name) or not JWT-capable.
fn bad_ports<'v>(svc_ports: &'v [Value], target_ports: &[Value]) -> Vec<&'v Value> {
    if target_ports.is_empty() {
        return svc_ports
            .iter()
            .filter(|p| !(is_tcp(p) && is_jwt_port_name(str_of(p, "name"))))
            .collect();
    }
    target_ports
        .iter()
        .filter_map(|tp| bad_target_port(svc_ports, tp))
        .collect()
}

/// The Service port a target port names, when it is a bad one: a port named so that is not
/// TCP, or a TCP port (by name or number) whose name is not JWT-capable.
fn bad_target_port<'v>(svc_ports: &'v [Value], tp: &Value) -> Option<&'v Value> {
    let name = str_of(tp, "name");
    let port = if name.is_empty() {
        let number = tp.get("number").and_then(Value::as_u64).unwrap_or(0);
        svc_ports
            .iter()
            .find(|p| is_tcp(p) && p.get("port").and_then(Value::as_u64) == Some(number))?
    } else {
        let p = svc_ports.iter().find(|p| str_of(p, "name") == name)?;
        if !is_tcp(p) {
            return Some(p);
        }
        p
    };
    (!is_jwt_port_name(str_of(port, "name"))).then_some(port)
}

fn is_tcp(port: &Value) -> bool {
    matches!(str_of(port, "protocol"), "" | "TCP")
}

/// Whether a port name matches `^http(2|s)?(-.*)?$`.
fn is_jwt_port_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("http") else {
        return false;
    };
    let suffix_ok = |s: &str| s.is_empty() || s.starts_with('-');
    suffix_ok(rest) || (rest.starts_with(['2', 's']) && suffix_ok(&rest[1..]))
}

/// The message arguments for a port: number, name, protocol and target port.
fn port_args(port: &Value) -> Vec<Arg> {
    let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
    let target = match port.get("targetPort") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    };
    vec![
        number.into(),
        str_of(port, "name").into(),
        str_of(port, "protocol").into(),
        target.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_port_names() {
        let cases = [
            ("http", true),
            ("http2", true),
            ("https", true),
            ("http-foo", true),
            ("https-svc-8081", true),
            ("http2-", true),
            ("http3", false),
            ("httpx-a", false),
            ("grpc", false),
            ("missingprefix-8080", false),
            ("", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_jwt_port_name(name), want, "{name}");
        }
    }
}
