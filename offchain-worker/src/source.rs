//! Where a model's blocks come from, and turning them into a [`Model`].
//!
//! A [`BlockSource`] names a model (its [`ModelManifest`]: the meta config and, per block,
//! the payload hash the chain records) and produces a local file for each block. The loader
//! never trusts the source: it memory-maps each file, checks its payload hash against the
//! manifest and verifies every tile before any tensor is used. [`DirSource`] reads a
//! directory written by [`save_model`]; [`crate::ipfs::KuboSource`] fetches each block by
//! CID from Kubo into a cache directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::model::{BlockName, MetaConfig, Model, ModelError};
use crate::tensorblock::{PayloadHash, TensorBlock, TensorBlockError, TensorBlockWriter};

/// Name of the manifest file in a model directory.
pub const MANIFEST_FILE: &str = "meta.json";

/// One block as a model names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// Block name (`layer0.expert3`, …).
    pub name: String,
    /// Payload hash (Merkle root of the TensorBlock), hex.
    pub payload_hash: PayloadHash,
    /// File size in bytes.
    pub size: u64,
    /// File name inside a model directory (`{name}.blyt`); what [`DirSource`] fetches.
    pub file: String,
    /// IPFS CID (CIDv1, raw leaves) once the block is uploaded; what a Kubo-backed source
    /// fetches. None for a local directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

/// A model: its architecture and the expected content of each block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// The architecture (the meta block).
    pub meta: MetaConfig,
    /// Every block, in load order.
    pub blocks: Vec<BlockEntry>,
}

/// Errors of loading and saving models.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A block's file is missing, unreadable, corrupt or not the expected one.
    #[error("block {block}: {source}")]
    Block {
        /// The block.
        block: String,
        /// What is wrong with it.
        #[source]
        source: TensorBlockError,
    },
    /// A remote source could not produce the block's bytes.
    #[error("block {block}: fetch: {source}")]
    Fetch {
        /// The block.
        block: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The manifest does not fit the architecture or is unreadable.
    #[error("manifest: {0}")]
    Manifest(String),
    /// Building the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A provider of a model's blocks.
pub trait BlockSource {
    /// The model's manifest: architecture and expected block hashes.
    fn manifest(&self) -> Result<ModelManifest, SourceError>;
    /// A local file holding `block`'s bytes (fetched into a cache first, for a remote
    /// source). The caller verifies it against `block.payload_hash`.
    fn fetch(&self, block: &BlockEntry) -> Result<PathBuf, SourceError>;
}

/// A model directory: `meta.json` plus one `{block}.blyt` per block.
#[derive(Debug, Clone)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    /// The source for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

impl BlockSource for DirSource {
    fn manifest(&self) -> Result<ModelManifest, SourceError> {
        let path = self.dir.join(MANIFEST_FILE);
        let raw = std::fs::read(&path).map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&raw)
            .map_err(|e| SourceError::Manifest(format!("{}: {e}", path.display())))
    }

    fn fetch(&self, block: &BlockEntry) -> Result<PathBuf, SourceError> {
        let file = Path::new(&block.file);
        if file.components().count() != 1 || file.file_name().is_none() {
            return Err(SourceError::Manifest(format!(
                "block {}: file {:?} is not a plain file name",
                block.name, block.file
            )));
        }
        Ok(self.dir.join(file))
    }
}

/// Checks that `m` lists exactly the blocks of its architecture, in load order.
pub fn check_manifest(m: &ModelManifest) -> Result<(), SourceError> {
    m.meta.validate()?;
    let want: Vec<String> = Model::block_names(&m.meta)
        .iter()
        .map(BlockName::to_string)
        .collect();
    let have: Vec<&str> = m.blocks.iter().map(|b| b.name.as_str()).collect();
    if want != have {
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| !have.contains(&w.as_str()))
            .collect();
        let extra: Vec<&&str> = have
            .iter()
            .filter(|h| !want.iter().any(|w| w == *h))
            .collect();
        return Err(SourceError::Manifest(format!("blocks do not match the architecture (missing {missing:?}, unexpected {extra:?}, or out of order)")));
    }
    Ok(())
}

/// Loads and verifies one block: open, payload hash, every tile.
pub fn open_block(
    source: &dyn BlockSource,
    entry: &BlockEntry,
) -> Result<TensorBlock, SourceError> {
    let wrap = |source| SourceError::Block {
        block: entry.name.clone(),
        source,
    };
    let path = source.fetch(entry)?;
    let tb = TensorBlock::open_verified(&path, &entry.payload_hash).map_err(wrap)?;
    tracing::debug!(block = %entry.name, hash = %entry.payload_hash, tiles = tb.tile_count(), "block verified");
    Ok(tb)
}

/// Rebuilds the model from `source`, verifying every block before using any;
/// `progress(done, total, block)` is called after each block.
pub fn load_model(
    source: &dyn BlockSource,
    device: &Device,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Model, SourceError> {
    let m = source.manifest()?;
    check_manifest(&m)?;
    let mut blocks = BTreeMap::new();
    for (i, entry) in m.blocks.iter().enumerate() {
        let tb = open_block(source, entry)?;
        let tensors = tb.to_tensors(device).map_err(|source| SourceError::Block {
            block: entry.name.clone(),
            source,
        })?;
        blocks.insert(entry.name.clone(), tensors);
        progress(i + 1, m.blocks.len(), &entry.name);
    }
    Ok(Model::from_blocks(&m.meta, &blocks, device)?)
}

/// Writes every block of `model` as a TensorBlock under `dir` (created if needed) and the
/// manifest `meta.json`; returns the manifest. `progress(done, total, block)` after each.
pub fn save_model(
    model: &Model,
    dir: &Path,
    tile_size: u32,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<ModelManifest, SourceError> {
    std::fs::create_dir_all(dir).map_err(|source| SourceError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let names = Model::block_names(model.config());
    let mut blocks = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let block = name.to_string();
        let wrap = |source| SourceError::Block {
            block: block.clone(),
            source,
        };
        let mut w = TensorBlockWriter::new()
            .tile_size(tile_size)
            .map_err(wrap)?;
        for (t, v) in model.block_tensors(name)? {
            w.add_tensor(&t, &v).map_err(wrap)?;
        }
        let file = format!("{block}.blyt");
        let (payload_hash, size) = w.write(&dir.join(&file)).map_err(wrap)?;
        progress(i + 1, names.len(), &block);
        blocks.push(BlockEntry {
            name: block,
            payload_hash,
            size,
            file,
            cid: None,
        });
    }
    let manifest = ModelManifest {
        meta: model.config().clone(),
        blocks,
    };
    let path = dir.join(MANIFEST_FILE);
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| SourceError::Manifest(e.to_string()))?;
    std::fs::write(&path, json).map_err(|source| SourceError::Io { path, source })?;
    Ok(manifest)
}

#[cfg(test)]
mod tests;
