//! The destinations of a VirtualService, each with the path of its `host` field.

use serde_json::Value;

use crate::util::arr_of;

static NULL: Value = Value::Null;

/// Where a destination sits in a VirtualService.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// `spec.<tcp|tls|http>[rule].route[index].destination`.
    Route(&'static str),
    /// `spec.http[rule].mirror`.
    Mirror,
    /// `spec.http[rule].mirrors[index].destination`.
    Mirrors,
}

/// One destination of a VirtualService.
#[derive(Debug, Clone)]
pub(crate) struct Destination<'a> {
    /// Which list it comes from.
    pub place: Place,
    /// Index of the rule (`http[i]`).
    pub rule: usize,
    /// Index in the rule's route or mirrors list.
    pub index: usize,
    /// The `Destination` object (`Value::Null` when absent).
    pub value: &'a Value,
}

impl Destination<'_> {
    /// `destination.host` (empty when unset).
    pub fn host(&self) -> &str {
        self.value
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `destination.subset` (empty when unset).
    pub fn subset(&self) -> &str {
        self.value
            .get("subset")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `destination.port.number`, when a port is given.
    pub fn port(&self) -> Option<u32> {
        let port = self.value.get("port").filter(|p| !p.is_null())?;
        Some(port.get("number").and_then(Value::as_u64).unwrap_or(0) as u32)
    }

    /// JSON pointer of the `host` field.
    pub fn host_path(&self) -> String {
        match self.place {
            Place::Route(kind) => format!(
                "/spec/{kind}/{}/route/{}/destination/host",
                self.rule, self.index
            ),
            Place::Mirror => format!("/spec/http/{}/mirror/host", self.rule),
            Place::Mirrors => format!(
                "/spec/http/{}/mirrors/{}/destination/host",
                self.rule, self.index
            ),
        }
    }
}

/// The route destinations of `tcp`, `tls` and `http` rules, in that order.
pub(crate) fn route_destinations(spec: &Value) -> Vec<Destination<'_>> {
    let mut out = Vec::new();
    for kind in ["tcp", "tls", "http"] {
        for (i, rule) in arr_of(spec, kind).iter().enumerate() {
            for (j, route) in arr_of(rule, "route").iter().enumerate() {
                out.push(Destination {
                    place: Place::Route(kind),
                    rule: i,
                    index: j,
                    value: route.get("destination").unwrap_or(&NULL),
                });
            }
        }
    }
    out
}

/// The `mirror` and `mirrors` destinations of `http` rules.
pub(crate) fn mirror_destinations(spec: &Value) -> Vec<Destination<'_>> {
    let mut out = Vec::new();
    for (i, rule) in arr_of(spec, "http").iter().enumerate() {
        if let Some(m) = rule.get("mirror").filter(|m| !m.is_null()) {
            out.push(Destination {
                place: Place::Mirror,
                rule: i,
                index: 0,
                value: m,
            });
        }
        for (j, m) in arr_of(rule, "mirrors").iter().enumerate() {
            out.push(Destination {
                place: Place::Mirrors,
                rule: i,
                index: j,
                value: m.get("destination").unwrap_or(&NULL),
            });
        }
    }
    out
}
