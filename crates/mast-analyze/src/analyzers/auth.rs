//! Istio's `auth` analyzers: authorization policies (current Istio), and the Istio 1.5
//! mTLS, RBAC (`rbac.istio.io`) and JWT policy checks.

mod authz;
mod jwt;
mod mtls;
mod rbac;

use crate::analyzer::Analyzer;

pub(crate) use authz::label_selector_string;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(authz::AuthorizationPoliciesAnalyzer),
        Box::new(mtls::MtlsAnalyzer),
        Box::new(rbac::ServiceRoleBindingAnalyzer),
        Box::new(rbac::ServiceRoleServicesAnalyzer),
        Box::new(jwt::JwtAnalyzer),
    ]
}
