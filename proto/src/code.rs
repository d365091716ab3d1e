//! Numbered result codes of transactions. The numbers are part of the wire protocol:
//! they never change meaning once released. Ranges: 1–99 transaction envelope, signature,
//! nonce and fees; 100–199 bank; 200–299 staking; 300–399 dag; 400–499 pol; 500–599
//! inference; 600–699 gov; 900–999 node-internal.

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $num:literal ),* $(,)?) => {
        /// A transaction failure code (0 is success and has no variant).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $name = $num, )*
        }

        impl ErrorCode {
            /// All codes, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The code as sent in ABCI responses.
            pub fn as_u32(self) -> u32 {
                self as u32
            }

            /// Looks a number up.
            pub fn from_u32(n: u32) -> Option<Self> {
                match n {
                    $( $num => Some(ErrorCode::$name), )*
                    _ => None,
                }
            }

            /// The variant name (stable), shown in logs and the CLI.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => error_codes!(@snake $name), )*
                }
            }

            /// A one-line description of what the code means.
            pub fn description(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => concat!($($doc),*).trim_ascii(), )*
                }
            }
        }
    };
    (@snake $name:ident) => { stringify!($name) };
}

error_codes! {
    /// The bytes do not decode as a signed transaction.
    Malformed = 1,
    /// The leading format version byte is not one this node understands.
    UnsupportedVersion = 2,
    /// The encoded transaction is larger than the chain's maximum transaction size.
    TxTooLarge = 3,
    /// The transaction was signed for another chain id.
    WrongChainId = 4,
    /// The signature is malformed or recovers no key.
    BadSignature = 5,
    /// The nonce was already used by this account (a replay).
    NonceTooLow = 6,
    /// The nonce is ahead of the account's next nonce (a gap).
    NonceGap = 7,
    /// The account cannot pay the fee and the amounts it sends.
    InsufficientFunds = 8,
    /// max_fee_per_gas is below the current base fee per gas.
    FeeCapBelowBaseFee = 9,
    /// max_priority_fee_per_gas is above max_fee_per_gas.
    PriorityFeeAboveFeeCap = 10,
    /// gas_limit is below the gas the transaction needs.
    GasLimitTooLow = 11,
    /// gas_limit is above the block gas limit.
    GasLimitAboveBlockLimit = 12,
    /// An amount, or the fee plus the amounts, overflows 128 bits.
    AmountOverflow = 13,
    /// The transaction carries no message.
    NoMessages = 14,
    /// The memo is longer than the chain allows.
    MemoTooLong = 15,
    /// The transaction carries more messages than the chain allows.
    TooManyMessages = 16,
    /// The chain id field is empty or not printable.
    InvalidChainId = 17,
    /// The block has no room for this transaction's gas.
    BlockGasExceeded = 18,
    /// The signature's recovery id `v` is not 0 or 1 (27/28 would give one transaction a
    /// second encoding and hash: subtract 27 from an Ethereum-style `v`).
    NonCanonicalSignature = 19,
    /// A transfer of zero.
    ZeroAmount = 100,
    /// The sender's balance is below the amount sent.
    InsufficientBalance = 101,
    /// The recipient's balance would overflow.
    BalanceOverflow = 102,
    /// The recipient is a module account (a pool the chain keeps in step with its own
    /// records); only the chain itself moves funds into one.
    ModuleAccountRecipient = 103,
    /// The stake is below the minimum self-stake.
    StakeBelowMinimum = 200,
    /// No validator is operated by that address.
    UnknownValidator = 201,
    /// The signer already operates a validator.
    ValidatorExists = 202,
    /// Another validator already uses that consensus key.
    DuplicateConsensusKey = 203,
    /// Commission above 10,000 basis points (100%).
    CommissionTooHigh = 204,
    /// Undelegating or redelegating more than is delegated.
    InsufficientDelegation = 205,
    /// Unjail from a validator that is not jailed.
    NotJailed = 206,
    /// The validator is tombstoned (double signing) and can never return.
    Tombstoned = 207,
    /// The validator's jail time has not ended.
    StillJailed = 208,
    /// The signer has no delegation to that validator.
    NoDelegation = 209,
    /// The consensus key is not a valid ed25519 public key.
    InvalidConsensusKey = 210,
    /// The moniker is empty or too long.
    InvalidMoniker = 211,
    /// Redelegation to the same validator.
    SelfRedelegation = 212,
    /// Too many unbonding entries for this delegation.
    TooManyUnbondingEntries = 213,
    /// A stake amount of zero.
    ZeroStake = 214,
    /// Redelegating stake out of a validator it was redelegated into, before that
    /// redelegation's record expired (the moved stake must stay slashable).
    TransitiveRedelegation = 215,
    /// Too many pending redelegations into this validator (`max_unbonding_entries`).
    TooManyRedelegations = 216,
    /// The model id is malformed.
    InvalidModelId = 300,
    /// A model with that id exists and the signer does not own it.
    ModelExists = 301,
    /// No model with that id.
    UnknownModel = 302,
    /// The architecture is malformed (zero or too many layers or experts).
    InvalidArchitecture = 303,
    /// A block name does not fit the model's architecture.
    NameOutsideArchitecture = 304,
    /// A block's type does not match its name.
    BlockTypeMismatch = 305,
    /// The same block name appears twice in one message.
    DuplicateBlock = 306,
    /// A new model must publish every block of its architecture.
    MissingBlocks = 307,
    /// A dependency is not an existing block of the same model.
    DanglingDependency = 308,
    /// A block's version is not above its current head's.
    VersionNotIncreasing = 309,
    /// The deposit is below the chain's publish deposit.
    DepositTooLow = 310,
    /// A CID, hash or meta field is malformed or too large.
    InvalidBlockField = 311,
    /// The model has a validation set, so its heads change only through accepted
    /// Proof-of-Learning rounds: its owner cannot publish new block versions.
    ModelUnderPol = 312,
    /// A submission field is malformed: no deltas, too many, an empty or overlong CID,
    /// zero samples, too many dataset references, or base heads not one per delta.
    InvalidSubmission = 400,
    /// A delta names a block the model does not have.
    UnknownBlock = 401,
    /// A base head is not the block's current head (the model moved on).
    StaleBaseHeads = 402,
    /// The bond is below the minimum for the signer's trust level.
    BondTooLow = 403,
    /// The signer used up its submissions for today.
    QuotaExceeded = 404,
    /// A newcomer's submission carries no hashcash stamp.
    MissingStamp = 405,
    /// The hashcash stamp does not meet the difficulty.
    BadStamp = 406,
    /// The declared manifest size is above the chain's limit.
    ManifestTooLarge = 407,
    /// A declared delta size is zero or above the chain's limit.
    DeltaTooLarge = 408,
    /// The model's current round no longer takes submissions.
    RoundNotOpen = 409,
    /// The signer already submitted to this round.
    DuplicateSubmission = 410,
    /// The round holds the most submissions it may.
    RoundFull = 411,
    /// The model has no validation set, so it cannot be improved by Proof-of-Learning.
    NoValidationSet = 412,
    /// No round with that id.
    UnknownRound = 413,
    /// An attestation names a submission that is not in the round.
    UnknownSubmission = 414,
    /// The signer does not operate an active validator.
    NotValidator = 415,
    /// The round is not in the phase the attestation is for, or its deadline passed.
    PhaseClosed = 416,
    /// The validator already attested this phase of the round.
    DuplicateAttestation = 417,
    /// An attestation's judgements or blocks do not fit the round: wrong count or order,
    /// unknown flag bits, a loss out of range, or blocks other than the admitted ones.
    MalformedAttestation = 418,
    /// A delta with the same content hash is already in the round (a copied submission).
    DuplicateDelta = 419,
    /// The signer operates a validator that was not in the round's power snapshot (taken
    /// when the round entered phase 1), so it may not attest this round.
    NotInPowerSnapshot = 440,
    /// A commitment arrived after the phase's commit window closed.
    CommitWindowClosed = 441,
    /// The validator already committed to this phase of the round.
    DuplicateCommitment = 442,
    /// An attestation (reveal) without a commitment from its signer for that phase.
    NoCommitment = 443,
    /// An attestation (reveal) does not hash, with its salt, to the signer's commitment.
    CommitmentMismatch = 444,
    /// An attestation (reveal) arrived while the phase still takes commitments.
    RevealWindowNotOpen = 445,
    /// A provider's endpoint, model list or price is malformed.
    InvalidProvider = 500,
    /// No provider registered at that address.
    UnknownProvider = 501,
    /// The channel deposit is below the minimum.
    ChannelDepositTooLow = 502,
    /// The channel duration is zero or above the maximum.
    InvalidDuration = 503,
    /// No channel with that id.
    UnknownChannel = 504,
    /// Only the channel's user may do this.
    NotChannelUser = 505,
    /// The channel is closed.
    ChannelClosed = 506,
    /// The channel expired: vouchers can no longer be redeemed.
    ChannelExpired = 507,
    /// The channel has not expired yet: it cannot be closed.
    ChannelNotExpired = 508,
    /// The voucher's signature is not the channel user's.
    BadVoucherSignature = 509,
    /// The voucher is for another provider or channel, or the signer is not its provider.
    VoucherWrongProvider = 510,
    /// The voucher's cumulative amount is not above what was already redeemed (a replay).
    VoucherNotNewer = 511,
    /// The voucher's cumulative amount is above the channel's deposit.
    VoucherAboveDeposit = 512,
    /// The usage report is malformed: too many entries, a block the model lacks, zero tokens.
    InvalidUsage = 513,
    /// A redemption names another model than the one the voucher was signed for.
    VoucherWrongModel = 514,
    /// The reported usage does not match the voucher's usage commitment (`usage_root`).
    VoucherUsageMismatch = 515,
    /// The reported usage is below what an earlier redemption of the channel reported for
    /// some block (usage is cumulative since the channel opened).
    UsageNotCumulative = 516,
    /// A proposal is malformed: an empty or overlong title, an overlong description, an
    /// unknown model, a zero spend or a module account as the recipient.
    InvalidProposal = 600,
    /// No proposal with that id.
    UnknownProposal = 601,
    /// The initial deposit is below `min_initial_deposit_bps` of `min_deposit`.
    ProposalDepositTooLow = 602,
    /// The chain holds `max_active_proposals` proposals in their deposit or voting period.
    TooManyActiveProposals = 603,
    /// The proposal is not in its voting period (not yet, or no longer).
    NotInVotingPeriod = 604,
    /// The proposal no longer takes deposits (its deposit and voting periods are over).
    DepositsClosed = 605,
    /// A parameter change fails the same validation as genesis, or changes a parameter
    /// that is fixed after genesis (`staking.power_reduction`).
    InvalidParamChange = 606,
    /// The effective height is before the last height the voting period could end at.
    InvalidEffectiveHeight = 607,
    /// A software upgrade plan is malformed: an empty, overlong or non-plain name, or an
    /// overlong info.
    InvalidUpgradePlan = 608,
    /// A software upgrade's height is not beyond the last height the voting period could
    /// end at (or, when the proposal passes, not in the future).
    InvalidUpgradeHeight = 609,
    /// An upgrade of that name was already applied (names are never reused).
    UpgradeNameUsed = 610,
    /// A model evolution is malformed: the source expert is not in the model, or the
    /// meta JSON does not carry `"n_experts":N` exactly once in compact form.
    InvalidEvolution = 620,
    /// A model evolution names a model that does not exist.
    EvolutionUnknownModel = 621,
    /// A model evolution adds no experts, more than `MAX_EXPERTS_ADDED` per layer, or
    /// more than the DAG's `max_arch_dim` in all.
    EvolutionCountOutOfRange = 622,
    /// A Proof-of-Learning round of the model is in progress: its heads may move.
    EvolutionRoundOpen = 623,
    /// The meta block or a head the evolution derives from is no longer current.
    EvolutionStaleBase = 624,
    /// The evolution's blocks are not exactly the routers and new experts the change
    /// needs, in order, or one has a malformed CID, an empty hash or size.
    EvolutionBlocksMismatch = 625,
    /// A passed evolution of the model waits for its effective height: no new
    /// Proof-of-Learning round opens for the model until it executes or fails.
    EvolutionPending = 626,
    /// Stored state failed to decode: a node fault, never caused by the transaction.
    CorruptState = 900,
    /// The block is at the height of an upgrade plan this binary has no handler for (or
    /// the handler's migration failed): the node stops instead of executing it.
    UpgradeNeeded = 901,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.as_u32(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_u32()), "duplicate code {}", c.as_u32());
            assert_eq!(ErrorCode::from_u32(c.as_u32()), Some(*c));
            assert!(!c.description().is_empty());
        }
        assert_eq!(ErrorCode::from_u32(0), None);
    }
}
