//! Istio 1.5's `policy` analyzers.

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};

/// The CRD whose presence means the cluster offers PeerAuthentication.
const PEER_AUTHENTICATION_CRD: &str = "peerauthentications.security.istio.io";

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(DeprecatedAnalyzer)]
}

/// Flags `authentication.istio.io` Policy and MeshPolicy objects once the PeerAuthentication
/// CRD that replaces them is installed.
pub struct DeprecatedAnalyzer;

impl Analyzer for DeprecatedAnalyzer {
    fn name(&self) -> &'static str {
        "policy.DeprecatedAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for Policy/MeshPolicy resources being used when PeerAuthentication exists"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::CRD, kinds::MESH_POLICY, kinds::POLICY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        if !store
            .list(kinds::CRD)
            .any(|c| c.meta.name == PEER_AUTHENTICATION_CRD)
        {
            return;
        }
        for p in store.list(kinds::POLICY) {
            ctx.report(p, None, catalogue::POLICY_RESOURCE_IS_DEPRECATED, vec![]);
        }
        for p in store.list(kinds::MESH_POLICY) {
            ctx.report(
                p,
                None,
                catalogue::MESH_POLICY_RESOURCE_IS_DEPRECATED,
                vec![],
            );
        }
    }
}
