//! `blyand`: the Blyan node and CLI.

use clap::Parser;

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLYAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = blyan_app::cli::Cli::parse();
    if let Err(e) = blyan_app::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
