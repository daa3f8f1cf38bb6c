//! `mast-proxy`: parse flags, start, drain on SIGTERM or `/quitquitquit`.

use clap::Parser;
use mast_proxy::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
