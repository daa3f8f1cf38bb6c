//! Traffic capture rules, as Istio's init container (`istio-iptables`) lays them out: the
//! `nat` chains `ISTIO_INBOUND` (from `PREROUTING`), `ISTIO_IN_REDIRECT` (to the inbound
//! capture port, 15006), `ISTIO_OUTPUT` (from `OUTPUT`) and `ISTIO_REDIRECT` (to the outbound
//! capture port, 15001); the proxy's own traffic (its UID and GID, 1337) and the inbound
//! pass-through source `127.0.0.6` are let through, and the proxy's connections to the
//! workload's own non-loopback address are sent back through inbound capture.
//!
//! [`rules`] is a pure function of [`Args`]; [`Rules::commands`] renders them as the
//! `iptables` commands Istio logs, [`Rules::restore`] as `iptables-restore` input, which
//! [`apply`] feeds to `iptables-restore --noflush`.
//!
//! Not supported, and refused by name: `TPROXY` inbound interception and IPv6 ranges
//! (no `ip6tables` rules are written).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// The proxy's inbound pass-through source address (`InboundPassthroughCluster` binds it).
pub const INBOUND_PASSTHROUGH_SOURCE: &str = "127.0.0.6/32";

/// `mast-proxy istio-iptables`: the flags and environment of Istio's `istio-iptables`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mast-proxy istio-iptables",
    about = "Set up iptables capture for a workload and its mast-proxy, as Istio's init container does"
)]
pub struct Args {
    /// Port the outbound traffic is redirected to.
    #[arg(
        short = 'p',
        long = "envoy-port",
        env = "ENVOY_PORT",
        default_value_t = 15001
    )]
    pub proxy_port: u16,
    /// Port the inbound traffic is redirected to.
    #[arg(
        short = 'z',
        long = "inbound-capture-port",
        env = "INBOUND_CAPTURE_PORT",
        default_value_t = 15006
    )]
    pub inbound_capture_port: u16,
    /// UIDs whose traffic is not captured (the proxy's), comma separated.
    #[arg(
        short = 'u',
        long = "proxy-uid",
        env = "PROXY_UID",
        default_value = "1337"
    )]
    pub proxy_uid: String,
    /// GIDs whose traffic is not captured; the UIDs when empty.
    #[arg(short = 'g', long = "proxy-gid", env = "PROXY_GID", default_value = "")]
    pub proxy_gid: String,
    /// Inbound interception mode: REDIRECT (TPROXY is not supported).
    #[arg(
        short = 'm',
        long = "istio-inbound-interception-mode",
        env = "INBOUND_INTERCEPTION_MODE",
        default_value = "REDIRECT"
    )]
    pub inbound_interception_mode: String,
    /// Inbound ports to capture, comma separated; `*` for all; empty for none.
    #[arg(
        short = 'b',
        long = "istio-inbound-ports",
        env = "ISTIO_INBOUND_PORTS",
        default_value = ""
    )]
    pub inbound_ports: String,
    /// Inbound ports not captured when all are (`-b '*'`).
    #[arg(
        short = 'd',
        long = "istio-local-exclude-ports",
        env = "ISTIO_LOCAL_EXCLUDE_PORTS",
        default_value = ""
    )]
    pub inbound_exclude_ports: String,
    /// Outbound ports never captured.
    #[arg(
        short = 'o',
        long = "istio-local-outbound-ports-exclude",
        env = "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE",
        default_value = ""
    )]
    pub outbound_exclude_ports: String,
    /// Outbound IPv4 ranges to capture, comma separated; `*` for all; empty for none.
    #[arg(
        short = 'i',
        long = "istio-service-cidr",
        env = "ISTIO_SERVICE_CIDR",
        default_value = ""
    )]
    pub outbound_ranges: String,
    /// Outbound IPv4 ranges never captured.
    #[arg(
        short = 'x',
        long = "istio-service-exclude-cidr",
        env = "ISTIO_SERVICE_EXCLUDE_CIDR",
        default_value = ""
    )]
    pub outbound_exclude_ranges: String,
    /// Interfaces whose inbound traffic is treated as outbound (KubeVirt).
    #[arg(
        short = 'k',
        long = "kube-virt-interfaces",
        env = "KUBEVIRT_INTERFACES",
        default_value = ""
    )]
    pub kube_virt_interfaces: String,
    /// Print the rules instead of applying them.
    #[arg(short = 'n', long = "dry-run", env = "DRY_RUN")]
    pub dry_run: bool,
}

/// A flag the rules cannot be made from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    /// A value of a flag is not what it should be.
    #[error("{flag}: {value:?} {why}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// The value.
        value: String,
        /// Why.
        why: &'static str,
    },
}

/// One rule, or a chain to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `-N CHAIN`.
    New(&'static str),
    /// `-A CHAIN ARGS`.
    Append(&'static str, String),
    /// `-I CHAIN 1 ARGS`.
    Insert(&'static str, String),
}

/// The `nat` table rules, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

const INBOUND: &str = "ISTIO_INBOUND";
const REDIRECT: &str = "ISTIO_REDIRECT";
const IN_REDIRECT: &str = "ISTIO_IN_REDIRECT";
const OUTPUT: &str = "ISTIO_OUTPUT";

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// The comma-separated values of `flag`, each parsed as a `T` (`why` when one is not).
fn values<T: std::str::FromStr>(
    flag: &'static str,
    s: &str,
    why: &'static str,
) -> Result<Vec<T>, CaptureError> {
    list(s)
        .map(|p| {
            p.parse().map_err(|_| CaptureError::Invalid {
                flag,
                value: p.to_string(),
                why,
            })
        })
        .collect()
}

fn ports(flag: &'static str, s: &str) -> Result<Vec<u16>, CaptureError> {
    values(flag, s, "is not a port")
}

fn ids(flag: &'static str, s: &str) -> Result<Vec<u32>, CaptureError> {
    values(flag, s, "is not a numeric ID")
}

/// IPv4 ranges (`a.b.c.d/len`, or an address for `/32`), or `None` for `*`.
fn ranges(flag: &'static str, s: &str) -> Result<Option<Vec<String>>, CaptureError> {
    if s.trim() == "*" {
        return Ok(None);
    }
    list(s)
        .map(|r| {
            let bad = |why| CaptureError::Invalid {
                flag,
                value: r.to_string(),
                why,
            };
            if r.contains(':') {
                return Err(bad(
                    "is an IPv6 range; mast-proxy writes IPv4 (iptables) rules only",
                ));
            }
            let (ip, len) = r.split_once('/').unwrap_or((r, "32"));
            let ip: Ipv4Addr = ip.parse().map_err(|_| bad("is not an IPv4 range"))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| bad("is not an IPv4 range"))?;
            Ok(format!("{ip}/{len}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The rules for `a`.
pub fn rules(a: &Args) -> Result<Rules, CaptureError> {
    if a.inbound_interception_mode != "REDIRECT" {
        return Err(CaptureError::Invalid {
            flag: "--istio-inbound-interception-mode",
            value: a.inbound_interception_mode.clone(),
            why: "is not supported by mast-proxy (only REDIRECT is)",
        });
    }
    let uids = ids("--proxy-uid", &a.proxy_uid)?;
    let gids = if a.proxy_gid.trim().is_empty() {
        uids.clone()
    } else {
        ids("--proxy-gid", &a.proxy_gid)?
    };
    let inbound_all = a.inbound_ports.trim() == "*";
    let inbound = if inbound_all {
        Vec::new()
    } else {
        ports("--istio-inbound-ports", &a.inbound_ports)?
    };
    let inbound_exclude = ports("--istio-local-exclude-ports", &a.inbound_exclude_ports)?;
    let outbound_exclude = ports(
        "--istio-local-outbound-ports-exclude",
        &a.outbound_exclude_ports,
    )?;
    let include = ranges("--istio-service-cidr", &a.outbound_ranges)?;
    let exclude =
        ranges("--istio-service-exclude-cidr", &a.outbound_exclude_ranges)?.unwrap_or_default();
    let virt: Vec<&str> = list(&a.kube_virt_interfaces).collect();

    let mut r = vec![
        Rule::New(INBOUND),
        Rule::New(REDIRECT),
        Rule::New(IN_REDIRECT),
        Rule::New(OUTPUT),
    ];
    for i in &virt {
        r.push(Rule::Insert("PREROUTING", format!("-i {i} -j RETURN")));
    }
    r.push(Rule::Append(
        REDIRECT,
        format!("-p tcp -j REDIRECT --to-ports {}", a.proxy_port),
    ));
    r.push(Rule::Append(
        IN_REDIRECT,
        format!("-p tcp -j REDIRECT --to-ports {}", a.inbound_capture_port),
    ));
    if inbound_all || !inbound.is_empty() {
        r.push(Rule::Append("PREROUTING", format!("-p tcp -j {INBOUND}")));
        if inbound_all {
            for p in &inbound_exclude {
                r.push(Rule::Append(
                    INBOUND,
                    format!("-p tcp --dport {p} -j RETURN"),
                ));
            }
            r.push(Rule::Append(INBOUND, format!("-p tcp -j {IN_REDIRECT}")));
        } else {
            for p in &inbound {
                r.push(Rule::Append(
                    INBOUND,
                    format!("-p tcp --dport {p} -j {IN_REDIRECT}"),
                ));
            }
        }
    }
    r.push(Rule::Append("OUTPUT", format!("-p tcp -j {OUTPUT}")));
    for p in &outbound_exclude {
        r.push(Rule::Append(
            OUTPUT,
            format!("-p tcp --dport {p} -j RETURN"),
        ));
    }
    r.push(Rule::Append(
        OUTPUT,
        format!("-o lo -s {INBOUND_PASSTHROUGH_SOURCE} -j RETURN"),
    ));
    for (kind, list) in [("uid", &uids), ("gid", &gids)] {
        for id in list {
            r.push(Rule::Append(
                OUTPUT,
                format!("-o lo ! -d 127.0.0.1/32 -m owner --{kind}-owner {id} -j {IN_REDIRECT}"),
            ));
            r.push(Rule::Append(
                OUTPUT,
                format!("-o lo -m owner ! --{kind}-owner {id} -j RETURN"),
            ));
            r.push(Rule::Append(
                OUTPUT,
                format!("-m owner --{kind}-owner {id} -j RETURN"),
            ));
        }
    }
    r.push(Rule::Append(OUTPUT, "-d 127.0.0.1/32 -j RETURN".into()));
    match include {
        None => {
            for e in &exclude {
                r.push(Rule::Append(OUTPUT, format!("-d {e} -j RETURN")));
            }
            r.push(Rule::Append(OUTPUT, format!("-j {REDIRECT}")));
            for i in &virt {
                r.push(Rule::Insert("PREROUTING", format!("-i {i} -j {REDIRECT}")));
            }
        }
        Some(include) if !include.is_empty() => {
            for e in &exclude {
                r.push(Rule::Append(OUTPUT, format!("-d {e} -j RETURN")));
            }
            for c in &include {
                for i in &virt {
                    r.push(Rule::Insert(
                        "PREROUTING",
                        format!("-i {i} -d {c} -j {REDIRECT}"),
                    ));
                }
                r.push(Rule::Append(OUTPUT, format!("-d {c} -j {REDIRECT}")));
            }
            r.push(Rule::Append(OUTPUT, "-j RETURN".into()));
        }
        Some(_) => {}
    }
    Ok(Rules(r))
}

impl Rules {
    /// As `iptables` commands, one a line (what `--dry-run` prints).
    pub fn commands(&self) -> String {
        let mut out = String::new();
        for r in &self.0 {
            let _ = match r {
                Rule::New(c) => writeln!(out, "iptables -t nat -N {c}"),
                Rule::Append(c, a) => writeln!(out, "iptables -t nat -A {c} {a}"),
                Rule::Insert(c, a) => writeln!(out, "iptables -t nat -I {c} 1 {a}"),
            };
        }
        out
    }

    /// As `iptables-restore` input for the `nat` table (applied with `--noflush`).
    pub fn restore(&self) -> String {
        let mut out = String::from("*nat\n");
        for r in &self.0 {
            let _ = match r {
                Rule::New(c) => writeln!(out, ":{c} - [0:0]"),
                Rule::Append(c, a) => writeln!(out, "-A {c} {a}"),
                Rule::Insert(c, a) => writeln!(out, "-I {c} 1 {a}"),
            };
        }
        out.push_str("COMMIT\n");
        out
    }
}

/// Applies `rules` with `iptables-restore --noflush` (in the caller's network namespace).
pub fn apply(rules: &Rules) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("iptables-restore")
        .arg("--noflush")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(rules.restore().as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "iptables-restore failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(a: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("istio-iptables").chain(a.iter().copied()))
            .expect("flags")
    }

    #[test]
    fn bad_flags_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["-m", "TPROXY"],
                "--istio-inbound-interception-mode: \"TPROXY\" is not supported by mast-proxy (only REDIRECT is)",
            ),
            (
                &["-b", "80,http"],
                "--istio-inbound-ports: \"http\" is not a port",
            ),
            (
                &["-d", "70000"],
                "--istio-local-exclude-ports: \"70000\" is not a port",
            ),
            (
                &["-u", "proxy"],
                "--proxy-uid: \"proxy\" is not a numeric ID",
            ),
            (
                &["-i", "10.0.0.0/33"],
                "--istio-service-cidr: \"10.0.0.0/33\" is not an IPv4 range",
            ),
            (
                &["-x", "fd00::/8"],
                "--istio-service-exclude-cidr: \"fd00::/8\" is an IPv6 range; mast-proxy writes IPv4 (iptables) rules only",
            ),
        ];
        for (flags, want) in cases {
            let err = rules(&args(flags)).expect_err(want);
            assert_eq!(err.to_string(), *want, "{flags:?}");
        }
    }

    #[test]
    fn restore_input_has_the_same_rules() {
        let r = rules(&args(&["-i", "*", "-b", "*", "-d", "15090"])).unwrap();
        let restore = r.restore();
        assert!(restore.starts_with("*nat\n:ISTIO_INBOUND - [0:0]\n"));
        assert!(restore.ends_with("-A ISTIO_OUTPUT -j ISTIO_REDIRECT\nCOMMIT\n"));
        assert_eq!(
            restore.lines().filter(|l| l.starts_with("-A ")).count(),
            r.commands().lines().filter(|l| l.contains(" -A ")).count()
        );
    }
}
