//! The demo's child processes (mastd and the proxies): found next to mastctl or built with
//! cargo, their output kept in log files, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// A running child; killed and reaped when dropped, so none outlives the demo.
pub struct Proc {
    /// Its name in messages.
    pub name: String,
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args`, output to `<logs>/<name>.log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], logs: &Path) -> anyhow::Result<Proc> {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).with_context(|| log.display().to_string())?;
        let mut cmd = Command::new(program);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe and touches only the child being made; the
            // child then dies with the thread that started it (the demo's main thread) even
            // when mastctl is killed with SIGKILL and cannot clean up.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .env(
                "RUST_LOG",
                std::env::var("MAST_DEMO_LOG").unwrap_or_else(|_| "info".into()),
            )
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log.
    pub fn tail(&self, lines: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = s.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace mastctl was built from (to build the other binaries when they are missing).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `mastd` and `mast-proxy` are: the given paths, or beside this executable.
pub fn locate(
    mastd: Option<PathBuf>,
    proxy: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, PathBuf, bool)> {
    let exe = std::env::current_exe().context("mastctl's own path")?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mastd = mastd.unwrap_or_else(|| dir.join(format!("mastd{}", std::env::consts::EXE_SUFFIX)));
    let proxy =
        proxy.unwrap_or_else(|| dir.join(format!("mast-proxy{}", std::env::consts::EXE_SUFFIX)));
    Ok((mastd, proxy, release))
}

/// Where cargo puts `name` when it builds the workspace.
pub fn built(name: &Path, release: bool) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let file = name.file_name().map(PathBuf::from).unwrap_or_default();
    target
        .join(if release { "release" } else { "debug" })
        .join(file)
}

/// Builds mastd and mast-proxy with cargo (`--release` when mastctl is a release build).
pub fn build(release: bool, log: &Path) -> anyhow::Result<()> {
    let ws = workspace();
    if !ws.join("Cargo.toml").exists() {
        bail!(
            "mastd or mast-proxy is missing and the source tree ({}) is not there to build them; pass --mastd-bin and --proxy-bin",
            ws.display()
        );
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "-p", "mastd", "-p", "mast-proxy"];
    if release {
        args.push("--release");
    }
    let file = std::fs::File::create(log)?;
    let status = Command::new(&cargo)
        .args(&args)
        .current_dir(&ws)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {cargo}"))?;
    if !status.success() {
        let out = std::fs::read_to_string(log).unwrap_or_default();
        bail!("`cargo {}` failed:\n{out}", args.join(" "));
    }
    Ok(())
}
