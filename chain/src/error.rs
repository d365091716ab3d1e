//! The error every state transition returns: a numbered code and a readable log.

use blyan_proto::ErrorCode;

/// A failed transaction or message: its code goes into the ABCI result, its log explains.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code {code}: {log}")]
pub struct TxError {
    /// The numbered code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub log: String,
}

impl TxError {
    /// Builds an error.
    pub fn new(code: ErrorCode, log: impl Into<String>) -> Self {
        TxError {
            code,
            log: log.into(),
        }
    }
}

/// Shorthand for results of state transitions.
pub type TxResult<T> = Result<T, TxError>;

/// A broken invariant found after a block: a bug, so the node halts rather than commit.
/// Each message reads as before the errors were typed (operators grep halt logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantError {
    /// A hook or check could not read its state.
    #[error("{}", .0.log)]
    State(#[from] TxError),
    /// A stored amount does not decode.
    #[error("bad amount: {0}")]
    BadAmount(String),
    /// A sum or difference of amounts left its range.
    #[error("{0}")]
    Overflow(&'static str),
    /// The balances written in a block moved by a different amount than the supply.
    #[error("supply invariant broken: balances changed by {balances} but supply by {supply}")]
    BlockSupply {
        /// Net change of the balances written.
        balances: i128,
        /// Change of the total supply.
        supply: i128,
    },
    /// Supply plus the emission reserve exceeds the cap.
    #[error("supply {supply} plus reserve {reserve} exceeds the cap")]
    SupplyCap {
        /// Total supply.
        supply: u128,
        /// Emission reserve.
        reserve: u128,
    },
    /// The balances do not sum to the total supply.
    #[error("balances sum to {sum} but supply is {supply}")]
    FullSupply {
        /// Sum of every balance.
        sum: u128,
        /// Recorded total supply.
        supply: u128,
    },
    /// The `pol` bond pool does not hold the bonds of the rounds in progress.
    #[error("pol invariant broken: bond pool holds {held} but rounds in progress hold {owed}")]
    PolBonds {
        /// Pool balance.
        held: u128,
        /// Bonds of the rounds in progress.
        owed: u128,
    },
    /// The channel pool does not hold what open channels have not paid out.
    #[error("inference invariant broken: channel pool holds {held} but channels hold {owed}")]
    Channels {
        /// Pool balance.
        held: u128,
        /// Running total of the channels.
        owed: u128,
    },
    /// The governance escrow does not hold the deposits of the active proposals.
    #[error("gov invariant broken: escrow holds {escrow}, the running total is {held}, active proposals hold {owed}")]
    GovEscrow {
        /// Escrow balance.
        escrow: u128,
        /// Running total of deposits.
        held: u128,
        /// Sum of the active proposals' deposits.
        owed: u128,
    },
    /// The bonded pool does not hold the validators' running token total.
    #[error("bonded pool holds {pool} but validators hold {total}")]
    BondedPool {
        /// Pool balance.
        pool: u128,
        /// Running total of the validators' tokens.
        total: u128,
    },
    /// A delegation key is malformed.
    #[error("malformed delegation key")]
    DelegationKey,
    /// A delegation names a validator that does not exist.
    #[error("a delegation names missing validator {0}")]
    MissingValidator(blyan_proto::Address),
    /// The full staking audit (a scan of every record) found a mismatch.
    #[error("{0}")]
    Audit(String),
}

/// A query that could not be answered (the ABCI layer answers it with a numbered query
/// code and this message as its log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Reading the state failed (a value does not decode).
    #[error("{}", .0.log)]
    State(#[from] TxError),
    /// The path names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A stored value does not decode.
    #[error("{0}")]
    Decode(String),
    /// No module answers the path.
    #[error("{0} is not answered by this module")]
    Unanswered(blyan_proto::query::QueryPath),
}
