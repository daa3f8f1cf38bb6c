//! Envoy protos as JSON (proto3 JSON mapping), for config dumps: `Any`s are expanded using the
//! descriptor set `envoy-types` ships.

use std::sync::OnceLock;

use envoy_types::pb::google::protobuf::Any;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions, prost_types};
use serde_json::{Value, json};

#[cfg(envoy_descriptors)]
static DESCRIPTORS: &[u8] = include_bytes!(env!("MAST_ENVOY_DESCRIPTORS"));
#[cfg(not(envoy_descriptors))]
static DESCRIPTORS: &[u8] = &[];

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = DescriptorPool::decode(DESCRIPTORS).ok()?;
        for (package, file) in [
            ("udpa.type.v1", "udpa/type/v1/typed_struct.proto"),
            ("xds.type.v3", "xds/type/v3/typed_struct.proto"),
        ] {
            if pool
                .get_message_by_name(&format!("{package}.TypedStruct"))
                .is_none()
            {
                // best effort: without it, resources holding a TypedStruct dump as their size
                let _ = pool.add_file_descriptor_proto(typed_struct_file(package, file));
            }
        }
        Some(pool)
    })
    .as_ref()
}

/// The descriptor of `TypedStruct` (`type_url = 1`, `value = 2`), which the set `envoy-types`
/// ships lacks although Envoy's own protos (and Istio's filter configs) use it.
fn typed_struct_file(package: &str, file: &str) -> prost_types::FileDescriptorProto {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
    let field = |name: &str, json: &str, number: i32, ty: Type, type_name: Option<&str>| {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(str::to_string),
            json_name: Some(json.into()),
            ..Default::default()
        }
    };
    FileDescriptorProto {
        name: Some(file.into()),
        package: Some(package.into()),
        dependency: vec!["google/protobuf/struct.proto".into()],
        message_type: vec![DescriptorProto {
            name: Some("TypedStruct".into()),
            field: vec![
                field("type_url", "typeUrl", 1, Type::String, None),
                field(
                    "value",
                    "value",
                    2,
                    Type::Message,
                    Some(".google.protobuf.Struct"),
                ),
            ],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    }
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
    fn typed_struct_inside_a_resource_as_json() {
        use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
            HttpConnectionManager, HttpFilter, http_filter::ConfigType,
        };
        let ts = crate::typed_struct::TypedStruct::new(
            "type.googleapis.com/stats.PluginConfig",
            json!({"disable_host_header_fallback": true}),
        );
        let hcm = HttpConnectionManager {
            stat_prefix: "inbound_0.0.0.0_9080".into(),
            http_filters: vec![HttpFilter {
                name: "istio.stats".into(),
                config_type: Some(ConfigType::TypedConfig(ts.to_any())),
                ..Default::default()
            }],
            ..Default::default()
        };
        let j = any_to_json(&pack_any(hcm));
        if j.get("bytes").is_some() {
            // built without the envoy-types descriptor set: nothing to check
            return;
        }
        let tc = &j["httpFilters"][0]["typedConfig"];
        assert_eq!(tc["@type"], crate::typed_struct::TYPE_URL, "{j}");
        assert_eq!(
            tc["typeUrl"], "type.googleapis.com/stats.PluginConfig",
            "{j}"
        );
        assert_eq!(tc["value"]["disable_host_header_fallback"], true, "{j}");
    }

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
