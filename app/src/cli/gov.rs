//! `blyand query gov …` and `blyand tx gov …`: proposals, deposits, votes, upgrade plans.

use blyan_proto::gov::{GovMsg, GovParams, ProposalInfo, TallyResult, VoteInfo, VoteOption};
use blyan_proto::query::QueryPath;
use blyan_proto::upgrade::{AppliedUpgrade, UpgradePlan};
use blyan_proto::Msg;

use super::dag::fetch;
use super::query::QueryOpts;
use super::tx::{sign_and_broadcast, TxOpts};
use super::{parse_amount, Output};

/// Governance queries.
#[derive(Debug, clap::Subcommand)]
pub enum GovQuery {
    /// The module's parameters (deposit, periods, quorum, threshold, veto).
    Params {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Every proposal.
    Proposals {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A proposal.
    Proposal {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The votes cast on a proposal.
    Votes {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A proposal's tally: final once counted, running during its voting period.
    Tally {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The community pool's balance.
    CommunityPool {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The pending software upgrade plan (`null` when none).
    UpgradePlan {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The software upgrades applied (name, height, app version); with a name, that one.
    UpgradesApplied {
        /// One upgrade's name.
        name: Option<String>,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The application version the state is at (1 plus one per applied upgrade).
    AppVersion {
        #[command(flatten)]
        opts: QueryOpts,
    },
}

/// Runs a governance query.
pub(super) fn run_query(cmd: GovQuery, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        GovQuery::Params { opts } => fetch::<GovParams>(&opts, &QueryPath::GovParams)?,
        GovQuery::Proposals { opts } => fetch::<Vec<ProposalInfo>>(&opts, &QueryPath::Proposals)?,
        GovQuery::Proposal { id, opts } => fetch::<ProposalInfo>(&opts, &QueryPath::Proposal(id))?,
        GovQuery::Votes { id, opts } => fetch::<Vec<VoteInfo>>(&opts, &QueryPath::Votes(id))?,
        GovQuery::Tally { id, opts } => fetch::<TallyResult>(&opts, &QueryPath::Tally(id))?,
        GovQuery::UpgradePlan { opts } => {
            fetch::<Option<UpgradePlan>>(&opts, &QueryPath::UpgradePlan)?
        }
        GovQuery::UpgradesApplied {
            name: Some(name),
            opts,
        } => fetch::<AppliedUpgrade>(&opts, &QueryPath::UpgradeApplied(name))?,
        GovQuery::UpgradesApplied { name: None, opts } => {
            fetch::<Vec<AppliedUpgrade>>(&opts, &QueryPath::UpgradesApplied)?
        }
        GovQuery::AppVersion { opts } => fetch::<u64>(&opts, &QueryPath::AppVersion)?,
        GovQuery::CommunityPool { opts } => {
            let r = blyan_client::RpcClient::new(&opts.node)
                .at_height(opts.height)
                .abci_query(&QueryPath::CommunityPool, false)?;
            if r.code != 0 {
                anyhow::bail!("query failed with code {}: {}", r.code, r.log);
            }
            let b = <u128 as parity_scale_codec::Decode>::decode(&mut r.value.as_slice())?;
            serde_json::json!({"height": r.height, "result": b.to_string()})
        }
    };
    out.print(&v);
    Ok(())
}

/// Governance transactions.
#[derive(Debug, clap::Subcommand)]
pub enum GovTx {
    /// Submit a proposal from a JSON file (see the README's governance section).
    SubmitProposal {
        /// The proposal file.
        file: std::path::PathBuf,
        /// Initial deposit, overriding the file's `deposit`: base units or `10bly`.
        #[arg(long)]
        deposit: Option<String>,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Add to a proposal's deposit.
    Deposit {
        /// Proposal id.
        id: u64,
        /// Amount: base units or `10bly`.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Vote on a proposal in its voting period (a later vote replaces an earlier one).
    Vote {
        /// Proposal id.
        id: u64,
        /// yes, no, abstain or veto.
        option: VoteOption,
        #[command(flatten)]
        opts: TxOpts,
    },
    /// Give to the community pool.
    FundCommunityPool {
        /// Amount: base units or `10bly`.
        amount: String,
        #[command(flatten)]
        opts: TxOpts,
    },
}

/// Runs a governance transaction.
pub(super) fn run_tx(cmd: GovTx, out: Output) -> anyhow::Result<()> {
    let (msg, opts) = match cmd {
        GovTx::SubmitProposal {
            file,
            deposit,
            opts,
        } => {
            let mut f = super::gov_file::read(&file, &opts.node)?;
            if let Some(d) = deposit {
                f.deposit = parse_amount(&d)?;
            }
            (
                GovMsg::SubmitProposal {
                    title: f.title,
                    description: f.description,
                    content: f.content,
                    initial_deposit: f.deposit,
                },
                opts,
            )
        }
        GovTx::Deposit { id, amount, opts } => (
            GovMsg::Deposit {
                proposal_id: id,
                amount: parse_amount(&amount)?,
            },
            opts,
        ),
        GovTx::Vote { id, option, opts } => (
            GovMsg::Vote {
                proposal_id: id,
                option,
            },
            opts,
        ),
        GovTx::FundCommunityPool { amount, opts } => (
            GovMsg::FundCommunityPool {
                amount: parse_amount(&amount)?,
            },
            opts,
        ),
    };
    let result = sign_and_broadcast(&opts, vec![Msg::Gov(msg)])?;
    out.print(&result);
    if result["code"].as_u64().unwrap_or(0) != 0 {
        anyhow::bail!("transaction failed");
    }
    Ok(())
}
