//! `mastctl analyze`: istioctl analyze over files.

use std::io::IsTerminal;

use anyhow::Result;
use mast_analyze::{Analyzer, Compat, Level, Mesh, Message, analyzers};
use mast_config::{Loaded, Resource, yaml};

use crate::cli::{AnalyzeArgs, Exit};
use crate::output::{self, Format};

/// One `--suppress CODE=RESOURCE` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    code: String,
    resource: String,
}

impl Suppression {
    /// Parses `CODE=Kind name.namespace` (or `Kind namespace/name`); `*` is a wildcard.
    pub fn parse(s: &str) -> Option<Suppression> {
        let (code, resource) = s.split_once('=')?;
        let code = code.trim();
        if code.is_empty() || resource.trim().is_empty() {
            return None;
        }
        Some(Suppression {
            code: code.to_string(),
            resource: resource.trim().to_string(),
        })
    }

    /// Whether the rule hides `m`.
    pub fn hides(&self, m: &Message) -> bool {
        if !glob(&self.code, m.kind.code) {
            return false;
        }
        match &m.resource {
            Some(r) => {
                glob(&self.resource, &r.friendly_name())
                    || glob(&self.resource, &r.friendly_name_1_5())
            }
            None => self.resource == "*",
        }
    }
}

/// Shell-style matching with `*` only.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(idx) => rest = &rest[idx + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn usage(msg: &str) -> Result<Exit> {
    eprintln!("Error: {msg}");
    Ok(Exit::Usage)
}

/// The default ingress gateway Istio's analysis assumes (a Pod and a Service).
fn default_ingress(mesh: &Mesh) -> Vec<Resource> {
    let ns = &mesh.istio_namespace;
    let svc = mesh.ingress_service();
    let mut ports = String::new();
    for (name, node, port) in [
        ("http2", 31380, 80),
        ("https", 31390, 443),
        ("tcp", 31400, 31400),
        ("tls", 31447, 15443),
    ] {
        ports.push_str(&format!(
            "  - name: {name}\n    nodePort: {node}\n    port: {port}\n    protocol: TCP\n    targetPort: {port}\n"
        ));
    }
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    istio: ingressgateway\n  name: {svc}-dummypod\n  namespace: {ns}\nspec:\n  containers:\n  - name: istio-proxy\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {svc}\n  namespace: {ns}\nspec:\n  ports:\n{ports}  selector:\n    istio: ingressgateway\n"
    );
    let mut l = Loaded::default();
    l.add_str("<default ingress gateway>", &text);
    l.resources
}

/// Runs `mastctl analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<Exit> {
    let compat = match args.compat.as_str() {
        "current" => Compat::Current,
        "1.5" => Compat::Istio1_5,
        other => return usage(&format!("invalid --compat {other:?}: use current or 1.5")),
    };
    let all = analyzers::all();
    if args.list_analyzers {
        println!("Available analyzers:");
        for a in &all {
            let only = if analyzers::ISTIO_1_5_ONLY.contains(&a.name()) {
                " (Istio 1.5; runs by default with --compat 1.5)"
            } else {
                ""
            };
            println!("* {}:{only}\n    {}", a.name(), a.description());
        }
        return Ok(Exit::Ok);
    }
    let defaults = analyzers::default_set(compat);
    let Some(format) = Format::parse(&args.output) else {
        return usage(&format!(
            "invalid output format {:?}: use one of log, json, yaml",
            args.output
        ));
    };
    let Some(output_threshold) = Level::parse(&args.output_threshold) else {
        return usage(&format!(
            "invalid --output-threshold {:?}: use one of Info, Warning, Error",
            args.output_threshold
        ));
    };
    let Some(failure_threshold) = Level::parse(&args.failure_threshold) else {
        return usage(&format!(
            "invalid --failure-threshold {:?}: use one of Info, Warning, Error",
            args.failure_threshold
        ));
    };
    let mut suppressions = Vec::new();
    for s in &args.suppress {
        match Suppression::parse(s) {
            Some(x) => suppressions.push(x),
            None => {
                return usage(&format!(
                    "invalid --suppress {s:?}: use CODE=RESOURCE, e.g. \"IST0102=Namespace frod\""
                ));
            }
        }
    }
    let selected: Vec<&dyn Analyzer> = if args.analyzer.is_empty() {
        defaults.iter().map(|a| a.as_ref()).collect()
    } else {
        let mut v = Vec::new();
        for name in &args.analyzer {
            match all.iter().find(|a| a.name() == name) {
                Some(a) => v.push(a.as_ref()),
                None => {
                    return usage(&format!(
                        "unknown analyzer {name:?} (see mastctl analyze -L)"
                    ));
                }
            }
        }
        v
    };
    if args.paths.is_empty() {
        return usage(
            "no files given: mastctl analyze reads files, directories or - (stdin); it does not read a live cluster",
        );
    }

    let mut mesh = Mesh::new(&args.istio_namespace);
    mesh.compat = compat;
    if let Some(f) = &args.mesh_config_file {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("Error: {}: {e}", f.display());
                return Ok(Exit::ParseError);
            }
        };
        match yaml::parse_stream(&text) {
            Ok(docs) => mesh.config = docs.into_iter().next().map(|d| d.value).unwrap_or_default(),
            Err(e) => {
                eprintln!(
                    "Error: {}:{}:{}: {}",
                    f.display(),
                    e.line,
                    e.column,
                    e.message
                );
                return Ok(Exit::ParseError);
            }
        }
    }

    let loaded = Loaded::from_paths(&args.paths);
    let mut fatal = false;
    for e in &loaded.errors {
        if e.is_parse_error() {
            eprintln!("Error: {e}");
            fatal = true;
        } else if args.ignore_unknown {
            eprintln!("Warning: {e} (ignored)");
        } else {
            eprintln!("Error: {e} (use --ignore-unknown to skip it)");
            fatal = true;
        }
    }
    if fatal {
        return Ok(Exit::ParseError);
    }
    if args.verbose {
        for f in &loaded.files {
            eprintln!("read {f}");
        }
        for a in &selected {
            eprintln!("analyzer {}", a.name());
        }
    }
    let mut resources: Vec<Resource> = loaded
        .resources
        .into_iter()
        .filter(|r| r.kind_info().is_some())
        .map(|mut r| {
            if r.meta.namespace.is_empty() && r.kind_info().is_some_and(|k| k.namespaced) {
                r.meta.namespace = args.namespace.clone();
            }
            r
        })
        .collect();
    if mesh.ingress_controller_mode() != "OFF" {
        resources.extend(default_ingress(&mesh));
    }
    let store = mast_analyze::analysis_store(resources);
    let msgs = mast_analyze::run(&selected, &store, &mesh);
    let msgs: Vec<Message> = msgs
        .into_iter()
        .filter(|m| !suppressions.iter().any(|s| s.hides(m)))
        .collect();
    let failing = msgs
        .iter()
        .filter(|m| m.kind.level >= failure_threshold)
        .count();
    let shown: Vec<&Message> = msgs
        .iter()
        .filter(|m| m.kind.level >= output_threshold)
        .collect();
    let target = format!("namespace: {}", args.namespace);
    let color = args.color && std::io::stdout().is_terminal();
    if format == Format::Log && shown.is_empty() {
        eprintln!("\u{2714} No validation issues found when analyzing {target}.");
    } else {
        print!("{}", output::render(&shown, format, color));
    }
    if failing > 0 {
        eprintln!(
            "Error: Analyzers found issues when analyzing {target}.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions."
        );
        return Ok(Exit::AnalyzerFoundIssues);
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything", true),
            ("Pod *.testing", "Pod foo.testing", true),
            ("Pod *.testing", "Pod foo.other", false),
            ("IST01*", "IST0103", true),
            ("Namespace frod", "Namespace frod", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn suppression_syntax() {
        assert!(Suppression::parse("IST0102=Namespace frod").is_some());
        assert!(Suppression::parse("IST0102").is_none());
        assert!(Suppression::parse("=Pod x").is_none());
    }
}
