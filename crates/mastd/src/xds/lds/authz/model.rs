//! One AuthorizationPolicy rule as an Envoy RBAC policy (istiod's authz `model`): sources and
//! `when` conditions become principals, operations become permissions, each attribute an
//! OR of its values, attributes ANDed, negations wrapped in NOT.

mod values;

use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy, Principal, permission, principal,
};
use mast_config::istio::security::Rule;

use self::values::{permission_of, principal_of};

/// Why an attribute could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The attribute only exists for HTTP and the chain is TCP.
    #[error("{0:?} is HTTP only")]
    HttpOnly(String),
    /// A value that cannot be parsed (IP, port).
    #[error("invalid value {value:?} for {key}")]
    BadValue {
        /// The attribute.
        key: String,
        /// The value.
        value: String,
    },
    /// An attribute mastd does not know.
    #[error("unknown attribute {0}")]
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Attr {
    SrcIp,
    RemoteIp,
    SrcNamespace,
    SrcTrustDomain,
    SrcServiceAccount,
    SrcPrincipal,
    RequestPrincipal,
    RequestAudiences,
    RequestPresenter,
    RequestHeader(String),
    RequestClaims(Vec<String>),
    DestIp,
    DestPort,
    ConnSni,
    Host,
    Method,
    Path,
}

#[derive(Debug, Clone)]
struct Cond {
    attr: Attr,
    key: String,
    values: Vec<String>,
    not_values: Vec<String>,
}

/// A parsed rule: the condition lists of its principals (one per `from`) and permissions
/// (one per `to`).
#[derive(Debug, Clone)]
pub struct Model {
    principals: Vec<Vec<Cond>>,
    permissions: Vec<Vec<Cond>>,
}

fn bracketed(s: &str) -> Option<&str> {
    s.strip_prefix('[')?.strip_suffix(']')
}

fn nested(s: &str) -> Option<Vec<String>> {
    crate::xds::rds::matches::routing_claim(&format!("@request.auth.claims{s}"))
        .or_else(|| bracketed(s).map(|x| vec![x.to_string()]))
}

fn when_attr(key: &str) -> Result<(Attr, bool), RuleError> {
    let principal = |a| Ok((a, true));
    let permission = |a| Ok((a, false));
    match key {
        "destination.ip" => permission(Attr::DestIp),
        "destination.port" => permission(Attr::DestPort),
        "connection.sni" => permission(Attr::ConnSni),
        "source.ip" => principal(Attr::SrcIp),
        "remote.ip" => principal(Attr::RemoteIp),
        "source.namespace" => principal(Attr::SrcNamespace),
        "source.trustDomain" => principal(Attr::SrcTrustDomain),
        "source.serviceAccount" => principal(Attr::SrcServiceAccount),
        "source.principal" => principal(Attr::SrcPrincipal),
        "request.auth.principal" => principal(Attr::RequestPrincipal),
        "request.auth.audiences" => principal(Attr::RequestAudiences),
        "request.auth.presenter" => principal(Attr::RequestPresenter),
        k if k.starts_with("request.headers") => match bracketed(&k["request.headers".len()..]) {
            Some(h) => principal(Attr::RequestHeader(h.to_string())),
            None => Err(RuleError::Unknown(k.into())),
        },
        k if k.starts_with("request.auth.claims") => {
            match nested(&k["request.auth.claims".len()..]) {
                Some(c) => principal(Attr::RequestClaims(c)),
                None => Err(RuleError::Unknown(k.into())),
            }
        }
        other => Err(RuleError::Unknown(other.into())),
    }
}

fn push_front(
    list: &mut Vec<Cond>,
    attr: Attr,
    key: &str,
    values: &[String],
    not_values: &[String],
) {
    if values.is_empty() && not_values.is_empty() {
        return;
    }
    list.insert(
        0,
        Cond {
            attr,
            key: key.into(),
            values: values.to_vec(),
            not_values: not_values.to_vec(),
        },
    );
}

impl Model {
    /// Parses a rule; an unknown `when` key is an error (the rule is skipped).
    pub fn new(rule: &Rule) -> Result<Model, RuleError> {
        let mut base_principal = Vec::new();
        let mut base_permission = Vec::new();
        for w in &rule.when {
            let (attr, is_principal) = when_attr(&w.key)?;
            let c = Cond {
                attr,
                key: w.key.clone(),
                values: w.values.clone(),
                not_values: w.not_values.clone(),
            };
            if is_principal {
                base_principal.push(c)
            } else {
                base_permission.push(c)
            }
        }
        let mut principals = Vec::new();
        for from in &rule.from {
            let mut p = base_principal.clone();
            if let Some(s) = &from.source {
                push_front(
                    &mut p,
                    Attr::SrcIp,
                    "source.ip",
                    &s.ip_blocks,
                    &s.not_ip_blocks,
                );
                push_front(
                    &mut p,
                    Attr::RemoteIp,
                    "remote.ip",
                    &s.remote_ip_blocks,
                    &s.not_remote_ip_blocks,
                );
                push_front(
                    &mut p,
                    Attr::SrcNamespace,
                    "source.namespace",
                    &s.namespaces,
                    &s.not_namespaces,
                );
                push_front(
                    &mut p,
                    Attr::SrcTrustDomain,
                    "source.trustDomain",
                    &s.trust_domains,
                    &s.not_trust_domains,
                );
                push_front(
                    &mut p,
                    Attr::SrcServiceAccount,
                    "source.serviceAccount",
                    &s.service_accounts,
                    &s.not_service_accounts,
                );
                push_front(
                    &mut p,
                    Attr::RequestPrincipal,
                    "request.auth.principal",
                    &s.request_principals,
                    &s.not_request_principals,
                );
                push_front(
                    &mut p,
                    Attr::SrcPrincipal,
                    "source.principal",
                    &s.principals,
                    &s.not_principals,
                );
            }
            principals.push(p);
        }
        if rule.from.is_empty() {
            principals.push(base_principal);
        }
        let mut permissions = Vec::new();
        for to in &rule.to {
            let mut p = base_permission.clone();
            if let Some(o) = &to.operation {
                push_front(
                    &mut p,
                    Attr::DestPort,
                    "destination.port",
                    &o.ports,
                    &o.not_ports,
                );
                push_front(&mut p, Attr::Path, "request.path", &o.paths, &o.not_paths);
                push_front(&mut p, Attr::Method, ":method", &o.methods, &o.not_methods);
                push_front(&mut p, Attr::Host, ":authority", &o.hosts, &o.not_hosts);
            }
            permissions.push(p);
        }
        if rule.to.is_empty() {
            permissions.push(base_permission);
        }
        Ok(Model {
            principals,
            permissions,
        })
    }

    /// The RBAC policy of the rule. For an ALLOW policy (`strict`), any attribute that cannot
    /// be translated fails the whole rule; for DENY and AUDIT it is dropped, widening the rule.
    pub fn generate(&self, tcp: bool, strict: bool, namespace: &str) -> Result<Policy, RuleError> {
        let mut permissions = Vec::new();
        for list in &self.permissions {
            let mut and = Vec::new();
            for c in list {
                and.extend(conditions(
                    c,
                    tcp,
                    strict,
                    |v| permission_of(c, v, tcp),
                    perm_or,
                    perm_not,
                )?);
            }
            if and.is_empty() {
                and.push(Permission {
                    rule: Some(permission::Rule::Any(true)),
                });
            }
            permissions.push(Permission {
                rule: Some(permission::Rule::AndRules(permission::Set { rules: and })),
            });
        }
        let mut principals = Vec::new();
        for list in &self.principals {
            let mut and = Vec::new();
            for c in list {
                and.extend(conditions(
                    c,
                    tcp,
                    strict,
                    |v| principal_of(c, v, tcp, namespace),
                    princ_or,
                    princ_not,
                )?);
            }
            if and.is_empty() {
                and.push(Principal {
                    identifier: Some(principal::Identifier::Any(true)),
                });
            }
            principals.push(Principal {
                identifier: Some(principal::Identifier::AndIds(principal::Set { ids: and })),
            });
        }
        Ok(Policy {
            permissions,
            principals,
            ..Default::default()
        })
    }
}

fn perm_or(rules: Vec<Permission>) -> Permission {
    Permission {
        rule: Some(permission::Rule::OrRules(permission::Set { rules })),
    }
}
fn perm_not(p: Permission) -> Permission {
    Permission {
        rule: Some(permission::Rule::NotRule(Box::new(p))),
    }
}
fn princ_or(ids: Vec<Principal>) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::OrIds(principal::Set { ids })),
    }
}
fn princ_not(p: Principal) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::NotId(Box::new(p))),
    }
}

/// Attributes matched against the whole value list at once.
fn extended(a: &Attr) -> bool {
    matches!(
        a,
        Attr::RequestPrincipal
            | Attr::RequestAudiences
            | Attr::RequestPresenter
            | Attr::RequestClaims(_)
    )
}

/// Translates the values and not-values of one condition: `[OR(values), NOT(OR(not_values))]`.
fn conditions<T>(
    c: &Cond,
    tcp: bool,
    strict: bool,
    one: impl Fn(&[String]) -> Result<Option<T>, RuleError>,
    or: fn(Vec<T>) -> T,
    not: fn(T) -> T,
) -> Result<Vec<T>, RuleError> {
    let _ = tcp;
    let check = |r: Result<Option<T>, RuleError>| match r {
        Ok(v) => Ok(v),
        Err(e) if strict => Err(e),
        Err(_) => Ok(None),
    };
    let mut out = Vec::new();
    for (vals, negate) in [(&c.values, false), (&c.not_values, true)] {
        if vals.is_empty() {
            continue;
        }
        let item = if extended(&c.attr) {
            check(one(vals))?
        } else {
            let mut any = Vec::new();
            for v in vals.iter() {
                any.extend(check(one(std::slice::from_ref(v)))?);
            }
            (!any.is_empty()).then(|| or(any))
        };
        if let Some(i) = item {
            out.push(if negate { not(i) } else { i });
        }
    }
    Ok(out)
}
