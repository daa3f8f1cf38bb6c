//! xDS: the ADS client ([`client`]) and the accepted resources with their compiled form
//! ([`state`]).

pub mod client;
pub mod state;

/// Why the ADS stream to mastd ended.
#[derive(Debug, thiserror::Error)]
pub enum XdsError {
    /// The discovery address is not a URI.
    #[error("discovery address {0:?}: {1}")]
    Address(String, String),
    /// mastd could not be reached.
    #[error("cannot connect to mastd at {0}: {1}")]
    Connect(String, String),
    /// The stream failed.
    #[error("ADS stream: {0}")]
    Stream(String),
    /// The request channel closed.
    #[error("ADS request channel closed")]
    Closed,
    /// mastd does not serve delta xDS.
    #[error("mastd does not serve delta xDS ({0}); using state of the world")]
    DeltaUnsupported(String),
}
