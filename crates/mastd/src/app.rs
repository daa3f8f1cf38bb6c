//! Wiring: config sources → store → push engine → snapshot → ADS server, plus the
//! monitoring server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mast_config::Loaded;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::args::Args;
use crate::debug::{self, DebugState};
use crate::metrics::Metrics;
use crate::model::{MeshSettings, Snapshot};
use crate::push::{self, Debounce, Event};
use crate::source::store::ConfigStore;
use crate::source::watch;
use crate::xds::server::{Discovery, ServerLimits};

/// Kinds (`group/Kind`) whose changes may move only endpoints: when nothing else changed and
/// the services stay the same, the push is EDS alone.
const ENDPOINT_KINDS: &[&str] = &[
    "networking.istio.io/WorkloadEntry",
    "/Endpoints",
    "discovery.k8s.io/EndpointSlice",
    "/Pod",
];

/// Why mastd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The MeshConfig file could not be read or parsed.
    #[error("mesh config {path}: {message}")]
    MeshConfig {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A config directory could not be watched.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory.
        path: String,
        /// The watcher's error.
        source: notify::Error,
    },
    /// The CA could not start.
    #[error("CA: {0}")]
    Ca(#[from] crate::ca::CaError),
}

/// A running mastd: its addresses and handles for tests.
pub struct Running {
    /// The bound gRPC (xDS) address.
    pub grpc_addr: SocketAddr,
    /// The bound monitoring address.
    pub monitoring_addr: SocketAddr,
    /// The discovery server.
    pub discovery: Arc<Discovery>,
    /// The config store.
    pub store: Arc<Mutex<ConfigStore>>,
    /// The CA and the TLS gRPC port (ADS + CA).
    pub ca: crate::ca::Serving,
    _watchers: Vec<notify::RecommendedWatcher>,
}

fn read_mesh(path: &std::path::Path) -> Result<Value, StartError> {
    let err = |message: String| StartError::MeshConfig {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let docs = mast_config::yaml::parse_stream(&text).map_err(|e| err(e.to_string()))?;
    Ok(docs
        .into_iter()
        .next()
        .map(|d| d.value)
        .unwrap_or(Value::Null))
}

/// The directories to read: `--configDir` and MeshConfig `configSources` with `fs://`.
fn config_dirs(args: &Args, mesh: &Value) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = args.config_dir.iter().cloned().collect();
    if let Some(sources) = mesh.get("configSources").and_then(Value::as_array) {
        for s in sources {
            match s.get("address").and_then(Value::as_str) {
                Some(a) if a.starts_with("fs://") => dirs.push(PathBuf::from(&a["fs://".len()..])),
                Some(a) => tracing::warn!(
                    address = a,
                    "config source not supported (only fs:// is); ignored"
                ),
                None => {}
            }
        }
    }
    dirs
}

/// Starts mastd and returns once its servers listen.
pub async fn start(args: Args) -> Result<Running, StartError> {
    let mesh_doc = match &args.mesh_config {
        Some(p) => read_mesh(p)?,
        None => Value::Null,
    };
    let mesh = MeshSettings::from_mesh_config(&mesh_doc);
    let dirs = config_dirs(&args, &mesh_doc);
    let metrics = Arc::new(Metrics::default());
    let store = Arc::new(Mutex::new(ConfigStore::default()));
    let reload = {
        let store = store.clone();
        let dirs = dirs.clone();
        let ns = args.default_namespace.clone();
        let metrics = metrics.clone();
        move || {
            let loaded = Loaded::from_paths(&dirs);
            let mut s = store.lock().expect("store lock");
            let r = s.reconcile(loaded, &ns);
            metrics.invalid_objects.set(s.problems().len() as i64);
            r
        }
    };
    reload();
    let pushes = Arc::new(AtomicU64::new(1));
    let build = {
        let store = store.clone();
        let mesh = mesh.clone();
        let pushes = pushes.clone();
        move || {
            let objects = store
                .lock()
                .expect("store lock")
                .objects()
                .cloned()
                .collect();
            Arc::new(Snapshot::build(
                pushes.fetch_add(1, Ordering::Relaxed),
                mesh.clone(),
                objects,
            ))
        }
    };
    let limits = ServerLimits {
        concurrent_pushes: args.push_throttle,
        new_streams_per_second: args.max_requests_per_second,
    };
    let discovery = Discovery::new(build(), limits, metrics.clone());

    let (ev_tx, ev_rx) = mpsc::channel::<Event>(1024);
    {
        let discovery = discovery.clone();
        let debounce = Debounce {
            quiet: args.debounce_after,
            max: args.debounce_max,
        };
        tokio::spawn(push::run(ev_rx, debounce, metrics.clone(), move |req| {
            let snap = build();
            tracing::info!(version = %snap.version, full = req.full, "push");
            discovery.push(snap, req);
        }));
    }
    let mut watchers = Vec::new();
    let (file_tx, mut file_rx) = mpsc::channel::<()>(16);
    for d in &dirs {
        let w =
            watch::watch_dir(d.clone(), args.file_debounce, file_tx.clone()).map_err(|source| {
                StartError::Watch {
                    path: d.display().to_string(),
                    source,
                }
            })?;
        watchers.push(w);
    }
    {
        let discovery = discovery.clone();
        let store = store.clone();
        let mesh = mesh.clone();
        tokio::spawn(async move {
            while file_rx.recv().await.is_some() {
                let r = reload();
                if !r.changed {
                    continue;
                }
                tracing::info!(kinds = ?r.changed_kinds, "configuration changed");
                let event = if r
                    .changed_kinds
                    .iter()
                    .all(|k| ENDPOINT_KINDS.contains(&k.as_str()))
                {
                    let objects: Vec<_> = store
                        .lock()
                        .expect("store lock")
                        .objects()
                        .cloned()
                        .collect();
                    let new = crate::registry::Registry::build(&objects, &mesh);
                    match crate::registry::endpoint_only_change(
                        &discovery.snapshot().registry,
                        &new,
                    ) {
                        Some(hosts) => Event::Endpoints(hosts),
                        None => Event::Full,
                    }
                } else {
                    Event::Full
                };
                let _ = ev_tx.send(event).await;
            }
        });
    }

    let grpc = TcpListener::bind(args.grpc_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.grpc_addr,
            source,
        })?;
    let grpc_addr = grpc.local_addr().map_err(|source| StartError::Bind {
        addr: args.grpc_addr,
        source,
    })?;
    let svc = discovery.service();
    let ca = crate::ca::start(&args, &mesh.trust_domain, discovery.service()).await?;
    let ca_svc = ca.service.clone();
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
        if let Err(e) = tonic::transport::Server::builder()
            .add_service(svc)
            .add_service(ca_svc)
            .serve_with_incoming(incoming)
            .await
        {
            tracing::error!(error = %e, "gRPC server stopped");
        }
    });
    let mon = TcpListener::bind(args.monitoring_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.monitoring_addr,
            source,
        })?;
    let monitoring_addr = mon.local_addr().map_err(|source| StartError::Bind {
        addr: args.monitoring_addr,
        source,
    })?;
    let router = debug::router(DebugState {
        discovery: discovery.clone(),
        store: store.clone(),
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(mon, router).await {
            tracing::error!(error = %e, "monitoring server stopped");
        }
    });
    tracing::info!(%grpc_addr, %monitoring_addr, dirs = ?dirs, "mastd started");
    Ok(Running {
        grpc_addr,
        monitoring_addr,
        discovery,
        store,
        ca,
        _watchers: watchers,
    })
}
