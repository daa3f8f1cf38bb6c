//! Decoding specs into the typed model, with Istio's reading rules and errors that name the
//! field.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::validate::Findings;

/// Decodes a spec: a missing spec is empty, fields set to `null` are unset (as the API server
/// prunes them), every unknown field is an error (flagged as such, see
/// [`Finding::unknown_field`](crate::validate::Finding::unknown_field)) and decoding goes on
/// without it so that all of them are reported; a type error stops decoding at its field.
pub fn decode_spec<T: DeserializeOwned>(spec: &Value, out: &mut Findings) -> Option<T> {
    decode_at(spec, "spec", out)
}

/// [`decode_spec`] for a value found at `root` (a dotted field path).
pub fn decode_at<T: DeserializeOwned>(value: &Value, root: &str, out: &mut Findings) -> Option<T> {
    let mut value = match value {
        Value::Null => Value::Object(serde_json::Map::new()),
        v @ Value::Object(_) => v.clone(),
        other => {
            out.error(
                root,
                format!("must be an object, found {}", json_type(other)),
            );
            return None;
        }
    };
    strip_nulls(&mut value);
    for _ in 0..1000 {
        match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(v) => return Some(v),
            Err(e) => {
                let segments: Vec<serde_path_to_error::Segment> =
                    e.path().iter().cloned().collect();
                let field = join_path(root, &e.path().to_string());
                let msg = e.into_inner().to_string();
                if let Some(name) = unknown_field_name(&msg)
                    && remove_at(&mut value, &segments)
                {
                    out.unknown_field(field, name);
                    continue;
                }
                out.error(field, kubernetes_style(&msg));
                return None;
            }
        }
    }
    None
}

fn join_path(root: &str, inner: &str) -> String {
    if inner == "." || inner.is_empty() {
        root.to_string()
    } else if inner.starts_with('[') {
        format!("{root}{inner}")
    } else {
        format!("{root}.{inner}")
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Removes object members whose value is `null`, at any depth (list items stay).
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn unknown_field_name(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Removes the member at `path` (the last segment is the member's key).
fn remove_at(v: &mut Value, path: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = v;
    for seg in parents {
        cur = match (seg, cur) {
            (Segment::Seq { index }, Value::Array(a)) => match a.get_mut(*index) {
                Some(x) => x,
                None => return false,
            },
            (Segment::Map { key }, Value::Object(m)) => match m.get_mut(key) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Segment::Map { key }, Value::Object(m)) => m.shift_remove(key).is_some(),
        _ => false,
    }
}

/// Rewrites serde's enum message into the API server's wording.
fn kubernetes_style(msg: &str) -> String {
    let Some(rest) = msg.strip_prefix("unknown variant `") else {
        return msg.to_string();
    };
    let Some((value, expected)) = rest.split_once("`, expected ") else {
        return msg.to_string();
    };
    let supported: Vec<String> = expected
        .trim_start_matches("one of ")
        .replace(" or ", ", ")
        .split(", ")
        .map(|s| format!("\"{}\"", s.trim_matches('`')))
        .collect();
    format!(
        "Unsupported value: \"{value}\": supported values: {}",
        supported.join(", ")
    )
}
