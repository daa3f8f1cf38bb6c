//! Command-line flags, in istioctl's spelling.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, error::ErrorKind};

/// istioctl's exit codes, which `mastctl` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing to report at or above the failure threshold.
    Ok = 0,
    /// A general failure (e.g. `validate` found invalid objects).
    Failure = 1,
    /// Bad usage (unknown flag, bad flag value).
    Usage = 64,
    /// An input file could not be parsed.
    ParseError = 65,
    /// Analysis found messages at or above the failure threshold.
    AnalyzerFoundIssues = 79,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Mast's command-line tool: check, install and inspect a Mast mesh.
#[derive(Debug, Parser)]
#[command(name = "mastctl", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze Istio configuration and print validation messages (istioctl analyze).
    Analyze(Box<AnalyzeArgs>),
    /// Validate Istio policy and rules files (istioctl validate).
    Validate(ValidateArgs),
    /// The sync status of each proxy connected to mastd (istioctl proxy-status).
    #[command(name = "proxy-status", alias = "ps")]
    ProxyStatus(ProxyStatusArgs),
    /// The configuration mastd sends one proxy (istioctl proxy-config).
    #[command(name = "proxy-config", alias = "pc")]
    ProxyConfig(ProxyConfigArgs),
    /// Workload identity outside Kubernetes.
    Workload(WorkloadArgs),
    /// Run a demo mesh on this machine: mastd, bookinfo-like apps and one mast-proxy each,
    /// with traffic and a live summary (no Kubernetes, no root).
    Demo(DemoArgs),
}

/// Flags of `mastctl demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo run --release -p mastctl -- demo\n  mastctl demo --duration 60   # unattended: exit 0 only if every check held\n  sudo mastctl demo --capture  # iptables capture in a network namespace per workload"
)]
pub struct DemoArgs {
    /// Run this many seconds, print the summary and exit (0 only if every check held);
    /// without it, run until Ctrl-C.
    #[arg(long = "duration")]
    pub duration: Option<u64>,
    /// Requests per second sent to productpage.
    #[arg(long = "rps", default_value_t = 20)]
    pub rps: u32,
    /// Where the proxies' certificates come from: ca (mastd's CA, with workload tokens),
    /// files (a demo CA minted by mastctl), or auto (ca when mast-proxy supports it).
    #[arg(long = "certs", value_enum, default_value = "auto")]
    pub certs: crate::demo::Certs,
    /// Run each workload in its own network namespace with Istio's iptables capture
    /// (interception mode REDIRECT, proxies as UID 1337) instead of explicit listeners on
    /// loopback addresses. Needs root, ip, iptables and setpriv.
    #[arg(long = "capture")]
    pub capture: bool,
    /// The mastd binary (default: beside mastctl, built with cargo if missing).
    #[arg(long = "mastd-bin", env = "MAST_DEMO_MASTD")]
    pub mastd_bin: Option<PathBuf>,
    /// The mast-proxy binary (default: beside mastctl, built with cargo if missing).
    #[arg(long = "proxy-bin", env = "MAST_DEMO_PROXY")]
    pub proxy_bin: Option<PathBuf>,
}

/// Flags of `mastctl workload`.
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: WorkloadCommand,
}

/// The `workload` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkloadCommand {
    /// Mint a token, signed with mastd's key, that proves a workload's identity to mastd's CA
    /// (sent as `authorization: Bearer <token>`).
    #[command(
        after_help = "Examples:\n  mastctl workload token --namespace default --service-account bookinfo-productpage\n  TOKEN=$(mastctl workload token -n shop -s cart --ttl 10m)"
    )]
    Token(TokenArgs),
}

/// Flags of `mastctl workload token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The workload's namespace.
    #[arg(short = 'n', long = "namespace")]
    pub namespace: String,
    /// The workload's service account.
    #[arg(short = 's', long = "service-account", alias = "serviceAccount")]
    pub service_account: String,
    /// How long the token is valid (e.g. 90s, 30m, 1h, 7d).
    #[arg(long = "ttl", default_value = "1h")]
    pub ttl: String,
    /// mastd's state directory, where its token signing key is (default: mastd's default,
    /// $HOME/.mast/state).
    #[arg(long = "stateDir", env = "MAST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Flags of `mastctl proxy-status`.
#[derive(Debug, Args)]
pub struct ProxyStatusArgs {
    /// Only this proxy (`POD.NAMESPACE`).
    pub proxy: Option<String>,
    /// mastd's monitoring address (its /debug endpoints).
    #[arg(
        long = "mastd",
        env = "MAST_DEBUG_ADDR",
        default_value = "127.0.0.1:15014"
    )]
    pub mastd: std::net::SocketAddr,
    /// Output format: short (a table) or json.
    #[arg(short = 'o', long = "output", default_value = "short")]
    pub output: String,
}

/// What `proxy-config` shows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProxyConfigKind {
    /// Clusters (CDS).
    #[value(alias = "clusters", alias = "c")]
    Cluster,
    /// Listeners (LDS).
    #[value(alias = "listeners", alias = "l")]
    Listener,
    /// Route configurations (RDS).
    #[value(alias = "routes", alias = "r")]
    Route,
    /// Endpoints (EDS).
    #[value(alias = "endpoints", alias = "ep")]
    Endpoint,
    /// The workload certificate and root the proxy holds (from its admin `/certs`; needs
    /// `--admin`).
    #[value(alias = "secrets", alias = "s")]
    Secret,
}

/// Flags of `mastctl proxy-config`.
#[derive(Debug, Args)]
pub struct ProxyConfigArgs {
    /// cluster, listener, route, endpoint or secret.
    #[arg(value_enum)]
    pub kind: ProxyConfigKind,
    /// The proxy (`POD.NAMESPACE`).
    pub proxy: String,
    /// The proxy's admin address (for `secret`, read from the proxy itself).
    #[arg(
        long = "admin",
        env = "MAST_PROXY_ADMIN",
        default_value = "127.0.0.1:15000"
    )]
    pub admin: std::net::SocketAddr,
    /// mastd's monitoring address (its /debug endpoints).
    #[arg(
        long = "mastd",
        env = "MAST_DEBUG_ADDR",
        default_value = "127.0.0.1:15014"
    )]
    pub mastd: std::net::SocketAddr,
    /// Output format: short (a table) or json.
    #[arg(short = 'o', long = "output", default_value = "short")]
    pub output: String,
}

/// Flags of `mastctl analyze`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  mastctl analyze samples/bookinfo/\n  mastctl analyze -o json a.yaml b.yaml\n  mastctl analyze -S \"IST0102=Namespace frod\" -S \"IST0103=Pod *.testing\" dir/\n  mastctl analyze -L"
)]
pub struct AnalyzeArgs {
    /// Files or directories (read recursively; `*.yaml`, `*.yml`, `*.json`), or `-` for stdin.
    pub paths: Vec<PathBuf>,
    /// Output format: log, json or yaml.
    #[arg(short = 'o', long = "output", default_value = "log")]
    pub output: String,
    /// The severity level of analysis at which to display messages: Info, Warning or Error.
    #[arg(long = "output-threshold", default_value = "Info")]
    pub output_threshold: String,
    /// The severity level of analysis at which to set a non-zero exit code: Info, Warning or Error.
    #[arg(long = "failure-threshold", default_value = "Error")]
    pub failure_threshold: String,
    /// Suppress reporting a message code on a resource: "CODE=Kind name.namespace" or
    /// "CODE=Kind namespace/name"; `*` matches any text. Repeatable.
    #[arg(short = 'S', long = "suppress")]
    pub suppress: Vec<String>,
    /// List the analyzers and exit.
    #[arg(short = 'L', long = "list-analyzers")]
    pub list_analyzers: bool,
    /// Run only the named analyzer (repeatable); see -L for names.
    #[arg(long = "analyzer")]
    pub analyzer: Vec<String>,
    /// A MeshConfig file to use instead of the defaults.
    #[arg(long = "meshConfigFile")]
    pub mesh_config_file: Option<PathBuf>,
    /// Report objects of unknown kinds but go on.
    #[arg(long = "ignore-unknown")]
    pub ignore_unknown: bool,
    /// Namespace given to namespaced objects that name none.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// The control plane's namespace.
    #[arg(short = 'i', long = "istioNamespace", default_value = "istio-system")]
    pub istio_namespace: String,
    /// Process directories recursively (always on; kept for istioctl's flag).
    #[arg(short = 'R', long = "recursive", default_value_t = true)]
    pub recursive: bool,
    /// Colour the log output (only when stdout is a terminal).
    #[arg(long = "color", default_value_t = true, action = clap::ArgAction::Set)]
    pub color: bool,
    /// Reproduce the analyzer behaviour of an Istio release where releases differ:
    /// `current` or `1.5`.
    #[arg(long = "compat", default_value = "current")]
    pub compat: String,
    /// Print the analyzers that ran and the files read.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

/// Flags of `mastctl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories to validate (`-` for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub filenames: Vec<PathBuf>,
}

/// Parses the command line; usage errors exit 64 as istioctl's do, `--help` and `--version`
/// exit 0.
pub fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(c) => Ok(c),
        Err(e) => {
            let _ = e.print();
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Err(ExitCode::SUCCESS),
                _ => Err(Exit::Usage.into()),
            }
        }
    }
}
