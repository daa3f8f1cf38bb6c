//! The config store: the last valid version of every object, and what is currently wrong.
//!
//! A reload reads everything again and reconciles: a valid object replaces its previous
//! version; an invalid one is reported and its previous valid version keeps serving; the
//! objects of a file that no longer parses are kept as they were; objects gone from the files
//! are removed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use mast_config::{Loaded, Resource, Severity, validate};

/// An object's identity: group, kind, namespace, name.
pub type Key = (String, String, String, String);

fn key_of(r: &Resource) -> Key {
    (
        r.gvk.group.clone(),
        r.gvk.kind.clone(),
        r.meta.namespace.clone(),
        r.meta.name.clone(),
    )
}

/// Something the last reload could not take.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `file:line`.
    pub origin: String,
    /// `Kind namespace/name`, when the problem is about one object.
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Whether an earlier valid version of the object (or of the file's objects) is still served.
    pub serving_previous: bool,
}

/// The result of one reload.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Whether any served object changed.
    pub changed: bool,
    /// Kinds whose objects changed (`group/Kind`).
    pub changed_kinds: BTreeSet<String>,
}

/// The served objects.
#[derive(Debug, Default)]
pub struct ConfigStore {
    objects: BTreeMap<Key, Resource>,
    problems: Vec<Problem>,
    /// When the last reload finished.
    pub last_reload: Option<SystemTime>,
}

impl ConfigStore {
    /// Reconciles with a fresh load of the sources.
    pub fn reconcile(&mut self, loaded: Loaded, namespace_default: &str) -> Reconciled {
        let mut problems = Vec::new();
        let mut broken_files = BTreeSet::new();
        for e in &loaded.errors {
            let (origin, file) = match e {
                mast_config::LoadError::Syntax { file, line, .. }
                | mast_config::LoadError::NotAnObject { file, line, .. }
                | mast_config::LoadError::UnknownKind { file, line, .. } => {
                    (format!("{file}:{line}"), file.clone())
                }
                mast_config::LoadError::Io { path, .. } => (path.clone(), path.clone()),
            };
            let whole_file = e.is_parse_error()
                && matches!(
                    e,
                    mast_config::LoadError::Syntax { .. } | mast_config::LoadError::Io { .. }
                );
            if whole_file {
                broken_files.insert(file);
            }
            problems.push(Problem {
                origin,
                object: None,
                message: e.to_string(),
                serving_previous: whole_file,
            });
        }
        let mut next: BTreeMap<Key, Resource> = BTreeMap::new();
        // keep the objects of files that do not parse now
        for (k, r) in &self.objects {
            if broken_files.contains(r.origin.file.as_ref()) {
                next.insert(k.clone(), r.clone());
            }
        }
        for mut r in loaded.resources {
            if r.kind_info().is_none() {
                continue;
            }
            if r.meta.namespace.is_empty() && r.kind_info().is_some_and(|k| k.namespaced) {
                r.meta.namespace = namespace_default.to_string();
            }
            let key = key_of(&r);
            let errors: Vec<_> = validate(&r)
                .into_iter()
                .filter(|f| f.finding.severity == Severity::Error)
                .collect();
            if errors.is_empty() {
                next.insert(key, r);
                continue;
            }
            let previous = self.objects.get(&key).cloned();
            for e in &errors {
                problems.push(Problem {
                    origin: format!("{}:{}", e.file, e.line),
                    object: Some(e.object.clone()),
                    message: format!("{}: {}", e.finding.path, e.finding.message),
                    serving_previous: previous.is_some(),
                });
            }
            tracing::warn!(object = %errors[0].object, error = %errors[0], "invalid object rejected; previous version (if any) keeps serving");
            if let Some(p) = previous {
                next.insert(key, p);
            }
        }
        let mut out = Reconciled::default();
        for (k, r) in &next {
            if self.objects.get(k).map(|o| &o.value) != Some(&r.value) {
                out.changed_kinds.insert(format!("{}/{}", k.0, k.1));
            }
        }
        for k in self.objects.keys() {
            if !next.contains_key(k) {
                out.changed_kinds.insert(format!("{}/{}", k.0, k.1));
            }
        }
        out.changed = !out.changed_kinds.is_empty();
        self.objects = next;
        self.problems = problems;
        self.last_reload = Some(SystemTime::now());
        out
    }

    /// The served objects.
    pub fn objects(&self) -> impl Iterator<Item = &Resource> {
        self.objects.values()
    }

    /// The problems of the last reload.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Loaded {
        let mut l = Loaded::default();
        for (f, t) in files {
            l.add_str(f, t);
        }
        l
    }

    const SE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: ext\nspec:\n  hosts: [ext.example.com]\n  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n  resolution: DNS\n";

    #[test]
    fn last_good_keeps_serving() {
        let mut s = ConfigStore::default();
        let r = s.reconcile(load(&[("a.yaml", SE)]), "default");
        assert!(r.changed);
        assert_eq!(s.objects().count(), 1);
        // the same object made invalid: reported, previous version kept, no change
        let bad = SE.replace(
            "  name: ext\n",
            "  name: ext\n  labels:\n    bad: \"not a label value\"\n",
        );
        let r = s.reconcile(load(&[("a.yaml", &bad)]), "default");
        assert!(!r.changed, "{r:?}");
        assert_eq!(s.objects().count(), 1);
        assert!(
            s.problems()
                .iter()
                .any(|p| p.serving_previous && p.origin.starts_with("a.yaml:")),
            "{:?}",
            s.problems()
        );
        // a file that no longer parses keeps its objects
        let r = s.reconcile(load(&[("a.yaml", "kind: [")]), "default");
        assert!(!r.changed);
        assert_eq!(s.objects().count(), 1);
        // removed from the files: gone
        let r = s.reconcile(load(&[]), "default");
        assert!(r.changed);
        assert_eq!(s.objects().count(), 0);
    }
}
