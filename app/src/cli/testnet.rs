//! `blyand testnet`: homes of an N-validator network on loopback.

use std::path::PathBuf;

use blyan_genesis::{generate, LocalnetSpec};

use super::Output;

/// Arguments of `blyand testnet`.
#[derive(Debug, clap::Args)]
pub struct TestnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Chain id.
    #[arg(long, default_value = "blyan-localnet")]
    pub chain_id: String,
    /// Directory to write `node0..nodeN-1` and `keys.json` into (must not exist).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// First port; node i uses ports base+10i .. base+10i+4.
    #[arg(long, default_value_t = 26600)]
    pub base_port: u16,
    /// The cometbft binary (`localnet/install.sh` puts it in `.bin/`).
    #[arg(long, default_value = ".bin/cometbft")]
    pub cometbft_bin: PathBuf,
    /// Funded development accounts.
    #[arg(long, default_value_t = 4)]
    pub dev_accounts: usize,
    /// CometBFT `timeout_commit`, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub timeout_commit_ms: u64,
    /// A model to publish at genesis (`blyan-worker model publish-genesis` writes it);
    /// repeatable. Dev account 0 becomes its owner.
    #[arg(long)]
    pub model_file: Vec<PathBuf>,
}

/// Writes the network.
pub(super) fn run(a: TestnetArgs, out: Output) -> anyhow::Result<()> {
    let mut spec = LocalnetSpec::new(a.validators, &a.chain_id, a.out_dir.clone(), a.cometbft_bin);
    spec.base_port = a.base_port;
    spec.dev_accounts = a.dev_accounts;
    spec.timeout_commit_ms = a.timeout_commit_ms;
    spec.blyand_bin_hint = std::env::current_exe().ok();
    for f in &a.model_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", f.display()))?;
        let model: blyan_genesis::GenesisModel = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a genesis model: {e}", f.display()))?;
        spec.models.push(model);
    }
    let layout = generate(&spec)?;
    let keys = blyan_genesis::LocalnetLayout::keys_path(&a.out_dir);
    out.print(&serde_json::json!({
        "chain_id": layout.chain_id,
        "validators": layout.nodes.len(),
        "keys": keys.display().to_string(),
        "rpc": layout.nodes.iter().map(|n| n.rpc_url.clone()).collect::<Vec<_>>(),
    }));
    Ok(())
}
