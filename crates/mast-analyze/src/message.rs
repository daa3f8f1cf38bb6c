//! Analysis messages: their types (code, name, level, template), their arguments and how they
//! are rendered.

use std::fmt;

use mast_config::Resource;

/// How serious a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Informational.
    Info,
    /// Likely a problem.
    Warning,
    /// Certainly a problem.
    Error,
}

impl Level {
    /// The name istioctl prints (`Info`, `Warning`, `Error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "Info",
            Level::Warning => "Warning",
            Level::Error => "Error",
        }
    }

    /// Parses a level name, case-insensitively, as istioctl's threshold flags take it.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of message, from the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageType {
    /// `IST0101`.
    pub code: &'static str,
    /// `ReferencedResourceNotFound`.
    pub name: &'static str,
    /// Default level.
    pub level: Level,
    /// Go `fmt` template.
    pub template: &'static str,
}

/// One argument of a message template.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string (`%s`, `%q`, `%v`).
    Str(String),
    /// An integer (`%d`, `%v`).
    Int(i64),
    /// A boolean (`%t`, `%v`).
    Bool(bool),
    /// A list, printed as Go prints a slice with `%v` (`[a b]`).
    List(Vec<String>),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Str(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Str(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg::Str(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg::Int(n)
    }
}
impl From<u32> for Arg {
    fn from(n: u32) -> Arg {
        Arg::Int(n.into())
    }
}
impl From<usize> for Arg {
    fn from(n: usize) -> Arg {
        Arg::Int(n as i64)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Arg {
        Arg::Bool(b)
    }
}
impl From<Vec<String>> for Arg {
    fn from(v: Vec<String>) -> Arg {
        Arg::List(v)
    }
}

impl Arg {
    fn plain(&self) -> String {
        match self {
            Arg::Str(s) => s.clone(),
            Arg::Int(n) => n.to_string(),
            Arg::Bool(b) => b.to_string(),
            Arg::List(v) => format!("[{}]", v.join(" ")),
        }
    }
}

/// Quotes a string as Go's `%q` does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a Go `fmt` template with `%s %v %d %q %t %%`.
pub fn render(template: &str, args: &[Arg]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut it = args.iter();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push('%');
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match it.next() {
            Some(a) => match (verb, a) {
                ('q', Arg::Str(s)) => out.push_str(&go_quote(s)),
                ('q', Arg::List(v)) => {
                    let q: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
                    out.push_str(&format!("[{}]", q.join(" ")));
                }
                _ => out.push_str(&a.plain()),
            },
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    out
}

/// The object a message is about, as istioctl names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (empty when none).
    pub namespace: String,
    /// `file:line` of the object, or of the field the message is about.
    pub reference: String,
}

impl ResourceRef {
    /// Refers to `r`, pointing at the field `path` when it is given and found.
    pub fn new(r: &Resource, path: Option<&str>) -> ResourceRef {
        let line = match path {
            Some(p) => r.scalar_line_of(p),
            None => r.origin.line,
        };
        ResourceRef {
            kind: r.gvk.kind.clone(),
            name: r.meta.name.clone(),
            namespace: r.meta.namespace.clone(),
            reference: format!("{}:{}", r.origin.file, line),
        }
    }

    /// Current Istio's name: `Kind namespace/name`, or `Kind name`.
    pub fn friendly_name(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// Istio 1.5's name: `Kind name.namespace`, or `Kind name`.
    pub fn friendly_name_1_5(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}.{}", self.kind, self.name, self.namespace)
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// What kind of finding.
    pub kind: MessageType,
    /// The template's arguments.
    pub args: Vec<Arg>,
    /// The object it is about, if any.
    pub resource: Option<ResourceRef>,
}

impl Message {
    /// The rendered text.
    pub fn text(&self) -> String {
        render(self.kind.template, &self.args)
    }

    /// istioctl's documentation link for the code.
    pub fn documentation_url(&self) -> String {
        format!(
            "https://istio.io/latest/docs/reference/config/analysis/{}/",
            self.kind.code.to_ascii_lowercase()
        )
    }

    /// istioctl's log line (Go's `Message.String()`):
    /// `Error [IST0101] (VirtualService default/r file.yaml:3) Referenced ...`.
    pub fn log_line(&self) -> String {
        match &self.resource {
            Some(r) => format!(
                "{} [{}] ({} {}) {}",
                self.kind.level,
                self.kind.code,
                r.friendly_name(),
                r.reference,
                self.text()
            ),
            None => format!("{} [{}] {}", self.kind.level, self.kind.code, self.text()),
        }
    }
}

/// Sorts messages as Istio does (errors first, then code, then origin, then text) and drops
/// exact duplicates (same log line), as `SortedDedupedCopy` does.
pub fn sorted_deduped(mut msgs: Vec<Message>) -> Vec<Message> {
    msgs.sort_by_cached_key(|m| {
        (
            std::cmp::Reverse(m.kind.level),
            m.kind.code,
            m.resource.is_some(),
            m.resource
                .as_ref()
                .map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone())),
            m.log_line(),
        )
    });
    msgs.dedup_by(|a, b| a.log_line() == b.log_line());
    msgs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_go_verbs() {
        let cases: &[(&str, Vec<Arg>, &str)] = &[
            (
                "Referenced %s not found: %q",
                vec!["host".into(), "a.b".into()],
                "Referenced host not found: \"a.b\"",
            ),
            (
                "port %d uses %v",
                vec![80i64.into(), vec!["a".to_string(), "b".to_string()].into()],
                "port 80 uses [a b]",
            ),
            (
                "mTLS must be %t at 100%%",
                vec![true.into()],
                "mTLS must be true at 100%",
            ),
            ("missing %s", vec![], "missing %!s(MISSING)"),
        ];
        for (t, a, want) in cases {
            assert_eq!(render(t, a), *want);
        }
    }
}
