//! Wire types shared by every Blyan process: addresses, keys, transactions, messages,
//! error codes, events and queries.
//!
//! Everything that crosses a process boundary is SCALE-encoded (parity-scale-codec) and
//! defined here, so a wallet, worker or explorer never parses ad-hoc strings.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::float_arithmetic,
    clippy::arithmetic_side_effects
)]

pub mod address;
pub mod code;
pub mod dag;
pub mod event;
pub mod gov;
pub mod hash;
pub mod inference;
pub mod keys;
pub mod msg;
pub mod params;
pub mod pol;
pub mod query;
pub mod tx;
pub mod upgrade;

pub use address::Address;
pub use code::ErrorCode;
pub use dag::DagMsg;
pub use keys::SecretKey;
pub use msg::{BankMsg, Msg, StakingMsg};
pub use tx::{Fee, SignedTx, Tx, TxHash};

/// Base units in one BLY (18 decimals, as Ethereum wallets show).
pub const BLY: u128 = 1_000_000_000_000_000_000;

/// Hard cap on the BLY supply, in base units (1,000,000,000 BLY).
pub const SUPPLY_CAP: u128 = 1_000_000_000 * BLY;
