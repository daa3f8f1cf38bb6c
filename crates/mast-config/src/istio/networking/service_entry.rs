//! `ServiceEntry`: a service added to Istio's registry (external APIs, VMs, ...), and Istio's
//! checks of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::Context;
use super::workload::{WorkloadEntry, validate_workload_entry};
use crate::istio::common::{
    Protocol, is_ip, proto_enum, report, validate_export_to, validate_fqdn, validate_ip_subnet,
    validate_label_selector, validate_labels, validate_partial_wildcard, validate_port,
    validate_port_name, validate_protocol, validate_wildcard_domain,
};
use crate::validate::Findings;

proto_enum! {
    /// `ServiceEntry.Location`: whether the service is part of the mesh.
    pub enum Location {
        /// Outside the mesh (no mTLS).
        MeshExternal = "MESH_EXTERNAL",
        /// Inside the mesh.
        MeshInternal = "MESH_INTERNAL",
    }
}

proto_enum! {
    /// `ServiceEntry.Resolution`: how the proxy finds the endpoints.
    pub enum Resolution {
        /// Forward to the address the caller used.
        None = "NONE",
        /// The listed endpoint addresses.
        Static = "STATIC",
        /// Resolve the hosts (or endpoint names) by DNS, all addresses.
        Dns = "DNS",
        /// Resolve by DNS, first address only.
        DnsRoundRobin = "DNS_ROUND_ROBIN",
        /// Resolve each request's host at request time (wildcard hosts).
        DynamicDns = "DYNAMIC_DNS",
    }
}

/// `ServiceEntry`: hosts, addresses, ports and endpoints of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntry {
    /// Host names (required).
    pub hosts: Vec<String>,
    /// Virtual IPs or CIDR blocks.
    pub addresses: Vec<String>,
    /// Ports.
    pub ports: Vec<ServicePort>,
    /// Inside or outside the mesh.
    pub location: Location,
    /// How endpoints are found.
    pub resolution: Resolution,
    /// Endpoints (one of `endpoints`, `workloadSelector`).
    pub endpoints: Option<Vec<WorkloadEntry>>,
    /// Pods and WorkloadEntries that are the endpoints.
    pub workload_selector: Option<LabelSelector>,
    /// Namespaces the service is visible in (`~`: none).
    pub export_to: Vec<String>,
    /// Identities the endpoints' certificates must carry.
    pub subject_alt_names: Vec<String>,
}

/// `ServicePort`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port number (required).
    pub number: u32,
    /// Protocol (empty: sniffed).
    pub protocol: String,
    /// Name (required).
    pub name: String,
    /// Port on the endpoints.
    pub target_port: u32,
}

/// `istio.networking.v1alpha3.WorkloadSelector`: workloads by labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels a workload must carry.
    pub labels: BTreeMap<String, String>,
}

impl ServiceEntry {
    fn endpoints(&self) -> &[WorkloadEntry] {
        self.endpoints.as_deref().unwrap_or_default()
    }

    /// Istio's `ValidateServiceEntry`.
    pub fn validate(&self, ctx: &Context<'_>, out: &mut Findings) {
        if let Some(sel) = &self.workload_selector {
            let (warning, errs) = validate_label_selector(&sel.labels);
            if !errs.is_empty() {
                for e in errs {
                    out.error("spec.workloadSelector.labels", e);
                }
                return;
            }
            if let Some(w) = warning {
                out.warning(
                    "spec.workloadSelector",
                    format!("service entry: {w}, will be applied to all services in namespace"),
                );
            }
            if self.endpoints.is_some() {
                out.error(
                    "spec",
                    "only one of WorkloadSelector or Endpoints is allowed in Service Entry",
                );
            }
        }
        self.check_hosts(out);
        self.check_addresses(out);
        let port_names = self.check_ports(out);
        self.check_resolution(&port_names, out);
        self.check_multiple_hosts(out);
        for e in validate_export_to(ctx.namespace, &self.export_to, true, false) {
            out.error("spec.exportTo", e);
        }
    }

    fn check_hosts(&self, out: &mut Findings) {
        if self.hosts.is_empty() {
            out.error("spec.hosts", "service entry must have at least one host");
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let p = format!("spec.hosts[{i}]");
            if h == "*" {
                out.error(p, format!("invalid host {h}"));
                continue;
            }
            report(out, &p, validate_wildcard_domain(h));
            if self.resolution != Resolution::DynamicDns
                && let Err(e) = validate_partial_wildcard(h)
            {
                out.warning(p, e);
            }
        }
    }

    fn check_addresses(&self, out: &mut Findings) {
        let mut cidr = false;
        for (i, a) in self.addresses.iter().enumerate() {
            cidr |= a.contains('/');
            report(out, &format!("spec.addresses[{i}]"), validate_ip_subnet(a));
        }
        if cidr && !matches!(self.resolution, Resolution::None | Resolution::Static) {
            out.error(
                "spec.resolution",
                "CIDR addresses are allowed only for NONE/STATIC resolution types",
            );
        }
    }

    /// Checks the ports; returns their names.
    fn check_ports(&self, out: &mut Findings) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for (i, port) in self.ports.iter().enumerate() {
            let p = format!("spec.ports[{i}]");
            if !names.insert(port.name.as_str()) {
                out.error(
                    format!("{p}.name"),
                    format!("service entry port name {:?} already defined", port.name),
                );
            }
            if !numbers.insert(port.number) {
                out.error(
                    format!("{p}.number"),
                    format!("service entry port {} already defined", port.number),
                );
            }
            if port.target_port != 0 {
                report(
                    out,
                    &format!("{p}.targetPort"),
                    validate_port(port.target_port.into()),
                );
            }
            // Addresses are allocated automatically unless the resolution is NONE.
            let auto_allocated = self.resolution != Resolution::None;
            if self.addresses.is_empty()
                && !auto_allocated
                && (port.protocol.is_empty() || port.protocol == "TCP")
            {
                out.warning(
                    &p,
                    "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled",
                );
            }
            report(out, &format!("{p}.name"), validate_port_name(&port.name));
            report(
                out,
                &format!("{p}.protocol"),
                validate_protocol(&port.protocol),
            );
            report(
                out,
                &format!("{p}.number"),
                validate_port(port.number.into()),
            );
        }
        names
    }

    fn check_resolution(&self, port_names: &BTreeSet<&str>, out: &mut Findings) {
        let r = self.resolution;
        match r {
            Resolution::None => {
                if !self.endpoints().is_empty() {
                    out.error(
                        "spec.endpoints",
                        "no endpoints should be provided for resolution type none",
                    );
                }
                if self.workload_selector.is_some() {
                    out.warning(
                        "spec.workloadSelector",
                        "workloadSelector should not be set when resolution mode is NONE",
                    );
                }
            }
            Resolution::Static => {
                for (i, e) in self.endpoints().iter().enumerate() {
                    let p = format!("spec.endpoints[{i}]");
                    validate_workload_entry(e, Some(port_names), false, out, &p);
                }
            }
            Resolution::Dns | Resolution::DnsRoundRobin => self.check_dns(port_names, out),
            Resolution::DynamicDns => self.check_dynamic_dns(out),
        }
    }

    fn check_dns(&self, port_names: &BTreeSet<&str>, out: &mut Findings) {
        let r = self.resolution;
        if self.endpoints().is_empty()
            && let Some((i, e)) = self
                .hosts
                .iter()
                .enumerate()
                .find_map(|(i, h)| validate_fqdn(h).err().map(|e| (i, e)))
        {
            out.error(
                format!("spec.hosts[{i}]"),
                format!("hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {r}, {e}"),
            );
        }
        if r == Resolution::DnsRoundRobin && self.endpoints().len() > 1 {
            out.error(
                "spec.endpoints",
                format!("there must only be 0 or 1 endpoint for resolution mode {r}"),
            );
        }
        for (i, e) in self.endpoints().iter().enumerate() {
            let p = format!("spec.endpoints[{i}]");
            if !is_ip(&e.address) && validate_fqdn(&e.address).is_err() {
                out.error(
                    format!("{p}.address"),
                    format!(
                        "endpoint address {:?} is not a valid FQDN or an IP address",
                        e.address
                    ),
                );
            }
            for err in validate_labels(&e.labels) {
                out.error(format!("{p}.labels"), err);
            }
            for (name, port) in &e.ports {
                let pp = format!("{p}.ports[{name:?}]");
                if !port_names.contains(name.as_str()) {
                    out.error(
                        &pp,
                        format!("endpoint port {port} is not defined by the service entry"),
                    );
                }
                report(out, &pp, validate_port_name(name));
                report(out, &pp, validate_port((*port).into()));
            }
        }
        let tcp = self
            .ports
            .iter()
            .any(|p| Protocol::parse(&p.protocol).is_tcp());
        if !self.addresses.is_empty() && tcp && self.hosts.len() > 1 {
            out.warning(
                "spec.hosts",
                "service entry can not have more than one host specified simultaneously with address and tcp port",
            );
        }
    }

    fn check_dynamic_dns(&self, out: &mut Findings) {
        let r = self.resolution;
        if self.hosts.is_empty() {
            out.error(
                "spec.hosts",
                format!("at least one wildcard host must be provided for resolution type {r}"),
            );
        }
        for (i, h) in self.hosts.iter().enumerate() {
            if !h.starts_with('*') {
                out.error(
                    format!("spec.hosts[{i}]"),
                    format!("host must be wildcarded for resolution mode {r}"),
                );
            }
        }
        if !self.addresses.is_empty() {
            out.error(
                "spec.addresses",
                format!("addresses cannot be set for resolution type {r}. HTTP route domains will only be generatedfrom the hosts field values"),
            );
        }
        if !self.endpoints().is_empty() {
            out.error(
                "spec.endpoints",
                format!("endpoints cannot be set for resolution type {r}. Destination IP address determined from hostsfield values"),
            );
        }
        for (i, port) in self.ports.iter().enumerate() {
            let proto = Protocol::parse(&port.protocol);
            if !matches!(
                proto,
                Protocol::Http | Protocol::Tls | Protocol::Grpc | Protocol::Http2
            ) {
                out.error(
                    format!("spec.ports[{i}].protocol"),
                    format!("only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {r}"),
                );
            }
        }
    }

    /// Several hosts need a protocol that tells them apart (HTTP's authority, TLS's SNI),
    /// unless the resolution is NONE.
    fn check_multiple_hosts(&self, out: &mut Findings) {
        if self.resolution == Resolution::None || self.hosts.len() <= 1 {
            return;
        }
        let opaque = self.ports.iter().any(|p| {
            let proto = Protocol::parse(&p.protocol);
            !proto.is_http() && !proto.is_tls()
        });
        if opaque {
            out.error(
                "spec.hosts",
                "multiple hosts provided with non-HTTP, non-TLS ports",
            );
        }
    }
}
