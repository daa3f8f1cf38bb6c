//! Istio's standard metrics, with Istio's names, labels (in the order Istio's stats filter
//! emits them) and Envoy's default histogram buckets, rendered as Prometheus text.
//!
//! HTTP and gRPC: `istio_requests_total`, `istio_request_duration_milliseconds`,
//! `istio_request_bytes`, `istio_response_bytes`. TCP: `istio_tcp_connections_opened_total`,
//! `istio_tcp_connections_closed_total`, `istio_tcp_sent_bytes_total`,
//! `istio_tcp_received_bytes_total`.
//!
//! A series is found by its [`Labels`] (one short lock per request); its label text is built
//! once, when it is first seen.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::overrides::{HTTP, Metric, TCP};
use super::peer::{Peer, UNKNOWN};
use crate::http::reply::Flag;

/// Envoy's default histogram buckets (`stats_config.histogram_bucket_settings` unset).
pub const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// Which proxy reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reporter {
    /// The client's proxy (outbound).
    Source,
    /// The server's proxy (inbound).
    Destination,
}

impl Reporter {
    fn as_str(self) -> &'static str {
        match self {
            Reporter::Source => "source",
            Reporter::Destination => "destination",
        }
    }
}

/// `request_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.1 or HTTP/2.
    Http,
    /// gRPC (`content-type: application/grpc*`).
    Grpc,
    /// A TCP stream.
    Tcp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        }
    }
}

/// `connection_security_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// The downstream connection was mutual TLS (destination reporter).
    MutualTls,
    /// Plaintext or one-way TLS (destination reporter).
    None,
    /// The source reporter does not say.
    Unknown,
}

impl Security {
    fn as_str(self) -> &'static str {
        match self {
            Security::MutualTls => "mutual_tls",
            Security::None => "none",
            Security::Unknown => UNKNOWN,
        }
    }
}

/// The destination service: `destination_service`, `_name`, `_namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    /// Its host (FQDN).
    pub host: Arc<str>,
    /// Its short name.
    pub name: Arc<str>,
    /// Its namespace.
    pub namespace: Arc<str>,
}

impl Service {
    /// A service known only by `host` (no cluster metadata): named after `name`.
    pub fn unknown(host: Option<&str>, name: &str) -> Service {
        Service {
            host: host.filter(|h| !h.is_empty()).unwrap_or(UNKNOWN).into(),
            name: name.into(),
            namespace: UNKNOWN.into(),
        }
    }
}

/// Envoy's response flags as a set, printed in Envoy's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u16);

/// Flags in the order Envoy prints them.
const FLAG_ORDER: [Flag; 12] = [
    Flag::NoHealthyUpstream,
    Flag::UpstreamTimeout,
    Flag::LocalReply,
    Flag::UpstreamConnectFailure,
    Flag::UpstreamConnectionTermination,
    Flag::UpstreamOverflow,
    Flag::NoRoute,
    Flag::DelayInjected,
    Flag::FaultInjected,
    Flag::DownstreamTermination,
    Flag::RetryLimitExceeded,
    Flag::NoCluster,
];

impl Flags {
    /// The set of `flags`.
    pub fn of(flags: &[Flag]) -> Flags {
        let mut bits = 0u16;
        for f in flags {
            if let Some(i) = FLAG_ORDER.iter().position(|o| o == f) {
                bits |= 1 << i;
            }
        }
        Flags(bits)
    }

    /// Adds a flag.
    pub fn with(self, f: Flag) -> Flags {
        Flags(self.0 | Flags::of(&[f]).0)
    }

    fn write(self, out: &mut String) {
        if self.0 == 0 {
            out.push('-');
            return;
        }
        let mut first = true;
        for (i, f) in FLAG_ORDER.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(f.as_str());
            }
        }
    }
}

/// The labels of one series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    /// `reporter`.
    pub reporter: Reporter,
    /// `source_*` but the principal.
    pub source: Arc<Peer>,
    /// `source_principal`.
    pub source_principal: Arc<str>,
    /// `destination_*` of the workload.
    pub destination: Arc<Peer>,
    /// `destination_principal`.
    pub destination_principal: Arc<str>,
    /// `destination_service*`.
    pub service: Arc<Service>,
    /// `request_protocol`.
    pub protocol: Protocol,
    /// `response_code` (HTTP only).
    pub response_code: u16,
    /// `grpc_response_status` (gRPC only; empty otherwise).
    pub grpc_status: Option<u32>,
    /// `response_flags`.
    pub flags: Flags,
    /// `connection_security_policy`.
    pub security: Security,
}

fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Labels {
    /// Calls `l` with every label name and value, in Istio's order.
    fn each(&self, mut l: impl FnMut(&'static str, &str)) {
        let (s, d, svc) = (&self.source, &self.destination, &self.service);
        l("reporter", self.reporter.as_str());
        l("source_workload", &s.workload);
        l("source_canonical_service", &s.canonical_service);
        l("source_canonical_revision", &s.canonical_revision);
        l("source_workload_namespace", &s.namespace);
        l("source_principal", &self.source_principal);
        l("source_app", &s.app);
        l("source_version", &s.version);
        l("source_cluster", &s.cluster);
        l("destination_workload", &d.workload);
        l("destination_workload_namespace", &d.namespace);
        l("destination_principal", &self.destination_principal);
        l("destination_app", &d.app);
        l("destination_version", &d.version);
        l("destination_service", &svc.host);
        l("destination_canonical_service", &d.canonical_service);
        l("destination_canonical_revision", &d.canonical_revision);
        l("destination_service_name", &svc.name);
        l("destination_service_namespace", &svc.namespace);
        l("destination_cluster", &d.cluster);
        l("request_protocol", self.protocol.as_str());
        if self.protocol != Protocol::Tcp {
            l("response_code", &self.response_code.to_string());
            l(
                "grpc_response_status",
                &self.grpc_status.map(|g| g.to_string()).unwrap_or_default(),
            );
        }
        let mut flags = String::new();
        self.flags.write(&mut flags);
        l("response_flags", &flags);
        l("connection_security_policy", self.security.as_str());
    }

    /// The label text (without braces), in Istio's order.
    pub fn render(&self) -> String {
        self.render_with(&[], &[])
    }

    /// The label text with the Telemetry API's changes: `remove`d labels left out, `extra`
    /// labels replacing standard ones of the same name or appended in their order.
    pub fn render_with(&self, remove: &[String], extra: &[(String, String)]) -> String {
        let mut out = String::with_capacity(768);
        let mut push = |name: &str, v: &str| {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
            out.push_str("=\"");
            escape(&mut out, v);
            out.push('"');
        };
        let mut replaced = vec![false; extra.len()];
        self.each(|name, v| {
            if remove.iter().any(|r| r == name) {
                return;
            }
            match extra.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    replaced[i] = true;
                    push(name, &extra[i].1);
                }
                None => push(name, v),
            }
        });
        for ((n, v), done) in extra.iter().zip(replaced) {
            if !done {
                push(n, v);
            }
        }
        out
    }
}

/// A histogram over [`BUCKETS`] (integer observations, as Envoy records them).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: u64,
}

impl Histogram {
    /// Records one value.
    pub fn observe(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        if let Some(i) = BUCKETS.iter().position(|b| v as f64 <= *b) {
            self.counts[i] += 1;
        }
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                format_g(*b)
            );
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// A number as C's `%g` prints it (six significant digits), as Envoy prints bucket bounds
/// (`0.5`, `300000`, `3.6e+06`).
pub fn format_g(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..6).contains(&exp) {
        let mantissa = v / 10f64.powi(exp);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(format!("{mantissa:.5}")), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    }
}

#[derive(Debug)]
struct HttpSeries {
    labels: String,
    /// The metrics recorded in it ([`Metric::bit`]).
    mask: u8,
    requests: u64,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

#[derive(Debug)]
struct TcpSeries {
    labels: String,
    mask: u8,
    opened: u64,
    closed: u64,
    sent: u64,
    received: u64,
}

/// One finished HTTP or gRPC request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// From the first request byte to the last response byte, in milliseconds.
    pub duration_ms: u64,
    /// Request headers and body.
    pub request_bytes: u64,
    /// Response headers and body.
    pub response_bytes: u64,
}

/// What a TCP connection did since its last report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpDelta {
    /// It opened.
    pub opened: bool,
    /// It closed.
    pub closed: bool,
    /// Bytes of the response direction (sent back to the downstream peer).
    pub sent: u64,
    /// Bytes of the request direction (received from the downstream peer).
    pub received: u64,
}

/// A series changed by the Telemetry API, kept by metric and label text.
#[derive(Debug)]
enum Custom {
    Counter(u64),
    Histogram(Histogram),
}

/// Every `istio_*` series of this proxy.
#[derive(Debug, Default)]
pub struct Metrics {
    http: Mutex<HashMap<Labels, HttpSeries>>,
    tcp: Mutex<HashMap<Labels, TcpSeries>>,
    custom: Mutex<HashMap<(Metric, String), Custom>>,
}

impl Metrics {
    /// Records a finished request.
    pub fn record_http(&self, labels: Labels, r: Request) {
        self.record_http_masked(labels, r, 0b1111);
    }

    /// Records a finished request in the standard series of the metrics in `mask`.
    pub fn record_http_masked(&self, labels: Labels, r: Request, mask: u8) {
        let mut http = self.http.lock().expect("http metrics");
        let s = http.entry(labels).or_insert_with_key(|k| HttpSeries {
            labels: k.render(),
            mask: 0,
            requests: 0,
            duration: Histogram::default(),
            request_bytes: Histogram::default(),
            response_bytes: Histogram::default(),
        });
        s.mask |= mask;
        s.requests += 1;
        s.duration.observe(r.duration_ms);
        s.request_bytes.observe(r.request_bytes);
        s.response_bytes.observe(r.response_bytes);
    }

    /// Records one metric's value in a series changed by the Telemetry API (`labels`: its
    /// label text); counters add `v`, histograms observe it.
    pub fn record_custom(&self, metric: Metric, labels: String, v: u64) {
        let histogram = matches!(
            metric,
            Metric::RequestDuration | Metric::RequestBytes | Metric::ResponseBytes
        );
        let mut custom = self.custom.lock().expect("custom metrics");
        let c = custom.entry((metric, labels)).or_insert_with(|| {
            if histogram {
                Custom::Histogram(Histogram::default())
            } else {
                Custom::Counter(0)
            }
        });
        match c {
            Custom::Counter(n) => *n += v,
            Custom::Histogram(h) => h.observe(v),
        }
    }

    /// Records what a TCP connection did (on open, periodically, on close).
    pub fn record_tcp(&self, labels: &Labels, d: TcpDelta) {
        self.record_tcp_masked(labels, d, 0b1111);
    }

    /// Records what a TCP connection did in the standard series of the metrics in `mask`.
    pub fn record_tcp_masked(&self, labels: &Labels, d: TcpDelta, mask: u8) {
        let mut tcp = self.tcp.lock().expect("tcp metrics");
        let s = match tcp.get_mut(labels) {
            Some(s) => s,
            None => tcp.entry(labels.clone()).or_insert_with_key(|k| TcpSeries {
                labels: k.render(),
                mask: 0,
                opened: 0,
                closed: 0,
                sent: 0,
                received: 0,
            }),
        };
        s.mask |= mask;
        s.opened += u64::from(d.opened);
        s.closed += u64::from(d.closed);
        s.sent += d.sent;
        s.received += d.received;
    }

    /// Appends the Prometheus text of every series (sorted by labels, so scrapes are stable).
    pub fn render(&self, out: &mut String) {
        let custom = self.custom.lock().expect("custom metrics");
        let mut changed: Vec<(&(Metric, String), &Custom)> = custom.iter().collect();
        changed.sort_by(|a, b| a.0.cmp(b.0));
        let changed_of = |m: Metric| changed.iter().filter(move |(k, _)| k.0 == m);
        {
            let http = self.http.lock().expect("http metrics");
            let mut series: Vec<&HttpSeries> = http.values().collect();
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            for m in HTTP {
                let standard: Vec<&&HttpSeries> =
                    series.iter().filter(|s| s.mask & m.bit() != 0).collect();
                if standard.is_empty() && changed_of(m).next().is_none() {
                    continue;
                }
                let name = m.prom_name();
                if m == Metric::RequestsTotal {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    for s in &standard {
                        let _ = writeln!(out, "{name}{{{}}} {}", s.labels, s.requests);
                    }
                } else {
                    let _ = writeln!(out, "# TYPE {name} histogram");
                    for s in &standard {
                        let h = match m {
                            Metric::RequestDuration => &s.duration,
                            Metric::RequestBytes => &s.request_bytes,
                            _ => &s.response_bytes,
                        };
                        h.write(out, name, &s.labels);
                    }
                }
                for ((_, labels), c) in changed_of(m) {
                    match c {
                        Custom::Counter(n) => {
                            let _ = writeln!(out, "{name}{{{labels}}} {n}");
                        }
                        Custom::Histogram(h) => h.write(out, name, labels),
                    }
                }
            }
        }
        let tcp = self.tcp.lock().expect("tcp metrics");
        let mut series: Vec<&TcpSeries> = tcp.values().collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        for m in TCP {
            let standard: Vec<&&TcpSeries> =
                series.iter().filter(|s| s.mask & m.bit() != 0).collect();
            if standard.is_empty() && changed_of(m).next().is_none() {
                continue;
            }
            let name = m.prom_name();
            let _ = writeln!(out, "# TYPE {name} counter");
            for s in &standard {
                let v = match m {
                    Metric::TcpOpened => s.opened,
                    Metric::TcpClosed => s.closed,
                    Metric::TcpSent => s.sent,
                    _ => s.received,
                };
                let _ = writeln!(out, "{name}{{{}}} {v}", s.labels);
            }
            for ((_, labels), c) in changed_of(m) {
                if let Custom::Counter(n) = c {
                    let _ = writeln!(out, "{name}{{{labels}}} {n}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(code: u16, grpc: Option<u32>, protocol: Protocol) -> Labels {
        let mut dest = Peer::unknown();
        dest.workload = "reviews-v1".into();
        dest.app = "re\"views".into();
        Labels {
            reporter: Reporter::Destination,
            source: Arc::new(Peer::unknown()),
            source_principal: "spiffe://cluster.local/ns/default/sa/productpage".into(),
            destination: Arc::new(dest),
            destination_principal: UNKNOWN.into(),
            service: Arc::new(Service {
                host: "reviews.default.svc.cluster.local".into(),
                name: "reviews".into(),
                namespace: "default".into(),
            }),
            protocol,
            response_code: code,
            grpc_status: grpc,
            flags: Flags::default(),
            security: Security::MutualTls,
        }
    }

    #[test]
    fn bucket_bounds_print_as_envoy_prints_them() {
        let got: Vec<String> = BUCKETS.iter().map(|b| format_g(*b)).collect();
        assert_eq!(
            got,
            [
                "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
                "10000", "30000", "60000", "300000", "600000", "1.8e+06", "3.6e+06"
            ]
        );
        assert_eq!(format_g(0.0001), "0.0001");
        assert_eq!(format_g(0.00001), "1e-05");
    }

    #[test]
    fn flags_print_in_envoy_order() {
        let cases: [(&[Flag], &str); 4] = [
            (&[], "-"),
            (&[Flag::UpstreamOverflow], "UO"),
            (
                &[Flag::RetryLimitExceeded, Flag::UpstreamConnectFailure],
                "UF,URX",
            ),
            (
                &[Flag::NoRoute, Flag::NoRoute, Flag::NoHealthyUpstream],
                "UH,NR",
            ),
        ];
        for (flags, want) in cases {
            let mut s = String::new();
            Flags::of(flags).write(&mut s);
            assert_eq!(s, want, "{flags:?}");
        }
    }

    #[test]
    fn label_order_and_values() {
        let l = labels(200, None, Protocol::Http).render();
        let names: Vec<&str> = l
            .split(",")
            .map(|kv| kv.split('=').next().unwrap())
            .collect();
        assert_eq!(names.len(), 25, "{l}");
        assert_eq!(names[0], "reporter");
        assert_eq!(names[24], "connection_security_policy");
        assert!(l.contains("destination_app=\"re\\\"views\""), "{l}");
        assert!(l.contains("grpc_response_status=\"\""), "{l}");
        assert!(l.contains("response_flags=\"-\""), "{l}");
        let t = labels(0, None, Protocol::Tcp).render();
        assert!(
            !t.contains("response_code") && t.contains("request_protocol=\"tcp\""),
            "{t}"
        );
    }

    #[test]
    fn series_and_histograms() {
        let m = Metrics::default();
        for ms in [0, 3, 7000] {
            m.record_http(
                labels(200, None, Protocol::Http),
                Request {
                    duration_ms: ms,
                    request_bytes: 100,
                    response_bytes: 2000,
                },
            );
        }
        m.record_http(labels(200, Some(5), Protocol::Grpc), Request::default());
        let l = labels(0, None, Protocol::Tcp);
        m.record_tcp(
            &l,
            TcpDelta {
                opened: true,
                sent: 5,
                ..Default::default()
            },
        );
        m.record_tcp(
            &l,
            TcpDelta {
                closed: true,
                received: 7,
                sent: 1,
                ..Default::default()
            },
        );
        let mut out = String::new();
        m.render(&mut out);
        let line = |prefix: &str, extra: &str| {
            out.lines()
                .find(|l| l.starts_with(prefix) && l.contains(extra))
                .unwrap_or_else(|| panic!("{prefix} {extra} in\n{out}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            line("istio_requests_total{", "request_protocol=\"http\""),
            "3"
        );
        assert_eq!(
            line("istio_requests_total{", "grpc_response_status=\"5\""),
            "1"
        );
        let http = "request_protocol=\"http\"";
        assert_eq!(
            line(
                "istio_request_duration_milliseconds_bucket{",
                &format!(
                    "{http},response_code=\"200\",grpc_response_status=\"\",response_flags=\"-\",connection_security_policy=\"mutual_tls\",le=\"0.5\""
                )
            ),
            "1"
        );
        assert_eq!(
            line(
                "istio_request_duration_milliseconds_bucket{",
                &format!(
                    "{http},response_code=\"200\",grpc_response_status=\"\",response_flags=\"-\",connection_security_policy=\"mutual_tls\",le=\"5\""
                )
            ),
            "2"
        );
        assert_eq!(
            line(
                "istio_request_duration_milliseconds_bucket{",
                &format!(
                    "{http},response_code=\"200\",grpc_response_status=\"\",response_flags=\"-\",connection_security_policy=\"mutual_tls\",le=\"+Inf\""
                )
            ),
            "3"
        );
        assert_eq!(
            line("istio_request_duration_milliseconds_sum{", http),
            "7003"
        );
        assert_eq!(line("istio_response_bytes_sum{", http), "6000");
        assert_eq!(line("istio_tcp_connections_opened_total{", ""), "1");
        assert_eq!(line("istio_tcp_connections_closed_total{", ""), "1");
        assert_eq!(line("istio_tcp_sent_bytes_total{", ""), "6");
        assert_eq!(line("istio_tcp_received_bytes_total{", ""), "7");
    }

    #[test]
    fn changed_series_render_beside_standard_ones() {
        let m = Metrics::default();
        let l = labels(200, None, Protocol::Http);
        // requests_total changed (response_flags removed, request_path added), the rest standard
        let mask = 0b1110;
        m.record_http_masked(l.clone(), Request::default(), mask);
        let changed = l.render_with(
            &["response_flags".to_string()],
            &[
                ("request_path".to_string(), "/r".to_string()),
                ("response_code".to_string(), "2xx".to_string()),
            ],
        );
        assert!(!changed.contains("response_flags"));
        assert!(changed.contains("response_code=\"2xx\""));
        assert!(changed.ends_with("request_path=\"/r\""));
        m.record_custom(Metric::RequestsTotal, changed.clone(), 1);
        m.record_custom(Metric::RequestsTotal, changed.clone(), 1);
        let mut out = String::new();
        m.render(&mut out);
        assert_eq!(
            out.matches("# TYPE istio_requests_total counter").count(),
            1
        );
        let totals: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("istio_requests_total{"))
            .collect();
        assert_eq!(totals, vec![format!("istio_requests_total{{{changed}}} 2")]);
        assert!(out.contains("# TYPE istio_request_duration_milliseconds histogram"));
        assert!(!out.contains("istio_tcp"));
    }
}
