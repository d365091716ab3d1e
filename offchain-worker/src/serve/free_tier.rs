//! The free tier ([`FreeTier`]): a daily quota per caller by on-chain trust level, hashcash
//! stamps for anonymous and newbie callers, counts kept across restarts (see
//! [`super::billing`] for the rules).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blyan_proto::address::Address;
use blyan_proto::pol::{TrustInfo, TrustLevel};
use blyan_proto::query::QueryPath;
use parity_scale_codec::Decode;
use serde::{Deserialize, Serialize};

use super::api::Usage;
use super::billing::{
    lock, Authorization, Billing, BillingError, BillingRequest, BlockTokens, Payment, Settlement,
};
use super::quote::{now_secs, Quote, Signer};
use crate::chain::RpcClient;

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
    /// Where the day's request counts are kept across restarts (`None`: memory only).
    pub quota_store: Option<PathBuf>,
    /// Most callers tracked per map (counts, trust levels, settled tokens).
    pub max_callers: usize,
}

impl Default for FreeTierConfig {
    fn default() -> Self {
        Self {
            newbie_per_day: 5,
            trusted_per_day: 500,
            chain_rpc: None,
            trust_ttl: Duration::from_secs(60),
            hashcash: true,
            quota_store: None,
            max_callers: 65_536,
        }
    }
}

/// The day's request counts per caller, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct QuotaBook {
    /// UTC day (unix days).
    day: u64,
    /// Requests served per caller that day.
    used: BTreeMap<String, u32>,
}

/// Inserts into a bounded map: when `map` is full and `key` is new, the entry with the
/// smallest `rank` makes room.
fn insert_bounded<K: Ord + Clone, V, R: Ord>(
    map: &mut BTreeMap<K, V>,
    cap: usize,
    key: K,
    value: V,
    rank: impl Fn(&V) -> R,
) {
    if !map.contains_key(&key) && map.len() >= cap.max(1) {
        let victim = map
            .iter()
            .min_by_key(|(_, v)| rank(v))
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            map.remove(&k);
        }
    }
    map.insert(key, value);
}

/// The default [`Billing`]: a daily free quota by trust level, hashcash for anonymous callers.
pub struct FreeTier {
    cfg: FreeTierConfig,
    signer: std::sync::Arc<Signer>,
    used: Mutex<QuotaBook>,
    trust: Mutex<BTreeMap<Address, (Instant, TrustLevel)>>,
    /// Tokens settled per caller (what a paid tier would have charged), for inspection.
    settled: Mutex<BTreeMap<String, u64>>,
}

impl FreeTier {
    /// A free tier using `signer` to check hashcash stamps; the day's counts are read from
    /// `cfg.quota_store` when it exists.
    pub fn new(cfg: FreeTierConfig, signer: std::sync::Arc<Signer>) -> Self {
        let today = now_secs() / 86_400;
        let mut book: QuotaBook = cfg
            .quota_store
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if book.day != today {
            book = QuotaBook {
                day: today,
                used: BTreeMap::new(),
            };
        }
        while book.used.len() > cfg.max_callers.max(1) {
            book.used.pop_last();
        }
        Self {
            cfg,
            signer,
            used: Mutex::new(book),
            trust: Mutex::new(BTreeMap::new()),
            settled: Mutex::new(BTreeMap::new()),
        }
    }

    /// Total tokens settled for `caller` so far.
    pub fn settled_tokens(&self, caller: &str) -> u64 {
        lock(&self.settled).get(caller).copied().unwrap_or(0)
    }

    /// Callers tracked now: (request counts, trust levels, settled tokens).
    pub fn tracked(&self) -> (usize, usize, usize) {
        (
            lock(&self.used).used.len(),
            lock(&self.trust).len(),
            lock(&self.settled).len(),
        )
    }

    fn save(&self, book: &QuotaBook) {
        let Some(path) = &self.cfg.quota_store else {
            return;
        };
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let tmp = path.with_extension("tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(book).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::error!(path = %path.display(), error = %e, "could not save the free-tier counts");
        }
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
        let path = QueryPath::Trust(*addr);
        let level = match RpcClient::new(rpc).abci_query(&path, false) {
            Ok(r) if r.code == 0 && r.value.is_empty() => TrustLevel::Newbie,
            Ok(r) if r.code == 0 => TrustInfo::decode(&mut r.value.as_slice())
                .map(|t| t.level)
                .unwrap_or_default(),
            Ok(r) => {
                let (code, log) = (r.code, r.log);
                tracing::warn!(%path, code, %log, "trust query refused; treating as newbie");
                TrustLevel::Newbie
            }
            Err(e) => {
                tracing::warn!(%path, error = %e, "trust query failed; treating as newbie");
                return TrustLevel::Newbie;
            }
        };
        let mut t = lock(&self.trust);
        insert_bounded(
            &mut t,
            self.cfg.max_callers,
            *addr,
            (Instant::now(), level),
            |(at, _)| *at,
        );
        level
    }
}

impl Billing for FreeTier {
    fn authorize(
        &self,
        req: &BillingRequest<'_>,
        quote: &Quote,
    ) -> Result<Authorization, BillingError> {
        // Only an authenticated address (a SIWE session the gateway checked) is looked up.
        let (caller, level) = match req.address {
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
        // The stamp is verified before the caller's count is read or created, and spent
        // only for a request that goes on to run (clients such as the OpenAI SDK retry a
        // 429 with the same headers and would otherwise see "replayed").
        let stamp = if level == TrustLevel::Newbie && self.cfg.hashcash {
            let stamp = req
                .headers
                .get("x-blyan-hashcash")
                .and_then(|v| v.to_str().ok())
                .ok_or(BillingError::HashcashRequired)?;
            self.signer
                .verify_stamp(stamp)
                .map_err(|e| BillingError::BadHashcash(e.to_string()))?;
            Some(stamp)
        } else {
            None
        };
        let now = now_secs();
        let day = now / 86_400;
        let mut book = lock(&self.used);
        if book.day != day {
            *book = QuotaBook {
                day,
                used: BTreeMap::new(),
            };
        }
        let n = book.used.get(&caller).copied().unwrap_or(0);
        if n >= limit {
            return Err(BillingError::QuotaExceeded {
                caller,
                level: level_name,
                limit,
                resets_in_secs: (day + 1) * 86_400 - now,
            });
        }
        if let Some(stamp) = stamp {
            self.signer
                .check_stamp(stamp)
                .map_err(|e| BillingError::BadHashcash(e.to_string()))?;
        }
        // full: the caller with the fewest requests today makes room
        insert_bounded(
            &mut book.used,
            self.cfg.max_callers,
            caller.clone(),
            n + 1,
            |c| *c,
        );
        let snapshot = book.clone();
        drop(book);
        self.save(&snapshot);
        Ok(Authorization {
            caller,
            payment: Payment::Free {
                level,
                remaining: limit - (n + 1),
            },
            quote: quote.clone(),
        })
    }

    fn settle(&self, auth: &Authorization, usage: &Usage, _blocks: &BlockTokens) -> Settlement {
        let mut settled = lock(&self.settled);
        let total = settled
            .get(&auth.caller)
            .copied()
            .unwrap_or(0)
            .saturating_add(usage.total_tokens as u64);
        insert_bounded(
            &mut settled,
            self.cfg.max_callers,
            auth.caller.clone(),
            total,
            |t| *t,
        );
        tracing::debug!(caller = %auth.caller, tokens = usage.total_tokens, "settled (free tier)");
        Settlement::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::api::ApiError;
    use crate::serve::quote::{solve_challenge, TokenError};
    use axum::http::{HeaderMap, StatusCode};
    use std::net::SocketAddr;
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
                    address: None,
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
        // without a stamp the caller's count is not even read
        assert!(matches!(auth(None), Err(BillingError::HashcashRequired)));
        assert_eq!(signer.check_stamp(&fresh), Ok(()));
        assert_eq!(signer.check_stamp(&fresh), Err(TokenError::Replayed));
        assert_eq!(signer.check_stamp(&first), Err(TokenError::Replayed));
    }

    fn request(
        free: &FreeTier,
        address: Option<Address>,
        stamp: Option<&str>,
    ) -> Result<Authorization, BillingError> {
        let mut headers = HeaderMap::new();
        if let Some(s) = stamp {
            headers.insert("x-blyan-hashcash", s.parse().unwrap());
        }
        let quote = Signer::new(None).issue_quote("m", 1, 1, 0, 60).0;
        free.authorize(
            &BillingRequest {
                headers: &headers,
                peer: Some("10.0.0.1:9".parse().unwrap()),
                address,
            },
            &quote,
        )
    }

    #[test]
    fn bad_stamps_create_no_counts_and_every_caller_map_is_bounded() {
        let signer = Arc::new(Signer::new(None));
        let free = FreeTier::new(
            FreeTierConfig {
                max_callers: 3,
                ..Default::default()
            },
            signer.clone(),
        );
        for i in 0..50 {
            let a = Address([i as u8; 20]);
            let e = request(&free, Some(a), Some("bc1.forged.00:1")).unwrap_err();
            assert!(matches!(e, BillingError::BadHashcash(_)), "{e}");
        }
        assert_eq!(free.tracked().0, 0, "no count before a valid stamp");
        for i in 0..50 {
            let stamp = solve_challenge(&signer.issue_challenge(2, 60).0, 2);
            let a = request(&free, Some(Address([i as u8; 20])), Some(&stamp)).unwrap();
            free.settle(&a, &Usage::new(1, 1), &BlockTokens::new());
        }
        let (used, trust, settled) = free.tracked();
        assert!(
            used <= 3 && trust <= 3 && settled <= 3,
            "{:?}",
            free.tracked()
        );
    }

    #[test]
    fn the_days_counts_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FreeTierConfig {
            newbie_per_day: 2,
            hashcash: false,
            quota_store: Some(dir.path().join("free_quota.json")),
            ..Default::default()
        };
        let signer = Arc::new(Signer::new(None));
        let free = FreeTier::new(cfg.clone(), signer.clone());
        request(&free, None, None).unwrap();
        request(&free, None, None).unwrap();
        drop(free);
        let again = FreeTier::new(cfg, signer);
        assert!(matches!(
            request(&again, None, None),
            Err(BillingError::QuotaExceeded { limit: 2, .. })
        ));
    }
}
