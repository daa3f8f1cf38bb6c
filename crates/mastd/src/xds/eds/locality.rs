//! Locality-aware load balancing of a load assignment (`ApplyLocalityLoadBalancer`): weights
//! from `distribute` for the proxy's locality, or failover priorities — by `failoverPriority`
//! labels compared with the proxy's, and by region/zone/subzone proximity (with `failover`
//! region pairs) — when outlier detection can notice failures.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::Locality;
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, LocalityLbEndpoints};
use envoy_types::pb::google::protobuf::UInt32Value;
use mast_config::istio::networking::destination_rule::{
    LocalityDistribute, LocalityFailover, LocalityLbSetting,
};

/// A `region/zone/subzone` string as a proto locality.
pub fn locality(s: &str) -> Locality {
    let mut p = s.splitn(3, '/');
    Locality {
        region: p.next().unwrap_or_default().to_string(),
        zone: p.next().unwrap_or_default().to_string(),
        sub_zone: p.next().unwrap_or_default().to_string(),
    }
}

/// Whether `l` matches a rule locality with `*` wildcards and omitted trailing parts.
fn locality_match(l: &Locality, rule: &str) -> bool {
    let r = locality(rule);
    let part = |rule: &str, have: &str, optional: bool| {
        rule == "*" || (optional && rule.is_empty()) || rule == have
    };
    part(&r.region, &l.region, false)
        && part(&r.zone, &l.zone, true)
        && part(&r.sub_zone, &l.sub_zone, true)
}

fn lb_priority(proxy: &Locality, ep: &Locality) -> u32 {
    match (
        proxy.region == ep.region,
        proxy.zone == ep.zone,
        proxy.sub_zone == ep.sub_zone,
    ) {
        (true, true, true) => 0,
        (true, true, false) => 1,
        (true, false, _) => 2,
        _ => 3,
    }
}

fn apply_weights(
    proxy: &Locality,
    la: &mut ClusterLoadAssignment,
    distribute: &[LocalityDistribute],
) {
    let Some(rule) = distribute.iter().find(|d| locality_match(proxy, &d.from)) else {
        return;
    };
    let mut unmatched: BTreeSet<usize> = (0..la.endpoints.len()).collect();
    for (to, weight) in &rule.to {
        let mut picked: BTreeMap<usize, u32> = BTreeMap::new();
        for (i, group) in la.endpoints.iter().enumerate() {
            if unmatched.contains(&i)
                && locality_match(group.locality.as_ref().unwrap_or(&Locality::default()), to)
            {
                unmatched.remove(&i);
                picked.insert(
                    i,
                    group
                        .load_balancing_weight
                        .as_ref()
                        .map(|w| w.value)
                        .unwrap_or(1),
                );
            }
        }
        let total: u32 = picked.values().sum();
        for (i, original) in picked {
            let w = f64::from(original) * f64::from(*weight) / f64::from(total.max(1));
            if w > 0.0 {
                la.endpoints[i].load_balancing_weight = Some(UInt32Value {
                    value: w.ceil() as u32,
                });
            }
        }
    }
    for i in unmatched {
        la.endpoints[i].lb_endpoints.clear();
    }
}

fn renumber(groups: &mut [LocalityLbEndpoints]) {
    let levels: BTreeSet<u32> = groups.iter().map(|g| g.priority).collect();
    let rank: BTreeMap<u32, u32> = levels
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, i as u32))
        .collect();
    for g in groups {
        g.priority = rank[&g.priority];
    }
}

fn apply_failover(proxy: &Locality, la: &mut ClusterLoadAssignment, failover: &[LocalityFailover]) {
    for g in &mut la.endpoints {
        let ep = g.locality.clone().unwrap_or_default();
        let mut p = lb_priority(proxy, &ep);
        if p == 3
            && let Some(f) = failover.iter().find(|f| f.from == proxy.region)
            && ep.region != f.to
        {
            p = 4;
        }
        g.priority = g.priority * 5 + p;
    }
    renumber(&mut la.endpoints);
}

/// Splits each locality group by how many `failoverPriority` labels of its endpoints match
/// the proxy's (`label=value` entries override the proxy's value; the network label, when
/// first, is skipped rather than ranked).
fn apply_failover_priorities(
    la: &mut ClusterLoadAssignment,
    labels: &[Vec<BTreeMap<String, String>>],
    proxy_labels: &BTreeMap<String, String>,
    priorities: &[String],
) {
    if proxy_labels.is_empty() || labels.is_empty() {
        return;
    }
    let keys: Vec<(&str, Option<&str>)> = priorities
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k, Some(v)))
                .unwrap_or((p.as_str(), None))
        })
        .collect();
    let network_first = keys
        .first()
        .is_some_and(|(k, _)| *k == "topology.istio.io/network");
    let lowest = keys.len() as u32;
    let mut out = Vec::new();
    for (group, eps_labels) in la.endpoints.iter().zip(labels) {
        let mut by_priority: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, l) in eps_labels.iter().enumerate() {
            let (mut priority, mut adjust) = (0u32, 0u32);
            for (j, (k, v)) in keys.iter().enumerate() {
                let want = v
                    .map(str::to_string)
                    .or_else(|| proxy_labels.get(*k).cloned())
                    .unwrap_or_default();
                if l.get(*k).cloned().unwrap_or_default() != want {
                    if j == 0 && network_first {
                        adjust = lowest;
                        continue;
                    }
                    priority = lowest - j as u32;
                    break;
                }
            }
            by_priority.entry(priority + adjust).or_default().push(i);
        }
        for (priority, idx) in by_priority {
            let mut g = group.clone();
            g.lb_endpoints = idx
                .iter()
                .filter_map(|i| group.lb_endpoints.get(*i).cloned())
                .collect();
            g.priority = priority;
            let w: u32 = g
                .lb_endpoints
                .iter()
                .map(|e| {
                    e.load_balancing_weight
                        .as_ref()
                        .map(|w| w.value)
                        .unwrap_or(0)
                })
                .sum();
            g.load_balancing_weight = Some(UInt32Value { value: w });
            out.push(g);
        }
    }
    renumber(&mut out);
    la.endpoints = out;
}

/// Applies a locality setting to `la` for a proxy at `proxy_locality` with `proxy_labels`.
/// `labels` are the endpoints' labels, group by group (for failover priorities).
pub fn apply(
    la: &mut ClusterLoadAssignment,
    labels: &[Vec<BTreeMap<String, String>>],
    proxy_locality: &str,
    proxy_labels: &BTreeMap<String, String>,
    setting: &LocalityLbSetting,
    enable_failover: bool,
) {
    let proxy = locality(proxy_locality);
    if !setting.distribute.is_empty() {
        apply_weights(&proxy, la, &setting.distribute);
    } else if enable_failover {
        if !setting.failover_priority.is_empty() {
            apply_failover_priorities(la, labels, proxy_labels, &setting.failover_priority);
            if !setting.failover.is_empty() {
                apply_failover(&proxy, la, &setting.failover);
            }
        } else {
            apply_failover(&proxy, la, &setting.failover);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::endpoint::v3::LbEndpoint;

    fn group(loc: &str, n: usize) -> LocalityLbEndpoints {
        LocalityLbEndpoints {
            locality: Some(locality(loc)),
            lb_endpoints: vec![
                LbEndpoint {
                    load_balancing_weight: Some(UInt32Value { value: 1 }),
                    ..Default::default()
                };
                n
            ],
            load_balancing_weight: Some(UInt32Value { value: n as u32 }),
            ..Default::default()
        }
    }

    fn la(groups: Vec<LocalityLbEndpoints>) -> ClusterLoadAssignment {
        ClusterLoadAssignment {
            endpoints: groups,
            ..Default::default()
        }
    }

    #[test]
    fn failover_by_proximity_and_region_pairs() {
        let mut a = la(vec![
            group("r1/z1/s1", 1),
            group("r1/z2", 1),
            group("r2/z1", 1),
            group("r3/z1", 1),
        ]);
        let setting = LocalityLbSetting {
            failover: vec![LocalityFailover {
                from: "r1".into(),
                to: "r3".into(),
            }],
            ..Default::default()
        };
        apply(&mut a, &[], "r1/z1/s1", &BTreeMap::new(), &setting, true);
        let p: Vec<u32> = a.endpoints.iter().map(|g| g.priority).collect();
        assert_eq!(p, vec![0, 1, 3, 2]);
    }

    #[test]
    fn distribute_weights() {
        let mut a = la(vec![
            group("r1/z1", 2),
            group("r1/z2", 1),
            group("r2/z1", 1),
        ]);
        let mut to = BTreeMap::new();
        to.insert("r1/z1/*".to_string(), 80);
        to.insert("r1/z2/*".to_string(), 20);
        let setting = LocalityLbSetting {
            distribute: vec![LocalityDistribute {
                from: "r1/z1/*".into(),
                to,
            }],
            ..Default::default()
        };
        apply(&mut a, &[], "r1/z1/s", &BTreeMap::new(), &setting, false);
        let w: Vec<u32> = a
            .endpoints
            .iter()
            .map(|g| g.load_balancing_weight.as_ref().unwrap().value)
            .collect();
        assert_eq!(w[..2], [80, 20]);
        assert!(a.endpoints[2].lb_endpoints.is_empty());
    }

    #[test]
    fn failover_priority_labels() {
        let mut a = la(vec![group("r1/z1", 3)]);
        let l = |v: &str| BTreeMap::from([("version".to_string(), v.to_string())]);
        let labels = vec![vec![l("v1"), l("v2"), l("v1")]];
        let setting = LocalityLbSetting {
            failover_priority: vec!["version".into()],
            ..Default::default()
        };
        apply(&mut a, &labels, "", &l("v2"), &setting, true);
        let got: Vec<(u32, usize)> = a
            .endpoints
            .iter()
            .map(|g| (g.priority, g.lb_endpoints.len()))
            .collect();
        assert_eq!(got, vec![(0, 1), (1, 2)]);
    }
}
