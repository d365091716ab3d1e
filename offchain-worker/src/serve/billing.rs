//! The payment seam. Before generating, the gateway asks a [`Billing`] to `authorize` the
//! request against its quote (the most it may cost); after the last token (or a client
//! disconnect) it calls `settle` with the tokens actually produced, which is what a paid
//! request is charged for.
//!
//! [`FreeTier`] is the default: requests without payment are served up to a daily quota per
//! caller (UTC days). The caller is the address in `Authorization: Bearer 0x…` (its quota
//! follows its on-chain trust level, read from `/pol/trust/{address}` when a chain RPC is
//! configured, else newbie), or the client IP for anonymous callers. Anonymous and newbie
//! callers must also send a solved hashcash challenge (`x-blyan-hashcash`, see
//! [`super::quote`]) with every free request, unless stamps are disabled; the quota is checked
//! first, so a request refused over quota does not spend its stamp. The bearer address
//! is a claim, not a proof: the voucher implementation authenticates payers by signature.
//!
//! Paid requests go through [`super::payments::VoucherBilling`] (payment channels): `authorize`
//! reads a signed cumulative voucher from `x-blyan-voucher` and checks it against the
//! channel on chain; `settle` bills `cost(usage.total_tokens, quote.price_per_1k)` for the
//! tokens actually produced. It wraps a [`FreeTier`] for requests that carry no voucher.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use blyan_proto::address::Address;
use blyan_proto::pol::{TrustInfo, TrustLevel};
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;

use super::api::{ApiError, Usage};
use super::quote::{now_secs, Quote, Signer};
use crate::chain::RpcClient;

/// What billing sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct BillingRequest<'a> {
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The client's socket address.
    pub peer: Option<SocketAddr>,
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

/// Free-tier limits.
#[derive(Debug, Clone)]
pub struct FreeTierConfig {
    /// Requests a day for anonymous and newbie callers.
    pub newbie_per_day: u32,
    /// Requests a day for trusted callers.
    pub trusted_per_day: u32,
    /// CometBFT RPC to read trust levels from (`None`: everyone is a newbie).
    pub chain_rpc: Option<String>,
    /// How long a trust level read from the chain is reused.
    pub trust_ttl: Duration,
    /// Newbie callers (anonymous or not) must send a solved hashcash challenge.
    pub hashcash: bool,
}

impl Default for FreeTierConfig {
    fn default() -> Self {
        Self {
            newbie_per_day: 5,
            trusted_per_day: 500,
            chain_rpc: None,
            trust_ttl: Duration::from_secs(60),
            hashcash: true,
        }
    }
}

/// The default [`Billing`]: a daily free quota by trust level, hashcash for anonymous callers.
pub struct FreeTier {
    cfg: FreeTierConfig,
    signer: std::sync::Arc<Signer>,
    used: Mutex<BTreeMap<String, (u64, u32)>>,
    trust: Mutex<BTreeMap<Address, (Instant, TrustLevel)>>,
    /// Tokens settled per caller (what a paid tier would have charged), for inspection.
    settled: Mutex<BTreeMap<String, u64>>,
}

impl FreeTier {
    /// A free tier using `signer` to check hashcash stamps.
    pub fn new(cfg: FreeTierConfig, signer: std::sync::Arc<Signer>) -> Self {
        Self {
            cfg,
            signer,
            used: Mutex::new(BTreeMap::new()),
            trust: Mutex::new(BTreeMap::new()),
            settled: Mutex::new(BTreeMap::new()),
        }
    }

    /// Total tokens settled for `caller` so far.
    pub fn settled_tokens(&self, caller: &str) -> u64 {
        lock(&self.settled).get(caller).copied().unwrap_or(0)
    }

    fn trust_level(&self, addr: &Address) -> TrustLevel {
        let Some(rpc) = &self.cfg.chain_rpc else {
            return TrustLevel::Newbie;
        };
        if let Some((at, level)) = lock(&self.trust).get(addr) {
            if at.elapsed() < self.cfg.trust_ttl {
                return *level;
            }
        }
        let path = QueryPath::Trust(*addr).to_string();
        let level = match RpcClient::new(rpc).abci_query(&path) {
            Ok((0, _, v)) if v.is_empty() => TrustLevel::Newbie,
            Ok((0, _, v)) => TrustInfo::decode(&mut v.as_slice())
                .map(|t| t.level)
                .unwrap_or_default(),
            Ok((code, log, _)) => {
                tracing::warn!(%path, code, %log, "trust query refused; treating as newbie");
                TrustLevel::Newbie
            }
            Err(e) => {
                tracing::warn!(%path, error = %e, "trust query failed; treating as newbie");
                return TrustLevel::Newbie;
            }
        };
        lock(&self.trust).insert(*addr, (Instant::now(), level));
        level
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The address in `Authorization: Bearer 0x…`, if it is one.
pub fn bearer_address(headers: &HeaderMap) -> Option<Address> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let token = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    token.trim().parse().ok()
}

impl Billing for FreeTier {
    fn authorize(
        &self,
        req: &BillingRequest<'_>,
        quote: &Quote,
    ) -> Result<Authorization, BillingError> {
        let (caller, level) = match bearer_address(req.headers) {
            Some(a) => (a.to_string(), self.trust_level(&a)),
            None => {
                let ip = req.peer.map(|p| p.ip().to_string()).unwrap_or_default();
                (format!("ip:{ip}"), TrustLevel::Newbie)
            }
        };
        let (limit, level_name) = match level {
            TrustLevel::Newbie => (self.cfg.newbie_per_day, "newbie"),
            TrustLevel::Trusted => (self.cfg.trusted_per_day, "trusted"),
        };
        let now = now_secs();
        let day = now / 86_400;
        let mut used = lock(&self.used);
        used.retain(|_, (d, _)| *d == day);
        let n = used.entry(caller.clone()).or_insert((day, 0));
        // The quota first: a refused request must not spend its stamp (clients such as the
        // OpenAI SDK retry a 429 with the same headers and would then see "replayed"). The
        // stamp is spent, and the quota counted, only for a request that goes on to run;
        // the check is cheap, so it runs under the lock.
        if n.1 >= limit {
            return Err(BillingError::QuotaExceeded {
                caller,
                level: level_name,
                limit,
                resets_in_secs: (day + 1) * 86_400 - now,
            });
        }
        if level == TrustLevel::Newbie && self.cfg.hashcash {
            let stamp = req
                .headers
                .get("x-blyan-hashcash")
                .and_then(|v| v.to_str().ok())
                .ok_or(BillingError::HashcashRequired)?;
            self.signer
                .check_stamp(stamp)
                .map_err(|e| BillingError::BadHashcash(e.to_string()))?;
        }
        n.1 += 1;
        Ok(Authorization {
            caller,
            payment: Payment::Free {
                level,
                remaining: limit - n.1,
            },
            quote: quote.clone(),
        })
    }

    fn settle(&self, auth: &Authorization, usage: &Usage, _blocks: &BlockTokens) -> Settlement {
        *lock(&self.settled).entry(auth.caller.clone()).or_insert(0) += usage.total_tokens as u64;
        tracing::debug!(caller = %auth.caller, tokens = usage.total_tokens, "settled (free tier)");
        Settlement::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::quote::{solve_challenge, TokenError};
    use std::sync::Arc;

    #[test]
    fn a_request_over_quota_does_not_spend_its_stamp() {
        let signer = Arc::new(Signer::new(None));
        let free = FreeTier::new(
            FreeTierConfig {
                newbie_per_day: 2,
                ..Default::default()
            },
            signer.clone(),
        );
        let quote = signer.issue_quote("m", 1, 1, 0, 60).0;
        let stamp = || solve_challenge(&signer.issue_challenge(4, 60).0, 4);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let auth = |stamp: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(s) = stamp {
                headers.insert("x-blyan-hashcash", s.parse().unwrap());
            }
            free.authorize(
                &BillingRequest {
                    headers: &headers,
                    peer: Some(peer),
                },
                &quote,
            )
        };

        // Under quota: a missing or replayed stamp is refused and counts nothing.
        let remaining = |a: Authorization| match a.payment {
            Payment::Free { remaining, .. } => remaining,
            p => panic!("{p:?}"),
        };
        assert!(matches!(auth(None), Err(BillingError::HashcashRequired)));
        let first = stamp();
        assert_eq!(remaining(auth(Some(&first)).unwrap()), 1);
        let e = auth(Some(&first)).unwrap_err();
        assert!(
            matches!(&e, BillingError::BadHashcash(m) if m.contains("already used")),
            "{e}"
        );
        assert_eq!(remaining(auth(Some(&stamp())).unwrap()), 0);

        // Over quota: 429 (also when retried with the same headers, as SDKs do), and the
        // fresh stamp stays unspent; a replayed one is still refused once it is spent.
        let fresh = stamp();
        for _ in 0..3 {
            let e = auth(Some(&fresh)).unwrap_err();
            assert!(
                matches!(e, BillingError::QuotaExceeded { limit: 2, .. }),
                "{e}"
            );
            assert_eq!(ApiError::from(e).status, StatusCode::TOO_MANY_REQUESTS);
        }
        assert!(matches!(
            auth(None),
            Err(BillingError::QuotaExceeded { .. })
        ));
        assert_eq!(signer.check_stamp(&fresh), Ok(()));
        assert_eq!(signer.check_stamp(&fresh), Err(TokenError::Replayed));
        assert_eq!(signer.check_stamp(&first), Err(TokenError::Replayed));
    }
}
