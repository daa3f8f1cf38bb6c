//! AuthorizationPolicy as Envoy RBAC filters on inbound chains, as istiod's authz builder
//! makes them: one filter per action present, AUDIT (`LOG`) first, then DENY, then ALLOW;
//! policy names `ns[NS]-policy[NAME]-rule[N]`; a policy without rules matches nothing.

pub mod model;

use std::collections::HashMap;

use envoy_types::pb::envoy::config::listener::v3::Filter;
use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy, Principal, Rbac, permission, principal, rbac::Action as RbacAction,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::util::pack_any;
use mast_config::istio::security::{Action, AuthorizationPolicy};
use mast_xds::Proxy;

use self::model::Model;
use super::filters::{NETWORK_RBAC, network_filter};
use crate::model::{Config, Snapshot};
use crate::xds::rds::util::warn_once;

/// `envoy.filters.http.rbac`.
pub const HTTP_RBAC: &str = "envoy.filters.http.rbac";

/// The policies applying to a proxy, by action.
#[derive(Debug, Default)]
pub struct Policies<'a> {
    /// AUDIT policies.
    pub audit: Vec<&'a Config<AuthorizationPolicy>>,
    /// DENY policies (and CUSTOM ones, enforced as DENY: mastd has no external authorizer).
    pub deny: Vec<&'a Config<AuthorizationPolicy>>,
    /// ALLOW policies.
    pub allow: Vec<&'a Config<AuthorizationPolicy>>,
}

impl Policies<'_> {
    /// Whether no policy applies.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.deny.is_empty() && self.allow.is_empty()
    }
}

/// The AuthorizationPolicies of the root namespace and the proxy's namespace that select it
/// (no selector: every workload). Policies attached by `targetRef` do not apply to sidecars.
pub fn policies_for<'a>(snap: &'a Snapshot, proxy: &Proxy) -> Policies<'a> {
    let mut out = Policies::default();
    for c in &snap.authorization_policies {
        if c.namespace != snap.mesh.root_namespace && c.namespace != proxy.namespace {
            continue;
        }
        if c.spec.target_ref.is_some() || !c.spec.target_refs.is_empty() {
            continue;
        }
        let selected = c.spec.selector.as_ref().is_none_or(|s| {
            s.match_labels
                .iter()
                .all(|(k, v)| proxy.labels.get(k) == Some(v))
        });
        if !selected {
            continue;
        }
        match c.spec.action {
            Action::Allow => out.allow.push(c),
            Action::Deny => out.deny.push(c),
            Action::Audit => out.audit.push(c),
            Action::Custom => {
                warn_once(
                    &format!("authz-custom {}/{}", c.namespace, c.name),
                    &format!(
                        "AuthorizationPolicy {}/{}: CUSTOM (external authorization) is not supported; its rules are enforced as DENY",
                        c.namespace, c.name
                    ),
                );
                out.deny.push(c);
            }
        }
    }
    out
}

fn match_never() -> Policy {
    Policy {
        permissions: vec![Permission {
            rule: Some(permission::Rule::NotRule(Box::new(Permission {
                rule: Some(permission::Rule::Any(true)),
            }))),
        }],
        principals: vec![Principal {
            identifier: Some(principal::Identifier::NotId(Box::new(Principal {
                identifier: Some(principal::Identifier::Any(true)),
            }))),
        }],
        ..Default::default()
    }
}

/// The RBAC rules of one action's policies; `None` when there are none.
pub fn rules(
    policies: &[&Config<AuthorizationPolicy>],
    action: RbacAction,
    tcp: bool,
) -> Option<Rbac> {
    if policies.is_empty() {
        return None;
    }
    let mut out = HashMap::new();
    for c in policies {
        let name = |i: usize| format!("ns[{}]-policy[{}]-rule[{i}]", c.namespace, c.name);
        if c.spec.rules.is_empty() {
            out.insert(name(0), match_never());
        }
        for (i, rule) in c.spec.rules.iter().enumerate() {
            let generated = Model::new(rule)
                .and_then(|m| m.generate(tcp, action == RbacAction::Allow, &c.namespace));
            match generated {
                Ok(p) => {
                    out.insert(name(i), p);
                }
                Err(e) if !tcp => warn_once(
                    &format!("authz {} {e}", name(i)),
                    &format!("AuthorizationPolicy rule {} skipped: {e}", name(i)),
                ),
                Err(_) => {}
            }
        }
    }
    Some(Rbac {
        action: action as i32,
        policies: out,
        ..Default::default()
    })
}

fn actions<'a>(p: &'a Policies<'a>) -> [(&'a [&'a Config<AuthorizationPolicy>], RbacAction); 3] {
    [
        (&p.audit, RbacAction::Log),
        (&p.deny, RbacAction::Deny),
        (&p.allow, RbacAction::Allow),
    ]
}

/// The HTTP RBAC filters for `policies`, in evaluation order.
pub fn http_filters(p: &Policies<'_>) -> Vec<HttpFilter> {
    actions(p)
        .into_iter()
        .filter_map(|(list, action)| rules(list, action, false))
        .map(|r| HttpFilter {
            name: HTTP_RBAC.into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(HttpRbac {
                rules: Some(r),
                ..Default::default()
            }))),
            ..Default::default()
        })
        .collect()
}

/// The network RBAC filters for TCP chains, in evaluation order (HTTP-only attributes make
/// ALLOW rules fail and are dropped from DENY rules, as istiod does).
pub fn network_filters(p: &Policies<'_>) -> Vec<Filter> {
    actions(p)
        .into_iter()
        .filter_map(|(list, action)| rules(list, action, true))
        .map(|r| {
            network_filter(
                NETWORK_RBAC,
                pack_any(NetworkRbac {
                    rules: Some(r),
                    stat_prefix: "tcp.".into(),
                    ..Default::default()
                }),
            )
        })
        .collect()
}
