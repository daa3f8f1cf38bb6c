//! Istio's `service` analyzers: Service port names (or `appProtocol`) must tell Istio the
//! protocol, and ExternalName Services must not use plain `tcp`.

use mast_config::Resource;
use serde_json::Value;

use super::injection::is_istio_control_plane;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, protocol_from_str, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(PortNameAnalyzer)]
}

/// Namespaces istioctl does not read objects from (Kubernetes' own).
pub(crate) const IGNORED_NAMESPACES: &[&str] = &[
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// Values of `gateway.istio.io/managed` that mark Services Istio generates.
const MANAGED_GATEWAY_VALUES: &[&str] = &[
    "istio.io-gateway-controller",
    "istio.io-mesh-controller",
    "istio.io-eastwest-controller",
];

/// Ports on which an unnamed port is taken as TCP (SMTP, DNS, MySQL, MongoDB).
const WELL_KNOWN_TCP_PORTS: &[i64] = &[25, 53, 3306, 27017];

/// `service.PortNameAnalyzer`.
struct PortNameAnalyzer;

impl Analyzer for PortNameAnalyzer {
    fn name(&self) -> &'static str {
        "service.PortNameAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the port names associated with each service"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for svc in store.list(kinds::SERVICE) {
            if IGNORED_NAMESPACES.contains(&svc.meta.namespace.as_str())
                || is_istio_control_plane(svc)
            {
                continue;
            }
            analyze_service(ctx, svc);
        }
    }
}

fn analyze_service(ctx: &mut Context<'_>, svc: &Resource) {
    let managed = svc
        .meta
        .labels
        .get("gateway.istio.io/managed")
        .map(String::as_str)
        .unwrap_or_default();
    if MANAGED_GATEWAY_VALUES.contains(&managed) {
        return;
    }
    let external_name = str_of(svc.spec(), "type") == "ExternalName";
    for (i, port) in arr_of(svc.spec(), "ports").iter().enumerate() {
        let name = str_of(port, "name");
        let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        let app_protocol = port.get("appProtocol").and_then(Value::as_str);
        let protocol = port_protocol(number, name, str_of(port, "protocol"), app_protocol);
        if protocol.is_some() && !(external_name && name == "tcp") {
            continue;
        }
        let path = format!("/spec/ports/{i}/port");
        if external_name {
            ctx.report(
                svc,
                Some(&path),
                catalogue::EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
                vec![],
            );
        } else {
            let target = target_port_string(port.get("targetPort"));
            let args = vec![name.into(), number.into(), target.into()];
            ctx.report(
                svc,
                Some(&path),
                catalogue::PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                args,
            );
        }
    }
}

/// The protocol Istio gives a Service port (`None` when it cannot tell): UDP by the Kubernetes
/// protocol, else from `appProtocol` or the name's prefix, else TCP on well-known ports.
pub(crate) fn port_protocol(
    port: i64,
    name: &str,
    k8s_protocol: &str,
    app_protocol: Option<&str>,
) -> Option<&'static str> {
    if k8s_protocol == "UDP" {
        return Some("UDP");
    }
    let name = match app_protocol {
        Some("kubernetes.io/h2c") => return Some("HTTP2"),
        Some("kubernetes.io/ws") => return Some("HTTP"),
        Some("kubernetes.io/wss") => return Some("HTTPS"),
        Some(app) => app,
        None => name,
    };
    if name
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("grpc-web"))
    {
        return Some("GRPC-Web");
    }
    let prefix = name.split('-').next().unwrap_or_default();
    protocol_from_str(prefix).or_else(|| WELL_KNOWN_TCP_PORTS.contains(&port).then_some("TCP"))
}

/// A `targetPort` as Kubernetes prints an int-or-string (`0` when unset).
fn target_port_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Port, name, Kubernetes protocol, appProtocol, and the protocol Istio infers.
    type Case = (
        i64,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn port_protocols() {
        let cases: &[Case] = &[
            (80, "http-web", "TCP", None, Some("HTTP")),
            (80, "web", "TCP", None, None),
            (80, "", "TCP", None, None),
            (53, "", "TCP", None, Some("TCP")),
            (80, "", "UDP", None, Some("UDP")),
            (80, "web", "TCP", Some("http"), Some("HTTP")),
            (80, "web", "TCP", Some("kubernetes.io/h2c"), Some("HTTP2")),
            (80, "grpc-web-x", "TCP", None, Some("GRPC-Web")),
            (80, "TCP", "TCP", None, Some("TCP")),
        ];
        for (port, name, proto, app, want) in cases {
            assert_eq!(
                port_protocol(*port, name, proto, *app),
                *want,
                "{name} {app:?}"
            );
        }
    }
}
