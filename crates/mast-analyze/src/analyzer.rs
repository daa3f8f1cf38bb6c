//! The analyzer trait and running a set of analyzers.

use crate::context::{Context, Kind, Mesh, Store};
use mast_config::Resource;

use crate::message::Message;

/// One check over the whole configuration, as Istio's `analysis.Analyzer`.
pub trait Analyzer: Send + Sync {
    /// Istio's name for it (`virtualservice.DestinationHostAnalyzer`), as `-L` lists it.
    fn name(&self) -> &'static str;
    /// One line on what it checks.
    fn description(&self) -> &'static str;
    /// The kinds it reads.
    fn inputs(&self) -> &'static [Kind];
    /// Runs the check, reporting into `ctx`.
    fn analyze(&self, ctx: &mut Context<'_>);
}

/// Runs `analyzers` over `store`, returning the messages sorted and without exact
/// duplicates, as Istio's analysis returns them.
pub fn run(analyzers: &[&dyn Analyzer], store: &Store, mesh: &Mesh) -> Vec<Message> {
    let mut ctx = Context::new(store, mesh);
    for a in analyzers {
        tracing::debug!(analyzer = a.name(), "running");
        a.analyze(&mut ctx);
    }
    crate::message::sorted_deduped(ctx.into_messages())
}

/// Namespaces whose objects Istio's analysis does not read (`inject.IgnoredNamespaces`).
pub const IGNORED_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// The store analysis runs over: `resources` without the objects of the ignored namespaces
/// (nor those Namespace objects themselves), as Istio reads files for analysis.
pub fn analysis_store(resources: Vec<Resource>) -> Store {
    Store::new(
        resources
            .into_iter()
            .filter(|r| {
                let ns = if r.gvk.kind == "Namespace" && r.gvk.group.is_empty() {
                    &r.meta.name
                } else {
                    &r.meta.namespace
                };
                !IGNORED_NAMESPACES.contains(&ns.as_str())
            })
            .collect(),
    )
}
