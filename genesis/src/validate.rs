//! The checks a genesis `app_state` must pass before a chain can start from it.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use blyan_proto::{Address, SUPPLY_CAP};

use crate::app_state::{GenesisAppState, GenesisValidator};

/// Longest chain id CometBFT accepts.
pub const MAX_CHAIN_ID_LEN: usize = 50;

/// Largest total voting power CometBFT accepts (`MaxTotalVotingPower = MaxInt64 / 8`).
pub const MAX_TOTAL_VOTING_POWER: u64 = (i64::MAX / 8) as u64;

/// Why a genesis `app_state` is rejected; one variant per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The DAG, Proof-of-Learning or inference parameters are unusable.
    #[error("{0}")]
    PolParams(String),
    /// The fee, staking or governance parameters are unusable (the same checks a
    /// parameter-change proposal must pass).
    #[error("{0}")]
    Params(String),
    /// A validator's operator holds less than the stake its power bonds.
    #[error("validator {name}: power bonds {stake} base units but its operator holds {balance}")]
    OperatorCannotBond {
        /// Validator name.
        name: String,
        /// Stake its power needs (power × power_reduction).
        stake: u128,
        /// The operator's genesis balance.
        balance: u128,
    },
    /// The chain id is the empty string.
    #[error("chain_id is empty")]
    EmptyChainId,
    /// The chain id holds a character outside printable ASCII (or a space).
    #[error("chain_id {0:?} must be printable ASCII without spaces")]
    ChainIdNotPrintable(String),
    /// The chain id is longer than CometBFT allows.
    #[error("chain_id is {len} bytes long; CometBFT allows at most {max}")]
    ChainIdTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The app_state chain id differs from the genesis.json chain id.
    #[error("app_state.chain_id {app_state:?} differs from genesis chain_id {genesis:?}")]
    ChainIdMismatch {
        /// The chain id in genesis.json.
        genesis: String,
        /// The chain id in app_state.
        app_state: String,
    },
    /// A transaction limit is zero.
    #[error("tx.{0} must be greater than zero")]
    ZeroTxParam(&'static str),
    /// The same address is funded twice.
    #[error("account {0} appears more than once")]
    DuplicateAccount(Address),
    /// An account is listed with a zero balance.
    #[error("account {0} has a zero balance")]
    ZeroBalance(Address),
    /// Adding up balances (and the emission reserve) overflows u128.
    #[error("the sum of genesis balances and the emission reserve overflows u128")]
    BalanceOverflow,
    /// Balances plus the emission reserve exceed the hard cap.
    #[error("genesis balances plus emission reserve are {total} base units, above the supply cap of {cap}")]
    SupplyCapExceeded {
        /// Minted plus reserved.
        total: u128,
        /// The cap.
        cap: u128,
    },
    /// `fees.block_gas_limit` is zero.
    #[error("fees.block_gas_limit must be greater than zero")]
    ZeroBlockGasLimit,
    /// `fees.target_gas_bps` is outside 1..=10000.
    #[error("fees.target_gas_bps is {0}; it must be within 1..=10000")]
    TargetGasBpsOutOfRange(u32),
    /// `fees.base_fee_change_denominator` is zero.
    #[error("fees.base_fee_change_denominator must be at least 1")]
    ZeroBaseFeeChangeDenominator,
    /// The initial base fee is below the floor.
    #[error("fees.initial_base_fee {initial} is below fees.min_base_fee {min}")]
    InitialBaseFeeBelowMin {
        /// The initial base fee.
        initial: u128,
        /// The minimum base fee.
        min: u128,
    },
    /// The validator list is empty.
    #[error("genesis needs at least one validator")]
    NoValidators,
    /// Two validators share an operator address.
    #[error("operator {0} runs more than one genesis validator")]
    DuplicateOperator(Address),
    /// Two validators share a consensus key.
    #[error("consensus key {0} is used by more than one validator")]
    DuplicateConsensusKey(String),
    /// A consensus key is not valid base64.
    #[error("validator {name:?}: consensus_pub_key is not base64: {reason}")]
    ConsensusKeyNotBase64 {
        /// The validator's name.
        name: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A consensus key does not decode to 32 bytes.
    #[error("validator {name:?}: consensus_pub_key decodes to {len} bytes; an ed25519 key has 32")]
    ConsensusKeyLength {
        /// The validator's name.
        name: String,
        /// The decoded length.
        len: usize,
    },
    /// A validator has zero voting power.
    #[error("validator {0:?} has zero power")]
    ZeroPower(String),
    /// The voting powers add up to more than CometBFT accepts.
    #[error("total voting power exceeds CometBFT's maximum of {MAX_TOTAL_VOTING_POWER}")]
    TotalPowerTooLarge,
}

impl GenesisValidator {
    /// The 32 bytes of the ed25519 consensus key.
    pub fn consensus_key_bytes(&self) -> Result<[u8; 32], GenesisError> {
        let bytes = STANDARD
            .decode(self.consensus_pub_key.trim())
            .map_err(|e| GenesisError::ConsensusKeyNotBase64 {
                name: self.name.clone(),
                reason: e.to_string(),
            })?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| GenesisError::ConsensusKeyLength {
            name: self.name.clone(),
            len: bytes.len(),
        })
    }
}

impl GenesisAppState {
    /// Checks everything a chain needs from its genesis state; the first problem found is
    /// returned.
    pub fn validate(&self) -> Result<(), GenesisError> {
        validate_chain_id(&self.chain_id)?;
        self.validate_tx_params()?;
        self.validate_accounts()?;
        self.validate_fees()?;
        self.dag.validate().map_err(GenesisError::PolParams)?;
        self.pol.validate().map_err(GenesisError::PolParams)?;
        self.inference.validate().map_err(GenesisError::PolParams)?;
        self.staking.validate().map_err(GenesisError::Params)?;
        self.gov.validate().map_err(GenesisError::Params)?;
        self.validate_validators()
    }

    fn validate_tx_params(&self) -> Result<(), GenesisError> {
        let t = &self.tx;
        for (name, v) in [
            ("max_tx_bytes", t.max_tx_bytes),
            ("max_msgs_per_tx", t.max_msgs_per_tx),
        ] {
            if v == 0 {
                return Err(GenesisError::ZeroTxParam(name));
            }
        }
        Ok(())
    }

    fn validate_accounts(&self) -> Result<(), GenesisError> {
        let mut seen = BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            if a.balance == 0 {
                return Err(GenesisError::ZeroBalance(a.address));
            }
        }
        let total = self
            .total_minted()?
            .checked_add(self.emission_reserve)
            .ok_or(GenesisError::BalanceOverflow)?;
        if total > SUPPLY_CAP {
            return Err(GenesisError::SupplyCapExceeded {
                total,
                cap: SUPPLY_CAP,
            });
        }
        Ok(())
    }

    fn validate_fees(&self) -> Result<(), GenesisError> {
        let f = &self.fees;
        if f.block_gas_limit == 0 {
            return Err(GenesisError::ZeroBlockGasLimit);
        }
        if !(1..=10_000).contains(&f.target_gas_bps) {
            return Err(GenesisError::TargetGasBpsOutOfRange(f.target_gas_bps));
        }
        if f.base_fee_change_denominator == 0 {
            return Err(GenesisError::ZeroBaseFeeChangeDenominator);
        }
        if f.initial_base_fee < f.min_base_fee {
            return Err(GenesisError::InitialBaseFeeBelowMin {
                initial: f.initial_base_fee,
                min: f.min_base_fee,
            });
        }
        f.validate().map_err(GenesisError::Params)
    }

    fn validate_validators(&self) -> Result<(), GenesisError> {
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut operators = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut total_power: u64 = 0;
        for v in &self.validators {
            if !operators.insert(v.operator) {
                return Err(GenesisError::DuplicateOperator(v.operator));
            }
            let key = v.consensus_key_bytes()?;
            if !keys.insert(key) {
                return Err(GenesisError::DuplicateConsensusKey(
                    v.consensus_pub_key.clone(),
                ));
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(v.name.clone()));
            }
            let stake = u128::from(v.power)
                .checked_mul(self.staking.power_reduction)
                .ok_or(GenesisError::TotalPowerTooLarge)?;
            let balance = self
                .accounts
                .iter()
                .find(|a| a.address == v.operator)
                .map_or(0, |a| a.balance);
            if balance < stake {
                return Err(GenesisError::OperatorCannotBond {
                    name: v.name.clone(),
                    stake,
                    balance,
                });
            }
            total_power = total_power
                .checked_add(v.power)
                .filter(|p| *p <= MAX_TOTAL_VOTING_POWER)
                .ok_or(GenesisError::TotalPowerTooLarge)?;
        }
        Ok(())
    }
}

/// Checks a chain id: non-empty, printable ASCII without spaces, at most
/// [`MAX_CHAIN_ID_LEN`] bytes.
pub fn validate_chain_id(chain_id: &str) -> Result<(), GenesisError> {
    if chain_id.is_empty() {
        return Err(GenesisError::EmptyChainId);
    }
    if !chain_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(GenesisError::ChainIdNotPrintable(chain_id.to_string()));
    }
    if chain_id.len() > MAX_CHAIN_ID_LEN {
        return Err(GenesisError::ChainIdTooLong {
            len: chain_id.len(),
            max: MAX_CHAIN_ID_LEN,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
