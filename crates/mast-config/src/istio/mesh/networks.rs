//! `MeshNetworks`: the networks of a multi-network mesh, read strictly and checked with Istio's
//! `ValidateMeshNetworks`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::MeshConfigError;
use super::read::parse_strict;
use crate::istio::common::{
    is_dns1123_label, is_ip, validate_fqdn, validate_ip_subnet, validate_port,
};
use crate::validate::Findings;

/// The networks of a multi-network mesh (`mesh/v1alpha1` `MeshNetworks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshNetworks {
    /// Networks by name.
    #[serde(rename = "networks")]
    pub networks: BTreeMap<String, Network>,
}

/// A network: which endpoints are in it and how to reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// How endpoints are assigned to the network.
    #[serde(rename = "endpoints")]
    pub endpoints: Vec<NetworkEndpoints>,
    /// Gateways into the network.
    #[serde(rename = "gateways")]
    pub gateways: Vec<NetworkGateway>,
}

/// Endpoints of a network (a `oneof` of `fromCidr` and `fromRegistry`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkEndpoints {
    /// Endpoints in a CIDR range.
    #[serde(
        rename = "fromCidr",
        alias = "from_cidr",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_cidr: Option<String>,
    /// Endpoints of a registry (cluster).
    #[serde(
        rename = "fromRegistry",
        alias = "from_registry",
        skip_serializing_if = "Option::is_none"
    )]
    pub from_registry: Option<String>,
}

/// A gateway into a network (address a `oneof` of `registryServiceName` and `address`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkGateway {
    /// Service of the gateway.
    #[serde(
        rename = "registryServiceName",
        alias = "registry_service_name",
        skip_serializing_if = "Option::is_none"
    )]
    pub registry_service_name: Option<String>,
    /// Address of the gateway.
    #[serde(rename = "address", skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Locality.
    #[serde(rename = "locality")]
    pub locality: String,
}

impl MeshNetworks {
    /// Reads a mesh networks document strictly (errors name the line and field).
    pub fn from_yaml(text: &str) -> Result<MeshNetworks, MeshConfigError> {
        parse_strict(text).map(|(v, _)| v)
    }

    /// Istio's `ValidateMeshNetworks`.
    pub fn validate(&self, out: &mut Findings) {
        for (name, network) in &self.networks {
            let at = format!("networks.{name}");
            for (i, e) in network.endpoints.iter().enumerate() {
                let p = format!("{at}.endpoints[{i}]");
                if e.from_cidr.is_some() && e.from_registry.is_some() {
                    out.error(&p, "only one of fromCidr or fromRegistry may be set");
                }
                if let Some(c) = &e.from_cidr {
                    if let Err(err) = validate_ip_subnet(c) {
                        out.error(
                            format!("{p}.fromCidr"),
                            format!("invalid network {name}: {err}"),
                        );
                    }
                } else if let Some(r) = &e.from_registry
                    && !is_dns1123_label(r)
                {
                    out.error(
                        format!("{p}.fromRegistry"),
                        format!("invalid network {name}: invalid registry name: {r}"),
                    );
                }
            }
            for (i, g) in network.gateways.iter().enumerate() {
                let p = format!("{at}.gateways[{i}]");
                if g.registry_service_name.is_some() && g.address.is_some() {
                    out.error(&p, "only one of registryServiceName or address may be set");
                }
                if let Some(svc) = &g.registry_service_name {
                    if let Err(err) = validate_fqdn(svc) {
                        out.error(
                            format!("{p}.registryServiceName"),
                            format!("invalid network {name}: {err}"),
                        );
                    }
                } else if let Some(a) = &g.address
                    && !is_ip(a)
                {
                    out.error(
                            format!("{p}.address"),
                            format!("invalid network {name}: {a} is not a valid IP (hostname is allowed if RESOLVE_HOSTNAME_GATEWAYS is enabled)"),
                        );
                }
                if let Err(err) = validate_port(i64::from(g.port)) {
                    out.error(
                        format!("{p}.port"),
                        format!("invalid network {name}: {err}"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_networks() {
        let text = "networks:\n  network1:\n    endpoints:\n    - fromRegistry: kubernetes\n    gateways:\n    - port: 443\n      registry_service_name: istio-ingressgateway.istio-system.svc.cluster.local\n  network2:\n    endpoints:\n    - fromCidr: 10.0.0.0/33\n    gateways:\n    - address: not-an-ip\n      port: 0\n";
        let n = MeshNetworks::from_yaml(text).unwrap();
        assert_eq!(n.networks.len(), 2);
        let mut out = Findings::default();
        n.validate(&mut out);
        let paths: Vec<&str> = out.as_slice().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "networks.network2.endpoints[0].fromCidr",
                "networks.network2.gateways[0].address",
                "networks.network2.gateways[0].port"
            ]
        );
        let e =
            MeshNetworks::from_yaml("networks:\n  n:\n    gateways:\n    - port: x\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
    }
}
