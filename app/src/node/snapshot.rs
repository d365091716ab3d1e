//! State sync: ListSnapshots, LoadSnapshotChunk (serving the snapshots the store takes),
//! OfferSnapshot and ApplySnapshotChunk (restoring an empty node from one). The format
//! and the checks are in [`crate::store::snapshot`]; this maps them to CometBFT's answers.

use tendermint_proto::v0_38::abci::{
    response_apply_snapshot_chunk, response_offer_snapshot, RequestApplySnapshotChunk,
    RequestLoadSnapshotChunk, RequestOfferSnapshot, ResponseApplySnapshotChunk,
    ResponseListSnapshots, ResponseLoadSnapshotChunk, ResponseOfferSnapshot, Snapshot,
};

use super::BlyanApp;
use crate::store::{ChunkOutcome, OfferOutcome};

pub(super) fn list_snapshots(app: &BlyanApp) -> ResponseListSnapshots {
    ResponseListSnapshots {
        snapshots: app
            .store()
            .list_snapshots()
            .into_iter()
            .map(|s| Snapshot {
                height: s.height,
                format: s.format,
                chunks: s.chunks(),
                hash: s.hash().to_vec().into(),
                metadata: s.metadata_bytes().into(),
            })
            .collect(),
    }
}

pub(super) fn load_snapshot_chunk(
    app: &BlyanApp,
    req: RequestLoadSnapshotChunk,
) -> ResponseLoadSnapshotChunk {
    let chunk = app
        .store()
        .load_snapshot_chunk(req.height, req.format, req.chunk);
    if chunk.is_none() {
        tracing::warn!(
            height = req.height,
            chunk = req.chunk,
            "asked for a snapshot chunk this node does not have (pruned?)"
        );
    }
    ResponseLoadSnapshotChunk {
        chunk: chunk.unwrap_or_default().into(),
    }
}

pub(super) fn offer_snapshot(app: &BlyanApp, req: RequestOfferSnapshot) -> ResponseOfferSnapshot {
    use response_offer_snapshot::Result as R;
    let Some(s) = req.snapshot else {
        return ResponseOfferSnapshot {
            result: R::Reject.into(),
        };
    };
    let outcome = app.store().offer_snapshot(
        s.height,
        s.format,
        s.chunks,
        &s.hash,
        &s.metadata,
        &req.app_hash,
    );
    let result = match outcome {
        OfferOutcome::Accept => R::Accept,
        OfferOutcome::Abort(why) => {
            tracing::error!(height = s.height, "state sync aborted: {why}");
            R::Abort
        }
        OfferOutcome::Reject(why) => {
            tracing::warn!(height = s.height, "snapshot rejected: {why}");
            R::Reject
        }
        OfferOutcome::RejectFormat(why) => {
            tracing::warn!(height = s.height, "snapshot format rejected: {why}");
            R::RejectFormat
        }
    };
    ResponseOfferSnapshot {
        result: result.into(),
    }
}

pub(super) fn apply_snapshot_chunk(
    app: &BlyanApp,
    req: RequestApplySnapshotChunk,
) -> ResponseApplySnapshotChunk {
    use response_apply_snapshot_chunk::Result as R;
    let outcome = app.store().apply_snapshot_chunk(req.index, &req.chunk);
    let mut resp = ResponseApplySnapshotChunk::default();
    let result = match outcome {
        ChunkOutcome::Accepted => R::Accept,
        ChunkOutcome::Restored { height, .. } => {
            // A fresh check state is built from the restored state on the first CheckTx.
            app.metrics()
                .height
                .set(i64::try_from(height).unwrap_or(i64::MAX));
            R::Accept
        }
        ChunkOutcome::Refetch(why) => {
            tracing::warn!(sender = %req.sender, "bad snapshot chunk, fetching it again: {why}");
            resp.refetch_chunks = vec![req.index];
            if !req.sender.is_empty() {
                resp.reject_senders = vec![req.sender];
            }
            R::Retry
        }
        ChunkOutcome::Reject(why) => {
            tracing::warn!("snapshot rejected: {why}");
            if !req.sender.is_empty() {
                resp.reject_senders = vec![req.sender];
            }
            R::RejectSnapshot
        }
        ChunkOutcome::RetrySnapshot(why) => {
            tracing::warn!("restoring the snapshot again: {why}");
            R::RetrySnapshot
        }
        ChunkOutcome::Abort(why) => {
            tracing::error!("state sync aborted: {why}");
            R::Abort
        }
    };
    resp.result = result.into();
    resp
}
