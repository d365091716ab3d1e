//! [`TxSender`]: one key sending through one node, the way a wallet does. The chain id
//! comes from the node; the nonce is fetched once, bumped locally after each transaction
//! CheckTx accepts, and fetched again after a nonce error (then the transaction is built
//! and sent once more); the gas limit is exactly what the chain's published schedule
//! ([`FeeParams::tx_gas`]) charges, and the most paid per gas is twice the current base
//! fee plus the tip, unless the caller fixes them ([`FeeOptions`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use blyan_proto::params::FeeParams;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, ErrorCode, Fee, Msg, SecretKey, SignedTx, Tx};

use crate::{ClientError, Result, RpcClient};

/// The default tip per gas to the proposer, base units (the CLI's default too).
pub const DEFAULT_TIP: u128 = 10_000_000;

/// How a transaction's fee is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeOptions {
    /// Tip per gas to the proposer.
    pub tip: u128,
    /// Most paid per gas; `None`: twice the base fee plus the tip.
    pub max_fee_per_gas: Option<u128>,
    /// Gas limit; `None`: exactly what the transaction uses.
    pub gas_limit: Option<u64>,
}

impl Default for FeeOptions {
    fn default() -> Self {
        Self {
            tip: DEFAULT_TIP,
            max_fee_per_gas: None,
            gas_limit: None,
        }
    }
}

/// A transaction CheckTx accepted into the mempool, or refused.
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
    /// FinalizeBlock result code (0 = success).
    pub code: u32,
    /// Result log.
    pub log: String,
}

/// Whether a CheckTx code says the nonce was wrong (used, or ahead of the account's).
pub fn is_nonce_error(code: u32) -> bool {
    code == ErrorCode::NonceTooLow.as_u32() || code == ErrorCode::NonceGap.as_u32()
}

/// Signs with one key and sends through one node. Clones share the tracked nonce.
#[derive(Debug, Clone)]
pub struct TxSender {
    rpc: RpcClient,
    key: SecretKey,
    chain_id: String,
    fees: FeeOptions,
    /// The next nonce to use, `None` until fetched (or after a nonce error).
    nonce: Arc<Mutex<Option<u64>>>,
}

impl TxSender {
    /// A sender for `key` through `rpc`; reads the chain id from the node.
    pub fn new(rpc: RpcClient, key: SecretKey) -> Result<Self> {
        let chain_id = rpc.query::<String>(&QueryPath::ChainId)?;
        Ok(Self::with_chain_id(rpc, key, chain_id))
    }

    /// A sender for `key` through `rpc` on chain `chain_id` (no query).
    pub fn with_chain_id(rpc: RpcClient, key: SecretKey, chain_id: String) -> Self {
        Self {
            rpc,
            key,
            chain_id,
            fees: FeeOptions::default(),
            nonce: Arc::new(Mutex::new(None)),
        }
    }

    /// This sender with fixed fee options.
    pub fn with_fees(mut self, fees: FeeOptions) -> Self {
        self.fees = fees;
        self
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

    /// The fee options.
    pub fn fees(&self) -> FeeOptions {
        self.fees
    }

    /// The account's next nonce as the node's latest committed state says (not the
    /// locally tracked one).
    pub fn next_nonce(&self) -> Result<u64> {
        self.rpc.query::<u64>(&QueryPath::Nonce(self.address()))
    }

    fn tracked(&self) -> MutexGuard<'_, Option<u64>> {
        self.nonce.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds and signs a transaction with `nonce`, `msgs` and `memo`; the fee from the
    /// chain's fee params and base fee and this sender's [`FeeOptions`].
    pub fn sign(&self, nonce: u64, msgs: Vec<Msg>, memo: &str) -> Result<SignedTx> {
        let params: FeeParams = self.rpc.query(&QueryPath::FeeParams)?;
        let max_fee = match self.fees.max_fee_per_gas {
            Some(m) => m,
            None => {
                let base_fee: u128 = self.rpc.query(&QueryPath::BaseFee)?;
                base_fee.saturating_mul(2).saturating_add(self.fees.tip)
            }
        };
        let mut tx = Tx {
            chain_id: self.chain_id.clone(),
            nonce,
            fee: Fee {
                gas_limit: self.fees.gas_limit.unwrap_or(0),
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: self.fees.tip,
            },
            msgs,
            memo: memo.to_string(),
        };
        if self.fees.gas_limit.is_none() {
            // The gas limit is fixed-width in the encoding, so one pass gives the exact
            // length.
            let len = tx.clone().sign(&self.key).to_bytes().len();
            tx.fee.gas_limit = params.tx_gas(&tx, len);
        }
        Ok(tx.sign(&self.key))
    }

    /// Signs `msgs` with exactly `nonce` and broadcasts them; the tracked nonce is not
    /// used, and is forgotten (fetched again on the next [`TxSender::send`]).
    pub fn send_at(&self, nonce: u64, msgs: Vec<Msg>, memo: &str) -> Result<Sent> {
        let mut tracked = self.tracked();
        *tracked = None;
        self.broadcast(nonce, self.sign(nonce, msgs, memo)?)
    }

    fn broadcast(&self, nonce: u64, tx: SignedTx) -> Result<Sent> {
        let r = self.rpc.broadcast_tx_sync(&tx.to_bytes())?;
        Ok(Sent {
            hash: r.hash,
            nonce,
            code: r.code,
            log: r.log,
        })
    }

    /// Builds the messages for the next nonce (`build(nonce)`), signs and broadcasts;
    /// after a nonce error the nonce is fetched again and, if it changed, the messages
    /// are built for it and sent once more.
    pub fn send(&self, mut build: impl FnMut(u64) -> Vec<Msg>) -> Result<Sent> {
        self.send_with("", |n| Ok::<_, ClientError>(build(n)))
    }

    /// [`TxSender::send`] with a memo and a fallible message builder.
    pub fn send_with<E: From<ClientError>>(
        &self,
        memo: &str,
        mut build: impl FnMut(u64) -> std::result::Result<Vec<Msg>, E>,
    ) -> std::result::Result<Sent, E> {
        // Held for the whole send, so clones sending at once take distinct nonces.
        let mut tracked = self.tracked();
        let (mut nonce, mut fetched) = match *tracked {
            Some(n) => (n, false),
            None => (self.next_nonce()?, true),
        };
        loop {
            let tx = self.sign(nonce, build(nonce)?, memo)?;
            let sent = self.broadcast(nonce, tx)?;
            if sent.code == 0 {
                *tracked = Some(nonce.saturating_add(1));
                return Ok(sent);
            }
            if !is_nonce_error(sent.code) {
                *tracked = Some(nonce);
                return Ok(sent);
            }
            *tracked = None;
            if fetched {
                return Ok(sent);
            }
            fetched = true;
            let fresh = self.next_nonce()?;
            if fresh == nonce {
                return Ok(sent);
            }
            nonce = fresh;
        }
    }

    /// Waits until `hash` is in a block (a [`ClientError::Timeout`] after `timeout`).
    pub fn wait(&self, hash: &str, timeout: Duration) -> Result<Committed> {
        let r = self.rpc.wait_tx(hash, timeout)?;
        Ok(Committed {
            height: r.height,
            code: r.code,
            log: r.log,
        })
    }
}

#[cfg(test)]
mod tests {
    use parity_scale_codec::Encode;

    use super::*;
    use crate::testserver::{broadcast_answer, query_answer, serve};

    /// The nonce is fetched once, bumped locally, and fetched again after a nonce error
    /// (the transaction is then rebuilt for the fresh nonce and sent once more).
    #[test]
    fn the_nonce_is_tracked_locally_and_refetched_after_a_nonce_error() {
        let fees = FeeParams::default().encode();
        let base_fee = 7u128.encode();
        let q = |path: &'static str, v: &[u8]| (vec![path], query_answer(v));
        let script = vec![
            q("/chain/id", &"c".to_string().encode()),
            q("/auth/nonce/", &5u64.encode()),
            q("/fees/params", &fees),
            q("/fees/base_fee", &base_fee),
            (vec!["broadcast_tx_sync"], broadcast_answer(0)),
            // the next send uses 6 without asking; CheckTx says the nonce is wrong
            q("/fees/params", &fees),
            q("/fees/base_fee", &base_fee),
            (vec!["broadcast_tx_sync"], broadcast_answer(6)),
            q("/auth/nonce/", &9u64.encode()),
            q("/fees/params", &fees),
            q("/fees/base_fee", &base_fee),
            (vec!["broadcast_tx_sync"], broadcast_answer(0)),
        ];
        let (url, h) = serve(script);
        let sender = TxSender::new(RpcClient::new(&url), SecretKey::generate()).unwrap();
        assert_eq!(sender.chain_id(), "c");
        let mut built = Vec::new();
        let a = sender
            .send(|n| {
                built.push(n);
                Vec::new()
            })
            .unwrap();
        assert_eq!((a.nonce, a.code), (5, 0));
        let b = sender
            .clone()
            .send(|n| {
                built.push(n);
                Vec::new()
            })
            .unwrap();
        assert_eq!((b.nonce, b.code), (9, 0));
        assert_eq!(built, vec![5, 6, 9]);
        h.join().unwrap();
    }
}
