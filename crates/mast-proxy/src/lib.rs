//! mast-proxy: Mast's sidecar, Envoy and pilot-agent in one process.
//!
//! It fetches its configuration from mastd over ADS ([`xds`]), compiles it once into a
//! runtime [`model`] that is swapped atomically, binds the listeners the model names
//! ([`listener`]), and proxies HTTP/1.1 and HTTP/2 ([`http`]) and TCP ([`tcp`]) to clusters
//! ([`upstream`]) with mTLS from the workload certificate ([`tls`]). Requests read the model
//! without locks and do no work that could be done when the config was compiled.
//!
//! - [`config`]: flags, environment, node id and metadata.
//! - [`identity`]: the workload certificate from mastd's CA, its rotation, SDS for Envoy.
//! - [`admin`]: `/config_dump`, `/certs`, `/clusters`, `/ready`, `/quitquitquit`, `/healthz/ready`.
//! - [`capture`]: the iptables rules of transparent capture (`mast-proxy istio-iptables`).
//! - [`drain`]: graceful drain.
//! - [`filters`]: the HTTP filters (peer metadata exchange, fault injection, CORS, stats).
//! - [`telemetry`]: peers and Istio's standard metrics on `/stats/prometheus`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mast_proxy::RunError> {
//! use clap::Parser;
//! let config = mast_proxy::Config::try_parse_from(["mast-proxy", "--interceptionMode=NONE"]).unwrap();
//! let proxy = mast_proxy::run(config).await?;
//! proxy.quit_requested().await;
//! proxy.drain().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod capture;
pub mod config;
pub mod drain;
pub mod filters;
pub mod http;
pub mod identity;
pub mod inspect;
pub mod listener;
pub mod model;
pub mod tcp;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod xds;

pub use app::{Handle, RunError, run, run_with_env};
pub use config::Config;
