//! HTTP connection managers and their HTTP filter lists.

use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::config_source::ConfigSourceSpecifier;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter as PbHttpFilter, http_connection_manager::RouteSpecifier,
    http_filter,
};
use http::HeaderValue;
use mast_xds::typed_struct::TypedStruct;
use serde_json::{Map, Value};

use super::{Compiler, FieldError, Result, duration, unpack};
use crate::filters::cors::CorsFilter;
use crate::filters::exchange::{self, ExchangeFilter, Side};
use crate::filters::fault::FaultFilter;
use crate::filters::stats::{self, StatsFilter};
use crate::http::filter::HttpFilter;
use crate::model::compile;
use crate::model::listener::{
    ClientCertDetails, Codec, Direction, ForwardClientCert, Hcm, RouteSource, ServerHeader,
};
use crate::telemetry::metrics::Reporter;

fn refuse(set: bool, field: &str) -> Result<()> {
    if set {
        Err(FieldError::unsupported(field))
    } else {
        Ok(())
    }
}

fn nonzero(d: Option<&envoy_types::pb::google::protobuf::Duration>) -> bool {
    duration(d).is_some_and(|d| !d.is_zero())
}

pub(super) fn hcm(c: &mut Compiler<'_>, h: &HttpConnectionManager) -> Result<Hcm> {
    refuse(nonzero(h.request_timeout.as_ref()), "request_timeout")?;
    refuse(
        nonzero(h.request_headers_timeout.as_ref()),
        "request_headers_timeout",
    )?;
    refuse(!h.via.is_empty(), "via")?;
    refuse(
        h.always_set_request_id_in_response,
        "always_set_request_id_in_response",
    )?;
    refuse(h.request_id_extension.is_some(), "request_id_extension")?;
    refuse(h.local_reply_config.is_some(), "local_reply_config")?;
    refuse(
        h.strip_matching_host_port || h.strip_port_mode.is_some(),
        "strip_matching_host_port",
    )?;
    refuse(h.strip_trailing_host_dot, "strip_trailing_host_dot")?;
    refuse(
        h.scheme_header_transformation.is_some(),
        "scheme_header_transformation",
    )?;
    refuse(
        !h.original_ip_detection_extensions.is_empty(),
        "original_ip_detection_extensions",
    )?;
    refuse(
        !h.early_header_mutation_extensions.is_empty(),
        "early_header_mutation_extensions",
    )?;
    refuse(h.proxy_status_config.is_some(), "proxy_status_config")?;
    refuse(
        h.typed_header_validation_config.is_some(),
        "typed_header_validation_config",
    )?;
    refuse(h.append_x_forwarded_port, "append_x_forwarded_port")?;
    refuse(h.forward_proto_config.is_some(), "forward_proto_config")?;
    refuse(
        !matches!(h.path_with_escaped_slashes_action, 0 | 1),
        "path_with_escaped_slashes_action",
    )?;
    if let Some(o) = &h.common_http_protocol_options {
        refuse(
            nonzero(o.max_connection_duration.as_ref()),
            "common_http_protocol_options.max_connection_duration",
        )?;
        refuse(
            nonzero(o.max_stream_duration.as_ref()),
            "common_http_protocol_options.max_stream_duration",
        )?;
        refuse(
            o.headers_with_underscores_action != 0,
            "common_http_protocol_options.headers_with_underscores_action",
        )?;
    }
    let codec = match h.codec_type {
        0 => Codec::Auto,
        1 => Codec::Http1,
        2 => Codec::Http2,
        other => {
            return Err(FieldError::new(
                "codec_type",
                format!("{other} is not supported by mast-proxy"),
            ));
        }
    };
    let routes = match &h.route_specifier {
        Some(RouteSpecifier::Rds(r)) => {
            match r
                .config_source
                .as_ref()
                .and_then(|s| s.config_source_specifier.as_ref())
            {
                None | Some(ConfigSourceSpecifier::Ads(_)) => {}
                Some(_) => {
                    return Err(FieldError::new(
                        "rds.config_source",
                        "only ADS is supported by mast-proxy",
                    ));
                }
            }
            RouteSource::Rds {
                name: r.route_config_name.clone(),
                slot: c.routes.intern(&r.route_config_name),
            }
        }
        Some(RouteSpecifier::RouteConfig(rc)) => RouteSource::Inline(Arc::new(
            compile::route::compile(c, rc).map_err(|e| e.at("route_config"))?,
        )),
        Some(RouteSpecifier::ScopedRoutes(_)) => {
            return Err(FieldError::unsupported("scoped_routes"));
        }
        None => return Err(FieldError::new("route_specifier", "is missing")),
    };
    let (suppress_envoy_headers, filters) =
        http_filters(c, &h.http_filters).map_err(|e| e.at("http_filters"))?;
    let access_logs = h
        .access_log
        .iter()
        .enumerate()
        .map(|(i, l)| access_log(c, l).map_err(|e| e.at(format!("access_log[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    let tracing = h
        .tracing
        .as_ref()
        .map(|t| tracing_config(c, t).map(Arc::new))
        .transpose()
        .map_err(|e| e.at("tracing"))?;
    // reported spans end with the response, as access logs do
    let reports_spans = tracing
        .as_ref()
        .and_then(|t| t.tracer.as_ref())
        .is_some_and(|t| t.reporter.is_some());
    let log_phase =
        filters.iter().any(|f| f.wants_log()) || !access_logs.is_empty() || reports_spans;
    let server = if h.server_name.is_empty() {
        "envoy"
    } else {
        h.server_name.as_str()
    };
    let forward_client_cert = match h.forward_client_cert_details {
        0 => ForwardClientCert::Sanitize,
        1 => ForwardClientCert::ForwardOnly,
        2 => ForwardClientCert::AppendForward,
        3 => ForwardClientCert::SanitizeSet,
        _ => ForwardClientCert::AlwaysForwardOnly,
    };
    let d = h.set_current_client_cert_details.as_ref();
    refuse(
        d.is_some_and(|d| d.cert || d.chain || d.issuer),
        "set_current_client_cert_details.cert/chain/issuer",
    )?;
    Ok(Hcm {
        stat_prefix: h.stat_prefix.clone(),
        routes,
        filters,
        log_phase,
        access_logs,
        server_name: HeaderValue::from_str(server)
            .map_err(|_| FieldError::new("server_name", "is not a header value"))?,
        server_header: match h.server_header_transformation {
            1 => ServerHeader::AppendIfAbsent,
            2 => ServerHeader::PassThrough,
            _ => ServerHeader::Overwrite,
        },
        codec,
        generate_request_id: h.generate_request_id.as_ref().is_none_or(|b| b.value),
        forward_client_cert,
        client_cert_details: ClientCertDetails {
            subject: d.and_then(|d| d.subject.as_ref()).is_some_and(|b| b.value),
            uri: d.is_some_and(|d| d.uri),
            dns: d.is_some_and(|d| d.dns),
        },
        use_remote_address: h.use_remote_address.as_ref().is_some_and(|b| b.value),
        normalize_path: h.normalize_path.as_ref().is_some_and(|b| b.value),
        merge_slashes: h.merge_slashes,
        suppress_envoy_headers,
        upgrades: h
            .upgrade_configs
            .iter()
            .filter(|u| u.enabled.as_ref().is_none_or(|b| b.value))
            .map(|u| u.upgrade_type.to_ascii_lowercase())
            .collect(),
        tracing,
    })
}

/// Compiles a file access log (`envoy.access_loggers.file`, text or JSON format, with an
/// optional CEL filter).
/// Compiles one `access_log` entry (of an HTTP connection manager or a TCP proxy).
pub fn access_log(
    c: &Compiler<'_>,
    l: &envoy_types::pb::envoy::config::accesslog::v3::AccessLog,
) -> Result<Arc<crate::telemetry::access_log::AccessLog>> {
    use crate::telemetry::access_log::{AccessLog, LogFormat};
    use envoy_types::pb::envoy::config::accesslog::v3::access_log;
    use envoy_types::pb::envoy::config::core::v3::{
        data_source::Specifier, substitution_format_string::Format,
    };
    use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{
        FileAccessLog, file_access_log::AccessLogFormat,
    };
    if let Some(access_log::ConfigType::TypedConfig(a)) = &l.config_type
        && a.type_url.ends_with(
            "envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
        )
    {
        let filter = access_log_filter(l)?;
        return otel_access_log(c, a, filter.as_deref());
    }
    let file: FileAccessLog = match &l.config_type {
        Some(access_log::ConfigType::TypedConfig(a))
            if a.type_url
                .ends_with("envoy.extensions.access_loggers.file.v3.FileAccessLog") =>
        {
            unpack(a).map_err(|e| e.at("typed_config"))?
        }
        Some(access_log::ConfigType::TypedConfig(a)) => {
            return Err(FieldError::new(
                "typed_config",
                format!(
                    "access logger {:?} ({}) is not supported by mast-proxy (only envoy.access_loggers.file)",
                    l.name, a.type_url
                ),
            ));
        }
        None => return Err(FieldError::new("typed_config", "is missing")),
    };
    let json = |s: &envoy_types::pb::google::protobuf::Struct| {
        Value::Object(mast_xds::structs::struct_to_json(s))
    };
    let format = match &file.access_log_format {
        None => LogFormat::Text(None),
        #[allow(deprecated)]
        Some(AccessLogFormat::Format(t)) => LogFormat::Text(Some(t.clone())),
        #[allow(deprecated)]
        Some(AccessLogFormat::JsonFormat(s) | AccessLogFormat::TypedJsonFormat(s)) => {
            LogFormat::Json(json(s))
        }
        Some(AccessLogFormat::LogFormat(f)) => {
            refuse(
                !f.formatters.is_empty(),
                "typed_config.log_format.formatters",
            )?;
            refuse(
                f.omit_empty_values,
                "typed_config.log_format.omit_empty_values",
            )?;
            match &f.format {
                None => LogFormat::Text(None),
                #[allow(deprecated)]
                Some(Format::TextFormat(t)) => LogFormat::Text(Some(t.clone())),
                Some(Format::JsonFormat(s)) => LogFormat::Json(json(s)),
                Some(Format::TextFormatSource(ds)) => match &ds.specifier {
                    Some(Specifier::InlineString(t)) => LogFormat::Text(Some(t.clone())),
                    Some(Specifier::InlineBytes(b)) => {
                        LogFormat::Text(Some(String::from_utf8_lossy(b).into_owned()))
                    }
                    _ => {
                        return Err(FieldError::new(
                            "typed_config.log_format.text_format_source",
                            "only inline formats are supported by mast-proxy",
                        ));
                    }
                },
            }
        }
    };
    let filter = access_log_filter(l)?;
    AccessLog::new(&file.path, format, filter.as_deref())
        .map(Arc::new)
        .map_err(|e| FieldError::new(format!("typed_config.{}", e.field), e.reason))
}

/// The CEL filter of an access log, if any.
fn access_log_filter(
    l: &envoy_types::pb::envoy::config::accesslog::v3::AccessLog,
) -> Result<Option<String>> {
    use envoy_types::pb::envoy::config::accesslog::v3::{
        access_log_filter::FilterSpecifier, extension_filter,
    };
    use envoy_types::pb::envoy::extensions::access_loggers::filters::cel::v3::ExpressionFilter;
    let filter = match l.filter.as_ref().and_then(|f| f.filter_specifier.as_ref()) {
        None => None,
        Some(FilterSpecifier::ExtensionFilter(x)) => match &x.config_type {
            Some(extension_filter::ConfigType::TypedConfig(a))
                if a.type_url.ends_with("ExpressionFilter") =>
            {
                let e: ExpressionFilter = unpack(a).map_err(|e| e.at("filter"))?;
                refuse(e.cel_config.is_some(), "filter.cel_config")?;
                Some(e.expression)
            }
            _ => {
                return Err(FieldError::new(
                    "filter",
                    format!(
                        "extension filter {:?} is not supported by mast-proxy (only the CEL filter)",
                        x.name
                    ),
                ));
            }
        },
        Some(_) => {
            return Err(FieldError::new(
                "filter",
                "only the CEL extension filter is supported by mast-proxy",
            ));
        }
    };
    Ok(filter)
}

/// An OpenTelemetry access log (`envoy.access_loggers.open_telemetry`): its body and
/// attributes formatted as Envoy's, sent over OTLP/gRPC to `common_config.grpc_service`.
fn otel_access_log(
    c: &Compiler<'_>,
    a: &envoy_types::pb::google::protobuf::Any,
    filter: Option<&str>,
) -> Result<Arc<crate::telemetry::access_log::AccessLog>> {
    use crate::telemetry::access_log::{AccessLog, LogFormat};
    use crate::telemetry::trace::export::Export;
    use envoy_types::pb::envoy::config::core::v3::grpc_service;
    use envoy_types::pb::envoy::extensions::access_loggers::open_telemetry::v3::OpenTelemetryAccessLogConfig;
    use envoy_types::pb::opentelemetry::proto::common::v1::{AnyValue, any_value};
    let o: OpenTelemetryAccessLogConfig = unpack(a).map_err(|e| e.at("typed_config"))?;
    let at = |e: FieldError| e.at("typed_config");
    refuse(o.http_service.is_some(), "http_service").map_err(at)?;
    refuse(o.resource_attributes.is_some(), "resource_attributes").map_err(at)?;
    refuse(!o.resource_detectors.is_empty(), "resource_detectors").map_err(at)?;
    #[allow(deprecated)]
    let common = o.common_config.clone().unwrap_or_default();
    let grpc = o.grpc_service.clone().or(common.grpc_service.clone());
    let log_name = if o.log_name.is_empty() {
        common.log_name.clone()
    } else {
        o.log_name.clone()
    };
    let Some(grpc_service::TargetSpecifier::EnvoyGrpc(g)) = grpc.and_then(|g| g.target_specifier)
    else {
        return Err(at(FieldError::new(
            "common_config.grpc_service",
            "an envoy_grpc service is required by mast-proxy",
        )));
    };
    let text = |v: &AnyValue| match &v.value {
        Some(any_value::Value::StringValue(s)) => Ok(s.clone()),
        _ => Err(at(FieldError::new(
            "body",
            "only string values are supported by mast-proxy",
        ))),
    };
    let body = o.body.as_ref().map(text).transpose()?;
    let attributes = match &o.attributes {
        None => None,
        Some(list) => {
            let mut m = Map::new();
            for kv in &list.values {
                let v = kv.value.as_ref().map(text).transpose()?.unwrap_or_default();
                m.insert(kv.key.clone(), Value::String(v));
            }
            Some(Value::Object(m))
        }
    };
    let reporter = c.telemetry.tracers.reporter(Export::OtlpLogs {
        authority: if g.authority.is_empty() {
            g.cluster_name.clone()
        } else {
            g.authority.clone()
        },
        cluster: g.cluster_name,
        log_name,
        no_builtin_labels: o.disable_builtin_labels,
    });
    AccessLog::new("", LogFormat::Text(Some(body.unwrap_or_default())), filter)
        .and_then(|l| l.to_collector(reporter, attributes.as_ref()))
        .map(Arc::new)
        .map_err(|e| FieldError::new(format!("typed_config.{}", e.field), e.reason))
}

/// Compiles the HTTP filter list: the filters before the router, and the router's
/// `suppress_envoy_headers`.
fn http_filters(
    c: &Compiler<'_>,
    filters: &[PbHttpFilter],
) -> Result<(bool, Vec<Arc<dyn HttpFilter>>)> {
    let mut router = None;
    let mut out: Vec<Arc<dyn HttpFilter>> = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let at = |e: FieldError| e.at(format!("[{i}]"));
        if router.is_some() {
            return Err(at(FieldError::new(
                "name",
                format!("{:?} follows the router", f.name),
            )));
        }
        if f.disabled {
            continue;
        }
        let any = match &f.config_type {
            Some(http_filter::ConfigType::TypedConfig(a)) => Some(a),
            _ => None,
        };
        // Istio's own filters come as a TypedStruct naming the real config type
        let typed_struct = any
            .and_then(TypedStruct::from_any)
            .transpose()
            .map_err(|e| {
                at(FieldError::new(
                    "typed_config",
                    format!("bad TypedStruct: {e}"),
                ))
            })?;
        let ty = match &typed_struct {
            Some(ts) => ts.inner_type(),
            None => any
                .map(|a| a.type_url.rsplit('/').next().unwrap_or_default())
                .unwrap_or_default(),
        };
        match (f.name.as_str(), ty) {
            (exchange::NAME, _) | (_, exchange::CONFIG_TYPE) => {
                let cfg = typed_struct
                    .as_ref()
                    .map(TypedStruct::json)
                    .unwrap_or_default();
                out.push(Arc::new(
                    metadata_exchange(c, &cfg).map_err(|e| at(e.at("typed_config")))?,
                ));
            }
            (stats::NAME, _) | (_, stats::CONFIG_TYPE) => {
                let cfg = typed_struct
                    .as_ref()
                    .map(TypedStruct::json)
                    .unwrap_or_default();
                out.push(Arc::new(
                    stats_filter(c, &cfg).map_err(|e| at(e.at("typed_config")))?,
                ));
            }
            ("envoy.filters.http.router" | "envoy.router", _)
            | (_, "envoy.extensions.filters.http.router.v3.Router") => {
                let r: Router = any.map(unpack).transpose().map_err(at)?.unwrap_or_default();
                refuse(!r.upstream_http_filters.is_empty(), "upstream_http_filters").map_err(at)?;
                router = Some(r.suppress_envoy_headers);
            }
            ("envoy.filters.http.fault" | "envoy.fault", _)
            | (_, "envoy.extensions.filters.http.fault.v3.HTTPFault") => {
                let fault: HttpFault = any.map(unpack).transpose().map_err(at)?.unwrap_or_default();
                let default = if fault.delay.is_some() || fault.abort.is_some() {
                    Some(Arc::new(
                        compile::filters::fault(&fault).map_err(|e| at(e.at("typed_config")))?,
                    ))
                } else {
                    None
                };
                out.push(Arc::new(FaultFilter { default }));
            }
            ("envoy.filters.http.cors" | "envoy.cors", _)
            | (_, "envoy.extensions.filters.http.cors.v3.Cors") => {
                out.push(Arc::new(CorsFilter));
            }
            ("envoy.filters.http.rbac", _) | (_, "envoy.extensions.filters.http.rbac.v3.RBAC") => {
                let r: HttpRbac = any.map(unpack).transpose().map_err(at)?.unwrap_or_default();
                refuse(
                    r.rules.is_some() || r.matcher.is_some(),
                    "typed_config.rules (HTTP RBAC is not implemented yet)",
                )
                .map_err(at)?;
            }
            ("istio.alpn" | "envoy.filters.http.alpn", _) => {}
            (name, _) if f.is_optional => tracing::info!(
                filter = name,
                "optional HTTP filter not supported by mast-proxy; skipped"
            ),
            (name, _) => {
                return Err(at(FieldError::new(
                    "name",
                    format!("HTTP filter {name:?} is not supported by mast-proxy"),
                )));
            }
        }
    }
    let suppress = router.ok_or_else(|| {
        FieldError::new("", "the last HTTP filter must be envoy.filters.http.router")
    })?;
    Ok((suppress, out))
}

/// `istio.metadata_exchange` (`io.istio.http.peer_metadata.Config`): `upstream_*` on outbound
/// chains, `downstream_*` on inbound ones; of the discovery and propagation methods only
/// `istio_headers` is implemented.
fn metadata_exchange(c: &Compiler<'_>, cfg: &Map<String, Value>) -> Result<ExchangeFilter> {
    let methods = |key: &str| -> Result<Option<bool>> {
        let Some(v) = cfg.get(key) else {
            return Ok(None);
        };
        let list = v
            .as_array()
            .ok_or_else(|| FieldError::new(key, "is not a list"))?;
        let mut headers = false;
        for (i, m) in list.iter().enumerate() {
            let Some(o) = m.as_object() else {
                return Err(FieldError::new(format!("{key}[{i}]"), "is not an object"));
            };
            for k in o.keys() {
                match k.as_str() {
                    "istio_headers" => headers = true,
                    other => {
                        return Err(FieldError::new(
                            format!("{key}[{i}].{other}"),
                            "not supported by mast-proxy (only istio_headers)",
                        ));
                    }
                }
            }
        }
        Ok(Some(headers))
    };
    for k in cfg.keys() {
        if !matches!(
            k.as_str(),
            "upstream_discovery"
                | "upstream_propagation"
                | "downstream_discovery"
                | "downstream_propagation"
        ) {
            return Err(FieldError::unsupported(k.clone()));
        }
    }
    let up = (
        methods("upstream_discovery")?,
        methods("upstream_propagation")?,
    );
    let down = (
        methods("downstream_discovery")?,
        methods("downstream_propagation")?,
    );
    let (side, (discover, propagate)) = match (up, down) {
        ((None, None), (None, None)) => match c.direction {
            // an empty config: exchange both ways on the listener's side
            Direction::Inbound => (Side::Downstream, (Some(true), Some(true))),
            _ => (Side::Upstream, (Some(true), Some(true))),
        },
        (up, (None, None)) => (Side::Upstream, up),
        ((None, None), down) => (Side::Downstream, down),
        _ => {
            return Err(FieldError::new(
                "",
                "upstream and downstream exchange in one filter are not supported by mast-proxy",
            ));
        }
    };
    Ok(ExchangeFilter {
        side,
        discover: discover.unwrap_or(false),
        propagate: propagate.unwrap_or(false),
        telemetry: c.telemetry.clone(),
    })
}

/// `istio.stats` (`stats.PluginConfig`): the reporter (the listener's direction unless set),
/// `disable_host_header_fallback`. Custom metrics and tag overrides are refused.
fn stats_filter(c: &Compiler<'_>, cfg: &Map<String, Value>) -> Result<StatsFilter> {
    for (k, v) in cfg {
        match k.as_str() {
            "reporter" | "disable_host_header_fallback" | "stat_prefix" => {}
            "tcp_reporting_duration" | "rotation_interval" | "graceful_deletion_interval" => {}
            "metrics" if v.is_array() => {}
            "definitions" if v.as_array().is_some_and(|a| a.is_empty()) => {}
            other => return Err(FieldError::unsupported(other.to_string())),
        }
    }
    let overrides = crate::telemetry::overrides::Overrides::parse(
        cfg.get("metrics")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice),
    )
    .map_err(|(field, reason)| FieldError::new(field, reason))?;
    let reporter = match cfg.get("reporter").and_then(Value::as_str) {
        None | Some("UNSPECIFIED") => match c.direction {
            Direction::Inbound => Reporter::Destination,
            _ => Reporter::Source,
        },
        Some(other) => {
            return Err(FieldError::new(
                "reporter",
                format!("{other:?} is not supported by mast-proxy"),
            ));
        }
    };
    let fallback = !cfg
        .get("disable_host_header_fallback")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(StatsFilter::new(reporter, fallback, c.telemetry.clone()).with_overrides(overrides))
}

fn percent(p: Option<&envoy_types::pb::envoy::r#type::v3::Percent>) -> f64 {
    p.map_or(100.0, |p| p.value.clamp(0.0, 100.0))
}

/// An `HttpUri`'s host and path (`host/path` or `http://host/path`).
fn split_uri(uri: &str) -> (String, String) {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
        .unwrap_or(uri);
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// An `HttpService`'s cluster, host and path (extra headers are refused).
fn http_service(
    h: &envoy_types::pb::envoy::config::core::v3::HttpService,
) -> Result<(String, String, String)> {
    use envoy_types::pb::envoy::config::core::v3::http_uri::HttpUpstreamType;
    refuse(
        !h.request_headers_to_add.is_empty(),
        "request_headers_to_add",
    )?;
    let uri = h.http_uri.clone().unwrap_or_default();
    let Some(HttpUpstreamType::Cluster(cluster)) = uri.http_upstream_type else {
        return Err(FieldError::new("http_uri.cluster", "is missing"));
    };
    let (host, path) = split_uri(&uri.uri);
    Ok((cluster, host, path))
}

/// The connection manager's `tracing`: sampling percentages (Envoy's default 100), custom
/// tags, and the OpenTelemetry (OTLP over gRPC or HTTP) or Zipkin (v2 JSON) tracer.
fn tracing_config(
    c: &Compiler<'_>,
    t: &envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::Tracing,
) -> Result<crate::telemetry::trace::Tracing> {
    use crate::telemetry::trace::export::Export;
    use crate::telemetry::trace::{Propagation, TagValue, Tracer, Tracing};
    use envoy_types::pb::envoy::config::core::v3::grpc_service;
    use envoy_types::pb::envoy::config::trace::v3::{
        OpenTelemetryConfig, ZipkinConfig, tracing::http::ConfigType,
    };
    use envoy_types::pb::envoy::r#type::tracing::v3::custom_tag::Type;
    refuse(
        t.spawn_upstream_span.as_ref().is_some_and(|b| b.value),
        "spawn_upstream_span",
    )?;
    let mut tags = Vec::new();
    for (i, tag) in t.custom_tags.iter().enumerate() {
        let at = |e: FieldError| e.at(format!("custom_tags[{i}]"));
        let v = match &tag.r#type {
            Some(Type::Literal(l)) => TagValue::Fixed(l.value.clone()),
            Some(Type::Environment(e)) => TagValue::Fixed(
                std::env::var(&e.name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| e.default_value.clone()),
            ),
            Some(Type::RequestHeader(h)) => TagValue::Header(
                http::HeaderName::from_bytes(h.name.to_ascii_lowercase().as_bytes()).map_err(
                    |_| {
                        at(FieldError::new(
                            "request_header.name",
                            "is not a header name",
                        ))
                    },
                )?,
                h.default_value.clone(),
            ),
            Some(Type::Metadata(m)) => TagValue::Unset(m.default_value.clone()),
            Some(_) => {
                return Err(at(FieldError::new(
                    "value",
                    "formatter custom tags are not supported by mast-proxy",
                )));
            }
            None => return Err(at(FieldError::new("type", "is missing"))),
        };
        tags.push((tag.tag.clone(), v));
    }
    let tracer = match &t.provider {
        None => None,
        Some(p) => {
            let at = |e: FieldError| e.at("provider");
            let any = match &p.config_type {
                Some(ConfigType::TypedConfig(a)) => a,
                None => return Err(at(FieldError::new("typed_config", "is missing"))),
            };
            if any
                .type_url
                .ends_with("envoy.config.trace.v3.OpenTelemetryConfig")
            {
                let oc: OpenTelemetryConfig = unpack(any).map_err(|e| at(e.at("typed_config")))?;
                let at = |e: FieldError| e.at("provider.typed_config");
                refuse(oc.sampler.is_some(), "sampler").map_err(at)?;
                refuse(!oc.resource_detectors.is_empty(), "resource_detectors").map_err(at)?;
                refuse(oc.exporter.is_some(), "exporter").map_err(at)?;
                let service_name = if oc.service_name.is_empty() {
                    "unknown_service:envoy".to_string()
                } else {
                    oc.service_name.clone()
                };
                let export = match (&oc.grpc_service, &oc.http_service) {
                    (Some(g), _) => match &g.target_specifier {
                        Some(grpc_service::TargetSpecifier::EnvoyGrpc(e)) => {
                            Some(Export::OtlpGrpc {
                                cluster: e.cluster_name.clone(),
                                authority: if e.authority.is_empty() {
                                    e.cluster_name.clone()
                                } else {
                                    e.authority.clone()
                                },
                                service_name,
                            })
                        }
                        _ => {
                            return Err(at(FieldError::new(
                                "grpc_service",
                                "only envoy_grpc is supported by mast-proxy",
                            )));
                        }
                    },
                    (None, Some(h)) => {
                        let (cluster, authority, path) =
                            http_service(h).map_err(|e| at(e.at("http_service")))?;
                        Some(Export::OtlpHttp {
                            cluster,
                            authority,
                            path,
                            service_name,
                        })
                    }
                    (None, None) => None,
                };
                Some(Tracer {
                    propagation: Propagation::W3c,
                    reporter: export.map(|e| c.telemetry.tracers.reporter(e)),
                })
            } else if any.type_url.ends_with("envoy.config.trace.v3.ZipkinConfig") {
                let z: ZipkinConfig = unpack(any).map_err(|e| at(e.at("typed_config")))?;
                let at = |e: FieldError| e.at("provider.typed_config");
                if z.shared_span_context.as_ref().is_none_or(|b| b.value) {
                    return Err(at(FieldError::new(
                        "shared_span_context",
                        "shared client and server spans (the default) are not supported by mast-proxy; set it false, as istiod does",
                    )));
                }
                if z.collector_endpoint_version != 1 {
                    return Err(at(FieldError::new(
                        "collector_endpoint_version",
                        "only HTTP_JSON is supported by mast-proxy",
                    )));
                }
                #[allow(deprecated)]
                refuse(z.split_spans_for_request, "split_spans_for_request").map_err(at)?;
                let (cluster, hostname, path) = match &z.collector_service {
                    Some(s) => http_service(s).map_err(|e| at(e.at("collector_service")))?,
                    None => {
                        if z.collector_cluster.is_empty() {
                            return Err(at(FieldError::new("collector_cluster", "is missing")));
                        }
                        let host = if z.collector_hostname.is_empty() {
                            z.collector_cluster.clone()
                        } else {
                            z.collector_hostname.clone()
                        };
                        (
                            z.collector_cluster.clone(),
                            host,
                            z.collector_endpoint.clone(),
                        )
                    }
                };
                Some(Tracer {
                    propagation: Propagation::B3 {
                        w3c: z.trace_context_option == 1,
                        wide: z.trace_id_128bit,
                    },
                    reporter: Some(c.telemetry.tracers.reporter(Export::Zipkin {
                        cluster,
                        hostname,
                        path,
                        service_name: c.telemetry.service_cluster.clone(),
                    })),
                })
            } else {
                return Err(at(FieldError::new(
                    "typed_config",
                    format!(
                        "tracer {:?} ({}) is not supported by mast-proxy (only envoy.tracers.opentelemetry and envoy.tracers.zipkin)",
                        p.name, any.type_url
                    ),
                )));
            }
        }
    };
    Ok(Tracing {
        client_sampling: percent(t.client_sampling.as_ref()),
        random_sampling: percent(t.random_sampling.as_ref()),
        overall_sampling: percent(t.overall_sampling.as_ref()),
        max_path_tag_length: t
            .max_path_tag_length
            .as_ref()
            .map_or(crate::telemetry::trace::DEFAULT_MAX_PATH_TAG_LENGTH, |v| {
                v.value as usize
            }),
        tags,
        tracer,
        egress: c.direction != Direction::Inbound,
    })
}
