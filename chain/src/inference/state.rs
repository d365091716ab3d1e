//! `inference` state: keys and typed accessors.

use blyan_proto::inference::{BlockUsage, ChannelId, ChannelInfo, InferenceParams, ProviderInfo};
use blyan_proto::{Address, ErrorCode};

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// Holds channel deposits not yet redeemed or refunded.
pub const CHANNEL_POOL: Address = Address(*b"module/inf_channels_");

/// State keys owned by `inference`.
pub mod state_key {
    use crate::state::key;

    /// Parameters.
    pub const PARAMS: &[u8] = b"inference/params";
    /// Next channel id.
    pub const NEXT_CHANNEL: &[u8] = b"inference/next_channel";
    /// Prefix of providers by address.
    pub const PROVIDER_PREFIX: &[u8] = b"inference/provider/";
    /// Prefix of channels by id.
    pub const CHANNEL_PREFIX: &[u8] = b"inference/channel/";
    /// Sum of what open channels hold (kept with every change, so the invariant is O(1)).
    pub const HELD: &[u8] = b"inference/held";
    /// Prefix of (user, channel) index entries.
    pub const USER_CHANNEL_PREFIX: &[u8] = b"inference/user_channel/";
    /// Prefix of the usage last redeemed per channel (`Vec<BlockUsage>`, cumulative).
    pub const CHANNEL_USAGE_PREFIX: &[u8] = b"inference/channel_usage/";

    /// The usage a channel's last redemption reported.
    pub fn channel_usage(id: u64) -> Vec<u8> {
        key(CHANNEL_USAGE_PREFIX, &id.to_be_bytes())
    }

    /// A provider.
    pub fn provider(a: &blyan_proto::Address) -> Vec<u8> {
        key(PROVIDER_PREFIX, &a.0)
    }

    /// A channel.
    pub fn channel(id: u64) -> Vec<u8> {
        key(CHANNEL_PREFIX, &id.to_be_bytes())
    }

    /// Prefix of a user's channels.
    pub fn user_channels(a: &blyan_proto::Address) -> Vec<u8> {
        key(USER_CHANNEL_PREFIX, &a.0)
    }

    /// A user's channel entry.
    pub fn user_channel(a: &blyan_proto::Address, id: u64) -> Vec<u8> {
        key(&user_channels(a), &id.to_be_bytes())
    }
}

/// Parameters (defaults when genesis has none).
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<InferenceParams> {
    Ok(state.get_scale(state_key::PARAMS)?.unwrap_or_default())
}

/// Writes the parameters.
pub(crate) fn set_params<S: StateWrite + ?Sized>(state: &mut S, p: &InferenceParams) {
    state.put_scale(state_key::PARAMS.to_vec(), p);
}

/// A provider, if registered.
pub fn provider<S: StateRead + ?Sized>(state: &S, a: &Address) -> TxResult<Option<ProviderInfo>> {
    state.get_scale(&state_key::provider(a))
}

/// Every provider, by address.
pub fn providers<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<ProviderInfo>> {
    state
        .prefix_raw(state_key::PROVIDER_PREFIX)
        .into_iter()
        .map(|(_, v)| {
            parity_scale_codec::Decode::decode(&mut v.as_slice())
                .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed provider"))
        })
        .collect()
}

/// A channel that must exist.
pub fn channel<S: StateRead + ?Sized>(state: &S, id: ChannelId) -> TxResult<ChannelInfo> {
    state
        .get_scale(&state_key::channel(id))?
        .ok_or_else(|| TxError::new(ErrorCode::UnknownChannel, format!("no channel {id}")))
}

/// Stores a channel.
pub(crate) fn set_channel<S: StateWrite + ?Sized>(state: &mut S, c: &ChannelInfo) {
    state.put_scale(state_key::channel(c.id), c);
}

/// The cumulative usage the channel's last redemption reported (empty before the first).
pub fn channel_usage<S: StateRead + ?Sized>(state: &S, id: ChannelId) -> TxResult<Vec<BlockUsage>> {
    Ok(state
        .get_scale(&state_key::channel_usage(id))?
        .unwrap_or_default())
}

/// Records the cumulative usage of a redemption (`usage` empty: forgets it).
pub(crate) fn set_channel_usage<S: StateWrite + ?Sized>(
    state: &mut S,
    id: ChannelId,
    usage: &[BlockUsage],
) {
    if usage.is_empty() {
        state.delete_raw(&state_key::channel_usage(id));
    } else {
        state.put_scale(state_key::channel_usage(id), &usage.to_vec());
    }
}

/// The channels `user` opened, oldest first.
pub fn user_channels<S: StateRead + ?Sized>(
    state: &S,
    user: &Address,
) -> TxResult<Vec<ChannelInfo>> {
    let prefix = state_key::user_channels(user);
    let mut out = Vec::new();
    for (k, _) in state.prefix_raw(&prefix) {
        let id = k
            .get(prefix.len()..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "malformed channel index"))?;
        out.push(channel(state, id)?);
    }
    Ok(out)
}

/// The running total of what open channels hold.
pub fn held<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state.get_scale(state_key::HELD)?.unwrap_or(0))
}

/// Adds `plus` and removes `minus` from the running total.
pub fn adjust_held<S: StateWrite + ?Sized>(state: &mut S, plus: u128, minus: u128) -> TxResult<()> {
    let h = held(state)?
        .checked_add(plus)
        .and_then(|h| h.checked_sub(minus))
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "channel total out of range"))?;
    state.put_scale(state_key::HELD.to_vec(), &h);
    Ok(())
}

/// Sum of what open channels still hold, by scanning them all (tests and audits).
pub fn held_in_channels<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    let mut sum = 0u128;
    for (_, v) in state.prefix_raw(state_key::CHANNEL_PREFIX) {
        let c: ChannelInfo = parity_scale_codec::Decode::decode(&mut v.as_slice())
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed channel"))?;
        if !c.closed {
            sum = sum.saturating_add(c.deposit.saturating_sub(c.redeemed));
        }
    }
    Ok(sum)
}
