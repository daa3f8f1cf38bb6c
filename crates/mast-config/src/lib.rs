//! Mast's configuration model: the Istio and Kubernetes kinds Mast reads, loaded from YAML or
//! JSON streams with the file and line of every object and field, and checked with Istio's
//! validation rules.
//!
//! - [`yaml`]: multi-document YAML into JSON values, with the line of each node.
//! - [`kinds`]: the table of known kinds.
//! - [`resource`]: one object with its origin.
//! - [`loader`]: files, directories and standard input.
//! - [`validate`]: Istio's validation rules, findings with field paths and lines.
//! - [`istio`]: typed Istio kinds, by API group.
//! - [`kube`]: Kubernetes kinds through `k8s-openapi`'s types.

pub mod istio;
pub mod kinds;
pub mod kube;
pub mod loader;
pub mod meta;
pub mod resource;
pub mod validate;
pub mod yaml;

pub use kinds::{Family, KindInfo};
pub use loader::{LoadError, Loaded};
pub use resource::{Gvk, Meta, Origin, Resource};
pub use validate::{Finding, Options, Severity, ValidationError, validate, validate_with};
