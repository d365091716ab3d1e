//! Redeeming a voucher: checks, then the split between provider, contributors and burn.
//!
//! The voucher binds the model and the usage the provider reports (`usage_root`); usage is
//! cumulative since the channel opened, and the contributors' share of this redemption is
//! split by each block's growth since the previous one (stored per channel).

use std::collections::BTreeMap;

use blyan_proto::event::Event;
use blyan_proto::inference::{usage_root, BlockUsage, InferenceEvent, SignedVoucher};
use blyan_proto::{Address, ErrorCode};

use super::state::*;
use crate::dag::DagRead;
use crate::error::{TxError, TxResult};
use crate::math::{bps_of, mul_div};
use crate::runtime::MsgContext;
use crate::state::StateWrite;

fn bad(code: ErrorCode, log: impl Into<String>) -> TxError {
    TxError::new(code, log)
}

/// Who shares the contributors' part of `tokens` served by `block` of `model`: the
/// contributors Proof-of-Learning recorded for its head, else the head's author (the
/// model's publisher for genesis blocks).
fn recipients<S: StateWrite + ?Sized>(
    state: &S,
    model: &str,
    owner: &Address,
    block: &str,
) -> TxResult<Vec<(Address, u128)>> {
    let head = state.dag_head(model, block)?.ok_or_else(|| {
        bad(
            ErrorCode::InvalidUsage,
            format!("model {model:?} has no block {block:?}"),
        )
    })?;
    let recorded = crate::pol::contributors(state, &head.id)?;
    if !recorded.is_empty() {
        return Ok(recorded);
    }
    let author = if head.author == crate::pol::POL_MODULE {
        *owner
    } else {
        head.author
    };
    Ok(vec![(author, 1)])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a cumulative usage report (sorted by block name, no zero or repeated entries, no
/// block below what the channel's previous redemption reported) and returns the tokens
/// each block served since that redemption (blocks that did not grow are left out).
fn usage_growth<'a, S: StateWrite + ?Sized>(
    state: &S,
    channel: u64,
    usage: &'a [BlockUsage],
) -> TxResult<BTreeMap<&'a str, u64>> {
    for pair in usage.windows(2) {
        if let [a, b] = pair {
            if a.block >= b.block {
                return Err(bad(
                    ErrorCode::InvalidUsage,
                    format!(
                        "usage must be sorted by block name without repeats: {:?} then {:?}",
                        a.block, b.block
                    ),
                ));
            }
        }
    }
    if let Some(u) = usage.iter().find(|u| u.tokens == 0) {
        return Err(bad(
            ErrorCode::InvalidUsage,
            format!("usage of {:?}: zero tokens", u.block),
        ));
    }
    let now: BTreeMap<&str, u64> = usage.iter().map(|u| (u.block.as_str(), u.tokens)).collect();
    let mut growth = now.clone();
    for before in channel_usage(state, channel)? {
        let reported = now.get(before.block.as_str()).copied().unwrap_or(0);
        let Some(g) = reported.checked_sub(before.tokens) else {
            return Err(bad(
                ErrorCode::UsageNotCumulative,
                format!(
                    "usage of {:?} is {reported} tokens, below the {} an earlier redemption of channel {channel} reported",
                    before.block, before.tokens
                ),
            ));
        };
        if let Some(x) = growth.get_mut(before.block.as_str()) {
            *x = g;
        }
    }
    growth.retain(|_, t| *t > 0);
    Ok(growth)
}

/// The provider redeems the user's latest voucher.
pub fn redeem<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    sv: &SignedVoucher,
    model: &str,
    usage: &[BlockUsage],
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let v = &sv.voucher;
    let mut c = channel(state, v.channel)?;
    if c.closed {
        return Err(bad(
            ErrorCode::ChannelClosed,
            format!("channel {} is closed", c.id),
        ));
    }
    if ctx.signer != c.provider || v.provider != c.provider {
        return Err(bad(
            ErrorCode::VoucherWrongProvider,
            format!(
                "channel {} pays {}; the voucher names {} and the signer is {}",
                c.id, c.provider, v.provider, ctx.signer
            ),
        ));
    }
    if ctx.height > c.expires_at {
        return Err(bad(
            ErrorCode::ChannelExpired,
            format!("channel {} expired at height {}", c.id, c.expires_at),
        ));
    }
    match sv.signer(ctx.chain_id) {
        Ok(a) if a == c.user => {}
        Ok(a) => {
            return Err(bad(
                ErrorCode::BadVoucherSignature,
                format!(
                    "the voucher is signed by {a}, not the channel's user {}",
                    c.user
                ),
            ))
        }
        Err(e) => return Err(bad(ErrorCode::BadVoucherSignature, e.to_string())),
    }
    if v.cumulative <= c.redeemed {
        return Err(bad(
            ErrorCode::VoucherNotNewer,
            format!(
                "voucher for {} is not above the {} already redeemed",
                v.cumulative, c.redeemed
            ),
        ));
    }
    if v.cumulative > c.deposit {
        return Err(bad(
            ErrorCode::VoucherAboveDeposit,
            format!(
                "voucher for {} is above the deposit {}",
                v.cumulative, c.deposit
            ),
        ));
    }
    if v.model != model {
        return Err(bad(
            ErrorCode::VoucherWrongModel,
            format!(
                "the voucher was signed for model {:?}, the redemption names {model:?}",
                v.model
            ),
        ));
    }
    let rec = state.dag_must_model(model)?;
    let serves = provider(state, &c.provider)?.is_some_and(|p| p.models.iter().any(|m| m == model));
    if !serves {
        return Err(bad(
            ErrorCode::InvalidUsage,
            format!("{} is not registered to serve model {model:?}", c.provider),
        ));
    }
    if usage.len() > usize::try_from(p.max_usage_entries).unwrap_or(usize::MAX) {
        return Err(bad(ErrorCode::InvalidUsage, "too many usage entries"));
    }
    let by_block = usage_growth(state, c.id, usage)?;
    if usage_root(usage) != v.usage_root {
        return Err(bad(
            ErrorCode::VoucherUsageMismatch,
            format!(
                "the reported usage (root 0x{}) is not the usage the user signed (root 0x{})",
                hex(&usage_root(usage)),
                hex(&v.usage_root)
            ),
        ));
    }
    let amount = v.cumulative.saturating_sub(c.redeemed);
    let provider_share = bps_of(amount, p.provider_bps);
    let contributors = bps_of(amount, p.contributors_bps);
    let total_tokens: u128 = by_block.values().map(|t| u128::from(*t)).sum();
    let mut owed: BTreeMap<Address, u128> = BTreeMap::new();
    if total_tokens == 0 {
        owed.insert(rec.owner, contributors);
    } else {
        for (block, tokens) in &by_block {
            let share = mul_div(contributors, u128::from(*tokens), total_tokens);
            let rs = recipients(state, model, &rec.owner, block)?;
            let total_w: u128 = rs.iter().fold(0u128, |a, (_, w)| a.saturating_add(*w));
            for (a, w) in rs {
                let e = owed.entry(a).or_insert(0);
                *e = e.saturating_add(mul_div(share, w, total_w));
            }
        }
    }
    let mut events = Vec::new();
    if provider_share > 0 {
        events.push(crate::bank::transfer(
            state,
            &CHANNEL_POOL,
            &c.provider,
            provider_share,
        )?);
    }
    let mut paid_contrib = 0u128;
    for (a, x) in owed.iter().filter(|(_, x)| **x > 0) {
        events.push(crate::bank::transfer(state, &CHANNEL_POOL, a, *x)?);
        paid_contrib = paid_contrib.saturating_add(*x);
    }
    let burned = amount
        .saturating_sub(provider_share)
        .saturating_sub(paid_contrib);
    if burned > 0 {
        crate::bank::burn(state, &CHANNEL_POOL, burned)?;
    }
    adjust_held(state, 0, amount)?;
    c.redeemed = v.cumulative;
    set_channel(state, &c);
    set_channel_usage(state, c.id, usage);
    events.push(Event::Inference(InferenceEvent::Redeemed {
        channel: c.id,
        amount,
        provider_share,
        contributors_share: paid_contrib,
        burned,
    }));
    Ok(events)
}
