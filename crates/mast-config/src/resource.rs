//! One configuration object as read from a file, with where it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::kinds::{self, KindInfo};
use crate::yaml::Lines;

/// Group, version and kind of an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version, e.g. `v1alpha3`.
    pub version: String,
    /// Kind, e.g. `VirtualService`.
    pub kind: String,
}

impl Gvk {
    /// The `apiVersion` string (`group/version`, or `version` for the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Where an object was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (`-` for standard input).
    pub file: Arc<str>,
    /// 1-based line on which the object starts.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The standard object metadata that Mast reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; empty for cluster-scoped objects and objects that named none.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// One object: its kind, metadata, whole body, origin and the line of each of its fields.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Group, version, kind.
    pub gvk: Gvk,
    /// Name, namespace, labels, annotations.
    pub meta: Meta,
    /// The whole object as read.
    pub value: Value,
    /// File and line of the object.
    pub origin: Origin,
    /// Line of each field, keyed by path from the object's root (`/spec/hosts/0`).
    pub lines: Arc<Lines>,
}

static NULL: Value = Value::Null;

impl Resource {
    /// The object's `spec` (or `Value::Null`).
    pub fn spec(&self) -> &Value {
        self.value.get("spec").unwrap_or(&NULL)
    }

    /// Information about the kind, if it is known.
    pub fn kind_info(&self) -> Option<&'static KindInfo> {
        kinds::lookup(&self.gvk.group, &self.gvk.kind)
    }

    /// The line of the field at `path` (`/spec/hosts/0`), or of its closest ancestor.
    pub fn line_of(&self, path: &str) -> usize {
        self.lines.line_of(path).unwrap_or(self.origin.line)
    }

    /// The line of the scalar field at exactly `path`, or the object's line: how Istio's
    /// analysis messages place themselves.
    pub fn scalar_line_of(&self, path: &str) -> usize {
        self.lines.scalar_line_of(path).unwrap_or(self.origin.line)
    }

    /// `name.namespace`, or `name` when the object has no namespace (Istio 1.5's form).
    pub fn name_dot_namespace(&self) -> String {
        if self.meta.namespace.is_empty() {
            self.meta.name.clone()
        } else {
            format!("{}.{}", self.meta.name, self.meta.namespace)
        }
    }

    /// `namespace/name`, or `name` when the object has no namespace (current Istio's form).
    pub fn namespaced_name(&self) -> String {
        if self.meta.namespace.is_empty() {
            self.meta.name.clone()
        } else {
            format!("{}/{}", self.meta.namespace, self.meta.name)
        }
    }
}

/// Reads a `map[string]string` field such as labels, keeping non-string values as their JSON text.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}
