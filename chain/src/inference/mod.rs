//! `inference`: providers, payment channels and voucher redemption.
//!
//! A provider registers its endpoint, models and price. A user opens a channel to it with a
//! deposit (held by [`CHANNEL_POOL`]) and an expiry, then signs cumulative vouchers off
//! chain with each request, so no request waits for a block. The provider redeems the latest
//! voucher: the amount above what was already redeemed is split between the provider, the
//! contributors of the blocks that served the requests (by the usage the provider reports,
//! then within a block by contribution weight) and a burn. After expiry the user closes the
//! channel and takes back the rest.

mod channel;
mod module;
mod query;
mod redeem;
mod state;

pub use channel::{close, open_channel, register_provider, top_up};
pub use module::Inference;
pub use query::answer as answer_query;
pub use redeem::redeem;
pub use state::*;

use blyan_proto::event::Event;
use blyan_proto::inference::InferenceMsg;

use crate::error::TxResult;
use crate::runtime::MsgContext;
use crate::state::StateWrite;

/// Executes an `inference` message.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &MsgContext<'_>,
    msg: &InferenceMsg,
) -> TxResult<Vec<Event>> {
    match msg {
        InferenceMsg::RegisterProvider {
            endpoint,
            models,
            price_per_1k_tokens,
        } => register_provider(state, ctx, endpoint, models, *price_per_1k_tokens),
        InferenceMsg::OpenChannel {
            provider,
            deposit,
            duration_blocks,
        } => open_channel(state, ctx, provider, *deposit, *duration_blocks),
        InferenceMsg::TopUp {
            channel,
            amount,
            extend_blocks,
        } => top_up(state, ctx, *channel, *amount, *extend_blocks),
        InferenceMsg::Redeem {
            voucher,
            model,
            usage,
        } => redeem(state, ctx, voucher, model, usage),
        InferenceMsg::Close { channel } => close(state, ctx, *channel),
    }
}
