//! `blyand query pol …` and `blyand tx pol …`: Proof-of-Learning rounds, submissions and
//! trust records.

use blyan_proto::pol::{
    solve_stamp, Attestation, PolParams, RoundInfo, RoundVoting, StampInput, SubmissionInfo,
    SubmitDelta, TrustInfo, TrustLevel,
};
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, Msg};

use super::dag::fetch;
use super::query::QueryOpts;
use super::tx::{sign_and_broadcast_with, TxOpts};
use super::{parse_amount, Output};

/// Proof-of-Learning queries.
#[derive(Debug, clap::Subcommand)]
pub enum PolQuery {
    /// The module's parameters.
    Params {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A round by id.
    Round {
        /// Round id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Every round of a model, oldest first.
    Rounds {
        /// Model id.
        model: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The model's round in progress (null when none).
    Current {
        /// Model id.
        model: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A submission by id.
    Submission {
        /// Submission id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A round's submissions.
    Submissions {
        /// Round id.
        round: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A round's attestations: each validator's flags and losses per submission (phase 1)
    /// and its aggregate (phase 2).
    Attestations {
        /// Round id.
        round: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A round's voting record: the operator → power snapshot taken when it entered phase
    /// 1, each phase's commit window, the commitments and the deviating validators.
    Voting {
        /// Round id.
        round: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The model's loss history: its baseline, then every round with its verdict, the loss
    /// it started from and the loss it reached.
    LossHistory {
        /// Model id.
        model: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A contributor's trust level, streaks and today's submissions.
    Trust {
        /// Account.
        address: Address,
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Runs a Proof-of-Learning query.
pub(super) fn run_query(cmd: PolQuery, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        PolQuery::Params { opts } => fetch::<PolParams>(&opts, &QueryPath::PolParams)?,
        PolQuery::Round { id, opts } => fetch::<RoundInfo>(&opts, &QueryPath::Round(id))?,
        PolQuery::Rounds { model, opts } => {
            fetch::<Vec<RoundInfo>>(&opts, &QueryPath::Rounds(model))?
        }
        PolQuery::Current { model, opts } => {
            fetch::<Option<RoundInfo>>(&opts, &QueryPath::CurrentRound(model))?
        }
        PolQuery::Submission { id, opts } => {
            fetch::<SubmissionInfo>(&opts, &QueryPath::Submission(id))?
        }
        PolQuery::Submissions { round, opts } => {
            fetch::<Vec<SubmissionInfo>>(&opts, &QueryPath::Submissions(round))?
        }
        PolQuery::LossHistory { model, opts } => {
            let rounds = fetch::<Vec<RoundInfo>>(&opts, &QueryPath::Rounds(model.clone()))?;
            let meta = fetch::<blyan_proto::dag::ModelInfo>(&opts, &QueryPath::ModelMeta(model))?;
            let list: Vec<serde_json::Value> = rounds["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "round": r["id"], "status": r["status"], "ended_at": r["ended_at"],
                        "base_loss_micro": r["base_loss_micro"],
                        "new_loss_micro": r["new_loss_micro"],
                        "accepted": r["status"] == "accepted",
                    })
                })
                .collect();
            serde_json::json!({
                "height": rounds["height"],
                "result": {
                    "baseline_loss_micro": meta["result"]["validation"]["baseline_loss_micro"],
                    "current_loss_micro": meta["result"]["loss_micro"],
                    "rounds": list,
                }
            })
        }
        PolQuery::Attestations { round, opts } => {
            fetch::<Vec<Attestation>>(&opts, &QueryPath::Attestations(round))?
        }
        PolQuery::Voting { round, opts } => {
            fetch::<Option<RoundVoting>>(&opts, &QueryPath::Voting(round))?
        }
        PolQuery::Trust { address, opts } => fetch::<TrustInfo>(&opts, &QueryPath::Trust(address))?,
    };
    out.print(&v);
    Ok(())
}

/// Proof-of-Learning transactions.
#[derive(Debug, clap::Subcommand)]
pub enum PolTx {
    /// Submit a delta described by a JSON file in the shape of `MsgSubmitDelta` (`model`,
    /// `base_heads`, `deltas`, `samples`, `dataset_refs`, `manifest_cid`, `manifest_hash`,
    /// `manifest_size`, `bond`, optional `stamp`); `blyan-worker miner` builds these itself.
    /// A newcomer's hashcash stamp is solved here when the file has none.
    SubmitDelta {
        /// The submission JSON file.
        file: std::path::PathBuf,
        /// Bond (overrides the file): base units or `10bly`.
        #[arg(long)]
        bond: Option<String>,
        /// Send without solving a stamp even when one is needed.
        #[arg(long)]
        no_stamp: bool,
        #[command(flatten)]
        opts: TxOpts,
    },
}

/// Runs a Proof-of-Learning transaction.
pub(super) fn run_tx(cmd: PolTx, out: Output) -> anyhow::Result<()> {
    let PolTx::SubmitDelta {
        file,
        bond,
        no_stamp,
        opts,
    } = cmd;
    let text = std::fs::read_to_string(&file)?;
    let mut m: SubmitDelta = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a submission file: {e}", file.display()))?;
    if let Some(b) = bond {
        m.bond = parse_amount(&b)?;
    }
    let result = sign_and_broadcast_with(&opts, |tx| {
        if m.stamp.is_none() && !no_stamp {
            let params: PolParams = tx.rpc.query(&QueryPath::PolParams)?;
            let trust: TrustInfo = tx.rpc.query(&QueryPath::Trust(tx.signer))?;
            if trust.level == TrustLevel::Newbie && params.hashcash_bits > 0 {
                m.stamp = Some(solve_stamp(
                    &StampInput {
                        chain_id: tx.chain_id,
                        signer: &tx.signer,
                        tx_nonce: tx.nonce,
                        manifest_hash: &m.manifest_hash,
                    },
                    params.hashcash_bits,
                ));
            }
        }
        Ok(vec![Msg::Pol(blyan_proto::pol::PolMsg::SubmitDelta(
            m.clone(),
        ))])
    })?;
    out.print(&result);
    if result["code"].as_u64().unwrap_or(0) != 0 {
        anyhow::bail!("transaction failed");
    }
    Ok(())
}
