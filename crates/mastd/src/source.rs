//! Where configuration comes from: a directory of YAML today (`--configDir`, or MeshConfig
//! `configSources: [{address: fs:///path}]`); Kubernetes plugs in beside it later and feeds
//! the same [`store::ConfigStore`].

pub mod store;
pub mod watch;
