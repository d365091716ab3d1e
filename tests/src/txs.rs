//! Building signed transactions the way a wallet would, and reading the results CometBFT
//! reports for them (events, codes), independently of the CLI.

use std::collections::BTreeMap;

use blyan_client::RpcClient;
use blyan_proto::params::FeeParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, BankMsg, Fee, Msg, SecretKey, SignedTx, Tx};
use parity_scale_codec::Decode;
use serde_json::Value;

/// Default tip per gas of the harness's transactions (the CLI's default too).
pub const DEFAULT_TIP: u128 = 10_000_000;

/// Default most-paid-per-gas: far above any base fee a test net reaches.
pub const DEFAULT_MAX_FEE: u128 = 100_000_000_000;

/// Fee terms of a transaction; `gas_limit: None` means "exactly what it needs".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeTerms {
    /// Most paid per gas.
    pub max_fee_per_gas: u128,
    /// Tip per gas.
    pub tip: u128,
    /// Gas limit, or `None` for the exact gas.
    pub gas_limit: Option<u64>,
}

impl Default for FeeTerms {
    fn default() -> Self {
        FeeTerms {
            max_fee_per_gas: DEFAULT_MAX_FEE,
            tip: DEFAULT_TIP,
            gas_limit: None,
        }
    }
}

/// Builds and signs transactions for one chain.
#[derive(Debug, Clone)]
pub struct TxFactory {
    /// The chain id transactions are signed for.
    pub chain_id: String,
    /// The chain's fee parameters and gas schedule.
    pub params: FeeParams,
}

impl TxFactory {
    /// Reads the chain id and fee parameters from a node.
    pub fn from_node(rpc: &RpcClient) -> anyhow::Result<Self> {
        Ok(TxFactory {
            chain_id: rpc.query(&QueryPath::ChainId)?,
            params: rpc.query(&QueryPath::FeeParams)?,
        })
    }

    /// The gas a transaction of `tx_len` wire bytes with `sends` bank sends uses, from the
    /// documented schedule: `gas_per_tx + gas_per_byte * len + gas_per_bank_send * sends`.
    pub fn gas(&self, tx_len: usize, sends: usize) -> u64 {
        let p = &self.params;
        p.gas_per_tx + p.gas_per_byte * tx_len as u64 + p.gas_per_bank_send * sends as u64
    }

    /// An unsigned transaction with the given fields (gas limit 0 when `fee.gas_limit` is
    /// `None`; [`TxFactory::sign`] fills it).
    pub fn unsigned(&self, nonce: u64, msgs: Vec<Msg>, memo: &str, fee: FeeTerms) -> Tx {
        Tx {
            chain_id: self.chain_id.clone(),
            nonce,
            fee: Fee {
                gas_limit: fee.gas_limit.unwrap_or(0),
                max_fee_per_gas: fee.max_fee_per_gas,
                max_priority_fee_per_gas: fee.tip,
            },
            msgs,
            memo: memo.to_string(),
        }
    }

    /// Signs `tx`; with `exact_gas` the gas limit is first set to exactly what it uses (the
    /// encoded length does not depend on the gas limit's value).
    pub fn sign(&self, mut tx: Tx, key: &SecretKey, exact_gas: bool) -> SignedTx {
        if exact_gas {
            let len = tx.clone().sign(key).to_bytes().len();
            tx.fee.gas_limit = self.gas(len, tx.msgs.len());
        }
        tx.sign(key)
    }

    /// A signed transfer with default fee terms and the exact gas limit.
    pub fn transfer(&self, key: &SecretKey, nonce: u64, to: Address, amount: u128) -> SignedTx {
        self.transfer_with(key, nonce, to, amount, "", FeeTerms::default())
    }

    /// A signed transfer with a memo and fee terms.
    pub fn transfer_with(
        &self,
        key: &SecretKey,
        nonce: u64,
        to: Address,
        amount: u128,
        memo: &str,
        fee: FeeTerms,
    ) -> SignedTx {
        let msgs = vec![Msg::Bank(BankMsg::Send { to, amount })];
        let tx = self.unsigned(nonce, msgs, memo, fee);
        self.sign(tx, key, fee.gas_limit.is_none())
    }
}

/// A value read at a height (0 = latest), SCALE-decoded; fails on a non-zero query code.
pub fn query_at<T: Decode>(rpc: &RpcClient, path: &QueryPath, height: u64) -> anyhow::Result<T> {
    rpc.query_at(path, height)
        .map_err(|e| anyhow::anyhow!("query at height {height}: {e}"))
}

/// The balance of `addr` at `height` (0 = latest).
pub fn balance(rpc: &RpcClient, addr: Address, height: u64) -> anyhow::Result<u128> {
    query_at(rpc, &QueryPath::Balance(addr), height)
}

/// The next nonce of `addr` at `height` (0 = latest).
pub fn nonce(rpc: &RpcClient, addr: Address, height: u64) -> anyhow::Result<u64> {
    query_at(rpc, &QueryPath::Nonce(addr), height)
}

/// The ABCI events of one type in a `/tx` answer (or its `tx_result`, or a block result's
/// `finalize_block_events`-style list), each as attribute key → value.
pub fn events(result: &Value, kind: &str) -> Vec<BTreeMap<String, String>> {
    let list = if let Some(tr) = result.get("tx_result") {
        &tr["events"]
    } else if result.is_array() {
        result
    } else {
        &result["events"]
    };
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == kind)
        .map(|e| {
            e["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    (
                        a["key"].as_str().unwrap_or_default().to_string(),
                        a["value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// One attribute of the first event of a type, e.g. `attr(&tx, "fee", "burned")`.
pub fn attr(result: &Value, kind: &str, key: &str) -> Option<String> {
    events(result, kind)
        .into_iter()
        .next()
        .and_then(|mut e| e.remove(key))
}

/// An attribute parsed as a `u128` (amounts, fees); panics with the event text if absent.
pub fn attr_u128(result: &Value, kind: &str, key: &str) -> u128 {
    attr(result, kind, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {kind}.{key} in {result}"))
}

/// The result code of a `/tx` answer (0 on success).
pub fn tx_code(result: &Value) -> u64 {
    result["tx_result"]["code"].as_u64().unwrap_or(0)
}

/// The height of a `/tx` answer.
pub fn tx_height(result: &Value) -> u64 {
    match &result["height"] {
        Value::String(s) => s.parse().unwrap_or(0),
        v => v.as_u64().unwrap_or(0),
    }
}
