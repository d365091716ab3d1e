//! [`RpcClient`]: CometBFT's JSON-RPC over HTTP, with the answers Blyan's callers need
//! typed: `abci_query` of a [`QueryPath`] (SCALE-decoded, at the latest height or a pinned
//! one, with proof bytes when asked), `broadcast_tx_sync`, committed transactions by hash,
//! `status`, `abci_info` and block hashes.

use std::time::{Duration, Instant};

use base64::Engine as _;
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;
use serde_json::{json, Value};

use crate::{ClientError, Result};

/// A CometBFT RPC endpoint, e.g. `http://127.0.0.1:26657`.
#[derive(Debug, Clone)]
pub struct RpcClient {
    base: String,
    agent: ureq::Agent,
    /// Height every `abci_query` reads (`None`: the latest).
    height: Option<u64>,
}

/// The answer of `abci_query`, undecoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResponse {
    /// 0 on success.
    pub code: u32,
    /// Error text.
    pub log: String,
    /// `absent` when a proved key has no value.
    pub info: String,
    /// The proved state key.
    pub key: Vec<u8>,
    /// The SCALE value (empty when there is none).
    pub value: Vec<u8>,
    /// The height the answer is for.
    pub height: u64,
    /// The proof bytes (the first proof op's data), when asked for.
    pub proof: Option<Vec<u8>>,
}

/// The answer of `broadcast_tx_sync` (CheckTx only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastResponse {
    /// CheckTx code (0 = accepted into the mempool).
    pub code: u32,
    /// CheckTx log.
    pub log: String,
    /// Transaction hash, uppercase hex as CometBFT prints it.
    pub hash: String,
}

/// One ABCI event as CometBFT reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbciEvent {
    /// The event type.
    pub kind: String,
    /// Its attributes in order, `(key, value)`.
    pub attributes: Vec<(String, String)>,
}

impl AbciEvent {
    /// The first value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A committed transaction (`/tx`).
#[derive(Debug, Clone, PartialEq)]
pub struct TxResult {
    /// Block height.
    pub height: u64,
    /// FinalizeBlock result code (0 = success).
    pub code: u32,
    /// Result log.
    pub log: String,
    /// Gas the transaction asked for.
    pub gas_wanted: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Its events.
    pub events: Vec<AbciEvent>,
    /// The whole `/tx` answer, for what is not typed here.
    pub raw: Value,
}

/// The node's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The chain id CometBFT runs (its `network`).
    pub network: String,
    /// The latest block height (the application may still be committing it).
    pub latest_height: u64,
    /// The latest block's hash.
    pub latest_block_hash: Vec<u8>,
    /// The app hash in the latest block's header.
    pub latest_app_hash: Vec<u8>,
    /// Whether the node is still catching up.
    pub catching_up: bool,
}

/// CometBFT writes 64-bit numbers as strings.
pub(crate) fn num(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn code(v: &Value) -> u32 {
    // absent means 0 (CometBFT leaves zero values out)
    num(v).map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// ABCI events from a JSON list.
pub(crate) fn events(list: &Value) -> Vec<AbciEvent> {
    let attrs = |e: &Value| {
        e["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| (text(&a["key"]), text(&a["value"])))
            .collect()
    };
    list.as_array()
        .into_iter()
        .flatten()
        .map(|e| AbciEvent {
            kind: text(&e["type"]),
            attributes: attrs(e),
        })
        .collect()
}

impl RpcClient {
    /// A client for `base` (`http://host:port`); every call times out after 30 s.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
            height: None,
        }
    }

    /// This client with every `abci_query` reading the state at `height` (0: the latest),
    /// so several queries see one state even when a block commits between them.
    pub fn at_height(&self, height: u64) -> Self {
        Self {
            height: Some(height),
            ..self.clone()
        }
    }

    /// The height queries are pinned to, if any.
    pub fn pinned_height(&self) -> Option<u64> {
        self.height
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn err(&self, message: impl Into<String>) -> ClientError {
        ClientError::Rpc {
            url: self.base.clone(),
            message: message.into(),
        }
    }

    fn b64(&self, what: &str, v: &Value) -> Result<Vec<u8>> {
        match v.as_str() {
            None | Some("") => Ok(Vec::new()),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| self.err(format!("{what}: bad base64: {e}"))),
        }
    }

    /// Calls a JSON-RPC method with named params; returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
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
        match resp.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(self.err(format!("{method}: no result"))),
        }
    }

    /// `status`.
    pub fn status(&self) -> Result<Status> {
        let r = self.call("status", json!({}))?;
        let s = &r["sync_info"];
        let hex_field = |v: &Value| hex::decode(v.as_str().unwrap_or_default()).unwrap_or_default();
        Ok(Status {
            network: text(&r["node_info"]["network"]),
            latest_height: num(&s["latest_block_height"])
                .ok_or_else(|| self.err("status: no latest_block_height"))?,
            latest_block_hash: hex_field(&s["latest_block_hash"]),
            latest_app_hash: hex_field(&s["latest_app_hash"]),
            catching_up: s["catching_up"].as_bool().unwrap_or(false),
        })
    }

    /// The latest block height (`status`; the application may still be committing it).
    pub fn latest_height(&self) -> Result<u64> {
        Ok(self.status()?.latest_height)
    }

    /// The last height the application itself committed (`abci_info`): the newest state
    /// `abci_query` can read at a pinned height.
    pub fn committed_height(&self) -> Result<u64> {
        let r = self.call("abci_info", json!({}))?;
        // absent before the first commit (a zero is left out of the JSON)
        Ok(num(&r["response"]["last_block_height"]).unwrap_or(0))
    }

    /// `abci_query` of a raw path at the pinned height (or the latest), optionally proved.
    pub fn abci_query_raw(&self, path: &str, prove: bool) -> Result<QueryResponse> {
        let height = self.height.unwrap_or(0).to_string();
        let r = self.call(
            "abci_query",
            json!({"path": path, "data": "", "height": height, "prove": prove}),
        )?;
        let resp = &r["response"];
        if resp.is_null() {
            return Err(self.err(format!("abci_query {path}: no result.response")));
        }
        let what = format!("abci_query {path}");
        let proof = match resp["proofOps"]["ops"].as_array().and_then(|o| o.first()) {
            Some(op) => Some(self.b64(&what, &op["data"])?),
            None => None,
        };
        Ok(QueryResponse {
            code: code(&resp["code"]),
            log: text(&resp["log"]),
            info: text(&resp["info"]),
            key: self.b64(&what, &resp["key"])?,
            value: self.b64(&what, &resp["value"])?,
            height: num(&resp["height"]).unwrap_or(0),
            proof,
        })
    }

    /// `abci_query` of a typed path at the pinned height (or the latest), optionally
    /// proved; the answer undecoded, whatever its code.
    pub fn abci_query(&self, path: &QueryPath, prove: bool) -> Result<QueryResponse> {
        self.abci_query_raw(&path.to_string(), prove)
    }

    /// Queries a typed path and decodes its SCALE value exactly (no trailing bytes): a
    /// non-zero code is [`ClientError::Query`], an empty value [`ClientError::NotFound`].
    pub fn query<T: Decode>(&self, path: &QueryPath) -> Result<T> {
        let r = self.abci_query(path, false)?;
        decode_answer(path, &r)
    }

    /// [`RpcClient::query`] at `height` (0: the latest).
    pub fn query_at<T: Decode>(&self, path: &QueryPath, height: u64) -> Result<T> {
        self.at_height(height).query(path)
    }

    /// `broadcast_tx_sync`: returns after CheckTx.
    pub fn broadcast_tx_sync(&self, tx: &[u8]) -> Result<BroadcastResponse> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(tx);
        let r = self.call("broadcast_tx_sync", json!({ "tx": b64 }))?;
        Ok(BroadcastResponse {
            code: code(&r["code"]),
            log: text(&r["log"]),
            hash: text(&r["hash"]),
        })
    }

    /// A committed transaction by hash (hex), or `None` while it is not (yet) indexed.
    pub fn tx(&self, hash_hex: &str) -> Result<Option<TxResult>> {
        let bytes = hex::decode(hash_hex.trim_start_matches("0x"))
            .map_err(|e| self.err(format!("tx hash {hash_hex:?}: {e}")))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        match self.call("tx", json!({ "hash": b64, "prove": false })) {
            Ok(r) => {
                let t = &r["tx_result"];
                Ok(Some(TxResult {
                    height: num(&r["height"]).unwrap_or(0),
                    code: code(&t["code"]),
                    log: text(&t["log"]),
                    gas_wanted: num(&t["gas_wanted"]).unwrap_or(0),
                    gas_used: num(&t["gas_used"]).unwrap_or(0),
                    events: events(&t["events"]),
                    raw: r,
                }))
            }
            Err(ClientError::Rpc { message, .. }) if message.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until transaction `hash_hex` is committed, polling every 200 ms; a
    /// [`ClientError::Timeout`] after `timeout`.
    pub fn wait_tx(&self, hash_hex: &str, timeout: Duration) -> Result<TxResult> {
        let start = Instant::now();
        loop {
            if let Some(r) = self.tx(hash_hex)? {
                return Ok(r);
            }
            if start.elapsed() > timeout {
                return Err(ClientError::Timeout {
                    hash: hash_hex.to_string(),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `tx_search` with a CometBFT event query: the first 100 matches, oldest first, as
    /// CometBFT returns them.
    pub fn tx_search(&self, query: &str) -> Result<Vec<Value>> {
        let r = self.call(
            "tx_search",
            json!({"query": query, "prove": false, "page": "1", "per_page": "100", "order_by": "asc"}),
        )?;
        Ok(r["txs"].as_array().cloned().unwrap_or_default())
    }

    /// The hash of the committed block at `height` (`block_id.hash`); an error when the
    /// node does not have that block (not yet committed, or pruned).
    pub fn block_hash(&self, height: u64) -> Result<Vec<u8>> {
        let r = self.call("block", json!({ "height": height.to_string() }))?;
        let hex_hash = r["block_id"]["hash"]
            .as_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| self.err(format!("block {height}: no block_id.hash")))?;
        hex::decode(hex_hash).map_err(|e| self.err(format!("block {height}: block_id.hash: {e}")))
    }

    /// The `app_hash` in block `height`'s header: the state root after `height - 1`.
    pub fn header_app_hash(&self, height: u64) -> Result<Vec<u8>> {
        let r = self.call("block", json!({ "height": height.to_string() }))?;
        let hex_hash = r["block"]["header"]["app_hash"]
            .as_str()
            .ok_or_else(|| self.err(format!("block {height} has no app_hash")))?;
        hex::decode(hex_hash).map_err(|e| self.err(format!("block {height}: app_hash: {e}")))
    }
}

/// Decodes a query answer exactly (see [`RpcClient::query`]).
pub fn decode_answer<T: Decode>(path: &QueryPath, r: &QueryResponse) -> Result<T> {
    if r.code != 0 {
        return Err(ClientError::Query {
            path: path.to_string(),
            code: r.code,
            log: r.log.clone(),
        });
    }
    if r.value.is_empty() {
        return Err(ClientError::NotFound(path.to_string()));
    }
    decode_exact(&r.value).map_err(|message| ClientError::Decode {
        path: path.to_string(),
        message,
    })
}

/// SCALE-decodes `bytes` as a `T`, refusing trailing bytes.
pub fn decode_exact<T: Decode>(mut bytes: &[u8]) -> std::result::Result<T, String> {
    let v = T::decode(&mut bytes).map_err(|e| e.to_string())?;
    if !bytes.is_empty() {
        return Err(format!("{} trailing bytes", bytes.len()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
