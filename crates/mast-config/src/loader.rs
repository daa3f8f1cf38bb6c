//! Loading objects from files, directories and standard input.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::kinds::{self, split_api_version};
use crate::resource::{Gvk, Meta, Origin, Resource, string_map};
use crate::yaml::{self, Lines};

/// A problem met while loading.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A file is not valid YAML or JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A document is not a Kubernetes object (not a mapping, or no `apiVersion`/`kind`).
    #[error("{file}:{line}: {message}")]
    NotAnObject {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is missing.
        message: String,
    },
    /// An object of a kind Mast does not know.
    #[error("{file}:{line}: unknown kind {kind} in apiVersion {api_version}")]
    UnknownKind {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The `apiVersion` written.
        api_version: String,
        /// The `kind` written.
        kind: String,
    },
}

impl LoadError {
    /// Whether the error means a file could not be parsed (as opposed to an unknown kind).
    pub fn is_parse_error(&self) -> bool {
        !matches!(self, LoadError::UnknownKind { .. })
    }
}

/// What a load produced: every object that could be read, and every problem.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Objects in the order they were read.
    pub resources: Vec<Resource>,
    /// Problems in the order they were met.
    pub errors: Vec<LoadError>,
    /// The files that were read.
    pub files: Vec<String>,
}

impl Loaded {
    /// Loads every path: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`, in
    /// name order) and `-` for standard input.
    pub fn from_paths<P: AsRef<Path>>(paths: &[P]) -> Loaded {
        let mut out = Loaded::default();
        for p in paths {
            out.add_path(p.as_ref());
        }
        out
    }

    /// Adds one path (file, directory or `-`).
    pub fn add_path(&mut self, path: &Path) {
        if path == Path::new("-") {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => self.add_str("-", &text),
                Err(e) => self.errors.push(LoadError::Io {
                    path: "-".into(),
                    message: e.to_string(),
                }),
            }
            return;
        }
        let files = match collect_files(path) {
            Ok(f) => f,
            Err(e) => {
                self.errors.push(LoadError::Io {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
                return;
            }
        };
        for f in files {
            let name = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => self.add_str(&name, &text),
                Err(e) => self.errors.push(LoadError::Io {
                    path: name,
                    message: e.to_string(),
                }),
            }
        }
    }

    /// Adds every object of a YAML or JSON stream read from `file`.
    pub fn add_str(&mut self, file: &str, text: &str) {
        self.files.push(file.to_string());
        let file: Arc<str> = Arc::from(file);
        let docs = match yaml::parse_stream(text) {
            Ok(d) => d,
            Err(e) => {
                self.errors.push(LoadError::Syntax {
                    file: file.to_string(),
                    line: e.line,
                    column: e.column,
                    message: e.message,
                });
                return;
            }
        };
        for doc in docs {
            if doc.value.is_null() {
                continue;
            }
            let lines = Arc::new(doc.lines);
            self.add_value(&file, doc.line, doc.value, lines);
        }
    }

    fn add_value(&mut self, file: &Arc<str>, line: usize, value: Value, lines: Arc<Lines>) {
        match object_from_value(file, line, value, lines) {
            Ok(Parsed::One(r)) => {
                let r = *r;
                if r.kind_info().is_none() {
                    self.errors.push(LoadError::UnknownKind {
                        file: file.to_string(),
                        line: r.origin.line,
                        api_version: r.gvk.api_version(),
                        kind: r.gvk.kind.clone(),
                    });
                }
                self.resources.push(r);
            }
            Ok(Parsed::List(items)) => {
                for (item, item_lines) in items {
                    let l = item_lines.line_of("").unwrap_or(line);
                    self.add_value(file, l, item, Arc::new(item_lines));
                }
            }
            Err(e) => self.errors.push(e),
        }
    }
}

enum Parsed {
    One(Box<Resource>),
    List(Vec<(Value, Lines)>),
}

fn object_from_value(
    file: &Arc<str>,
    line: usize,
    value: Value,
    lines: Arc<Lines>,
) -> Result<Parsed, LoadError> {
    let not_object = |message: &str| LoadError::NotAnObject {
        file: file.to_string(),
        line,
        message: message.to_string(),
    };
    let Value::Object(map) = &value else {
        return Err(not_object("document is not a mapping"));
    };
    let api_version = match map.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(not_object("object has no apiVersion")),
    };
    let kind = match map.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(not_object("object has no kind")),
    };
    if kind == "List" || (kind.ends_with("List") && map.get("items").is_some_and(Value::is_array)) {
        let items = match map.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        return Ok(Parsed::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (v, lines.subtree(&format!("/items/{i}"))))
                .collect(),
        ));
    }
    let (group, version) = split_api_version(&api_version);
    let gvk = Gvk {
        group: group.to_string(),
        version: version.to_string(),
        kind,
    };
    let md = map.get("metadata");
    let text = |k: &str| {
        md.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut meta = Meta {
        name: text("name"),
        namespace: text("namespace"),
        labels: string_map(md.and_then(|m| m.get("labels"))),
        annotations: string_map(md.and_then(|m| m.get("annotations"))),
    };
    if meta.name.is_empty() {
        meta.name = text("generateName");
    }
    if kinds::lookup(&gvk.group, &gvk.kind).is_some_and(|info| !info.namespaced) {
        meta.namespace.clear();
    }
    Ok(Parsed::One(Box::new(Resource {
        gvk,
        meta,
        value,
        origin: Origin {
            file: file.clone(),
            line,
        },
        lines,
    })))
}

fn collect_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let md = std::fs::metadata(path)?;
    if !md.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(collect_files(&p)?);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_objects_lists_and_reports_problems() {
        let mut l = Loaded::default();
        l.add_str(
            "a.yaml",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n  namespace: ns\nspec:\n  hosts: [r]\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: n\n    namespace: ignored\n---\napiVersion: x.io/v1\nkind: Thing\nmetadata: {name: t}\n---\nfoo: bar\n",
        );
        assert_eq!(l.resources.len(), 3);
        assert_eq!(l.resources[0].namespaced_name(), "ns/r");
        assert_eq!(l.resources[0].line_of("/spec/hosts/0"), 7);
        assert_eq!(l.resources[1].gvk.kind, "Namespace");
        assert_eq!(l.resources[1].meta.namespace, "");
        assert_eq!(l.resources[1].origin.line, 12);
        assert_eq!(l.errors.len(), 2);
        assert!(
            matches!(&l.errors[0], LoadError::UnknownKind { kind, line: 17, .. } if kind == "Thing")
        );
        assert!(l.errors[1].is_parse_error());
        assert_eq!(
            l.errors[1].to_string(),
            "a.yaml:21: object has no apiVersion"
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let mut l = Loaded::default();
        l.add_str("bad.yaml", "kind: Pod\nmetadata:\n  name: [a\n");
        assert!(l.resources.is_empty());
        let e = l.errors[0].to_string();
        assert!(e.starts_with("bad.yaml:"), "{e}");
    }
}
