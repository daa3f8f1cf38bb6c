//! Pieces shared by Istio's API groups: the enum macro that reads protobuf enums from their
//! names (or numbers), the small messages several kinds embed (`StringMatch`, `PortSelector`,
//! `WorkloadSelector`, `PolicyTargetReference`), durations, and the name checks Istio applies
//! to hosts, labels, ports, protocols and headers.
//!
//! Every check here is a plain function returning Istio's error text; the callers decide the
//! field path the finding is recorded at.

mod duration;
mod headers;
mod names;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::validate::Findings;

pub use duration::{check_duration, parse_duration, validate_duration};
pub use headers::{
    is_authority_header, is_jwt_claim_route, validate_cors_header_name,
    validate_header_name_or_jwt_claim, validate_header_operation_name, validate_header_value,
    validate_header_with_authority_name, validate_probe_header_name,
};
pub use names::{
    Protocol, host_matches, host_subset_of, is_dns1123_label, is_ip, is_wildcard_dns1123_label,
    validate_dns1123_labels, validate_export_to, validate_fqdn, validate_ip_address,
    validate_ip_subnet, validate_labels, validate_namespace_slash_wildcard_hostname,
    validate_partial_wildcard, validate_port, validate_port_name, validate_protocol,
    validate_unix_address, validate_wildcard_domain,
};

/// Declares a protobuf enum read from its value name (`"ROUND_ROBIN"`) or its number, as
/// protobuf's JSON mapping reads enums. Values are numbered from 0 in the order written; the
/// first is the default.
macro_rules! proto_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(#[$fmeta:meta])* $first:ident = $first_name:literal
            $(, $(#[$vmeta:meta])* $var:ident = $var_name:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        $vis enum $name {
            $(#[$fmeta])*
            #[default]
            $first,
            $($(#[$vmeta])* $var,)*
        }

        impl $name {
            /// Every value with its protobuf name, in number order.
            pub const VALUES: &'static [($name, &'static str)] =
                &[($name::$first, $first_name) $(, ($name::$var, $var_name))*];

            /// The protobuf name of the value.
            pub fn as_str(self) -> &'static str {
                Self::VALUES
                    .iter()
                    .find(|(v, _)| *v == self)
                    .map(|(_, n)| *n)
                    .unwrap_or_default()
            }

            /// The value named `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::VALUES.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($crate::istio::common::EnumVisitor::<$name>::new(
                    stringify!($name),
                    $name::VALUES,
                ))
            }
        }
    };
}
pub(crate) use proto_enum;

/// Reads a protobuf enum from a name or a number; used by [`proto_enum!`].
#[doc(hidden)]
pub struct EnumVisitor<T: 'static> {
    name: &'static str,
    values: &'static [(T, &'static str)],
}

impl<T: Copy + 'static> EnumVisitor<T> {
    /// A visitor for the enum `name` with these values.
    pub fn new(name: &'static str, values: &'static [(T, &'static str)]) -> Self {
        EnumVisitor { name, values }
    }

    fn names(&self) -> String {
        self.values
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<T: Copy + 'static> serde::de::Visitor<'_> for EnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "one of {}", self.names())
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
        self.values
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(v, _)| *v)
            .ok_or_else(|| {
                E::custom(format!(
                    "unknown value {s:?} for enum {}; expected one of {}",
                    self.name,
                    self.names()
                ))
            })
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<T, E> {
        usize::try_from(n)
            .ok()
            .and_then(|i| self.values.get(i))
            .map(|(v, _)| *v)
            .ok_or_else(|| E::custom(format!("unknown value {n} for enum {}", self.name)))
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<T, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(-1))
    }
}

pub use crate::istio::decode::decode_spec;

/// Formats a list as Go's `%v` does for a `[]string`: `[a b c]`.
pub fn go_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", parts.join(" "))
}

/// Records an error at `path` when `r` is one.
pub fn report(out: &mut Findings, path: &str, r: Result<(), String>) {
    if let Err(e) = r {
        out.error(path, e);
    }
}

/// Records every message of `errs` as an error at `path`.
pub fn report_all(out: &mut Findings, path: &str, errs: Vec<String>) {
    for e in errs {
        out.error(path, e);
    }
}

/// Records an error at `path` when more than one of the named members of a `oneof` is set.
pub fn check_oneof(out: &mut Findings, path: &str, members: &[(&str, bool)]) {
    if members.iter().filter(|(_, set)| *set).count() > 1 {
        let names: Vec<&str> = members.iter().map(|(n, _)| *n).collect();
        out.error(path, format!("only one of {} may be set", names.join(", ")));
    }
}

/// `istio.networking.v1alpha3.StringMatch`: a string matched exactly, by prefix or by an RE2
/// regular expression (a `oneof`: at most one is set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct StringMatch {
    /// Exact match.
    pub exact: Option<String>,
    /// Prefix match.
    pub prefix: Option<String>,
    /// RE2 regular expression, matched against the whole string.
    pub regex: Option<String>,
}

impl StringMatch {
    /// Records an error when more than one way of matching is set.
    pub fn check_oneof(&self, out: &mut Findings, path: &str) {
        check_oneof(
            out,
            path,
            &[
                ("exact", self.exact.is_some()),
                ("prefix", self.prefix.is_some()),
                ("regex", self.regex.is_some()),
            ],
        );
    }

    /// The exact string, if that is how it matches (Go's `GetExact`: empty otherwise).
    pub fn exact(&self) -> &str {
        self.exact.as_deref().unwrap_or_default()
    }

    /// The prefix, if that is how it matches.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or_default()
    }
}

/// Istio's check of a string match (`validateStringMatch`): a prefix may not be empty, a
/// regular expression must compile. `whence` names the field in the message.
pub fn validate_string_match(sm: Option<&StringMatch>, whence: &str) -> Result<(), String> {
    let Some(sm) = sm else { return Ok(()) };
    if sm.exact.is_none() && sm.prefix.as_deref() == Some("") {
        return Err(format!(
            "{whence:?}: prefix string match should not be empty"
        ));
    }
    validate_string_match_regex(Some(sm), whence)
}

/// Istio's check of a regex string match alone (`validateStringMatchRegexp`).
pub fn validate_string_match_regex(sm: Option<&StringMatch>, whence: &str) -> Result<(), String> {
    match sm.and_then(|m| {
        if m.exact.is_some() || m.prefix.is_some() {
            None
        } else {
            m.regex.as_deref()
        }
    }) {
        None => Ok(()),
        Some("") => Err(format!(
            "{whence:?}: regex string match should not be empty"
        )),
        Some(re) => validate_regex(re, whence),
    }
}

/// Istio's check of an RE2 regular expression (`validateStringRegexp`): at most 1024
/// characters, and it must compile.
pub fn validate_regex(re: &str, whence: &str) -> Result<(), String> {
    if re.len() > 1024 {
        return Err(format!(
            "{whence:?}: regex is too large, max length allowed is 1024"
        ));
    }
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{whence:?}: {}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)",
            one_line(&e.to_string())
        )),
    }
}

/// Joins a multi-line message (the `regex` crate's errors) into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `istio.networking.v1alpha3.PortSelector`: a port by number.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSelector {
    /// The port number.
    pub number: u32,
}

/// `istio.type.v1beta1.WorkloadSelector`: the workloads a policy applies to, by labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    /// Labels a workload must carry (all of them).
    pub match_labels: BTreeMap<String, String>,
}

/// `istio.type.v1beta1.PolicyTargetReference`: the resource a policy attaches to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group (empty for the core group).
    pub group: String,
    /// Kind, e.g. `Service` or `Gateway`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace; must be empty (cross-namespace references are not supported).
    pub namespace: String,
}

/// Istio's check of an `istio.type.v1beta1.WorkloadSelector` (`validateWorkloadSelector`):
/// no empty keys, no wildcards; an empty selector is a warning.
pub fn validate_workload_selector(sel: Option<&WorkloadSelector>, out: &mut Findings, path: &str) {
    let Some(sel) = sel else { return };
    let labels_path = format!("{path}.matchLabels");
    for (k, v) in &sel.match_labels {
        if k.is_empty() {
            out.error(
                &labels_path,
                format!(
                    "empty key is not supported in selector: {:?}",
                    format!("{k}={v}")
                ),
            );
        }
        if k.contains('*') || v.contains('*') {
            out.error(
                format!("{labels_path}[{k:?}]"),
                format!(
                    "wildcard is not supported in selector: {:?}",
                    format!("{k}={v}")
                ),
            );
        }
    }
    if sel.match_labels.is_empty() {
        out.warning(path, "workload selector specified without labels");
    }
}

/// Istio's check of a selector written as a plain label map (the `labels` of the networking
/// group's own `WorkloadSelector`): returns the warning for an empty selector and the errors.
pub fn validate_label_selector(labels: &BTreeMap<String, String>) -> (Option<String>, Vec<String>) {
    let mut errs = Vec::new();
    for (k, v) in labels {
        if k.is_empty() {
            errs.push(format!(
                "empty key is not supported in selector: {:?}",
                format!("{k}={v}")
            ));
        }
        if k.contains('*') || v.contains('*') {
            errs.push(format!(
                "wildcard is not supported in selector: {:?}",
                format!("{k}={v}")
            ));
        }
    }
    let warning = labels
        .is_empty()
        .then(|| "workload selector specified without labels".to_string());
    (warning, errs)
}

/// Kinds a `targetRef` may name, as (canonical group, kind).
const ALLOWED_TARGET_REFS: &[(&str, &str)] = &[
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

/// Istio's check of one `targetRef` (`validatePolicyTargetReference`).
pub fn validate_policy_target_ref(r: &PolicyTargetReference, out: &mut Findings, path: &str) {
    if r.name.is_empty() {
        out.error(path, "targetRef name must be set");
    }
    if !r.namespace.is_empty() {
        out.error(
            format!("{path}.namespace"),
            "targetRef namespace must not be set; cross namespace referencing is not supported",
        );
    }
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.as_str()
    };
    if !ALLOWED_TARGET_REFS
        .iter()
        .any(|(g, k)| *g == group && *k == r.kind)
    {
        out.error(
            path,
            format!(
                "targetRef must be to one of [core/v1/Service networking.istio.io/v1/ServiceEntry gateway.networking.k8s.io/v1/Gateway gateway.networking.k8s.io/v1/GatewayClass] but was {}/{}",
                r.group, r.kind
            ),
        );
    }
}

/// Istio's check of a list of `targetRefs`.
pub fn validate_policy_target_refs(refs: &[PolicyTargetReference], out: &mut Findings, path: &str) {
    for (i, r) in refs.iter().enumerate() {
        validate_policy_target_ref(r, out, &format!("{path}[{i}]"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proto_enum! {
        /// A test enum.
        enum Mode { Off = "OFF", On = "ON", Auto = "AUTO" }
    }

    #[test]
    fn enums_read_names_and_numbers() {
        let m: Mode = serde_json::from_value(serde_json::json!("AUTO")).unwrap();
        assert_eq!(m, Mode::Auto);
        let m: Mode = serde_json::from_value(serde_json::json!(1)).unwrap();
        assert_eq!(m, Mode::On);
        assert_eq!(Mode::default(), Mode::Off);
        assert_eq!(Mode::from_name("ON"), Some(Mode::On));
        assert_eq!(Mode::Auto.to_string(), "AUTO");
        let e = serde_json::from_value::<Mode>(serde_json::json!("BOGUS")).unwrap_err();
        assert!(e.to_string().contains("unknown value \"BOGUS\""), "{e}");
        assert!(serde_json::from_value::<Mode>(serde_json::json!(7)).is_err());
    }

    #[test]
    fn string_matches() {
        let sm = |e: Option<&str>, p: Option<&str>, r: Option<&str>| StringMatch {
            exact: e.map(Into::into),
            prefix: p.map(Into::into),
            regex: r.map(Into::into),
        };
        let cases = [
            (sm(Some(""), None, None), true),
            (sm(None, Some(""), None), false),
            (sm(None, Some("/a"), None), true),
            (sm(None, None, Some("")), false),
            (sm(None, None, Some("a(b")), false),
            (sm(None, None, Some("^/api/v[0-9]+/.*$")), true),
            (sm(None, None, Some(&"a".repeat(1025))), false),
        ];
        for (m, ok) in cases {
            assert_eq!(validate_string_match(Some(&m), "uri").is_ok(), ok, "{m:?}");
        }
    }

    #[test]
    fn nulls_are_unset() {
        #[derive(Deserialize, Default)]
        #[serde(default, deny_unknown_fields)]
        struct S {
            egress: Vec<String>,
        }
        let mut out = Findings::default();
        let s: S = decode_spec(&serde_json::json!({"egress": null}), &mut out).unwrap();
        assert!(s.egress.is_empty());
        assert!(!out.has_errors());
    }
}
