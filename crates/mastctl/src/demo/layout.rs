//! Where everything of the demo mesh lives: one loopback address a workload (its app, its
//! proxy's inbound listener and admin ports, at Istio's port numbers), one more for its proxy's
//! outbound listener, and the configuration mastd reads, made from `samples/demo`. With
//! `--capture`, each workload has the address of its own network namespace instead, its app
//! listens on the service port itself, and each service gets a virtual IP (as a Kubernetes
//! ClusterIP) that apps connect to and the proxies capture.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;

/// The service port of every demo service (bookinfo's 9080), the port of each proxy's inbound
/// listener and of its outbound listener.
pub const SERVICE_PORT: u16 = 9080;
/// The port each app listens on, behind its proxy.
pub const APP_PORT: u16 = 8080;
/// The mesh's trust domain.
pub const TRUST_DOMAIN: &str = "cluster.local";

/// The demo's services, in the order of their virtual IPs.
const SERVICE_NAMES: [&str; 4] = ["productpage", "details", "reviews", "ratings"];

/// The virtual IP of a service in capture mode (Istio's auto-allocation range, 240.240/16).
pub fn vip(service: &str) -> Ipv4Addr {
    let i = SERVICE_NAMES
        .iter()
        .position(|s| *s == service)
        .unwrap_or(SERVICE_NAMES.len());
    Ipv4Addr::new(240, 240, 0, i as u8 + 1)
}

const SERVICES: &str = include_str!("../../../../samples/demo/services.yaml");
const TRAFFIC: &str = include_str!("../../../../samples/demo/traffic.yaml");
const SECURITY: &str = include_str!("../../../../samples/demo/security.yaml");

/// One workload: an app (none for the load generator) and its proxy.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Pod and WorkloadEntry name, e.g. `reviews-v2`.
    pub pod: String,
    /// `app` label (the service).
    pub app: &'static str,
    /// `version` label.
    pub version: &'static str,
    /// Services it calls.
    pub calls: &'static [&'static str],
    /// Its address: the app, the proxy's inbound listener and the proxy's admin ports.
    pub ip: Ipv4Addr,
    /// The address of its proxy's outbound (egress) listener.
    pub egress_ip: Ipv4Addr,
    /// In its own network namespace, captured by iptables.
    pub capture: bool,
}

impl Workload {
    /// The service account (`bookinfo-<app>`).
    pub fn service_account(&self) -> String {
        format!("bookinfo-{}", self.app)
    }

    /// Its SPIFFE identity.
    pub fn spiffe(&self) -> String {
        spiffe(&self.service_account())
    }

    /// Whether it runs an app behind its proxy (the load generator does not).
    pub fn has_app(&self) -> bool {
        self.app != "loadgen"
    }

    /// The app's address.
    pub fn app_addr(&self) -> SocketAddr {
        if self.capture {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, SERVICE_PORT))
        } else {
            SocketAddr::from((self.ip, APP_PORT))
        }
    }

    /// Where its app connects to reach `service`: its proxy's outbound listener, or (capture)
    /// the service's virtual IP.
    pub fn upstream(&self, service: &str) -> SocketAddr {
        if self.capture {
            SocketAddr::from((vip(service), SERVICE_PORT))
        } else {
            self.egress_addr()
        }
    }

    /// Its proxy's readiness endpoint (`/healthz/ready`).
    pub fn ready_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, 15021))
    }

    /// The proxy's outbound listener.
    pub fn egress_addr(&self) -> SocketAddr {
        SocketAddr::from((self.egress_ip, SERVICE_PORT))
    }

    /// The proxy's admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        if self.capture {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 15000))
        } else {
            SocketAddr::from((self.ip, 15000))
        }
    }

    /// Every address the workload's app and proxy listen on.
    fn addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = [SERVICE_PORT, APP_PORT, 15000, 15020, 15021, 15090]
            .iter()
            .map(|p| SocketAddr::from((self.ip, *p)))
            .collect();
        v.push(self.egress_addr());
        v
    }
}

/// The SPIFFE ID of a service account in `default`.
pub fn spiffe(sa: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/default/sa/{sa}")
}

/// The demo mesh's addresses.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The workloads; the load generator last.
    pub workloads: Vec<Workload>,
    /// Each workload in its own network namespace, captured by iptables.
    pub capture: bool,
    /// mastd's plaintext xDS address.
    pub mastd_grpc: SocketAddr,
    /// mastd's TLS xDS and CA address.
    pub mastd_secure: SocketAddr,
    /// mastd's /metrics and /debug address.
    pub mastd_monitoring: SocketAddr,
}

impl Layout {
    /// A layout on a random `127.A.B.0/24` whose addresses are all free (Linux routes all of
    /// 127/8 to loopback, so no root is needed).
    pub fn pick() -> anyhow::Result<Layout> {
        let mut last = None;
        for _ in 0..20 {
            let l = Layout::on([fastrand::u8(20..250), fastrand::u8(1..250)]);
            match l
                .all_addrs()
                .into_iter()
                .find_map(|a| TcpListener::bind(a).err().map(|e| (a, e)))
            {
                None => return Ok(l),
                Some(e) => last = Some(e),
            }
        }
        let (a, e) = last.expect("tried");
        anyhow::bail!(
            "no free loopback addresses for the demo (last tried {a}: {e}); Linux is needed (127.0.0.0/8 on lo)"
        )
    }

    fn on(net: [u8; 2]) -> Layout {
        Layout::with(|h| Ipv4Addr::new(127, net[0], net[1], h), false)
    }

    /// The capture layout: workload `k` (from 1) at `ip(k + 1)`, mastd at `ip(1)` (the hub).
    pub fn capture(ip: impl Fn(u8) -> Ipv4Addr) -> Layout {
        let mut l = Layout::with(|h| ip(h + 1), true);
        let hub = ip(1);
        l.mastd_grpc = SocketAddr::from((hub, 15010));
        l.mastd_secure = SocketAddr::from((hub, 15012));
        l.mastd_monitoring = SocketAddr::from((hub, 15014));
        l
    }

    fn with(ip: impl Fn(u8) -> Ipv4Addr, capture: bool) -> Layout {
        let specs: [(&str, &str, &[&str]); 7] = [
            ("productpage", "v1", &["details", "reviews"]),
            ("details", "v1", &[]),
            ("reviews", "v1", &["ratings"]),
            ("reviews", "v2", &["ratings"]),
            ("reviews", "v3", &["ratings"]),
            ("ratings", "v1", &[]),
            ("loadgen", "v1", &["productpage"]),
        ];
        let workloads = specs
            .iter()
            .zip(1u8..)
            .map(|((app, version, calls), k)| Workload {
                pod: format!("{app}-{version}"),
                app,
                version,
                calls,
                ip: ip(k),
                egress_ip: if capture { ip(k) } else { ip(100 + k) },
                capture,
            })
            .collect();
        Layout {
            workloads,
            capture,
            mastd_grpc: SocketAddr::from((ip(200), 15010)),
            mastd_secure: SocketAddr::from((ip(200), 15012)),
            mastd_monitoring: SocketAddr::from((ip(200), 15014)),
        }
    }

    fn all_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = self.workloads.iter().flat_map(Workload::addrs).collect();
        v.extend([self.mastd_grpc, self.mastd_secure, self.mastd_monitoring]);
        v
    }

    /// The workload named `pod`.
    pub fn workload(&self, pod: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.pod == pod)
    }

    /// The load generator's workload.
    pub fn loadgen(&self) -> &Workload {
        self.workloads.last().expect("workloads")
    }

    /// Writes mastd's configuration directory: samples/demo with this layout's addresses, a
    /// Sidecar a workload (explicit listeners, `captureMode: NONE`), and without the
    /// AuthorizationPolicy, which mast-proxy cannot enforce yet.
    pub fn write_config(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let services: Vec<String> = docs(SERVICES)
            .into_iter()
            .map(|d| self.place_workload_entry(&d))
            .map(|d| if self.capture { with_vip(&d) } else { d })
            .collect();
        std::fs::write(dir.join("services.yaml"), services.join("---\n"))?;
        std::fs::write(dir.join("traffic.yaml"), TRAFFIC)?;
        let security: Vec<String> = docs(SECURITY)
            .into_iter()
            .filter(|d| !d.lines().any(|l| l.trim() == "kind: AuthorizationPolicy"))
            .collect();
        std::fs::write(dir.join("security.yaml"), security.join("---\n"))?;
        if !self.capture {
            let sidecars: Vec<String> = self.workloads.iter().map(sidecar).collect();
            std::fs::write(dir.join("sidecars.yaml"), sidecars.join("---\n"))?;
        }
        Ok(())
    }

    /// A WorkloadEntry document with its address and port replaced by this layout's.
    fn place_workload_entry(&self, doc: &str) -> String {
        if !doc.lines().any(|l| l.trim() == "kind: WorkloadEntry") {
            return doc.to_string();
        }
        let name = doc
            .lines()
            .find_map(|l| l.strip_prefix("  name: "))
            .map(str::trim)
            .unwrap_or("");
        let Some(w) = self.workload(name) else {
            return doc.to_string();
        };
        doc.lines()
            .map(|l| {
                if l.starts_with("  address: ") {
                    format!("  address: {}", w.ip)
                } else if l.starts_with("    http: ") {
                    format!("    http: {SERVICE_PORT}")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect()
    }
}

/// The documents of a YAML stream (split at `---` lines, comment-only ones dropped).
/// A ServiceEntry with its virtual IP (`addresses`) after its first host.
fn with_vip(doc: &str) -> String {
    if !doc.lines().any(|l| l.trim() == "kind: ServiceEntry") {
        return doc.to_string();
    }
    let mut out = String::new();
    let mut done = false;
    for l in doc.lines() {
        out.push_str(l);
        out.push('\n');
        if let Some(h) = l.strip_prefix("  - ")
            && !done
        {
            let name = h.split('.').next().unwrap_or_default();
            out.push_str(&format!("  addresses:\n  - {}\n", vip(name)));
            done = true;
        }
    }
    out
}

fn docs(stream: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in stream.lines() {
        if line.trim_end() == "---" {
            out.push(String::new());
        } else {
            let cur = out.last_mut().expect("one");
            cur.push_str(line);
            cur.push('\n');
        }
    }
    out.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// The Sidecar of one workload: an inbound listener on its address in front of its app, and an
/// outbound listener on its own address for the services it calls.
fn sidecar(w: &Workload) -> String {
    let hosts = if w.calls.is_empty() {
        "[\"./*\"]".to_string()
    } else {
        let h: Vec<String> = w
            .calls
            .iter()
            .map(|c| format!("\"./{c}.default.svc.cluster.local\""))
            .collect();
        format!("[{}]", h.join(", "))
    };
    let ingress = if w.has_app() {
        format!(
            "  ingress:
  - port:
      number: {SERVICE_PORT}
      protocol: HTTP
      name: http
    bind: {ip}
    defaultEndpoint: 0.0.0.0:{APP_PORT}
    captureMode: NONE
",
            ip = w.ip
        )
    } else {
        String::new()
    };
    format!(
        "# {pod}: its app on {ip}:{APP_PORT}, reached through {ip}:{SERVICE_PORT}; it calls out through {egress}:{SERVICE_PORT}
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: {pod}
  namespace: default
spec:
  workloadSelector:
    labels:
      app: {app}
      version: {version}
{ingress}  egress:
  - port:
      number: {SERVICE_PORT}
      protocol: HTTP
      name: http
    bind: {egress}
    captureMode: NONE
    hosts: {hosts}
",
        pod = w.pod,
        ip = w.ip,
        egress = w.egress_ip,
        app = w.app,
        version = w.version,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_places_workloads_and_drops_authorization() {
        let l = Layout::on([33, 44]);
        let dir = std::env::temp_dir().join(format!("mast-demo-layout-{}", std::process::id()));
        l.write_config(&dir).unwrap();
        let services = std::fs::read_to_string(dir.join("services.yaml")).unwrap();
        assert!(services.contains("address: 127.33.44.4"), "{services}");
        assert!(!services.contains("127.0.0.1"), "{services}");
        let security = std::fs::read_to_string(dir.join("security.yaml")).unwrap();
        assert!(security.contains("STRICT") && !security.contains("AuthorizationPolicy"));
        let sidecars = std::fs::read_to_string(dir.join("sidecars.yaml")).unwrap();
        assert_eq!(sidecars.matches("kind: Sidecar").count(), 7);
        assert!(sidecars.contains("bind: 127.33.44.107"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn capture_config_has_virtual_ips_and_no_sidecars() {
        let l = Layout::capture(|h| Ipv4Addr::new(10, 7, 8, h));
        assert_eq!(l.mastd_grpc.to_string(), "10.7.8.1:15010");
        assert_eq!(l.workloads[0].ip, Ipv4Addr::new(10, 7, 8, 2));
        assert_eq!(
            l.workloads[0].upstream("reviews").to_string(),
            "240.240.0.3:9080"
        );
        assert_eq!(l.workloads[0].app_addr().to_string(), "0.0.0.0:9080");
        let dir = std::env::temp_dir().join(format!("mast-demo-capture-{}", std::process::id()));
        l.write_config(&dir).unwrap();
        let services = std::fs::read_to_string(dir.join("services.yaml")).unwrap();
        assert!(
            services
                .contains("  - reviews.default.svc.cluster.local\n  addresses:\n  - 240.240.0.3\n"),
            "{services}"
        );
        assert!(services.contains("address: 10.7.8.4"), "{services}");
        assert!(!dir.join("sidecars.yaml").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
