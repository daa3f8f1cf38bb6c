//! The analyzer trait and running a set of analyzers.

use crate::context::{Context, Kind, Mesh, Store};
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

/// Runs `analyzers` over `store`, returning every message in the order reported.
pub fn run(analyzers: &[&dyn Analyzer], store: &Store, mesh: &Mesh) -> Vec<Message> {
    let mut ctx = Context::new(store, mesh);
    for a in analyzers {
        tracing::debug!(analyzer = a.name(), "running");
        a.analyze(&mut ctx);
    }
    ctx.into_messages()
}
