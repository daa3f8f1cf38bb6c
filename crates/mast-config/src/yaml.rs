//! Multi-document YAML (and JSON, which is YAML) read into `serde_json::Value`s, keeping the
//! line of every node so that errors can name `file:line` and a field path.
//!
//! Scalars are resolved as Kubernetes' YAML reader resolves them (YAML 1.2 core schema plus the
//! YAML 1.1 booleans `yes`/`no`/`on`/`off` that go-yaml v2 still accepts).

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// One YAML document of a stream.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based line on which the document's content starts.
    pub line: usize,
    /// The content, or `Value::Null` for an empty document.
    pub value: Value,
    /// The line of each node, keyed by its JSON-pointer-like path (`/spec/http/0/route`).
    pub lines: Lines,
}

/// Line numbers of the nodes of one document, keyed by path (`""` is the root), with
/// whether the node is a scalar.
#[derive(Debug, Clone, Default)]
pub struct Lines(HashMap<String, (usize, bool)>);

impl Lines {
    /// The line of the node at `path`, or of its closest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some((l, _)) = self.0.get(p) {
                return Some(*l);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// The line of the scalar at exactly `path` (as Istio's field maps record only scalar
    /// values), or `None`.
    pub fn scalar_line_of(&self, path: &str) -> Option<usize> {
        self.0
            .get(path)
            .filter(|(_, scalar)| *scalar)
            .map(|(l, _)| *l)
    }

    /// Moves the lines of the subtree under `prefix` to a new table rooted there.
    pub fn subtree(&self, prefix: &str) -> Lines {
        Lines(
            self.0
                .iter()
                .filter_map(|(k, v)| {
                    if k == prefix {
                        Some((String::new(), *v))
                    } else {
                        k.strip_prefix(prefix)
                            .filter(|rest| rest.starts_with('/'))
                            .map(|rest| (rest.to_string(), *v))
                    }
                })
                .collect(),
        )
    }
}

/// A YAML syntax error at a position in the stream.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

enum Frame {
    Seq(Vec<Value>, String),
    Map(Map<String, Value>, String, Option<String>),
}

/// Parses every document of `text`. Empty documents (only comments, or `---` alone) are kept
/// as `Value::Null` so that callers can skip them.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    // anchor id of each open collection, to record it on close
    let mut open_anchors: Vec<usize> = Vec::new();
    let mut lines: HashMap<String, (usize, bool)> = HashMap::new();
    let mut doc_line = 1usize;
    let mut root: Option<Value> = None;

    for ev in Parser::new_from_str(text) {
        let (event, span) = ev.map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info(),
        })?;
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(..) => {
                doc_line = line;
                root = None;
                anchors.clear();
                lines = HashMap::new();
            }
            Event::DocumentEnd => {
                docs.push(Document {
                    line: doc_line,
                    value: root.take().unwrap_or(Value::Null),
                    lines: Lines(std::mem::take(&mut lines)),
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let v = resolve_scalar(&text, style, tag.as_deref().and_then(|t| t.core_suffix()));
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                if let Some(Frame::Map(_, _, key @ None)) = stack.last_mut() {
                    // a mapping key
                    *key = Some(scalar_key(&v));
                    continue;
                }
                push_value(&mut stack, &mut root, &mut lines, v, line);
            }
            Event::Alias(id) => {
                let v = anchors.get(&id).cloned().unwrap_or(Value::Null);
                if let Some(Frame::Map(_, _, key @ None)) = stack.last_mut() {
                    *key = Some(scalar_key(&v));
                    continue;
                }
                push_value(&mut stack, &mut root, &mut lines, v, line);
            }
            Event::SequenceStart(_, anchor, _) => {
                let path = child_path(&stack);
                lines.insert(path.clone(), (line, false));
                open_anchors.push(anchor);
                stack.push(Frame::Seq(Vec::new(), path));
            }
            Event::MappingStart(_, anchor, _) => {
                if let Some(Frame::Map(_, _, key @ None)) = stack.last_mut() {
                    // complex keys are not used by Kubernetes objects
                    *key = Some(String::from("<complex key>"));
                }
                let path = child_path(&stack);
                lines.insert(path.clone(), (line, false));
                open_anchors.push(anchor);
                stack.push(Frame::Map(Map::new(), path, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let v = match stack.pop() {
                    Some(Frame::Seq(items, _)) => Value::Array(items),
                    Some(Frame::Map(map, _, _)) => Value::Object(map),
                    None => Value::Null,
                };
                let anchor = open_anchors.pop().unwrap_or(0);
                if anchor != 0 {
                    anchors.insert(anchor, v.clone());
                }
                attach(&mut stack, &mut root, v);
            }
            _ => {}
        }
    }
    Ok(docs)
}

fn child_path(stack: &[Frame]) -> String {
    match stack.last() {
        None => String::new(),
        Some(Frame::Seq(items, p)) => format!("{p}/{}", items.len()),
        Some(Frame::Map(_, p, key)) => format!("{p}/{}", key.as_deref().unwrap_or("")),
    }
}

fn push_value(
    stack: &mut [Frame],
    root: &mut Option<Value>,
    lines: &mut HashMap<String, (usize, bool)>,
    v: Value,
    line: usize,
) {
    let scalar = !v.is_object() && !v.is_array();
    lines.insert(child_path(stack), (line, scalar));
    attach(stack, root, v);
}

fn attach(stack: &mut [Frame], root: &mut Option<Value>, v: Value) {
    match stack.last_mut() {
        None => *root = Some(v),
        Some(Frame::Seq(items, _)) => items.push(v),
        Some(Frame::Map(map, _, key)) => {
            let k = key.take().unwrap_or_default();
            if k == "<<" {
                // merge key: copy entries that are not already set
                if let Value::Object(src) = v {
                    for (k2, v2) in src {
                        map.entry(k2).or_insert(v2);
                    }
                }
            } else {
                map.insert(k, v);
            }
        }
    }
}

fn scalar_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Resolves a scalar to a JSON value as Kubernetes' YAML reader does.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if let Some(tag) = tag {
        match tag {
            "str" => return Value::String(text.to_string()),
            "int" | "float" | "bool" | "null" => {}
            _ => return Value::String(text.to_string()),
        }
    } else if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    if let Some(n) = parse_float(text).and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<Number> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(body, radix).ok()?;
    if neg {
        let v = i64::try_from(mag).ok()?;
        Some(Number::from(-v))
    } else {
        Some(Number::from(mag))
    }
}

fn parse_float(text: &str) -> Option<f64> {
    let t = text.trim_start_matches(['+', '-']);
    let first = t.chars().next()?;
    if !(first.is_ascii_digit() || first == '.') {
        return None;
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    text.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_values_and_lines() {
        let text = "# c\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels:\n    x: \"1\"\nspec:\n  ports:\n  - port: 80\n    name: http\n---\n---\nkind: Pod\nmetadata: {name: p, n: 0x10}\n";
        let docs = parse_stream(text).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].value["metadata"]["labels"]["x"], "1");
        assert_eq!(docs[0].value["spec"]["ports"][0]["port"], 80);
        assert_eq!(docs[0].lines.line_of("/spec/ports/0/name"), Some(11));
        assert_eq!(docs[0].lines.line_of("/spec/ports/0/port"), Some(10));
        assert_eq!(docs[0].lines.line_of("/kind"), Some(3));
        assert_eq!(docs[0].lines.scalar_line_of("/spec/ports/0/port"), Some(10));
        assert_eq!(docs[0].lines.scalar_line_of("/spec/ports"), None);
        assert!(docs[1].value.is_null());
        assert_eq!(docs[2].value["metadata"]["n"], 16);
        assert_eq!(docs[2].lines.line_of("/kind"), Some(14));
        assert_eq!(docs[2].lines.line_of("/metadata/name/deeper"), Some(15));
    }

    #[test]
    fn scalars_resolve_like_kubernetes() {
        let docs =
            parse_stream("a: yes\nb: '1'\nc: 1.5\nd: ~\ne: 1.2.3\nf: -3\ng: !!str 5\n").unwrap();
        let v = &docs[0].value;
        assert_eq!(v["a"], true);
        assert_eq!(v["b"], "1");
        assert_eq!(v["c"], 1.5);
        assert!(v["d"].is_null());
        assert_eq!(v["e"], "1.2.3");
        assert_eq!(v["f"], -3);
        assert_eq!(v["g"], "5");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let docs =
            parse_stream("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nlist: &l [1, 2]\ncopy: *l\n")
                .unwrap();
        let v = &docs[0].value;
        assert_eq!(v["other"]["x"], 1);
        assert_eq!(v["other"]["y"], 2);
        assert_eq!(v["copy"][1], 2);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_stream("a: b\n  c: d\n  - e\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
    }

    #[test]
    fn json_is_yaml() {
        let docs = parse_stream("{\"kind\": \"Pod\", \"spec\": {\"a\": [1, \"x\"]}}").unwrap();
        assert_eq!(docs[0].value["spec"]["a"][1], "x");
    }
}
