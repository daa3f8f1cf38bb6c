//! Istio's `gateway` analyzers.

use std::collections::{BTreeMap, HashSet};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::analyzers::virtualservice::services::{
    first_selector_label, selector_string, strings_of, u32_of,
};
use crate::catalogue;
use crate::context::{Compat, Context, Kind, Store, kinds};
use crate::util::{arr_of, selector_matches, str_of, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(IngressGatewayPortAnalyzer),
        Box::new(CertificateAnalyzer),
        Box::new(SecretAnalyzer),
        Box::new(ConflictingGatewayAnalyzer),
    ]
}

type Labels = BTreeMap<String, String>;

/// A Gateway's `spec.selector`.
fn gateway_selector(gw: &Resource) -> Labels {
    string_map(gw.spec().get("selector"))
}

/// JSON pointer of the selector label a printed selector starts with.
fn selector_path(selector: &str) -> String {
    format!("/spec/selector/{}", first_selector_label(selector))
}

/// The pods `selector` selects (an empty selector selects every pod).
fn selected_pods<'a: 's, 's>(
    store: &'a Store,
    selector: &'s Labels,
) -> impl Iterator<Item = &'a Resource> + 's {
    store
        .list(kinds::POD)
        .filter(move |p| selector_matches(selector, &p.meta.labels))
}

/// Reports a Gateway whose selector matches no pod.
fn report_no_workload(ctx: &mut Context<'_>, gw: &Resource, selector: &str) {
    ctx.report(
        gw,
        Some(&selector_path(selector)),
        catalogue::REFERENCED_RESOURCE_NOT_FOUND,
        vec!["selector".into(), selector.into()],
    );
}

// ---------------------------------------------------------------------------------------------
// IngressGatewayPortAnalyzer

/// Checks a Gateway's server ports against the ports of the Services in front of its pods.
pub struct IngressGatewayPortAnalyzer;

impl Analyzer for IngressGatewayPortAnalyzer {
    fn name(&self) -> &'static str {
        "gateway.IngressGatewayPortAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's ports against the gateway's Kubernetes service ports"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::GATEWAY, kinds::POD, kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for gw in store.list(kinds::GATEWAY) {
            check_gateway_ports(ctx, gw);
        }
    }
}

/// The ports the Services selecting a pod forward to (TCP ports only): the target port when
/// it is numeric, else the service port; and the service ports mapped to a target port.
#[derive(Debug, Default)]
struct WorkloadPorts {
    listening: HashSet<u32>,
    mapped: HashSet<u32>,
}

impl WorkloadPorts {
    fn add_service(&mut self, svc: &Resource, compat: Compat) {
        for port in arr_of(svc.spec(), "ports") {
            if str_of(port, "protocol") != "TCP" {
                continue;
            }
            let number = u32_of(port, "port");
            // 1.5 took only the service port, ignoring targetPort.
            let target = match compat {
                Compat::Current => target_port_number(port.get("targetPort")),
                Compat::Istio1_5 => 0,
            };
            match target {
                0 => {
                    self.listening.insert(number);
                }
                target => {
                    self.listening.insert(target);
                    self.mapped.insert(number);
                }
            }
        }
    }

    fn serves(&self, port: u32) -> bool {
        self.listening.contains(&port) || self.mapped.contains(&port)
    }
}

/// A `targetPort` as a number: an integer, or a string holding one; 0 otherwise.
fn target_port_number(v: Option<&Value>) -> u32 {
    match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => s.trim_start_matches('+').parse().unwrap_or(0),
        _ => 0,
    }
}

fn check_gateway_ports(ctx: &mut Context<'_>, gw: &Resource) {
    let store = ctx.store;
    let selector = gateway_selector(gw);
    let selector_text = selector_string(&selector);
    let mut ports = WorkloadPorts::default();
    let mut pods = 0;
    for pod in selected_pods(store, &selector) {
        pods += 1;
        let services = store
            .list(kinds::SERVICE)
            .filter(|s| s.meta.namespace == pod.meta.namespace);
        for svc in services {
            if selector_matches(&string_map(svc.spec().get("selector")), &pod.meta.labels) {
                ports.add_service(svc, ctx.mesh.compat);
            }
        }
    }
    if pods == 0 {
        report_no_workload(ctx, gw, &selector_text);
        return;
    }
    for server in arr_of(gw.spec(), "servers") {
        let Some(port) = server.get("port").filter(|p| !p.is_null()) else {
            continue;
        };
        let number = u32_of(port, "number");
        if !ports.serves(number) {
            let path = selector_path(&selector_text);
            let (kind, args) = match ctx.mesh.compat {
                Compat::Current => (
                    catalogue::GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                    vec![number.into(), selector_text.clone().into()],
                ),
                // 1.5 reported IST0104 GatewayPortNotOnWorkload (selector first, then port).
                Compat::Istio1_5 => (
                    catalogue::GATEWAY_PORT_NOT_ON_WORKLOAD,
                    vec![selector_text.clone().into(), number.into()],
                ),
            };
            ctx.report(gw, Some(&path), kind, args);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SecretAnalyzer

/// Checks that the secrets Gateways reference exist in their workload's namespace and hold a
/// usable certificate.
pub struct SecretAnalyzer;

impl Analyzer for SecretAnalyzer {
    fn name(&self) -> &'static str {
        "gateway.SecretAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's referenced secrets for correctness"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::GATEWAY, kinds::POD, kinds::SECRET]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for gw in store.list(kinds::GATEWAY) {
            check_gateway_secrets(ctx, gw);
        }
    }
}

/// The namespace of the first pod the Gateway selects (where its secrets must live), or
/// `None` when it selects none.
fn workload_namespace<'a>(store: &'a Store, gw: &Resource) -> Option<&'a str> {
    let selector = gateway_selector(gw);
    let ns = selected_pods(store, &selector)
        .next()
        .map(|p| p.meta.namespace.as_str());
    ns.filter(|ns| !ns.is_empty())
}

fn check_gateway_secrets(ctx: &mut Context<'_>, gw: &Resource) {
    let store = ctx.store;
    let Some(ns) = workload_namespace(store, gw) else {
        report_no_workload(ctx, gw, &selector_string(&gateway_selector(gw)));
        return;
    };
    for (i, server) in arr_of(gw.spec(), "servers").iter().enumerate() {
        let credential = server
            .get("tls")
            .map(|t| str_of(t, "credentialName"))
            .unwrap_or_default();
        if credential.is_empty() {
            continue;
        }
        let path = format!("/spec/servers/{i}/tls/credentialName");
        let (secret_ns, secret_name) = match credential.split_once('/') {
            Some((n, name)) => (n, name),
            None => (ns, credential),
        };
        match store.get(kinds::SECRET, secret_ns, secret_name) {
            None => ctx.report(
                gw,
                Some(&path),
                catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                vec!["credentialName".into(), credential.into()],
            ),
            // 1.5 only checked that the secret exists, not its certificate.
            Some(_) if ctx.mesh.compat == Compat::Istio1_5 => {}
            Some(secret) if !cert::secret_is_valid(secret.value.get("data"), cert::now_unix()) => {
                ctx.report(
                    gw,
                    Some(&path),
                    catalogue::INVALID_GATEWAY_CREDENTIAL,
                    vec![gw.meta.name.clone().into(), ns.into()],
                )
            }
            Some(_) => {}
        }
    }
}

/// Reading the certificate of a TLS secret: base64 and PEM decoding, and the validity period
/// of DER-encoded X.509 certificates.
mod cert {
    use serde_json::Value;

    /// The current time in seconds since the Unix epoch.
    pub(super) fn now_unix() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Whether a Secret's `data` holds a certificate and key (`cert`/`key`, or
    /// `tls.crt`/`tls.key`, non-empty) and the first PEM block of the certificate parses as
    /// X.509 certificates all valid at `now`.
    pub(super) fn secret_is_valid(data: Option<&Value>, now: i64) -> bool {
        let field = |k: &str| -> Option<Vec<u8>> {
            let text = data?.get(k)?.as_str()?;
            base64_decode(text).filter(|b| !b.is_empty())
        };
        let cert = match (field("cert"), field("key")) {
            (Some(c), Some(_)) => c,
            _ => match (field("tls.crt"), field("tls.key")) {
                (Some(c), Some(_)) => c,
                _ => return false,
            },
        };
        let Some(der) = pem_first_block(&String::from_utf8_lossy(&cert)) else {
            return false;
        };
        match certificates_validity(&der) {
            Some(periods) => periods.iter().all(|(from, to)| *from <= now && now <= *to),
            None => false,
        }
    }

    /// Decodes standard base64, ignoring line breaks and requiring correct padding when present.
    pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
        let clean: Vec<u8> = text.bytes().filter(|b| !b" \r\n\t".contains(b)).collect();
        let trimmed: &[u8] = {
            let pad = clean.iter().rev().take_while(|b| **b == b'=').count();
            if pad > 2 || (pad > 0 && !clean.len().is_multiple_of(4)) {
                return None;
            }
            &clean[..clean.len() - pad]
        };
        let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &b in trimmed {
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        if trimmed.len() % 4 == 1 {
            return None;
        }
        Some(out)
    }

    /// The bytes of the first PEM block (`-----BEGIN X-----` … `-----END X-----`) of `text`.
    pub(super) fn pem_first_block(text: &str) -> Option<Vec<u8>> {
        let begin = text.find("-----BEGIN ")?;
        let after_begin = &text[begin + "-----BEGIN ".len()..];
        let type_end = after_begin.find("-----")?;
        let label = &after_begin[..type_end];
        let body_start = &after_begin[type_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = body_start.find(&end_marker)?;
        let body: String = body_start[..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .collect::<Vec<_>>()
            .join("");
        base64_decode(&body)
    }

    /// One DER element: its tag, its contents, and what follows it.
    fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    /// The element of tag `want` at the start of `input`, and what follows it.
    fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
        let (tag, body, rest) = read_tlv(input)?;
        (tag == want).then_some((body, rest))
    }

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    const EXPLICIT_VERSION: u8 = 0xa0;

    /// The `(notBefore, notAfter)` of each certificate in a DER sequence of certificates, or
    /// `None` when any of them is malformed.
    pub(super) fn certificates_validity(mut der: &[u8]) -> Option<Vec<(i64, i64)>> {
        let mut out = Vec::new();
        if der.is_empty() {
            return None;
        }
        while !der.is_empty() {
            let (cert, rest) = expect(der, SEQUENCE)?;
            out.push(certificate_validity(cert)?);
            der = rest;
        }
        Some(out)
    }

    fn certificate_validity(cert: &[u8]) -> Option<(i64, i64)> {
        let (tbs, rest) = expect(cert, SEQUENCE)?;
        let (_, rest) = expect(rest, SEQUENCE)?;
        let (_, rest) = expect(rest, BIT_STRING)?;
        if !rest.is_empty() {
            return None;
        }
        let mut tbs = tbs;
        if tbs.first() == Some(&EXPLICIT_VERSION) {
            tbs = expect(tbs, EXPLICIT_VERSION)?.1;
        }
        let (_, rest) = expect(tbs, INTEGER)?;
        let (_, rest) = expect(rest, SEQUENCE)?;
        let (_, rest) = expect(rest, SEQUENCE)?;
        let (validity, rest) = expect(rest, SEQUENCE)?;
        let (_, rest) = expect(rest, SEQUENCE)?;
        expect(rest, SEQUENCE)?;
        let (tag, from, rest) = read_tlv(validity)?;
        let not_before = parse_time(tag, from)?;
        let (tag, to, _) = read_tlv(rest)?;
        let not_after = parse_time(tag, to)?;
        Some((not_before, not_after))
    }

    /// A `UTCTime` (`YYMMDDHHMMSSZ`) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`) as Unix seconds.
    fn parse_time(tag: u8, body: &[u8]) -> Option<i64> {
        let text = std::str::from_utf8(body).ok()?;
        let digits = text.strip_suffix('Z')?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, rest) = match tag {
            UTC_TIME if digits.len() == 12 => {
                let yy: i64 = digits[..2].parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
            }
            GENERALIZED_TIME if digits.len() == 14 => (digits[..4].parse().ok()?, &digits[4..]),
            _ => return None,
        };
        let num = |i: usize| -> Option<i64> { rest[i..i + 2].parse().ok() };
        let (month, day, hour, min, sec) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || min > 59
            || sec > 59
        {
            return None;
        }
        Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn base64_and_time() {
            assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
            assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
            assert!(base64_decode("a$==").is_none());
            assert_eq!(days_from_civil(1970, 1, 1), 0);
            assert_eq!(days_from_civil(2000, 3, 1), 11_017);
            assert_eq!(parse_time(UTC_TIME, b"700101000010Z"), Some(10));
            assert_eq!(
                parse_time(GENERALIZED_TIME, b"21220218061836Z"),
                Some(4_800_838_716)
            );
            assert!(parse_time(UTC_TIME, b"7001010000Z").is_none());
        }

        #[test]
        fn secrets() {
            let not_pem =
                serde_json::json!({"cert": "aHVzaCBodXNoIGh1c2gK", "key": "c2VjcmV0IHNlY3JldAo="});
            assert!(!secret_is_valid(Some(&not_pem), 0));
            let wrong_keys = serde_json::json!({"tls.cert": "aGk=", "tls.key": "aGk="});
            assert!(!secret_is_valid(Some(&wrong_keys), 0));
            assert!(!secret_is_valid(None, 0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CertificateAnalyzer

/// Reports Gateways sharing a certificate with another Gateway on the same workloads.
pub struct CertificateAnalyzer;

impl Analyzer for CertificateAnalyzer {
    fn name(&self) -> &'static str {
        "gateway.CertificateAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway certificate"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::GATEWAY]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for gw in store.list(kinds::GATEWAY) {
            check_duplicate_certificates(ctx, gw);
        }
    }
}

/// Whether every label of `x` is in `y` with the same value.
fn selector_subset(x: &Labels, y: &Labels) -> bool {
    x.iter().all(|(k, v)| y.get(k) == Some(v))
}

/// Whether two servers' TLS settings name the same credential, or the same certificate and
/// key files.
fn same_certificate(a: &Value, b: &Value) -> bool {
    let (ca, cb) = (str_of(a, "credentialName"), str_of(b, "credentialName"));
    if !ca.is_empty() && !cb.is_empty() {
        return ca == cb;
    }
    if !ca.is_empty() || !cb.is_empty() {
        return false;
    }
    let (sa, sb) = (
        str_of(a, "serverCertificate"),
        str_of(b, "serverCertificate"),
    );
    let (ka, kb) = (str_of(a, "privateKey"), str_of(b, "privateKey"));
    !sa.is_empty() && sa == sb && !ka.is_empty() && ka == kb
}

/// The `tls` settings of a server, when set.
fn server_tls(server: &Value) -> Option<&Value> {
    server.get("tls").filter(|t| !t.is_null())
}

fn check_duplicate_certificates(ctx: &mut Context<'_>, gw: &Resource) {
    let store = ctx.store;
    let selector = gateway_selector(gw);
    let others = store.list(kinds::GATEWAY).filter(|other| {
        let same = other.meta.namespace == gw.meta.namespace && other.meta.name == gw.meta.name;
        !same && (selector.is_empty() || selector_subset(&selector, &gateway_selector(other)))
    });
    for other in others {
        for server in arr_of(gw.spec(), "servers") {
            for other_server in arr_of(other.spec(), "servers") {
                let (Some(a), Some(b)) = (server_tls(server), server_tls(other_server)) else {
                    continue;
                };
                if same_certificate(a, b) {
                    let names = vec![gw.namespaced_name(), other.namespaced_name()];
                    ctx.report(
                        gw,
                        Some("/metadata/name"),
                        catalogue::GATEWAY_DUPLICATE_CERTIFICATE,
                        vec![names.into()],
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ConflictingGatewayAnalyzer

/// Reports Gateways on the same workloads and port that claim the same host.
pub struct ConflictingGatewayAnalyzer;

impl Analyzer for ConflictingGatewayAnalyzer {
    fn name(&self) -> &'static str {
        "gateway.ConflictingGatewayAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks a gateway's selector, port number and hosts"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::GATEWAY, kinds::POD]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let mut index = GatewayIndex::build(store);
        for gw in store.list(kinds::GATEWAY) {
            check_conflicts(ctx, gw, &mut index);
        }
    }
}

/// Host → bind address of one Gateway's servers on one port.
type HostBinds = BTreeMap<String, String>;

/// Every Gateway's hosts, keyed by `(selector, port)` and then by Gateway name. As in Istio,
/// checking a server against a Gateway without finding a duplicate records the server's hosts
/// on that Gateway, so later checks see them.
struct GatewayIndex {
    by_selector_port: BTreeMap<(String, String), BTreeMap<String, HostBinds>>,
}

/// A server's port number as text (`0` without a port).
fn server_port(server: &Value) -> String {
    server
        .get("port")
        .map(|p| u32_of(p, "number"))
        .unwrap_or(0)
        .to_string()
}

impl GatewayIndex {
    fn build(store: &Store) -> GatewayIndex {
        let mut by_selector_port: BTreeMap<(String, String), BTreeMap<String, HostBinds>> =
            BTreeMap::new();
        for gw in store.list(kinds::GATEWAY) {
            let selector = selector_string(&gateway_selector(gw));
            for server in arr_of(gw.spec(), "servers") {
                let bind = str_of(server, "bind").to_string();
                let hosts = strings_of(server, "hosts")
                    .into_iter()
                    .map(|h| (h, bind.clone()))
                    .collect();
                by_selector_port
                    .entry((selector.clone(), server_port(server)))
                    .or_default()
                    .insert(gw.namespaced_name(), hosts);
            }
        }
        GatewayIndex { by_selector_port }
    }
}

/// Parses a printed selector (`a=b,c=d`) back into labels.
fn parse_selector(text: &str) -> Labels {
    text.split(',')
        .filter_map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            (parts.len() == 2).then(|| (parts[0].to_string(), parts[1].to_string()))
        })
        .collect()
}

/// Whether two Gateway selectors address the same workloads: they print the same, or one's
/// text contains the other's and some pod matches both.
fn selectors_overlap(store: &Store, selector: &Labels, text: &str, other_text: &str) -> bool {
    if text == other_text {
        return true;
    }
    if !other_text.contains(text) && !text.contains(other_text) {
        return false;
    }
    let other = parse_selector(other_text);
    store.list(kinds::POD).any(|p| {
        selector_matches(selector, &p.meta.labels) && selector_matches(&other, &p.meta.labels)
    })
}

/// The hosts of `hosts` already known with the same bind; when there are none, all of them
/// become known.
fn check_duplicates(hosts: &[String], bind: &str, known: &mut HostBinds) -> Vec<String> {
    let dups: Vec<String> = hosts
        .iter()
        .filter(|h| known.get(*h).is_some_and(|b| b == bind))
        .cloned()
        .collect();
    if dups.is_empty() {
        for h in hosts {
            known.insert(h.clone(), bind.to_string());
        }
    }
    dups
}

fn check_conflicts(ctx: &mut Context<'_>, gw: &Resource, index: &mut GatewayIndex) {
    let store = ctx.store;
    let name = gw.namespaced_name();
    let selector = gateway_selector(gw);
    let text = selector_string(&selector);
    let same_workload: Vec<(String, String)> = index
        .by_selector_port
        .keys()
        .filter(|(other, _)| selectors_overlap(store, &selector, &text, other))
        .cloned()
        .collect();
    if !text.is_empty() && same_workload.is_empty() {
        report_no_workload(ctx, gw, &text);
        return;
    }
    for server in arr_of(gw.spec(), "servers") {
        let port = server_port(server);
        let hosts = strings_of(server, "hosts");
        let bind = str_of(server, "bind");
        let mut conflicting = Vec::new();
        for key in same_workload.iter().filter(|(_, p)| *p == port) {
            let Some(gateways) = index.by_selector_port.get_mut(key) else {
                continue;
            };
            for (other, known) in gateways.iter_mut() {
                if *other != name && !check_duplicates(&hosts, bind, known).is_empty() {
                    conflicting.push(other.clone());
                }
            }
        }
        if !conflicting.is_empty() {
            conflicting.sort();
            ctx.report(
                gw,
                None,
                catalogue::CONFLICTING_GATEWAYS,
                vec![
                    conflicting.join(",").into(),
                    text.clone().into(),
                    port.into(),
                    hosts.join(",").into(),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_recorded_only_without_conflict() {
        let mut known: HostBinds = [("a.com".to_string(), String::new())].into();
        assert!(check_duplicates(&["b.com".to_string()], "", &mut known).is_empty());
        assert!(known.contains_key("b.com"));
        assert_eq!(
            check_duplicates(&["a.com".to_string()], "", &mut known),
            vec!["a.com"]
        );
        assert!(check_duplicates(&["a.com".to_string()], "1.2.3.4", &mut known).is_empty());
    }

    #[test]
    fn selectors() {
        let l = |p: &[(&str, &str)]| -> Labels {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(parse_selector("a=b,c=d"), l(&[("a", "b"), ("c", "d")]));
        assert!(selector_subset(
            &l(&[("a", "b")]),
            &l(&[("a", "b"), ("c", "d")])
        ));
        assert!(!selector_subset(&l(&[("a", "x")]), &l(&[("a", "b")])));
        assert_eq!(target_port_number(Some(&serde_json::json!("8080"))), 8080);
        assert_eq!(target_port_number(Some(&serde_json::json!("http"))), 0);
    }

    #[test]
    fn workload_ports_by_release() {
        let mut loaded = mast_config::Loaded::default();
        let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\nspec:\n  ports:\n  - {port: 80, targetPort: 8080, protocol: TCP}\n  - {port: 53, protocol: UDP}\n";
        loaded.add_str("s.yaml", svc);
        let svc = &loaded.resources[0];
        let cases: &[(Compat, u32, bool)] = &[
            (Compat::Current, 80, true),
            (Compat::Current, 8080, true),
            (Compat::Istio1_5, 80, true),
            (Compat::Istio1_5, 8080, false),
            (Compat::Istio1_5, 53, false),
        ];
        for (compat, port, want) in cases {
            let mut ports = WorkloadPorts::default();
            ports.add_service(svc, *compat);
            assert_eq!(ports.serves(*port), *want, "{compat:?} {port}");
        }
    }
}
