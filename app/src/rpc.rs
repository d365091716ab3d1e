//! A small client for CometBFT's JSON-RPC (over HTTP): what wallets and the CLI need.

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;
use serde_json::Value;

/// A CometBFT RPC endpoint, e.g. `http://127.0.0.1:26657`.
#[derive(Debug, Clone)]
pub struct RpcClient {
    base: String,
    agent: ureq::Agent,
}

/// The result of `abci_query`.
#[derive(Debug, Clone)]
pub struct QueryResponse {
    /// 0 on success.
    pub code: u32,
    /// Error text.
    pub log: String,
    /// `absent` when a proved key has no value.
    pub info: String,
    /// The proved state key.
    pub key: Vec<u8>,
    /// SCALE value.
    pub value: Vec<u8>,
    /// Height the answer is for.
    pub height: u64,
    /// Proof bytes, when asked for.
    pub proof: Option<Vec<u8>>,
}

/// The result of `broadcast_tx_sync` (CheckTx only).
#[derive(Debug, Clone)]
pub struct BroadcastResponse {
    /// CheckTx code.
    pub code: u32,
    /// CheckTx log.
    pub log: String,
    /// Transaction hash (uppercase hex).
    pub hash: String,
}

fn b64(v: &Value) -> anyhow::Result<Vec<u8>> {
    match v.as_str() {
        None | Some("") => Ok(Vec::new()),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .context("bad base64 in RPC response"),
    }
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

impl RpcClient {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        RpcClient {
            base: base.trim_end_matches('/').to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(30))
                .build(),
        }
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls a JSON-RPC method with named params; returns `result`.
    pub fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: Value = self
            .agent
            .post(&self.base)
            .send_json(body)
            .map_err(|e| anyhow!("RPC {method} to {} failed: {e}", self.base))?
            .into_json()
            .context("RPC response is not JSON")?;
        if let Some(err) = resp.get("error") {
            bail!("RPC {method} error: {err}");
        }
        resp.get("result")
            .cloned()
            .ok_or_else(|| anyhow!("RPC {method}: no result"))
    }

    /// `/status`: the latest height.
    pub fn latest_height(&self) -> anyhow::Result<u64> {
        let r = self.call("status", serde_json::json!({}))?;
        Ok(num(&r["sync_info"]["latest_block_height"]))
    }

    /// `abci_query` of a typed path.
    pub fn query(
        &self,
        path: &QueryPath,
        height: u64,
        prove: bool,
    ) -> anyhow::Result<QueryResponse> {
        let r = self.call(
            "abci_query",
            serde_json::json!({"path": path.to_string(), "data": "", "height": height.to_string(), "prove": prove}),
        )?;
        let resp = &r["response"];
        let proof = resp["proofOps"]["ops"]
            .as_array()
            .and_then(|ops| ops.first())
            .map(|op| b64(&op["data"]))
            .transpose()?;
        Ok(QueryResponse {
            code: u32::try_from(num(&resp["code"])).unwrap_or(u32::MAX),
            log: resp["log"].as_str().unwrap_or_default().to_string(),
            info: resp["info"].as_str().unwrap_or_default().to_string(),
            key: b64(&resp["key"])?,
            value: b64(&resp["value"])?,
            height: num(&resp["height"]),
            proof,
        })
    }

    /// Queries and SCALE-decodes a value at the latest height.
    pub fn query_value<T: Decode>(&self, path: &QueryPath) -> anyhow::Result<T> {
        let r = self.query(path, 0, false)?;
        if r.code != 0 {
            bail!("query {path} failed with code {}: {}", r.code, r.log);
        }
        T::decode(&mut r.value.as_slice()).map_err(|e| anyhow!("query {path}: bad value: {e}"))
    }

    /// `broadcast_tx_sync`: returns after CheckTx.
    pub fn broadcast_tx_sync(&self, tx: &[u8]) -> anyhow::Result<BroadcastResponse> {
        let r = self.call(
            "broadcast_tx_sync",
            serde_json::json!({"tx": base64::engine::general_purpose::STANDARD.encode(tx)}),
        )?;
        Ok(BroadcastResponse {
            code: u32::try_from(num(&r["code"])).unwrap_or(u32::MAX),
            log: r["log"].as_str().unwrap_or_default().to_string(),
            hash: r["hash"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// `/tx?hash=`: the committed result of a transaction, if indexed yet.
    pub fn tx(&self, hash_hex: &str) -> anyhow::Result<Option<Value>> {
        let bytes = hex::decode(hash_hex.trim_start_matches("0x")).context("tx hash is not hex")?;
        let h = base64::engine::general_purpose::STANDARD.encode(bytes);
        match self.call("tx", serde_json::json!({"hash": h, "prove": false})) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.to_string().contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until a transaction is committed (or `timeout` passes).
    pub fn wait_tx(&self, hash_hex: &str, timeout: std::time::Duration) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.tx(hash_hex)? {
                return Ok(v);
            }
            if std::time::Instant::now() > deadline {
                bail!("transaction {hash_hex} not committed within {timeout:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// `tx_search` with a CometBFT event query.
    pub fn tx_search(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        let r = self.call(
            "tx_search",
            serde_json::json!({"query": query, "prove": false, "page": "1", "per_page": "100", "order_by": "asc"}),
        )?;
        Ok(r["txs"].as_array().cloned().unwrap_or_default())
    }

    /// `/block?height=`: the header's app hash (the state root after `height - 1`).
    pub fn header_app_hash(&self, height: u64) -> anyhow::Result<Vec<u8>> {
        let r = self.call("block", serde_json::json!({"height": height.to_string()}))?;
        let hex_hash = r["block"]["header"]["app_hash"]
            .as_str()
            .ok_or_else(|| anyhow!("block {height} has no app_hash"))?;
        hex::decode(hex_hash).context("app_hash is not hex")
    }
}
