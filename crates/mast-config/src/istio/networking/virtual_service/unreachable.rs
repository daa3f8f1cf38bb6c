//! Rules that can never be used: a rule after one without matches, a match that repeats an
//! earlier one, and (HTTP) a prefix match covered by an earlier, shorter prefix with the same
//! other conditions. Istio reports these as warnings that `istioctl analyze` shows as IST0130
//! (VirtualServiceUnreachableRule) and IST0131 (VirtualServiceIneffectiveMatch).

use std::collections::BTreeMap;

use super::{HttpMatchRequest, HttpRoute, StringMatch, VirtualService};
use crate::validate::Findings;

const UNREACHABLE: &str = "VirtualServiceUnreachableRule";
const INEFFECTIVE: &str = "VirtualServiceIneffectiveMatch";

/// Records the unreachable rules and ineffective matches of all three route lists.
pub(super) fn analyze(vs: &VirtualService, out: &mut Findings) {
    analyze_http(&vs.http, out);
    let tcp: Vec<Vec<_>> = vs.tcp.iter().map(|r| r.matches.clone()).collect();
    analyze_plain(&tcp, "spec.tcp", out);
    let tls: Vec<Vec<_>> = vs.tls.iter().map(|r| r.matches.clone()).collect();
    analyze_plain(&tls, "spec.tls", out);
}

fn unused(out: &mut Findings, path: String, rule: &str, reason: &str) {
    out.analyzer_warning(
        UNREACHABLE,
        path,
        format!("virtualService rule {rule} not used ({reason})"),
    );
}

fn ineffective(out: &mut Findings, path: String, rule: &str, matchn: &str, dup: &str) {
    out.analyzer_warning(
        INEFFECTIVE,
        path,
        format!(
            "virtualService rule {rule} match {matchn} is not used (duplicate/overlapping match in rule {dup})"
        ),
    );
}

fn http_route_name(r: &HttpRoute, i: usize) -> String {
    if r.name.is_empty() {
        format!("#{i}")
    } else {
        format!("{:?}", r.name)
    }
}

fn http_match_name(m: &HttpMatchRequest, j: usize) -> String {
    if m.name.is_empty() {
        format!("#{j}")
    } else {
        format!("{:?}", m.name)
    }
}

/// TCP and TLS routes: same rules as HTTP without names or prefix overlap.
fn analyze_plain<M: PartialEq>(routes: &[Vec<M>], base: &str, out: &mut Findings) {
    let mut seen: Vec<(&M, usize)> = Vec::new();
    let mut empty_seen = false;
    for (i, matches) in routes.iter().enumerate() {
        let rule = format!("#{i}");
        let path = format!("{base}[{i}]");
        if matches.is_empty() {
            if empty_seen {
                unused(out, path, &rule, "only the last rule can have no matches");
            }
            empty_seen = true;
            continue;
        }
        let mut duplicates = 0;
        for (j, m) in matches.iter().enumerate() {
            if empty_seen {
                unused(
                    out,
                    path.clone(),
                    &rule,
                    "route without matches defined before",
                );
                continue;
            }
            if let Some((_, dup)) = seen.iter().find(|(s, _)| *s == m) {
                let dup = format!("#{dup}");
                ineffective(
                    out,
                    format!("{path}.match[{j}]"),
                    &rule,
                    &format!("#{j}"),
                    &dup,
                );
                duplicates += 1;
            } else {
                seen.push((m, i));
            }
        }
        if duplicates == matches.len() {
            unused(out, path, &rule, "all matches used by prior rules");
        }
    }
}

/// What a prefix match is compared on.
struct PrefixMatch {
    route: String,
    matchn: String,
    path: String,
    prefix: String,
    port: u32,
    method: String,
    authority: String,
    headers: BTreeMap<String, String>,
    query_params: BTreeMap<String, String>,
    without_headers: BTreeMap<String, String>,
}

fn exact_or_prefix(sm: Option<&StringMatch>) -> String {
    match sm {
        Some(m) if !m.exact().is_empty() => format!("exact:{}", m.exact()),
        Some(m) if !m.prefix().is_empty() => format!("prefix:{}", m.prefix()),
        _ => String::new(),
    }
}

fn exact_or_prefix_map(m: &BTreeMap<String, StringMatch>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), exact_or_prefix(Some(v))))
        .collect()
}

fn prefix_match(
    route: String,
    m: &HttpMatchRequest,
    j: usize,
    path: String,
) -> Option<PrefixMatch> {
    let prefix = m.uri.as_ref()?.prefix();
    if prefix.is_empty() {
        return None;
    }
    let mut method = exact_or_prefix(m.method.as_ref());
    if method.is_empty() {
        method = "exact:GET".to_string();
    }
    Some(PrefixMatch {
        route,
        matchn: http_match_name(m, j),
        path,
        prefix: prefix.to_string(),
        port: m.port,
        method,
        authority: exact_or_prefix(m.authority.as_ref()),
        headers: exact_or_prefix_map(&m.headers),
        query_params: exact_or_prefix_map(&m.query_params),
        without_headers: exact_or_prefix_map(&m.without_headers),
    })
}

/// Whether every value of `a` is equal to, or starts with, the value of `b` for the same key.
fn map_covered(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    a.len() == b.len()
        && a.iter().all(|(k, v)| {
            b.get(k)
                .is_some_and(|bv| v == bv || v.starts_with(bv.as_str()))
        })
}

fn value_covered(a: &str, b: &str) -> bool {
    a == b || a.starts_with(b)
}

/// Whether the earlier match `a` takes all requests of the later match `b`.
fn covered(a: &PrefixMatch, b: &PrefixMatch) -> bool {
    b.prefix.starts_with(&a.prefix)
        && a.port == b.port
        && value_covered(&a.method, &b.method)
        && value_covered(&a.authority, &b.authority)
        && map_covered(&a.headers, &b.headers)
        && map_covered(&a.query_params, &b.query_params)
        && map_covered(&a.without_headers, &b.without_headers)
}

fn analyze_http(routes: &[HttpRoute], out: &mut Findings) {
    let mut seen: Vec<(HttpMatchRequest, usize)> = Vec::new();
    let mut empty_seen = false;
    let mut prefixes = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let rule = http_route_name(r, i);
        let path = format!("spec.http[{i}]");
        if r.matches.is_empty() {
            if empty_seen {
                unused(out, path, &rule, "only the last rule can have no matches");
            }
            empty_seen = true;
            continue;
        }
        let mut duplicates = 0;
        for (j, m) in r.matches.iter().enumerate() {
            if empty_seen {
                unused(
                    out,
                    path.clone(),
                    &rule,
                    "route without matches defined before",
                );
                continue;
            }
            let unnamed = HttpMatchRequest {
                name: String::new(),
                ..m.clone()
            };
            if let Some((_, dup)) = seen.iter().find(|(s, _)| *s == unnamed) {
                let dup = http_route_name(&routes[*dup], *dup);
                let matchn = http_match_name(m, j);
                ineffective(out, format!("{path}.match[{j}]"), &rule, &matchn, &dup);
                duplicates += 1;
                continue;
            }
            seen.push((unnamed, i));
            if let Some(p) = prefix_match(rule.clone(), m, j, format!("{path}.match[{j}]")) {
                prefixes.push(p);
            }
        }
        if duplicates == r.matches.len() {
            unused(out, path, &rule, "all matches used by prior rules");
        }
    }
    report_overlaps(&prefixes, out);
}

fn report_overlaps(prefixes: &[PrefixMatch], out: &mut Findings) {
    for (i, a) in prefixes.iter().enumerate() {
        for b in &prefixes[i + 1..] {
            if b.prefix == a.prefix || !covered(a, b) {
                continue;
            }
            let this = format!("{} of prefix {}", b.matchn, b.prefix);
            let other = format!("{} of prefix {} on {}", a.matchn, a.prefix, a.route);
            ineffective(out, b.path.clone(), &b.route, &this, &other);
        }
    }
}
