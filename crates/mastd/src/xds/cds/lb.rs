//! Load balancing on a cluster (`applyLoadBalancer`): the panic threshold off by default
//! (unhealthy endpoints are sent), locality-weighted config when locality load balancing
//! distributes or fails over, the simple policies (LEAST_REQUEST by default), PASSTHROUGH
//! (original destination), slow start, and consistent hashing as ring hash or Maglev. The hash
//! key itself (`httpHeaderName`, `httpCookie`, `useSourceIp`, `httpQueryParameterName`) is a
//! route setting (`hash_policy`) and is not part of the cluster.

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbConfig, LbPolicy, LeastRequestLbConfig, MaglevLbConfig,
    RingHashLbConfig, RoundRobinLbConfig, SlowStartConfig,
    common_lb_config::{LocalityConfigSpecifier, LocalityWeightedLbConfig},
};
use envoy_types::pb::envoy::config::core::v3::RuntimeDouble;
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::UInt64Value;
use mast_config::istio::networking::destination_rule::{
    LoadBalancerSettings, LocalityLbSetting, SimpleLb,
};

use super::builder::{Wrapper, parse_dur};
use super::policy::warn_once;

/// The locality load-balancing setting in effect: the rule's unless it disables it, else the
/// mesh default (enabled, nothing configured). `None` when disabled.
pub fn effective_locality(lb: Option<&LoadBalancerSettings>) -> Option<LocalityLbSetting> {
    if let Some(lb) = lb {
        if lb.zone_aware_lb_setting.is_some() {
            warn_once(
                "DestinationRule loadBalancer.zoneAwareLbSetting is not supported; locality load balancing used instead",
            );
        }
        if let Some(l) = &lb.locality_lb_setting {
            return (l.enabled != Some(false)).then(|| l.clone());
        }
    }
    Some(LocalityLbSetting {
        enabled: Some(true),
        ..Default::default()
    })
}

fn slow_start(lb: &LoadBalancerSettings) -> Option<SlowStartConfig> {
    if let Some(w) = &lb.warmup {
        return Some(SlowStartConfig {
            slow_start_window: parse_dur(w.duration.as_ref()),
            aggression: Some(RuntimeDouble {
                default_value: w.aggression.unwrap_or(1.0),
                runtime_key: "(".into(),
            }),
            min_weight_percent: Some(Percent {
                value: w.minimum_percent.unwrap_or(10.0),
            }),
        });
    }
    lb.warmup_duration_secs.as_ref().map(|d| SlowStartConfig {
        slow_start_window: parse_dur(Some(d)),
        ..Default::default()
    })
}

fn least_request(w: &mut Wrapper, lb: Option<&LoadBalancerSettings>) {
    w.cluster.lb_policy = LbPolicy::LeastRequest as i32;
    if let Some(ss) = lb.and_then(slow_start) {
        w.cluster.lb_config = Some(LbConfig::LeastRequestLbConfig(LeastRequestLbConfig {
            slow_start_config: Some(ss),
            ..Default::default()
        }));
    }
}

fn round_robin(w: &mut Wrapper, lb: Option<&LoadBalancerSettings>) {
    w.cluster.lb_policy = LbPolicy::RoundRobin as i32;
    if let Some(ss) = lb.and_then(slow_start) {
        w.cluster.lb_config = Some(LbConfig::RoundRobinLbConfig(RoundRobinLbConfig {
            slow_start_config: Some(ss),
        }));
    }
}

fn consistent_hash(w: &mut Wrapper, lb: Option<&LoadBalancerSettings>) {
    let Some(ch) = lb.and_then(|l| l.consistent_hash.as_ref()) else {
        return;
    };
    if let Some(m) = &ch.maglev {
        w.cluster.lb_policy = LbPolicy::Maglev as i32;
        if m.table_size != 0 {
            w.cluster.lb_config = Some(LbConfig::MaglevLbConfig(MaglevLbConfig {
                table_size: Some(UInt64Value {
                    value: m.table_size,
                }),
            }));
        }
    } else if let Some(r) = &ch.ring_hash {
        w.cluster.lb_policy = LbPolicy::RingHash as i32;
        if r.minimum_ring_size != 0 {
            w.cluster.lb_config = Some(LbConfig::RingHashLbConfig(RingHashLbConfig {
                minimum_ring_size: Some(UInt64Value {
                    value: r.minimum_ring_size,
                }),
                ..Default::default()
            }));
        }
    } else {
        let size = if ch.minimum_ring_size != 0 {
            ch.minimum_ring_size
        } else {
            1024
        };
        w.cluster.lb_policy = LbPolicy::RingHash as i32;
        w.cluster.lb_config = Some(LbConfig::RingHashLbConfig(RingHashLbConfig {
            minimum_ring_size: Some(UInt64Value { value: size }),
            ..Default::default()
        }));
    }
}

/// Applies the load balancer settings to an outbound cluster. Locality priorities of static
/// and DNS clusters' endpoints are the EDS builder's work ([`crate::xds::eds`]).
pub fn apply_load_balancer(w: &mut Wrapper, lb: Option<&LoadBalancerSettings>) {
    if w.cluster.lb_policy == LbPolicy::ClusterProvided as i32 {
        return;
    }
    let common = w
        .cluster
        .common_lb_config
        .get_or_insert_with(Default::default);
    if common.healthy_panic_threshold.is_none() {
        // unhealthy endpoints are sent, so panic mode would route to them: off
        common.healthy_panic_threshold = Some(Percent { value: 0.0 });
    }
    if let Some(l) = effective_locality(lb) {
        let failover = w.cluster.outlier_detection.is_some()
            && (!l.failover.is_empty() || !l.failover_priority.is_empty());
        if failover || !l.distribute.is_empty() {
            common.locality_config_specifier = Some(
                LocalityConfigSpecifier::LocalityWeightedLbConfig(LocalityWeightedLbConfig {}),
            );
        }
    }
    if w.kind() == DiscoveryType::OriginalDst {
        w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
        return;
    }
    if let Some(bu) = lb.and_then(|l| l.backend_utilization.as_ref()) {
        let _ = bu;
        warn_once(
            "DestinationRule loadBalancer.backendUtilization is not supported; the simple policy applies",
        );
    }
    match lb.and_then(|l| l.simple).unwrap_or(SimpleLb::Unspecified) {
        SimpleLb::LeastConn | SimpleLb::LeastRequest => least_request(w, lb),
        SimpleLb::Random => w.cluster.lb_policy = LbPolicy::Random as i32,
        SimpleLb::RoundRobin => round_robin(w, lb),
        SimpleLb::Passthrough => {
            w.cluster.lb_policy = LbPolicy::ClusterProvided as i32;
            w.cluster.cluster_discovery_type = Some(ClusterDiscoveryType::Type(
                DiscoveryType::OriginalDst as i32,
            ));
            w.cluster.load_assignment = None;
        }
        SimpleLb::Unspecified => least_request(w, lb),
    }
    consistent_hash(w, lb);
}
