//! Redelegation records: bonded stake moved from a source to a destination validator stays
//! answerable for the source's infractions for the unbonding period (Cosmos
//! `SlashRedelegation`). Records are keyed by source then creation height (a slash reads
//! only its validator's records), expire through a queue by completion height (end-block
//! work proportional to what expires), and are indexed by (delegator, destination) to
//! refuse transitive redelegations and bound their number.

use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::{Decode, Encode};

use super::index::adjust_refs;
use super::state::*;
use super::state_key::{u64_at, REDELEGATION_PREFIX};
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

fn malformed() -> TxError {
    TxError::new(ErrorCode::CorruptState, "malformed redelegation record")
}

/// Where a queued redelegation record lives: its source and creation height.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
struct QueueEntry {
    source: Address,
    creation_height: u64,
}

/// Refuses a redelegation `delegator` may not make now: out of a validator it redelegated
/// into and whose record has not expired (the moved stake must stay where a slash of the
/// first source can find it), or past `max_unbonding_entries` pending records into `to`.
pub(super) fn check_allowed<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
    from: &Address,
    to: &Address,
    max_entries: u32,
) -> TxResult<()> {
    let prefix = state_key::redelegations_into(delegator, from);
    if let Some((k, _)) = state.prefix_raw(&prefix).first() {
        return Err(TxError::new(
            ErrorCode::TransitiveRedelegation,
            format!(
                "stake redelegated into {from} cannot be redelegated again before height {}",
                u64_at(k, prefix.len())
            ),
        ));
    }
    let pending = state
        .prefix_raw(&state_key::redelegations_into(delegator, to))
        .len();
    if pending >= usize::try_from(max_entries).unwrap_or(usize::MAX) {
        return Err(TxError::new(
            ErrorCode::TooManyRedelegations,
            format!("{pending} redelegations into {to} already pending"),
        ));
    }
    Ok(())
}

/// Records a redelegation made at `height` that expires at the end of `completion`.
pub(super) fn record<S: StateWrite + ?Sized>(state: &mut S, r: &Redelegation) -> TxResult<()> {
    let seq = next_seq(state, state_key::REDELEGATION_SEQ)?;
    state.put_scale(
        state_key::redelegation(&r.source, r.creation_height, seq),
        r,
    );
    state.put_scale(
        state_key::redelegation_queue(r.completion_height, seq),
        &QueueEntry {
            source: r.source,
            creation_height: r.creation_height,
        },
    );
    put_marker(
        state,
        state_key::redelegation_into(&r.delegator, &r.destination, r.completion_height, seq),
    );
    adjust_refs(state, &r.source, |c| {
        c.redelegations_from = c.redelegations_from.saturating_add(1);
    })
}

/// Redelegations out of `source` created at or after `from_height`, by creation height.
/// Reads only `source`'s records.
pub(super) fn at_risk<S: StateRead + ?Sized>(
    state: &S,
    source: &Address,
    from_height: u64,
) -> TxResult<Vec<Redelegation>> {
    let at = REDELEGATION_PREFIX.len().saturating_add(20);
    let mut out = Vec::new();
    for (k, v) in state.prefix_raw(&state_key::redelegations_from(source)) {
        if u64_at(&k, at) < from_height {
            continue;
        }
        out.push(Redelegation::decode(&mut v.as_slice()).map_err(|_| malformed())?);
    }
    Ok(out)
}

/// Every redelegation record with its key (invariants and tests; O(records)).
pub fn all_redelegations<S: StateRead + ?Sized>(
    state: &S,
) -> TxResult<Vec<(Vec<u8>, Redelegation)>> {
    state
        .prefix_raw(REDELEGATION_PREFIX)
        .into_iter()
        .map(|(k, v)| {
            Redelegation::decode(&mut v.as_slice())
                .map(|r| (k, r))
                .map_err(|_| malformed())
        })
        .collect()
}

/// End-block: drops the records that expire at `height` (O(records expiring)).
pub(super) fn expire<S: StateWrite + ?Sized>(state: &mut S, height: u64) -> TxResult<()> {
    let prefix = state_key::redelegation_queue_at(height);
    for (k, v) in state.prefix_raw(&prefix) {
        let q = QueueEntry::decode(&mut v.as_slice()).map_err(|_| malformed())?;
        let seq = u64_at(&k, prefix.len());
        state.delete_raw(&k);
        let record_key = state_key::redelegation(&q.source, q.creation_height, seq);
        let Some(r) = state.get_scale::<Redelegation>(&record_key)? else {
            continue;
        };
        state.delete_raw(&record_key);
        state.delete_raw(&state_key::redelegation_into(
            &r.delegator,
            &r.destination,
            height,
            seq,
        ));
        adjust_refs(state, &r.source, |c| {
            c.redelegations_from = c.redelegations_from.saturating_sub(1);
        })?;
    }
    Ok(())
}
