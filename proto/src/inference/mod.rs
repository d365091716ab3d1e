//! Inference payments: providers register, users open payment channels with a deposit and
//! sign cumulative vouchers per request off chain; a provider redeems the latest voucher,
//! and the payment is split between the provider, the contributors of the blocks that
//! served the requests (weighted by the usage the provider reports) and a burn. After
//! expiry the user reclaims what was not redeemed.

mod voucher;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::params::u128_string;
use crate::Address;

pub use voucher::{usage_root, voucher_digest, SignedVoucher, Voucher, VOUCHER_DOMAIN};

/// A channel id (one counter, from 1).
pub type ChannelId = u64;

/// A registered provider.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Provider account (the gateway's key).
    pub address: Address,
    /// Public endpoint (base URL of its OpenAI-compatible API).
    pub endpoint: String,
    /// Models it serves.
    pub models: Vec<String>,
    /// Price per 1,000 tokens, base units.
    #[serde(with = "u128_string")]
    pub price_per_1k_tokens: u128,
    /// Height registered or last updated.
    pub updated_at: u64,
}

/// A payment channel.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// Id.
    pub id: ChannelId,
    /// Who pays.
    pub user: Address,
    /// Who is paid.
    pub provider: Address,
    /// Deposit locked, base units (after top-ups).
    #[serde(with = "u128_string")]
    pub deposit: u128,
    /// Cumulative amount redeemed so far.
    #[serde(with = "u128_string")]
    pub redeemed: u128,
    /// Last height the provider may redeem at; the user may close after it.
    pub expires_at: u64,
    /// Height opened.
    pub opened_at: u64,
    /// Closed by the user (remainder returned).
    pub closed: bool,
}

/// Tokens served by one block of the model, as the provider reports with a redemption.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BlockUsage {
    /// Block name (`layer0.expert1`).
    pub block: String,
    /// Tokens it took part in.
    pub tokens: u64,
}

/// Messages of the `inference` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InferenceMsg {
    /// Registers (or updates) the signer as a provider.
    #[codec(index = 0)]
    RegisterProvider {
        /// Base URL.
        endpoint: String,
        /// Models served.
        models: Vec<String>,
        /// Price per 1,000 tokens, base units.
        #[serde(with = "u128_string")]
        price_per_1k_tokens: u128,
    },
    /// Opens a channel from the signer to `provider`, locking `deposit`.
    #[codec(index = 1)]
    OpenChannel {
        /// A registered provider.
        provider: Address,
        /// Base units locked.
        #[serde(with = "u128_string")]
        deposit: u128,
        /// Blocks until expiry.
        duration_blocks: u64,
    },
    /// Adds to a channel's deposit and/or extends it (its user only).
    #[codec(index = 2)]
    TopUp {
        /// Channel.
        channel: ChannelId,
        /// Base units added.
        #[serde(with = "u128_string")]
        amount: u128,
        /// Blocks added to the expiry.
        extend_blocks: u64,
    },
    /// The provider redeems the user's latest voucher, reporting per-block usage.
    #[codec(index = 3)]
    Redeem {
        /// The voucher with the user's signature.
        voucher: SignedVoucher,
        /// Model served.
        model: String,
        /// Tokens per block since the channel opened, sorted by block name, no zero
        /// entries: exactly the usage whose [`usage_root`] the voucher carries. The
        /// contributors' share is split by the growth since the previous redemption.
        usage: Vec<BlockUsage>,
    },
    /// The user closes an expired channel and takes back what was not redeemed.
    #[codec(index = 4)]
    Close {
        /// Channel.
        channel: ChannelId,
    },
}

impl InferenceMsg {
    /// Base units this message moves out of the signer's account.
    pub fn outflow(&self) -> u128 {
        match self {
            InferenceMsg::OpenChannel { deposit, .. } => *deposit,
            InferenceMsg::TopUp { amount, .. } => *amount,
            _ => 0,
        }
    }

    /// Kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            InferenceMsg::RegisterProvider { .. } => "inference.register_provider",
            InferenceMsg::OpenChannel { .. } => "inference.open_channel",
            InferenceMsg::TopUp { .. } => "inference.top_up",
            InferenceMsg::Redeem { .. } => "inference.redeem",
            InferenceMsg::Close { .. } => "inference.close",
        }
    }
}

/// Parameters of the `inference` module.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceParams {
    /// Share of a redemption paid to the provider, basis points.
    pub provider_bps: u32,
    /// Share paid to the contributors of the blocks used, basis points.
    pub contributors_bps: u32,
    /// Share burned, basis points (the three add up to 10,000).
    pub burn_bps: u32,
    /// Smallest deposit, base units.
    #[serde(with = "u128_string")]
    pub min_deposit: u128,
    /// Longest channel duration, blocks.
    pub max_duration_blocks: u64,
    /// Most usage entries in one redemption.
    pub max_usage_entries: u32,
}

impl Default for InferenceParams {
    fn default() -> Self {
        InferenceParams {
            provider_bps: 8_000,
            contributors_bps: 1_500,
            burn_bps: 500,
            min_deposit: crate::BLY / 100,
            max_duration_blocks: 1_000_000,
            max_usage_entries: 1_024,
        }
    }
}

impl InferenceParams {
    /// Checks the split adds up.
    pub fn validate(&self) -> Result<(), String> {
        let sum = u64::from(self.provider_bps)
            .saturating_add(u64::from(self.contributors_bps))
            .saturating_add(u64::from(self.burn_bps));
        if sum != 10_000 {
            return Err(format!(
                "inference: the split adds up to {sum} bps, not 10000"
            ));
        }
        if self.max_duration_blocks == 0 {
            return Err("inference: max_duration_blocks must be positive".into());
        }
        Ok(())
    }
}

/// Something the `inference` module did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferenceEvent {
    /// A channel opened.
    ChannelOpened {
        /// Channel.
        channel: ChannelId,
        /// User.
        user: Address,
        /// Provider.
        provider: Address,
        /// Deposit.
        deposit: u128,
        /// Expiry height.
        expires_at: u64,
    },
    /// A voucher was redeemed.
    Redeemed {
        /// Channel.
        channel: ChannelId,
        /// Amount paid by this redemption.
        amount: u128,
        /// To the provider.
        provider_share: u128,
        /// To contributors.
        contributors_share: u128,
        /// Burned.
        burned: u128,
    },
    /// A channel closed.
    ChannelClosed {
        /// Channel.
        channel: ChannelId,
        /// Returned to the user.
        refunded: u128,
    },
}

impl InferenceEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            InferenceEvent::ChannelOpened { .. } => "channel_opened",
            InferenceEvent::Redeemed { .. } => "channel_redeemed",
            InferenceEvent::ChannelClosed { .. } => "channel_closed",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            InferenceEvent::ChannelOpened {
                channel,
                user,
                provider,
                deposit,
                expires_at,
            } => vec![
                ("channel", channel.to_string()),
                ("user", user.to_string()),
                ("provider", provider.to_string()),
                ("deposit", deposit.to_string()),
                ("expires_at", expires_at.to_string()),
            ],
            InferenceEvent::Redeemed {
                channel,
                amount,
                provider_share,
                contributors_share,
                burned,
            } => vec![
                ("channel", channel.to_string()),
                ("amount", amount.to_string()),
                ("provider_share", provider_share.to_string()),
                ("contributors_share", contributors_share.to_string()),
                ("burned", burned.to_string()),
            ],
            InferenceEvent::ChannelClosed { channel, refunded } => vec![
                ("channel", channel.to_string()),
                ("refunded", refunded.to_string()),
            ],
        }
    }
}
