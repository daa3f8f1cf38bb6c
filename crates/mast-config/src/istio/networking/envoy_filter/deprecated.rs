//! The `workloadLabels` and `filters` fields of Istio 1.5's EnvoyFilter: deprecated then,
//! removed later, still read so that 1.5 configuration validates as 1.5 validated it.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::EnvoyFilter;
use crate::istio::common::proto_enum;
use crate::validate::Findings;

proto_enum! {
    /// Istio 1.5 `EnvoyFilter.DeprecatedListenerMatch.ListenerType`.
    pub enum DeprecatedListenerType {
        /// All.
        Any = "ANY",
        /// Sidecar inbound.
        SidecarInbound = "SIDECAR_INBOUND",
        /// Sidecar outbound.
        SidecarOutbound = "SIDECAR_OUTBOUND",
        /// Gateway.
        Gateway = "GATEWAY",
    }
}

proto_enum! {
    /// Istio 1.5 `EnvoyFilter.DeprecatedListenerMatch.ListenerProtocol`.
    pub enum DeprecatedListenerProtocol {
        /// All.
        All = "ALL",
        /// HTTP.
        Http = "HTTP",
        /// TCP.
        Tcp = "TCP",
    }
}

/// Istio 1.5 `EnvoyFilter.DeprecatedListenerMatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DeprecatedListenerMatch {
    /// Port.
    pub port_number: u32,
    /// Port name prefix.
    pub port_name_prefix: String,
    /// Listener type.
    pub listener_type: DeprecatedListenerType,
    /// Listener protocol.
    pub listener_protocol: DeprecatedListenerProtocol,
    /// Listener addresses.
    pub address: Vec<String>,
}

proto_enum! {
    /// Istio 1.5 `EnvoyFilter.InsertPosition.Index`.
    pub enum InsertIndex {
        /// First.
        First = "FIRST",
        /// Last.
        Last = "LAST",
        /// Before `relativeTo`.
        Before = "BEFORE",
        /// After `relativeTo`.
        After = "AFTER",
    }
}

/// Istio 1.5 `EnvoyFilter.InsertPosition`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct InsertPosition {
    /// Position.
    pub index: InsertIndex,
    /// The filter the position is relative to.
    pub relative_to: String,
}

proto_enum! {
    /// Istio 1.5 `EnvoyFilter.Filter.FilterType`.
    pub enum DeprecatedFilterType {
        /// Not set.
        Invalid = "INVALID",
        /// An HTTP filter.
        Http = "HTTP",
        /// A network filter.
        Network = "NETWORK",
    }
}

/// Istio 1.5 `EnvoyFilter.Filter`: a filter to insert.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DeprecatedFilter {
    /// Listeners to insert into.
    pub listener_match: Option<DeprecatedListenerMatch>,
    /// Where in the chain.
    pub insert_position: Option<InsertPosition>,
    /// HTTP or network filter (required).
    pub filter_type: DeprecatedFilterType,
    /// Filter name (required).
    pub filter_name: String,
    /// Filter configuration (required).
    pub filter_config: Option<Map<String, Value>>,
}

/// Istio 1.5's checks of the deprecated fields (1.5 logged the deprecations; here they are
/// warnings).
pub(super) fn check(ef: &EnvoyFilter, out: &mut Findings) {
    if ef.workload_labels.is_some() {
        out.warning(
            "spec.workloadLabels",
            "Envoy filter: workloadLabels is deprecated. use workloadSelector instead",
        );
    }
    if !ef.filters.is_empty() {
        out.warning(
            "spec.filters",
            "Envoy filter: Filters is deprecated. use configPatches instead",
        );
    }
    for (i, f) in ef.filters.iter().enumerate() {
        let p = format!("spec.filters[{i}]");
        if let Some(pos) = &f.insert_position
            && matches!(pos.index, InsertIndex::Before | InsertIndex::After)
            && pos.relative_to.is_empty()
        {
            out.error(
                format!("{p}.insertPosition"),
                "Envoy filter: missing relativeTo filter with BEFORE/AFTER index",
            );
        }
        if f.filter_type == DeprecatedFilterType::Invalid {
            out.error(
                format!("{p}.filterType"),
                "Envoy filter: missing filter type",
            );
        }
        if f.filter_name.is_empty() {
            out.error(
                format!("{p}.filterName"),
                "Envoy filter: missing filter name",
            );
        }
        if f.filter_config.is_none() {
            out.error(
                format!("{p}.filterConfig"),
                "Envoy filter: missing filter config",
            );
        }
    }
}
