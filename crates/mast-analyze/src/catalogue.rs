//! The IST message catalogue: Istio's codes, names, levels and message templates (Go `fmt`
//! verbs), as `istioctl analyze` prints them. Codes Istio retired after 1.5 are kept for the
//! 1.5 analyzers.

use crate::message::{Level, MessageType};

/// There was an internal error in the toolchain. This is almost always a bug in the implementation.
pub const INTERNAL_ERROR: MessageType = MessageType {
    code: "IST0001",
    name: "InternalError",
    level: Level::Error,
    template: "Internal error: %v",
};

/// A feature that the configuration is depending on is now deprecated.
pub const DEPRECATED: MessageType = MessageType {
    code: "IST0002",
    name: "Deprecated",
    level: Level::Warning,
    template: "Deprecated: %s",
};

/// A resource being referenced does not exist.
pub const REFERENCED_RESOURCE_NOT_FOUND: MessageType = MessageType {
    code: "IST0101",
    name: "ReferencedResourceNotFound",
    level: Level::Error,
    template: "Referenced %s not found: %q",
};

/// A namespace is not enabled for Istio injection.
pub const NAMESPACE_NOT_INJECTED: MessageType = MessageType {
    code: "IST0102",
    name: "NamespaceNotInjected",
    level: Level::Info,
    template: "The namespace is not enabled for Istio injection. Run 'kubectl label namespace %s istio-injection=enabled' to enable it, or 'kubectl label namespace %s istio-injection=disabled' to explicitly mark it as not needing injection.",
};

/// A pod is missing the Istio proxy.
pub const POD_MISSING_PROXY: MessageType = MessageType {
    code: "IST0103",
    name: "PodMissingProxy",
    level: Level::Warning,
    template: "The pod %s is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
};

/// Unhandled gateway port
pub const GATEWAY_PORT_NOT_ON_WORKLOAD: MessageType = MessageType {
    code: "IST0104",
    name: "GatewayPortNotOnWorkload",
    level: Level::Warning,
    template: "The gateway refers to a port that is not exposed on the workload (pod selector %s; port %d)",
};

/// The image of the Istio proxy running on the pod does not match the image defined in the injection configuration.
pub const ISTIO_PROXY_IMAGE_MISMATCH: MessageType = MessageType {
    code: "IST0105",
    name: "IstioProxyImageMismatch",
    level: Level::Warning,
    template: "The image of the Istio proxy running on the pod does not match the image defined in the injection configuration (pod image: %s; injection configuration image: %s). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pod.",
};

/// The resource has a schema validation error.
pub const SCHEMA_VALIDATION_ERROR: MessageType = MessageType {
    code: "IST0106",
    name: "SchemaValidationError",
    level: Level::Error,
    template: "Schema validation error: %v",
};

/// An Istio annotation is applied to the wrong kind of resource.
pub const MISPLACED_ANNOTATION: MessageType = MessageType {
    code: "IST0107",
    name: "MisplacedAnnotation",
    level: Level::Warning,
    template: "Misplaced annotation: %s can only be applied to %s",
};

/// An Istio annotation is not recognized for any kind of resource
pub const UNKNOWN_ANNOTATION: MessageType = MessageType {
    code: "IST0108",
    name: "UnknownAnnotation",
    level: Level::Warning,
    template: "Unknown annotation: %s",
};

/// Conflicting hosts on VirtualServices associated with mesh gateway
pub const CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS: MessageType = MessageType {
    code: "IST0109",
    name: "ConflictingMeshGatewayVirtualServiceHosts",
    level: Level::Error,
    template: "The VirtualServices %s associated with mesh gateway define the same host %s which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource.",
};

/// A Sidecar resource selects the same workloads as another Sidecar resource
pub const CONFLICTING_SIDECAR_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0110",
    name: "ConflictingSidecarWorkloadSelectors",
    level: Level::Error,
    template: "The Sidecars %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.",
};

/// More than one sidecar resource in a namespace has no workload selector
pub const MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0111",
    name: "MultipleSidecarsWithoutWorkloadSelectors",
    level: Level::Error,
    template: "The Sidecars %v in namespace %q have no workload selector, which can lead to undefined behavior.",
};

/// A VirtualService routes to a service with more than one port exposed, but does not specify which to use.
pub const VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED: MessageType = MessageType {
    code: "IST0112",
    name: "VirtualServiceDestinationPortSelectorRequired",
    level: Level::Error,
    template: "This VirtualService routes to a service %q that exposes multiple ports %v. Specifying a port in the destination is required to disambiguate.",
};

/// A DestinationRule and Policy are in conflict with regards to mTLS.
pub const MTLS_POLICY_CONFLICT: MessageType = MessageType {
    code: "IST0113",
    name: "MTLSPolicyConflict",
    level: Level::Error,
    template: "A DestinationRule and Policy are in conflict with regards to mTLS for host %s. The DestinationRule %q specifies that mTLS must be %t but the Policy object %q specifies %s.",
};

/// A Policy targets a port name that cannot be found.
pub const POLICY_SPECIFIES_PORT_NAME_THAT_DOESNT_EXIST: MessageType = MessageType {
    code: "IST0114",
    name: "PolicySpecifiesPortNameThatDoesntExist",
    level: Level::Warning,
    template: "Port name %s could not be found for host %s, which means the Policy won't be enforced.",
};

/// A DestinationRule uses mTLS for a workload that has no sidecar.
pub const DESTINATION_RULE_USES_MTLS_FOR_WORKLOAD_WITHOUT_SIDECAR: MessageType = MessageType {
    code: "IST0115",
    name: "DestinationRuleUsesMTLSForWorkloadWithoutSidecar",
    level: Level::Error,
    template: "DestinationRule %s uses mTLS for workload %s that has no sidecar. Traffic from workloads with sidecars will fail.",
};

/// The resulting pods of a service mesh deployment can't be associated with multiple services using the same port but different protocols.
pub const DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES: MessageType = MessageType {
    code: "IST0116",
    name: "DeploymentAssociatedToMultipleServices",
    level: Level::Warning,
    template: "This deployment %s is associated with multiple services using port %d but different protocols: %v",
};

/// The resulting pods of a service mesh deployment must be associated with at least one service.
pub const DEPLOYMENT_REQUIRES_SERVICE_ASSOCIATED: MessageType = MessageType {
    code: "IST0117",
    name: "DeploymentRequiresServiceAssociated",
    level: Level::Warning,
    template: "No service associated with this deployment. Service mesh deployments must be associated with a service.",
};

/// Port name is not under naming convention. Protocol detection is applied to the port.
pub const PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION: MessageType = MessageType {
    code: "IST0118",
    name: "PortNameIsNotUnderNamingConvention",
    level: Level::Info,
    template: "Port name %s (port: %d, targetPort: %s) doesn't follow the naming convention of Istio port.",
};

/// Authentication policy with JWT targets Service with invalid port specification.
pub const JWT_FAILURE_DUE_TO_INVALID_SERVICE_PORT_PREFIX: MessageType = MessageType {
    code: "IST0119",
    name: "JwtFailureDueToInvalidServicePortPrefix",
    level: Level::Warning,
    template: "Authentication policy with JWT targets Service with invalid port specification (port: %d, name: %s, protocol: %s, targetPort: %s).",
};

/// The Policy resource is deprecated and will be removed in a future Istio release. Migrate to the PeerAuthentication resource.
pub const POLICY_RESOURCE_IS_DEPRECATED: MessageType = MessageType {
    code: "IST0120",
    name: "PolicyResourceIsDeprecated",
    level: Level::Info,
    template: "The Policy resource is deprecated and will be removed in a future Istio release. Migrate to the PeerAuthentication resource.",
};

/// The MeshPolicy resource is deprecated and will be removed in a future Istio release. Migrate to the PeerAuthentication resource.
pub const MESH_POLICY_RESOURCE_IS_DEPRECATED: MessageType = MessageType {
    code: "IST0121",
    name: "MeshPolicyResourceIsDeprecated",
    level: Level::Info,
    template: "The MeshPolicy resource is deprecated and will be removed in a future Istio release. Migrate to the PeerAuthentication resource.",
};

/// A namespace has more than one type of injection labels
pub const NAMESPACE_MULTIPLE_INJECTION_LABELS: MessageType = MessageType {
    code: "IST0123",
    name: "NamespaceMultipleInjectionLabels",
    level: Level::Warning,
    template: "The namespace has more than one type of injection labels %v, which may lead to undefined behavior. Make sure only one injection label exists.",
};

/// An Istio annotation that is not valid
pub const INVALID_ANNOTATION: MessageType = MessageType {
    code: "IST0125",
    name: "InvalidAnnotation",
    level: Level::Warning,
    template: "Invalid annotation %s: %s",
};

/// A service registry in Mesh Networks is unknown
pub const UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY: MessageType = MessageType {
    code: "IST0126",
    name: "UnknownMeshNetworksServiceRegistry",
    level: Level::Error,
    template: "Unknown service registry %s in network %s",
};

/// There aren't workloads matching the resource labels
pub const NO_MATCHING_WORKLOADS_FOUND: MessageType = MessageType {
    code: "IST0127",
    name: "NoMatchingWorkloadsFound",
    level: Level::Warning,
    template: "No matching workloads for this resource with the following labels: %s",
};

/// No caCertificates are set in DestinationRule, this results in no verification of presented server certificate.
pub const NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL: MessageType = MessageType {
    code: "IST0128",
    name: "NoServerCertificateVerificationDestinationLevel",
    level: Level::Warning,
    template: "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s",
};

/// No caCertificates are set in DestinationRule, this results in no verification of presented server certificate for traffic to a given port.
pub const NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL: MessageType = MessageType {
    code: "IST0129",
    name: "NoServerCertificateVerificationPortLevel",
    level: Level::Warning,
    template: "DestinationRule %s in namespace %s has TLS mode set to %s but no caCertificates are set to validate server identity for host: %s at port %s",
};

/// A VirtualService rule will never be used because a previous rule uses the same match.
pub const VIRTUAL_SERVICE_UNREACHABLE_RULE: MessageType = MessageType {
    code: "IST0130",
    name: "VirtualServiceUnreachableRule",
    level: Level::Warning,
    template: "VirtualService rule %v not used (%s).",
};

/// A VirtualService rule match duplicates a match in a previous rule.
pub const VIRTUAL_SERVICE_INEFFECTIVE_MATCH: MessageType = MessageType {
    code: "IST0131",
    name: "VirtualServiceIneffectiveMatch",
    level: Level::Info,
    template: "VirtualService rule %v match %v is not used (duplicate/overlapping match in rule %v).",
};

/// Host defined in VirtualService not found in Gateway.
pub const VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY: MessageType = MessageType {
    code: "IST0132",
    name: "VirtualServiceHostNotFoundInGateway",
    level: Level::Warning,
    template: "one or more host %v defined in VirtualService %s not found in Gateway %s.",
};

/// The resource has a schema validation warning.
pub const SCHEMA_WARNING: MessageType = MessageType {
    code: "IST0133",
    name: "SchemaWarning",
    level: Level::Warning,
    template: "Schema validation warning: %v",
};

/// Virtual IP addresses are required for ports serving TCP (or unset) protocol when PILOT_ENABLE_IP_AUTOALLOCATE is not set on a proxy
pub const SERVICE_ENTRY_ADDRESSES_REQUIRED: MessageType = MessageType {
    code: "IST0134",
    name: "ServiceEntryAddressesRequired",
    level: Level::Warning,
    template: "ServiceEntry addresses are required for this protocol.",
};

/// A resource is using a deprecated Istio annotation.
pub const DEPRECATED_ANNOTATION: MessageType = MessageType {
    code: "IST0135",
    name: "DeprecatedAnnotation",
    level: Level::Info,
    template: "Annotation %q has been deprecated%s and may not work in future Istio versions.",
};

/// An Istio annotation may not be suitable for production.
pub const ALPHA_ANNOTATION: MessageType = MessageType {
    code: "IST0136",
    name: "AlphaAnnotation",
    level: Level::Info,
    template: "Annotation %q is part of an alpha-phase feature and may be incompletely supported.",
};

/// Two services selecting the same workload with the same targetPort MUST refer to the same port.
pub const DEPLOYMENT_CONFLICTING_PORTS: MessageType = MessageType {
    code: "IST0137",
    name: "DeploymentConflictingPorts",
    level: Level::Warning,
    template: "This deployment %s is associated with multiple services %v using targetPort %q but different ports: %v.",
};

/// Duplicate certificate in multiple gateways may cause 404s if clients re-use HTTP2 connections.
pub const GATEWAY_DUPLICATE_CERTIFICATE: MessageType = MessageType {
    code: "IST0138",
    name: "GatewayDuplicateCertificate",
    level: Level::Warning,
    template: "Duplicate certificate in multiple gateways %v may cause 404s if clients re-use HTTP2 connections.",
};

/// Webhook is invalid or references a control plane service that does not exist.
pub const INVALID_WEBHOOK: MessageType = MessageType {
    code: "IST0139",
    name: "InvalidWebhook",
    level: Level::Error,
    template: "%v",
};

/// Route rules have no effect on ingress gateway requests
pub const INGRESS_ROUTE_RULES_NOT_AFFECTED: MessageType = MessageType {
    code: "IST0140",
    name: "IngressRouteRulesNotAffected",
    level: Level::Warning,
    template: "Subset in virtual service %s has no effect on ingress gateway %s requests",
};

/// Required permissions to install Istio are missing.
pub const INSUFFICIENT_PERMISSIONS: MessageType = MessageType {
    code: "IST0141",
    name: "InsufficientPermissions",
    level: Level::Error,
    template: "Missing required permission to create resource %v (%v)",
};

/// The Kubernetes version is not supported
pub const UNSUPPORTED_KUBERNETES_VERSION: MessageType = MessageType {
    code: "IST0142",
    name: "UnsupportedKubernetesVersion",
    level: Level::Error,
    template: "The Kubernetes Version %q is lower than the minimum version: %v",
};

/// A port exposed in a Service is bound to a localhost address
pub const LOCALHOST_LISTENER: MessageType = MessageType {
    code: "IST0143",
    name: "LocalhostListener",
    level: Level::Error,
    template: "Port %v is exposed in a Service but listens on localhost. It will not be exposed to other pods.",
};

/// Application pods should not run as user ID (UID) 1337
pub const INVALID_APPLICATION_UID: MessageType = MessageType {
    code: "IST0144",
    name: "InvalidApplicationUID",
    level: Level::Warning,
    template: "User ID (UID) 1337 is reserved for the sidecar proxy.",
};

/// Gateway should not have the same selector, port and matched hosts of server
pub const CONFLICTING_GATEWAYS: MessageType = MessageType {
    code: "IST0145",
    name: "ConflictingGateways",
    level: Level::Error,
    template: "Conflict with gateways %s (workload selector %s, port %s, hosts %v).",
};

/// Deployments with `image: auto` should be targeted for injection.
pub const IMAGE_AUTO_WITHOUT_INJECTION_WARNING: MessageType = MessageType {
    code: "IST0146",
    name: "ImageAutoWithoutInjectionWarning",
    level: Level::Warning,
    template: "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
};

/// Pods with `image: auto` should be targeted for injection.
pub const IMAGE_AUTO_WITHOUT_INJECTION_ERROR: MessageType = MessageType {
    code: "IST0147",
    name: "ImageAutoWithoutInjectionError",
    level: Level::Error,
    template: "%s %s contains `image: auto` but does not match any Istio injection webhook selectors.",
};

/// user namespace should be injectable if Istio is installed with enableNamespacesByDefault enabled and neither injection label is set.
pub const NAMESPACE_INJECTION_ENABLED_BY_DEFAULT: MessageType = MessageType {
    code: "IST0148",
    name: "NamespaceInjectionEnabledByDefault",
    level: Level::Info,
    template: "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
};

/// Virtual service using JWT claim based routing without request authentication.
pub const JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N: MessageType = MessageType {
    code: "IST0149",
    name: "JwtClaimBasedRoutingWithoutRequestAuthN",
    level: Level::Error,
    template: "The virtual service uses the JWT claim based routing (key: %s) but found no request authentication for the gateway (%s) pod (%s). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.",
};

/// Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly for ExternalName services.
pub const EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME: MessageType = MessageType {
    code: "IST0150",
    name: "ExternalNameServiceTypeInvalidPortName",
    level: Level::Warning,
    template: "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
};

/// This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.
pub const ENVOY_FILTER_USES_RELATIVE_OPERATION: MessageType = MessageType {
    code: "IST0151",
    name: "EnvoyFilterUsesRelativeOperation",
    level: Level::Warning,
    template: "This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST of ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
};

/// The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.
pub const ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY: MessageType = MessageType {
    code: "IST0152",
    name: "EnvoyFilterUsesReplaceOperationIncorrectly",
    level: Level::Error,
    template: "The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.",
};

/// The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.
pub const ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY: MessageType = MessageType {
    code: "IST0153",
    name: "EnvoyFilterUsesAddOperationIncorrectly",
    level: Level::Error,
    template: "The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
};

/// The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.
pub const ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY: MessageType = MessageType {
    code: "IST0154",
    name: "EnvoyFilterUsesRemoveOperationIncorrectly",
    level: Level::Error,
    template: "The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE.",
};

/// This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.
pub const ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION: MessageType = MessageType {
    code: "IST0155",
    name: "EnvoyFilterUsesRelativeOperationWithProxyVersion",
    level: Level::Warning,
    template: "This EnvoyFilter does not have a priority and has a relative patch operation (NSTERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.",
};

/// The Gateway API CRD version is not supported
pub const UNSUPPORTED_GATEWAY_API_VERSION: MessageType = MessageType {
    code: "IST0156",
    name: "UnsupportedGatewayAPIVersion",
    level: Level::Error,
    template: "The Gateway API CRD version %v is lower than the minimum version: %v",
};

/// The Telemetry with empty providers will be ignored
pub const INVALID_TELEMETRY_PROVIDER: MessageType = MessageType {
    code: "IST0157",
    name: "InvalidTelemetryProvider",
    level: Level::Warning,
    template: "The Telemetry %v in namespace %q with empty providers will be ignored.",
};

/// The Istio proxy image of the pods running in the namespace do not match the image defined in the injection configuration.
pub const PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE: MessageType = MessageType {
    code: "IST0158",
    name: "PodsIstioProxyImageMismatchInNamespace",
    level: Level::Warning,
    template: "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: %v). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.",
};

/// A Telemetry resource selects the same workloads as another Telemetry resource
pub const CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0159",
    name: "ConflictingTelemetryWorkloadSelectors",
    level: Level::Error,
    template: "The Telemetries %v in namespace %q select the same workload pod %q, which can lead to undefined behavior.",
};

/// More than one telemetry resource in a namespace has no workload selector
pub const MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS: MessageType = MessageType {
    code: "IST0160",
    name: "MultipleTelemetriesWithoutWorkloadSelectors",
    level: Level::Error,
    template: "The Telemetries %v in namespace %q have no workload selector, which can lead to undefined behavior.",
};

/// The credential provided for the Gateway resource is invalid
pub const INVALID_GATEWAY_CREDENTIAL: MessageType = MessageType {
    code: "IST0161",
    name: "InvalidGatewayCredential",
    level: Level::Error,
    template: "The credential referenced by the Gateway %s in namespace %s is invalid, which can cause the traffic not to work as expected.",
};

/// Gateway port not exposed by service
pub const GATEWAY_PORT_NOT_DEFINED_ON_SERVICE: MessageType = MessageType {
    code: "IST0162",
    name: "GatewayPortNotDefinedOnService",
    level: Level::Warning,
    template: "The gateway is listening on a target port (port %d) that is not defined in the Service associated with its workload instances (Pod selector %s). If you need to access the gateway port through the gateway Service, it will not be available.",
};

/// Address for the ingress gateway on the external control plane is not valid
pub const INVALID_EXTERNAL_CONTROL_PLANE_CONFIG: MessageType = MessageType {
    code: "IST0163",
    name: "InvalidExternalControlPlaneConfig",
    level: Level::Warning,
    template: "The hostname (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster %s. Traffic may not flow properly.",
};

/// Address for the ingress gateway on the external control plane is an IP address and not a hostname
pub const EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME: MessageType = MessageType {
    code: "IST0164",
    name: "ExternalControlPlaneAddressIsNotAHostname",
    level: Level::Info,
    template: "The address (%s) that was provided for the webhook (%s) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.",
};

/// VirtualServices should not reference internal Gateways.
pub const REFERENCED_INTERNAL_GATEWAY: MessageType = MessageType {
    code: "IST0165",
    name: "ReferencedInternalGateway",
    level: Level::Warning,
    template: "Gateway reference in VirtualService %s is to an implementation-generated internal Gateway: %s.",
};

/// Selector has no effect when applied to Kubernetes Gateways.
pub const INEFFECTIVE_SELECTOR: MessageType = MessageType {
    code: "IST0166",
    name: "IneffectiveSelector",
    level: Level::Warning,
    template: "Ineffective selector on Kubernetes Gateway %s. Use the TargetRef field instead.",
};

/// The policy applied has no impact.
pub const INEFFECTIVE_POLICY: MessageType = MessageType {
    code: "IST0167",
    name: "IneffectivePolicy",
    level: Level::Warning,
    template: "The policy has no impact: %s.",
};

/// We cannot automatically detect whether a change is fully compatible or not
pub const UNKNOWN_UPGRADE_COMPATIBILITY: MessageType = MessageType {
    code: "IST0168",
    name: "UnknownUpgradeCompatibility",
    level: Level::Warning,
    template: "The configuration %q changed in release %s, but compatibility cannot be automatically detected: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default.",
};

/// The provided configuration object may be incompatible due to an upgrade
pub const UPDATE_INCOMPATIBILITY: MessageType = MessageType {
    code: "IST0169",
    name: "UpdateIncompatibility",
    level: Level::Warning,
    template: "The configuration %q changed in release %s: %s. Or, install with `--set compatibilityVersion=%s` to retain the old default.",
};

/// The services live in different clusters under multi-cluster deployment model are inconsistent
pub const MULTI_CLUSTER_INCONSISTENT_SERVICE: MessageType = MessageType {
    code: "IST0170",
    name: "MultiClusterInconsistentService",
    level: Level::Warning,
    template: "The service %v in namespace %q is inconsistent across clusters %q, which can lead to undefined behaviors. The inconsistent behaviors are: %v.",
};

/// A condition with a negative status is present
pub const NEGATIVE_CONDITION_STATUS: MessageType = MessageType {
    code: "IST0171",
    name: "NegativeConditionStatus",
    level: Level::Warning,
    template: "A condition with a negative status is present: type=%s, reason=%s, message=%s.",
};

/// The Gateway API CRD version will not be supported in the future
pub const FUTURE_UNSUPPORTED_GATEWAY_API_VERSION: MessageType = MessageType {
    code: "IST0172",
    name: "FutureUnsupportedGatewayAPIVersion",
    level: Level::Warning,
    template: "The Gateway API CRD version %v is lower than the minimum version: %v",
};

/// Subsets defined in destination does not select any pods.
pub const DESTINATION_RULE_SUBSET_NOT_SELECT_PODS: MessageType = MessageType {
    code: "IST0173",
    name: "DestinationRuleSubsetNotSelectPods",
    level: Level::Error,
    template: "The Subset %s defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).",
};

/// Host defined in destination rule does not match any services in the mesh.
pub const UNKNOWN_DESTINATION_RULE_HOST: MessageType = MessageType {
    code: "IST0174",
    name: "UnknownDestinationRuleHost",
    level: Level::Warning,
    template: "The host %s defined in the DestinationRule does not match any services in the mesh.",
};

/// RequestAuthentication resources exist but BLOCKED_CIDRS_IN_JWKS_URIS is not configured on istiod.
pub const JWKS_URI_FETCH_UNRESTRICTED: MessageType = MessageType {
    code: "IST0175",
    name: "JwksUriFetchUnrestricted",
    level: Level::Warning,
    template: "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but %d RequestAuthentication resource(s) exist (%s). Consider configuring it to restrict JWKS URI fetches to trusted networks.",
};

/// A Gateway API CRD is installed at a version below the minimum required by this Istio version. Resources of this kind will not be processed.
pub const GATEWAY_APICRD_VERSION_BELOW_MINIMUM: MessageType = MessageType {
    code: "IST0176",
    name: "GatewayAPICRDVersionBelowMinimum",
    level: Level::Warning,
    template: "Gateway API CRD %q is at version %q but Istio requires at least %q; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
};

/// Multiple ServiceEntries define the same host and port with conflicting protocols.
pub const CONFLICTING_SERVICE_ENTRY_PROTOCOL: MessageType = MessageType {
    code: "IST0177",
    name: "ConflictingServiceEntryProtocol",
    level: Level::Warning,
    template: "Multiple ServiceEntries (%s) define the same host %q and port %d with conflicting protocols (%s).",
};

/// Every message type, ordered by code.
pub static ALL: &[MessageType] = &[
    INTERNAL_ERROR,
    DEPRECATED,
    REFERENCED_RESOURCE_NOT_FOUND,
    NAMESPACE_NOT_INJECTED,
    POD_MISSING_PROXY,
    GATEWAY_PORT_NOT_ON_WORKLOAD,
    ISTIO_PROXY_IMAGE_MISMATCH,
    SCHEMA_VALIDATION_ERROR,
    MISPLACED_ANNOTATION,
    UNKNOWN_ANNOTATION,
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
    MTLS_POLICY_CONFLICT,
    POLICY_SPECIFIES_PORT_NAME_THAT_DOESNT_EXIST,
    DESTINATION_RULE_USES_MTLS_FOR_WORKLOAD_WITHOUT_SIDECAR,
    DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
    DEPLOYMENT_REQUIRES_SERVICE_ASSOCIATED,
    PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
    JWT_FAILURE_DUE_TO_INVALID_SERVICE_PORT_PREFIX,
    POLICY_RESOURCE_IS_DEPRECATED,
    MESH_POLICY_RESOURCE_IS_DEPRECATED,
    NAMESPACE_MULTIPLE_INJECTION_LABELS,
    INVALID_ANNOTATION,
    UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY,
    NO_MATCHING_WORKLOADS_FOUND,
    NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
    NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    SCHEMA_WARNING,
    SERVICE_ENTRY_ADDRESSES_REQUIRED,
    DEPRECATED_ANNOTATION,
    ALPHA_ANNOTATION,
    DEPLOYMENT_CONFLICTING_PORTS,
    GATEWAY_DUPLICATE_CERTIFICATE,
    INVALID_WEBHOOK,
    INGRESS_ROUTE_RULES_NOT_AFFECTED,
    INSUFFICIENT_PERMISSIONS,
    UNSUPPORTED_KUBERNETES_VERSION,
    LOCALHOST_LISTENER,
    INVALID_APPLICATION_UID,
    CONFLICTING_GATEWAYS,
    IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
    IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
    NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
    JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTH_N,
    EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
    ENVOY_FILTER_USES_RELATIVE_OPERATION,
    ENVOY_FILTER_USES_REPLACE_OPERATION_INCORRECTLY,
    ENVOY_FILTER_USES_ADD_OPERATION_INCORRECTLY,
    ENVOY_FILTER_USES_REMOVE_OPERATION_INCORRECTLY,
    ENVOY_FILTER_USES_RELATIVE_OPERATION_WITH_PROXY_VERSION,
    UNSUPPORTED_GATEWAY_API_VERSION,
    INVALID_TELEMETRY_PROVIDER,
    PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
    CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
    MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
    INVALID_GATEWAY_CREDENTIAL,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
    EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
    REFERENCED_INTERNAL_GATEWAY,
    INEFFECTIVE_SELECTOR,
    INEFFECTIVE_POLICY,
    UNKNOWN_UPGRADE_COMPATIBILITY,
    UPDATE_INCOMPATIBILITY,
    MULTI_CLUSTER_INCONSISTENT_SERVICE,
    NEGATIVE_CONDITION_STATUS,
    FUTURE_UNSUPPORTED_GATEWAY_API_VERSION,
    DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    JWKS_URI_FETCH_UNRESTRICTED,
    GATEWAY_APICRD_VERSION_BELOW_MINIMUM,
    CONFLICTING_SERVICE_ENTRY_PROTOCOL,
];
