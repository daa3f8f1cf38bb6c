//! `mastctl`: Mast's command-line tool.

use std::process::ExitCode;

mod analyze;
mod cli;
mod demo;
mod output;
mod proxy;
mod token;
mod validate;

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Analyze(args) => analyze::run(&args),
        cli::Command::Validate(args) => validate::run(&args),
        cli::Command::ProxyStatus(args) => proxy::status(&args),
        cli::Command::ProxyConfig(args) => proxy::config(&args),
        cli::Command::Workload(w) => match w.command {
            cli::WorkloadCommand::Token(args) => token::run(&args),
        },
        cli::Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
