//! PrepareProposal and ProcessProposal.
//!
//! The proposer orders mempool transactions by the tip per gas they pay (highest first,
//! each sender's transactions kept in nonce order, ties broken by hash), executes them
//! against the committed state, and drops those that would be invalid in the block
//! (failed decoding or signature, wrong chain, bad nonce, fee unpaid, block gas full) or
//! that overflow the byte budget. Validators reject any proposal carrying an invalid
//! transaction.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use blyan_chain::runtime::Mode;
use blyan_chain::{BlockContext, BlockExecutor, VerifiedTx};
use blyan_proto::Address;
use prost::bytes::Bytes;
use tendermint_proto::v0_38::abci::response_process_proposal::ProposalStatus;
use tendermint_proto::v0_38::abci::{
    RequestPrepareProposal, RequestProcessProposal, ResponsePrepareProposal,
    ResponseProcessProposal,
};

use super::block::{proposer_operator, unix_ms, verify_all};
use super::BlyanApp;

/// Protobuf framing CometBFT counts per transaction on top of its bytes (tag + length).
const PER_TX_OVERHEAD: i64 = 6;

fn tip_per_gas(v: &VerifiedTx, base_fee: u128) -> u128 {
    let fee = &v.signed.tx.fee;
    fee.max_priority_fee_per_gas
        .min(fee.max_fee_per_gas.saturating_sub(base_fee))
}

/// Orders transactions by tip, keeping each sender's nonces ascending.
pub(super) fn priority_order(
    txs: Vec<(Bytes, VerifiedTx)>,
    base_fee: u128,
) -> Vec<(Bytes, VerifiedTx)> {
    let mut by_sender: BTreeMap<Address, Vec<(Bytes, VerifiedTx)>> = BTreeMap::new();
    for t in txs {
        by_sender.entry(t.1.signer).or_default().push(t);
    }
    let mut queues: BTreeMap<Address, VecDeque<(Bytes, VerifiedTx)>> = BTreeMap::new();
    let mut heap = BinaryHeap::new();
    for (sender, mut list) in by_sender {
        list.sort_by_key(|t| (t.1.signed.tx.nonce, t.1.hash));
        let mut q: VecDeque<_> = list.into();
        if let Some(head) = q.front() {
            heap.push((tip_per_gas(&head.1, base_fee), Reverse(head.1.hash), sender));
        }
        queues.insert(sender, std::mem::take(&mut q));
    }
    let mut out = Vec::new();
    while let Some((_, _, sender)) = heap.pop() {
        let Some(q) = queues.get_mut(&sender) else {
            continue;
        };
        if let Some(t) = q.pop_front() {
            out.push(t);
        }
        if let Some(head) = q.front() {
            heap.push((tip_per_gas(&head.1, base_fee), Reverse(head.1.hash), sender));
        }
    }
    out
}

pub(super) fn prepare(app: &BlyanApp, req: RequestPrepareProposal) -> ResponsePrepareProposal {
    let params = app.tx_params();
    let verified = verify_all(&app.inner.signers, &req.txs, &params);
    let candidates: Vec<(Bytes, VerifiedTx)> = req
        .txs
        .iter()
        .cloned()
        .zip(verified)
        .filter_map(|(b, v)| v.ok().map(|v| (b, v)))
        .collect();
    let ctx = BlockContext {
        height: u64::try_from(req.height).unwrap_or(0),
        time_unix_ms: unix_ms(req.time.as_ref()),
        proposer: proposer_operator(app, &req.proposer_address),
        ..Default::default()
    };
    let Ok(mut ex) = BlockExecutor::begin(app.store().latest(), ctx) else {
        return ResponsePrepareProposal { txs: Vec::new() };
    };
    let ordered = priority_order(candidates, ex.base_fee());
    let mut budget = req.max_tx_bytes;
    let mut txs = Vec::with_capacity(ordered.len());
    for (bytes, vtx) in ordered {
        let size = i64::try_from(bytes.len())
            .unwrap_or(i64::MAX)
            .saturating_add(PER_TX_OVERHEAD);
        if size > budget {
            continue;
        }
        if ex.execute(Ok(&vtx), Mode::Deliver).invalid {
            continue;
        }
        budget = budget.saturating_sub(size);
        txs.push(bytes);
    }
    ResponsePrepareProposal { txs }
}

pub(super) fn process(app: &BlyanApp, req: RequestProcessProposal) -> ResponseProcessProposal {
    let status = if proposal_is_valid(app, &req) {
        ProposalStatus::Accept
    } else {
        ProposalStatus::Reject
    };
    ResponseProcessProposal {
        status: status as i32,
    }
}

fn proposal_is_valid(app: &BlyanApp, req: &RequestProcessProposal) -> bool {
    let params = app.tx_params();
    let verified = verify_all(&app.inner.signers, &req.txs, &params);
    let ctx = BlockContext {
        height: u64::try_from(req.height).unwrap_or(0),
        time_unix_ms: unix_ms(req.time.as_ref()),
        proposer: proposer_operator(app, &req.proposer_address),
        ..Default::default()
    };
    let Ok(mut ex) = BlockExecutor::begin(app.store().latest(), ctx) else {
        return false;
    };
    for (i, v) in verified.iter().enumerate() {
        let out = ex.execute(v.as_ref().map_err(Clone::clone), Mode::Deliver);
        if out.invalid {
            tracing::warn!(height = req.height, index = i, code = out.code, log = %out.log, "rejecting proposal with an invalid transaction");
            return false;
        }
    }
    true
}
