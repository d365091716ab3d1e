//! Quotes and hashcash challenges, both MAC'd by the gateway so a client cannot forge them.
//!
//! The MAC is `sha3-256(key ‖ domain ‖ payload)` with a 32-byte key the gateway draws at
//! start (or is given): SHA-3 has no length extension, so a keyed hash is a sound MAC.
//!
//! **Quote** (`POST /v1/quote`): `amount = ceil((prompt_tokens + max_tokens) ×
//! price_per_1k / 1000)` base units (1 BLY = 10^18); its id is
//! `bq1.{base64url(JSON payload)}.{hex MAC}`, valid until `expires_at` (unix seconds). Send it
//! back in the `x-blyan-quote` header; a request larger than the quote, a tampered id or an
//! expired one is refused with a 400 naming why.
//!
//! **Hashcash** (`GET /v1/challenge`): a challenge string `bc1.{base64url(JSON)}.{hex MAC}`
//! with `bits` and `expires_at`. The caller finds a decimal `nonce` such that
//! `sha3-256(challenge ‖ ":" ‖ nonce)` starts with at least `bits` zero bits and sends
//! `x-blyan-hashcash: {challenge}:{nonce}`. Each solved challenge is good for one request.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use blyan_proto::pol::leading_zero_bits;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Sha3_256};

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A priced request, as signed into a quote id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// Model id.
    pub model: String,
    /// Context tokens of the request.
    pub prompt_tokens: u64,
    /// Most new tokens the request may produce.
    pub max_tokens: u64,
    /// Price per 1,000 tokens, base units.
    #[serde(with = "u128_str")]
    pub price_per_1k: u128,
    /// What the whole request may cost, base units.
    #[serde(with = "u128_str")]
    pub amount: u128,
    /// Unix seconds after which the quote is refused.
    pub expires_at: u64,
    /// Random nonce (unique ids).
    pub nonce: String,
}

mod u128_str {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What `tokens` cost at `price_per_1k` (rounded up).
pub fn cost(tokens: u64, price_per_1k: u128) -> u128 {
    (u128::from(tokens) * price_per_1k).div_ceil(1000)
}

/// Why a quote or stamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the expected shape, or the MAC does not match.
    #[error("{0} is malformed or was not issued by this gateway")]
    Forged(&'static str),
    /// Past its expiry.
    #[error("{what} expired at {expires_at} (now {now}); {hint}")]
    Expired {
        /// Quote or challenge.
        what: &'static str,
        /// Its expiry.
        expires_at: u64,
        /// Now.
        now: u64,
        /// What to do.
        hint: &'static str,
    },
    /// The stamp does not have enough leading zero bits.
    #[error("hashcash stamp has {got} leading zero bits, {need} are required")]
    Weak {
        /// Bits found.
        got: u32,
        /// Bits needed.
        need: u32,
    },
    /// The stamp was already used.
    #[error("hashcash challenge already used; get a new one from GET /v1/challenge")]
    Replayed,
}

/// Issues and checks MAC'd tokens.
pub struct Signer {
    key: [u8; 32],
    spent: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

/// Challenge payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Challenge {
    bits: u32,
    expires_at: u64,
    nonce: String,
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl Signer {
    /// A signer with `key`, or a random key when `None`.
    pub fn new(key: Option<[u8; 32]>) -> Self {
        let key = key.unwrap_or_else(|| {
            let mut k = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut k);
            k
        });
        Self {
            key,
            spent: Mutex::new(BTreeMap::new()),
        }
    }

    fn mac(&self, domain: &str, payload: &[u8]) -> String {
        let mut h = Sha3_256::new();
        h.update(self.key);
        h.update(domain.as_bytes());
        h.update(payload);
        hex::encode(h.finalize())
    }

    fn seal<T: Serialize>(&self, prefix: &str, v: &T) -> String {
        let payload = serde_json::to_vec(v).unwrap_or_default();
        format!(
            "{prefix}.{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            self.mac(prefix, &payload)
        )
    }

    fn open<T: for<'de> Deserialize<'de>>(
        &self,
        prefix: &str,
        what: &'static str,
        token: &str,
    ) -> Result<T, TokenError> {
        let mut parts = token.trim().split('.');
        let (Some(p), Some(body), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Forged(what));
        };
        let payload = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Forged(what))?;
        let want = self.mac(prefix, &payload);
        // compare without an early exit
        let same = p == prefix
            && want.len() == mac.len()
            && want
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(TokenError::Forged(what));
        }
        serde_json::from_slice(&payload).map_err(|_| TokenError::Forged(what))
    }

    /// The id of `q`.
    pub fn quote_id(&self, q: &Quote) -> String {
        self.seal("bq1", q)
    }

    /// A new quote and its id.
    pub fn issue_quote(
        &self,
        model: &str,
        prompt_tokens: u64,
        max_tokens: u64,
        price_per_1k: u128,
        ttl_secs: u64,
    ) -> (Quote, String) {
        let q = Quote {
            model: model.to_string(),
            prompt_tokens,
            max_tokens,
            price_per_1k,
            amount: cost(prompt_tokens + max_tokens, price_per_1k),
            expires_at: now_secs().saturating_add(ttl_secs),
            nonce: random_hex(),
        };
        let id = self.quote_id(&q);
        (q, id)
    }

    /// The quote behind `id`, if it is genuine and not expired.
    pub fn check_quote(&self, id: &str) -> Result<Quote, TokenError> {
        let q: Quote = self.open("bq1", "quote", id)?;
        let now = now_secs();
        if now > q.expires_at {
            return Err(TokenError::Expired {
                what: "quote",
                expires_at: q.expires_at,
                now,
                hint: "request a new one from POST /v1/quote",
            });
        }
        Ok(q)
    }

    /// A new hashcash challenge of `bits`, valid for `ttl_secs`: `(challenge, expires_at)`.
    pub fn issue_challenge(&self, bits: u32, ttl_secs: u64) -> (String, u64) {
        let c = Challenge {
            bits,
            expires_at: now_secs().saturating_add(ttl_secs),
            nonce: random_hex(),
        };
        (self.seal("bc1", &c), c.expires_at)
    }

    /// Checks an `x-blyan-hashcash` value `{challenge}:{nonce}` without spending it:
    /// genuine, not expired, enough work, not spent before. Returns the challenge and its
    /// expiry.
    pub fn verify_stamp<'a>(&self, header: &'a str) -> Result<(&'a str, u64), TokenError> {
        let (challenge, nonce) = header
            .trim()
            .rsplit_once(':')
            .ok_or(TokenError::Forged("hashcash stamp"))?;
        let c: Challenge = self.open("bc1", "hashcash challenge", challenge)?;
        let now = now_secs();
        if now > c.expires_at {
            return Err(TokenError::Expired {
                what: "hashcash challenge",
                expires_at: c.expires_at,
                now,
                hint: "get a new one from GET /v1/challenge",
            });
        }
        let got = leading_zero_bits(&stamp_digest(challenge, nonce));
        if got < c.bits {
            return Err(TokenError::Weak { got, need: c.bits });
        }
        if self
            .spent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(challenge)
        {
            return Err(TokenError::Replayed);
        }
        Ok((challenge, c.expires_at))
    }

    /// Checks an `x-blyan-hashcash` value `{challenge}:{nonce}` and spends it. The spent
    /// set keeps at most [`MAX_SPENT_STAMPS`] challenges until they expire (when full, the
    /// one expiring soonest makes room).
    pub fn check_stamp(&self, header: &str) -> Result<(), TokenError> {
        let (challenge, expires_at) = self.verify_stamp(header)?;
        let now = now_secs();
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if spent.len() >= MAX_SPENT_STAMPS {
            spent.retain(|_, exp| *exp >= now);
            while spent.len() >= MAX_SPENT_STAMPS {
                let first = spent
                    .iter()
                    .min_by_key(|(_, e)| **e)
                    .map(|(k, _)| k.clone());
                match first {
                    Some(k) => spent.remove(&k),
                    None => break,
                };
            }
        }
        if spent.insert(challenge.to_string(), expires_at).is_some() {
            return Err(TokenError::Replayed);
        }
        Ok(())
    }
}

/// Most spent hashcash challenges remembered (each needed a solved stamp).
pub const MAX_SPENT_STAMPS: usize = 262_144;

/// `sha3-256(challenge ‖ ":" ‖ nonce)`.
pub fn stamp_digest(challenge: &str, nonce: &str) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(challenge.as_bytes());
    h.update(b":");
    h.update(nonce.as_bytes());
    h.finalize().into()
}

/// Solves `challenge` for `bits` (expected 2^bits hashes): the header value to send.
pub fn solve_challenge(challenge: &str, bits: u32) -> String {
    let mut n = 0u64;
    loop {
        let nonce = n.to_string();
        if leading_zero_bits(&stamp_digest(challenge, &nonce)) >= bits {
            return format!("{challenge}:{nonce}");
        }
        n = n.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_stamps_cannot_be_forged_or_reused() {
        let s = Signer::new(None);
        let (q, id) = s.issue_quote("m", 10, 20, 1000, 60);
        assert_eq!(q.amount, 30);
        assert_eq!(s.check_quote(&id).unwrap(), q);
        let other = Signer::new(None);
        assert!(matches!(other.check_quote(&id), Err(TokenError::Forged(_))));
        let mut tampered = q.clone();
        tampered.amount = 1;
        let forged = format!(
            "bq1.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap()),
            id.rsplit('.').next().unwrap()
        );
        assert!(s.check_quote(&forged).is_err());
        let (c, _) = s.issue_challenge(8, 60);
        let stamp = solve_challenge(&c, 8);
        s.check_stamp(&stamp).unwrap();
        assert_eq!(s.check_stamp(&stamp), Err(TokenError::Replayed));
        assert_eq!(cost(1, 1), 1);
    }
}
