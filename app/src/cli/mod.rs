//! The `blyand` command line, in the Cosmos habit: one binary is the node and the CLI.

mod amount;
mod dag;
mod gov;
mod gov_file;
mod inference;
mod init;
mod keys;
mod loadgen;
mod output;
mod pol;
mod query;
mod staking;
mod start;
mod testnet;
mod tx;

use clap::{Parser, Subcommand};

pub use amount::parse_amount;
pub use output::Output;

/// Blyan node and command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "blyand",
    version,
    about = "Blyan: a proof-of-stake chain for a community Mixture-of-Experts model"
)]
pub struct Cli {
    /// Output format of commands that print results.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a single-validator node home (CometBFT config + genesis + app config).
    Init(init::InitArgs),
    /// Run the ABCI application for a node home (start CometBFT next to it).
    Start(start::StartArgs),
    /// Manage keys (Ethereum keystore v3 files).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign and broadcast transactions.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Query chain state.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Write the homes of an N-validator network on loopback.
    Testnet(testnet::TestnetArgs),
    /// Send signed transfers at a fixed rate and report throughput and commit latency.
    Loadgen(loadgen::LoadgenArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(a) => init::run(a, cli.output),
        Command::Start(a) => start::run(a),
        Command::Keys(c) => keys::run(c, cli.output),
        Command::Tx(c) => tx::run(c, cli.output),
        Command::Query(c) => query::run(c, cli.output),
        Command::Testnet(a) => testnet::run(a, cli.output),
        Command::Loadgen(a) => loadgen::run(a, cli.output),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
