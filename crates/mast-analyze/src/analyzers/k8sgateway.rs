//! Istio's `k8sgateway` analyzers.

use crate::analyzer::Analyzer;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![]
}
