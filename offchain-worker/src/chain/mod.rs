//! The chain as a worker sees it: the CometBFT RPC client and transaction sender of
//! `blyan-client` ([`RpcClient`], [`TxSender`]) with the model queries a worker needs
//! ([`DagQueries`]), settling broadcast transactions by nonce ([`Settle`]), [`ChainSource`] (a model's manifest built from the chain's heads, its
//! blocks fetched from Kubo by the CIDs the chain records) and [`genesis_model`] (the JSON a
//! genesis or `blyand tx dag publish-model` takes, built from a model directory).
//!
//! Only the wire types of `blyan-proto` are used; the worker never links the chain's code.

mod follow;
mod genesis;
pub mod settle;
pub mod submission;

pub use blyan_client::{ClientError as ChainError, Committed, RpcClient, Sent, TxSender};
pub use follow::BlockFollower;
pub use genesis::{block_type, genesis_model, validation_hash, GenesisModelJson};
pub use settle::{Resolution, Settle, TxLookup};

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use blyan_proto::dag::{ModelInfo, ParamBlock, ValidationSet};
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;

use crate::ipfs::{Cid, KuboClient, KuboSource};
use crate::model::{MetaConfig, Model};
use crate::source::{BlockEntry, BlockSource, ModelManifest, SourceError};
use crate::tensorblock::PayloadHash;

/// Largest validation file fetched from Kubo.
pub const MAX_VALIDATION_BYTES: u64 = 1 << 30;

/// Decodes a `/dag/meta/{model}` answer.
pub fn decode_model_info(bytes: &[u8]) -> Result<ModelInfo, String> {
    decode_all(bytes)
}

/// Decodes a `/dag/head/{model}/{name}` answer.
pub fn decode_param_block(bytes: &[u8]) -> Result<ParamBlock, String> {
    decode_all(bytes)
}

fn decode_all<T: Decode>(bytes: &[u8]) -> Result<T, String> {
    blyan_client::rpc::decode_exact(bytes)
}

/// Builds a [`ModelManifest`] from the chain's record of a model (`info`) and the head of
/// each of its blocks (`head(name)`): the architecture is `info.meta_json` (checked against
/// `info.arch`), and each block's payload hash, size and CID come from its head.
pub fn manifest_from_chain(
    info: &ModelInfo,
    mut head: impl FnMut(&str) -> Result<ParamBlock, SourceError>,
) -> Result<ModelManifest, SourceError> {
    let meta: MetaConfig = serde_json::from_str(&info.meta_json)
        .map_err(|e| SourceError::Manifest(format!("model {}: meta_json: {e}", info.id)))?;
    if meta.arch != info.arch.arch
        || meta.n_layers as u64 != u64::from(info.arch.n_layers)
        || meta.n_experts as u64 != u64::from(info.arch.n_experts)
    {
        return Err(SourceError::Manifest(format!(
            "model {}: meta_json ({} / {} layers / {} experts) does not match the recorded arch ({} / {} / {})",
            info.id, meta.arch, meta.n_layers, meta.n_experts,
            info.arch.arch, info.arch.n_layers, info.arch.n_experts
        )));
    }
    meta.validate()?;
    let mut blocks = Vec::new();
    for name in Model::block_names(&meta) {
        let name = name.to_string();
        let h = head(&name)?;
        if h.name != name || h.model != info.id {
            return Err(SourceError::Manifest(format!(
                "block {name}: the chain's head is {}/{}",
                h.model, h.name
            )));
        }
        blocks.push(BlockEntry {
            file: format!("{name}.blyt"),
            name,
            payload_hash: PayloadHash(h.payload_hash),
            size: h.size,
            cid: Some(h.cid),
        });
    }
    Ok(ModelManifest { meta, blocks })
}

/// A [`BlockSource`] backed by the chain: the manifest is built from `/dag/meta/{model}`
/// and `/dag/head/{model}/{name}` when the source is opened, and every block is fetched
/// from Kubo by the CID the chain records (through [`KuboSource`], into a cache
/// directory). [`crate::source::load_model`] verifies each block against the payload hash
/// the chain records, so a wrong CID on chain, a flipped byte or a truncated file fails
/// naming the block.
#[derive(Debug, Clone)]
pub struct ChainSource {
    rpc_url: String,
    model_id: String,
    info: ModelInfo,
    kubo: KuboSource,
}

impl ChainSource {
    /// Queries the chain at `rpc_url` for `model_id` and its heads; blocks are then fetched
    /// through `kubo` into `cache`.
    pub fn open(
        rpc_url: &str,
        model_id: &str,
        kubo: KuboClient,
        cache: impl Into<PathBuf>,
    ) -> Result<Self, SourceError> {
        let rpc = RpcClient::new(rpc_url);
        let fetch_err = |block: &str, e: ChainError| SourceError::Fetch {
            block: block.to_string(),
            source: Box::new(e),
        };
        let info = rpc
            .model_info(model_id)
            .map_err(|e| SourceError::Manifest(e.to_string()))?;
        let manifest = manifest_from_chain(&info, |name| {
            rpc.head(model_id, name).map_err(|e| fetch_err(name, e))
        })?;
        Ok(Self {
            rpc_url: rpc.base().to_string(),
            model_id: model_id.to_string(),
            info,
            kubo: KuboSource::new(kubo, manifest, cache),
        })
    }

    /// The RPC endpoint.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// The model id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The chain's record of the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The model's public validation set, if it has one.
    pub fn validation(&self) -> Option<&ValidationSet> {
        self.info.validation.as_ref()
    }

    /// The Kubo-backed source of the blocks.
    pub fn kubo(&self) -> &KuboSource {
        &self.kubo
    }

    /// Fetches the validation set by its CID into `dir/{cid}.jsonl` and checks its
    /// [`validation_hash`] against the chain's; returns the file.
    pub fn fetch_validation(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let Some(v) = self.validation() else {
            anyhow::bail!("model {} has no validation set on chain", self.model_id);
        };
        fetch_validation(self.kubo.client(), v, dir)
    }
}

/// Fetches `v` by CID into `dir/{cid}.jsonl` (reusing a copy there whose hash matches) and
/// checks its [`validation_hash`]; returns the file.
pub fn fetch_validation(
    client: &KuboClient,
    v: &ValidationSet,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let cid: Cid = v
        .cid
        .parse()
        .with_context(|| format!("validation set CID {:?}", v.cid))?;
    let path = dir.join(format!("{cid}.jsonl"));
    if let Ok(bytes) = fs::read(&path) {
        if validation_hash(&bytes) == v.hash {
            return Ok(path);
        }
    }
    fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let part = dir.join(format!("{cid}.jsonl.part{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut out = BufWriter::new(File::create(&part)?);
        client.cat_to(&cid, &mut out, MAX_VALIDATION_BYTES)?;
        out.flush()?;
        drop(out);
        let got = validation_hash(&fs::read(&part)?);
        if got != v.hash {
            anyhow::bail!(
                "validation set {cid}: sha3-256 {} is not the chain's {}",
                hex::encode(got),
                hex::encode(v.hash)
            );
        }
        fs::rename(&part, &path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result?;
    Ok(path)
}

impl BlockSource for ChainSource {
    fn manifest(&self) -> Result<ModelManifest, SourceError> {
        self.kubo.manifest()
    }

    fn fetch(&self, block: &BlockEntry) -> Result<PathBuf, SourceError> {
        self.kubo.fetch(block)
    }
}

/// The DAG queries a worker makes, on [`RpcClient`].
pub trait DagQueries {
    /// `/dag/meta/{model}`.
    fn model_info(&self, model: &str) -> Result<ModelInfo, ChainError>;
    /// `/dag/head/{model}/{name}`.
    fn head(&self, model: &str, name: &str) -> Result<ParamBlock, ChainError>;
}

impl DagQueries for RpcClient {
    fn model_info(&self, model: &str) -> Result<ModelInfo, ChainError> {
        self.query(&QueryPath::ModelMeta(model.to_string()))
    }

    fn head(&self, model: &str, name: &str) -> Result<ParamBlock, ChainError> {
        self.query(&QueryPath::Head(model.to_string(), name.to_string()))
    }
}

#[cfg(test)]
mod tests;
