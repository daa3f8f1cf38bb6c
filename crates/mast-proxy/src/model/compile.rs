//! Compiling xDS protos into the runtime model, once per update.
//!
//! What the proxy cannot honour is an error naming the resource and the field, and the update
//! is NACKed with it: unknown filters (unless marked optional), behaviour it does not
//! implement yet (header-controlled faults, rate limits, hedging...),
//! limits it does not enforce set below "unlimited". Fields that only feed stats, tracing or
//! metadata are accepted and ignored. Each submodule's docs list what it supports.

pub mod action;
pub mod cluster;
pub mod filters;
pub mod hcm;
pub mod listener;
pub mod route;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::HeaderValueOption;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::Any;
use http::{HeaderName, HeaderValue};
use regex::Regex;

use super::Slots;
use super::route::StringMatch;
use crate::tls::CertSource;

/// A field that cannot be honoured, with its path inside the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`filter_chains[0].filters[1]`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    /// An error at `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// `field` is set but not supported.
    pub fn unsupported(field: impl Into<String>) -> FieldError {
        FieldError::new(field, "not supported by mast-proxy")
    }

    /// Prefixes the path with `parent`.
    pub fn at(mut self, parent: impl AsRef<str>) -> FieldError {
        let parent = parent.as_ref();
        self.field = if self.field.is_empty() {
            parent.to_string()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// A resource that cannot be compiled: the NACK's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {}: {}", .error.field, .error.reason)]
pub struct CompileError {
    /// `listener`, `route configuration`, `cluster` or `cluster load assignment`.
    pub kind: &'static str,
    /// The resource name.
    pub name: String,
    /// The field and reason.
    pub error: FieldError,
}

/// Result of compiling one part.
pub type Result<T> = std::result::Result<T, FieldError>;

/// What compilation reads and updates besides the protos.
#[derive(Debug)]
pub struct Compiler<'a> {
    /// The workload certificate (SDS `default` and `ROOTCA`).
    pub certs: &'a Arc<CertSource>,
    /// Cluster slots.
    pub clusters: &'a mut Slots,
    /// Route configuration slots.
    pub routes: &'a mut Slots,
    /// This workload, its peers and metrics, for the telemetry filters.
    pub telemetry: &'a Arc<crate::telemetry::Telemetry>,
    /// The direction of the listener being compiled (the stats filter's default reporter).
    pub direction: super::listener::Direction,
}

/// Decodes an `Any` of type `T`.
pub fn unpack<T: prost::Message + prost::Name + Default>(any: &Any) -> Result<T> {
    let want = T::type_url();
    if any.type_url != want {
        return Err(FieldError::new(
            "@type",
            format!("is {:?}, want {want:?}", any.type_url),
        ));
    }
    T::decode(any.value.as_slice())
        .map_err(|e| FieldError::new("", format!("cannot decode {}: {e}", T::full_name())))
}

/// A proto duration (`None` when absent).
pub fn duration(d: Option<&envoy_types::pb::google::protobuf::Duration>) -> Option<Duration> {
    d.map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
}

/// A timeout where zero disables it; `default` applies when absent.
pub fn timeout(
    d: Option<&envoy_types::pb::google::protobuf::Duration>,
    default: Option<Duration>,
) -> Option<Duration> {
    match duration(d) {
        None => default,
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    }
}

/// A regex matching the whole value (RE2 semantics, as Envoy's `safe_regex`).
pub fn regex(r: &RegexMatcher) -> Result<Regex> {
    Regex::new(&format!("^(?:{})$", r.regex))
        .map_err(|e| FieldError::new("regex", format!("{:?}: {e}", r.regex)))
}

/// A `StringMatcher` and its `ignore_case`.
pub fn string_match(m: &StringMatcher) -> Result<(StringMatch, bool)> {
    let ic = m.ignore_case;
    let lower = |s: &String| {
        if ic {
            s.to_ascii_lowercase()
        } else {
            s.clone()
        }
    };
    let out = match &m.match_pattern {
        Some(MatchPattern::Exact(s)) => StringMatch::Exact(lower(s)),
        Some(MatchPattern::Prefix(s)) => StringMatch::Prefix(lower(s)),
        Some(MatchPattern::Suffix(s)) => StringMatch::Suffix(lower(s)),
        Some(MatchPattern::Contains(s)) => StringMatch::Contains(lower(s)),
        Some(MatchPattern::SafeRegex(r)) => {
            StringMatch::Regex(regex(r).map_err(|e| e.at("safe_regex"))?)
        }
        Some(MatchPattern::Custom(_)) => return Err(FieldError::unsupported("custom")),
        None => return Err(FieldError::new("match_pattern", "is empty")),
    };
    Ok((out, ic))
}

/// A header name from config.
pub fn header_name(s: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(s.to_ascii_lowercase().as_bytes())
        .map_err(|_| FieldError::new("", format!("{s:?} is not a header name")))
}

/// Header additions as `(name, value, append)`; Envoy's `%FORMATTER%` values are refused.
#[allow(deprecated)]
pub fn header_adds(
    opts: &[HeaderValueOption],
    field: &str,
) -> Result<Vec<(HeaderName, HeaderValue, bool)>> {
    opts.iter()
        .enumerate()
        .map(|(i, o)| {
            let at = |e: FieldError| e.at(format!("{field}[{i}]"));
            let h = o
                .header
                .as_ref()
                .ok_or_else(|| at(FieldError::new("header", "is missing")))?;
            let name = header_name(&h.key).map_err(|e| at(e.at("header.key")))?;
            let raw = if h.raw_value.is_empty() {
                h.value.as_bytes()
            } else {
                h.raw_value.as_slice()
            };
            if raw.iter().filter(|b| **b == b'%').count() >= 2 {
                return Err(at(FieldError::new(
                    "header.value",
                    "command operators (%...%) are not supported by mast-proxy",
                )));
            }
            let value = HeaderValue::from_bytes(raw)
                .map_err(|_| at(FieldError::new("header.value", "is not a header value")))?;
            let append = match (&o.append, o.append_action) {
                (Some(b), _) => b.value,
                (None, 0) => true,
                (None, 2) => false,
                (None, a) => {
                    return Err(at(FieldError::new(
                        "append_action",
                        format!("{a} is not supported by mast-proxy"),
                    )));
                }
            };
            Ok((name, value, append))
        })
        .collect()
}

/// Header removals.
pub fn header_removes(names: &[String], field: &str) -> Result<Vec<HeaderName>> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| header_name(n).map_err(|e| e.at(format!("{field}[{i}]"))))
        .collect()
}

impl Compiler<'_> {
    /// Compiles a Listener.
    pub fn listener(
        &mut self,
        any: &Any,
    ) -> std::result::Result<super::listener::Listener, CompileError> {
        let l: envoy_types::pb::envoy::config::listener::v3::Listener =
            unpack(any).map_err(|error| CompileError {
                kind: "listener",
                name: String::new(),
                error,
            })?;
        let name = l.name.clone();
        listener::compile(self, l, any.value.clone()).map_err(|error| CompileError {
            kind: "listener",
            name,
            error,
        })
    }

    /// Compiles a RouteConfiguration.
    pub fn route_table(
        &mut self,
        any: &Any,
    ) -> std::result::Result<super::route::RouteTable, CompileError> {
        let rc: envoy_types::pb::envoy::config::route::v3::RouteConfiguration = unpack(any)
            .map_err(|error| CompileError {
                kind: "route configuration",
                name: String::new(),
                error,
            })?;
        let name = rc.name.clone();
        route::compile(self, &rc).map_err(|error| CompileError {
            kind: "route configuration",
            name,
            error,
        })
    }

    /// Compiles a Cluster.
    pub fn cluster(
        &mut self,
        any: &Any,
    ) -> std::result::Result<super::cluster::Cluster, CompileError> {
        let c: envoy_types::pb::envoy::config::cluster::v3::Cluster =
            unpack(any).map_err(|error| CompileError {
                kind: "cluster",
                name: String::new(),
                error,
            })?;
        let name = c.name.clone();
        cluster::compile(self, &c, any.value.clone()).map_err(|error| CompileError {
            kind: "cluster",
            name,
            error,
        })
    }
}

/// Compiles a ClusterLoadAssignment into its cluster name and endpoints.
pub fn assignment(
    any: &Any,
) -> std::result::Result<(String, super::cluster::Assignment), CompileError> {
    let cla: envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment = unpack(any)
        .map_err(|error| CompileError {
            kind: "cluster load assignment",
            name: String::new(),
            error,
        })?;
    let name = cla.cluster_name.clone();
    let a = cluster::assignment(&cla).map_err(|error| CompileError {
        kind: "cluster load assignment",
        name: name.clone(),
        error,
    })?;
    Ok((name, a))
}
