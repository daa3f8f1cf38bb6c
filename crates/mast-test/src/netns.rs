//! Network namespaces for capture tests and the capture demo (Linux, root): a [`Netns`] per
//! workload, joined to the others through a bridge in a [`Hub`] namespace, so that iptables
//! rules of one workload never touch the host or another workload. Programs run inside with
//! `ip netns exec` ([`Netns::exec`]), optionally as the proxy's user (UID/GID 1337, with
//! `setpriv`); sockets of the calling process are made inside with [`Netns::bind`] and
//! [`Netns::connect`] (a socket stays in the namespace it was created in).
//!
//! Everything is removed when dropped: the namespaces and, with them, their interfaces and
//! rules.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The proxy's UID and GID (Istio's 1337), whose traffic the capture rules let through.
pub const PROXY_UID: u32 = 1337;

/// The flags of `istio-iptables` in the init container Istio injects into a pod.
pub const INJECTED_CAPTURE_FLAGS: &[&str] = &[
    "-p",
    "15001",
    "-z",
    "15006",
    "-u",
    "1337",
    "-m",
    "REDIRECT",
    "-i",
    "*",
    "-x",
    "",
    "-b",
    "*",
    "-d",
    "15090,15021,15020",
];

/// Why namespaces cannot be used here.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

fn run(program: &str, args: &[&str]) -> Result<(), Unavailable> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Unavailable(format!("{program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Unavailable(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Whether namespaces with iptables capture can be made here (root, `ip`, `iptables-restore`,
/// `setpriv`, and a namespace actually created); the reason when not.
pub fn available() -> Result<(), Unavailable> {
    for p in ["ip", "iptables-restore", "iptables-save", "setpriv"] {
        if !on_path(p) {
            return Err(Unavailable(format!("{p} is not installed")));
        }
    }
    let probe = Netns::add(&format!("mast-probe-{}", std::process::id()))?;
    drop(probe);
    Ok(())
}

/// A network namespace with its loopback up; deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` (at most 15 characters are kept by some tools: keep it short).
    pub fn add(name: &str) -> Result<Netns, Unavailable> {
        let _ = run("ip", &["netns", "del", name]);
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        run("ip", &["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program and arguments that run `program args` inside the namespace (as the
    /// proxy's user with `as_proxy`), for [`crate::process::Proc::spawn`].
    pub fn exec(&self, program: &Path, args: &[String], as_proxy: bool) -> (PathBuf, Vec<String>) {
        let mut v: Vec<String> = vec!["netns".into(), "exec".into(), self.name.clone()];
        if as_proxy {
            v.extend(
                [
                    "setpriv",
                    &format!("--reuid={PROXY_UID}"),
                    &format!("--regid={PROXY_UID}"),
                    "--clear-groups",
                ]
                .map(String::from),
            );
        }
        v.push(program.display().to_string());
        v.extend(args.iter().cloned());
        (PathBuf::from("ip"), v)
    }

    /// Runs `program args` inside to completion; its output, or why it failed.
    pub fn output(&self, program: &str, args: &[&str]) -> Result<String, Unavailable> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .map_err(|e| Unavailable(format!("ip netns exec: {e}")))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(Unavailable(format!(
                "`{program} {}` in {} failed: {}{}",
                args.join(" "),
                self.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// Runs `f` on a thread that entered this namespace (sockets it creates live here).
    pub fn within<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        std::thread::spawn(move || {
            enter(&path)?;
            f()
        })
        .join()
        .map_err(|_| std::io::Error::other("namespace thread panicked"))?
    }

    /// A tokio runtime on a thread inside the namespace: futures spawned on it make their
    /// sockets here (the thread lives as long as the process).
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Handle> {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("netns-{}", self.name))
            .spawn(move || {
                let rt = enter(&path).and_then(|()| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                });
                match rt {
                    Ok(rt) => {
                        let _ = tx.send(Ok(rt.handle().clone()));
                        rt.block_on(std::future::pending::<()>());
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })?;
        rx.recv()
            .map_err(|_| std::io::Error::other("namespace thread ended"))?
    }

    /// A listening socket inside the namespace.
    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<TcpListener> {
        self.within(move || TcpListener::bind(addr))
    }

    /// A connection made from inside the namespace (as its workload would: captured).
    pub fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        self.within(move || TcpStream::connect(addr))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// Moves the calling thread into the namespace at `path` (`setns`).
fn enter(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on a file descriptor we own, for the calling thread only.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A namespace holding a bridge on `10.A.B.1/24` that workload namespaces attach to.
#[derive(Debug)]
pub struct Hub {
    /// The hub's own namespace (mastd runs here).
    pub ns: Netns,
    net: [u8; 2],
    prefix: String,
}

impl Hub {
    /// A hub for namespaces named `PREFIX-*`, on a random `10.A.B.0/24`.
    pub fn new(prefix: &str) -> Result<Hub, Unavailable> {
        let ns = Netns::add(&format!("{prefix}-hub"))?;
        let net = [fastrand_u8(), fastrand_u8()];
        let hub = Hub {
            ns,
            net,
            prefix: prefix.to_string(),
        };
        let n = hub.ns.name().to_string();
        run("ip", &["-n", &n, "link", "add", "br0", "type", "bridge"])?;
        run(
            "ip",
            &[
                "-n",
                &n,
                "addr",
                "add",
                &format!("{}/24", hub.ip(1)),
                "dev",
                "br0",
            ],
        )?;
        run("ip", &["-n", &n, "link", "set", "br0", "up"])?;
        Ok(hub)
    }

    /// Host `h` of the hub's network.
    pub fn ip(&self, h: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net[0], self.net[1], h)
    }

    /// A namespace `PREFIX-NAME` attached to the bridge as host `h` (`eth0`, default route
    /// through the hub).
    pub fn attach(&self, name: &str, h: u8) -> Result<Netns, Unavailable> {
        let ns = Netns::add(&format!("{}-{name}", self.prefix))?;
        let hub = self.ns.name();
        let outside = format!("{}h{h}", self.prefix);
        run(
            "ip",
            &[
                "-n",
                hub,
                "link",
                "add",
                &outside,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns.name(),
            ],
        )?;
        run(
            "ip",
            &["-n", hub, "link", "set", &outside, "master", "br0", "up"],
        )?;
        let n = ns.name();
        run(
            "ip",
            &[
                "-n",
                n,
                "addr",
                "add",
                &format!("{}/24", self.ip(h)),
                "dev",
                "eth0",
            ],
        )?;
        run("ip", &["-n", n, "link", "set", "eth0", "up"])?;
        run(
            "ip",
            &[
                "-n",
                n,
                "route",
                "add",
                "default",
                "via",
                &self.ip(1).to_string(),
            ],
        )?;
        Ok(ns)
    }
}

fn fastrand_u8() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (((nanos ^ std::process::id()) % 200) + 20) as u8
}
