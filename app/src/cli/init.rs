//! `blyand init`: a single-validator node home.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use base64::Engine as _;
use blyan_genesis::localnet::localnet_app_state;
use blyan_genesis::{GenesisDoc, GenesisValidator};
use serde_json::{json, Value};

use super::keys::password;
use super::keys::KeyringArgs;
use super::Output;
use crate::config::AppConfig;

/// Arguments of `blyand init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The node home to create.
    #[arg(long)]
    pub home: PathBuf,
    /// Chain id.
    #[arg(long)]
    pub chain_id: String,
    /// Validator name.
    #[arg(long, default_value = "validator")]
    pub moniker: String,
    /// Keyring name of the operator key (created if it does not exist).
    #[arg(long, default_value = "operator")]
    pub operator_key: String,
    /// The cometbft binary.
    #[arg(long, default_value = ".bin/cometbft")]
    pub cometbft_bin: PathBuf,
    #[command(flatten)]
    pub ring: KeyringArgs,
}

/// Creates the home: `cometbft init`, then the genesis app_state (default tokenomics,
/// this node as the only validator, operated by the named key) and `blyand/app.toml`.
pub(super) fn run(a: InitArgs, out: Output) -> anyhow::Result<()> {
    if a.home.join("config").join("genesis.json").exists() {
        bail!("{} already holds a node", a.home.display());
    }
    let status = Command::new(&a.cometbft_bin)
        .args(["init", "--home"])
        .arg(&a.home)
        .output()
        .with_context(|| {
            format!(
                "running {} (install it with localnet/install.sh)",
                a.cometbft_bin.display()
            )
        })?;
    if !status.status.success() {
        bail!(
            "cometbft init failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    let ring = a.ring.open()?;
    let operator = match ring.address(&a.operator_key) {
        Ok(addr) => addr,
        Err(_) => ring.add(
            &a.operator_key,
            &password("Password for the new operator key: ")?,
        )?,
    };
    let pv: Value = serde_json::from_str(&std::fs::read_to_string(
        a.home.join("config").join("priv_validator_key.json"),
    )?)?;
    let pub_key = pv["pub_key"]["value"]
        .as_str()
        .context("priv_validator_key.json has no pub_key")?
        .to_string();
    base64::engine::general_purpose::STANDARD
        .decode(&pub_key)
        .context("validator key is not base64")?;
    let validator = GenesisValidator {
        name: a.moniker.clone(),
        operator,
        consensus_pub_key: pub_key,
        power: 10,
    };
    let state = localnet_app_state(&a.chain_id, vec![validator.clone()], &[])?;
    let path = a.home.join("config").join("genesis.json");
    let mut doc = GenesisDoc::read(&path)?;
    doc.set_chain_id(&a.chain_id);
    doc.set_validators(&[validator])?;
    doc.set_app_state(&state)?;
    doc.set_consensus_params()?;
    doc.check()?;
    doc.write(&path)?;
    AppConfig::default_for(&a.home).save(&a.home)?;
    out.print(&json!({
        "home": a.home.display().to_string(),
        "chain_id": a.chain_id,
        "operator": operator.to_string(),
        "next": format!("blyand start --home {0} & cometbft start --home {0}", a.home.display()),
    }));
    Ok(())
}
