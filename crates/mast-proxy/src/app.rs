//! Wiring: the workload certificate (from `--certDir` or the CA, and the SDS socket), the
//! model, listeners, admin servers and the ADS client, and the drain that ends them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use envoy_types::pb::envoy::config::core::v3::Node;
use mast_xds::types;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::admin::{self, Role};
use crate::config::{Config, ConfigError, Env, ProcessEnv};
use crate::drain::Drain;
use crate::identity;
use crate::listener::{self, Listeners};
use crate::model::{Model, SharedModel};
use crate::tls::{self, CertSource};
use crate::xds::state::Dump;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The workload certificate could not be loaded.
    #[error("workload certificate: {0}")]
    Cert(#[from] tls::TlsError),
    /// The SDS socket could not be served.
    #[error(transparent)]
    Sds(#[from] identity::sds::SdsError),
    /// An admin or status address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What every part of a running proxy shares.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The node sent to mastd.
    pub node: Node,
    /// The compiled model.
    pub model: SharedModel,
    /// The workload certificate, as handshakes read it.
    pub certs: Arc<CertSource>,
    /// The workload certificate as PEM with what it says (`/certs`, SDS).
    pub identity: Arc<identity::Store>,
    /// The drain signal.
    pub drain: Drain,
    /// Bound listeners.
    pub listeners: Listeners,
    /// Accepted resources, for `/config_dump`.
    pub dump: ArcSwap<Dump>,
    /// This workload, its peers and the `istio_*` metrics.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// The application's metrics endpoint, merged into the status port's scrape.
    pub app_scrape: Option<crate::config::AppScrape>,
    clusters_ok: AtomicBool,
    listeners_ok: AtomicBool,
    nacks: Mutex<BTreeMap<String, String>>,
    quit: Notify,
}

impl Shared {
    /// Records an accepted update of `type_url`.
    pub fn mark_accepted(&self, type_url: &str) {
        match type_url {
            types::CLUSTER => self.clusters_ok.store(true, Ordering::Release),
            types::LISTENER => self.listeners_ok.store(true, Ordering::Release),
            _ => {}
        }
        self.nacks
            .lock()
            .expect("nacks lock")
            .remove(types::short_name(type_url));
    }

    /// Records a rejected update.
    pub fn record_nack(&self, type_url: &str, reason: &str) {
        self.nacks
            .lock()
            .expect("nacks lock")
            .insert(types::short_name(type_url).to_string(), reason.to_string());
    }

    /// The last rejection per type (`CDS` → reason) since its last acceptance.
    pub fn nacks(&self) -> BTreeMap<String, String> {
        self.nacks.lock().expect("nacks lock").clone()
    }

    /// Whether clusters and listeners arrived (Envoy's `/ready` LIVE).
    pub fn is_ready(&self) -> bool {
        self.clusters_ok.load(Ordering::Acquire) && self.listeners_ok.load(Ordering::Acquire)
    }

    /// `/quitquitquit`.
    pub fn request_quit(&self) {
        self.quit.notify_waiters();
        self.quit.notify_one();
    }
}

/// A running proxy.
#[derive(Debug)]
pub struct Handle {
    shared: Arc<Shared>,
    /// The bound admin address.
    pub admin_addr: SocketAddr,
    /// The bound status address.
    pub status_addr: SocketAddr,
    /// The bound readiness address.
    pub ready_addr: SocketAddr,
    /// The bound Prometheus address.
    pub prometheus_addr: SocketAddr,
}

impl Handle {
    /// The current model.
    pub fn model(&self) -> Arc<Model> {
        self.shared.model.load_full()
    }

    /// The local address of a bound listener.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.shared.listeners.local_addr(name)
    }

    /// Whether the first clusters and listeners were accepted.
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// The last rejected update per type.
    pub fn nacks(&self) -> BTreeMap<String, String> {
        self.shared.nacks()
    }

    /// The workload certificate source (swap it to rotate).
    pub fn certs(&self) -> &Arc<CertSource> {
        &self.shared.certs
    }

    /// The current workload certificate with its key and roots, if any.
    pub fn identity(&self) -> Option<Arc<identity::Issued>> {
        self.shared.identity.current()
    }

    /// Resolves when `/quitquitquit` is called.
    pub async fn quit_requested(&self) {
        self.shared.quit.notified().await;
    }

    /// Drains: stops accepting, lets in-flight requests finish up to `--drainDuration`, stops
    /// the xDS client. Returns whether every connection closed in time.
    pub async fn drain(&self) -> bool {
        tracing::info!(open = self.shared.drain.open(), "draining");
        self.shared.drain.start();
        self.shared.listeners.stop_all();
        let clean = self
            .shared
            .drain
            .wait_closed(self.shared.config.drain_duration)
            .await;
        tracing::info!(clean, left = self.shared.drain.open(), "drained");
        clean
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })
}

fn modified(dir: &std::path::Path) -> Option<SystemTime> {
    [tls::CERT_CHAIN_FILE, tls::KEY_FILE, tls::ROOT_FILE]
        .iter()
        .filter_map(|f| {
            std::fs::metadata(dir.join(f))
                .and_then(|m| m.modified())
                .ok()
        })
        .max()
}

/// Reloads `--certDir` when its files change (users with their own certificates; otherwise
/// [`identity::rotate`] renews from the CA).
async fn watch_certs(
    dir: std::path::PathBuf,
    certs: Arc<CertSource>,
    store: Arc<identity::Store>,
    drain: Drain,
) {
    let mut last = modified(&dir);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = drain.signaled() => return,
        }
        let now = modified(&dir);
        if now != last {
            last = now;
            match load_dir(&dir).and_then(|i| store.install(&certs, i)) {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "workload certificate not reloaded"),
            }
        }
    }
}

/// Reads `--certDir` as an [`identity::Issued`].
fn load_dir(dir: &std::path::Path) -> Result<identity::Issued, tls::TlsError> {
    let read = |f: &str| {
        let p = dir.join(f);
        std::fs::read_to_string(&p).map_err(|e| tls::TlsError::File {
            path: p,
            reason: e.to_string(),
        })
    };
    identity::Issued::from_pem(
        read(tls::CERT_CHAIN_FILE)?,
        read(tls::KEY_FILE)?,
        read(tls::ROOT_FILE)?,
        format!("--certDir {}", dir.display()),
    )
}

/// Starts a proxy, reading `ISTIO_META_*` from the process environment.
pub async fn run(config: Config) -> Result<Handle, RunError> {
    run_with_env(config, &ProcessEnv).await
}

/// Starts a proxy with `env` as its environment.
pub async fn run_with_env(config: Config, env: &dyn Env) -> Result<Handle, RunError> {
    let proxy = config.proxy(env)?;
    let app_scrape = config.app_scrape()?;
    let node = proxy.to_node();
    let certs = CertSource::empty();
    let store = Arc::new(identity::Store::default());
    if let Some(dir) = &config.cert_dir {
        store.install(&certs, load_dir(dir)?)?;
    }
    let model: SharedModel = Arc::new(ArcSwap::from_pointee(Model::default()));
    let drain = Drain::default();
    let listeners = Listeners::new(listener::Env {
        model: model.clone(),
        certs: certs.clone(),
        drain: drain.clone(),
    });
    let socks = [
        (bind(config.admin_addr).await?, Role::Admin),
        (bind(config.status_addr).await?, Role::Status),
        (bind(config.ready_addr).await?, Role::Ready),
        (bind(config.prometheus_addr).await?, Role::Prometheus),
    ];
    let addrs: Vec<SocketAddr> = socks
        .iter()
        .map(|(s, _)| s.local_addr().expect("bound"))
        .collect();
    let shared = Arc::new(Shared {
        config,
        node: node.clone(),
        model,
        certs,
        identity: store,
        drain,
        listeners,
        dump: ArcSwap::from_pointee(Dump::default()),
        telemetry: crate::telemetry::Telemetry::new(&proxy.node_id, &proxy.metadata),
        app_scrape,
        clusters_ok: AtomicBool::new(false),
        listeners_ok: AtomicBool::new(false),
        nacks: Mutex::new(BTreeMap::new()),
        quit: Notify::new(),
    });
    shared.telemetry.tracers.bind(shared.model.clone());
    for (sock, role) in socks {
        tokio::spawn(admin::serve(sock, shared.clone(), role));
    }
    if let Some(dir) = shared.config.cert_dir.clone() {
        tokio::spawn(watch_certs(
            dir,
            shared.certs.clone(),
            shared.identity.clone(),
            shared.drain.clone(),
        ));
    } else if let Some(ca) = shared.config.ca_options() {
        tracing::info!(ca = %ca.address, id = %ca.id, tls = !ca.insecure, "workload certificate from the CA");
        let opts = identity::rotate::RotateOptions {
            ratio: shared.config.secret_rotation_ratio,
            retry_initial: shared.config.ca_retry_initial,
            retry_max: shared.config.ca_retry_max,
            ..Default::default()
        };
        tokio::spawn(identity::rotate::run(
            ca,
            opts,
            shared.identity.clone(),
            shared.certs.clone(),
            shared.drain.clone(),
        ));
    }
    if let Some(path) = &shared.config.sds_socket {
        identity::sds::serve(path, shared.identity.clone(), shared.drain.clone())?;
    }
    tokio::spawn(crate::xds::client::run(shared.clone(), node));
    tracing::info!(node = %shared.node.id, admin = %addrs[0], mastd = %shared.config.discovery_address, "mast-proxy started");
    Ok(Handle {
        shared,
        admin_addr: addrs[0],
        status_addr: addrs[1],
        ready_addr: addrs[2],
        prometheus_addr: addrs[3],
    })
}
