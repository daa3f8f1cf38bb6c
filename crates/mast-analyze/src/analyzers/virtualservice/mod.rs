//! Istio's `virtualservice` analyzers, and the service lookups other packages share.
//!
//! Istio 1.5's `virtualservice.RegexAnalyzer` (IST0122) was removed from Istio and its code
//! retired, so it is not provided.

mod conflicting_hosts;
mod destination_hosts;
mod destination_rules;
mod destinations;
mod gateways;
mod jwt_claims;
pub(crate) mod services;

pub use conflicting_hosts::ConflictingMeshGatewayHostsAnalyzer;
pub use destination_hosts::DestinationHostAnalyzer;
pub use destination_rules::DestinationRuleAnalyzer;
pub use gateways::GatewayAnalyzer;
pub use jwt_claims::JwtClaimRouteAnalyzer;

use crate::analyzer::Analyzer;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(ConflictingMeshGatewayHostsAnalyzer),
        Box::new(DestinationHostAnalyzer),
        Box::new(DestinationRuleAnalyzer),
        Box::new(GatewayAnalyzer),
        Box::new(JwtClaimRouteAnalyzer),
    ]
}
