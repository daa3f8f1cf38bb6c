//! `udpa.type.v1.TypedStruct`: an extension config given as a `google.protobuf.Struct` for a
//! type the sender has no schema for. Istio configures its own filters this way
//! (`istio.metadata_exchange`, `istio.stats`), and so does mastd.

use envoy_types::pb::google::protobuf::{Any, Struct};
use serde_json::{Map, Value};

use crate::structs::{json_to_struct, struct_to_json};

/// The type URL of [`TypedStruct`].
pub const TYPE_URL: &str = "type.googleapis.com/udpa.type.v1.TypedStruct";
/// The newer name of the same message, which Envoy accepts as well.
pub const XDS_TYPE_URL: &str = "type.googleapis.com/xds.type.v3.TypedStruct";

/// `udpa.type.v1.TypedStruct` (field for field the same as `xds.type.v3.TypedStruct`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedStruct {
    /// The config's type URL.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The config.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Struct>,
}

impl prost::Name for TypedStruct {
    const NAME: &'static str = "TypedStruct";
    const PACKAGE: &'static str = "udpa.type.v1";

    fn type_url() -> String {
        TYPE_URL.into()
    }
}

impl TypedStruct {
    /// A typed struct of `type_url` holding `value` (a JSON object; anything else is empty).
    pub fn new(type_url: &str, value: Value) -> TypedStruct {
        let value = match value {
            Value::Object(o) => json_to_struct(&o),
            _ => Struct::default(),
        };
        TypedStruct {
            type_url: type_url.into(),
            value: Some(value),
        }
    }

    /// Packs it into an `Any`.
    pub fn to_any(&self) -> Any {
        Any {
            type_url: TYPE_URL.into(),
            value: prost::Message::encode_to_vec(self),
        }
    }

    /// Reads a typed struct out of an `Any` of either type URL; `None` for other types.
    pub fn from_any(any: &Any) -> Option<Result<TypedStruct, prost::DecodeError>> {
        if any.type_url != TYPE_URL && any.type_url != XDS_TYPE_URL {
            return None;
        }
        Some(prost::Message::decode(any.value.as_slice()))
    }

    /// The inner type's name (the type URL after its last `/`).
    pub fn inner_type(&self) -> &str {
        self.type_url.rsplit('/').next().unwrap_or_default()
    }

    /// The value as a JSON object.
    pub fn json(&self) -> Map<String, Value> {
        self.value.as_ref().map(struct_to_json).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_through_any() {
        let ts = TypedStruct::new(
            "type.googleapis.com/stats.PluginConfig",
            json!({"reporter": "SERVER_GATEWAY"}),
        );
        let any = ts.to_any();
        assert_eq!(any.type_url, TYPE_URL);
        let back = TypedStruct::from_any(&any).unwrap().unwrap();
        assert_eq!(back.inner_type(), "stats.PluginConfig");
        assert_eq!(back.json()["reporter"], "SERVER_GATEWAY");
        let other = Any {
            type_url: "type.googleapis.com/google.protobuf.Struct".into(),
            value: vec![],
        };
        assert!(TypedStruct::from_any(&other).is_none());
    }
}
