//! `MsgSubmitDelta`: field checks, heads, trust (quota, bond, stamp), the round, copies
//! (the same delta content twice in a round), the submission fee, the bond.

use blyan_proto::dag::BlockType;
use blyan_proto::event::Event;
use blyan_proto::pol::{
    leading_zero_bits, stamp_digest, PolEvent, PolParams, RoundInfo, RoundStatus, StampInput,
    SubmissionInfo, SubmissionStatus, SubmitDelta, TrustLevel,
};
use blyan_proto::ErrorCode;

use super::state::*;
use super::trust::{count_submission, day_of, used_today};
use crate::dag::DagRead;
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::{StateWrite, StateWriteExt};

/// Longest CID or dataset reference accepted, bytes.
const MAX_REF_LEN: usize = 128;

fn invalid(log: impl Into<String>) -> TxError {
    TxError::new(ErrorCode::InvalidSubmission, log)
}

fn check_ref(what: &str, s: &str) -> TxResult<()> {
    if s.is_empty() || s.len() > MAX_REF_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(format!(
            "{what} {s:?} must be 1–{MAX_REF_LEN} printable ASCII characters"
        )));
    }
    Ok(())
}

/// Stateless checks of the message against the parameters.
fn check_fields(m: &SubmitDelta, p: &PolParams) -> TxResult<()> {
    if m.deltas.is_empty() {
        return Err(invalid("a submission needs at least one delta"));
    }
    if m.deltas.len() > usize::try_from(p.max_deltas).unwrap_or(usize::MAX) {
        return Err(invalid(format!(
            "{} deltas, at most {} per submission",
            m.deltas.len(),
            p.max_deltas
        )));
    }
    if m.base_heads.len() != m.deltas.len() {
        return Err(invalid(format!(
            "{} base heads for {} deltas: give the head of each block changed, in order",
            m.base_heads.len(),
            m.deltas.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (d, b) in m.deltas.iter().zip(&m.base_heads) {
        if d.block != b.block {
            return Err(invalid(format!(
                "base head {:?} listed against delta {:?}",
                b.block, d.block
            )));
        }
        if !seen.insert(d.block.as_str()) {
            return Err(invalid(format!("block {:?} appears twice", d.block)));
        }
        check_ref("delta CID", &d.cid)?;
        if d.size == 0 || d.size > p.max_delta_bytes {
            return Err(TxError::new(
                ErrorCode::DeltaTooLarge,
                format!(
                    "delta of {:?} declares {} bytes; must be 1–{}",
                    d.block, d.size, p.max_delta_bytes
                ),
            ));
        }
    }
    if m.samples == 0 {
        return Err(invalid("samples must be positive"));
    }
    if m.dataset_refs.len() > usize::try_from(p.max_dataset_refs).unwrap_or(usize::MAX) {
        return Err(invalid(format!(
            "{} dataset references, at most {}",
            m.dataset_refs.len(),
            p.max_dataset_refs
        )));
    }
    for r in &m.dataset_refs {
        check_ref("dataset reference", r)?;
    }
    check_ref("manifest CID", &m.manifest_cid)?;
    if m.manifest_size == 0 {
        return Err(invalid("manifest size must be positive"));
    }
    if m.manifest_size > p.max_manifest_bytes {
        return Err(TxError::new(
            ErrorCode::ManifestTooLarge,
            format!(
                "manifest of {} bytes; the limit is {}",
                m.manifest_size, p.max_manifest_bytes
            ),
        ));
    }
    Ok(())
}

/// Checks the blocks exist in the model and the base heads are current.
fn check_heads<S: StateWrite + ?Sized>(state: &S, m: &SubmitDelta) -> TxResult<Option<u64>> {
    let model = state.dag_must_model(&m.model)?;
    if model.validation.is_none() {
        return Err(TxError::new(
            ErrorCode::NoValidationSet,
            format!("model {:?} has no validation set", m.model),
        ));
    }
    for b in &m.base_heads {
        let unknown = || {
            TxError::new(
                ErrorCode::UnknownBlock,
                format!("model {:?} has no block {:?}", m.model, b.block),
            )
        };
        let ty = match b.block.as_str() {
            "embed" | "head" => BlockType::Backbone,
            n if n.ends_with(".router") => BlockType::Router,
            n if n.ends_with(".backbone") => BlockType::Backbone,
            _ => BlockType::Expert,
        };
        crate::dag::check_name(&model.arch, &b.block, ty).map_err(|_| unknown())?;
        let head = state.dag_head(&m.model, &b.block)?.ok_or_else(unknown)?;
        if head.id != b.id {
            return Err(TxError::new(
                ErrorCode::StaleBaseHeads,
                format!(
                    "base head of {:?} is {}, the current head is {} (version {}): retrain on the current heads",
                    b.block,
                    hex::encode(b.id),
                    hex::encode(head.id),
                    head.version
                ),
            ));
        }
    }
    Ok(model.loss_micro)
}

/// Records a delta submission: checks it, opens the model's round if none is in
/// progress, refuses a delta whose content (hash) is already in the round, takes the
/// non-refundable `submission_fee` and locks the bond in [`BOND_POOL`]. The aggregation
/// weight is the declared samples capped at `max_samples_per_submission`.
pub fn submit_delta<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    m: &SubmitDelta,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    check_fields(m, &p)?;
    let base_loss = check_heads(state, m)?;
    let signer = ctx.signer;

    let mut t = trust(state, &signer)?;
    let day = day_of(ctx.time_unix_ms);
    let quota = p.quota(t.level);
    if used_today(&t, day) >= quota {
        return Err(TxError::new(
            ErrorCode::QuotaExceeded,
            format!(
                "{signer} made its {quota} submissions allowed today ({:?})",
                t.level
            ),
        ));
    }
    let min_bond = p.min_bond(t.level);
    if m.bond < min_bond {
        return Err(TxError::new(
            ErrorCode::BondTooLow,
            format!(
                "bond {} is below the {min_bond} a {:?} contributor must lock",
                m.bond, t.level
            ),
        ));
    }
    if t.level == TrustLevel::Newbie && p.hashcash_bits > 0 {
        let stamp = m.stamp.ok_or_else(|| {
            TxError::new(
                ErrorCode::MissingStamp,
                format!(
                    "newcomers attach a hashcash stamp of {} bits",
                    p.hashcash_bits
                ),
            )
        })?;
        let input = StampInput {
            chain_id: ctx.chain_id,
            signer: &signer,
            tx_nonce: ctx.tx_nonce,
            manifest_hash: &m.manifest_hash,
        };
        let bits = leading_zero_bits(&stamp_digest(&input, stamp));
        if bits < p.hashcash_bits {
            return Err(TxError::new(
                ErrorCode::BadStamp,
                format!(
                    "stamp {stamp} gives {bits} leading zero bits, {} needed",
                    p.hashcash_bits
                ),
            ));
        }
    }

    let mut events = Vec::new();
    let mut round = match current_round(state, &m.model)? {
        Some(r) if r.status == RoundStatus::Open && ctx.height <= r.submit_until => r,
        Some(r) => {
            return Err(TxError::new(
                ErrorCode::RoundNotOpen,
                format!(
                    "round {} of {:?} closed to submissions at height {} and is being judged (until height {})",
                    r.id, m.model, r.submit_until, r.phase2_until
                ),
            ))
        }
        None => {
            if let Some(pid) = crate::gov::pending_evolution(state, &m.model)? {
                return Err(TxError::new(
                    ErrorCode::EvolutionPending,
                    format!(
                        "model {:?} evolves by passed proposal {pid} at its effective height: no new round opens until then",
                        m.model
                    ),
                ));
            }
            let id = next_id(state, state_key::NEXT_ROUND)?;
            let span = |n: u64| n.saturating_sub(1);
            let submit_until = ctx.height.saturating_add(span(p.round_blocks));
            let phase1_until = submit_until.saturating_add(p.phase1_blocks);
            let r = RoundInfo {
                id,
                model: m.model.clone(),
                opened_at: ctx.height,
                submit_until,
                phase1_until,
                phase2_until: phase1_until.saturating_add(p.phase2_blocks),
                status: RoundStatus::Open,
                submissions: Vec::new(),
                bonds: 0,
                base_loss_micro: base_loss,
                ended_at: 0,
                total_power: 0,
                phase1_power: 0,
                phase2_power: 0,
                phase2_agreeing_power: 0,
                aggregate_hash: None,
                new_loss_micro: None,
                new_blocks: Vec::new(),
                learning_rewards: 0,
                validation_rewards: 0,
                slashed: 0,
            };
            open_round(state, &r);
            events.push(Event::Pol(PolEvent::RoundOpened {
                round: id,
                model: m.model.clone(),
                submit_until,
            }));
            r
        }
    };
    if let Some(prev) = miner_submission(state, round.id, &signer)? {
        return Err(TxError::new(
            ErrorCode::DuplicateSubmission,
            format!(
                "{signer} already submitted to round {} (submission {prev})",
                round.id
            ),
        ));
    }
    if round.submissions.len() >= usize::try_from(p.max_submissions_per_round).unwrap_or(usize::MAX)
    {
        return Err(TxError::new(
            ErrorCode::RoundFull,
            format!(
                "round {} holds {} submissions, the most it takes",
                round.id, p.max_submissions_per_round
            ),
        ));
    }
    for d in &m.deltas {
        if let Some(prev) = delta_submission(state, round.id, &d.hash)? {
            return Err(TxError::new(
                ErrorCode::DuplicateDelta,
                format!(
                    "the delta of {:?} (sha3 {}) is already in round {} (submission {prev}): a copy earns nothing",
                    d.block,
                    hex::encode(d.hash),
                    round.id
                ),
            ));
        }
    }
    super::payout::take(state, &p, &signer, p.submission_fee)?;
    if m.bond > 0 {
        events.push(crate::bank::transfer(state, &signer, &BOND_POOL, m.bond)?);
    }

    let id = next_id(state, state_key::NEXT_SUBMISSION)?;
    set_submission(
        state,
        &SubmissionInfo {
            id,
            round: round.id,
            miner: signer,
            model: m.model.clone(),
            base_heads: m.base_heads.clone(),
            deltas: m.deltas.clone(),
            samples: m.samples,
            weight: m.samples.min(p.max_samples_per_submission),
            dataset_refs: m.dataset_refs.clone(),
            manifest_cid: m.manifest_cid.clone(),
            manifest_hash: m.manifest_hash,
            manifest_size: m.manifest_size,
            bond: m.bond,
            trust: t.level,
            height: ctx.height,
            status: SubmissionStatus::Pending,
            median_loss_micro: None,
            flags: 0,
            reward: 0,
            penalty: 0,
            fee: p.submission_fee,
        },
    );
    state.put_scale(state_key::round_miner(round.id, &signer), &id);
    for d in &m.deltas {
        set_delta_submission(state, round.id, &d.hash, id);
    }
    round.submissions.push(id);
    round.bonds = round
        .bonds
        .checked_add(m.bond)
        .ok_or_else(|| TxError::new(ErrorCode::AmountOverflow, "round bonds overflow"))?;
    set_round(state, &round);
    count_submission(&mut t, day);
    set_trust(state, &signer, &t);
    events.push(Event::Pol(PolEvent::DeltaSubmitted {
        round: round.id,
        submission: id,
        miner: signer,
        model: m.model.clone(),
        blocks: m
            .deltas
            .iter()
            .map(|d| d.block.as_str())
            .collect::<Vec<_>>()
            .join(","),
        bond: m.bond,
        manifest_cid: m.manifest_cid.clone(),
    }));
    Ok(events)
}
