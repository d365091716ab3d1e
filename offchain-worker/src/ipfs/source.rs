//! [`KuboSource`]: a model's blocks fetched from Kubo by CID into a cache directory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::unixfs::cid_of_reader;
use super::{Cid, IpfsError, KuboClient};
use crate::source::{
    check_manifest, open_block, BlockEntry, BlockSource, DirSource, ModelManifest, SourceError,
    MANIFEST_FILE,
};
use crate::tensorblock::TensorBlock;

/// A [`BlockSource`] over Kubo: the manifest is given (from the chain's heads, or a
/// `meta.json` with CIDs); each block is fetched by its `cid` into `cache/{cid}.blyt`. A
/// cached file is reused only if it still verifies against the block's payload hash; a
/// fetch must have the block's size and the CID it was asked for. The loader verifies the
/// payload hash of whatever this returns, so a CID on chain that names other content is
/// caught there, naming the block.
#[derive(Debug, Clone)]
pub struct KuboSource {
    client: KuboClient,
    manifest: ModelManifest,
    cache: PathBuf,
}

impl KuboSource {
    /// A source for `manifest` through `client`, caching under `cache` (created on first
    /// fetch).
    pub fn new(client: KuboClient, manifest: ModelManifest, cache: impl Into<PathBuf>) -> Self {
        Self {
            client,
            manifest,
            cache: cache.into(),
        }
    }

    /// The Kubo client.
    pub fn client(&self) -> &KuboClient {
        &self.client
    }

    /// Where `cid`'s content is cached.
    pub fn cache_path(&self, cid: &Cid) -> PathBuf {
        self.cache.join(format!("{cid}.blyt"))
    }

    /// Fetches `block` into the cache (if no valid copy is there) and returns its path.
    pub fn fetch_block(&self, block: &BlockEntry) -> Result<PathBuf, IpfsError> {
        let cid: Cid = block.cid.as_deref().ok_or(IpfsError::MissingCid)?.parse()?;
        let path = self.cache_path(&cid);
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| IpfsError::Io { path, source }
        };
        if fs::metadata(&path).is_ok_and(|m| m.len() == block.size)
            && TensorBlock::open_verified(&path, &block.payload_hash).is_ok()
        {
            tracing::debug!(block = %block.name, %cid, "cached");
            return Ok(path);
        }
        fs::create_dir_all(&self.cache).map_err(io_err(&self.cache))?;
        let part = self
            .cache
            .join(format!("{cid}.blyt.part{}", std::process::id()));
        let result = (|| {
            let mut out = BufWriter::new(File::create(&part).map_err(io_err(&part))?);
            let got = self.client.cat_to(&cid, &mut out, block.size)?;
            out.flush().map_err(io_err(&part))?;
            drop(out);
            if got != block.size {
                return Err(IpfsError::SizeMismatch {
                    cid,
                    got,
                    expected: block.size,
                });
            }
            let actual =
                cid_of_reader(File::open(&part).map_err(io_err(&part))?).map_err(io_err(&part))?;
            if actual != cid {
                return Err(IpfsError::ContentMismatch { cid, actual });
            }
            fs::rename(&part, &path).map_err(io_err(&path))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&part);
        }
        result?;
        tracing::debug!(block = %block.name, %cid, bytes = block.size, "fetched from kubo");
        Ok(path)
    }
}

impl BlockSource for KuboSource {
    fn manifest(&self) -> Result<ModelManifest, SourceError> {
        Ok(self.manifest.clone())
    }

    fn fetch(&self, block: &BlockEntry) -> Result<PathBuf, SourceError> {
        self.fetch_block(block).map_err(|e| SourceError::Fetch {
            block: block.name.clone(),
            source: Box::new(e),
        })
    }
}

/// Adds every block of the model directory `dir` (written by
/// [`crate::source::save_model`]) to Kubo with the fixed parameters, after verifying it,
/// records each block's CID in the manifest and rewrites `dir/meta.json`; returns the
/// manifest. `progress(done, total, block)` after each block.
pub fn add_model(
    client: &KuboClient,
    dir: &Path,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<ModelManifest, SourceError> {
    let src = DirSource::new(dir);
    let mut m = src.manifest()?;
    check_manifest(&m)?;
    let n = m.blocks.len();
    for i in 0..n {
        open_block(&src, &m.blocks[i])?;
        let entry = &m.blocks[i];
        let path = src.fetch(entry)?;
        let cid = client.add_file(&path).map_err(|e| SourceError::Fetch {
            block: entry.name.clone(),
            source: Box::new(e),
        })?;
        tracing::debug!(block = %entry.name, %cid, "added to kubo");
        progress(i + 1, n, &entry.name);
        m.blocks[i].cid = Some(cid.to_string());
    }
    let path = dir.join(MANIFEST_FILE);
    let json = serde_json::to_vec_pretty(&m).map_err(|e| SourceError::Manifest(e.to_string()))?;
    fs::write(&path, json).map_err(|source| SourceError::Io { path, source })?;
    Ok(m)
}
