//! Transactions, their signing hash, wire encoding and hash.
//!
//! Wire format of a signed transaction:
//!
//! ```text
//! 0x01 || SCALE(Tx) || sig[65]
//! ```
//!
//! Signing hash (what the key signs, with no further hashing or prefix):
//!
//! ```text
//! keccak256( b"\x19Blyan Signed Transaction:\n" || 0x01 || SCALE(Tx) )
//! ```
//!
//! `sig` is `r (32) ‖ s (32) ‖ v (1)` with low `s` and `v` in {0, 1} only, so that a signed
//! transaction has exactly one encoding (27/28 are refused: [`SignedTx::check_recovery_id`]).
//!
//! The transaction hash is SHA-256 of the whole wire encoding, the same hash CometBFT
//! indexes (`/tx?hash=0x…`).

use parity_scale_codec::{Decode, DecodeLimit, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::code::ErrorCode;
use crate::hash::{keccak256_concat, sha256};
use crate::keys::{recover_address, KeyError, SecretKey};
use crate::msg::Msg;

/// The only transaction format version this code reads and writes.
pub const TX_FORMAT_VERSION: u8 = 1;

/// Domain tag prepended to the signed bytes so a Blyan signature can never be replayed as
/// an Ethereum transaction or a `personal_sign` message.
pub const SIGNING_DOMAIN: &[u8] = b"\x19Blyan Signed Transaction:\n";

/// Nesting depth limit for SCALE decoding of untrusted bytes.
const DECODE_DEPTH_LIMIT: u32 = 16;

/// EIP-1559 fee terms of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Fee {
    /// The most gas the signer allows the transaction to use.
    pub gas_limit: u64,
    /// The most the signer pays per gas, base fee plus tip.
    #[serde(with = "crate::params::u128_string")]
    pub max_fee_per_gas: u128,
    /// The most tip per gas the signer pays the block proposer.
    #[serde(with = "crate::params::u128_string")]
    pub max_priority_fee_per_gas: u128,
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Tx {
    /// The chain this transaction is for.
    pub chain_id: String,
    /// The signer's next nonce (starts at 0, one per transaction).
    pub nonce: u64,
    /// Fee terms.
    pub fee: Fee,
    /// Messages, executed in order, all or nothing.
    pub msgs: Vec<Msg>,
    /// Free text.
    pub memo: String,
}

/// A transaction with its recoverable signature; the signer is recovered, not sent.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct SignedTx {
    /// The signed transaction.
    pub tx: Tx,
    /// `r || s || v` over [`Tx::signing_hash`].
    pub sig: [u8; 65],
}

/// SHA-256 of a transaction's wire bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxHash(pub [u8; 32]);

impl TxHash {
    /// The hash of raw wire bytes.
    pub fn of(bytes: &[u8]) -> Self {
        TxHash(sha256(bytes))
    }

    /// Uppercase hex, as CometBFT prints it.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }
}

impl std::fmt::Display for TxHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for TxHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why bytes failed to decode as a signed transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty input or an unknown version byte.
    #[error("unsupported transaction format version {0:?} (this node reads version 1)")]
    UnsupportedVersion(Option<u8>),
    /// SCALE decoding failed or left trailing bytes.
    #[error("malformed transaction: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// The result code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            DecodeError::Malformed(_) => ErrorCode::Malformed,
        }
    }
}

impl Tx {
    /// The 32-byte digest the signer signs (see the module docs).
    pub fn signing_hash(&self) -> [u8; 32] {
        keccak256_concat(&[SIGNING_DOMAIN, &[TX_FORMAT_VERSION], &self.encode()])
    }

    /// Signs with `key`.
    pub fn sign(self, key: &SecretKey) -> SignedTx {
        let sig = key.sign_digest(&self.signing_hash());
        SignedTx { tx: self, sig }
    }
}

impl SignedTx {
    /// The wire encoding: version byte, then SCALE.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint().saturating_add(1));
        out.push(TX_FORMAT_VERSION);
        self.encode_to(&mut out);
        out
    }

    /// Decodes wire bytes; never panics, rejects trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.first() {
            Some(&TX_FORMAT_VERSION) => {}
            other => return Err(DecodeError::UnsupportedVersion(other.copied())),
        }
        let mut input = bytes.get(1..).unwrap_or_default();
        let tx = SignedTx::decode_with_depth_limit(DECODE_DEPTH_LIMIT, &mut input)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !input.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} trailing bytes after the transaction",
                input.len()
            )));
        }
        Ok(tx)
    }

    /// Refuses a recovery id `v` (the last signature byte) other than 0 or 1: with 27/28
    /// also accepted, one signed transaction would have two wire encodings and two hashes,
    /// and a client waiting on one hash would never see the other committed.
    pub fn check_recovery_id(&self) -> Result<(), KeyError> {
        match self.sig[64] {
            0 | 1 => Ok(()),
            v => Err(KeyError::NonCanonicalRecoveryId(v)),
        }
    }

    /// Recovers the signer's address (the expensive step: about 0.1 ms); a non-canonical
    /// `v` is refused first ([`Self::check_recovery_id`]).
    pub fn recover_signer(&self) -> Result<Address, KeyError> {
        self.check_recovery_id()?;
        recover_address(&self.tx.signing_hash(), &self.sig)
    }

    /// The transaction hash of this transaction's wire encoding.
    pub fn hash(&self) -> TxHash {
        TxHash::of(&self.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::BankMsg;
    use proptest::prelude::*;

    fn sample() -> Tx {
        Tx {
            chain_id: "blyan-test".into(),
            nonce: 7,
            fee: Fee {
                gas_limit: 50_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000,
            },
            msgs: vec![Msg::Bank(BankMsg::Send {
                to: SecretKey::from_seed("bob").address(),
                amount: 5,
            })],
            memo: "hi".into(),
        }
    }

    #[test]
    fn round_trip_and_recover() {
        let key = SecretKey::from_seed("alice");
        let signed = sample().sign(&key);
        let bytes = signed.to_bytes();
        assert_eq!(bytes[0], TX_FORMAT_VERSION);
        let back = SignedTx::from_bytes(&bytes).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.recover_signer().unwrap(), key.address());
    }

    #[test]
    fn trailing_bytes_and_bad_versions_are_rejected() {
        let mut bytes = sample().sign(&SecretKey::from_seed("a")).to_bytes();
        bytes.push(0);
        assert!(matches!(
            SignedTx::from_bytes(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            SignedTx::from_bytes(&[]),
            Err(DecodeError::UnsupportedVersion(None))
        ));
        assert!(matches!(
            SignedTx::from_bytes(&[9, 1, 2]),
            Err(DecodeError::UnsupportedVersion(Some(9)))
        ));
    }

    #[test]
    fn signing_hash_layout_is_as_documented() {
        let tx = sample();
        let mut pre = SIGNING_DOMAIN.to_vec();
        pre.push(1);
        pre.extend(tx.encode());
        assert_eq!(tx.signing_hash(), crate::hash::keccak256(&pre));
        // The SCALE layout a foreign signer must reproduce: compact-length string,
        // u64 LE, u64 LE, u128 LE, u128 LE, compact-length vec of enum-indexed messages,
        // compact-length string.
        let enc = tx.encode();
        assert_eq!(enc[0], 10 << 2, "compact length of 'blyan-test'");
        assert_eq!(&enc[1..11], b"blyan-test");
        assert_eq!(&enc[11..19], &7u64.to_le_bytes());
        assert_eq!(&enc[19..27], &50_000u64.to_le_bytes());
    }

    #[test]
    fn ethereum_style_v_is_refused_so_a_tx_has_one_hash() {
        let key = SecretKey::from_seed("alice");
        let signed = sample().sign(&key);
        assert!(signed.sig[64] <= 1);
        let mut eth = signed.clone();
        eth.sig[64] += 27;
        // The same signature under v + 27 is another wire encoding with another hash ...
        assert_ne!(eth.hash(), signed.hash());
        let back = SignedTx::from_bytes(&eth.to_bytes()).unwrap();
        // ... which is refused, naming the fix.
        let err = back.recover_signer().unwrap_err();
        assert_eq!(err, KeyError::NonCanonicalRecoveryId(signed.sig[64] + 27));
        assert!(err.to_string().contains("subtract 27"), "{err}");
        assert_eq!(back.check_recovery_id(), Err(err));
        for v in [2u8, 28, 29, 255] {
            let mut bad = signed.clone();
            bad.sig[64] = v;
            assert_eq!(
                bad.recover_signer(),
                Err(KeyError::NonCanonicalRecoveryId(v))
            );
        }
        assert_eq!(signed.check_recovery_id(), Ok(()));
        assert_eq!(signed.recover_signer().unwrap(), key.address());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SignedTx::from_bytes(&bytes);
            let mut v = vec![TX_FORMAT_VERSION];
            v.extend(&bytes);
            let _ = SignedTx::from_bytes(&v);
        }

        #[test]
        fn mutated_valid_tx_never_panics(idx in 0usize..200, byte in any::<u8>()) {
            let mut bytes = sample().sign(&SecretKey::from_seed("m")).to_bytes();
            let i = idx.checked_rem(bytes.len()).unwrap();
            bytes[i] = byte;
            if let Ok(tx) = SignedTx::from_bytes(&bytes) {
                let _ = tx.recover_signer();
            }
        }
    }
}
