//! The `mastd` binary: parse flags, start, run until SIGINT or SIGTERM.

use anyhow::Result;
use clap::Parser;
use mastd::args::Args;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let fds = raise_fd_limit();
    tracing::info!(open_files = fds, "open-file limit");
    tracing::info!(?args, "configuration");
    let _running = mastd::app::start(args).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
    Ok(())
}

/// Raises the open-file soft limit to the hard limit, as Envoy and istiod deployments do:
/// every connected proxy holds a descriptor, and 1024 (the usual soft limit) is too few for a
/// mesh of thousands.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit and setrlimit read and write a plain C struct owned by this frame.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
        r.rlim_cur as u64
    }
}
