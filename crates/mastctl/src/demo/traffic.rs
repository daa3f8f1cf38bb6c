//! What the demo saw: requests and errors, each hop's peer identities from
//! `x-forwarded-client-cert`, reviews versions; and the checks of the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::app::Answer;
use super::layout::spiffe;

/// The hops of a request, client app → server app.
pub const HOPS: [(&str, &str); 4] = [
    ("loadgen", "productpage"),
    ("productpage", "details"),
    ("productpage", "reviews"),
    ("reviews", "ratings"),
];

/// The reviews VirtualService's split (samples/demo/traffic.yaml).
pub const WEIGHTS: [(&str, f64); 3] = [("v1", 0.5), ("v2", 0.3), ("v3", 0.2)];

/// One hop's tally.
#[derive(Debug, Default, Clone)]
pub struct Hop {
    /// Requests that crossed it.
    pub requests: u64,
    /// Of them, with mTLS and the expected client and server identities.
    pub mtls: u64,
    /// Identities seen (`client → server`).
    pub peers: BTreeSet<String>,
    /// Why some were not as expected (first few).
    pub bad: Vec<String>,
}

/// Everything counted so far.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests sent to productpage.
    pub requests: u64,
    /// Of them, answered 200 with every upstream answering 200.
    pub ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// The first few failures.
    pub error_samples: Vec<String>,
    /// By hop, in [`HOPS`] order.
    pub hops: BTreeMap<usize, Hop>,
    /// Requests a reviews version served.
    pub versions: BTreeMap<String, u64>,
}

fn push_sample(v: &mut Vec<String>, s: String) {
    if v.len() < 5 {
        v.push(s);
    }
}

/// The last element of an XFCC header (the one the nearest proxy added) as key → value.
fn xfcc_last(xfcc: &str) -> BTreeMap<String, String> {
    let last = xfcc.rsplit(',').next().unwrap_or("");
    last.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect()
}

impl Stats {
    /// Counts one request's outcome.
    pub fn record(&mut self, r: Result<Answer, String>) {
        self.requests += 1;
        let a = match r {
            Ok(a) => a,
            Err(e) => {
                self.errors += 1;
                push_sample(&mut self.error_samples, format!("productpage: {e}"));
                return;
            }
        };
        let v: Option<Value> = serde_json::from_str(&a.body).ok();
        if a.status == 200 && v.is_some() {
            self.ok += 1;
        } else {
            self.errors += 1;
            let mut body = a.body.clone();
            body.truncate(300);
            push_sample(
                &mut self.error_samples,
                format!("HTTP {}: {body}", a.status),
            );
        }
        if let Some(v) = v {
            self.visit(&v, "loadgen");
        }
    }

    fn visit(&mut self, node: &Value, client: &str) {
        let Some(app) = node["app"].as_str() else {
            return;
        };
        if let Some(i) = HOPS.iter().position(|h| *h == (client, app)) {
            let hop = self.hops.entry(i).or_default();
            hop.requests += 1;
            let x = xfcc_last(node["xfcc"].as_str().unwrap_or(""));
            let want_uri = spiffe(&format!("bookinfo-{client}"));
            let want_by = spiffe(&format!("bookinfo-{app}"));
            let uri = x.get("URI").cloned().unwrap_or_default();
            let by = x.get("By").cloned();
            hop.peers.insert(format!(
                "{} → {}",
                if uri.is_empty() {
                    "(no client certificate)"
                } else {
                    &uri
                },
                by.as_deref().unwrap_or("(server identity not reported)")
            ));
            if uri == want_uri && by.as_deref().is_none_or(|b| b == want_by) {
                hop.mtls += 1;
            } else {
                push_sample(
                    &mut hop.bad,
                    format!(
                        "x-forwarded-client-cert {:?}, want URI={want_uri} By={want_by}",
                        node["xfcc"]
                    ),
                );
            }
        }
        if app == "reviews" {
            let v = node["version"].as_str().unwrap_or("?").to_string();
            *self.versions.entry(v).or_default() += 1;
        }
        if let Some(ups) = node["upstreams"].as_object() {
            for child in ups.values() {
                self.visit(child, app);
            }
        }
    }

    /// A one-line status.
    pub fn line(&self, secs: f64) -> String {
        let n: u64 = self.versions.values().sum();
        let pct = |v: &str| 100.0 * *self.versions.get(v).unwrap_or(&0) as f64 / n.max(1) as f64;
        let hops: u64 = self.hops.values().map(|h| h.requests).sum();
        let mtls: u64 = self.hops.values().map(|h| h.mtls).sum();
        format!(
            "[{secs:>5.0}s] {} requests, {} errors | reviews v1 {:.0}% v2 {:.0}% v3 {:.0}% | mTLS on {mtls}/{hops} hops",
            self.requests,
            self.errors,
            pct("v1"),
            pct("v2"),
            pct("v3"),
        )
    }

    /// The summary and its checks; `extra` are checks made elsewhere (plaintext refused, no
    /// process died). Returns the text and whether every check held.
    /// `sections` (more of what was seen, e.g. the proxies' metrics) go before the checks.
    pub fn summary(&self, secs: f64, sections: &str, extra: &[(bool, String)]) -> (String, bool) {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "requests: {} to productpage in {secs:.0}s ({:.1}/s), {} ok, {} errors",
            self.requests,
            self.requests as f64 / secs.max(0.001),
            self.ok,
            self.errors
        );
        let _ = writeln!(
            s,
            "routes (client → server, requests, with mTLS, peer identities client → server):"
        );
        for (i, (c, a)) in HOPS.iter().enumerate() {
            let h = self.hops.get(&i).cloned().unwrap_or_default();
            let _ = writeln!(
                s,
                "  {:<26} {:>6} {:>6} mTLS  {}",
                format!("{c} → {a}"),
                h.requests,
                h.mtls,
                h.peers.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        let n: u64 = self.versions.values().sum();
        let _ = writeln!(
            s,
            "reviews versions (VirtualService reviews: v1 50%, v2 30%, v3 20%):"
        );
        let mut weights_ok = n >= 50;
        let mut worst = String::new();
        for (v, p) in WEIGHTS {
            let got = *self.versions.get(v).unwrap_or(&0);
            let frac = got as f64 / n.max(1) as f64;
            // five standard deviations of a binomial share, plus two points: wide enough never to
            // fail by chance, narrow enough to catch a split that is not honoured (an even split
            // fails from ~300 requests)
            let tol = 5.0 * (p * (1.0 - p) / n.max(1) as f64).sqrt() + 0.02;
            let ok = (frac - p).abs() <= tol;
            weights_ok &= ok;
            if !ok {
                let _ = write!(
                    worst,
                    " {v} {:.1}% (want {:.0}% ± {:.1})",
                    frac * 100.0,
                    p * 100.0,
                    tol * 100.0
                );
            }
            let _ = writeln!(
                s,
                "  {v}  {got:>6}  {:>5.1}%  (want {:.0}% ± {:.1})",
                frac * 100.0,
                p * 100.0,
                tol * 100.0
            );
        }
        let _ = writeln!(
            s,
            "authorization: not yet enforced by mast-proxy (samples/demo/security.yaml's AuthorizationPolicy is left out; PeerAuthentication STRICT is loaded)"
        );
        s.push_str(sections);
        let mut checks: Vec<(bool, String)> = Vec::new();
        let hops_ok = HOPS.iter().enumerate().all(|(i, _)| {
            self.hops
                .get(&i)
                .is_some_and(|h| h.requests > 0 && h.mtls == h.requests)
        });
        let mut why = String::new();
        for (i, (c, a)) in HOPS.iter().enumerate() {
            match self.hops.get(&i) {
                None => {
                    let _ = write!(why, " {c} → {a}: no requests;");
                }
                Some(h) if h.mtls != h.requests => {
                    let _ = write!(
                        why,
                        " {c} → {a}: {} of {} without the expected identities ({});",
                        h.requests - h.mtls,
                        h.requests,
                        h.bad.join("; ")
                    );
                }
                _ => {}
            }
        }
        checks.push((
            hops_ok,
            if hops_ok {
                "every hop used mTLS with the expected SPIFFE identities".into()
            } else {
                format!("mTLS hops:{why}")
            },
        ));
        checks.push((
            weights_ok,
            if weights_ok {
                "reviews traffic split within tolerance of 50/30/20".into()
            } else if n < 50 {
                format!(
                    "reviews traffic split: only {n} requests reached reviews (want at least 50)"
                )
            } else {
                format!("reviews traffic split off:{worst}")
            },
        ));
        let errors_ok = self.errors == 0 && self.requests > 0;
        checks.push((
            errors_ok,
            if errors_ok {
                "no errors".into()
            } else if self.requests == 0 {
                "no requests were sent".into()
            } else {
                format!("{} errors: {}", self.errors, self.error_samples.join(" | "))
            },
        ));
        checks.extend(extra.iter().cloned());
        let all = checks.iter().all(|(ok, _)| *ok);
        let _ = writeln!(s, "checks:");
        for (ok, text) in &checks {
            let _ = writeln!(s, "  {} {text}", if *ok { "ok  " } else { "FAIL" });
        }
        let _ = writeln!(
            s,
            "{}",
            if all {
                "all checks passed"
            } else {
                "some checks failed"
            }
        );
        (s, all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_and_versions_from_nested_answers() {
        let x = |c: &str, s: &str| {
            format!(
                "By={};Hash=ab;URI={}",
                spiffe(&format!("bookinfo-{s}")),
                spiffe(&format!("bookinfo-{c}"))
            )
        };
        let body = serde_json::json!({
            "app": "productpage", "version": "v1", "xfcc": x("loadgen", "productpage"),
            "upstreams": {
                "details": {"app": "details", "version": "v1", "xfcc": x("productpage", "details"), "upstreams": {}},
                "reviews": {"app": "reviews", "version": "v2", "xfcc": x("productpage", "reviews"),
                    "upstreams": {"ratings": {"app": "ratings", "version": "v1", "xfcc": "Hash=1;URI=spiffe://x", "upstreams": {}}}},
            }
        });
        let mut s = Stats::default();
        s.record(Ok(Answer {
            status: 200,
            body: body.to_string(),
        }));
        assert_eq!(s.versions["v2"], 1);
        assert_eq!(s.hops[&0].mtls, 1);
        assert_eq!(s.hops[&3].mtls, 0);
        let (text, ok) = s.summary(1.0, "", &[(true, "x".into())]);
        assert!(!ok && text.contains("reviews → ratings: 1 of 1"), "{text}");
    }

    #[test]
    fn the_split_check_catches_an_even_split() {
        let split = |v1: u64, v2: u64, v3: u64| {
            let s = Stats {
                versions: [("v1", v1), ("v2", v2), ("v3", v3)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                ..Stats::default()
            };
            s.summary(30.0, "", &[]).0
        };
        assert!(split(300, 180, 120).contains("ok   reviews traffic split"));
        assert!(split(200, 200, 200).contains("FAIL reviews traffic split off: v1 33.3%"));
        assert!(split(20, 10, 5).contains("only 35 requests reached reviews"));
    }
}
