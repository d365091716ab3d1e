//! An [`AdamWState`] on disk, so a miner keeps its optimizer across rounds and restarts.
//!
//! # File format (little-endian, version 1)
//!
//! `b"BLYO"`, version `u16 = 1`, the model id (u16 length + UTF-8), the sha3-256 of the
//! model's architecture ([`meta_hash`]: its `MetaConfig` as JSON), the step count `t` `u64`,
//! the entry count `u32`, then per entry in `(block, tensor)` order: block (u16 length +
//! UTF-8), tensor name (u16 length + UTF-8), rank `u8`, dims `u64 × rank`, first moment
//! `f32 × numel`, second moment `f32 × numel`; then the sha3-256 of everything before it.
//! The same state always gives the same bytes.
//!
//! [`load_for`] is what a trainer calls before a run: no file gives a fresh state; a file
//! for another model, architecture or block set (or with other shapes) gives a fresh state
//! and a logged warning; a corrupt file (bad hash, truncated, unknown version) is an error.

use std::path::{Path, PathBuf};

use sha3::{Digest, Sha3_256};

use super::{AdamWState, Moments, TrainError};
use crate::model::{BlockName, MetaConfig, Model};

const MAGIC: &[u8; 4] = b"BLYO";
const VERSION: u16 = 1;
const MAX_NAME: usize = 1024;
const MAX_RANK: usize = 8;

/// Errors of reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The file could not be read or written.
    #[error("optimizer state {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid state file (remove it to start from a fresh optimizer).
    #[error(
        "optimizer state {path} is corrupt ({why}); remove it to start from a fresh optimizer"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The model's blocks could not be read to check the state against them.
    #[error(transparent)]
    Train(#[from] TrainError),
}

/// A state as stored: which model it belongs to, and the state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredState {
    /// Model id (on chain, or any label the trainer chose).
    pub model_id: String,
    /// [`meta_hash`] of the model's architecture.
    pub meta_hash: [u8; 32],
    /// The optimizer state.
    pub state: AdamWState,
}

/// sha3-256 of `meta` as JSON (fields in declaration order, so deterministic).
pub fn meta_hash(meta: &MetaConfig) -> [u8; 32] {
    let json = serde_json::to_vec(meta).unwrap_or_default();
    Sha3_256::digest(json).into()
}

/// The state file for `model_id` and `blocks` in directory `dir`:
/// `{dir}/adamw-{model}-{h}.blyo`, `model` the id with characters other than ASCII
/// letters, digits, `-`, `_` and `.` replaced by `_`, `h` the first 8 bytes (hex) of the
/// sha3-256 of the id and the comma-joined block names.
pub fn path_for(dir: &Path, model_id: &str, blocks: &[BlockName]) -> PathBuf {
    let safe: String = model_id
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let names: Vec<String> = blocks.iter().map(ToString::to_string).collect();
    let mut h = Sha3_256::new();
    h.update(model_id.as_bytes());
    h.update([0u8]);
    h.update(names.join(",").as_bytes());
    let h: [u8; 32] = h.finalize().into();
    dir.join(format!("adamw-{safe}-{}.blyo", hex::encode(&h[..8])))
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl StoredState {
    /// The file's bytes (see the module doc).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_str(&mut out, &self.model_id);
        out.extend_from_slice(&self.meta_hash);
        out.extend_from_slice(&self.state.t.to_le_bytes());
        out.extend_from_slice(&(self.state.moments.len() as u32).to_le_bytes());
        for ((block, name), mo) in &self.state.moments {
            put_str(&mut out, block);
            put_str(&mut out, name);
            out.push(mo.shape.len() as u8);
            for &d in &mo.shape {
                out.extend_from_slice(&(d as u64).to_le_bytes());
            }
            for x in mo.m.iter().chain(&mo.v) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let h: [u8; 32] = Sha3_256::digest(&out).into();
        out.extend_from_slice(&h);
        out
    }

    /// Parses [`StoredState::to_bytes`] output, checking the hash and every length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let body_len = bytes.len().checked_sub(32).ok_or("too short")?;
        let (body, hash) = bytes.split_at(body_len);
        if Sha3_256::digest(body)[..] != *hash {
            return Err("hash mismatch".into());
        }
        let mut c = Cursor { buf: body, pos: 0 };
        if c.take(4)? != MAGIC {
            return Err("not an optimizer state file".into());
        }
        let version = c.u16()?;
        if version != VERSION {
            return Err(format!("version {version}, this build reads {VERSION}"));
        }
        let model_id = c.str()?;
        let meta_hash = c.take(32)?.try_into().map_err(|_| "short hash")?;
        let t = c.u64()?;
        let count = c.u32()?;
        let mut state = AdamWState {
            t,
            ..AdamWState::default()
        };
        for _ in 0..count {
            let (block, name) = (c.str()?, c.str()?);
            let rank = usize::from(c.take(1)?[0]);
            if rank > MAX_RANK {
                return Err(format!("{block}.{name}: rank {rank}"));
            }
            let mut shape = Vec::with_capacity(rank);
            let mut numel = 1usize;
            for _ in 0..rank {
                let d = usize::try_from(c.u64()?).map_err(|_| "dimension overflow")?;
                numel = numel.checked_mul(d).ok_or("size overflow")?;
                shape.push(d);
            }
            let m = c.f32s(numel)?;
            let v = c.f32s(numel)?;
            let key = (block, name);
            if state.moments.keys().next_back().is_some_and(|k| *k >= key) {
                return Err(format!("{}.{} out of order or repeated", key.0, key.1));
            }
            state.moments.insert(key, Moments { shape, m, v });
        }
        if c.pos != body.len() {
            return Err("trailing bytes".into());
        }
        Ok(Self {
            model_id,
            meta_hash,
            state,
        })
    }

    /// Reads `path`: `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Self>, StateFileError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        Self::from_bytes(&bytes)
            .map(Some)
            .map_err(|why| StateFileError::Corrupt {
                path: path.into(),
                why,
            })
    }

    /// Writes `path` through a temporary file renamed into place (creating its directory).
    pub fn write(&self, path: &Path) -> Result<(), StateFileError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| StateFileError::Io { path: p, source }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_bytes()).map_err(io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io(path))
    }
}

/// The state to continue training `blocks` of `model` (called `model_id`) from, read from
/// `path`: fresh when the file does not exist, or (with a logged warning) when it belongs
/// to another model id, architecture or block set, or its shapes differ. A file that cannot
/// be read or parsed is an error.
pub fn load_for(
    path: &Path,
    model_id: &str,
    model: &Model,
    blocks: &[BlockName],
) -> Result<AdamWState, StateFileError> {
    let Some(stored) = StoredState::read(path)? else {
        return Ok(AdamWState::default());
    };
    let why = if stored.model_id != model_id {
        Some(format!(
            "it is for model {:?}, not {model_id:?}",
            stored.model_id
        ))
    } else if stored.meta_hash != meta_hash(model.config()) {
        Some("it is for another model architecture".into())
    } else {
        stored.state.mismatch(model, blocks)?
    };
    match why {
        None => Ok(stored.state),
        Some(why) => {
            tracing::warn!(path = %path.display(), "optimizer state not used ({why}): starting from a fresh optimizer");
            Ok(AdamWState::default())
        }
    }
}

/// Stores `state` of model `model_id` (architecture `meta`) at `path`.
pub fn save(
    path: &Path,
    model_id: &str,
    meta: &MetaConfig,
    state: &AdamWState,
) -> Result<(), StateFileError> {
    StoredState {
        model_id: model_id.to_string(),
        meta_hash: meta_hash(meta),
        state: state.clone(),
    }
    .write(path)
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<String, String> {
        let n = usize::from(self.u16()?);
        if n > MAX_NAME {
            return Err(format!("name of {n} bytes"));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "name is not UTF-8".into())
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let raw = self.take(n.checked_mul(4).ok_or("size overflow")?)?;
        Ok(raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
