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
    /// Every benchmark above with the flags docs/benchmarks.md shows, one after the other
    /// (with `--write`, every section is replaced).
    All,
}

/// The flags `All` runs each benchmark with (those of docs/benchmarks.md's commands).
const ALL: &[(&str, &[&str])] = &[
    ("analyze", &["--objects", "10000", "--runs", "3"]),
    (
        "control-plane",
        &["--proxies", "2000", "--services", "1000", "--changes", "3"],
    ),
    (
        "sidecar",
        &[
            "--rate",
            "1000",
            "--connections",
            "16",
            "--body",
            "1024",
            "--duration",
            "20",
        ],
    ),
];

fn run(bench: &Bench) -> Result<Vec<(&'static str, String)>> {
    Ok(match bench {
        Bench::Analyze(a) => vec![("analyze", analyze::run(a)?)],
        Bench::ControlPlane(a) => vec![("control-plane", control_plane::run(a)?)],
        Bench::Sidecar(a) => vec![("sidecar", sidecar::run(a)?)],
        Bench::All => {
            let mut out = Vec::new();
            for (name, flags) in ALL {
                let args = std::iter::once("mast-bench")
                    .chain(std::iter::once(*name))
                    .chain(flags.iter().copied());
                let one = Cli::try_parse_from(args)?;
                out.extend(run(&one.bench)?);
            }
            out
        }
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    for (id, section) in run(&cli.bench)? {
        println!("{section}");
        if let Some(path) = &cli.write {
            report::replace_section(path, id, &section)?;
            eprintln!("wrote section {id:?} of {}", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_flags_parse() {
        for (name, flags) in ALL {
            let args = ["mast-bench", name]
                .into_iter()
                .chain(flags.iter().copied());
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!matches!(cli.bench, Bench::All), "{name}");
        }
    }
}
