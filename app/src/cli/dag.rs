//! `blyand query dag …`: models and parameter blocks.

use blyan_proto::dag::{BlockId, ModelInfo, ParamBlock};
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;
use serde_json::json;

use super::query::QueryOpts;
use super::tx::{sign_and_broadcast, TxOpts};
use super::{parse_amount, Output};
use blyan_client::RpcClient;

/// DAG queries.
#[derive(Debug, clap::Subcommand)]
pub enum DagQuery {
    /// Every model.
    Models {
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A model's architecture and meta block.
    Meta {
        /// Model id.
        model: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// The head (current version) of a block name.
    Head {
        /// Model id.
        model: String,
        /// Block name (e.g. `layer0.expert1`).
        name: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A block by id (hex).
    Block {
        /// Block id.
        id: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Every version of a block name, oldest first.
    History {
        /// Model id.
        model: String,
        /// Block name.
        name: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// Blocks that depend on a block.
    Children {
        /// Block id (hex).
        id: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
    /// A model's block ids, dependencies first.
    Topo {
        /// Model id.
        model: String,
        #[command(flatten)]
        opts: QueryOpts,
    },
}

fn id32(s: &str) -> anyhow::Result<[u8; 32]> {
    let b = hex::decode(s.trim_start_matches("0x"))?;
    b.try_into()
        .map_err(|_| anyhow::anyhow!("a block id is 32 bytes of hex"))
}

/// Runs a query and prints its value as JSON with the height it was read at.
pub(super) fn fetch<T: Decode + serde::Serialize>(
    opts: &QueryOpts,
    path: &QueryPath,
) -> anyhow::Result<serde_json::Value> {
    let r = RpcClient::new(&opts.node)
        .at_height(opts.height)
        .abci_query(path, false)?;
    if r.code != 0 {
        anyhow::bail!("query {path} failed with code {}: {}", r.code, r.log);
    }
    let v = T::decode(&mut r.value.as_slice()).map_err(|e| anyhow::anyhow!("bad value: {e}"))?;
    Ok(json!({"height": r.height, "result": serde_json::to_value(&v)?}))
}

fn ids(v: serde_json::Value) -> serde_json::Value {
    // Block ids print as hex.
    match v["result"].as_array() {
        Some(list) => {
            let hexes: Vec<String> = list
                .iter()
                .filter_map(|x| serde_json::from_value::<BlockId>(x.clone()).ok())
                .map(hex::encode)
                .collect();
            json!({"height": v["height"], "result": hexes})
        }
        None => v,
    }
}

/// Runs a DAG query.
pub(super) fn run_query(cmd: DagQuery, out: Output) -> anyhow::Result<()> {
    let v = match cmd {
        DagQuery::Models { opts } => fetch::<Vec<ModelInfo>>(&opts, &QueryPath::Models)?,
        DagQuery::Meta { model, opts } => fetch::<ModelInfo>(&opts, &QueryPath::ModelMeta(model))?,
        DagQuery::Head { model, name, opts } => {
            fetch::<ParamBlock>(&opts, &QueryPath::Head(model, name))?
        }
        DagQuery::Block { id, opts } => fetch::<ParamBlock>(&opts, &QueryPath::Block(id32(&id)?))?,
        DagQuery::History { model, name, opts } => {
            fetch::<Vec<ParamBlock>>(&opts, &QueryPath::History(model, name))?
        }
        DagQuery::Children { id, opts } => ids(fetch::<Vec<BlockId>>(
            &opts,
            &QueryPath::Children(id32(&id)?),
        )?),
        DagQuery::Topo { model, opts } => {
            ids(fetch::<Vec<BlockId>>(&opts, &QueryPath::Topo(model))?)
        }
    };
    out.print(&v);
    Ok(())
}

/// DAG transactions.
#[derive(Debug, clap::Subcommand)]
pub enum DagTx {
    /// Publish a model (or new versions of its blocks) from a JSON file with `id`, `arch`,
    /// `meta_json` and `blocks` (the shape of a genesis model; `blyan-worker` writes it).
    PublishModel {
        /// The model JSON file.
        file: std::path::PathBuf,
        /// Deposit locked with a new model: base units or `100bly`.
        #[arg(long, default_value = "0")]
        deposit: String,
        #[command(flatten)]
        opts: TxOpts,
    },
}

/// Runs a DAG transaction.
pub(super) fn run_tx(cmd: DagTx, out: Output) -> anyhow::Result<()> {
    let DagTx::PublishModel {
        file,
        deposit,
        opts,
    } = cmd;
    let text = std::fs::read_to_string(&file)?;
    let m: blyan_genesis::GenesisModel = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a model file: {e}", file.display()))?;
    let msg = blyan_proto::DagMsg::PublishModel(blyan_proto::dag::PublishModel {
        model_id: m.id,
        arch: m.arch,
        meta_json: m.meta_json,
        blocks: m.blocks,
        deposit: parse_amount(&deposit)?,
    });
    let result = sign_and_broadcast(&opts, vec![blyan_proto::Msg::Dag(msg)])?;
    out.print(&result);
    if result["code"].as_u64().unwrap_or(0) != 0 {
        anyhow::bail!("transaction failed");
    }
    Ok(())
}
