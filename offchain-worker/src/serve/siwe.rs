//! Sign-In with Ethereum (EIP-4361) for the free tier: a caller proves it holds an address
//! (its on-chain trust level then sets its quota) instead of merely naming it.
//!
//! 1. `GET` or `POST /v1/auth/nonce` → `{nonce, expires_at, domain, uri, chain_id,
//!    statement, message}`: a random nonce (32 hex digits, single use, valid
//!    `nonce_ttl`), and `message`, the exact text to sign with `{address}`, `{issued_at}`
//!    and `{expiration_time}` left to fill in.
//! 2. The caller signs the message with `personal_sign` (EIP-191: keccak256 of
//!    `"\x19Ethereum Signed Message:\n" ‖ decimal byte length ‖ message`), 65 bytes
//!    `r ‖ s ‖ v` with `v` 27/28 (or 0/1), hex.
//! 3. `POST /v1/auth/siwe` with `{"message": .., "signature": "0x.."}` → `{token,
//!    address, expires_at}`; the token is the bearer: `Authorization: Bearer {token}`.
//!
//! The message, line by line (`\n` line ends, no trailing newline):
//!
//! ```text
//! {domain} wants you to sign in with your Ethereum account:
//! {address, EIP-55 checksummed}
//!
//! {statement}
//!
//! URI: {uri}
//! Version: 1
//! Chain ID: {chain_id}
//! Nonce: {nonce}
//! Issued At: {RFC 3339 time, e.g. 2026-12-04T15:00:00Z}
//! Expiration Time: {RFC 3339 time}
//! ```
//!
//! The gateway checks: the domain is its own (`--siwe-domain`, else the request's `Host`),
//! the URI's authority is that domain, version 1, its chain id, a nonce it issued and that
//! was not used, `Issued At` not in the future (a minute of clock skew), `Expiration Time`
//! in the future, and that the signature recovers the address in the message. The session
//! lasts until the message's expiration time or `session_ttl`, whichever is sooner.
//!
//! Nonces and sessions are kept in bounded maps: expired entries go first, then the oldest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use blyan_proto::hash::keccak256;
use blyan_proto::keys::recover_address;
use blyan_proto::{Address, SecretKey};
use rand::RngCore;

use super::quote::now_secs;
pub use super::rfc3339::{format_rfc3339, parse_rfc3339};

/// Prefix of session tokens (a bearer without it is not a session and is ignored).
pub const SESSION_PREFIX: &str = "blyan_siwe_";

/// Settings of Sign-In with Ethereum.
#[derive(Debug, Clone)]
pub struct SiweConfig {
    /// The domain messages must name (`None`: the `Host` header of the sign-in request).
    pub domain: Option<String>,
    /// The EIP-155 chain id messages must name.
    pub chain_id: u64,
    /// The statement the gateway asks callers to sign.
    pub statement: String,
    /// How long an issued nonce may be used.
    pub nonce_ttl: Duration,
    /// Longest session.
    pub session_ttl: Duration,
    /// Most outstanding nonces.
    pub max_nonces: usize,
    /// Most live sessions.
    pub max_sessions: usize,
}

impl Default for SiweConfig {
    fn default() -> Self {
        Self {
            domain: None,
            chain_id: 1,
            statement: "Sign in to the Blyan inference gateway.".into(),
            nonce_ttl: Duration::from_secs(600),
            session_ttl: Duration::from_secs(86_400),
            max_nonces: 10_000,
            max_sessions: 100_000,
        }
    }
}

/// Why a sign-in or a session was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiweError {
    /// The message is not an EIP-4361 message of the documented shape.
    #[error("malformed SIWE message: {0}")]
    Malformed(String),
    /// A field does not match what this gateway expects.
    #[error("SIWE message: {0}")]
    Mismatch(String),
    /// The nonce was not issued here, was used, or expired.
    #[error("SIWE nonce {0:?} is unknown, used or expired; get a new one from GET /v1/auth/nonce")]
    BadNonce(String),
    /// The signature is malformed or recovers another address.
    #[error("SIWE signature: {0}")]
    BadSignature(String),
    /// The bearer token is not a live session.
    #[error("the session token is unknown or expired; sign in again (GET /v1/auth/nonce, then POST /v1/auth/siwe)")]
    BadSession,
}

/// The fields of a SIWE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// Requesting domain.
    pub domain: String,
    /// Signing address.
    pub address: Address,
    /// Statement (optional in EIP-4361).
    pub statement: Option<String>,
    /// URI.
    pub uri: String,
    /// Chain id.
    pub chain_id: u64,
    /// Nonce.
    pub nonce: String,
    /// Issued at, RFC 3339.
    pub issued_at: String,
    /// Expiration time, RFC 3339.
    pub expiration_time: String,
}

impl SiweMessage {
    /// The message text (the documented layout).
    pub fn text(&self) -> String {
        let statement = self
            .statement
            .as_ref()
            .map(|s| format!("{s}\n\n"))
            .unwrap_or_default();
        format!(
            "{} wants you to sign in with your Ethereum account:\n{}\n\n{statement}URI: {}\nVersion: 1\nChain ID: {}\nNonce: {}\nIssued At: {}\nExpiration Time: {}",
            self.domain,
            self.address,
            self.uri,
            self.chain_id,
            self.nonce,
            self.issued_at,
            self.expiration_time
        )
    }

    /// Parses the documented layout (strictly: fields in order, nothing else).
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        let bad = |m: &str| SiweError::Malformed(m.to_string());
        let mut lines = text.split('\n');
        let mut next = |what: &str| lines.next().ok_or_else(|| bad(&format!("no {what} line")));
        let domain = next("domain")?
            .strip_suffix(" wants you to sign in with your Ethereum account:")
            .ok_or_else(|| bad("the first line must be `{domain} wants you to sign in with your Ethereum account:`"))?
            .to_string();
        let addr_line = next("address")?;
        let address: Address = addr_line
            .parse()
            .map_err(|_| bad("the second line must be an address"))?;
        if address.to_string() != addr_line {
            return Err(bad("the address must be EIP-55 checksummed"));
        }
        if !next("blank")?.is_empty() {
            return Err(bad("a blank line must follow the address"));
        }
        let mut line = next("URI")?;
        let mut statement = None;
        if !line.starts_with("URI: ") {
            statement = Some(line.to_string());
            if !next("blank")?.is_empty() {
                return Err(bad("a blank line must follow the statement"));
            }
            line = next("URI")?;
        }
        let field = |line: &str, name: &str| -> Result<String, SiweError> {
            line.strip_prefix(name)
                .and_then(|r| r.strip_prefix(": "))
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("expected `{name}: …`, got {line:?}")))
        };
        let uri = field(line, "URI")?;
        let version = field(next("Version")?, "Version")?;
        if version != "1" {
            return Err(bad("Version must be 1"));
        }
        let chain_id = field(next("Chain ID")?, "Chain ID")?
            .parse()
            .map_err(|_| bad("Chain ID must be a number"))?;
        let nonce = field(next("Nonce")?, "Nonce")?;
        if nonce.len() < 8 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("the nonce must be at least 8 letters or digits"));
        }
        let issued_at = field(next("Issued At")?, "Issued At")?;
        let expiration_time = field(next("Expiration Time")?, "Expiration Time")?;
        if let Some(extra) = lines.next() {
            return Err(bad(&format!(
                "nothing may follow Expiration Time (got {extra:?})"
            )));
        }
        Ok(Self {
            domain,
            address,
            statement,
            uri,
            chain_id,
            nonce,
            issued_at,
            expiration_time,
        })
    }
}

/// The EIP-191 `personal_sign` digest of `message`.
pub fn personal_sign_digest(message: &[u8]) -> [u8; 32] {
    let mut data = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    data.extend_from_slice(message);
    keccak256(&data)
}

/// Signs `message` as `personal_sign` does: `0x` ‖ hex(r ‖ s ‖ v) with `v` 27/28.
pub fn personal_sign(key: &SecretKey, message: &str) -> String {
    let mut sig = key.sign_digest(&personal_sign_digest(message.as_bytes()));
    sig[64] = sig[64].saturating_add(27);
    format!("0x{}", hex::encode(sig))
}

/// The address that `personal_sign`ed `message` (`v` 27/28 or 0/1).
pub fn recover_personal(message: &str, signature: &str) -> Result<Address, SiweError> {
    let bytes = hex::decode(signature.trim().trim_start_matches("0x"))
        .map_err(|_| SiweError::BadSignature("not hex".into()))?;
    let mut sig: [u8; 65] = bytes
        .try_into()
        .map_err(|_| SiweError::BadSignature("a signature is 65 bytes".into()))?;
    sig[64] = match sig[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        _ => return Err(SiweError::BadSignature("v must be 27 or 28".into())),
    };
    recover_address(&personal_sign_digest(message.as_bytes()), &sig)
        .map_err(|e| SiweError::BadSignature(e.to_string()))
}

/// A live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The address that signed in.
    pub address: Address,
    /// Unix seconds it ends.
    pub expires_at: u64,
}

/// Issued nonces and live sessions.
pub struct Siwe {
    cfg: SiweConfig,
    nonces: Mutex<BTreeMap<String, u64>>,
    sessions: Mutex<BTreeMap<String, Session>>,
}

impl std::fmt::Debug for Siwe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Siwe").field("cfg", &self.cfg).finish()
    }
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Makes room for one more entry in `map` (at most `cap`): drops the expired ones, then
/// the ones that end soonest.
fn make_room<V>(map: &mut BTreeMap<String, V>, cap: usize, now: u64, ends: impl Fn(&V) -> u64) {
    map.retain(|_, v| ends(v) > now);
    while map.len() >= cap.max(1) {
        let first = map
            .iter()
            .min_by_key(|(_, v)| ends(v))
            .map(|(k, _)| k.clone());
        match first {
            Some(k) => map.remove(&k),
            None => break,
        };
    }
}

impl Siwe {
    /// An empty store.
    pub fn new(cfg: SiweConfig) -> Self {
        Self {
            cfg,
            nonces: Mutex::new(BTreeMap::new()),
            sessions: Mutex::new(BTreeMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SiweConfig {
        &self.cfg
    }

    /// A new nonce and its expiry (unix seconds).
    pub fn issue_nonce(&self) -> (String, u64) {
        let now = now_secs();
        let expires = now.saturating_add(self.cfg.nonce_ttl.as_secs());
        let nonce = random_hex(16);
        let mut n = super::billing::lock(&self.nonces);
        if n.len() >= self.cfg.max_nonces {
            make_room(&mut n, self.cfg.max_nonces, now, |e| *e);
        }
        n.insert(nonce.clone(), expires);
        (nonce, expires)
    }

    /// The domain sign-in messages must name, given the request's `Host`.
    pub fn domain(&self, host: Option<&str>) -> String {
        self.cfg
            .domain
            .clone()
            .or_else(|| host.map(str::to_string))
            .unwrap_or_else(|| "localhost".into())
    }

    /// Checks a signed message (see the module docs) and opens a session.
    pub fn sign_in(
        &self,
        message: &str,
        signature: &str,
        host: Option<&str>,
    ) -> Result<(String, Session), SiweError> {
        let m = SiweMessage::parse(message)?;
        let domain = self.domain(host);
        let mismatch = |s: String| Err(SiweError::Mismatch(s));
        if m.domain != domain {
            return mismatch(format!("domain {:?}, this gateway is {domain:?}", m.domain));
        }
        let authority = m
            .uri
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
        if authority != Some(domain.as_str()) {
            return mismatch(format!("URI {:?} is not on {domain:?}", m.uri));
        }
        if m.chain_id != self.cfg.chain_id {
            return mismatch(format!(
                "Chain ID {}, this gateway signs in on {}",
                m.chain_id, self.cfg.chain_id
            ));
        }
        let now = now_secs();
        let issued = parse_rfc3339(&m.issued_at)
            .ok_or_else(|| SiweError::Malformed("Issued At is not an RFC 3339 time".into()))?;
        let expires = parse_rfc3339(&m.expiration_time).ok_or_else(|| {
            SiweError::Malformed("Expiration Time is not an RFC 3339 time".into())
        })?;
        if issued > now.saturating_add(60) {
            return mismatch(format!("Issued At {} is in the future", m.issued_at));
        }
        if expires <= now {
            return mismatch(format!("the message expired at {}", m.expiration_time));
        }
        // the signature before the nonce is spent: a forged message cannot burn a nonce
        let signer = recover_personal(message, signature)?;
        if signer != m.address {
            return Err(SiweError::BadSignature(format!(
                "it recovers {signer}, not the message's {}",
                m.address
            )));
        }
        {
            let mut n = super::billing::lock(&self.nonces);
            match n.remove(&m.nonce) {
                Some(e) if e >= now => {}
                _ => return Err(SiweError::BadNonce(m.nonce)),
            }
        }
        let session = Session {
            address: m.address,
            expires_at: expires.min(now.saturating_add(self.cfg.session_ttl.as_secs())),
        };
        let token = format!("{SESSION_PREFIX}{}", random_hex(32));
        let mut s = super::billing::lock(&self.sessions);
        if s.len() >= self.cfg.max_sessions {
            make_room(&mut s, self.cfg.max_sessions, now, |e| e.expires_at);
        }
        s.insert(token.clone(), session);
        Ok((token, session))
    }

    /// The session a request's bearer names: `Ok(None)` without a session bearer (no
    /// `Authorization`, or a bearer that is not a session token, such as an SDK's dummy
    /// key); an error for a session token that is unknown or expired.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Session>, SiweError> {
        let Some(token) = bearer(headers).filter(|t| t.starts_with(SESSION_PREFIX)) else {
            return Ok(None);
        };
        let now = now_secs();
        let mut s = super::billing::lock(&self.sessions);
        match s.get(token) {
            Some(x) if x.expires_at > now => Ok(Some(*x)),
            Some(_) => {
                s.remove(token);
                Err(SiweError::BadSession)
            }
            None => Err(SiweError::BadSession),
        }
    }

    /// Outstanding nonces and live sessions (for tests and metrics).
    pub fn sizes(&self) -> (usize, usize) {
        (
            super::billing::lock(&self.nonces).len(),
            super::billing::lock(&self.sessions).len(),
        )
    }
}

/// The token in `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_opens_one_session_and_forgeries_do_not() {
        let siwe = Siwe::new(SiweConfig {
            domain: Some("gw.example:8080".into()),
            ..SiweConfig::default()
        });
        let key = SecretKey::from_seed("caller");
        let now = now_secs();
        let (nonce, _) = siwe.issue_nonce();
        let m = SiweMessage {
            domain: "gw.example:8080".into(),
            address: key.address(),
            statement: Some(siwe.config().statement.clone()),
            uri: "http://gw.example:8080/".into(),
            chain_id: 1,
            nonce: nonce.clone(),
            issued_at: format_rfc3339(now),
            expiration_time: format_rfc3339(now + 3600),
        };
        let text = m.text();
        assert_eq!(SiweMessage::parse(&text).unwrap(), m);
        let sig = personal_sign(&key, &text);
        // another key's signature, a tampered message: refused, the nonce stays usable
        let other = personal_sign(&SecretKey::from_seed("other"), &text);
        assert!(matches!(
            siwe.sign_in(&text, &other, None),
            Err(SiweError::BadSignature(_))
        ));
        let tampered = text.replace("Chain ID: 1", "Chain ID: 2");
        assert!(siwe.sign_in(&tampered, &sig, None).is_err());
        let (token, s) = siwe.sign_in(&text, &sig, None).unwrap();
        assert_eq!(s.address, key.address());
        assert!(s.expires_at <= now + 3601);
        // the nonce is single use
        assert!(matches!(
            siwe.sign_in(&text, &sig, None),
            Err(SiweError::BadNonce(_))
        ));
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        assert_eq!(siwe.authenticate(&h).unwrap(), Some(s));
        h.insert(
            "authorization",
            format!("Bearer {SESSION_PREFIX}00").parse().unwrap(),
        );
        assert_eq!(siwe.authenticate(&h), Err(SiweError::BadSession));
        h.insert("authorization", "Bearer sk-anything".parse().unwrap());
        assert_eq!(siwe.authenticate(&h), Ok(None));
    }

    #[test]
    fn nonces_and_sessions_stay_bounded() {
        let siwe = Siwe::new(SiweConfig {
            max_nonces: 50,
            max_sessions: 3,
            domain: Some("d".into()),
            ..SiweConfig::default()
        });
        for _ in 0..500 {
            siwe.issue_nonce();
        }
        assert_eq!(siwe.sizes().0, 50);
        let now = now_secs();
        for i in 0..10 {
            let key = SecretKey::from_seed(&format!("k{i}"));
            let (nonce, _) = siwe.issue_nonce();
            let text = SiweMessage {
                domain: "d".into(),
                address: key.address(),
                statement: None,
                uri: "https://d".into(),
                chain_id: 1,
                nonce,
                issued_at: format_rfc3339(now),
                expiration_time: format_rfc3339(now + 100 + i),
            }
            .text();
            siwe.sign_in(&text, &personal_sign(&key, &text), None)
                .unwrap();
        }
        assert_eq!(siwe.sizes().1, 3);
    }
}
