//! The proxy's configuration: flags with environment fallbacks using the names Istio's agent
//! reads (`POD_NAME`, `POD_NAMESPACE`, `INSTANCE_IP`, `SERVICE_ACCOUNT`, `ISTIO_META_*`), and
//! the node id and metadata it presents to mastd, as `pilot-agent` builds them.
//!
//! Every port is a flag so that many proxies can share one host.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mast_xds::Proxy;
use mast_xds::node::sidecar_id;
use serde_json::{Map, Value};

/// `POD_NAME`.
pub const ENV_POD_NAME: &str = "POD_NAME";
/// `POD_NAMESPACE`.
pub const ENV_POD_NAMESPACE: &str = "POD_NAMESPACE";
/// `INSTANCE_IP`.
pub const ENV_INSTANCE_IP: &str = "INSTANCE_IP";
/// `SERVICE_ACCOUNT`.
pub const ENV_SERVICE_ACCOUNT: &str = "SERVICE_ACCOUNT";
/// Prefix of variables copied into the node metadata (`ISTIO_META_FOO=bar` → `FOO: bar`).
pub const ENV_META_PREFIX: &str = "ISTIO_META_";
/// Prefix of variables whose JSON value is copied into the node metadata
/// (`ISTIO_METAJSON_LABELS={"app":"x"}` → `LABELS: {app: x}`).
pub const ENV_METAJSON_PREFIX: &str = "ISTIO_METAJSON_";

/// Why the configuration is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable or flag has a value that cannot be used.
    #[error("{name}={value:?}: {reason}")]
    BadValue {
        /// The variable or flag.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The node id or metadata does not parse back.
    #[error("node: {0}")]
    Node(#[from] mast_xds::NodeError),
}

/// Reads the process environment; tests use a map instead so they never mutate the process.
pub trait Env {
    /// All variables.
    fn vars(&self) -> Vec<(String, String)>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

impl Env for BTreeMap<String, String> {
    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Parses `500ms`, `5s`, `1m`, `1h` (Go durations as Istio's flags take them), or a bare
/// number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        // `TERMINATION_DRAIN_DURATION_SECONDS` is a bare number of seconds
        return Ok(Duration::from_secs(secs));
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("duration {s:?} has no unit (use ms, s, m or h)"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// How traffic reaches the proxy (`ISTIO_META_INTERCEPTION_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum InterceptionMode {
    /// iptables REDIRECT to 15001 / 15006 (Istio's default).
    Redirect,
    /// iptables TPROXY.
    Tproxy,
    /// No capture: only explicit listeners (Sidecar `captureMode: NONE`).
    None,
}

impl InterceptionMode {
    /// Istio's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InterceptionMode::Redirect => "REDIRECT",
            InterceptionMode::Tproxy => "TPROXY",
            InterceptionMode::None => "NONE",
        }
    }
}

/// mast-proxy: Mast's sidecar (Envoy and pilot-agent in one process).
#[derive(Debug, Clone, Parser)]
#[command(name = "mast-proxy", version, about)]
pub struct Config {
    /// Pod name (the first part of the node's `POD.NAMESPACE`).
    #[arg(long = "podName", env = ENV_POD_NAME, default_value = "mast-proxy")]
    pub pod_name: String,
    /// Pod namespace.
    #[arg(long = "podNamespace", env = ENV_POD_NAMESPACE, default_value = "default")]
    pub pod_namespace: String,
    /// The workload's IP: the node id's IP and the default bind of inbound listeners.
    #[arg(long = "instanceIp", env = ENV_INSTANCE_IP, default_value = "127.0.0.1")]
    pub instance_ip: IpAddr,
    /// Service account the workload runs as.
    #[arg(long = "serviceAccount", env = ENV_SERVICE_ACCOUNT, default_value = "default")]
    pub service_account: String,
    /// DNS domain of the cluster (`NAMESPACE.svc.DOMAIN` in the node id).
    #[arg(
        long = "domain",
        env = "DOMAIN_SUFFIX",
        default_value = "cluster.local"
    )]
    pub domain: String,
    /// Workload labels as `key=value`, comma separated (also `ISTIO_METAJSON_LABELS`).
    #[arg(long = "labels", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Workload name (Deployment or WorkloadEntry name).
    #[arg(
        long = "workloadName",
        env = "ISTIO_META_WORKLOAD_NAME",
        default_value = ""
    )]
    pub workload_name: String,
    /// Cluster id of the workload.
    #[arg(
        long = "clusterId",
        env = "ISTIO_META_CLUSTER_ID",
        default_value = "Kubernetes"
    )]
    pub cluster_id: String,
    /// How traffic reaches the proxy. Transparent capture (REDIRECT, TPROXY) needs iptables
    /// rules; NONE uses only the explicit listeners of the workload's Sidecar.
    #[arg(
        long = "interceptionMode",
        env = "ISTIO_META_INTERCEPTION_MODE",
        value_enum,
        default_value = "REDIRECT"
    )]
    pub interception_mode: InterceptionMode,
    /// mastd's plaintext xDS address.
    #[arg(
        long = "discoveryAddress",
        env = "DISCOVERY_ADDRESS",
        default_value = "127.0.0.1:15010"
    )]
    pub discovery_address: String,
    /// Admin address (`/config_dump`, `/clusters`, `/ready`, `/quitquitquit`); keep it on
    /// loopback.
    #[arg(
        long = "adminAddr",
        env = "MAST_ADMIN_ADDR",
        default_value = "127.0.0.1:15000"
    )]
    pub admin_addr: SocketAddr,
    /// Status address: `/healthz/ready` and merged `/stats/prometheus` (Istio's 15020).
    #[arg(
        long = "statusAddr",
        env = "MAST_STATUS_ADDR",
        default_value = "0.0.0.0:15020"
    )]
    pub status_addr: SocketAddr,
    /// Readiness address: `/healthz/ready` (Istio's 15021).
    #[arg(
        long = "readyAddr",
        env = "MAST_READY_ADDR",
        default_value = "0.0.0.0:15021"
    )]
    pub ready_addr: SocketAddr,
    /// Prometheus address: `/stats/prometheus` (Istio's 15090).
    #[arg(
        long = "prometheusAddr",
        env = "MAST_PROMETHEUS_ADDR",
        default_value = "0.0.0.0:15090"
    )]
    pub prometheus_addr: SocketAddr,
    /// Directory with the workload certificate: `cert-chain.pem`, `key.pem`, `root-cert.pem`.
    /// Without it, mTLS clusters and listeners fail their handshakes.
    #[arg(long = "certDir", env = "MAST_CERT_DIR")]
    pub cert_dir: Option<PathBuf>,
    /// The CA: `host:port` of mastd's `IstioCertificateService` (Istio's `CA_ADDR`). Default:
    /// the discovery address's host on 15012 over TLS (15010 in plaintext with `--caInsecure`).
    /// Used when there is no `--certDir` and a token (`--tokenFile`, `MAST_TOKEN`) or this flag
    /// is given.
    #[arg(long = "caAddress", env = "CA_ADDR")]
    pub ca_address: Option<String>,
    /// Roots (PEM) trusted for the CA's TLS server certificate, e.g. mastd's
    /// `<stateDir>/ca/root-cert.pem`. The mesh trust bundle is trusted too once there is one.
    #[arg(long = "caRootCert", env = "MAST_CA_ROOT_CERT")]
    pub ca_root_cert: Option<PathBuf>,
    /// Talk to the CA in plaintext (mastd's 15010; local use only). Renewals then use the token
    /// too, since there is no TLS to present the mesh certificate over.
    #[arg(long = "caInsecure", env = "MAST_CA_INSECURE", default_value_t = false)]
    pub ca_insecure: bool,
    /// The name checked on the CA's certificate when `--caAddress` is an IP address.
    #[arg(
        long = "caServerName",
        env = "MAST_CA_SERVER_NAME",
        default_value = "istiod.istio-system.svc"
    )]
    pub ca_server_name: String,
    /// File with the bearer token for the CA (`mastctl workload token`); read at every call.
    #[arg(long = "tokenFile", env = "MAST_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The bearer token itself (when there is no `--tokenFile`).
    #[arg(long = "token", env = "MAST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The mesh's trust domain (the SPIFFE id asked for is `spiffe://TD/ns/NS/sa/SA`).
    #[arg(
        long = "trustDomain",
        env = "TRUST_DOMAIN",
        default_value = "cluster.local"
    )]
    pub trust_domain: String,
    /// Lifetime asked of the CA for workload certificates (Istio's `SECRET_TTL`); `0s` leaves it
    /// to the CA (`--workloadCertTTL`).
    #[arg(long = "secretTTL", env = "SECRET_TTL", default_value = "24h", value_parser = parse_duration)]
    pub secret_ttl: Duration,
    /// Renew after this fraction of the lifetime (Istio's `SECRET_GRACE_PERIOD_RATIO`).
    #[arg(
        long = "secretRotationRatio",
        env = "SECRET_GRACE_PERIOD_RATIO",
        default_value_t = 0.5
    )]
    pub secret_rotation_ratio: f64,
    /// First delay before asking the CA again after a failure (doubled each time, jittered).
    #[arg(long = "caRetryInitial", default_value = "1s", value_parser = parse_duration)]
    pub ca_retry_initial: Duration,
    /// Longest delay between CA retries.
    #[arg(long = "caRetryMax", default_value = "30s", value_parser = parse_duration)]
    pub ca_retry_max: Duration,
    /// Serve SDS (`default`, `ROOTCA`) on this Unix socket for a local Envoy (Istio's is
    /// `/var/run/secrets/workload-spiffe-uds/socket`).
    #[arg(long = "sdsSocket", env = "MAST_SDS_SOCKET")]
    pub sds_socket: Option<PathBuf>,
    /// How long to keep serving in-flight requests after SIGTERM or `/quitquitquit`.
    #[arg(long = "drainDuration", env = "TERMINATION_DRAIN_DURATION_SECONDS", default_value = "5s", value_parser = parse_duration)]
    pub drain_duration: Duration,
    /// First delay before reconnecting to mastd (doubled each failure, jittered).
    #[arg(long = "xdsRetryInitial", default_value = "500ms", value_parser = parse_duration)]
    pub xds_retry_initial: Duration,
    /// Longest delay between reconnects to mastd.
    #[arg(long = "xdsRetryMax", default_value = "30s", value_parser = parse_duration)]
    pub xds_retry_max: Duration,
    /// Use incremental (delta) xDS with mastd instead of state of the world (Istio's
    /// `ISTIO_DELTA_XDS`); falls back to state of the world when mastd does not serve it.
    #[arg(long = "deltaXds", env = "ISTIO_DELTA_XDS", default_value_t = false, action = clap::ArgAction::Set)]
    pub delta_xds: bool,
    /// The application's metrics, merged into the status port's `/stats/prometheus` as
    /// Istio's agent merges them: JSON of the pod's `prometheus.io` annotations as Istio's
    /// injector passes them, `{"scrape":"true","port":"8080","path":"/metrics"}`.
    #[arg(long = "appMetrics", env = "ISTIO_PROMETHEUS_ANNOTATIONS")]
    pub app_metrics: Option<String>,
    /// Istio version reported in the node metadata.
    #[arg(
        long = "istioVersion",
        env = "ISTIO_META_ISTIO_VERSION",
        default_value = "1.5.10"
    )]
    pub istio_version: String,
}

/// Where the application's metrics are scraped (`--appMetrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppScrape {
    /// The application's port.
    pub port: u16,
    /// The path (Prometheus' default `/metrics`).
    pub path: String,
}

impl Config {
    /// The application's metrics endpoint, if `--appMetrics` asks for a scrape.
    pub fn app_scrape(&self) -> Result<Option<AppScrape>, ConfigError> {
        let Some(raw) = self.app_metrics.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let bad = |reason: &str| ConfigError::BadValue {
            name: "--appMetrics (ISTIO_PROMETHEUS_ANNOTATIONS)".into(),
            value: raw.to_string(),
            reason: reason.into(),
        };
        let v: Value = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        if field("scrape") != Some("true") {
            return Ok(None);
        }
        let port = field("port")
            .ok_or_else(|| bad("\"port\" is missing"))?
            .parse()
            .map_err(|_| bad("\"port\" is not a port number"))?;
        let path = field("path").unwrap_or("/metrics");
        if !path.starts_with('/') {
            return Err(bad("\"path\" must start with /"));
        }
        Ok(Some(AppScrape {
            port,
            path: path.to_string(),
        }))
    }

    /// A configuration for tests: defaults, every listening address on an ephemeral loopback
    /// port, interception `NONE`, and `discovery` as mastd's address.
    pub fn for_tests(discovery: SocketAddr) -> Config {
        let mut c = Config::try_parse_from(["mast-proxy"]).expect("defaults parse");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        c.discovery_address = discovery.to_string();
        c.admin_addr = any;
        c.status_addr = any;
        c.ready_addr = any;
        c.prometheus_addr = any;
        c.interception_mode = InterceptionMode::None;
        c.drain_duration = Duration::from_secs(1);
        c.xds_retry_initial = Duration::from_millis(50);
        c.xds_retry_max = Duration::from_millis(500);
        c
    }

    /// The SPIFFE id of this workload.
    pub fn spiffe_id(&self) -> mast_xds::ca::SpiffeId {
        mast_xds::ca::SpiffeId::new(
            &self.trust_domain,
            &self.pod_namespace,
            &self.service_account,
        )
    }

    /// The CA to ask, when certificates come from the CA (no `--certDir`, and a token or an
    /// explicit `--caAddress`).
    pub fn ca_options(&self) -> Option<crate::identity::client::CaOptions> {
        let has_token =
            self.token_file.is_some() || self.token.as_ref().is_some_and(|t| !t.is_empty());
        if self.cert_dir.is_some() || (!has_token && self.ca_address.is_none()) {
            return None;
        }
        let address = self.ca_address.clone().unwrap_or_else(|| {
            let d = &self.discovery_address;
            let host = d.rsplit_once(':').map_or(d.as_str(), |(h, _)| h);
            format!("{host}:{}", if self.ca_insecure { 15010 } else { 15012 })
        });
        Some(crate::identity::client::CaOptions {
            address,
            insecure: self.ca_insecure,
            root_cert: self.ca_root_cert.clone(),
            server_name: self.ca_server_name.clone(),
            token_file: self.token_file.clone(),
            token: self.token.clone(),
            id: self.spiffe_id(),
            ttl: self.secret_ttl,
            timeout: Duration::from_secs(10),
        })
    }

    /// The node id: `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.DOMAIN`.
    pub fn node_id(&self) -> String {
        sidecar_id(
            self.instance_ip,
            &self.pod_name,
            &self.pod_namespace,
            &self.domain,
        )
    }

    /// The labels from `--labels`, overlaid by `ISTIO_METAJSON_LABELS`.
    fn labels(&self, env: &dyn Env) -> Result<Map<String, Value>, ConfigError> {
        let mut out = Map::new();
        for kv in self.labels.iter().filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| ConfigError::BadValue {
                name: "--labels".into(),
                value: kv.clone(),
                reason: "want key=value".into(),
            })?;
            out.insert(k.trim().into(), Value::String(v.trim().into()));
        }
        if let Some((_, v)) = env
            .vars()
            .into_iter()
            .find(|(k, _)| k == "ISTIO_METAJSON_LABELS")
        {
            let parsed: Map<String, Value> =
                serde_json::from_str(&v).map_err(|e| ConfigError::BadValue {
                    name: "ISTIO_METAJSON_LABELS".into(),
                    value: v.clone(),
                    reason: e.to_string(),
                })?;
            out.extend(parsed);
        }
        Ok(out)
    }

    /// The node metadata Istio's agent sends: every `ISTIO_META_*` and `ISTIO_METAJSON_*`
    /// variable, then the typed fields (namespace, service account, labels, workload name,
    /// cluster id, interception mode, instance IPs, version).
    pub fn metadata(&self, env: &dyn Env) -> Result<Map<String, Value>, ConfigError> {
        let mut md = Map::new();
        for (k, v) in env.vars() {
            if let Some(name) = k.strip_prefix(ENV_METAJSON_PREFIX) {
                let parsed: Value =
                    serde_json::from_str(&v).map_err(|e| ConfigError::BadValue {
                        name: k.clone(),
                        value: v.clone(),
                        reason: e.to_string(),
                    })?;
                md.insert(name.into(), parsed);
            } else if let Some(name) = k.strip_prefix(ENV_META_PREFIX) {
                md.insert(name.into(), Value::String(v));
            }
        }
        let s = |v: &str| Value::String(v.to_string());
        md.insert("NAMESPACE".into(), s(&self.pod_namespace));
        md.insert("NAME".into(), s(&self.pod_name));
        md.insert("SERVICE_ACCOUNT".into(), s(&self.service_account));
        md.insert("LABELS".into(), Value::Object(self.labels(env)?));
        md.insert("CLUSTER_ID".into(), s(&self.cluster_id));
        md.insert(
            "INTERCEPTION_MODE".into(),
            s(self.interception_mode.as_str()),
        );
        md.insert("INSTANCE_IPS".into(), s(&self.instance_ip.to_string()));
        md.insert("ISTIO_VERSION".into(), s(&self.istio_version));
        if !self.workload_name.is_empty() {
            md.insert("WORKLOAD_NAME".into(), s(&self.workload_name));
        }
        Ok(md)
    }

    /// The proxy as mastd will see it (id and metadata parsed back, so a bad id fails here).
    pub fn proxy(&self, env: &dyn Env) -> Result<Proxy, ConfigError> {
        Ok(Proxy::parse(&self.node_id(), self.metadata(env)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mast_xds::node::InterceptionMode as NodeMode;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn node_as_istio_agent_builds_it() {
        let mut c = Config::try_parse_from([
            "mast-proxy",
            "--podName=reviews-v1-abc",
            "--podNamespace=bookinfo",
            "--instanceIp=10.0.0.7",
            "--serviceAccount=reviews",
            "--labels=app=reviews,version=v1",
            "--interceptionMode=NONE",
        ])
        .unwrap();
        c.workload_name = "reviews-v1".into();
        let e = env(&[
            ("ISTIO_META_MESH_ID", "mesh1"),
            ("ISTIO_METAJSON_LABELS", r#"{"tier":"backend"}"#),
            ("PATH", "/bin"),
        ]);
        assert_eq!(
            c.node_id(),
            "sidecar~10.0.0.7~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local"
        );
        let p = c.proxy(&e).unwrap();
        assert_eq!(p.namespace, "bookinfo");
        assert_eq!(p.service_account, "reviews");
        assert_eq!(p.labels["app"], "reviews");
        assert_eq!(p.labels["tier"], "backend");
        assert_eq!(p.workload_name, "reviews-v1");
        assert_eq!(p.interception_mode, NodeMode::None);
        assert_eq!(p.metadata["MESH_ID"], "mesh1");
        assert!(!p.metadata.contains_key("PATH"));
        assert_eq!(p.cluster_name(), "reviews.bookinfo");
    }

    #[test]
    fn bad_values_are_named() {
        let c = Config::try_parse_from([
            "mast-proxy",
            r#"--appMetrics={"scrape":"true","port":"8080"}"#,
        ])
        .unwrap();
        assert_eq!(
            c.app_scrape().unwrap(),
            Some(AppScrape {
                port: 8080,
                path: "/metrics".into()
            })
        );
        for (raw, ok) in [
            (r#"{"scrape":"false","port":"8080"}"#, true),
            (r#"{"scrape":"true"}"#, false),
            (r#"{"scrape":"true","port":"http"}"#, false),
            ("not json", false),
        ] {
            let mut c = Config::try_parse_from(["mast-proxy"]).unwrap();
            c.app_metrics = Some(raw.into());
            let r = c.app_scrape();
            assert_eq!(r.is_ok(), ok, "{raw}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("--appMetrics"), "{e}");
            }
        }
        let c = Config::try_parse_from(["mast-proxy", "--labels=noequals"]).unwrap();
        let e = c.proxy(&env(&[])).unwrap_err().to_string();
        assert!(e.contains("--labels") && e.contains("noequals"), "{e}");
        let c = Config::try_parse_from(["mast-proxy"]).unwrap();
        let e = c
            .proxy(&env(&[("ISTIO_METAJSON_LABELS", "{")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ISTIO_METAJSON_LABELS"), "{e}");
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert!(parse_duration("5x").is_err());
    }
}
