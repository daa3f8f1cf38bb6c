//! `WorkloadEntry` (a workload outside Kubernetes, e.g. a VM) and `WorkloadGroup` (the
//! template from which such entries are made), and Istio's checks of them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::istio::common::{
    check_oneof, is_ip, report, validate_fqdn, validate_labels, validate_port, validate_port_name,
    validate_probe_header_name, validate_unix_address,
};
use crate::validate::Findings;

/// `WorkloadEntry`: one workload's address, ports, labels and identity. Also the type of a
/// ServiceEntry's `endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEntry {
    /// IP, host name, or `unix://path`.
    pub address: String,
    /// Port numbers by service port name.
    pub ports: BTreeMap<String, u32>,
    /// Labels of the workload.
    pub labels: BTreeMap<String, String>,
    /// Network the workload is in.
    pub network: String,
    /// Locality (`region/zone/subzone`).
    pub locality: String,
    /// Load balancing weight.
    pub weight: u32,
    /// Service account (identity) of the workload.
    pub service_account: String,
}

/// `WorkloadGroup`: metadata and template for the WorkloadEntries of a group of workloads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadGroup {
    /// Labels and annotations copied onto each entry.
    pub metadata: Option<GroupMetadata>,
    /// Template of the entries (required).
    pub template: Option<WorkloadEntry>,
    /// Readiness probe run by the workload's agent.
    pub probe: Option<ReadinessProbe>,
}

/// `WorkloadGroup.ObjectMeta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupMetadata {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `ReadinessProbe`: how the agent decides the workload is ready (one method).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadinessProbe {
    /// Seconds before the first probe.
    pub initial_delay_seconds: i32,
    /// Seconds before a probe times out.
    pub timeout_seconds: i32,
    /// Seconds between probes.
    pub period_seconds: i32,
    /// Successes needed to be ready.
    pub success_threshold: i32,
    /// Failures needed to be unready.
    pub failure_threshold: i32,
    /// HTTP GET probe.
    pub http_get: Option<HttpHealthCheck>,
    /// TCP connect probe.
    pub tcp_socket: Option<TcpHealthCheck>,
    /// Command probe.
    pub exec: Option<ExecHealthCheck>,
    /// gRPC health probe.
    pub grpc: Option<GrpcHealthCheck>,
}

/// `HTTPHealthCheckConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHealthCheck {
    /// Path.
    pub path: String,
    /// Port (required).
    pub port: u32,
    /// Host (defaults to the workload's IP).
    pub host: String,
    /// `HTTP` or `HTTPS`.
    pub scheme: String,
    /// Headers to send.
    pub http_headers: Vec<HttpHeader>,
}

/// `HTTPHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpHeader {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `TCPHealthCheckConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpHealthCheck {
    /// Host (defaults to localhost).
    pub host: String,
    /// Port (required).
    pub port: u32,
}

/// `ExecHealthCheckConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecHealthCheck {
    /// Command and arguments (required).
    pub command: Vec<String>,
}

/// `GrpcHealthCheckConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcHealthCheck {
    /// Port.
    pub port: u32,
    /// Service name sent in the health check request.
    pub service: String,
}

const UNIX_PREFIX: &str = "unix://";

impl WorkloadEntry {
    /// Istio's `ValidateWorkloadEntry` (host names are allowed as addresses).
    pub fn validate(&self, out: &mut Findings) {
        validate_workload_entry(self, None, true, out, "spec");
    }
}

/// Istio's `validateWorkloadEntry`. `service_ports` are the port names of the ServiceEntry the
/// entry belongs to, if any; `allow_fqdn` says whether a host name may be the address.
pub(crate) fn validate_workload_entry(
    we: &WorkloadEntry,
    service_ports: Option<&BTreeSet<&str>>,
    allow_fqdn: bool,
    out: &mut Findings,
    path: &str,
) {
    let addr_path = format!("{path}.address");
    let addr = we.address.as_str();
    if addr.is_empty() {
        if we.network.is_empty() {
            out.error(&addr_path, "address is required");
            return;
        }
        out.warning(
            &addr_path,
            format!("address is unset with network {:?}", we.network),
        );
    }
    let unix = addr.starts_with(UNIX_PREFIX);
    if let Some(sock) = addr.strip_prefix(UNIX_PREFIX) {
        report(out, &addr_path, validate_unix_address(sock));
        if !we.ports.is_empty() {
            out.error(
                format!("{path}.ports"),
                format!("unix endpoint {addr} must not include ports"),
            );
        }
    } else if !addr.is_empty() && !is_ip(addr) {
        if !allow_fqdn {
            out.error(
                &addr_path,
                format!("endpoint address {addr:?} is not a valid IP address"),
            );
        } else if validate_fqdn(addr).is_err() {
            out.error(
                &addr_path,
                format!("endpoint address {addr:?} is not a valid FQDN or an IP address"),
            );
        }
    }
    for (name, port) in &we.ports {
        let p = format!("{path}.ports[{name:?}]");
        if service_ports.is_some_and(|sp| !sp.contains(name.as_str())) {
            out.error(
                &p,
                format!("endpoint port {port} is not defined by the service entry"),
            );
        }
        report(out, &p, validate_port_name(name));
        report(out, &p, validate_port((*port).into()));
    }
    for e in validate_labels(&we.labels) {
        out.error(format!("{path}.labels"), e);
    }
    if unix && service_ports.is_some_and(|sp| sp.len() != 1) {
        out.error(path, "exactly 1 service port required for unix endpoints");
    }
}

impl WorkloadGroup {
    /// Istio's `ValidateWorkloadGroup`: the template is required; its address is not (it is
    /// filled in for each workload).
    pub fn validate(&self, out: &mut Findings) {
        if self.template.is_none() {
            out.error("spec.template", "template is required");
            return;
        }
        if let Some(md) = &self.metadata {
            let errs = validate_labels(&md.labels);
            if let Some(e) = errs.first() {
                out.error("spec.metadata.labels", format!("invalid labels: {e}"));
                return;
            }
        }
        if let Some(p) = &self.probe {
            validate_probe(p, out, "spec.probe");
        }
    }
}

fn validate_probe(p: &ReadinessProbe, out: &mut Findings, path: &str) {
    let counts = [
        (p.period_seconds, "periodSeconds"),
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ];
    for (v, field) in counts {
        if v < 0 {
            out.error(
                format!("{path}.{field}"),
                format!("{field} must be non-negative"),
            );
        }
    }
    check_oneof(
        out,
        path,
        &[
            ("httpGet", p.http_get.is_some()),
            ("tcpSocket", p.tcp_socket.is_some()),
            ("exec", p.exec.is_some()),
            ("grpc", p.grpc.is_some()),
        ],
    );
    if let Some(h) = &p.http_get {
        let hp = format!("{path}.httpGet");
        report(out, &format!("{hp}.port"), validate_port(h.port.into()));
        if !h.scheme.is_empty() && h.scheme != "HTTPS" && h.scheme != "HTTP" {
            out.error(
                format!("{hp}.scheme"),
                "httpGet.scheme must be one of \"HTTPS\", \"HTTP\"",
            );
        }
        for (i, hdr) in h.http_headers.iter().enumerate() {
            report(
                out,
                &format!("{hp}.httpHeaders[{i}].name"),
                validate_probe_header_name(&hdr.name),
            );
        }
    } else if let Some(t) = &p.tcp_socket {
        report(
            out,
            &format!("{path}.tcpSocket.port"),
            validate_port(t.port.into()),
        );
    } else if let Some(e) = &p.exec {
        if e.command.is_empty() {
            out.error(format!("{path}.exec.command"), "exec.command is required");
        }
    } else if p.grpc.is_some() {
        // Istio's check knows no gRPC probes and rejects them.
        out.error(format!("{path}.grpc"), "unknown health check method grpc");
    } else {
        out.error(path, "unknown health check method <nil>");
    }
}
