//! The payment seam. Before generating, the gateway asks a [`Billing`] to `authorize` the
//! request against its quote (the most it may cost); after the last token (or a client
//! disconnect) it calls `settle` with the tokens actually produced, which is what a paid
//! request is charged for.
//!
//! [`FreeTier`] is the default: requests without payment are served up to a daily quota per
//! caller (UTC days). The caller is the address of a Sign-In with Ethereum session (see
//! [`super::siwe`]; its quota follows its on-chain trust level, read from
//! `/pol/trust/{address}` when a chain RPC is configured, else newbie), or the client IP for
//! anonymous callers. Anonymous and newbie callers must also send a solved hashcash
//! challenge (`x-blyan-hashcash`, see [`super::quote`]) with every free request, unless
//! stamps are disabled. Nothing per caller is looked up or stored before the caller is
//! authenticated (session) and its stamp verified; the stamp is spent only when the request
//! runs, so a request refused over quota does not spend it. The per-caller maps are bounded
//! (`max_callers`), and the day's counts are kept in `quota_store` (written atomically) so a
//! restart does not reset them.
//!
//! Paid requests go through [`super::payments::VoucherBilling`] (payment channels): `authorize`
//! reads a signed cumulative voucher from `x-blyan-voucher` and checks it against the
//! channel on chain; `settle` bills `cost(usage.total_tokens, quote.price_per_1k)` for the
//! tokens actually produced. It wraps a [`FreeTier`] for requests that carry no voucher.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};
use blyan_proto::address::Address;
use blyan_proto::pol::TrustLevel;

use super::api::{ApiError, Usage};
pub use super::free_tier::{FreeTier, FreeTierConfig};
use super::quote::Quote;

/// What billing sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct BillingRequest<'a> {
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client's socket address.
    pub peer: Option<SocketAddr>,
    /// The address the caller signed in as (a live SIWE session), if any.
    pub address: Option<Address>,
}

/// How a request is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Free tier, counted against the caller's daily quota.
    Free {
        /// The caller's trust level.
        level: TrustLevel,
        /// Requests left today after this one.
        remaining: u32,
    },
    /// Paid by a voucher on a payment channel.
    Voucher {
        /// The channel.
        channel: u64,
        /// The voucher's cumulative amount, base units.
        cumulative: u128,
        /// What the channel had been billed before this request, base units.
        billed_before: u128,
    },
}

/// Tokens per block that took part in a request (block name → tokens), as reported with a
/// redemption (see [`super::engine::BlockTally`]).
pub type BlockTokens = BTreeMap<String, u64>;

/// What `settle` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// Charged for this request, base units (0 on the free tier).
    pub charged: u128,
    /// The channel's billed total after this request (paid requests only).
    pub billed_total: Option<u128>,
}

/// A request allowed to run.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// Who pays (an address `0x…`, or `ip:{addr}`).
    pub caller: String,
    /// How.
    pub payment: Payment,
    /// The quote it was authorized against.
    pub quote: Quote,
}

/// Why a request may not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BillingError {
    /// A newbie caller sent no hashcash stamp.
    #[error("free requests from anonymous and newbie callers need a solved hashcash challenge: GET /v1/challenge, then send x-blyan-hashcash: {{challenge}}:{{nonce}}")]
    HashcashRequired,
    /// The stamp was refused.
    #[error("hashcash: {0}")]
    BadHashcash(String),
    /// The free quota is used up.
    #[error("free tier: the {limit} requests a day for {level} callers are used up for {caller} (resets at 00:00 UTC, in {resets_in_secs} s). To keep going, pay per token: get a price from POST /v1/quote, open a payment channel to this provider (blyand tx inference open-channel) and send a signed voucher covering the quote in the x-blyan-voucher header; or raise your on-chain trust level for a larger free quota")]
    QuotaExceeded {
        /// The caller.
        caller: String,
        /// Its level, as text.
        level: &'static str,
        /// Its daily limit.
        limit: u32,
        /// Seconds to the next UTC day.
        resets_in_secs: u64,
    },
    /// A payment was offered but is not acceptable (for voucher implementations).
    #[error("payment: {0}")]
    InvalidPayment(String),
    /// A voucher was refused: `code` names why (`voucher_bad_signature`,
    /// `voucher_wrong_provider`, `voucher_replayed`, `voucher_above_deposit`, …).
    #[error("payment: {message}")]
    Voucher {
        /// Machine-readable reason.
        code: &'static str,
        /// What to do about it.
        message: String,
    },
    /// The payment backend (the chain) could not be asked.
    #[error("payment: {0}")]
    Unavailable(String),
}

impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        let msg = e.to_string();
        match e {
            BillingError::HashcashRequired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "hashcash_required",
                msg,
            ),
            BillingError::BadHashcash(_) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_hashcash",
                msg,
            ),
            BillingError::QuotaExceeded { resets_in_secs, .. } => {
                let mut a = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    "free_quota_exceeded",
                    msg,
                );
                a.headers.push(("retry-after", resets_in_secs.to_string()));
                a
            }
            BillingError::InvalidPayment(_) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_error",
                "invalid_payment",
                msg,
            ),
            BillingError::Voucher { code, .. } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_error", code, msg)
            }
            BillingError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "payment_backend_unavailable",
                msg,
            ),
        }
    }
}

/// The payment seam (see the module docs).
pub trait Billing: Send + Sync {
    /// May this request run, at most at `quote.amount`? Called on a blocking thread (it may
    /// query the chain).
    fn authorize(
        &self,
        req: &BillingRequest<'_>,
        quote: &Quote,
    ) -> Result<Authorization, BillingError>;
    /// The request ended having used `usage` (completion tokens actually produced, also
    /// when the client went away midway); `blocks` counts the tokens each block took part
    /// in.
    fn settle(&self, auth: &Authorization, usage: &Usage, blocks: &BlockTokens) -> Settlement;
    /// What clients need to know to pay (`GET /v1/blyan/payments`): `null` when this
    /// billing takes no payments.
    fn payment_info(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// A channel's state as the gateway sees it (`GET /v1/blyan/channel/{id}`).
    fn channel_status(&self, channel: u64) -> Result<serde_json::Value, BillingError> {
        Err(BillingError::InvalidPayment(format!(
            "this gateway takes no vouchers (channel {channel})"
        )))
    }
    /// Takes a voucher that pays for nothing new (`POST /v1/blyan/voucher`): a receipt a
    /// client signs for exactly what it was billed, so the provider can redeem it.
    fn deposit_voucher(&self, headers: &HeaderMap) -> Result<serde_json::Value, BillingError> {
        let _ = headers;
        Err(BillingError::InvalidPayment(
            "this gateway takes no vouchers".into(),
        ))
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
