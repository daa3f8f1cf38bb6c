//! Validation with Istio's rules: strict decoding into the typed model (unknown fields are
//! errors) followed by the semantic checks of each kind. Every finding names the field path
//! (`spec.http[0].route[1].weight`) and, through the object's line table, its line.

use std::fmt;

use crate::kinds::{Family, lookup};
use crate::resource::Resource;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Accepted, but probably not what was meant (Istio's validation warnings).
    Warning,
    /// Rejected.
    Error,
}

/// One finding about one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Field path from the object's root, dotted with indexes: `spec.http[0].route`.
    pub path: String,
    /// What is wrong, in Istio's words where Istio has words for it.
    pub message: String,
    /// For warnings that `istioctl analyze` reports under their own IST message name
    /// (e.g. `VirtualServiceUnreachableRule`), that name.
    pub analyzer_message: Option<&'static str>,
    /// The arguments of that IST message's template (e.g. the rule and match numbers).
    pub analyzer_args: Vec<String>,
    /// Whether the error is a field the schema does not have. Such fields are errors for
    /// `mastctl validate`, `analyze` and mastd (strict, as istioctl), while a Kubernetes API
    /// server would prune them from a CRD object and accept it.
    pub unknown_field: bool,
}

/// Collects findings while a spec is checked. Paths given to it are relative to the object
/// root (start them with `spec`).
#[derive(Debug, Default)]
pub struct Findings {
    list: Vec<Finding>,
}

impl Findings {
    /// An error at `path`.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(Finding {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            analyzer_message: None,
            analyzer_args: Vec::new(),
            unknown_field: false,
        });
    }

    /// A warning at `path`.
    pub fn warning(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
            analyzer_message: None,
            analyzer_args: Vec::new(),
            unknown_field: false,
        });
    }

    /// A warning that `istioctl analyze` reports as the IST message named `name`.
    pub fn analyzer_warning(
        &mut self,
        name: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
            analyzer_message: Some(name),
            analyzer_args: Vec::new(),
            unknown_field: false,
        });
    }

    /// A warning reported by `istioctl analyze` as the IST message `name`, with that
    /// message's template arguments (`VirtualServiceUnreachableRule`: rule, reason;
    /// `VirtualServiceIneffectiveMatch`: rule, match, duplicate).
    pub fn analyzer_warning_args(
        &mut self,
        name: &'static str,
        args: Vec<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(Finding {
            severity: Severity::Warning,
            path: path.into(),
            message: message.into(),
            analyzer_message: Some(name),
            analyzer_args: args,
            unknown_field: false,
        });
    }

    /// An unknown field `name` at `path` (an error, flagged as such).
    pub fn unknown_field(&mut self, path: impl Into<String>, name: &str) {
        self.list.push(Finding {
            severity: Severity::Error,
            path: path.into(),
            message: format!("unknown field {name:?}"),
            analyzer_message: None,
            analyzer_args: Vec::new(),
            unknown_field: true,
        });
    }

    /// The errors as `path: message` lines.
    pub fn error_lines(&self) -> Vec<String> {
        self.list
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    }

    /// Whether any error was found.
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings.
    pub fn into_vec(self) -> Vec<Finding> {
        self.list
    }

    /// The findings so far.
    pub fn as_slice(&self) -> &[Finding] {
        &self.list
    }
}

/// For table tests: `want` is `None` for no error, or a text one error line must contain.
#[cfg(test)]
pub(crate) fn expect_errors(case: &str, errs: &[String], want: Option<&str>) {
    match want {
        None => assert!(errs.is_empty(), "{case}: {errs:?}"),
        Some(w) => assert!(
            errs.iter().any(|e| e.contains(w)),
            "{case}: want {w:?} in {errs:?}"
        ),
    }
}

/// Turns a dotted field path (`spec.http[0].route`) into the JSON pointer the line table uses
/// (`/spec/http/0/route`).
pub fn pointer(path: &str) -> String {
    let mut out = String::new();
    let mut chars = path.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '.' => at_start = true,
            '[' => {
                // an index or a quoted key; keys may contain dots
                let mut key = String::new();
                let quoted = chars.peek() == Some(&'"');
                if quoted {
                    chars.next();
                }
                while let Some(k) = chars.next() {
                    if quoted && k == '"' {
                        if chars.peek() == Some(&']') {
                            chars.next();
                            break;
                        }
                    } else if !quoted && k == ']' {
                        break;
                    }
                    key.push(k);
                }
                out.push('/');
                out.push_str(&key);
                at_start = false;
            }
            c => {
                if at_start {
                    out.push('/');
                    at_start = false;
                }
                out.push(c);
            }
        }
    }
    out
}

/// A finding placed in its file: what `mastctl validate` and the webhook print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The file.
    pub file: String,
    /// The line of the field (or of the object).
    pub line: usize,
    /// `Kind namespace/name`.
    pub object: String,
    /// The finding.
    pub finding: Finding,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.finding.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}: {sev}{}: {}: {}",
            self.file, self.line, self.object, self.finding.path, self.finding.message
        )
    }
}

impl std::error::Error for ValidationError {}

/// The switches of validation that Istio has as feature flags, with Istio's current defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE` (default true since Istio 1.6): a VirtualService
    /// without hosts is a delegate. Istio 1.5 had no delegates and required hosts.
    pub virtual_service_delegate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            virtual_service_delegate: true,
        }
    }
}

/// Validates one object with Istio's current defaults: metadata, apiVersion, then the kind's
/// own rules (Kubernetes kinds: their typed form; Gateway API kinds: metadata only).
pub fn validate(r: &Resource) -> Vec<ValidationError> {
    validate_with(r, &Options::default())
}

/// [`validate`] with explicit [`Options`].
pub fn validate_with(r: &Resource, options: &Options) -> Vec<ValidationError> {
    let mut out = Findings::default();
    check_object(r, options, &mut out);
    let object = format!("{} {}", r.gvk.kind, r.namespaced_name());
    out.into_vec()
        .into_iter()
        .map(|finding| ValidationError {
            file: r.origin.file.to_string(),
            line: r.line_of(&pointer(&finding.path)),
            object: object.clone(),
            finding,
        })
        .collect()
}

fn check_object(r: &Resource, options: &Options, out: &mut Findings) {
    let Some(info) = lookup(&r.gvk.group, &r.gvk.kind) else {
        out.error(
            "kind",
            format!(
                "unknown kind {} in apiVersion {}",
                r.gvk.kind,
                r.gvk.api_version()
            ),
        );
        return;
    };
    if !info.versions.contains(&r.gvk.version.as_str()) && info.family != Family::Mixer {
        out.error(
            "apiVersion",
            format!(
                "{} is not served for {} (served: {})",
                r.gvk.api_version(),
                r.gvk.kind,
                info.versions.join(", ")
            ),
        );
        return;
    }
    crate::meta::check(r, out);
    if info.family == Family::Kubernetes {
        crate::kube::check(r, out);
    }
    if matches!(info.family, Family::Istio | Family::IstioLegacy) {
        crate::istio::validate_spec(
            &r.gvk.group,
            &r.gvk.kind,
            &r.gvk.version,
            &r.meta,
            options,
            r.spec(),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_service_delegates_follow_the_option() {
        let mut l = crate::loader::Loaded::default();
        l.add_str(
            "vs.yaml",
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: d\n  namespace: default\nspec:\n  http:\n  - route:\n    - destination:\n        host: reviews\n",
        );
        let r = &l.resources[0];
        assert!(
            validate(r).is_empty(),
            "a hostless VirtualService is a delegate by default"
        );
        let no_delegates = Options {
            virtual_service_delegate: false,
        };
        let errs = validate_with(r, &no_delegates);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].finding.path, "spec.hosts");
        assert_eq!(
            errs[0].finding.message,
            "virtual service must have at least one host"
        );
    }

    #[test]
    fn pointers() {
        let cases = [
            (
                "spec.http[0].route[1].weight",
                "/spec/http/0/route/1/weight",
            ),
            ("spec", "/spec"),
            ("metadata.labels[\"a/b\"]", "/metadata/labels/a/b"),
            (
                "metadata.labels[\"app.kubernetes.io/name\"]",
                "/metadata/labels/app.kubernetes.io/name",
            ),
            (
                "spec.selector.matchLabels.app",
                "/spec/selector/matchLabels/app",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(pointer(p), want, "{p}");
        }
    }
}
