//! `mast-bench`: Mast's benchmarks. Each prints a Markdown section; `--write FILE` replaces that
//! section in the file (docs/benchmarks.md), so one command regenerates the published numbers.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod analyze;
mod control_plane;
mod machine;
mod report;
mod sidecar;

/// Mast's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "mast-bench")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
    /// Write the result into this Markdown file (replacing the benchmark's section).
    #[arg(long, global = true)]
    write: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// `mastctl analyze` over a generated configuration of N objects.
    Analyze(analyze::Args),
    /// Simulated sidecars on ADS against mastd: config change to all-ACKed latency.
    ControlPlane(control_plane::Args),
    /// A pair of sidecars (Mast, and HAProxy) on one mTLS hop: added latency, CPU, RSS.
    Sidecar(sidecar::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (id, section) = match &cli.bench {
        Bench::Analyze(a) => ("analyze", analyze::run(a)?),
        Bench::ControlPlane(a) => ("control-plane", control_plane::run(a)?),
        Bench::Sidecar(a) => ("sidecar", sidecar::run(a)?),
    };
    println!("{section}");
    if let Some(path) = &cli.write {
        report::replace_section(path, id, &section)?;
        eprintln!("wrote section {id:?} of {}", path.display());
    }
    Ok(())
}
