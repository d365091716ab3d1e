//! Providers and the life of a channel: open, top up, close after expiry.

use blyan_proto::event::Event;
use blyan_proto::inference::{ChannelInfo, InferenceEvent, ProviderInfo};
use blyan_proto::{Address, ErrorCode};

use super::state::*;
use crate::error::{TxError, TxResult};
use crate::runtime::MsgContext;
use crate::state::{StateReadExt, StateWrite, StateWriteExt};

fn bad(code: ErrorCode, log: impl Into<String>) -> TxError {
    TxError::new(code, log)
}

/// Registers or updates the signer as a provider.
pub fn register_provider<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    endpoint: &str,
    models: &[String],
    price_per_1k_tokens: u128,
) -> TxResult<Vec<Event>> {
    let printable = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic())
    };
    if !printable(endpoint, 256)
        || !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(bad(
            ErrorCode::InvalidProvider,
            format!("endpoint {endpoint:?} must be an http(s) URL of at most 256 characters"),
        ));
    }
    if models.is_empty() || models.len() > 32 || !models.iter().all(|m| printable(m, 64)) {
        return Err(bad(
            ErrorCode::InvalidProvider,
            "give 1–32 model ids of at most 64 printable characters",
        ));
    }
    if price_per_1k_tokens == 0 {
        return Err(bad(
            ErrorCode::InvalidProvider,
            "the price must be positive",
        ));
    }
    state.put_scale(
        state_key::provider(&ctx.signer),
        &ProviderInfo {
            address: ctx.signer,
            endpoint: endpoint.to_string(),
            models: models.to_vec(),
            price_per_1k_tokens,
            updated_at: ctx.height,
        },
    );
    Ok(Vec::new())
}

/// Opens a channel from the signer to `provider`.
pub fn open_channel<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    provider_addr: &Address,
    deposit: u128,
    duration_blocks: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    if provider(state, provider_addr)?.is_none() {
        return Err(bad(
            ErrorCode::UnknownProvider,
            format!("{provider_addr} is not a registered provider"),
        ));
    }
    if deposit < p.min_deposit.max(1) {
        return Err(bad(
            ErrorCode::ChannelDepositTooLow,
            format!(
                "deposit {deposit} is below the minimum {}",
                p.min_deposit.max(1)
            ),
        ));
    }
    if duration_blocks == 0 || duration_blocks > p.max_duration_blocks {
        return Err(bad(
            ErrorCode::InvalidDuration,
            format!("duration must be 1–{} blocks", p.max_duration_blocks),
        ));
    }
    let id = state
        .get_scale::<u64>(state_key::NEXT_CHANNEL)?
        .unwrap_or(1);
    state.put_scale(state_key::NEXT_CHANNEL.to_vec(), &id.saturating_add(1));
    let c = ChannelInfo {
        id,
        user: ctx.signer,
        provider: *provider_addr,
        deposit,
        redeemed: 0,
        expires_at: ctx.height.saturating_add(duration_blocks),
        opened_at: ctx.height,
        closed: false,
    };
    let transfer = crate::bank::transfer(state, &ctx.signer, &CHANNEL_POOL, deposit)?;
    adjust_held(state, deposit, 0)?;
    set_channel(state, &c);
    state.put_raw(state_key::user_channel(&ctx.signer, id), Vec::new());
    Ok(vec![
        transfer,
        Event::Inference(InferenceEvent::ChannelOpened {
            channel: id,
            user: c.user,
            provider: c.provider,
            deposit,
            expires_at: c.expires_at,
        }),
    ])
}

/// The channel, checked to belong to the signer and to be open.
fn own_open_channel<S: StateWrite + ?Sized>(
    state: &S,
    ctx: &MsgContext<'_>,
    id: u64,
) -> TxResult<ChannelInfo> {
    let c = channel(state, id)?;
    if c.user != ctx.signer {
        return Err(bad(
            ErrorCode::NotChannelUser,
            format!("channel {id} belongs to {}", c.user),
        ));
    }
    if c.closed {
        return Err(bad(
            ErrorCode::ChannelClosed,
            format!("channel {id} is closed"),
        ));
    }
    Ok(c)
}

/// Adds to a channel's deposit and/or extends it.
pub fn top_up<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    id: u64,
    amount: u128,
    extend_blocks: u64,
) -> TxResult<Vec<Event>> {
    let p = params(state)?;
    let mut c = own_open_channel(state, ctx, id)?;
    let expires_at = c.expires_at.saturating_add(extend_blocks);
    if expires_at.saturating_sub(ctx.height) > p.max_duration_blocks
        || (amount == 0 && extend_blocks == 0)
    {
        return Err(bad(
            ErrorCode::InvalidDuration,
            format!(
                "a top-up adds an amount or blocks, and the channel may run at most {} blocks ahead",
                p.max_duration_blocks
            ),
        ));
    }
    let mut events = Vec::new();
    if amount > 0 {
        events.push(crate::bank::transfer(
            state,
            &ctx.signer,
            &CHANNEL_POOL,
            amount,
        )?);
        adjust_held(state, amount, 0)?;
    }
    c.deposit = c
        .deposit
        .checked_add(amount)
        .ok_or_else(|| bad(ErrorCode::AmountOverflow, "deposit overflows"))?;
    c.expires_at = expires_at;
    set_channel(state, &c);
    Ok(events)
}

/// Closes an expired channel; the user gets back what was not redeemed.
pub fn close<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    id: u64,
) -> TxResult<Vec<Event>> {
    let mut c = own_open_channel(state, ctx, id)?;
    if ctx.height <= c.expires_at {
        return Err(bad(
            ErrorCode::ChannelNotExpired,
            format!("channel {id} runs until height {}", c.expires_at),
        ));
    }
    let refund = c.deposit.saturating_sub(c.redeemed);
    let mut events = Vec::new();
    if refund > 0 {
        events.push(crate::bank::transfer(
            state,
            &CHANNEL_POOL,
            &c.user,
            refund,
        )?);
        adjust_held(state, 0, refund)?;
    }
    c.closed = true;
    set_channel(state, &c);
    set_channel_usage(state, id, &[]);
    events.push(Event::Inference(InferenceEvent::ChannelClosed {
        channel: id,
        refunded: refund,
    }));
    Ok(events)
}
