//! `blyand tx staking …` and `blyand query staking …`.

use std::path::PathBuf;

use anyhow::Context;
use blyan_proto::query::{
    DelegationInfo, PoolInfo, QueryPath, RewardsInfo, UnbondingInfo, ValidatorInfo,
};
use blyan_proto::{Address, Msg, StakingMsg};
use parity_scale_codec::Decode;
use serde_json::json;

use super::query::QueryOpts;
use super::tx::{sign_and_broadcast, TxOpts};
use super::{parse_amount, Output};
use blyan_client::RpcClient;

/// Staking transactions.
#[derive(Debug, clap::Subcommand)]
pub enum StakingTx {
    /// Become a validator: bond a self-stake behind a CometBFT consensus key.
    CreateValidator {
        /// The consensus key: a node home (reads `config/priv_validator_key.json`) ...
        #[arg(long, conflicts_with = "consensus_key")]
        node_home: Option<PathBuf>,
        /// ... or the ed25519 public key as hex or base64.
        #[arg(long)]
        consensus_key: Option<String>,
        /// Display name.
        #[arg(long)]
        moniker: String,
        /// Commission on rewards, basis points (500 = 5%).
        #[arg(long, default_value_t = 500)]
        commission_bps: u32,
        /// Self-stake: base units or `12bly`.
        #[arg(long)]
        self_stake: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Change your validator's moniker or commission.
    EditValidator {
        /// New display name.
        #[arg(long)]
        moniker: Option<String>,
        /// New commission, basis points.
        #[arg(long)]
        commission_bps: Option<u32>,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Bond stake to a validator.
    Delegate {
        /// The validator's operator address.
        validator: Address,
        /// Amount: base units or `12bly`.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Start unbonding stake (paid out after the unbonding period).
    Undelegate {
        /// The validator's operator address.
        validator: Address,
        /// Amount of tokens: base units or `12bly`.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Move bonded stake from one validator to another.
    Redelegate {
        /// Source validator.
        src_validator: Address,
        /// Destination validator.
        dst_validator: Address,
        /// Amount: base units or `12bly`.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Bring your jailed validator back after its jail time.
    Unjail {
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Withdraw rewards (and commission, for the operator) from a validator.
    WithdrawRewards {
        /// The validator's operator address.
        validator: Address,
        #[command(flatten)]
        opts: TxOpts,
    },
}

/// Reads an ed25519 public key from a node home or a hex/base64 string.
fn consensus_key(home: Option<&PathBuf>, key: Option<&str>) -> anyhow::Result<[u8; 32]> {
    use base64::Engine as _;
    let text = match (home, key) {
        (Some(h), None) => {
            let path = h.join("config").join("priv_validator_key.json");
            let v: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )?;
            v["pub_key"]["value"]
                .as_str()
                .context("priv_validator_key.json has no pub_key.value")?
                .to_string()
        }
        (None, Some(k)) => k.to_string(),
        _ => anyhow::bail!("give --node-home or --consensus-key"),
    };
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&text))
        .context("the consensus key is neither hex nor base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("an ed25519 public key is 32 bytes"))
}

/// Runs a staking transaction.
pub(super) fn run_tx(cmd: StakingTx, out: Output) -> anyhow::Result<()> {
    let (msg, opts) = match cmd {
        StakingTx::CreateValidator {
            node_home,
            consensus_key: key,
            moniker,
            commission_bps,
            self_stake,
            opts,
        } => (
            StakingMsg::CreateValidator {
                consensus_key: consensus_key(node_home.as_ref(), key.as_deref())?,
                moniker,
                commission_bps,
                self_stake: parse_amount(&self_stake)?,
            },
            opts,
        ),
        StakingTx::EditValidator {
            moniker,
            commission_bps,
            opts,
        } => (
            StakingMsg::EditValidator {
                moniker,
                commission_bps,
            },
            opts,
        ),
        StakingTx::Delegate {
            validator,
            amount,
            opts,
        } => (
            StakingMsg::Delegate {
                validator,
                amount: parse_amount(&amount)?,
            },
            opts,
        ),
        StakingTx::Undelegate {
            validator,
            amount,
            opts,
        } => (
            StakingMsg::Undelegate {
                validator,
                amount: parse_amount(&amount)?,
            },
            opts,
        ),
        StakingTx::Redelegate {
            src_validator,
            dst_validator,
            amount,
            opts,
        } => (
            StakingMsg::Redelegate {
                from: src_validator,
                to: dst_validator,
                amount: parse_amount(&amount)?,
            },
            opts,
        ),
        StakingTx::Unjail { opts } => (StakingMsg::Unjail, opts),
        StakingTx::WithdrawRewards { validator, opts } => {
            (StakingMsg::WithdrawRewards { validator }, opts)
        }
    };
    let result = sign_and_broadcast(&opts, vec![Msg::Staking(msg)])?;
    out.print(&result);
    if result["code"].as_u64().unwrap_or(0) != 0 {
        anyhow::bail!("transaction failed");
    }
    Ok(())
}

/// Staking queries.
#[derive(Debug, clap::Subcommand)]
pub enum StakingQuery {
    /// Every validator.
    Validators {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// One validator by operator address.
    Validator {
        /// Operator address.
        operator: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A delegator's delegations.
    Delegations {
        /// Delegator address.
        delegator: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A delegator's unbonding entries.
    Unbonding {
        /// Delegator address.
        delegator: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Rewards a delegator can withdraw from a validator.
    Rewards {
        /// Delegator address.
        delegator: Address,
        /// Validator operator address.
        validator: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Staking parameters.
    Params {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Bonded, unbonding and reward pools, and the emission reserve.
    Pool {
        #[command(flatten)]
        opts: QueryOpts,
    },
}

fn fetch<T: Decode + serde::Serialize>(
    opts: &QueryOpts,
    path: &QueryPath,
) -> anyhow::Result<serde_json::Value> {
    let rpc = RpcClient::new(&opts.node);
    let r = rpc.at_height(opts.height).abci_query(path, false)?;
    if r.code != 0 {
        anyhow::bail!("query {path} failed with code {}: {}", r.code, r.log);
    }
    let v = T::decode(&mut r.value.as_slice()).map_err(|e| anyhow::anyhow!("bad value: {e}"))?;
    Ok(json!({"height": r.height, "result": serde_json::to_value(&v)?}))
}

/// Runs a staking query.
pub(super) fn run_query(cmd: StakingQuery, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        StakingQuery::Validators { opts } => {
            fetch::<Vec<ValidatorInfo>>(&opts, &QueryPath::Validators)?
        }
        StakingQuery::Validator { operator, opts } => {
            fetch::<ValidatorInfo>(&opts, &QueryPath::Validator(operator))?
        }
        StakingQuery::Delegations { delegator, opts } => {
            fetch::<Vec<DelegationInfo>>(&opts, &QueryPath::Delegations(delegator))?
        }
        StakingQuery::Unbonding { delegator, opts } => {
            fetch::<Vec<UnbondingInfo>>(&opts, &QueryPath::Unbonding(delegator))?
        }
        StakingQuery::Rewards {
            delegator,
            validator,
            opts,
        } => fetch::<RewardsInfo>(&opts, &QueryPath::Rewards(delegator, validator))?,
        StakingQuery::Params { opts } => {
            fetch::<blyan_proto::params::StakingParams>(&opts, &QueryPath::StakingParams)?
        }
        StakingQuery::Pool { opts } => fetch::<PoolInfo>(&opts, &QueryPath::StakingPool)?,
    };
    out.print(&v);
    Ok(())
}
