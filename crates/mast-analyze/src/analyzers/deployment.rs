//! Istio's `deployment` analyzers.

use crate::analyzer::Analyzer;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![]
}
