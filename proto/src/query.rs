//! ABCI query paths and their response types.
//!
//! Parameters travel in the path (`/bank/balance/0x…`), so a query is one readable string
//! for CometBFT's `abci_query`. Values are SCALE-encoded. Paths marked *provable* map to
//! exactly one state key: with `prove=true` the response carries a Jellyfish Merkle proof of
//! that key's value against the app hash of the queried height.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Query result code: the path is not known.
pub const QUERY_UNKNOWN_PATH: u32 = 1;
/// Query result code: the height is outside the retained window.
pub const QUERY_HEIGHT_UNAVAILABLE: u32 = 2;
/// Query result code: a proof was asked for a path that has none.
pub const QUERY_NOT_PROVABLE: u32 = 3;
/// Query result code: the path's parameter is malformed.
pub const QUERY_BAD_PARAM: u32 = 4;

/// A parsed query path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPath {
    /// `/bank/balance/{address}` → `u128` (provable).
    Balance(Address),
    /// `/bank/supply` → `u128` total supply (provable).
    Supply,
    /// `/auth/nonce/{address}` → `u64` next nonce (provable).
    Nonce(Address),
    /// `/auth/account/{address}` → [`AccountInfo`].
    Account(Address),
    /// `/fees/params` → [`crate::params::FeeParams`] (provable).
    FeeParams,
    /// `/fees/base_fee` → `u128` base fee per gas for the next block (provable).
    BaseFee,
    /// `/fees/burned` → `u128` base units burned since genesis (provable).
    Burned,
    /// `/tx/params` → [`crate::params::TxParams`] (provable).
    TxParams,
    /// `/chain/id` → `String` chain id (provable).
    ChainId,
}

impl QueryPath {
    /// Parses a path string.
    pub fn parse(path: &str) -> Result<Self, String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let addr = |s: &str| s.parse::<Address>().map_err(|e| e.to_string());
        Ok(match parts.as_slice() {
            ["bank", "balance", a] => QueryPath::Balance(addr(a)?),
            ["bank", "supply"] => QueryPath::Supply,
            ["auth", "nonce", a] => QueryPath::Nonce(addr(a)?),
            ["auth", "account", a] => QueryPath::Account(addr(a)?),
            ["fees", "params"] => QueryPath::FeeParams,
            ["fees", "base_fee"] => QueryPath::BaseFee,
            ["fees", "burned"] => QueryPath::Burned,
            ["tx", "params"] => QueryPath::TxParams,
            ["chain", "id"] => QueryPath::ChainId,
            _ => return Err(format!("unknown query path {path:?}")),
        })
    }
}

impl std::fmt::Display for QueryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryPath::Balance(a) => write!(f, "/bank/balance/{a}"),
            QueryPath::Supply => write!(f, "/bank/supply"),
            QueryPath::Nonce(a) => write!(f, "/auth/nonce/{a}"),
            QueryPath::Account(a) => write!(f, "/auth/account/{a}"),
            QueryPath::FeeParams => write!(f, "/fees/params"),
            QueryPath::BaseFee => write!(f, "/fees/base_fee"),
            QueryPath::Burned => write!(f, "/fees/burned"),
            QueryPath::TxParams => write!(f, "/tx/params"),
            QueryPath::ChainId => write!(f, "/chain/id"),
        }
    }
}

/// An account as wallets want to see it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The account.
    pub address: Address,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Balance in base units.
    #[serde(with = "crate::params::u128_string")]
    pub balance: u128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let a = crate::keys::SecretKey::from_seed("q").address();
        for p in [
            QueryPath::Balance(a),
            QueryPath::Supply,
            QueryPath::Nonce(a),
            QueryPath::Account(a),
            QueryPath::FeeParams,
            QueryPath::BaseFee,
            QueryPath::Burned,
            QueryPath::TxParams,
            QueryPath::ChainId,
        ] {
            assert_eq!(QueryPath::parse(&p.to_string()).unwrap(), p);
        }
        assert!(QueryPath::parse("/nope").is_err());
        assert!(QueryPath::parse("/bank/balance/0x12").is_err());
    }
}
