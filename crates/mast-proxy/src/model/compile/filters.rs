//! Fault injection and CORS configs, as filter configs in a connection manager and as
//! `typed_per_filter_config` of routes, virtual hosts and route configurations.
//!
//! Fault: fixed delays and HTTP or gRPC aborts with their percentages, a custom abort body,
//! `upstream_cluster`, `headers`, `downstream_nodes`, `max_active_faults`. Refused: header-
//! controlled faults (`header_delay`, `header_abort`), `response_rate_limit`. The `*_runtime`
//! keys are accepted and ignored (there is no runtime: the configured values apply).
//! CORS: every field of `CorsPolicy` but `shadow_enabled`, which is refused when set to
//! anything but 0%.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as PbCors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    HttpFault, fault_abort::ErrorType,
};
use envoy_types::pb::envoy::r#type::v3::FractionalPercent;
use envoy_types::pb::google::protobuf::Any;
use http::HeaderValue;

use super::route::header_match;
use super::{FieldError, Result, duration, string_match, unpack};
use crate::model::filters::{AbortWith, CORS, Cors, FAULT, Fault, Fraction, PerFilter};

/// Envoy's body of a fault abort.
pub const ABORT_BODY: &str = "fault filter abort";

/// A `FractionalPercent` as millionths (Envoy's default denominator is a hundred); `None`
/// (unset) is 0%, as in Envoy.
pub fn fraction(p: Option<&FractionalPercent>) -> Fraction {
    let Some(p) = p else { return Fraction(0) };
    let scale = match p.denominator {
        0 => 10_000,
        1 => 100,
        _ => 1,
    };
    Fraction(p.numerator.saturating_mul(scale).min(1_000_000))
}

/// A runtime fraction's default value; `None` (unset) is `absent`.
pub fn runtime_fraction(p: Option<&RuntimeFractionalPercent>, absent: Fraction) -> Fraction {
    match p {
        None => absent,
        Some(r) => fraction(r.default_value.as_ref()),
    }
}

/// Compiles an `HTTPFault`.
pub fn fault(f: &HttpFault) -> Result<Fault> {
    if f.response_rate_limit.is_some() {
        return Err(FieldError::unsupported("response_rate_limit"));
    }
    let delay = match &f.delay {
        None => None,
        Some(d) => match &d.fault_delay_secifier {
            Some(FaultDelaySecifier::FixedDelay(t)) => Some((
                duration(Some(t)).unwrap_or_default(),
                fraction(d.percentage.as_ref()),
            )),
            Some(FaultDelaySecifier::HeaderDelay(_)) => {
                return Err(FieldError::new(
                    "delay.header_delay",
                    "header-controlled delays are not supported by mast-proxy",
                ));
            }
            None => return Err(FieldError::new("delay.fixed_delay", "is missing")),
        },
    };
    let abort = match &f.abort {
        None => None,
        Some(a) => {
            let with = match &a.error_type {
                Some(ErrorType::HttpStatus(s)) if (200..600).contains(s) => {
                    AbortWith::Http(*s as u16)
                }
                Some(ErrorType::HttpStatus(s)) => {
                    return Err(FieldError::new(
                        "abort.http_status",
                        format!("{s} is not in [200, 600)"),
                    ));
                }
                Some(ErrorType::GrpcStatus(g)) => AbortWith::Grpc(*g),
                Some(ErrorType::HeaderAbort(_)) => {
                    return Err(FieldError::new(
                        "abort.header_abort",
                        "header-controlled aborts are not supported by mast-proxy",
                    ));
                }
                None => return Err(FieldError::new("abort.error_type", "is missing")),
            };
            Some((with, fraction(a.percentage.as_ref())))
        }
    };
    let headers = f
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| header_match(h).map_err(|e| e.at(format!("headers[{i}]"))))
        .collect::<Result<_>>()?;
    let abort_body = f
        .abort
        .as_ref()
        .map(|a| a.response_body.clone())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| ABORT_BODY.to_string());
    Ok(Fault {
        delay,
        abort,
        abort_body: abort_body.into(),
        upstream_cluster: (!f.upstream_cluster.is_empty()).then(|| f.upstream_cluster.clone()),
        headers,
        downstream_nodes: f.downstream_nodes.clone(),
        max_active: f.max_active_faults.as_ref().map(|v| u64::from(v.value)),
        active: AtomicU64::new(0),
    })
}

fn header_value(s: &str, field: &str) -> Result<Option<HeaderValue>> {
    if s.is_empty() {
        return Ok(None);
    }
    HeaderValue::from_str(s)
        .map(Some)
        .map_err(|_| FieldError::new(field, format!("{s:?} is not a header value")))
}

/// Compiles a `CorsPolicy`.
pub fn cors(c: &PbCors) -> Result<Cors> {
    if c.shadow_enabled
        .as_ref()
        .is_some_and(|s| fraction(s.default_value.as_ref()).0 > 0)
    {
        return Err(FieldError::unsupported("shadow_enabled"));
    }
    let origins = c
        .allow_origin_string_match
        .iter()
        .enumerate()
        .map(|(i, m)| string_match(m).map_err(|e| e.at(format!("allow_origin_string_match[{i}]"))))
        .collect::<Result<_>>()?;
    Ok(Cors {
        origins,
        allow_methods: header_value(&c.allow_methods, "allow_methods")?,
        allow_headers: header_value(&c.allow_headers, "allow_headers")?,
        expose_headers: header_value(&c.expose_headers, "expose_headers")?,
        max_age: header_value(&c.max_age, "max_age")?,
        allow_credentials: c.allow_credentials.as_ref().is_some_and(|b| b.value),
        allow_private_network: c
            .allow_private_network_access
            .as_ref()
            .is_some_and(|b| b.value),
        forward_not_matching_preflights: c
            .forward_not_matching_preflights
            .as_ref()
            .is_none_or(|b| b.value),
        enabled: runtime_fraction(c.filter_enabled.as_ref(), Fraction::ALL),
    })
}

/// Compiles `typed_per_filter_config`: fault and CORS configs; any other filter's config is
/// refused (mast-proxy has no other filter a route can configure).
pub fn per_filter(m: &HashMap<String, Any>) -> Result<PerFilter> {
    let mut out = PerFilter::default();
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let any = &m[k];
        let field = format!("typed_per_filter_config[{k:?}]");
        let ty = any.type_url.rsplit('/').next().unwrap_or_default();
        match (k.as_str(), ty) {
            (FAULT | "envoy.fault", _)
            | (_, "envoy.extensions.filters.http.fault.v3.HTTPFault") => {
                let f: HttpFault = unpack(any).map_err(|e| e.at(&field))?;
                out.fault = Some(Arc::new(fault(&f).map_err(|e| e.at(&field))?));
            }
            (CORS | "envoy.cors", _) | (_, "envoy.extensions.filters.http.cors.v3.CorsPolicy") => {
                let c: PbCors = unpack(any).map_err(|e| e.at(&field))?;
                out.cors = Some(Arc::new(cors(&c).map_err(|e| e.at(&field))?));
            }
            _ => {
                return Err(FieldError::new(
                    field,
                    "per-route config of a filter mast-proxy does not have",
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::filters::common::fault::v3::FaultDelay;
    use envoy_types::pb::envoy::extensions::filters::http::fault::v3::FaultAbort;

    fn pct(numerator: u32, denominator: i32) -> FractionalPercent {
        FractionalPercent {
            numerator,
            denominator,
        }
    }

    #[test]
    fn fractions_are_millionths() {
        for (p, want) in [
            (Some(pct(50, 0)), 500_000),
            (Some(pct(50, 1)), 5_000),
            (Some(pct(50, 2)), 50),
            (Some(pct(250, 0)), 1_000_000),
            (None, 0),
        ] {
            assert_eq!(fraction(p.as_ref()), Fraction(want), "{p:?}");
        }
        assert!(Fraction::ALL.sample());
        assert!(!Fraction(0).sample());
    }

    #[test]
    fn faults_compile_or_name_the_field() {
        let f = fault(&HttpFault {
            delay: Some(FaultDelay {
                percentage: Some(pct(100, 0)),
                fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(
                    envoy_types::pb::google::protobuf::Duration {
                        seconds: 1,
                        nanos: 0,
                    },
                )),
            }),
            abort: Some(FaultAbort {
                percentage: Some(pct(10, 0)),
                error_type: Some(ErrorType::GrpcStatus(14)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            f.delay,
            Some((std::time::Duration::from_secs(1), Fraction::ALL))
        );
        assert_eq!(f.abort, Some((AbortWith::Grpc(14), Fraction(100_000))));
        assert_eq!(f.abort_body, ABORT_BODY);
        let bad = fault(&HttpFault {
            abort: Some(FaultAbort {
                error_type: Some(ErrorType::HttpStatus(700)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(bad.field, "abort.http_status");
    }
}
