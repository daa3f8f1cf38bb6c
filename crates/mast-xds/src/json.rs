//! Envoy protos as JSON (proto3 JSON mapping), for config dumps: `Any`s are expanded using the
//! descriptor set `envoy-types` ships.

use std::sync::OnceLock;

use envoy_types::pb::google::protobuf::Any;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Value, json};

#[cfg(envoy_descriptors)]
static DESCRIPTORS: &[u8] = include_bytes!(env!("MAST_ENVOY_DESCRIPTORS"));
#[cfg(not(envoy_descriptors))]
static DESCRIPTORS: &[u8] = &[];

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTORS).ok())
        .as_ref()
}

/// The JSON form of a packed resource, with `@type` as in Envoy's config dumps.
pub fn any_to_json(any: &Any) -> Value {
    let fallback = || json!({"@type": any.type_url, "bytes": any.value.len()});
    let Some(pool) = pool() else {
        return fallback();
    };
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let Some(desc) = pool.get_message_by_name(name) else {
        return fallback();
    };
    let Ok(msg) = DynamicMessage::decode(desc, any.value.as_slice()) else {
        return fallback();
    };
    let opts = SerializeOptions::new().skip_default_fields(true);
    match msg.serialize_with_options(serde_json::value::Serializer, &opts) {
        Ok(Value::Object(mut o)) => {
            let mut out = serde_json::Map::new();
            out.insert("@type".into(), any.type_url.clone().into());
            out.append(&mut o);
            Value::Object(out)
        }
        _ => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    use envoy_types::util::pack_any;

    #[test]
    fn cluster_as_json() {
        let c = Cluster {
            name: "outbound|9080||reviews.default.svc.cluster.local".into(),
            ..Default::default()
        };
        let j = any_to_json(&pack_any(c));
        assert_eq!(
            j["@type"],
            "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        );
        assert_eq!(
            j["name"], "outbound|9080||reviews.default.svc.cluster.local",
            "{j}"
        );
    }
}
