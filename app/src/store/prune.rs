//! Pruning history older than the retained window.
//!
//! With `retain_blocks = R` and latest version `L`, versions `O = L - R + 1 ..= L` stay
//! readable and provable. Each version's batch also deletes what only versions before `O`
//! need:
//!
//! - tree nodes that went stale at or before `O` (replaced by a version `<= O`), with
//!   their `s` index entry;
//! - value-history entries superseded at or before `O` (from the `w` index: a write at `V`
//!   supersedes every older entry of its key), and such deletion markers themselves (a read
//!   that finds no entry also answers "no value");
//! - roots of versions before `O`.
//!
//! A read at any retained version walks only nodes that were live at that version and
//! finds the newest value entry at or below it, so neither is ever pruned.

use super::kv::{KvSnapshot, KvWrite};
use super::{oldest_retained, prefixed, StoreError, P_NODE, P_ROOT, P_STALE, P_VALUE, P_VSTALE};

/// The deletions that prune everything stale before the window ending at `latest`.
pub(super) fn deletes(
    snap: &dyn KvSnapshot,
    retain_blocks: u64,
    latest: u64,
) -> Result<Vec<KvWrite>, StoreError> {
    let oldest = oldest_retained(retain_blocks, latest);
    let mut out = Vec::new();
    if oldest == 0 {
        return Ok(out);
    }
    // Entries stale since `oldest` itself are only needed by older versions.
    let end_be = oldest.saturating_add(1).to_be_bytes();
    let mut bad = None;
    snap.scan(
        &[P_STALE],
        Some(&prefixed(P_STALE, &end_be)),
        &mut |k, list| {
            let mut rest = list;
            while let Some((&len, tail)) = rest.split_first() {
                let Some(node_key) = tail.get(..usize::from(len)) else {
                    bad = Some("a node pruning-index entry is truncated");
                    break;
                };
                out.push((prefixed(P_NODE, node_key), None));
                rest = tail.get(usize::from(len)..).unwrap_or_default();
            }
            out.push((k.to_vec(), None));
        },
    )?;
    let mut superseded: Vec<(Vec<u8>, [u8; 8], bool)> = Vec::new();
    snap.scan(
        &[P_VSTALE],
        Some(&prefixed(P_VSTALE, &end_be)),
        &mut |k, list| {
            let mut be = [0u8; 8];
            match k.get(1..9) {
                Some(version) => be.copy_from_slice(version),
                None => bad = Some("a value pruning-index key is short"),
            }
            for item in list.chunks(33) {
                match item.split_last() {
                    Some((&deleted, kh)) if kh.len() == 32 => {
                        superseded.push((kh.to_vec(), be, deleted == 1));
                    }
                    _ => bad = Some("a value pruning-index entry is truncated"),
                }
            }
            out.push((k.to_vec(), None));
        },
    )?;
    if let Some(msg) = bad {
        return Err(StoreError::Tree(msg.into()));
    }
    for (kh, version_be, deleted) in superseded {
        let start = prefixed(P_VALUE, &kh);
        let mut end = start.clone();
        end.extend_from_slice(&version_be);
        snap.scan(&start, Some(&end), &mut |k, _| out.push((k.to_vec(), None)))?;
        if deleted {
            out.push((end, None));
        }
    }
    snap.scan(
        &[P_ROOT],
        Some(&prefixed(P_ROOT, &oldest.to_be_bytes())),
        &mut |k, _| out.push((k.to_vec(), None)),
    )?;
    Ok(out)
}
