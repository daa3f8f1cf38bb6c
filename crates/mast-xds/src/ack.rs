//! ADS ACK/NACK bookkeeping for one stream: per type, what was sent and what the proxy said.

use std::collections::BTreeMap;

/// What the proxy last said about one type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeState {
    /// The version last sent.
    pub sent_version: String,
    /// The nonce last sent.
    pub sent_nonce: String,
    /// The version the proxy last accepted.
    pub acked_version: String,
    /// The nonce of the response last acknowledged or rejected.
    pub acked_nonce: String,
    /// The error of the last NACK, cleared by the next ACK.
    pub last_error: Option<String>,
    /// Resource names the proxy subscribed to (RDS, EDS, SDS); empty means all.
    pub subscribed: Vec<String>,
    /// Number of NACKs received.
    pub nacks: u64,
}

/// How to treat one DiscoveryRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The first request for a type, or a request after a reconnect: send everything.
    Initial,
    /// The proxy accepted `version`.
    Ack,
    /// The proxy rejected the response with `nonce`; the previous config stays.
    Nack(String),
    /// The proxy changed its subscription (names) without answering a response.
    Resubscribe,
    /// A reply to a response that has since been superseded: ignore.
    Stale,
}

/// Per-type state of one ADS stream.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    types: BTreeMap<String, TypeState>,
}

impl Ledger {
    /// Records a response sent.
    pub fn sent(&mut self, type_url: &str, version: &str, nonce: &str) {
        let t = self.types.entry(type_url.to_string()).or_default();
        t.sent_version = version.to_string();
        t.sent_nonce = nonce.to_string();
    }

    /// Classifies a request and records what it says, as Istio's `shouldRespond` does.
    pub fn received(
        &mut self,
        type_url: &str,
        response_nonce: &str,
        version_info: &str,
        names: &[String],
        error: Option<&str>,
    ) -> Request {
        let t = self.types.entry(type_url.to_string()).or_default();
        if response_nonce.is_empty() {
            t.subscribed = names.to_vec();
            return Request::Initial;
        }
        if response_nonce != t.sent_nonce {
            // the proxy answers a response it got before a newer one: skip
            return Request::Stale;
        }
        if let Some(e) = error {
            t.acked_nonce = response_nonce.to_string();
            t.last_error = Some(e.to_string());
            t.nacks += 1;
            return Request::Nack(e.to_string());
        }
        let changed = t.subscribed.as_slice() != names;
        t.acked_nonce = response_nonce.to_string();
        t.acked_version = version_info.to_string();
        t.last_error = None;
        if changed {
            t.subscribed = names.to_vec();
            Request::Resubscribe
        } else {
            Request::Ack
        }
    }

    /// The state of one type.
    pub fn get(&self, type_url: &str) -> Option<&TypeState> {
        self.types.get(type_url)
    }

    /// Every type's state.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TypeState)> {
        self.types.iter()
    }

    /// Whether every type sent has been acknowledged at its latest nonce.
    pub fn converged(&self) -> bool {
        self.types.values().all(|t| {
            t.sent_nonce.is_empty() || (t.acked_nonce == t.sent_nonce && t.last_error.is_none())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CLUSTER;

    #[test]
    fn request_classification() {
        let mut l = Ledger::default();
        assert_eq!(l.received(CLUSTER, "", "", &[], None), Request::Initial);
        l.sent(CLUSTER, "v1", "n1");
        assert!(!l.converged());
        assert_eq!(l.received(CLUSTER, "n0", "", &[], None), Request::Stale);
        assert_eq!(l.received(CLUSTER, "n1", "v1", &[], None), Request::Ack);
        assert!(l.converged());
        l.sent(CLUSTER, "v2", "n2");
        assert_eq!(
            l.received(CLUSTER, "n2", "v1", &[], Some("bad cluster")),
            Request::Nack("bad cluster".into())
        );
        let s = l.get(CLUSTER).unwrap();
        assert_eq!(s.acked_version, "v1");
        assert_eq!(s.last_error.as_deref(), Some("bad cluster"));
        assert_eq!(s.nacks, 1);
        assert!(!l.converged());
        assert_eq!(
            l.received(CLUSTER, "n2", "v1", &["a".into()], None),
            Request::Resubscribe
        );
    }
}
