//! Signing and sending transactions the way a wallet does: chain id, nonce, fee params and
//! base fee come from the node; gas is computed exactly with the chain's schedule
//! ([`FeeParams::tx_gas`]).

use std::time::{Duration, Instant};

use blyan_proto::params::FeeParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, Fee, Msg, SecretKey, Tx};

use super::{ChainError, RpcClient};

/// A transaction accepted into the mempool (CheckTx passed) or refused by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Transaction hash, hex as CometBFT prints it.
    pub hash: String,
    /// The nonce it used.
    pub nonce: u64,
    /// CheckTx code (0 = accepted into the mempool).
    pub code: u32,
    /// CheckTx log.
    pub log: String,
}

/// A committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Block height.
    pub height: u64,
    /// DeliverTx code (0 = success).
    pub code: u32,
    /// Log.
    pub log: String,
}

/// Signs with one key and sends through one node.
#[derive(Debug, Clone)]
pub struct TxSender {
    rpc: RpcClient,
    key: SecretKey,
    chain_id: String,
    tip: u128,
}

impl TxSender {
    /// A sender for `key` through `rpc` (reads the chain id).
    pub fn new(rpc: RpcClient, key: SecretKey) -> Result<Self, ChainError> {
        let chain_id = rpc.query::<String>(&QueryPath::ChainId)?;
        Ok(Self {
            rpc,
            key,
            chain_id,
            tip: 10_000_000,
        })
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The node.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The account's next nonce as the node's committed state says.
    pub fn next_nonce(&self) -> Result<u64, ChainError> {
        self.rpc.query::<u64>(&QueryPath::Nonce(self.address()))
    }

    /// Builds the messages for the next nonce (`build(nonce)`), signs and broadcasts.
    pub fn send(&self, build: impl FnOnce(u64) -> Vec<Msg>) -> Result<Sent, ChainError> {
        let nonce = self.next_nonce()?;
        let params: FeeParams = self.rpc.query(&QueryPath::FeeParams)?;
        let base_fee: u128 = self.rpc.query(&QueryPath::BaseFee)?;
        let mut tx = Tx {
            chain_id: self.chain_id.clone(),
            nonce,
            fee: Fee {
                gas_limit: 0,
                max_fee_per_gas: base_fee.saturating_mul(2).saturating_add(self.tip),
                max_priority_fee_per_gas: self.tip,
            },
            msgs: build(nonce),
            memo: String::new(),
        };
        // The gas limit is fixed-width in the encoding, so one pass gives the exact length.
        let len = tx.clone().sign(&self.key).to_bytes().len();
        tx.fee.gas_limit = params.tx_gas(&tx, len);
        let bytes = tx.sign(&self.key).to_bytes();
        let (code, log, hash) = self.rpc.broadcast_tx_sync(&bytes)?;
        Ok(Sent {
            hash,
            nonce,
            code,
            log,
        })
    }

    /// Waits until `hash` is in a block.
    pub fn wait(&self, hash: &str, timeout: Duration) -> Result<Committed, ChainError> {
        let start = Instant::now();
        loop {
            if let Some((height, code, log)) = self.rpc.tx(hash)? {
                return Ok(Committed { height, code, log });
            }
            if start.elapsed() > timeout {
                return Err(ChainError::Rpc {
                    url: self.rpc.base().to_string(),
                    message: format!("transaction {hash} not committed within {timeout:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}
