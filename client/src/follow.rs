//! [`BlockPoller`]: following committed blocks from a height by polling `block` and
//! `block_results`, so a caller sees every block once, in order, with its transactions'
//! results and its FinalizeBlock events.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use crate::rpc::{events, num, AbciEvent};
use crate::{ClientError, Result, RpcClient};

/// One committed block and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Its height.
    pub height: u64,
    /// Its hash (`block_id.hash`).
    pub hash: Vec<u8>,
    /// The app hash in its header (the state root after the previous block).
    pub app_hash: Vec<u8>,
    /// Its header time, as CometBFT prints it (RFC 3339).
    pub time: String,
    /// Its transactions, as broadcast.
    pub txs: Vec<Vec<u8>>,
    /// Each transaction's `(code, events)`, in block order.
    pub tx_results: Vec<(u32, Vec<AbciEvent>)>,
    /// The block's own events (begin/end-block hooks).
    pub events: Vec<AbciEvent>,
}

/// Yields committed blocks in order, starting at a height.
#[derive(Debug, Clone)]
pub struct BlockPoller {
    rpc: RpcClient,
    next: u64,
    interval: Duration,
}

impl BlockPoller {
    /// Follows the node at `rpc` from height `from` (the first block yielded), polling
    /// every 200 ms.
    pub fn new(rpc: RpcClient, from: u64) -> Self {
        Self {
            rpc,
            next: from.max(1),
            interval: Duration::from_millis(200),
        }
    }

    /// The height the next [`BlockPoller::next_block`] yields.
    pub fn next_height(&self) -> u64 {
        self.next
    }

    /// Waits until the next block's results are available (or `timeout` passes: `None`)
    /// and returns it; RPC errors other than "not there yet" are returned.
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<Block>> {
        let deadline = Instant::now() + timeout;
        loop {
            // `status` may report a block whose results are not stored yet; the app's
            // committed height says when `block_results` can answer.
            if self.rpc.latest_height()? >= self.next {
                if let Some(b) = self.fetch(self.next)? {
                    self.next += 1;
                    return Ok(Some(b));
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(self.interval);
        }
    }

    /// The block at `height` with its results, `None` while its results are not stored.
    pub fn fetch(&self, height: u64) -> Result<Option<Block>> {
        let h = json!({ "height": height.to_string() });
        let results = match self.rpc.call("block_results", h.clone()) {
            Ok(r) => r,
            Err(ClientError::Rpc { message, .. })
                if message.contains("must be less than or equal")
                    || message.contains("could not find results") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let b = self.rpc.call("block", h)?;
        let header = &b["block"]["header"];
        let hexf = |v: &serde_json::Value| hex::decode(v.as_str().unwrap_or_default());
        let bad = |what: &str| ClientError::Rpc {
            url: self.rpc.base().to_string(),
            message: format!("block {height}: bad {what}"),
        };
        let txs = b["block"]["data"]["txs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t.as_str().unwrap_or_default())
                    .map_err(|_| bad("tx"))
            })
            .collect::<Result<Vec<_>>>()?;
        let tx_results = results["txs_results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let code = num(&r["code"]).map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX));
                (code, events(&r["events"]))
            })
            .collect();
        Ok(Some(Block {
            height,
            hash: hexf(&b["block_id"]["hash"]).map_err(|_| bad("block_id.hash"))?,
            app_hash: hexf(&header["app_hash"]).map_err(|_| bad("app_hash"))?,
            time: header["time"].as_str().unwrap_or_default().to_string(),
            txs,
            tx_results,
            events: events(&results["finalize_block_events"]),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{b64, serve};

    /// A block is read with its results; results not stored yet read as `None`.
    #[test]
    fn blocks_come_with_their_results_in_order() {
        let results = r#"{"jsonrpc":"2.0","id":1,"result":{"height":"3","txs_results":[{"code":0,"events":[{"type":"transfer","attributes":[{"key":"amount","value":"5"}]}]},{"code":7}],"finalize_block_events":[{"type":"block_rewards","attributes":[{"key":"minted","value":"9"}]}]}}"#;
        let block = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"block_id":{{"hash":"0A0B"}},"block":{{"header":{{"height":"3","time":"2026-01-01T00:00:00Z","app_hash":"C0DE"}},"data":{{"txs":["{}","{}"]}}}}}}}}"#,
            b64(b"tx1"),
            b64(b"tx2")
        );
        let status = r#"{"jsonrpc":"2.0","id":1,"result":{"node_info":{"network":"c"},"sync_info":{"latest_block_height":"3","catching_up":false}}}"#;
        let missing = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"could not find results for height #4"}}"#;
        let (url, h) = serve(vec![
            (vec!["status"], status.into()),
            (vec!["block_results", r#""height":"3""#], results.into()),
            (vec![r#""method":"block""#], block),
            (vec!["status"], status.into()),
        ]);
        let mut p = BlockPoller::new(RpcClient::new(&url), 3);
        let b = p
            .next_block(Duration::from_secs(5))
            .unwrap()
            .expect("block 3");
        assert_eq!(
            (b.height, b.hash.clone(), b.app_hash.clone()),
            (3, vec![10, 11], vec![0xc0, 0xde])
        );
        assert_eq!(b.txs, vec![b"tx1".to_vec(), b"tx2".to_vec()]);
        assert_eq!(b.tx_results[0].0, 0);
        assert_eq!(b.tx_results[0].1[0].get("amount"), Some("5"));
        assert_eq!(b.tx_results[1], (7, Vec::new()));
        assert_eq!(b.events[0].get("minted"), Some("9"));
        assert_eq!(p.next_height(), 4);
        // Height 4 is not reported yet: no request beyond `status`, then a timeout.
        assert_eq!(p.next_block(Duration::ZERO).unwrap(), None);
        h.join().unwrap();
        let (url, h) = serve(vec![(vec!["block_results"], missing.into())]);
        assert_eq!(
            BlockPoller::new(RpcClient::new(&url), 4).fetch(4).unwrap(),
            None
        );
        h.join().unwrap();
    }
}
