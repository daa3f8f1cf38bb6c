//! `mastctl proxy-status` and `mastctl proxy-config`: what mastd sent each proxy, read from
//! mastd's `/debug/syncz` and `/debug/config_dump`, in istioctl's table and JSON forms.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use mast_xds::http;
use mast_xds::types;
use serde_json::Value;

use crate::cli::{Exit, ProxyConfigArgs, ProxyConfigKind, ProxyStatusArgs};

fn fetch(addr: SocketAddr, path: &str) -> Result<Value> {
    let r = http::get(addr, path).with_context(|| {
        format!("cannot reach mastd at {addr} (set --mastd or MAST_DEBUG_ADDR)")
    })?;
    if r.status != 200 {
        bail!("mastd answered {} for {path}: {}", r.status, r.body.trim());
    }
    r.try_json()
        .with_context(|| format!("mastd's {path} is not JSON"))
}

/// istioctl's sync status of one type: `SYNCED`, `NOT SENT`, `STALE`.
pub fn sync_status(sent: &str, acked: &str) -> &'static str {
    if sent.is_empty() && acked.is_empty() {
        "NOT SENT"
    } else if sent == acked {
        "SYNCED"
    } else if acked.is_empty() {
        "STALE (Never Acknowledged)"
    } else {
        "STALE"
    }
}

/// Lays rows out in columns separated by at least three spaces, as istioctl's tabwriter.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Runs `mastctl proxy-status`.
pub fn status(args: &ProxyStatusArgs) -> Result<Exit> {
    let v = fetch(args.mastd, "/debug/syncz")?;
    let mut rows: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    if let Some(p) = &args.proxy {
        rows.retain(|r| s(r, "proxy") == *p);
        if rows.is_empty() {
            bail!("proxy {p:?} is not connected to mastd at {}", args.mastd);
        }
    }
    rows.sort_by_key(|r| s(r, "proxy"));
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Exit::Ok);
    }
    let kinds = ["cluster", "listener", "endpoint", "route"];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![s(r, "proxy"), s(r, "cluster_id")];
            for k in kinds {
                cells.push(
                    sync_status(&s(r, &format!("{k}_sent")), &s(r, &format!("{k}_acked")))
                        .to_string(),
                );
            }
            cells.push(format!("mastd@{}", args.mastd));
            cells.push(s(r, "istio_version"));
            cells
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ISTIOD", "VERSION"
            ],
            &body
        )
    );
    for r in &rows {
        for k in kinds {
            if let Some(e) = r.get(format!("{k}_error")).and_then(Value::as_str) {
                eprintln!("{}: last {} NACK: {e}", s(r, "proxy"), k.to_uppercase());
            }
        }
    }
    Ok(Exit::Ok)
}

/// `direction|port|subset|host` of an Istio cluster name.
fn split_cluster_name(name: &str) -> (String, String, String, String) {
    let parts: Vec<&str> = name.split('|').collect();
    if parts.len() == 4 {
        (
            parts[3].to_string(),
            parts[1].to_string(),
            parts[2].to_string(),
            parts[0].to_string(),
        )
    } else {
        (name.to_string(), "-".into(), "-".into(), "-".into())
    }
}

/// `name.namespace` of the DestinationRule recorded in a cluster's Istio metadata.
fn destination_rule(c: &Value) -> String {
    let cfg = c
        .pointer("/metadata/filterMetadata/istio/config")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let parts: Vec<&str> = cfg.split('/').collect();
    match parts.as_slice() {
        [.., "namespaces", ns, _, name] => format!("{name}.{ns}"),
        _ => "-".into(),
    }
}

fn cluster_rows(list: &[Value]) -> Vec<Vec<String>> {
    list.iter()
        .map(|c| {
            let name = s(c, "name");
            let (fqdn, port, subset, dir) = split_cluster_name(&name);
            let kind = c
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| {
                    c.pointer("/clusterType/name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "EDS".into());
            vec![
                fqdn,
                port,
                if subset.is_empty() {
                    "-".into()
                } else {
                    subset
                },
                dir,
                kind,
                destination_rule(c),
            ]
        })
        .collect()
}

fn listener_rows(list: &[Value]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for l in list {
        let addr = l
            .pointer("/address/socketAddress/address")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string();
        let port = l
            .pointer("/address/socketAddress/portValue")
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        let chains = l
            .get("filterChains")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if chains.is_empty() {
            rows.push(vec![addr.clone(), port.clone(), "ALL".into(), s(l, "name")]);
        }
        for ch in chains {
            let m = ch.get("filterChainMatch").cloned().unwrap_or(Value::Null);
            let mut matches = Vec::new();
            if let Some(p) = m.get("transportProtocol").and_then(Value::as_str) {
                matches.push(format!("Trans: {p}"));
            }
            if let Some(a) = m.get("applicationProtocols").and_then(Value::as_array) {
                let a: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                matches.push(format!("App: {}", a.join(",")));
            }
            if let Some(p) = m.get("destinationPort") {
                matches.push(format!("Port: {p}"));
            }
            let dest = destination_of_chain(&ch);
            rows.push(vec![
                addr.clone(),
                port.clone(),
                if matches.is_empty() {
                    "ALL".into()
                } else {
                    matches.join("; ")
                },
                dest,
            ]);
        }
    }
    rows
}

fn destination_of_chain(ch: &Value) -> String {
    for f in ch
        .get("filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cfg = f.get("typedConfig").cloned().unwrap_or(Value::Null);
        if let Some(rds) = cfg.pointer("/rds/routeConfigName").and_then(Value::as_str) {
            return format!("Route: {rds}");
        }
        if let Some(name) = cfg.pointer("/routeConfig/name").and_then(Value::as_str) {
            return format!("Inline Route: {name}");
        }
        if let Some(c) = cfg.get("cluster").and_then(Value::as_str) {
            return format!("Cluster: {c}");
        }
    }
    "-".into()
}

fn route_rows(list: &[Value]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for rc in list {
        for vh in rc
            .get("virtualHosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let domains: Vec<&str> = vh
                .get("domains")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let shown = match domains.len() {
                0 => "-".to_string(),
                1 => domains[0].to_string(),
                n => format!("{} + {} more...", domains[0], n - 1),
            };
            for r in vh
                .get("routes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let m = r.get("match").cloned().unwrap_or(Value::Null);
                let path = m
                    .get("prefix")
                    .and_then(Value::as_str)
                    .map(|p| format!("{p}*"))
                    .or_else(|| m.get("path").and_then(Value::as_str).map(str::to_string))
                    .or_else(|| {
                        m.pointer("/safeRegex/regex")
                            .and_then(Value::as_str)
                            .map(|x| format!("regex {x}"))
                    })
                    .unwrap_or_else(|| "/*".into());
                let vs = r
                    .pointer("/metadata/filterMetadata/istio/config")
                    .and_then(Value::as_str)
                    .map(|c| {
                        let p: Vec<&str> = c.split('/').collect();
                        match p.as_slice() {
                            [.., "namespaces", ns, _, name] => format!("{name}.{ns}"),
                            _ => c.to_string(),
                        }
                    });
                rows.push(vec![
                    s(rc, "name"),
                    s(vh, "name"),
                    shown.clone(),
                    path,
                    vs.unwrap_or_else(|| "-".into()),
                ]);
            }
        }
    }
    rows
}

fn endpoint_rows(list: &[Value]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for cla in list {
        let cluster = s(cla, "clusterName");
        for loc in cla
            .get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for e in loc
                .get("lbEndpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let sa = e.pointer("/endpoint/address/socketAddress");
                let addr = sa
                    .and_then(|a| a.get("address"))
                    .and_then(Value::as_str)
                    .unwrap_or("-");
                let port = sa
                    .and_then(|a| a.get("portValue"))
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let status = e
                    .get("healthStatus")
                    .and_then(Value::as_str)
                    .unwrap_or("HEALTHY");
                rows.push(vec![
                    format!("{addr}:{port}"),
                    status.to_string(),
                    "OK".into(),
                    cluster.clone(),
                ]);
            }
        }
    }
    rows
}

/// `YYYY-MM-DDTHH:MM:SSZ` as istioctl prints it.
fn when(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// istioctl's secret rows from a proxy's `/certs`: `default` (the workload chain's leaf) and
/// `ROOTCA` (each root of the trust bundle).
pub fn secret_rows(certs: &Value, now: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let Some(c) = certs.pointer("/certificates/0") else {
        return rows;
    };
    let mut push = |name: &str, kind: &str, cert: &Value| {
        let nb = when(&cert["valid_from"]);
        let na = when(&cert["expiration_time"]);
        // RFC 3339 in UTC compares as text
        let valid = !nb.is_empty() && nb.as_str() <= now && now < na.as_str();
        rows.push(vec![
            name.to_string(),
            kind.to_string(),
            "ACTIVE".to_string(),
            valid.to_string(),
            s(cert, "serial_number"),
            na,
            nb,
        ]);
    };
    if let Some(leaf) = c.pointer("/cert_chain/0") {
        push("default", "Cert Chain", leaf);
    }
    for root in c["ca_cert"].as_array().into_iter().flatten() {
        push("ROOTCA", "CA", root);
    }
    rows
}

fn now_rfc3339() -> String {
    mast_xds::date::rfc3339_time(std::time::SystemTime::now())
}

/// `mastctl proxy-config secret PROXY --admin ADDR`: the proxy's `/certs`.
fn secret(args: &ProxyConfigArgs) -> Result<Exit> {
    let r = http::get(args.admin, "/certs").with_context(|| {
        format!(
            "cannot reach the admin port of proxy {} at {} (set --admin or MAST_PROXY_ADMIN)",
            args.proxy, args.admin
        )
    })?;
    if r.status != 200 {
        bail!(
            "the proxy answered {} for /certs: {}",
            r.status,
            r.body.trim()
        );
    }
    let v = r.try_json().context("the proxy's /certs is not JSON")?;
    let rows = secret_rows(&v, &now_rfc3339());
    if args.output == "json" {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r[0], "type": r[1], "status": r[2], "valid": r[3] == "true",
                    "serial_number": r[4], "not_after": r[5], "not_before": r[6],
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"secrets": list, "certs": v}))?
        );
        return Ok(Exit::Ok);
    }
    print!(
        "{}",
        table(
            &[
                "RESOURCE NAME",
                "TYPE",
                "STATUS",
                "VALID CERT",
                "SERIAL NUMBER",
                "NOT AFTER",
                "NOT BEFORE"
            ],
            &rows
        )
    );
    if rows.is_empty() {
        eprintln!("proxy {} holds no workload certificate yet", args.proxy);
    }
    Ok(Exit::Ok)
}

/// Runs `mastctl proxy-config KIND PROXY`.
pub fn config(args: &ProxyConfigArgs) -> Result<Exit> {
    if let ProxyConfigKind::Secret = args.kind {
        return secret(args);
    }
    let v = fetch(
        args.mastd,
        &format!("/debug/config_dump?proxyID={}", args.proxy),
    )?;
    let type_url = match args.kind {
        ProxyConfigKind::Cluster => types::CLUSTER,
        ProxyConfigKind::Listener => types::LISTENER,
        ProxyConfigKind::Route => types::ROUTE,
        ProxyConfigKind::Endpoint => types::ENDPOINT,
        ProxyConfigKind::Secret => unreachable!("answered above"),
    };
    let list = v
        .pointer(&format!("/resources/{}", type_url.replace('/', "~1")))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(Exit::Ok);
    }
    let out = match args.kind {
        ProxyConfigKind::Cluster => table(
            &[
                "SERVICE FQDN",
                "PORT",
                "SUBSET",
                "DIRECTION",
                "TYPE",
                "DESTINATION RULE",
            ],
            &cluster_rows(&list),
        ),
        ProxyConfigKind::Listener => table(
            &["ADDRESS", "PORT", "MATCH", "DESTINATION"],
            &listener_rows(&list),
        ),
        ProxyConfigKind::Route => table(
            &["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"],
            &route_rows(&list),
        ),
        ProxyConfigKind::Endpoint => table(
            &["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"],
            &endpoint_rows(&list),
        ),
        ProxyConfigKind::Secret => unreachable!("answered above"),
    };
    print!("{out}");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_table_from_certs() {
        let v = json!({"certificates": [{
            "ca_cert": [{"serial_number": "ab", "valid_from": "2026-01-01T00:00:00Z", "expiration_time": "2036-01-01T00:00:00Z"}],
            "cert_chain": [{"serial_number": "12", "valid_from": "2026-11-25T00:00:00Z", "expiration_time": "2026-11-26T00:00:00Z"}]
        }]});
        let rows = secret_rows(&v, "2026-11-25T12:00:00Z");
        assert_eq!(
            rows[0],
            [
                "default",
                "Cert Chain",
                "ACTIVE",
                "true",
                "12",
                "2026-11-26T00:00:00Z",
                "2026-11-25T00:00:00Z"
            ]
        );
        assert_eq!(rows[1][0], "ROOTCA");
        assert_eq!(rows[1][3], "true");
        assert_eq!(secret_rows(&v, "2026-11-27T00:00:00Z")[0][3], "false");
        assert!(secret_rows(&json!({"certificates": []}), "x").is_empty());
        assert_eq!(now_rfc3339().len(), 20);
    }

    #[test]
    fn statuses() {
        assert_eq!(sync_status("", ""), "NOT SENT");
        assert_eq!(sync_status("n1", "n1"), "SYNCED");
        assert_eq!(sync_status("n2", "n1"), "STALE");
        assert_eq!(sync_status("n1", ""), "STALE (Never Acknowledged)");
    }

    #[test]
    fn cluster_table() {
        let list = vec![
            json!({"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "type": "EDS",
                   "metadata": {"filterMetadata": {"istio": {"config": "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews"}}}}),
            json!({"name": "BlackHoleCluster", "type": "STATIC"}),
        ];
        let t = table(
            &[
                "SERVICE FQDN",
                "PORT",
                "SUBSET",
                "DIRECTION",
                "TYPE",
                "DESTINATION RULE",
            ],
            &cluster_rows(&list),
        );
        let lines: Vec<&str> = t.lines().collect();
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "reviews.default.svc.cluster.local",
                "9080",
                "v1",
                "outbound",
                "EDS",
                "reviews.default"
            ],
            "{t}"
        );
        assert_eq!(
            lines[0].find("PORT"),
            lines[1].find("9080"),
            "columns line up: {t}"
        );
        assert!(lines[2].starts_with("BlackHoleCluster"), "{t}");
    }
}
