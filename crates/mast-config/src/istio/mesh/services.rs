//! Settings by service: cluster-local services, service scopes, the default visibility of
//! ServiceEntries, and the Kubernetes label selectors they use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `MeshConfig.ServiceSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    /// The settings.
    #[serde(rename = "settings", skip_serializing_if = "Option::is_none")]
    pub settings: Option<ServiceSettingsValues>,
    /// Services the settings apply to.
    #[serde(rename = "hosts")]
    pub hosts: Vec<String>,
}

/// `MeshConfig.ServiceSettings.Settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettingsValues {
    /// Whether the services are only reachable within their cluster.
    #[serde(rename = "clusterLocal", alias = "cluster_local")]
    pub cluster_local: bool,
}

/// `MeshConfig.ServiceScopeConfigs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceScopeConfigs {
    /// Namespaces.
    #[serde(
        rename = "namespaceSelector",
        alias = "namespace_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<LabelSelector>,
    /// Services.
    #[serde(
        rename = "servicesSelector",
        alias = "services_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub services_selector: Option<LabelSelector>,
    /// Local or global.
    #[serde(rename = "scope")]
    pub scope: ServiceScope,
}

/// `MeshConfig.ServiceScopeConfigs.Scope`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceScope {
    /// Within the cluster.
    #[default]
    #[serde(rename = "LOCAL")]
    Local,
    /// Across clusters.
    #[serde(rename = "GLOBAL")]
    Global,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelSelector {
    /// Labels that must all match.
    #[serde(rename = "matchLabels")]
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must all match.
    #[serde(rename = "matchExpressions")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One expression of a label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelSelectorRequirement {
    /// Label key.
    #[serde(rename = "key")]
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[serde(rename = "operator")]
    pub operator: String,
    /// Values.
    #[serde(rename = "values")]
    pub values: Vec<String>,
}

/// Default visibility of ServiceEntries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEntryVisibility {
    /// Visibility when no policy matches.
    #[serde(rename = "defaultVisibility", alias = "default_visibility")]
    pub default_visibility: Visibility,
    /// Whether sidecars honour it too.
    #[serde(rename = "applyToSidecars", alias = "apply_to_sidecars")]
    pub apply_to_sidecars: bool,
    /// Policies by namespace.
    #[serde(rename = "policies")]
    pub policies: Vec<VisibilityPolicy>,
}

/// `ServiceEntryVisibility.Visibility`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Visibility {
    /// Unset.
    #[default]
    #[serde(rename = "VISIBILITY_UNSPECIFIED")]
    Unspecified,
    /// Visible nowhere.
    #[serde(rename = "NONE")]
    None,
    /// Visible in its namespace.
    #[serde(rename = "NAMESPACE")]
    Namespace,
    /// Visible everywhere.
    #[serde(rename = "PUBLIC")]
    Public,
}

/// `ServiceEntryVisibility.Policy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisibilityPolicy {
    /// The visibility.
    #[serde(rename = "visibility")]
    pub visibility: Visibility,
    /// Namespaces it applies to.
    #[serde(rename = "matchingRules", alias = "matching_rules")]
    pub matching_rules: Vec<VisibilityMatchRule>,
}

/// `ServiceEntryVisibility.MatchRule`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisibilityMatchRule {
    /// Namespaces.
    #[serde(
        rename = "namespaceSelector",
        alias = "namespace_selector",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<LabelSelector>,
}
