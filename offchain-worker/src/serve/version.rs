//! Model versions: what the gateway serves, where it comes from, and the atomic swap.
//!
//! A [`ModelOrigin`] (a model directory, or the chain's heads plus Kubo) yields a
//! [`Snapshot`]: the manifest of the current heads and the id of each head. A
//! [`ModelVersion`] is built from a snapshot by reading and verifying **every** block against
//! its payload hash; the dense blocks (embeddings, backbones, routers, head) stay resident,
//! while each expert keeps only an open handle on its verified file and is materialised on
//! demand through the shared [`ExpertCache`] (re-verified on every load). Because the handle
//! is held, a version whose files were replaced on disk (by a rename, as the TensorBlock
//! writer and the Kubo cache do) can still load its own experts until the last stream using
//! it ends. [`ModelHandle`] holds the current version behind an `Arc` swap.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor};
use sha3::{Digest, Sha3_256};

use super::cache::ExpertCache;
use crate::chain::{manifest_from_chain, DagQueries, RpcClient};
use crate::ipfs::{KuboClient, KuboSource};
use crate::model::{
    BlockKind, BlockName, ExpertProvider, ExpertWeights, Model, ModelError, Result as ModelResult,
};
use crate::source::{
    check_manifest, BlockEntry, BlockSource, DirSource, ModelManifest, SourceError,
};
use crate::tensorblock::TensorBlock;

/// Where the served model comes from.
#[derive(Debug, Clone)]
pub enum ModelOrigin {
    /// A model directory (`meta.json` + `{block}.blyt`); a changed `meta.json` is a new
    /// version. Head ids are the blocks' payload hashes.
    Dir(PathBuf),
    /// The chain's heads of `model_id` (CometBFT RPC `rpc`), blocks fetched by CID from Kubo
    /// into `cache_dir`. Head ids are the chain's block ids.
    Chain {
        /// CometBFT RPC endpoint.
        rpc: String,
        /// Model id on chain.
        model_id: String,
        /// Kubo client.
        kubo: KuboClient,
        /// Where fetched blocks are kept.
        cache_dir: PathBuf,
    },
}

/// One block's head as served: its name, id (hex) and, on chain, its SemVer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeadRef {
    /// Block name.
    pub block: String,
    /// Head id: the chain's block id, or the payload hash for a directory.
    pub id: String,
    /// The block's version on chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The current heads of a model and how to fetch their blocks.
pub struct Snapshot {
    /// The manifest (architecture, payload hashes, CIDs).
    pub manifest: ModelManifest,
    /// Head of every block, in manifest order.
    pub heads: Vec<HeadRef>,
    /// The recorded validation loss of these heads, micro-nats (chain only).
    pub loss_micro: Option<u64>,
    /// Fetches the blocks.
    pub source: Box<dyn BlockSource + Send + Sync>,
}

impl ModelOrigin {
    /// Reads the current heads (no block is fetched yet).
    pub fn snapshot(&self) -> Result<Snapshot, SourceError> {
        match self {
            ModelOrigin::Dir(dir) => {
                let src = DirSource::new(dir);
                let manifest = src.manifest()?;
                let heads = manifest
                    .blocks
                    .iter()
                    .map(|b| HeadRef {
                        block: b.name.clone(),
                        id: b.payload_hash.to_string(),
                        version: None,
                    })
                    .collect();
                Ok(Snapshot {
                    manifest,
                    heads,
                    loss_micro: None,
                    source: Box::new(src),
                })
            }
            ModelOrigin::Chain {
                rpc,
                model_id,
                kubo,
                cache_dir,
            } => {
                // One height for the meta and every head: a round accepted between two
                // queries would otherwise pair new heads with the old loss (or mix versions).
                // The application's committed height, not CometBFT's latest block: a query
                // pinned to a block the application is still committing is refused.
                let client = RpcClient::new(rpc);
                let height = client
                    .committed_height()
                    .map_err(|e| SourceError::Manifest(e.to_string()))?;
                let client = client.at_height(height);
                let info = client
                    .model_info(model_id)
                    .map_err(|e| SourceError::Manifest(e.to_string()))?;
                let mut heads = Vec::new();
                let manifest = manifest_from_chain(&info, |name| {
                    let h = client
                        .head(model_id, name)
                        .map_err(|e| SourceError::Fetch {
                            block: name.to_string(),
                            source: Box::new(e),
                        })?;
                    heads.push(HeadRef {
                        block: name.to_string(),
                        id: hex::encode(h.id),
                        version: Some(format!(
                            "{}.{}.{}",
                            h.version.major, h.version.minor, h.version.patch
                        )),
                    });
                    Ok(h)
                })?;
                Ok(Snapshot {
                    source: Box::new(KuboSource::new(kubo.clone(), manifest.clone(), cache_dir)),
                    manifest,
                    heads,
                    loss_micro: info.loss_micro,
                })
            }
        }
    }
}

/// An expert block of a version: its manifest entry and an open handle on its verified file.
struct ExpertSlot {
    name: BlockName,
    entry: BlockEntry,
    file: File,
}

/// Reads the block behind `file` and verifies it against `entry` (payload hash, every tile).
fn read_verified(file: &File, entry: &BlockEntry) -> Result<TensorBlock, SourceError> {
    let io = |source| SourceError::Io {
        path: PathBuf::from(&entry.file),
        source,
    };
    let len = file.metadata().map_err(io)?.len();
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut buf, 0).map_err(io)?;
    let wrap = |source| SourceError::Block {
        block: entry.name.clone(),
        source,
    };
    let tb = TensorBlock::from_bytes(&buf).map_err(wrap)?;
    tb.expect_hash(&entry.payload_hash).map_err(wrap)?;
    tb.verify_all().map_err(wrap)?;
    Ok(tb)
}

/// One served version of the model.
pub struct ModelVersion {
    model: Model,
    experts: Vec<Vec<ExpertSlot>>,
    cache: Arc<ExpertCache>,
    /// Head of every block, in manifest order.
    pub heads: Vec<HeadRef>,
    /// `fp_` + the first 16 hex digits of sha3-256 over `name=id\n` of every head.
    pub fingerprint: String,
    /// Recorded validation loss, micro-nats, if known.
    pub loss_micro: Option<u64>,
    /// When it was loaded (unix seconds).
    pub loaded_at: u64,
    /// Total bytes of the expert blocks.
    pub expert_bytes: u64,
}

/// The version fingerprint of `heads`.
pub fn fingerprint(heads: &[HeadRef]) -> String {
    let mut h = Sha3_256::new();
    for r in heads {
        h.update(format!("{}={}\n", r.block, r.id).as_bytes());
    }
    format!("fp_{}", &hex::encode(h.finalize())[..16])
}

impl ModelVersion {
    /// Fetches and verifies every block of `snap`; dense blocks are loaded, experts are left
    /// to `cache`.
    pub fn load(
        snap: Snapshot,
        cache: Arc<ExpertCache>,
        device: &Device,
    ) -> Result<Self, SourceError> {
        let m = &snap.manifest;
        check_manifest(m)?;
        let mut dense = BTreeMap::new();
        let mut experts: Vec<Vec<ExpertSlot>> = (0..m.meta.n_layers).map(|_| Vec::new()).collect();
        for entry in &m.blocks {
            let name: BlockName = entry.name.parse()?;
            let path = snap.source.fetch(entry)?;
            let file = File::open(&path).map_err(|source| SourceError::Io {
                path: path.clone(),
                source,
            })?;
            let tb = read_verified(&file, entry)?;
            match (name.kind(), name) {
                (BlockKind::Expert, BlockName::Expert { layer, .. }) => {
                    experts[layer].push(ExpertSlot {
                        name,
                        entry: entry.clone(),
                        file,
                    })
                }
                _ => {
                    let t = tb.to_tensors(device).map_err(|source| SourceError::Block {
                        block: entry.name.clone(),
                        source,
                    })?;
                    dense.insert(entry.name.clone(), t);
                }
            }
        }
        let model = Model::from_resident_blocks(&m.meta, &dense, device)?;
        let expert_bytes = experts.iter().flatten().map(|s| s.entry.size).sum();
        Ok(Self {
            model,
            experts,
            cache,
            fingerprint: fingerprint(&snap.heads),
            heads: snap.heads,
            loss_micro: snap.loss_micro,
            loaded_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs(),
            expert_bytes,
        })
    }

    /// The resident model (no experts: run it through [`ModelVersion::logits`]).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The expert cache.
    pub fn cache(&self) -> &ExpertCache {
        &self.cache
    }

    /// Next-token logits after `window` (at most `max_seq` ids).
    pub fn logits(&self, window: &[u32]) -> ModelResult<Vec<f32>> {
        self.logits_with(window, self)
    }

    /// [`ModelVersion::logits`], also adding to `picked` every `(layer, expert)` the router
    /// picked for some position of the window (each expert that took part in this pass).
    pub fn logits_recording(
        &self,
        window: &[u32],
        picked: &mut BTreeSet<(usize, usize)>,
    ) -> ModelResult<Vec<f32>> {
        let rec = Recording {
            version: self,
            picked: Mutex::new(BTreeSet::new()),
        };
        let logits = self.logits_with(window, &rec)?;
        picked.extend(rec.picked.into_inner().unwrap_or_else(|p| p.into_inner()));
        Ok(logits)
    }

    fn logits_with(&self, window: &[u32], experts: &dyn ExpertProvider) -> ModelResult<Vec<f32>> {
        self.cache.begin_pass();
        let ids = Tensor::from_slice(window, (1, window.len()), self.model.device())?;
        let logits = self
            .model
            .forward_with_experts(&ids, experts)?
            .squeeze(0)?
            .get(window.len().saturating_sub(1))?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        Ok(logits)
    }
}

/// Delegates to a version and notes which experts were asked for.
struct Recording<'a> {
    version: &'a ModelVersion,
    picked: Mutex<BTreeSet<(usize, usize)>>,
}

impl ExpertProvider for Recording<'_> {
    fn expert(&self, layer: usize, expert: usize) -> ModelResult<Arc<ExpertWeights>> {
        self.picked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((layer, expert));
        self.version.expert(layer, expert)
    }
}

impl ExpertProvider for ModelVersion {
    fn expert(&self, layer: usize, expert: usize) -> ModelResult<Arc<ExpertWeights>> {
        let slot = self
            .experts
            .get(layer)
            .and_then(|l| l.get(expert))
            .ok_or_else(|| ModelError::MissingBlock(format!("layer{layer}.expert{expert}")))?;
        self.cache.get_or_load(&slot.entry.payload_hash, || {
            let err = |reason: String| ModelError::BlockTensors {
                block: slot.entry.name.clone(),
                reason,
            };
            let tb = read_verified(&slot.file, &slot.entry).map_err(|e| err(e.to_string()))?;
            let t = tb
                .to_tensors(self.model.device())
                .map_err(|e| err(e.to_string()))?;
            ExpertWeights::from_tensors(self.model.config(), &slot.name, &t, self.model.device())
        })
    }
}

/// The version being served, swapped atomically on reload: a request takes an `Arc` of the
/// current version and keeps it until its stream ends.
pub struct ModelHandle {
    current: RwLock<Arc<ModelVersion>>,
}

impl ModelHandle {
    /// A handle serving `v`.
    pub fn new(v: ModelVersion) -> Self {
        Self {
            current: RwLock::new(Arc::new(v)),
        }
    }

    /// The version new requests get.
    pub fn current(&self) -> Arc<ModelVersion> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `v` the current version; returns the previous one.
    pub fn swap(&self, v: ModelVersion) -> Arc<ModelVersion> {
        let mut g = self.current.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *g, Arc::new(v))
    }
}
