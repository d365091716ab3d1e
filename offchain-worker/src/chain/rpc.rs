//! A minimal CometBFT JSON-RPC client: `abci_query`, `status`, `block`, `broadcast_tx_sync`,
//! `tx`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::ChainError;

/// A CometBFT RPC endpoint, e.g. `http://127.0.0.1:26657`.
#[derive(Debug, Clone)]
pub struct RpcClient {
    base: String,
    agent: ureq::Agent,
    /// Height every `abci_query` reads (`None`: the latest).
    height: Option<u64>,
}

impl RpcClient {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
            height: None,
        }
    }

    /// This client with every `abci_query` reading the state at `height`, so several
    /// queries see one state even when a block commits between them.
    pub fn at_height(&self, height: u64) -> Self {
        Self {
            height: Some(height),
            ..self.clone()
        }
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn err(&self, message: impl Into<String>) -> ChainError {
        ChainError::Rpc {
            url: self.base.clone(),
            message: message.into(),
        }
    }

    /// `abci_query` of `path` at the latest height (or the [`Self::at_height`] one),
    /// unproved: `(code, log, value)`.
    pub fn abci_query(&self, path: &str) -> Result<(u32, String, Vec<u8>), ChainError> {
        let height = self.height.unwrap_or(0).to_string();
        let body = json!({
            "jsonrpc": "2.0", "id": 1, "method": "abci_query",
            "params": {"path": path, "data": "", "height": height, "prove": false}
        });
        let resp: Value = self
            .agent
            .post(&self.base)
            .send_json(body)
            .map_err(|e| self.err(format!("abci_query {path}: {e}")))?
            .into_json()
            .map_err(|e| self.err(format!("abci_query {path}: response is not JSON: {e}")))?;
        if let Some(e) = resp.get("error") {
            return Err(self.err(format!("abci_query {path}: {e}")));
        }
        let r = &resp["result"]["response"];
        if r.is_null() {
            return Err(self.err(format!("abci_query {path}: no result.response")));
        }
        let code = match &r["code"] {
            Value::Number(n) => n.as_u64().unwrap_or(u64::MAX),
            Value::String(s) => s.parse().unwrap_or(u64::MAX),
            _ => 0,
        };
        let log = r["log"].as_str().unwrap_or_default().to_string();
        let value = match r["value"].as_str() {
            None | Some("") => Vec::new(),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| self.err(format!("abci_query {path}: bad base64 value: {e}")))?,
        };
        Ok((u32::try_from(code).unwrap_or(u32::MAX), log, value))
    }

    /// Calls a JSON-RPC method; returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: Value = self
            .agent
            .post(&self.base)
            .send_json(body)
            .map_err(|e| self.err(format!("{method}: {e}")))?
            .into_json()
            .map_err(|e| self.err(format!("{method}: response is not JSON: {e}")))?;
        if let Some(e) = resp.get("error") {
            return Err(self.err(format!("{method}: {e}")));
        }
        Ok(resp["result"].clone())
    }

    /// The latest committed height.
    pub fn latest_height(&self) -> Result<u64, ChainError> {
        let r = self.call("status", json!({}))?;
        num(&r["sync_info"]["latest_block_height"])
            .ok_or_else(|| self.err("status: no latest_block_height"))
    }

    /// The last height the application itself committed (`abci_info`): the newest state
    /// `abci_query` can read at a pinned height. CometBFT's `status` may already report the
    /// next block while the application is still committing it.
    pub fn committed_height(&self) -> Result<u64, ChainError> {
        let r = self.call("abci_info", json!({}))?;
        // absent before the first commit (a zero is left out of the JSON)
        Ok(num(&r["response"]["last_block_height"]).unwrap_or(0))
    }

    /// The hash of the committed block at `height` (`block?height=H`, its `block_id.hash`):
    /// 32 bytes on CometBFT. An error when the node does not have that block (not yet
    /// committed, or pruned).
    pub fn block_hash(&self, height: u64) -> Result<Vec<u8>, ChainError> {
        let r = self.call("block", json!({ "height": height.to_string() }))?;
        let hex_hash = r["block_id"]["hash"]
            .as_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| self.err(format!("block {height}: no block_id.hash")))?;
        hex::decode(hex_hash).map_err(|e| self.err(format!("block {height}: block_id.hash: {e}")))
    }

    /// `broadcast_tx_sync`: the CheckTx result `(code, log, hash hex)`.
    pub fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<(u32, String, String), ChainError> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(tx);
        let r = self.call("broadcast_tx_sync", json!({ "tx": b64 }))?;
        let code = num(&r["code"]).unwrap_or(0);
        Ok((
            u32::try_from(code).unwrap_or(u32::MAX),
            r["log"].as_str().unwrap_or_default().to_string(),
            r["hash"].as_str().unwrap_or_default().to_string(),
        ))
    }

    /// A committed transaction by hash: `(height, code, log)`, or `None` while it is not
    /// (yet) in a block.
    pub fn tx(&self, hash_hex: &str) -> Result<Option<(u64, u32, String)>, ChainError> {
        let bytes = hex::decode(hash_hex).map_err(|e| self.err(format!("tx hash: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        match self.call("tx", json!({ "hash": b64, "prove": false })) {
            Ok(r) => {
                let code = num(&r["tx_result"]["code"]).unwrap_or(0);
                Ok(Some((
                    num(&r["height"]).unwrap_or(0),
                    u32::try_from(code).unwrap_or(u32::MAX),
                    r["tx_result"]["log"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )))
            }
            Err(ChainError::Rpc { message, .. }) if message.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// CometBFT writes 64-bit numbers as strings.
fn num(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
