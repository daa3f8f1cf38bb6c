//! Istio's `schema.ValidationAnalyzer.<Kind>`: runs the validation of each Istio kind as an
//! analyzer. Errors become IST0106 SchemaValidationError, warnings IST0133 SchemaWarning,
//! except the warnings Istio reports under their own messages (IST0130, IST0131).

use mast_config::{Severity, validate};

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::message::{Arg, MessageType};

/// Validation of one kind, run as an analyzer.
struct ValidationAnalyzer {
    name: &'static str,
    description: &'static str,
    kind: &'static [Kind; 1],
}

macro_rules! schema_analyzers {
    ($($k:ident => $kind:literal),* $(,)?) => {
        /// The analyzers of this module: one per Istio kind.
        pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
            vec![$(
                Box::new(ValidationAnalyzer {
                    name: concat!("schema.ValidationAnalyzer.", $kind),
                    description: concat!("Runs schema validation as an analyzer on '", $kind, "' resources"),
                    kind: &[kinds::$k],
                }) as Box<dyn Analyzer>,
            )*]
        }
    };
}

schema_analyzers! {
    AUTHORIZATION_POLICY => "AuthorizationPolicy",
    DESTINATION_RULE => "DestinationRule",
    ENVOY_FILTER => "EnvoyFilter",
    GATEWAY => "Gateway",
    PEER_AUTHENTICATION => "PeerAuthentication",
    PROXY_CONFIG => "ProxyConfig",
    REQUEST_AUTHENTICATION => "RequestAuthentication",
    SERVICE_ENTRY => "ServiceEntry",
    SIDECAR => "Sidecar",
    TELEMETRY => "Telemetry",
    VIRTUAL_SERVICE => "VirtualService",
    WASM_PLUGIN => "WasmPlugin",
    WORKLOAD_ENTRY => "WorkloadEntry",
    WORKLOAD_GROUP => "WorkloadGroup",
}

/// The IST message a validation warning is reported as.
fn message_for(name: Option<&str>) -> Option<MessageType> {
    match name? {
        "VirtualServiceUnreachableRule" => Some(catalogue::VIRTUAL_SERVICE_UNREACHABLE_RULE),
        "VirtualServiceIneffectiveMatch" => Some(catalogue::VIRTUAL_SERVICE_INEFFECTIVE_MATCH),
        _ => None,
    }
}

impl Analyzer for ValidationAnalyzer {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn inputs(&self) -> &'static [Kind] {
        self.kind
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for r in store.list(self.kind[0]) {
            for e in validate(r) {
                let path = mast_config::validate::pointer(&e.finding.path);
                let special = message_for(e.finding.analyzer_message);
                let (kind, args): (MessageType, Vec<Arg>) = match (e.finding.severity, special) {
                    (Severity::Warning, Some(m)) => {
                        (m, e.finding.analyzer_args.iter().map(Arg::from).collect())
                    }
                    (Severity::Warning, None) => (
                        catalogue::SCHEMA_WARNING,
                        vec![format!("{}: {}", e.finding.path, e.finding.message).into()],
                    ),
                    (Severity::Error, _) => (
                        catalogue::SCHEMA_VALIDATION_ERROR,
                        vec![format!("{}: {}", e.finding.path, e.finding.message).into()],
                    ),
                };
                ctx.report(r, Some(&path), kind, args);
            }
        }
    }
}
