//! Paid requests: payment-channel vouchers ([`VoucherBilling`]).
//!
//! A user opens a channel to this gateway's provider account on chain (`blyand tx inference
//! open-channel`), then sends with each request a voucher signed with the channel's user
//! key, `Voucher { channel, provider, cumulative, model, usage_root }`, in the
//! `x-blyan-voucher` header (the `SignedVoucher` as JSON, or that JSON in base64). The
//! gateway checks what it can without the chain first (provider, model, a signature that
//! recovers at all), so junk vouchers cost no chain lookup; then it checks the voucher
//! against the channel read from the chain (cached for a couple of seconds, at most
//! [`MAX_CACHED_CHANNELS`] channels):
//!
//! - the voucher is for this gateway's model (`voucher_wrong_model`);
//! - the signature recovers the channel's user (else `voucher_bad_signature`);
//! - the voucher names this gateway's provider, and the channel pays this provider
//!   (`voucher_wrong_provider`, `voucher_wrong_channel`, `voucher_unknown_channel`);
//! - the channel is open and has at least `min_blocks_left` blocks before its expiry height,
//!   so the provider can still redeem (`channel_closed`, `channel_expired`);
//! - `cumulative` ≤ the deposit (`voucher_above_deposit`);
//! - the voucher is new: not at or below what was redeemed on chain or the voucher the
//!   gateway would redeem now, and not one accepted before (`voucher_replayed`);
//! - `usage_root` is the root of the channel's usage as the gateway counts it now, or as it
//!   was before one of the last few requests settled (`voucher_usage_mismatch`; the
//!   channel's `usage` and `usage_root` are in `GET /v1/blyan/channel/{id}`), and not older
//!   than the usage of a voucher below it;
//! - `cumulative` ≥ billed + in flight + quote (`voucher_insufficient`), where *billed* is
//!   what the channel owes for tokens produced so far (all requests, since it opened) and
//!   *in flight* the quotes of its requests still running.
//!
//! Every refusal is an HTTP 402 with an OpenAI-style body whose `code` is the reason above.
//!
//! # What is charged
//!
//! A request is billed `cost(prompt + completion tokens actually produced, price)` when it
//! ends, so a cancelled stream pays only for the tokens it got. The gateway keeps every
//! voucher it accepted and **redeems the highest one whose cumulative is at most the billed
//! total**, never the latest one: a voucher's surplus over the billed total (the unused
//! part of its quote) is never collected, so a user is never charged for tokens that were
//! not produced. The provider's exposure is the other way round: until a later voucher falls
//! under the billed total, up to about one quote of produced tokens waits for the next
//! redemption (vouchers are cumulative, so nothing is lost).
//!
//! Clients therefore sign `cumulative = billed + in flight + quote`, reading the billed total
//! from the previous response (`x-blyan-billed` header, or `blyan.payment.billed_total` in a
//! stream's last chunk) or from `GET /v1/blyan/channel/{id}`. To let the provider redeem
//! exactly what was used, a client may also post a *receipt*: a voucher for exactly the
//! billed total (`POST /v1/blyan/voucher`, nothing is generated).
//!
//! # Usage report and persistence
//!
//! Each settled request adds its tokens per block (see [`super::engine::BlockTally`]) to the
//! channel's usage since it opened; each voucher is kept with the usage it commits to, and
//! a redemption reports exactly that (the chain checks it against `usage_root` and pays
//! contributors by the growth since the previous redemption). A receipt for the same
//! cumulative amount as a voucher already taken replaces it when its usage is newer. The vouchers, billed totals and usage live in
//! `{home}/payments.json`, rewritten atomically after every change; `{home}/payments.lock`
//! is held while a [`VoucherBilling`] is open, so a gateway and `blyan-worker redeem` never
//! share a home. [`VoucherBilling::redeem_all`] sends `MsgRedeem` for every channel with
//! something new to redeem, with the redeemed voucher's usage.

mod accept;
mod book;
mod redeem;

use book::{dominates, write_atomic, Book, ChannelBook, HeldVoucher};

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine as _;
use blyan_proto::inference::{BlockUsage, ChannelInfo, InferenceMsg, SignedVoucher};
use blyan_proto::params::u128_string;
use blyan_proto::query::QueryPath;
use blyan_proto::{Address, Msg};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::api::Usage;
use super::billing::{
    lock, Authorization, Billing, BillingError, BillingRequest, BlockTokens, FreeTier, Payment,
    Settlement,
};
use super::quote::{cost, Quote};
use crate::chain::{ChainError, RpcClient, TxSender};

/// Request header carrying a signed voucher.
pub const VOUCHER_HEADER: &str = "x-blyan-voucher";

/// Most vouchers kept per channel above the billed total (a client signing many tiny
/// increments cannot grow the book without bound; dropped ones were never redeemable yet).
const MAX_PENDING_VOUCHERS: usize = 256;

/// Most channels whose chain state is cached (random channel ids cannot grow it further:
/// the oldest entry makes room).
pub const MAX_CACHED_CHANNELS: usize = 1024;

/// Where channels are read from (the chain; a fake in tests).
pub trait ChannelSource: Send + Sync {
    /// The channel, or `None` when the chain has no such channel.
    fn channel(&self, id: u64) -> Result<Option<ChannelInfo>, String>;
    /// The latest committed height.
    fn height(&self) -> Result<u64, String>;
}

impl ChannelSource for RpcClient {
    fn channel(&self, id: u64) -> Result<Option<ChannelInfo>, String> {
        match self.query::<ChannelInfo>(&QueryPath::Channel(id)) {
            Ok(c) => Ok(Some(c)),
            Err(ChainError::Query { .. } | ChainError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn height(&self) -> Result<u64, String> {
        self.latest_height().map_err(|e| e.to_string())
    }
}

/// Settings of [`VoucherBilling`].
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// Chain id vouchers are signed for.
    pub chain_id: String,
    /// This gateway's provider account.
    pub provider: Address,
    /// Model id reported with redemptions (empty: the one the book recorded).
    pub model: String,
    /// Directory of `payments.json` and `payments.lock`.
    pub home: PathBuf,
    /// How long a channel read from the chain is reused.
    pub channel_ttl: Duration,
    /// Blocks a channel must have left before its expiry for a voucher to be taken.
    pub min_blocks_left: u64,
}

/// The result of one redemption attempt.
#[derive(Debug, Clone, Serialize)]
pub struct RedeemReport {
    /// Channel.
    pub channel: u64,
    /// The voucher redeemed.
    pub voucher: SignedVoucher,
    /// What this redemption pays (cumulative − previously redeemed), base units.
    #[serde(with = "u128_string")]
    pub amount: u128,
    /// The channel's billed total when it was sent.
    #[serde(with = "u128_string")]
    pub billed: u128,
    /// The usage reported.
    pub usage: Vec<BlockUsage>,
    /// Transaction hash.
    pub hash: String,
    /// Result code (CheckTx if it was refused there, else DeliverTx; 0 = redeemed).
    pub code: u32,
    /// Log.
    pub log: String,
    /// Height it was committed at (0 if it was not).
    pub height: u64,
}

/// A channel read from the chain: when, what (`None`: no such channel), at which height.
type CachedChannel = (Instant, Option<ChannelInfo>, u64);

/// A redemption to send: channel, voucher (with its usage), redeemed before, billed.
type RedeemWork = (u64, HeldVoucher, u128, u128);

/// The paid tier (see the module docs); requests without a voucher go to the free tier.
pub struct VoucherBilling {
    cfg: PaymentsConfig,
    source: Box<dyn ChannelSource>,
    free: FreeTier,
    book: Mutex<Book>,
    cache: Mutex<BTreeMap<u64, CachedChannel>>,
    _lock: File,
}

impl std::fmt::Debug for VoucherBilling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoucherBilling")
            .field("provider", &self.cfg.provider)
            .field("home", &self.cfg.home)
            .finish()
    }
}

fn refuse(code: &'static str, message: impl Into<String>) -> BillingError {
    BillingError::Voucher {
        code,
        message: message.into(),
    }
}

/// Parses an `x-blyan-voucher` value: the `SignedVoucher` JSON, or that JSON in base64
/// (standard or URL-safe, padded or not).
pub fn parse_voucher(text: &str) -> Result<SignedVoucher, String> {
    let t = text.trim();
    let json = if t.starts_with('{') {
        t.as_bytes().to_vec()
    } else {
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        engines
            .iter()
            .find_map(|e| e.decode(t).ok())
            .ok_or("neither JSON nor base64")?
    };
    serde_json::from_slice(&json).map_err(|e| format!("not a signed voucher: {e}"))
}

/// The header value of `v` (base64 of its JSON).
pub fn voucher_header_value(v: &SignedVoucher) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).unwrap_or_default())
}

impl VoucherBilling {
    /// Opens (or creates) the book under `cfg.home` and locks it; `free` serves requests
    /// without a voucher.
    pub fn open(
        cfg: PaymentsConfig,
        source: Box<dyn ChannelSource>,
        free: FreeTier,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        std::fs::create_dir_all(&cfg.home).with_context(|| cfg.home.display().to_string())?;
        let lock_path = cfg.home.join("payments.lock");
        let lock_file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| lock_path.display().to_string())?;
        lock_file.try_lock().map_err(|e| {
            anyhow::anyhow!(
                "{} is in use by another process (a running gateway redeems with --redeem-every): {e}",
                cfg.home.display()
            )
        })?;
        let path = cfg.home.join("payments.json");
        let mut book: Book = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a payments book", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
            Err(e) => return Err(anyhow::Error::new(e).context(path.display().to_string())),
        };
        let provider = cfg.provider.to_string();
        if !book.provider.is_empty() && (book.provider != provider || book.chain_id != cfg.chain_id)
        {
            anyhow::bail!(
                "{} belongs to provider {} on chain {}, not {} on {}",
                path.display(),
                book.provider,
                book.chain_id,
                provider,
                cfg.chain_id
            );
        }
        let mut cfg = cfg;
        if cfg.model.is_empty() {
            cfg.model = book.model.clone();
        }
        book.provider = provider;
        book.chain_id = cfg.chain_id.clone();
        book.model = cfg.model.clone();
        Ok(Self {
            cfg,
            source,
            free,
            book: Mutex::new(book),
            cache: Mutex::new(BTreeMap::new()),
            _lock: lock_file,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PaymentsConfig {
        &self.cfg
    }

    fn save(&self, book: &Book) {
        if let Err(e) = write_atomic(&self.cfg.home.join("payments.json"), book) {
            tracing::error!(error = %e, "could not save the payments book");
        }
    }

    /// The channel and the height, from the cache when fresh (`fresh`: always ask).
    fn channel(&self, id: u64, fresh: bool) -> Result<(Option<ChannelInfo>, u64), BillingError> {
        if !fresh {
            if let Some((at, c, h)) = lock(&self.cache).get(&id) {
                if at.elapsed() < self.cfg.channel_ttl {
                    return Ok((c.clone(), *h));
                }
            }
        }
        let unavailable = |e: String| BillingError::Unavailable(format!("reading the chain: {e}"));
        let c = self.source.channel(id).map_err(unavailable)?;
        let h = self.source.height().map_err(unavailable)?;
        let mut cache = lock(&self.cache);
        if cache.len() >= MAX_CACHED_CHANNELS && !cache.contains_key(&id) {
            let ttl = self.cfg.channel_ttl;
            cache.retain(|_, (at, _, _)| at.elapsed() < ttl);
            while cache.len() >= MAX_CACHED_CHANNELS {
                let oldest = cache
                    .iter()
                    .min_by_key(|(_, (at, _, _))| *at)
                    .map(|(k, _)| *k);
                match oldest {
                    Some(k) => cache.remove(&k),
                    None => break,
                };
            }
        }
        cache.insert(id, (Instant::now(), c.clone(), h));
        Ok((c, h))
    }

    /// Channels whose chain state is cached now (at most [`MAX_CACHED_CHANNELS`]).
    pub fn cached_channels(&self) -> usize {
        lock(&self.cache).len()
    }
}

impl Billing for VoucherBilling {
    fn authorize(
        &self,
        req: &BillingRequest<'_>,
        quote: &Quote,
    ) -> Result<Authorization, BillingError> {
        if !req.headers.contains_key(VOUCHER_HEADER) {
            return self.free.authorize(req, quote);
        }
        let (sv, c, billed_before) = self.accept(req.headers, quote.amount, true)?;
        Ok(Authorization {
            caller: c.user.to_string(),
            payment: Payment::Voucher {
                channel: c.id,
                cumulative: sv.voucher.cumulative,
                billed_before,
            },
            quote: quote.clone(),
        })
    }

    fn settle(&self, auth: &Authorization, usage: &Usage, blocks: &BlockTokens) -> Settlement {
        let Payment::Voucher { channel, .. } = &auth.payment else {
            return self.free.settle(auth, usage, blocks);
        };
        let q = &auth.quote;
        let charged = cost(usage.total_tokens as u64, q.price_per_1k).min(q.amount);
        let mut book = lock(&self.book);
        let b = book.channels.entry(*channel).or_default();
        b.in_flight = b.in_flight.saturating_sub(q.amount);
        b.billed = b.billed.saturating_add(charged);
        b.requests += 1;
        b.add_usage(blocks);
        b.prune();
        let billed_total = b.billed;
        let snapshot = book.clone();
        drop(book);
        self.save(&snapshot);
        tracing::info!(channel, tokens = usage.total_tokens, %charged, billed = %billed_total, "settled (voucher)");
        Settlement {
            charged,
            billed_total: Some(billed_total),
        }
    }

    fn payment_info(&self) -> Value {
        json!({
            "provider": self.cfg.provider.to_string(),
            "chain_id": self.cfg.chain_id,
            "model": self.cfg.model,
            "voucher_header": VOUCHER_HEADER,
            "min_blocks_left": self.cfg.min_blocks_left,
            "rule": "sign Voucher{channel, provider, cumulative, model, usage_root} with the channel's user key for chain_id, cumulative >= billed + in_flight + quote amount (GET /v1/blyan/channel/{id}: next_voucher_min), usage_root = that channel's usage_root; the gateway redeems the highest voucher at or below the billed total, never more",
        })
    }

    fn channel_status(&self, channel: u64) -> Result<Value, BillingError> {
        let (c, height) = self.channel(channel, false)?;
        let Some(c) = c else {
            return Err(refuse(
                "voucher_unknown_channel",
                format!("channel {channel} does not exist"),
            ));
        };
        let book = lock(&self.book);
        let mut s = book
            .channels
            .get(&channel)
            .map(ChannelBook::status)
            .unwrap_or_else(|| ChannelBook::default().status());
        s["channel"] = json!(channel);
        s["user"] = json!(c.user.to_string());
        s["provider"] = json!(c.provider.to_string());
        s["deposit"] = json!(c.deposit.to_string());
        s["redeemed_on_chain"] = json!(c.redeemed.to_string());
        s["expires_at"] = json!(c.expires_at);
        s["height"] = json!(height);
        s["closed"] = json!(c.closed);
        s["chain_id"] = json!(self.cfg.chain_id);
        s["model"] = json!(self.cfg.model);
        Ok(s)
    }

    fn deposit_voucher(&self, headers: &HeaderMap) -> Result<Value, BillingError> {
        let (sv, _, _) = self.accept(headers, 0, false)?;
        let mut s = self.channel_status(sv.voucher.channel)?;
        s["accepted"] = json!(sv.voucher.cumulative.to_string());
        Ok(s)
    }
}

/// Reads the chain id through `rpc`.
pub fn chain_id(rpc: &RpcClient) -> Result<String, ChainError> {
    rpc.query::<String>(&QueryPath::ChainId)
}
