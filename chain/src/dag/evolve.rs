//! Model evolution (a passed governance `ModelEvolution`): a new architecture version of a
//! model. The meta block gets a new major version recording the new expert or layer
//! count; every existing block stays as it is; for `AddExperts` each layer's router gets
//! a new version (grown by the new experts' rows) and the new experts get their first
//! versions, for `AddLayers` every block of the new layers gets its first version, all
//! with the CIDs and payload hashes the proposal carries (derived off chain from the recipe documented in
//! `blyan_proto::gov::evolution`, which anyone can re-derive and check). The work is
//! bounded by the number of new blocks; nothing here parses JSON.

use blyan_proto::dag::{BlockId, BlockType, ModelArch, ParamBlock, SemVer};
use blyan_proto::event::{DagEvent, Event};
use blyan_proto::gov::{
    add_experts_names, add_layers_names, EvolvedBlock, ModelChange, MAX_EXPERTS_ADDED,
    MAX_LAYERS_ADDED,
};
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
    /// The new architecture.
    pub arch: ModelArch,
    /// The new meta JSON (the old one with `"n_experts"` or `"n_layers"` replaced).
    pub meta_json: String,
    /// The current meta block.
    pub meta: ParamBlock,
}

fn err(code: ErrorCode, log: impl Into<String>) -> TxError {
    TxError::new(code, log)
}

/// `meta_json` with its single compact `"{field}":{old}` (followed by `,` or `}`)
/// replaced by `"{field}":{new}`; `None` unless `"{field}"` occurs exactly once, so.
pub fn replace_count(meta_json: &str, field: &str, old: u32, new: u32) -> Option<String> {
    if meta_json.matches(&format!("\"{field}\"")).count() != 1 {
        return None;
    }
    let needle = format!("\"{field}\":{old}");
    let i = meta_json.find(&needle)?;
    let end = i.checked_add(needle.len())?;
    if !matches!(meta_json.as_bytes().get(end), Some(b',') | Some(b'}')) {
        return None;
    }
    let mut out = String::with_capacity(meta_json.len().saturating_add(4));
    out.push_str(meta_json.get(..i)?);
    out.push_str(&format!("\"{field}\":{new}"));
    out.push_str(meta_json.get(end..)?);
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

/// The dimension a change grows: field name, current and new value, the block names it
/// records, and (for `AddExperts`) the source expert.
struct Growth {
    field: &'static str,
    old: u32,
    new: u32,
    names: Vec<String>,
    source_expert: Option<u32>,
}

fn growth(arch: &ModelArch, change: &ModelChange, max_dim: u32) -> TxResult<Growth> {
    let (field, old, count, max, source_expert) = match *change {
        ModelChange::AddExperts {
            count,
            source_expert,
        } => (
            "n_experts",
            arch.n_experts,
            count,
            MAX_EXPERTS_ADDED,
            Some(source_expert),
        ),
        ModelChange::AddLayers { count } => {
            ("n_layers", arch.n_layers, count, MAX_LAYERS_ADDED, None)
        }
    };
    let new = old
        .checked_add(count)
        .filter(|t| (1..=max).contains(&count) && *t <= max_dim)
        .ok_or_else(|| {
            err(
                ErrorCode::EvolutionCountOutOfRange,
                format!(
                    "adding {count} to {field} {old}: add 1-{max} per proposal, {max_dim} in all at most"
                ),
            )
        })?;
    if let Some(src) = source_expert {
        if src >= arch.n_experts {
            return Err(err(
                ErrorCode::InvalidEvolution,
                format!(
                    "source expert {src} is not one of the model's {} experts",
                    arch.n_experts
                ),
            ));
        }
    }
    let names = match change {
        ModelChange::AddExperts { .. } => add_experts_names(arch.n_layers, old, count),
        ModelChange::AddLayers { .. } => add_layers_names(old, arch.n_experts, count),
    }
    .ok_or_else(|| err(ErrorCode::EvolutionCountOutOfRange, "too many blocks"))?;
    Ok(Growth {
        field,
        old,
        new,
        names,
        source_expert,
    })
}

/// Checks an evolution of `model` against the current state (every check the execution
/// makes except the Proof-of-Learning round's, which is `gov`'s): the model exists, the
/// count is in range, the source expert exists, `base_meta` is the current meta block,
/// and `blocks` are exactly the blocks the change records, each derived from a current
/// head (new experts, grown routers) or from `base_meta` (a new layer's blocks).
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
    let p = params(state)?;
    let g = growth(&record.arch, change, p.max_arch_dim)?;
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
    let meta_json = replace_count(&record.meta_json, g.field, g.old, g.new).ok_or_else(|| {
        err(
            ErrorCode::InvalidEvolution,
            format!(
                "the meta JSON does not carry \"{}\":{} exactly once",
                g.field, g.old
            ),
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
    let have: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    if have != g.names {
        return Err(err(
            ErrorCode::EvolutionBlocksMismatch,
            format!(
                "the blocks must be, in order, the {} blocks {} (first: {}); got {}",
                g.names.len(),
                change_kind(change),
                g.names.first().map(String::as_str).unwrap_or_default(),
                have.len()
            ),
        ));
    }
    for b in blocks {
        check_block_fields(b)?;
        let from = match g.source_expert {
            Some(src) if !b.name.ends_with(".router") => {
                let layer = b.name.split('.').next().unwrap_or_default();
                format!("{layer}.expert{src}")
            }
            Some(_) => b.name.clone(),
            None => "meta".into(),
        };
        let current = if g.source_expert.is_some() {
            head(state, model_id, &from)?.map(|h| h.id)
        } else {
            Some(record.meta_block)
        };
        if current != Some(b.base) {
            return Err(err(
                ErrorCode::EvolutionStaleBase,
                format!(
                    "block {:?} derives from {}, but the current {from:?} is {}",
                    b.name,
                    hex::encode(b.base),
                    current.map(hex::encode).unwrap_or_else(|| "missing".into())
                ),
            ));
        }
    }
    let mut arch = record.arch.clone();
    match change {
        ModelChange::AddExperts { .. } => arch.n_experts = g.new,
        ModelChange::AddLayers { .. } => arch.n_layers = g.new,
    }
    Ok(EvolutionPlan {
        record,
        arch,
        meta_json,
        meta,
    })
}

fn change_kind(change: &ModelChange) -> &'static str {
    match change {
        ModelChange::AddExperts { .. } => {
            "adding experts records (per layer the router, then the new experts)"
        }
        ModelChange::AddLayers { .. } => {
            "adding layers records (per new layer the backbone, the router, then every expert)"
        }
    }
}

/// The block type a recorded name has (`…router`, `…backbone`, else an expert).
fn block_type_of(name: &str) -> BlockType {
    if name.ends_with(".router") {
        BlockType::Router
    } else if name.ends_with(".backbone") {
        BlockType::Backbone
    } else {
        BlockType::Expert
    }
}

/// Writes a checked evolution (`plan` from [`check_evolution`] on the same state) at
/// `height`, authored by `author`; returns the events. The meta block gets major
/// version + 1; each recorded block gets version `major.0.0` (a grown router: above its
/// previous head's major) and depends on the new meta block and its `base`.
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
        arch,
        meta_json,
        meta: old_meta,
    } = plan;
    let major = old_meta.version.major.saturating_add(1);
    let at_major = |m: u32| SemVer {
        major: m,
        minor: 0,
        patch: 0,
    };
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
        version: at_major(major),
        author: *author,
        height,
    };
    meta.id = block_id(&meta);
    rec.arch = arch;
    rec.meta_json = meta_json;
    rec.meta_block = meta.id;
    let mut events = vec![Event::Dag(DagEvent::BlockVersion {
        model: model_id.to_string(),
        name: "meta".into(),
        id: hex::encode(meta.id),
        version: meta.version.to_string(),
    })];
    record(state, &mut rec, &meta);
    for b in blocks {
        let ty = block_type_of(&b.name);
        let version = match head(state, model_id, &b.name)? {
            Some(prev) => at_major(prev.version.major.saturating_add(1).max(major)),
            None => at_major(major),
        };
        let layer = check_name(&rec.arch, &b.name, ty)?;
        let mut depends_on = vec![meta.id];
        if b.base != old_meta.id {
            depends_on.push(b.base);
        }
        let mut pb = ParamBlock {
            id: [0u8; 32],
            model: model_id.to_string(),
            block_type: ty,
            name: b.name.clone(),
            layer,
            depends_on,
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
            id: hex::encode(pb.id),
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
            replace_count(m, "n_experts", 4, 5).unwrap(),
            r#"{"arch":"blyan-moe-v1","n_experts":5,"top_k":2}"#
        );
        assert_eq!(
            replace_count(r#"{"n_experts":4}"#, "n_experts", 4, 6).unwrap(),
            r#"{"n_experts":6}"#
        );
        // wrong count, a longer number, pretty-printed, twice
        assert!(replace_count(m, "n_experts", 3, 5).is_none());
        assert!(replace_count(r#"{"n_experts":40}"#, "n_experts", 4, 5).is_none());
        assert!(replace_count(r#"{"n_experts": 4}"#, "n_experts", 4, 5).is_none());
        assert!(replace_count(r#"{"n_experts":4,"n_experts":4}"#, "n_experts", 4, 5).is_none());
        assert_eq!(
            replace_count(r#"{"n_layers":2,"n_experts":4}"#, "n_layers", 2, 3).unwrap(),
            r#"{"n_layers":3,"n_experts":4}"#
        );
    }
}
