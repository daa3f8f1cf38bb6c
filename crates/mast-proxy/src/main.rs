//! `mast-proxy`: parse flags, start, drain on SIGTERM or `/quitquitquit`;
//! `mast-proxy istio-iptables FLAGS` sets up traffic capture as Istio's init container does.

use clap::Parser;
use mast_proxy::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("istio-iptables") {
        return istio_iptables();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    tracing::info!(?config, "configuration");
    let proxy = mast_proxy::run(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
        _ = proxy.quit_requested() => tracing::info!("/quitquitquit"),
    }
    proxy.drain().await;
    Ok(())
}

/// `mast-proxy istio-iptables`: print (`--dry-run`) or apply the capture rules.
fn istio_iptables() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let args = mast_proxy::capture::Args::parse_from(std::env::args().skip(1));
    let rules = mast_proxy::capture::rules(&args)?;
    print!("{}", rules.commands());
    if !args.dry_run {
        mast_proxy::capture::apply(&rules).context("applying the capture rules")?;
    }
    Ok(())
}
