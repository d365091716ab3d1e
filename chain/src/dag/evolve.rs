//! Model evolution (a passed governance `ModelEvolution`): a new architecture version of a
//! model. The meta block gets a new major version recording the new expert count; every
//! existing block stays as it is; each layer's router gets a new version (grown by the
//! new experts' rows) and the new experts get their first versions, with the CIDs and
//! payload hashes the proposal carries (derived off chain from the recipe documented in
//! `blyan_proto::gov::evolution`, which anyone can re-derive and check). The work is
//! bounded by the number of new blocks; nothing here parses JSON.

use blyan_proto::dag::{BlockId, BlockType, ParamBlock, SemVer};
use blyan_proto::event::{DagEvent, Event};
use blyan_proto::gov::{add_experts_names, EvolvedBlock, ModelChange, MAX_EXPERTS_ADDED};
use blyan_proto::{Address, ErrorCode};

use super::names::check_name;
use super::publish::block_id;
use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateWrite};

/// What an evolution will write, computed by [`check_evolution`] before any write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvolutionPlan {
    /// The model record as it is now.
    pub record: ModelRecord,
    /// The new expert count per layer.
    pub n_experts: u32,
    /// The new meta JSON (the old one with `"n_experts"` replaced).
    pub meta_json: String,
    /// The current meta block.
    pub meta: ParamBlock,
}

fn err(code: ErrorCode, log: impl Into<String>) -> TxError {
    TxError::new(code, log)
}

/// `meta_json` with its single compact `"n_experts":{old}` (followed by `,` or `}`)
/// replaced by `"n_experts":{new}`; `None` unless it occurs exactly once.
pub fn replace_expert_count(meta_json: &str, old: u32, new: u32) -> Option<String> {
    let needle = format!("\"n_experts\":{old}");
    let mut found = None;
    for (i, _) in meta_json.match_indices(&needle) {
        let end = i.checked_add(needle.len())?;
        if matches!(meta_json.as_bytes().get(end), Some(b',') | Some(b'}')) {
            if found.is_some() {
                return None;
            }
            found = Some((i, end));
        }
    }
    let (i, end) = found?;
    let mut out = String::with_capacity(meta_json.len().saturating_add(4));
    out.push_str(meta_json.get(..i)?);
    out.push_str(&format!("\"n_experts\":{new}"));
    out.push_str(meta_json.get(end..)?);
    if meta_json.matches("\"n_experts\"").count() != 1 {
        return None;
    }
    Some(out)
}

fn check_block_fields(b: &EvolvedBlock) -> TxResult<()> {
    if b.cid.is_empty() || b.cid.len() > 128 || !b.cid.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(err(
            ErrorCode::EvolutionBlocksMismatch,
            format!("block {:?}: malformed CID", b.name),
        ));
    }
    if b.payload_hash == [0u8; 32] || b.size == 0 {
        return Err(err(
            ErrorCode::EvolutionBlocksMismatch,
            format!("block {:?}: empty payload hash or size", b.name),
        ));
    }
    Ok(())
}

/// Checks an evolution of `model` against the current state (every check the execution
/// makes except the Proof-of-Learning round's, which is `gov`'s): the model exists, the
/// count is in range, the source expert exists, `base_meta` is the current meta block,
/// and `blocks` are exactly the routers and new experts, each derived from a current
/// head.
pub fn check_evolution<S: StateRead + ?Sized>(
    state: &S,
    model_id: &str,
    change: &ModelChange,
    base_meta: &BlockId,
    blocks: &[EvolvedBlock],
) -> TxResult<EvolutionPlan> {
    let record = model(state, model_id)?.ok_or_else(|| {
        err(
            ErrorCode::EvolutionUnknownModel,
            format!("no model {model_id:?} to evolve"),
        )
    })?;
    let ModelChange::AddExperts {
        count,
        source_expert,
    } = *change;
    let p = params(state)?;
    let n = record.arch.n_experts;
    let n_experts = n
        .checked_add(count)
        .filter(|t| (1..=MAX_EXPERTS_ADDED).contains(&count) && *t <= p.max_arch_dim)
        .ok_or_else(|| {
            err(
                ErrorCode::EvolutionCountOutOfRange,
                format!(
                    "adding {count} experts to {n}: add 1-{MAX_EXPERTS_ADDED} per proposal, \
                     {} in all at most",
                    p.max_arch_dim
                ),
            )
        })?;
    if source_expert >= n {
        return Err(err(
            ErrorCode::InvalidEvolution,
            format!("source expert {source_expert} is not one of the model's {n} experts"),
        ));
    }
    if *base_meta != record.meta_block {
        return Err(err(
            ErrorCode::EvolutionStaleBase,
            format!(
                "the proposal applies to meta block {}, the model's is now {}",
                hex::encode(base_meta),
                hex::encode(record.meta_block)
            ),
        ));
    }
    let meta_json = replace_expert_count(&record.meta_json, n, n_experts).ok_or_else(|| {
        err(
            ErrorCode::InvalidEvolution,
            format!("the meta JSON does not carry \"n_experts\":{n} exactly once"),
        )
    })?;
    if meta_json.len() > usize::try_from(p.max_meta_bytes).unwrap_or(usize::MAX) {
        return Err(err(
            ErrorCode::InvalidEvolution,
            "the new meta JSON is too large",
        ));
    }
    let meta = block(state, &record.meta_block)?
        .ok_or_else(|| err(ErrorCode::CorruptState, "the model's meta block is missing"))?;
    let names = add_experts_names(record.arch.n_layers, n, count)
        .ok_or_else(|| err(ErrorCode::EvolutionCountOutOfRange, "too many blocks"))?;
    let have: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    if have != names {
        return Err(err(
            ErrorCode::EvolutionBlocksMismatch,
            format!(
                "the blocks must be, in order, {} (per layer the router, then experts {n}..{n_experts}); got {}",
                names.len(),
                have.len()
            ),
        ));
    }
    for b in blocks {
        check_block_fields(b)?;
        let from = if b.name.ends_with(".router") {
            b.name.clone()
        } else {
            let layer = b.name.split('.').next().unwrap_or_default();
            format!("{layer}.expert{source_expert}")
        };
        let head_id = head(state, model_id, &from)?.map(|h| h.id);
        if head_id != Some(b.base) {
            return Err(err(
                ErrorCode::EvolutionStaleBase,
                format!(
                    "block {:?} derives from {}, but the head of {from:?} is {}",
                    b.name,
                    hex::encode(b.base),
                    head_id.map(hex::encode).unwrap_or_else(|| "missing".into())
                ),
            ));
        }
    }
    Ok(EvolutionPlan {
        record,
        n_experts,
        meta_json,
        meta,
    })
}

/// Writes a checked evolution (`plan` from [`check_evolution`] on the same state) at
/// `height`, authored by `author`; returns the events.
pub fn evolve_model<S: StateWrite + ?Sized>(
    state: &mut S,
    model_id: &str,
    plan: EvolutionPlan,
    blocks: &[EvolvedBlock],
    author: &Address,
    height: u64,
) -> TxResult<Vec<Event>> {
    let EvolutionPlan {
        record: mut rec,
        n_experts,
        meta_json,
        meta: old_meta,
    } = plan;
    let major = old_meta.version.major.saturating_add(1);
    let mut meta = ParamBlock {
        id: [0u8; 32],
        model: model_id.to_string(),
        block_type: BlockType::Meta,
        name: "meta".into(),
        layer: None,
        depends_on: vec![old_meta.id],
        payload_hash: blyan_proto::hash::keccak256(meta_json.as_bytes()),
        cid: String::new(),
        size: u64::try_from(meta_json.len()).unwrap_or(u64::MAX),
        version: SemVer {
            major,
            minor: 0,
            patch: 0,
        },
        author: *author,
        height,
    };
    meta.id = block_id(&meta);
    rec.arch.n_experts = n_experts;
    rec.meta_json = meta_json;
    rec.meta_block = meta.id;
    let hex = |b: &[u8]| hex::encode(b);
    let mut events = vec![Event::Dag(DagEvent::BlockVersion {
        model: model_id.to_string(),
        name: "meta".into(),
        id: hex(&meta.id),
        version: meta.version.to_string(),
    })];
    record(state, &mut rec, &meta);
    for b in blocks {
        let (ty, version) = if b.name.ends_with(".router") {
            let prev = block(state, &b.base)?
                .ok_or_else(|| err(ErrorCode::CorruptState, "a router head is missing"))?;
            (
                BlockType::Router,
                SemVer {
                    major: prev.version.major.saturating_add(1).max(major),
                    minor: 0,
                    patch: 0,
                },
            )
        } else {
            (
                BlockType::Expert,
                SemVer {
                    major,
                    minor: 0,
                    patch: 0,
                },
            )
        };
        let layer = check_name(&rec.arch, &b.name, ty)?;
        let mut pb = ParamBlock {
            id: [0u8; 32],
            model: model_id.to_string(),
            block_type: ty,
            name: b.name.clone(),
            layer,
            depends_on: vec![meta.id, b.base],
            payload_hash: b.payload_hash,
            cid: b.cid.clone(),
            size: b.size,
            version,
            author: *author,
            height,
        };
        pb.id = block_id(&pb);
        record(state, &mut rec, &pb);
        events.push(Event::Dag(DagEvent::BlockVersion {
            model: model_id.to_string(),
            name: pb.name.clone(),
            id: hex(&pb.id),
            version: pb.version.to_string(),
        }));
    }
    set_model(state, model_id, &rec);
    events.insert(
        0,
        Event::Dag(DagEvent::ModelPublished {
            model: model_id.to_string(),
            author: *author,
            new_model: false,
            blocks: u64::try_from(blocks.len())
                .unwrap_or(u64::MAX)
                .saturating_add(1),
        }),
    );
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expert_count_is_replaced_once_or_refused() {
        let m = r#"{"arch":"blyan-moe-v1","n_experts":4,"top_k":2}"#;
        assert_eq!(
            replace_expert_count(m, 4, 5).unwrap(),
            r#"{"arch":"blyan-moe-v1","n_experts":5,"top_k":2}"#
        );
        assert_eq!(
            replace_expert_count(r#"{"n_experts":4}"#, 4, 6).unwrap(),
            r#"{"n_experts":6}"#
        );
        // wrong count, a longer number, pretty-printed, twice
        assert!(replace_expert_count(m, 3, 5).is_none());
        assert!(replace_expert_count(r#"{"n_experts":40}"#, 4, 5).is_none());
        assert!(replace_expert_count(r#"{"n_experts": 4}"#, 4, 5).is_none());
        assert!(replace_expert_count(r#"{"n_experts":4,"n_experts":4}"#, 4, 5).is_none());
    }
}
