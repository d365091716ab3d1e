//! `blyand query dag …`: models and parameter blocks.

use blyan_proto::dag::{BlockId, ModelInfo, ParamBlock};
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;
use serde_json::json;

use super::query::QueryOpts;
use super::Output;
use crate::rpc::RpcClient;

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

fn fetch<T: Decode + serde::Serialize>(
    opts: &QueryOpts,
    path: &QueryPath,
) -> anyhow::Result<serde_json::Value> {
    let r = RpcClient::new(&opts.node).query(path, opts.height, false)?;
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
pub fn run_query(cmd: DagQuery, out: Output) -> anyhow::Result<()> {
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
