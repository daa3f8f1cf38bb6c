//! Istio's configuration analyzers (`istioctl analyze`) and the IST message catalogue, used by
//! `mastctl analyze` and by mastd's validation webhook.
//!
//! - [`catalogue`]: every IST code with its name, level and template.
//! - [`message`]: messages and their rendering.
//! - [`context`]: what analyzers read (the [`Store`], the [`Mesh`]) and where they report.
//! - [`analyzer`]: the [`Analyzer`] trait.
//! - [`analyzers`]: the analyzers, by Istio's package names.

pub mod analyzer;
pub mod analyzers;
pub mod catalogue;
pub mod context;
pub mod message;
pub mod util;

pub use analyzer::{Analyzer, analysis_store, run};
pub use context::{Compat, Context, Kind, Mesh, Store};
pub use message::{Arg, Level, Message, MessageType, ResourceRef};
