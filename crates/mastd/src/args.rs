//! mastd's configuration: flags with environment fallbacks and istiod's defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Parses `100ms`, `10s`, `1m` (Go-style durations as istiod's env vars take them).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .ok_or_else(|| format!("duration {s:?} has no unit (use ms, s, m or h)"))?;
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

/// mastd: Mast's control plane.
#[derive(Debug, Clone, Parser)]
#[command(name = "mastd", version, about)]
pub struct Args {
    /// Directory of configuration YAML, watched recursively.
    #[arg(long = "configDir", env = "MAST_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
    /// MeshConfig file (YAML). Its `configSources` with `fs:///path` addresses add directories.
    #[arg(long = "meshConfig", env = "MESH_CONFIG_FILE")]
    pub mesh_config: Option<PathBuf>,
    /// Plaintext gRPC (xDS and CA) address.
    #[arg(
        long = "grpcAddr",
        env = "MAST_GRPC_ADDR",
        default_value = "127.0.0.1:15010"
    )]
    pub grpc_addr: SocketAddr,
    /// Monitoring address: /metrics and /debug/*.
    #[arg(
        long = "monitoringAddr",
        env = "MAST_MONITORING_ADDR",
        default_value = "127.0.0.1:15014"
    )]
    pub monitoring_addr: SocketAddr,
    /// Namespace given to namespaced objects that name none.
    #[arg(
        long = "defaultNamespace",
        env = "MAST_DEFAULT_NAMESPACE",
        default_value = "default"
    )]
    pub default_namespace: String,
    /// Quiet period before a push.
    #[arg(long = "debounceAfter", env = "PILOT_DEBOUNCE_AFTER", default_value = "100ms", value_parser = parse_duration)]
    pub debounce_after: Duration,
    /// Longest delay of a push while events keep coming.
    #[arg(long = "debounceMax", env = "PILOT_DEBOUNCE_MAX", default_value = "10s", value_parser = parse_duration)]
    pub debounce_max: Duration,
    /// Quiet period after file changes before a reload.
    #[arg(long = "fileDebounce", env = "MAST_FILE_DEBOUNCE", default_value = "250ms", value_parser = parse_duration)]
    pub file_debounce: Duration,
    /// Pushes generated and sent at once.
    #[arg(
        long = "pushThrottle",
        env = "PILOT_PUSH_THROTTLE",
        default_value_t = 100
    )]
    pub push_throttle: usize,
    /// New ADS streams accepted per second.
    #[arg(
        long = "maxRequestsPerSecond",
        env = "PILOT_MAX_REQUESTS_PER_SECOND",
        default_value_t = 25
    )]
    pub max_requests_per_second: u32,
    /// TLS gRPC (xDS and CA) address. Default 127.0.0.1:15012, or an ephemeral port on the
    /// --grpcAddr IP when --grpcAddr asks for port 0.
    #[arg(long = "secureGrpcAddr", env = "MAST_SECURE_GRPC_ADDR")]
    pub secure_grpc_addr: Option<SocketAddr>,
    /// mastd's state: the self-signed CA (ca/) and the token signing key (token/). Default
    /// $HOME/.mast/state (./.mast/state without HOME); `mastctl workload token` reads the same.
    #[arg(long = "stateDir", env = "MAST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// A plugged-in CA: a directory with ca-cert.pem, ca-key.pem, root-cert.pem and
    /// cert-chain.pem (Istio's cacerts), watched and reloaded on change. Without it mastd uses
    /// its self-signed root under --stateDir.
    #[arg(long = "caCertDir", env = "MAST_CA_CERT_DIR")]
    pub ca_cert_dir: Option<PathBuf>,
    /// More names for the TLS server certificate, besides istiod.<istioNamespace>.svc
    /// (comma-separated; IP addresses become IP SANs).
    #[arg(
        long = "caHostnames",
        env = "ISTIOD_CUSTOM_HOST",
        value_delimiter = ','
    )]
    pub ca_hostnames: Vec<String>,
    /// The control plane's namespace (names the TLS server certificate).
    #[arg(
        long = "istioNamespace",
        env = "POD_NAMESPACE",
        default_value = "istio-system"
    )]
    pub istio_namespace: String,
    /// Lifetime of a workload certificate when the request names none.
    #[arg(long = "workloadCertTTL", env = "DEFAULT_WORKLOAD_CERT_TTL", default_value = "24h", value_parser = parse_duration)]
    pub workload_cert_ttl: Duration,
    /// Longest workload certificate lifetime given; longer requests are cut to it.
    #[arg(long = "maxWorkloadCertTTL", env = "MAX_WORKLOAD_CERT_TTL", default_value = "2160h", value_parser = parse_duration)]
    pub max_workload_cert_ttl: Duration,
    /// After a plugged-in CA's root changes, how long the old root stays trusted (at least;
    /// longer if certificates it signed live longer).
    #[arg(long = "caRootOverlap", env = "MAST_CA_ROOT_OVERLAP", default_value = "24h", value_parser = parse_duration)]
    pub ca_root_overlap: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("100ms", Some(100)),
            ("10s", Some(10_000)),
            ("1.5s", Some(1500)),
            ("2m", Some(120_000)),
            ("10", None),
            ("1d", None),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_duration(s).ok().map(|d| d.as_millis() as u64),
                want,
                "{s}"
            );
        }
    }

    #[test]
    fn defaults_are_istiods() {
        let a = Args::try_parse_from(["mastd"]).unwrap();
        assert_eq!(a.grpc_addr.port(), 15010);
        assert_eq!(a.monitoring_addr.port(), 15014);
        assert_eq!(a.debounce_after, Duration::from_millis(100));
        assert_eq!(a.debounce_max, Duration::from_secs(10));
        assert_eq!(crate::ca::secure_addr(&a).port(), 15012);
        assert_eq!(a.workload_cert_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(a.max_workload_cert_ttl, Duration::from_secs(90 * 24 * 3600));
        assert_eq!(a.istio_namespace, "istio-system");
    }
}
