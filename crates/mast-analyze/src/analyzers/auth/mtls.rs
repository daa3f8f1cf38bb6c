//! `auth.MTLSAnalyzer` (Istio 1.5): with auto-mTLS off, finds services whose mTLS mode, as
//! `authentication.istio.io` Policies and the MeshPolicy set it, disagrees with whether the
//! DestinationRules in effect for a client namespace use `ISTIO_MUTUAL`.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, Store, kinds};
use crate::message::Arg;
use crate::util::{arr_of, fqdn, str_of, string_map};

/// What a message names when no resource is involved.
const NONE: &str = "(none)";
/// The host that stands for every Kubernetes service.
const ANY_SERVICE_HOST: &str = "*.svc.cluster.local";

/// Detects conflicts between mTLS policies and DestinationRules when auto-mTLS is off.
pub struct MtlsAnalyzer;

impl Analyzer for MtlsAnalyzer {
    fn name(&self) -> &'static str {
        "auth.MTLSAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for misconfigurations of MTLS policy when autoMtls is disabled"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::POD,
            kinds::NAMESPACE,
            kinds::SERVICE,
            kinds::MESH_POLICY,
            kinds::POLICY,
            kinds::DESTINATION_RULE,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        // Istio 1.5's MeshConfig default has auto-mTLS off.
        if ctx.mesh.bool_field("enableAutoMtls").unwrap_or(false) {
            return;
        }
        run(ctx);
    }
}

/// A service port (or, with port 0, every port of a host) that traffic is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Target {
    fqdn: String,
    port: u32,
}

impl Target {
    fn new(fqdn: &str, port: u32) -> Target {
        Target {
            fqdn: fqdn.to_string(),
            port,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 0 {
            f.write_str(&self.fqdn)
        } else {
            write!(f, "{}:{}", self.fqdn, self.port)
        }
    }
}

/// A workload's mTLS requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Plaintext,
    Permissive,
    Strict,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Plaintext => "Plaintext",
            Mode::Permissive => "Permissive",
            Mode::Strict => "Strict",
        }
    }
}

/// A mode and the policy that set it (none for the mesh default).
#[derive(Debug, Clone, Copy, Default)]
struct Setting<'a> {
    mode: Mode,
    resource: Option<&'a Resource>,
}

/// The mTLS mode a Policy's `peers` ask for: the first `mtls` peer method decides (`STRICT`
/// unless it says `PERMISSIVE`, allows TLS, or peers are optional); no `mtls` method means
/// plaintext.
fn policy_mode(spec: &Value) -> Result<Mode, String> {
    let Some(mtls) = arr_of(spec, "peers").iter().find_map(|p| p.get("mtls")) else {
        return Ok(Mode::Plaintext);
    };
    let mut mode = match mtls.get("mode").filter(|m| !m.is_null()) {
        None => Mode::Strict,
        Some(m) if m.as_str() == Some("STRICT") || m.as_u64() == Some(0) => Mode::Strict,
        Some(m) if m.as_str() == Some("PERMISSIVE") || m.as_u64() == Some(1) => Mode::Permissive,
        Some(other) => return Err(format!("unknown MTLS mode when analyzing policy: {other}")),
    };
    let allow_tls = mtls
        .get("allowTls")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let optional = spec
        .get("peerIsOptional")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if mode == Mode::Strict && (allow_tls || optional) {
        mode = Mode::Permissive;
    }
    Ok(mode)
}

/// Why a Policy could not be taken into account.
enum PolicyError {
    /// A target port name that the service does not have.
    MissingPortName { port: String, fqdn: String },
    /// Anything else.
    Other(String),
}

/// The mTLS mode each service port requires, from Policies and the MeshPolicy.
#[derive(Default)]
struct PolicyChecker<'a> {
    mesh: Setting<'a>,
    by_namespace: HashMap<String, Setting<'a>>,
    by_target: HashMap<Target, Setting<'a>>,
    port_numbers: HashMap<String, HashMap<String, u32>>,
}

impl<'a> PolicyChecker<'a> {
    fn add_mesh_policy(&mut self, r: &'a Resource) -> Result<(), String> {
        self.mesh = Setting {
            mode: policy_mode(r.spec())?,
            resource: Some(r),
        };
        Ok(())
    }

    /// Records a Policy; on error, the targets before the failing one stay recorded.
    fn add_policy(&mut self, r: &'a Resource) -> Result<(), PolicyError> {
        let setting = Setting {
            mode: policy_mode(r.spec()).map_err(PolicyError::Other)?,
            resource: Some(r),
        };
        let ns = &r.meta.namespace;
        let targets = arr_of(r.spec(), "targets");
        if targets.is_empty() {
            self.by_namespace.insert(ns.clone(), setting);
            return Ok(());
        }
        for target in targets {
            let host = fqdn(str_of(target, "name"), ns);
            let ports = arr_of(target, "ports");
            if ports.is_empty() {
                self.by_target.insert(Target::new(&host, 0), setting);
            }
            for port in ports {
                let number = self.target_port(&host, port, str_of(target, "name"))?;
                self.by_target.insert(Target::new(&host, number), setting);
            }
        }
        Ok(())
    }

    /// The port number a Policy target port names, by number or by service port name.
    fn target_port(&self, host: &str, port: &Value, target: &str) -> Result<u32, PolicyError> {
        let name = str_of(port, "name");
        if !name.is_empty() {
            return self
                .port_numbers
                .get(host)
                .and_then(|m| m.get(name))
                .copied()
                .filter(|n| *n != 0)
                .ok_or_else(|| PolicyError::MissingPortName {
                    port: name.to_string(),
                    fqdn: host.to_string(),
                });
        }
        match port.get("number").and_then(Value::as_u64) {
            Some(n) if n != 0 => Ok(n as u32),
            _ => Err(PolicyError::Other(format!(
                "policy has a port with no name/number for target {target}"
            ))),
        }
    }

    /// The setting in effect for `t` in namespace `ns`: the port's, the service's, the
    /// namespace's, else the mesh's.
    fn setting_for(&self, t: &Target, ns: &str) -> Setting<'a> {
        [
            self.by_target.get(t),
            self.by_target.get(&Target::new(&t.fqdn, 0)),
            self.by_namespace.get(ns),
        ]
        .into_iter()
        .flatten()
        .find(|s| s.resource.is_some())
        .copied()
        .unwrap_or(self.mesh)
    }
}

/// One host (or host port) a DestinationRule configures.
#[derive(Clone)]
struct Destination<'a> {
    target: Target,
    uses_mtls: bool,
    private: bool,
    /// The rule; port-level settings carry none.
    resource: Option<&'a Resource>,
}

/// Orders hosts as Istio sorts host names: non-wildcards first, then longest first, then
/// alphabetically.
fn host_order(a: &str, b: &str) -> Ordering {
    let (wa, wb) = (a.starts_with('*'), b.starts_with('*'));
    wa.cmp(&wb)
        .then_with(|| b.len().cmp(&a.len()))
        .then_with(|| a.cmp(b))
}

/// Orders destinations from most to least specific: by host, then port-level before
/// host-level.
fn destination_order(a: &Destination<'_>, b: &Destination<'_>) -> Ordering {
    if a.target.fqdn == b.target.fqdn {
        return (b.target.port != 0).cmp(&(a.target.port != 0));
    }
    host_order(&a.target.fqdn, &b.target.fqdn)
}

/// Whether every host `host` names is also named by `pattern`.
fn host_subset_of(host: &str, pattern: &str) -> bool {
    match (host.strip_prefix('*'), pattern.strip_prefix('*')) {
        (Some(h), Some(p)) => host.len() >= pattern.len() && h.ends_with(p),
        (Some(_), None) => false,
        (None, Some(p)) => host.ends_with(p),
        (None, None) => host == pattern,
    }
}

fn uses_istio_mutual(tls_holder: &Value) -> bool {
    tls_holder.pointer("/tls/mode").and_then(Value::as_str) == Some("ISTIO_MUTUAL")
}

/// Which DestinationRule applies to traffic from a namespace, as Pilot looks it up.
struct DestinationRuleChecker<'a> {
    by_namespace: HashMap<String, Vec<Destination<'a>>>,
    root: String,
}

impl<'a> DestinationRuleChecker<'a> {
    fn new(root: &str) -> Self {
        DestinationRuleChecker {
            by_namespace: HashMap::new(),
            root: root.to_string(),
        }
    }

    fn add(&mut self, r: &'a Resource) {
        let spec = r.spec();
        let private = arr_of(spec, "exportTo")
            .iter()
            .any(|e| e.as_str() == Some("."));
        let host = fqdn(str_of(spec, "host"), &r.meta.namespace);
        let policy = spec.get("trafficPolicy").filter(|p| !p.is_null());
        let list = self
            .by_namespace
            .entry(r.meta.namespace.clone())
            .or_default();
        list.push(Destination {
            target: Target::new(&host, 0),
            uses_mtls: policy.is_some_and(uses_istio_mutual),
            private,
            resource: Some(r),
        });
        for pls in policy
            .map(|p| arr_of(p, "portLevelSettings"))
            .unwrap_or_default()
        {
            let port = pls
                .pointer("/port/number")
                .and_then(Value::as_u64)
                .unwrap_or(0) as u32;
            list.push(Destination {
                target: Target::new(&host, port),
                uses_mtls: uses_istio_mutual(pls),
                private,
                resource: None,
            });
        }
    }

    /// Whether traffic from `src` to `t` (a service in `dst`) uses mTLS, and the rule that
    /// decides it: a rule in the client's namespace (unless it is the root), then in the
    /// service's, then in the root namespace.
    fn uses_mtls(&self, src: &str, dst: &str, t: &Target) -> (bool, Option<&'a Resource>) {
        let found = (src != self.root)
            .then(|| self.find(src, t, true))
            .flatten()
            .or_else(|| self.find(dst, t, false))
            .or_else(|| self.find(&self.root, t, false));
        found.map_or((false, None), |d| (d.uses_mtls, d.resource))
    }

    fn find(&self, ns: &str, t: &Target, include_private: bool) -> Option<Destination<'a>> {
        let mut list: Vec<Destination<'a>> = self
            .by_namespace
            .get(ns)?
            .iter()
            .filter(|d| include_private || !d.private)
            .cloned()
            .collect();
        list.sort_by(destination_order);
        list.into_iter().find(|d| destination_applies(&d.target, t))
    }
}

/// Whether a rule for `rule` applies to traffic to `t`.
fn destination_applies(rule: &Target, t: &Target) -> bool {
    if !host_subset_of(&t.fqdn, &rule.fqdn) {
        return false;
    }
    if t.port == 0 {
        rule.port == 0
    } else {
        rule.port == 0 || rule.port == t.port
    }
}

/// A service port under check, with the service's namespace.
struct ServiceTarget {
    target: Target,
    namespace: String,
}

/// What the services tell: their ports, which have no sidecar, and their port names.
#[derive(Default)]
struct Services {
    targets: Vec<ServiceTarget>,
    without_sidecar: BTreeSet<String>,
    port_numbers: HashMap<String, HashMap<String, u32>>,
}

/// Whether `r` belongs to Istio's control plane, which Policies do not govern.
fn is_control_plane(r: &Resource) -> bool {
    r.meta.labels.contains_key("istio")
        || r.meta.labels.get("release").map(String::as_str) == Some("istio")
}

fn collect_services(store: &Store) -> Services {
    let mut out = Services::default();
    for svc in store.list(kinds::SERVICE) {
        let ns = &svc.meta.namespace;
        if ns == "kube-system" || ns == "kube-public" || is_control_plane(svc) {
            continue;
        }
        let host = fqdn(&svc.meta.name, ns);
        for port in arr_of(svc.spec(), "ports") {
            let protocol = str_of(port, "protocol");
            if !protocol.is_empty() && protocol != "TCP" {
                continue;
            }
            let number = port.get("port").and_then(Value::as_u64).unwrap_or(0) as u32;
            let name = str_of(port, "name");
            if !name.is_empty() {
                out.port_numbers
                    .entry(host.clone())
                    .or_default()
                    .insert(name.to_string(), number);
            }
            out.targets.push(ServiceTarget {
                target: Target::new(&host, number),
                namespace: ns.clone(),
            });
        }
        if !all_selected_pods_have_sidecars(store, svc) {
            out.without_sidecar.insert(host);
        }
    }
    out
}

/// Whether the service selects at least one pod and every pod it selects has an
/// `istio-proxy` container.
fn all_selected_pods_have_sidecars(store: &Store, svc: &Resource) -> bool {
    let selector = string_map(svc.spec().get("selector"));
    if selector.is_empty() {
        return false;
    }
    let mut selected = store
        .list(kinds::POD)
        .filter(|p| p.meta.namespace == svc.meta.namespace)
        .filter(|p| crate::util::selector_matches(&selector, &p.meta.labels))
        .peekable();
    if selected.peek().is_none() {
        return false;
    }
    selected.all(|p| {
        arr_of(p.spec(), "containers")
            .iter()
            .any(|c| str_of(c, "name") == "istio-proxy")
    })
}

fn conflict_args(host: &str, dr: &str, mtls: bool, policy: &str, mode: Mode) -> Vec<Arg> {
    vec![
        host.into(),
        dr.into(),
        mtls.into(),
        policy.into(),
        mode.name().into(),
    ]
}

fn name_or_none(r: Option<&Resource>) -> String {
    r.map_or_else(|| NONE.to_string(), Resource::namespaced_name)
}

/// Loads every Policy, reporting those that cannot be analyzed. `false` when analysis must stop.
fn load_policies<'a>(
    ctx: &mut Context<'a>,
    pc: &mut PolicyChecker<'a>,
    namespaces: &mut BTreeSet<String>,
) -> bool {
    let store = ctx.store;
    if let Some(mp) = store.get(kinds::MESH_POLICY, "", "default")
        && let Err(e) = pc.add_mesh_policy(mp)
    {
        ctx.report(mp, None, catalogue::INTERNAL_ERROR, vec![e.into()]);
        return false;
    }
    for p in store.list(kinds::POLICY) {
        namespaces.insert(p.meta.namespace.clone());
        match pc.add_policy(p) {
            Ok(()) => {}
            Err(PolicyError::MissingPortName { port, fqdn }) => {
                let args = vec![port.into(), fqdn.into()];
                ctx.report(
                    p,
                    Some("/spec/targets"),
                    catalogue::POLICY_SPECIFIES_PORT_NAME_THAT_DOESNT_EXIST,
                    args,
                );
            }
            Err(PolicyError::Other(e)) => {
                ctx.report(p, None, catalogue::INTERNAL_ERROR, vec![e.into()]);
                break;
            }
        }
    }
    true
}

/// Reports a MeshPolicy and a root-namespace catch-all rule that disagree; returns whether
/// they do.
fn check_global(
    ctx: &mut Context<'_>,
    pc: &PolicyChecker<'_>,
    drc: &DestinationRuleChecker<'_>,
) -> bool {
    let any = Target::new(ANY_SERVICE_HOST, 0);
    let (mtls, dr) = drc.uses_mtls(&drc.root, &drc.root, &any);
    let mesh = pc.mesh;
    match (mesh.mode, mesh.resource, dr) {
        (Mode::Strict, Some(mp), _) if !mtls => {
            let args = conflict_args(
                ANY_SERVICE_HOST,
                &name_or_none(dr),
                mtls,
                &mp.namespaced_name(),
                mesh.mode,
            );
            ctx.report(
                mp,
                Some("/spec/peers"),
                catalogue::MTLS_POLICY_CONFLICT,
                args,
            );
            true
        }
        (Mode::Plaintext, _, Some(dr)) if mtls => {
            let args = conflict_args(
                ANY_SERVICE_HOST,
                &dr.namespaced_name(),
                mtls,
                &name_or_none(mesh.resource),
                mesh.mode,
            );
            ctx.report(
                dr,
                Some("/spec/trafficPolicy"),
                catalogue::MTLS_POLICY_CONFLICT,
                args,
            );
            true
        }
        _ => false,
    }
}

fn run(ctx: &mut Context<'_>) {
    let store = ctx.store;
    let services = collect_services(store);
    let mut namespaces: BTreeSet<String> = store
        .list(kinds::NAMESPACE)
        .map(|n| n.meta.name.clone())
        .collect();

    let mut pc = PolicyChecker {
        port_numbers: services.port_numbers.clone(),
        ..Default::default()
    };
    if !load_policies(ctx, &mut pc, &mut namespaces) {
        return;
    }
    let mut drc = DestinationRuleChecker::new(&ctx.mesh.root_namespace());
    for dr in store.list(kinds::DESTINATION_RULE) {
        namespaces.insert(dr.meta.namespace.clone());
        drc.add(dr);
    }

    let global_misconfigured = check_global(ctx, &pc, &drc);
    for st in &services.targets {
        let no_sidecar = services.without_sidecar.contains(&st.target.fqdn);
        let setting = if no_sidecar {
            Setting::default()
        } else {
            pc.setting_for(&st.target, &st.namespace)
        };
        for ns in &namespaces {
            let (mtls, dr) = drc.uses_mtls(ns, &st.namespace, &st.target);
            check_pair(ctx, st, setting, mtls, dr, no_sidecar, global_misconfigured);
        }
    }
}

/// Reports a disagreement between the policy for a service port and the rule a client
/// namespace uses for it.
fn check_pair(
    ctx: &mut Context<'_>,
    st: &ServiceTarget,
    setting: Setting<'_>,
    mtls: bool,
    dr: Option<&Resource>,
    no_sidecar: bool,
    global_misconfigured: bool,
) {
    let conflict =
        (setting.mode == Mode::Strict && !mtls) || (setting.mode == Mode::Plaintext && mtls);
    if !conflict {
        return;
    }
    // A missing resource here is most likely the global misconfiguration already reported.
    if global_misconfigured && (setting.resource.is_none() || dr.is_none()) {
        return;
    }
    let host = st.target.to_string();
    if no_sidecar {
        if let Some(dr) = dr {
            let args = vec![dr.namespaced_name().into(), host.into()];
            let kind = catalogue::DESTINATION_RULE_USES_MTLS_FOR_WORKLOAD_WITHOUT_SIDECAR;
            ctx.report(dr, Some("/spec/trafficPolicy"), kind, args);
        }
        return;
    }
    if let Some(p) = setting.resource {
        let args = conflict_args(
            &host,
            &name_or_none(dr),
            mtls,
            &p.namespaced_name(),
            setting.mode,
        );
        ctx.report(
            p,
            Some("/spec/peers"),
            catalogue::MTLS_POLICY_CONFLICT,
            args,
        );
    }
    if let Some(dr) = dr {
        let args = conflict_args(
            &host,
            &dr.namespaced_name(),
            mtls,
            &name_or_none(setting.resource),
            setting.mode,
        );
        ctx.report(
            dr,
            Some("/spec/trafficPolicy"),
            catalogue::MTLS_POLICY_CONFLICT,
            args,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_subsets() {
        let cases = [
            ("a.ns.svc.cluster.local", "a.ns.svc.cluster.local", true),
            ("a.ns.svc.cluster.local", "*.local", true),
            ("*.svc.cluster.local", "*.local", true),
            ("*.local", "*.svc.cluster.local", false),
            ("*.svc.cluster.local", "a.ns.svc.cluster.local", false),
            ("a.ns.svc.cluster.local", "b.ns.svc.cluster.local", false),
        ];
        for (h, p, want) in cases {
            assert_eq!(host_subset_of(h, p), want, "{h} in {p}");
        }
    }

    #[test]
    fn host_sort_order() {
        let mut hosts = vec![
            "*.local",
            "a.b.svc.cluster.local",
            "*.svc.cluster.local",
            "ab.b.svc.cluster.local",
        ];
        hosts.sort_by(|a, b| host_order(a, b));
        assert_eq!(
            hosts,
            [
                "ab.b.svc.cluster.local",
                "a.b.svc.cluster.local",
                "*.svc.cluster.local",
                "*.local"
            ]
        );
    }

    #[test]
    fn policy_modes() {
        let cases = [
            (r#"{}"#, Ok(Mode::Plaintext)),
            (r#"{"peers":[{"jwt":{}}]}"#, Ok(Mode::Plaintext)),
            (r#"{"peers":[{"mtls":null}]}"#, Ok(Mode::Strict)),
            (r#"{"peers":[{"mtls":{}}]}"#, Ok(Mode::Strict)),
            (
                r#"{"peers":[{"mtls":{"mode":"PERMISSIVE"}}]}"#,
                Ok(Mode::Permissive),
            ),
            (
                r#"{"peers":[{"mtls":{"allowTls":true}}]}"#,
                Ok(Mode::Permissive),
            ),
            (
                r#"{"peerIsOptional":true,"peers":[{"mtls":{}}]}"#,
                Ok(Mode::Permissive),
            ),
        ];
        for (spec, want) in cases {
            let v: Value = serde_json::from_str(spec).unwrap();
            assert_eq!(policy_mode(&v), want, "{spec}");
        }
        let v: Value = serde_json::from_str(r#"{"peers":[{"mtls":{"mode":"BOGUS"}}]}"#).unwrap();
        assert!(policy_mode(&v).is_err());
    }
}
