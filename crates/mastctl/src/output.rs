//! Printing analysis messages as istioctl does: log lines, JSON or YAML with the keys
//! `code`, `documentationUrl`, `level`, `message`, `origin`, `reference`.

use mast_analyze::{Level, Message};
use serde_json::{Map, Value};

/// The output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line a message.
    Log,
    /// A JSON array.
    Json,
    /// A YAML list.
    Yaml,
}

impl Format {
    /// Parses `log`, `json` or `yaml`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "log" => Some(Format::Log),
            "json" => Some(Format::Json),
            "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// istioctl's structured form of one message, keys in Go's (sorted) order.
pub fn structured(m: &Message) -> Value {
    let mut o = Map::new();
    o.insert("code".into(), m.kind.code.into());
    o.insert("documentationUrl".into(), m.documentation_url().into());
    o.insert("level".into(), m.kind.level.as_str().into());
    o.insert("message".into(), m.text().into());
    if let Some(r) = &m.resource {
        o.insert("origin".into(), r.friendly_name().into());
        o.insert("reference".into(), r.reference.clone().into());
    }
    Value::Object(o)
}

/// One log line (`Message::log_line`), with the level coloured when `color` is set.
pub fn log_line(m: &Message, color: bool) -> String {
    let line = m.log_line();
    if !color {
        return line;
    }
    let c = match m.kind.level {
        Level::Error => "31",
        Level::Warning => "33",
        Level::Info => "36",
    };
    let level = m.kind.level.as_str();
    format!("\x1b[{c}m{level}\x1b[0m{}", &line[level.len()..])
}

/// Renders the messages in `format`.
pub fn render(msgs: &[&Message], format: Format, color: bool) -> String {
    match format {
        Format::Log => msgs.iter().map(|m| log_line(m, color) + "\n").collect(),
        Format::Json => {
            let list = Value::Array(msgs.iter().map(|m| structured(m)).collect());
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&list, &mut ser).expect("JSON of strings");
            String::from_utf8(buf).expect("UTF-8") + "\n"
        }
        Format::Yaml => {
            if msgs.is_empty() {
                return "[]\n".into();
            }
            let mut out = String::new();
            for m in msgs {
                let Value::Object(o) = structured(m) else {
                    continue;
                };
                let mut first = true;
                for (k, v) in o {
                    let prefix = if first { "- " } else { "  " };
                    first = false;
                    out.push_str(&format!(
                        "{prefix}{k}: {}\n",
                        yaml_scalar(v.as_str().unwrap_or_default())
                    ));
                }
            }
            out
        }
    }
}

/// A YAML scalar for `s`: plain when that reads back as the same string, else double-quoted.
fn yaml_scalar(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && !s.starts_with(|c: char| "!&*-?{}[]|>'\"%@`#,: ".contains(c))
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\n')
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars() {
        let cases = [
            ("IST0101", "IST0101"),
            ("Error", "Error"),
            (
                "Referenced host not found: \"a\"",
                "\"Referenced host not found: \\\"a\\\"\"",
            ),
            ("a.yaml:3", "a.yaml:3"),
            ("80", "\"80\""),
            ("", "\"\""),
        ];
        for (s, want) in cases {
            assert_eq!(yaml_scalar(s), want, "{s}");
        }
    }
}
