//! Istio's checks of locality-aware and zone-aware load balancing settings.

use super::super::{LocalityLbSetting, OutlierDetection, ZoneAwareLbSetting};
use crate::validate::Findings;

const TOPOLOGY_LABELS: &[&str] = &[
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

pub(super) fn validate_locality_lb(
    l: &LocalityLbSetting,
    outlier: Option<&OutlierDetection>,
    out: &mut Findings,
    path: &str,
) {
    if !l.distribute.is_empty() && !l.failover.is_empty() {
        out.error(
            path,
            "can not simultaneously specify 'distribute' and 'failover'",
        );
        return;
    }
    if !l.failover.is_empty()
        && let Some(label) = l
            .failover_priority
            .iter()
            .find(|p| TOPOLOGY_LABELS.contains(&p.as_str()))
    {
        out.error(
            format!("{path}.failoverPriority"),
            format!("can not simultaneously set 'failover' and topology label '{label}' in 'failover_priority'"),
        );
        return;
    }
    let mut sources = Vec::new();
    for (i, d) in l.distribute.iter().enumerate() {
        let p = format!("{path}.distribute[{i}]");
        sources.push(d.from.as_str());
        if d.to.values().any(|w| *w == 0 || *w > 100) {
            out.error(
                format!("{p}.to"),
                "locality weight must be in range [1, 100]",
            );
            return;
        }
        let total: u64 = d.to.values().map(|w| u64::from(*w)).sum();
        if total != 100 {
            out.error(
                format!("{p}.to"),
                format!("total locality weight {total} != 100"),
            );
            return;
        }
        let dests: Vec<&str> = d.to.keys().map(String::as_str).collect();
        if let Err(e) = validate_localities(&dests) {
            out.error(format!("{p}.to"), e);
        }
    }
    if let Err(e) = validate_localities(&sources) {
        out.error(format!("{path}.distribute"), e);
    }
    if (!l.failover.is_empty() || !l.failover_priority.is_empty()) && outlier.is_none() {
        out.warning(
            path,
            "outlier detection policy must be provided for failover",
        );
    }
    for (i, f) in l.failover.iter().enumerate() {
        let p = format!("{path}.failover[{i}]");
        if f.from == f.to {
            out.error(
                &p,
                "locality lb failover settings must specify different regions",
            );
        }
        if f.from.contains('/') || f.to.contains('/') {
            out.error(&p, "locality lb failover only specify region");
        }
        if f.from.contains('*') || f.to.contains('*') {
            out.error(
                &p,
                "locality lb failover region should not contain '*' wildcard",
            );
        }
    }
}

pub(super) fn validate_zone_aware_lb(
    z: &ZoneAwareLbSetting,
    outlier: Option<&OutlierDetection>,
    out: &mut Findings,
    path: &str,
) {
    for label in z
        .failover_priority
        .iter()
        .filter(|p| TOPOLOGY_LABELS.contains(&p.as_str()))
    {
        out.error(
            format!("{path}.failoverPriority"),
            format!(
                "'failover_priority' for zone aware lb must not use topology label '{label}'; region- and zone-level routing are handled automatically"
            ),
        );
    }
    if (!z.failover.is_empty() || !z.failover_priority.is_empty()) && outlier.is_none() {
        out.warning(
            path,
            "outlier detection policy must be provided for failover",
        );
    }
    for (i, f) in z.failover.iter().enumerate() {
        let p = format!("{path}.failover[{i}]");
        if f.from == f.to {
            out.error(
                &p,
                "zone aware lb failover settings must specify different regions",
            );
        }
        if f.from.contains('/') || f.to.contains('/') {
            out.error(
                &p,
                "zone aware lb failover only specifies region; zone and subzone failover are handled automatically",
            );
        }
        if f.from.contains('*') || f.to.contains('*') {
            out.error(
                &p,
                "zone aware lb failover region should not contain '*' wildcard",
            );
        }
    }
    if z.min_cluster_size == Some(0) {
        out.error(
            format!("{path}.minClusterSize"),
            "minClusterSize must be at least 1",
        );
    }
}

/// Localities (`region[/zone[/subzone]]`, an optional final `*`) must not overlap.
fn validate_localities(localities: &[&str]) -> Result<(), String> {
    // region -> zone -> subzones; "*" marks "everything below".
    type Zones = std::collections::BTreeMap<String, std::collections::BTreeSet<String>>;
    let mut regions: std::collections::BTreeMap<String, Zones> = Default::default();
    let overlap = |l: &str| Err(format!("locality {l} overlap with previous specified ones"));
    for l in localities {
        let stars = l.matches('*').count();
        if stars > 1 || (stars == 1 && !l.ends_with('*')) {
            return Err(format!(
                "locality {l} wildcard '*' number can not exceed 1 and must be in the end"
            ));
        }
        if regions.contains_key("*") {
            return overlap(l);
        }
        let items: Vec<&str> = l.splitn(3, '/').collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(format!(
                "locality {l} must not contain empty region/zone/subzone info"
            ));
        }
        let (region, zone, sub) = (items[0], items.get(1).copied(), items.get(2).copied());
        match (zone, sub) {
            (None, _) => {
                if regions.contains_key(region) {
                    return overlap(l);
                }
                let all: Zones = [("*".to_string(), ["*".to_string()].into())].into();
                regions.insert(region.to_string(), all);
            }
            (Some(zone), None) => {
                let zones = regions.entry(region.to_string()).or_default();
                if zones.contains_key("*") || zones.contains_key(zone) {
                    return overlap(l);
                }
                zones.insert(zone.to_string(), ["*".to_string()].into());
            }
            (Some(zone), Some(sub)) => {
                let zones = regions.entry(region.to_string()).or_default();
                if zones.contains_key("*") {
                    return overlap(l);
                }
                let subs = zones.entry(zone.to_string()).or_default();
                if subs.contains("*") || subs.contains(sub) {
                    return overlap(l);
                }
                subs.insert(sub.to_string());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localities() {
        assert!(validate_localities(&["us-east", "us-west/zone1"]).is_ok());
        assert!(validate_localities(&["us-east", "us-east/zone1"]).is_err());
        assert!(validate_localities(&["us-east/z1/a", "us-east/z1/b"]).is_ok());
        assert!(validate_localities(&["us-east/z1", "us-east/z1/b"]).is_err());
        assert!(validate_localities(&["*", "us-east"]).is_err());
        assert!(validate_localities(&["us-*-east"]).is_err());
        assert!(validate_localities(&["us//a"]).is_err());
    }
}
