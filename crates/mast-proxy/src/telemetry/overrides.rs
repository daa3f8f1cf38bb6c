//! The Telemetry API's metric changes as the stats plugin receives them
//! (`stats.PluginConfig.metrics`: `name`, `drop`, `tags_to_remove`, `dimensions`), compiled
//! once per filter.

use serde_json::Value;

use super::expr::{self, Captures, Operand};

/// One of Istio's standard metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// `istio_requests_total`.
    RequestsTotal = 0,
    /// `istio_request_duration_milliseconds`.
    RequestDuration = 1,
    /// `istio_request_bytes`.
    RequestBytes = 2,
    /// `istio_response_bytes`.
    ResponseBytes = 3,
    /// `istio_tcp_connections_opened_total`.
    TcpOpened = 4,
    /// `istio_tcp_connections_closed_total`.
    TcpClosed = 5,
    /// `istio_tcp_sent_bytes_total`.
    TcpSent = 6,
    /// `istio_tcp_received_bytes_total`.
    TcpReceived = 7,
}

/// The HTTP metrics, in render order.
pub const HTTP: [Metric; 4] = [
    Metric::RequestsTotal,
    Metric::RequestDuration,
    Metric::RequestBytes,
    Metric::ResponseBytes,
];

/// The TCP metrics, in render order.
pub const TCP: [Metric; 4] = [
    Metric::TcpOpened,
    Metric::TcpClosed,
    Metric::TcpSent,
    Metric::TcpReceived,
];

impl Metric {
    /// The metric with this stats-plugin name (`requests_total`...); gRPC message counts
    /// are known but not emitted (`None` inside).
    pub fn by_name(name: &str) -> Option<Option<Metric>> {
        Some(Some(match name {
            "requests_total" => Metric::RequestsTotal,
            "request_duration_milliseconds" => Metric::RequestDuration,
            "request_bytes" => Metric::RequestBytes,
            "response_bytes" => Metric::ResponseBytes,
            "tcp_connections_opened_total" => Metric::TcpOpened,
            "tcp_connections_closed_total" => Metric::TcpClosed,
            "tcp_sent_bytes_total" => Metric::TcpSent,
            "tcp_received_bytes_total" => Metric::TcpReceived,
            "request_messages_total" | "response_messages_total" => return Some(None),
            _ => return None,
        }))
    }

    /// The Prometheus name.
    pub fn prom_name(self) -> &'static str {
        match self {
            Metric::RequestsTotal => "istio_requests_total",
            Metric::RequestDuration => "istio_request_duration_milliseconds",
            Metric::RequestBytes => "istio_request_bytes",
            Metric::ResponseBytes => "istio_response_bytes",
            Metric::TcpOpened => "istio_tcp_connections_opened_total",
            Metric::TcpClosed => "istio_tcp_connections_closed_total",
            Metric::TcpSent => "istio_tcp_sent_bytes_total",
            Metric::TcpReceived => "istio_tcp_received_bytes_total",
        }
    }

    /// Its bit in a series mask.
    pub fn bit(self) -> u8 {
        1 << (self as u8 % 4)
    }
}

/// The changes to one metric.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricOverride {
    /// Not recorded at all.
    pub drop: bool,
    /// Standard labels left out.
    pub remove: Vec<String>,
    /// Labels set from expressions (a standard label's value replaced, or a new label).
    pub dims: Vec<(String, Operand)>,
}

/// The changes of one stats filter, by metric.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    per: [Option<MetricOverride>; 8],
    /// The request attributes the dimensions read.
    pub captures: Captures,
}

/// Why a `metrics` entry was refused: the field and the reason.
pub type OverrideError = (String, String);

impl Overrides {
    /// Compiles `stats.PluginConfig.metrics`.
    pub fn parse(entries: &[Value]) -> Result<Overrides, OverrideError> {
        let mut o = Overrides::default();
        for (i, e) in entries.iter().enumerate() {
            let at = |f: &str| format!("metrics[{i}].{f}");
            let Some(obj) = e.as_object() else {
                return Err((format!("metrics[{i}]"), "is not an object".into()));
            };
            for k in obj.keys() {
                if !matches!(
                    k.as_str(),
                    "name" | "drop" | "dimensions" | "tags_to_remove"
                ) {
                    return Err((at(k), "not supported by mast-proxy".into()));
                }
            }
            let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
            // an entry without a name applies to every metric, as in Istio's plugin
            let metrics: Vec<Metric> = if name.is_empty() {
                HTTP.iter().chain(TCP.iter()).copied().collect()
            } else {
                match Metric::by_name(name) {
                    Some(m) => m.into_iter().collect(),
                    None => return Err((at("name"), format!("unknown metric {name:?}"))),
                }
            };
            let drop = obj.get("drop").and_then(Value::as_bool).unwrap_or(false);
            let remove: Vec<String> = match obj.get("tags_to_remove") {
                None => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|t| {
                        t.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| (at("tags_to_remove"), "takes strings".to_string()))
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err((at("tags_to_remove"), "is not a list".into())),
            };
            let mut dims = Vec::new();
            match obj.get("dimensions") {
                None => {}
                Some(Value::Object(d)) => {
                    for (tag, v) in d {
                        let Some(src) = v.as_str() else {
                            return Err((
                                at(&format!("dimensions.{tag}")),
                                "is not a string".into(),
                            ));
                        };
                        let op = expr::value(src, &mut o.captures)
                            .map_err(|e| (at(&format!("dimensions.{tag}")), e.to_string()))?;
                        dims.push((tag.clone(), op));
                    }
                }
                Some(_) => return Err((at("dimensions"), "is not a map".into())),
            }
            for m in metrics {
                let slot = o.per[m as usize].get_or_insert_with(MetricOverride::default);
                slot.drop |= drop;
                for r in &remove {
                    slot.dims.retain(|(t, _)| t != r);
                    if !slot.remove.contains(r) {
                        slot.remove.push(r.clone());
                    }
                }
                for (t, op) in &dims {
                    slot.remove.retain(|r| r != t);
                    slot.dims.retain(|(x, _)| x != t);
                    slot.dims.push((t.clone(), op.clone()));
                }
            }
        }
        Ok(o)
    }

    /// The changes to `m`, if any.
    pub fn get(&self, m: Metric) -> Option<&MetricOverride> {
        self.per[m as usize].as_ref()
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.per.iter().all(Option::is_none)
    }

    /// The mask of `metrics` recorded in the standard series (those without changes).
    pub fn standard_mask(&self, metrics: &[Metric]) -> u8 {
        metrics
            .iter()
            .filter(|m| self.get(**m).is_none())
            .fold(0, |acc, m| acc | m.bit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_compile_per_metric() {
        let o = Overrides::parse(
            json!([
                {"name": "requests_total", "tags_to_remove": ["response_flags"],
                 "dimensions": {"request_host": "request.host", "team": "'payments'"}},
                {"name": "tcp_sent_bytes_total", "drop": true},
                {"name": "request_messages_total", "drop": true},
            ])
            .as_array()
            .unwrap(),
        )
        .unwrap();
        let r = o.get(Metric::RequestsTotal).unwrap();
        assert_eq!(r.remove, vec!["response_flags".to_string()]);
        assert_eq!(
            r.dims.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            vec!["request_host", "team"]
        );
        assert!(o.get(Metric::TcpSent).unwrap().drop);
        assert!(o.get(Metric::RequestBytes).is_none());
        assert_eq!(
            o.standard_mask(&HTTP),
            Metric::RequestDuration.bit()
                | Metric::RequestBytes.bit()
                | Metric::ResponseBytes.bit()
        );
        assert!(!o.captures.is_empty());

        // no name: every metric
        let all = Overrides::parse(json!([{"drop": true}]).as_array().unwrap()).unwrap();
        assert!(
            HTTP.iter()
                .chain(TCP.iter())
                .all(|m| all.get(*m).unwrap().drop)
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!([{"name": "bogus_total"}]), "metrics[0].name"),
            (
                json!([{"name": "requests_total", "dimensions": {"x": "upstream_peer.labels['a']"}}]),
                "metrics[0].dimensions.x",
            ),
            (
                json!([{}, {"name": "requests_total", "value": "1"}]),
                "metrics[1].value",
            ),
            (
                json!([{"tags_to_remove": "x"}]),
                "metrics[0].tags_to_remove",
            ),
        ];
        for (cfg, field) in cases {
            let (f, _) = Overrides::parse(cfg.as_array().unwrap()).expect_err(field);
            assert_eq!(f, field);
        }
    }
}
