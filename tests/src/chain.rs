//! Chain-facing helpers of [`Localnet`]: heights, app hashes, state proofs, and sending
//! signed transactions.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use blyan_client::proof::verify_proof;
use blyan_proto::query::QueryPath;
use blyan_proto::SignedTx;
use serde_json::Value;

use crate::localnet::{Localnet, DEFAULT_TIMEOUT};

impl Localnet {
    /// Node `i`'s latest block height (`/status`; it may be one ahead of what its app has
    /// committed, see [`Localnet::app_height`]); panics if the RPC does not answer.
    pub fn height(&self, i: usize) -> u64 {
        self.rpc(i)
            .latest_height()
            .unwrap_or_else(|e| panic!("node{i} /status: {e:#}"))
    }

    /// The last height node `i`'s app committed (ABCI `Info`, via `/abci_info`).
    pub fn try_app_height(&self, i: usize) -> anyhow::Result<u64> {
        let info = self.rpc(i).call("abci_info", serde_json::json!({}))?;
        let h = &info["response"]["last_block_height"];
        h.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| h.as_u64())
            .ok_or_else(|| anyhow!("node{i}: no last_block_height in {info}"))
    }

    /// The last height node `i`'s app committed: every height up to it can be queried.
    pub fn app_height(&self, i: usize) -> u64 {
        self.try_app_height(i)
            .unwrap_or_else(|e| panic!("node{i} /abci_info: {e:#}"))
    }

    /// Waits (up to 60 s) until node `i`'s app has committed height ≥ `h`; returns it.
    pub fn wait_app_height(&self, i: usize, h: u64) -> u64 {
        let what = format!("node{i}'s app to commit height {h}");
        crate::wait_for(&what, DEFAULT_TIMEOUT, || {
            self.try_app_height(i).ok().filter(|now| *now >= h)
        })
    }

    /// Waits up to `timeout` until node `i`'s `/status` height is ≥ `h`; returns it.
    pub fn try_wait_height(&self, i: usize, h: u64, timeout: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.rpc(i).latest_height();
            if let Ok(now) = last {
                if now >= h {
                    return Ok(now);
                }
            }
            if Instant::now() > deadline {
                bail!("node{i} did not reach height {h} within {timeout:?} (last: {last:?})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to 60 s) until node `i`'s `/status` height is ≥ `h`; returns it.
    pub fn wait_height(&self, i: usize, h: u64) -> u64 {
        self.try_wait_height(i, h, DEFAULT_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The app hash after block `h` (the state root all nodes must agree on), as node `i`
    /// reports it: the `app_hash` in block `h + 1`'s header (waits for that block).
    pub fn app_hash_at(&self, i: usize, h: u64) -> Vec<u8> {
        self.wait_height(i, h + 1);
        self.rpc(i)
            .header_app_hash(h + 1)
            .unwrap_or_else(|e| panic!("node{i} block {}: {e:#}", h + 1))
    }

    /// Checks that node `i`'s own state store at height `h` is the state the chain agreed
    /// on: a proof of the chain id read from node `i`'s app at `h` must verify against the
    /// app hash in block `h + 1`'s header. (Headers alone only show what consensus signed;
    /// this shows the node's app holds exactly that state.)
    pub fn assert_state_matches_header(&self, i: usize, h: u64) {
        let root: [u8; 32] = self
            .app_hash_at(i, h)
            .try_into()
            .unwrap_or_else(|_| panic!("node{i}: app hash of {h} is not 32 bytes"));
        let r = self
            .rpc(i)
            .at_height(h)
            .abci_query(&QueryPath::ChainId, true)
            .unwrap_or_else(|e| panic!("node{i} proved query at {h}: {e:#}"));
        assert_eq!(r.code, 0, "node{i} proved query at {h}: {}", r.log);
        assert_eq!(r.height, h, "node{i} answered for another height");
        let proof = r
            .proof
            .unwrap_or_else(|| panic!("node{i} sent no proof at {h}"));
        if let Err(e) = verify_proof(&root, &r.key, Some(&r.value), &proof) {
            panic!("node{i}: its state at height {h} does not match the header: {e}");
        }
    }

    /// Sends a signed transaction to node `i` with `broadcast_tx_sync`; asserts CheckTx
    /// accepted it and returns its hash.
    pub fn submit(&self, i: usize, tx: &SignedTx) -> String {
        let resp = self
            .rpc(i)
            .broadcast_tx_sync(&tx.to_bytes())
            .unwrap_or_else(|e| panic!("node{i} broadcast_tx_sync: {e:#}"));
        assert_eq!(
            resp.code,
            0,
            "node{i} CheckTx rejected nonce {} of {:?}: {}",
            tx.tx.nonce,
            tx.recover_signer(),
            resp.log
        );
        resp.hash
    }

    /// Waits (up to 60 s) until node `i` has indexed transaction `hash`; asserts it
    /// succeeded and returns the `/tx` answer.
    pub fn wait_committed(&self, i: usize, hash: &str) -> Value {
        let v = self
            .rpc(i)
            .wait_tx(hash, DEFAULT_TIMEOUT)
            .unwrap_or_else(|e| panic!("node{i}: {e:#}"))
            .raw;
        assert_eq!(crate::txs::tx_code(&v), 0, "transaction {hash} failed: {v}");
        v
    }

    /// Sends to node `i` and waits for the commit; returns the `/tx` answer.
    pub fn submit_and_wait(&self, i: usize, tx: &SignedTx) -> Value {
        let hash = self.submit(i, tx);
        self.wait_committed(i, &hash)
    }
}
