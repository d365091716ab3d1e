//! CometBFT's `genesis.json`, read, edited and written back.
//!
//! Only the fields Blyan owns are touched (`chain_id`, `validators`, `app_state` and the
//! block limits in `consensus_params`); everything else `cometbft init` wrote is kept.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app_state::{GenesisAppState, GenesisValidator};
use crate::validate::GenesisError;

/// Largest block in bytes Blyan asks CometBFT for (4 MiB).
pub const BLOCK_MAX_BYTES: i64 = 4_194_304;

/// CometBFT's amino type name for an ed25519 public key.
pub const ED25519_PUBKEY_TYPE: &str = "tendermint/PubKeyEd25519";

/// Why a `genesis.json` cannot be read, edited or written.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("genesis.json is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The document lacks a field or has one of the wrong JSON type.
    #[error("genesis.json: {0}")]
    Shape(&'static str),
    /// `app_state` does not parse as a Blyan genesis state.
    #[error("genesis.json app_state: {0}")]
    AppState(#[source] serde_json::Error),
    /// The Blyan genesis state is invalid.
    #[error("genesis.json app_state: {0}")]
    Invalid(#[from] GenesisError),
    /// The CometBFT validator list does not match `app_state.validators`.
    #[error("genesis.json validators do not match app_state.validators (keys and powers)")]
    ValidatorMismatch,
}

/// A CometBFT `genesis.json` document.
#[derive(Debug, Clone, PartialEq)]
pub struct GenesisDoc(Value);

impl GenesisDoc {
    /// Reads and parses a `genesis.json` file.
    pub fn read(path: &Path) -> Result<Self, DocError> {
        let text = std::fs::read_to_string(path).map_err(|source| DocError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses `genesis.json` text; the top level must be an object.
    pub fn parse(text: &str) -> Result<Self, DocError> {
        let value: Value = serde_json::from_str(text).map_err(DocError::Json)?;
        if !value.is_object() {
            return Err(DocError::Shape("the top level must be an object"));
        }
        Ok(GenesisDoc(value))
    }

    /// The JSON document.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The document's `chain_id`, if it has a string one.
    pub fn chain_id(&self) -> Option<&str> {
        self.0.get("chain_id").and_then(Value::as_str)
    }

    /// Sets `chain_id`.
    pub fn set_chain_id(&mut self, chain_id: &str) {
        self.0["chain_id"] = json!(chain_id);
    }

    /// Replaces `app_state` with the given Blyan genesis state.
    pub fn set_app_state(&mut self, state: &GenesisAppState) -> Result<(), DocError> {
        self.0["app_state"] = state.to_json_value().map_err(DocError::AppState)?;
        Ok(())
    }

    /// Parses `app_state` as a Blyan genesis state (not validated; see [`Self::check`]).
    pub fn app_state(&self) -> Result<GenesisAppState, DocError> {
        let v = self
            .0
            .get("app_state")
            .ok_or(DocError::Shape("app_state is missing"))?;
        serde_json::from_value(v.clone()).map_err(DocError::AppState)
    }

    /// Replaces CometBFT's `validators` with the given set, each with its address derived
    /// from its consensus key.
    pub fn set_validators(&mut self, validators: &[GenesisValidator]) -> Result<(), DocError> {
        let list = validators
            .iter()
            .map(|v| {
                let key = v.consensus_key_bytes()?;
                Ok(json!({
                    "address": validator_address(&key),
                    "pub_key": { "type": ED25519_PUBKEY_TYPE, "value": v.consensus_pub_key },
                    "power": v.power.to_string(),
                    "name": v.name,
                }))
            })
            .collect::<Result<Vec<_>, GenesisError>>()?;
        self.0["validators"] = Value::Array(list);
        Ok(())
    }

    /// Sets Blyan's block limits: `consensus_params.block.max_bytes` to
    /// [`BLOCK_MAX_BYTES`] and `max_gas` to -1 (gas is limited by the app's fee params).
    pub fn set_consensus_params(&mut self) -> Result<(), DocError> {
        let root = self
            .0
            .as_object_mut()
            .ok_or(DocError::Shape("the top level must be an object"))?;
        let params = root.entry("consensus_params").or_insert_with(|| json!({}));
        if !params.is_object() {
            return Err(DocError::Shape("consensus_params must be an object"));
        }
        let block = params
            .as_object_mut()
            .ok_or(DocError::Shape("consensus_params must be an object"))?
            .entry("block")
            .or_insert_with(|| json!({}));
        let block = block
            .as_object_mut()
            .ok_or(DocError::Shape("consensus_params.block must be an object"))?;
        block.insert("max_bytes".into(), json!(BLOCK_MAX_BYTES.to_string()));
        block.insert("max_gas".into(), json!("-1"));
        Ok(())
    }

    /// Checks the document as a whole: `app_state` parses and validates, its chain id equals
    /// the document's, and CometBFT's validators carry the same keys and powers as
    /// `app_state.validators`. Returns the parsed state.
    pub fn check(&self) -> Result<GenesisAppState, DocError> {
        let state = self.app_state()?;
        state.validate()?;
        let chain_id = self
            .chain_id()
            .ok_or(DocError::Shape("chain_id is missing"))?;
        if chain_id != state.chain_id {
            return Err(GenesisError::ChainIdMismatch {
                genesis: chain_id.to_string(),
                app_state: state.chain_id.clone(),
            }
            .into());
        }
        let mut from_doc = self
            .0
            .get("validators")
            .and_then(Value::as_array)
            .ok_or(DocError::Shape("validators must be an array"))?
            .iter()
            .map(|v| {
                let key = v.pointer("/pub_key/value").and_then(Value::as_str);
                let power = v.get("power").and_then(Value::as_str);
                match (key, power.and_then(|p| p.parse::<u64>().ok())) {
                    (Some(k), Some(p)) => Ok((k.to_string(), p)),
                    _ => Err(DocError::Shape("a validator lacks pub_key.value or power")),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut from_state: Vec<_> = state
            .validators
            .iter()
            .map(|v| (v.consensus_pub_key.clone(), v.power))
            .collect();
        from_doc.sort();
        from_state.sort();
        if from_doc != from_state {
            return Err(DocError::ValidatorMismatch);
        }
        Ok(state)
    }

    /// The document as pretty-printed JSON with a trailing newline.
    pub fn to_pretty_string(&self) -> String {
        // Serializing a `Value` cannot fail (all its map keys are strings).
        let mut s = serde_json::to_string_pretty(&self.0).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Writes the document, pretty-printed.
    pub fn write(&self, path: &Path) -> Result<(), DocError> {
        std::fs::write(path, self.to_pretty_string()).map_err(|source| DocError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// CometBFT's validator address for an ed25519 key: the first 20 bytes of sha256(key), upper
/// case hex.
pub fn validator_address(pub_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(pub_key);
    hex::encode_upper(&digest[..20])
}

#[cfg(test)]
#[path = "doc_tests.rs"]
mod tests;
