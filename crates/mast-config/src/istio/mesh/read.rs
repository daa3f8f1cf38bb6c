//! Strict reading of mesh config and mesh networks documents: errors name the line and field.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::MeshConfig;
use crate::validate::pointer;
use crate::yaml;

/// An error reading a mesh config or mesh networks document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct MeshConfigError {
    /// 1-based line of the field (or of the document).
    pub line: usize,
    /// Dotted path of the field (`defaultConfig.drainDuration`), empty for the document.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl MeshConfig {
    /// Reads a mesh config document exactly as written (no defaults): unknown fields, values of
    /// the wrong type and unknown enum names are errors naming the line and field.
    pub fn from_yaml(text: &str) -> Result<MeshConfig, MeshConfigError> {
        parse_strict(text).map(|(v, _)| v)
    }

    /// The config as JSON with protobuf JSON field names (unset optional fields left out).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Reads the first non-empty document of `text` strictly into `T`; returns it and the document
/// as JSON (with `null` members removed).
pub(super) fn parse_strict<T: DeserializeOwned + Default>(
    text: &str,
) -> Result<(T, Value), MeshConfigError> {
    let docs = yaml::parse_stream(text).map_err(|e| MeshConfigError {
        line: e.line,
        field: String::new(),
        message: e.message,
    })?;
    let Some(doc) = docs.into_iter().find(|d| !d.value.is_null()) else {
        return Ok((T::default(), Value::Object(Map::new())));
    };
    if !doc.value.is_object() {
        return Err(MeshConfigError {
            line: doc.line,
            field: String::new(),
            message: "the document must be a mapping".into(),
        });
    }
    let mut value = doc.value;
    crate::istio::decode::strip_nulls(&mut value);
    match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(v) => Ok((v, value)),
        Err(e) => {
            let field = e.path().to_string();
            let line = doc.lines.line_of(&pointer(&field)).unwrap_or(doc.line);
            Err(MeshConfigError {
                line,
                field,
                message: e.into_inner().to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::istio::mesh::TlsProtocol;

    #[test]
    fn strict_reading_names_line_and_field() {
        let text = "enableAutoMtls: true\ndefaultConfig:\n  drainDuration: 45s\n  bogus: 1\n";
        let e = MeshConfig::from_yaml(text).unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (4, "defaultConfig.bogus"),
            "{e}"
        );
        let e = MeshConfig::from_yaml("outboundTrafficPolicy:\n  mode: SOMETIMES\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_str()),
            (2, "outboundTrafficPolicy.mode"),
            "{e}"
        );
        let e = MeshConfig::from_yaml("connectTimeout: 10\n").unwrap_err();
        assert_eq!(e.field, "connectTimeout", "{e}");
        let m = MeshConfig::from_yaml("default_config:\n  proxy_admin_port: 15001\nmesh_mTLS:\n  minProtocolVersion: TLSV1_3\n").unwrap();
        assert_eq!(m.default_config.unwrap().proxy_admin_port, 15001);
        assert_eq!(
            m.mesh_mtls.unwrap().min_protocol_version,
            TlsProtocol::Tlsv13
        );
        assert_eq!(MeshConfig::from_yaml("").unwrap(), MeshConfig::default());
    }
}
