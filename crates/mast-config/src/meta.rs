//! Checks of `metadata`: names and label syntax, as the Kubernetes API server and Istio check
//! them.

use crate::resource::Resource;
use crate::validate::Findings;

/// Whether `s` is a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters).
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Whether `s` is a valid label key (`[prefix/]name`).
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| !is_dns1123_subdomain(p)) {
        return false;
    }
    is_label_name(name)
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// Whether `s` is a valid label value (empty, or a label name).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// Checks the object's metadata.
pub fn check(r: &Resource, out: &mut Findings) {
    if r.meta.name.is_empty() {
        out.error("metadata.name", "name is required");
    } else if !is_dns1123_subdomain(&r.meta.name) {
        out.error(
            "metadata.name",
            format!(
                "invalid name {:?}: must be a lowercase RFC 1123 subdomain",
                r.meta.name
            ),
        );
    }
    if !r.meta.namespace.is_empty() && !is_dns1123_label(&r.meta.namespace) {
        out.error(
            "metadata.namespace",
            format!(
                "invalid namespace {:?}: must be a lowercase RFC 1123 label",
                r.meta.namespace
            ),
        );
    }
    for (k, v) in &r.meta.labels {
        if !is_label_key(k) {
            out.error(
                format!("metadata.labels[{k:?}]"),
                format!("invalid label key {k:?}"),
            );
        } else if !is_label_value(v) {
            out.error(
                format!("metadata.labels[{k:?}]"),
                format!("invalid label value {v:?}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert!(is_dns1123_label("reviews-v1"));
        assert!(!is_dns1123_label("Reviews"));
        assert!(!is_dns1123_label("-a"));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("/name"));
        assert!(is_label_value(""));
        assert!(is_label_value("v1.2_3"));
        assert!(!is_label_value("v1 2"));
    }
}
