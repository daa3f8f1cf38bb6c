//! What the proxies' own metrics say about the demo's traffic: each workload's
//! `istio_requests_total` as its proxy reports it (`reporter="destination"`), by caller, read
//! from its `/stats/prometheus` on 15090.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::app;
use super::layout::Layout;

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// The samples of `metric` in Prometheus text (`name{a="b",...} value` lines).
pub fn samples(text: &str, metric: &str) -> Vec<Sample> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(metric)?.strip_prefix('{')?;
            let (labels, tail) = parse_labels(rest)?;
            let value = tail.trim().split(' ').next()?.parse().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

/// `a="b",c="d"} rest` → the labels and `rest`.
fn parse_labels(s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(name.trim_start_matches(',').to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
}

/// Scrapes every proxy; the summary's lines and whether the metrics agree with the traffic:
/// every workload that was called reports its callers by name (peer metadata exchange) over
/// mutual TLS, and productpage's proxy counted at least the `ok` requests the load generator
/// saw succeed.
pub async fn check(layout: &Layout, c: &app::Origin, ok: u64) -> (String, (bool, String)) {
    let mut text = String::from(
        "telemetry (istio_requests_total from each proxy, reporter=destination, callee ← caller):\n",
    );
    let mut problems = Vec::new();
    let mut productpage = 0.0;
    for w in layout.workloads.iter().filter(|w| w.has_app()) {
        let at = std::net::SocketAddr::from((w.ip, 15090));
        let scrape = match c.get(at, &at.to_string(), "/stats/prometheus").await {
            Ok(a) if a.status == 200 => a.body,
            Ok(a) => {
                problems.push(format!(
                    "{}: /stats/prometheus answered {}",
                    w.pod, a.status
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: /stats/prometheus: {e}", w.pod));
                continue;
            }
        };
        let mut by_caller: BTreeMap<(String, String), f64> = BTreeMap::new();
        for s in samples(&scrape, "istio_requests_total")
            .into_iter()
            .filter(|s| s.labels.get("reporter").map(String::as_str) == Some("destination"))
        {
            let l = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            *by_caller
                .entry((l("source_workload"), l("connection_security_policy")))
                .or_default() += s.value;
        }
        if by_caller.is_empty() {
            problems.push(format!("{}: no inbound requests in its metrics", w.pod));
        }
        for ((caller, security), n) in &by_caller {
            let _ = writeln!(
                text,
                "  {:<16} ← {:<16} {:>6}  {security}",
                w.pod, caller, n
            );
            if caller == "unknown" || security != "mutual_tls" {
                problems.push(format!(
                    "{} counted {n} requests from {caller} ({security})",
                    w.pod
                ));
            }
        }
        if w.app == "productpage" {
            productpage = by_caller.values().sum();
        }
    }
    if productpage < ok as f64 {
        problems.push(format!(
            "productpage's proxy counted {productpage} requests, the load generator saw {ok} succeed"
        ));
    }
    let check = if problems.is_empty() {
        (
            true,
            format!(
                "telemetry: every callee's proxy names its callers (peer metadata) over mutual_tls; productpage counted {productpage} ≥ {ok} ok"
            ),
        )
    } else {
        (false, format!("telemetry: {}", problems.join("; ")))
    };
    (text, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes_and_commas() {
        let text = "# TYPE istio_requests_total counter\nistio_requests_total{reporter=\"destination\",response_flags=\"UF,URX\",x=\"a\\\"b\"} 7\nistio_requests_total_other{a=\"b\"} 1\n";
        let s = samples(text, "istio_requests_total");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].value, 7.0);
        assert_eq!(s[0].labels["response_flags"], "UF,URX");
        assert_eq!(s[0].labels["x"], "a\"b");
        assert_eq!(s[0].labels["reporter"], "destination");
    }
}
