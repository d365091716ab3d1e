//! `MsgPublishModel`: new models and new block versions, with every rule checked before
//! anything is written (the transaction overlay drops partial writes on error anyway).

use std::collections::BTreeSet;

use blyan_proto::dag::{
    BlockId, BlockSpec, BlockType, DagParams, ModelArch, ParamBlock, PublishModel, SemVer,
};
use blyan_proto::event::{DagEvent, Event};
use blyan_proto::{Address, ErrorCode};
use parity_scale_codec::Encode;

use super::names::{block_names, check_name};
use super::state::*;
use crate::error::{TxError, TxResult};
use crate::state::StateWrite;

/// How a publish is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOptions {
    /// Require and lock the deposit (false for genesis models).
    pub charge_deposit: bool,
}

fn bad(code: ErrorCode, log: impl Into<String>) -> TxError {
    TxError::new(code, log)
}

fn check_model_id(id: &str) -> TxResult<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(bad(
            ErrorCode::InvalidModelId,
            format!("model ids are [a-z0-9_-]{{1,64}}, got {id:?}"),
        ));
    }
    Ok(())
}

fn check_arch(arch: &ModelArch, p: &DagParams) -> TxResult<()> {
    let ok_dim = |d: u32| (1..=p.max_arch_dim).contains(&d);
    if arch.arch.is_empty()
        || arch.arch.len() > 64
        || !ok_dim(arch.n_layers)
        || !ok_dim(arch.n_experts)
    {
        return Err(bad(
            ErrorCode::InvalidArchitecture,
            format!(
                "an architecture has a tag and 1-{0} layers and experts",
                p.max_arch_dim
            ),
        ));
    }
    Ok(())
}

fn check_fields(spec: &BlockSpec) -> TxResult<()> {
    if spec.cid.is_empty()
        || spec.cid.len() > 128
        || !spec.cid.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad(
            ErrorCode::InvalidBlockField,
            format!("block {:?}: malformed CID", spec.name),
        ));
    }
    if spec.payload_hash == [0u8; 32] || spec.size == 0 {
        return Err(bad(
            ErrorCode::InvalidBlockField,
            format!("block {:?}: empty payload hash or size", spec.name),
        ));
    }
    if spec.depends_on.len() > 16 {
        return Err(bad(
            ErrorCode::InvalidBlockField,
            format!("block {:?}: too many dependencies", spec.name),
        ));
    }
    Ok(())
}

pub(super) fn block_id(b: &ParamBlock) -> BlockId {
    let header = (
        &b.model,
        b.block_type,
        &b.name,
        b.layer,
        &b.depends_on,
        b.payload_hash,
        &b.cid,
        b.size,
        b.version,
        b.author,
        b.height,
    );
    blyan_proto::hash::keccak256(&header.encode())
}

/// Publishes a model or new versions of its blocks (`msg`, signed by `author` at
/// `height`); returns the events.
pub fn publish_model<S: StateWrite + ?Sized>(
    state: &mut S,
    author: &Address,
    msg: &PublishModel,
    height: u64,
    opts: PublishOptions,
) -> TxResult<Vec<Event>> {
    let PublishModel {
        model_id,
        arch,
        meta_json,
        blocks,
        deposit,
    } = msg;
    let (model_id, deposit) = (model_id.as_str(), *deposit);
    let p: DagParams = params(state)?;
    check_model_id(model_id)?;
    if blocks.len() > usize::try_from(p.max_blocks_per_msg).unwrap_or(usize::MAX) {
        return Err(bad(
            ErrorCode::InvalidBlockField,
            "too many blocks in one message",
        ));
    }
    let existing = model(state, model_id)?;
    let new_model = existing.is_none();
    let mut rec = match existing {
        Some(rec) => {
            if rec.owner != *author {
                return Err(bad(
                    ErrorCode::ModelExists,
                    format!("model {model_id:?} is owned by {}", rec.owner),
                ));
            }
            if rec.validation.is_some() {
                return Err(bad(
                    ErrorCode::ModelUnderPol,
                    format!(
                        "model {model_id:?} has a validation set: its heads change only through accepted Proof-of-Learning rounds"
                    ),
                ));
            }
            if rec.arch != *arch {
                return Err(bad(
                    ErrorCode::InvalidArchitecture,
                    "the architecture of a model never changes",
                ));
            }
            rec
        }
        None => {
            check_arch(arch, &p)?;
            if meta_json.is_empty()
                || meta_json.len() > usize::try_from(p.max_meta_bytes).unwrap_or(usize::MAX)
            {
                return Err(bad(
                    ErrorCode::InvalidBlockField,
                    "the meta JSON is empty or too large",
                ));
            }
            let needed = if opts.charge_deposit {
                p.publish_deposit
            } else {
                0
            };
            if deposit < needed {
                return Err(bad(
                    ErrorCode::DepositTooLow,
                    format!("a new model locks a deposit of {needed}, got {deposit}"),
                ));
            }
            ModelRecord {
                owner: *author,
                arch: arch.clone(),
                meta_json: meta_json.to_string(),
                meta_block: [0u8; 32],
                deposit,
                blocks: 0,
                validation: None,
                loss_micro: None,
            }
        }
    };
    // Check every block before writing anything.
    let mut names = BTreeSet::new();
    let mut planned = Vec::with_capacity(blocks.len());
    for spec in blocks {
        if !names.insert(spec.name.as_str()) {
            return Err(bad(
                ErrorCode::DuplicateBlock,
                format!("block {:?} appears twice", spec.name),
            ));
        }
        check_fields(spec)?;
        let layer = check_name(arch, &spec.name, spec.block_type)?;
        let prev = head(state, model_id, &spec.name)?;
        if let Some(prev) = &prev {
            if spec.version <= prev.version {
                return Err(bad(
                    ErrorCode::VersionNotIncreasing,
                    format!(
                        "block {:?}: version {} is not above head {}",
                        spec.name, spec.version, prev.version
                    ),
                ));
            }
        }
        for dep in &spec.depends_on {
            match block(state, dep)? {
                Some(b) if b.model == model_id => {}
                _ => {
                    return Err(bad(
                        ErrorCode::DanglingDependency,
                        format!(
                            "block {:?} depends on {}, not a block of {model_id:?}",
                            spec.name,
                            hex(dep)
                        ),
                    ))
                }
            }
        }
        planned.push((spec, layer, prev.map(|b| b.id)));
    }
    if new_model {
        let missing: Vec<String> = block_names(arch)
            .into_iter()
            .map(|(n, _, _)| n)
            .filter(|n| !names.contains(n.as_str()))
            .collect();
        if !missing.is_empty() {
            return Err(bad(
                ErrorCode::MissingBlocks,
                format!(
                    "a new model publishes every block; missing {} (first: {})",
                    missing.len(),
                    missing.first().map(String::as_str).unwrap_or_default()
                ),
            ));
        }
        if opts.charge_deposit && deposit > 0 {
            crate::bank::transfer(state, author, &DEPOSIT_POOL, deposit)?;
        }
    }
    let mut events = Vec::with_capacity(planned.len().saturating_add(2));
    if new_model {
        let mut meta = ParamBlock {
            id: [0u8; 32],
            model: model_id.to_string(),
            block_type: BlockType::Meta,
            name: "meta".into(),
            layer: None,
            depends_on: Vec::new(),
            payload_hash: blyan_proto::hash::keccak256(meta_json.as_bytes()),
            cid: String::new(),
            size: u64::try_from(meta_json.len()).unwrap_or(u64::MAX),
            version: SemVer {
                major: 1,
                minor: 0,
                patch: 0,
            },
            author: *author,
            height,
        };
        meta.id = block_id(&meta);
        rec.meta_block = meta.id;
        record(state, &mut rec, &meta);
    }
    for (spec, layer, prev) in planned {
        let mut deps = vec![rec.meta_block];
        deps.extend(prev);
        for d in &spec.depends_on {
            if !deps.contains(d) {
                deps.push(*d);
            }
        }
        let mut b = ParamBlock {
            id: [0u8; 32],
            model: model_id.to_string(),
            block_type: spec.block_type,
            name: spec.name.clone(),
            layer,
            depends_on: deps,
            payload_hash: spec.payload_hash,
            cid: spec.cid.clone(),
            size: spec.size,
            version: spec.version,
            author: *author,
            height,
        };
        b.id = block_id(&b);
        record(state, &mut rec, &b);
        events.push(Event::Dag(DagEvent::BlockVersion {
            model: model_id.to_string(),
            name: b.name.clone(),
            id: hex(&b.id),
            version: b.version.to_string(),
        }));
    }
    let recorded = u64::try_from(blocks.len())
        .unwrap_or(u64::MAX)
        .saturating_add(u64::from(new_model));
    crate::state::StateWriteExt::put_scale(state, state_key::model(model_id), &rec);
    events.insert(
        0,
        Event::Dag(DagEvent::ModelPublished {
            model: model_id.to_string(),
            author: *author,
            new_model,
            blocks: recorded,
        }),
    );
    Ok(events)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
