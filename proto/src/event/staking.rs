//! Events of the `staking` module: validators, delegations, slashing, rewards.

use crate::address::Address;

/// Events of the `staking` module: validators, delegations, slashing, rewards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakingEvent {
    /// A validator was created.
    CreateValidator {
        /// Operator account.
        operator: Address,
        /// CometBFT address of the consensus key (hex).
        consensus_address: String,
        /// Bonded self-stake.
        self_stake: u128,
    },
    /// Stake was bonded to a validator.
    Delegate {
        /// Who delegated.
        delegator: Address,
        /// The validator's operator.
        validator: Address,
        /// Base units bonded.
        amount: u128,
    },
    /// Stake started unbonding.
    Undelegate {
        /// Whose stake.
        delegator: Address,
        /// The validator's operator.
        validator: Address,
        /// Base units unbonding.
        amount: u128,
        /// Height at which it is paid out.
        completion_height: u64,
    },
    /// An unbonding entry matured and was paid out.
    UnbondingComplete {
        /// Who was paid.
        delegator: Address,
        /// The validator's operator.
        validator: Address,
        /// Base units paid.
        amount: u128,
    },
    /// Stake moved between validators.
    Redelegate {
        /// Whose stake.
        delegator: Address,
        /// Source validator.
        from: Address,
        /// Destination validator.
        to: Address,
        /// Base units moved.
        amount: u128,
    },
    /// A validator left jail.
    Unjail {
        /// The validator's operator.
        validator: Address,
    },
    /// Rewards were paid out.
    WithdrawRewards {
        /// Who was paid.
        delegator: Address,
        /// The validator's operator.
        validator: Address,
        /// Delegation rewards paid.
        rewards: u128,
        /// Commission paid (operator only).
        commission: u128,
    },
    /// A validator was slashed.
    Slash {
        /// The validator's operator.
        validator: Address,
        /// `downtime` or `double_sign`.
        reason: &'static str,
        /// Base units burned.
        burned: u128,
        /// Jailed until this height (`u64::MAX` when tombstoned).
        jailed_until: u64,
    },
    /// Block rewards were minted from the emission reserve.
    BlockRewards {
        /// Base units minted for validators and delegators.
        minted: u128,
    },
}

impl StakingEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            StakingEvent::CreateValidator { .. } => "create_validator",
            StakingEvent::Delegate { .. } => "delegate",
            StakingEvent::Undelegate { .. } => "undelegate",
            StakingEvent::UnbondingComplete { .. } => "unbonding_complete",
            StakingEvent::Redelegate { .. } => "redelegate",
            StakingEvent::Unjail { .. } => "unjail",
            StakingEvent::WithdrawRewards { .. } => "withdraw_rewards",
            StakingEvent::Slash { .. } => "slash",
            StakingEvent::BlockRewards { .. } => "block_rewards",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            StakingEvent::CreateValidator {
                operator,
                consensus_address,
                self_stake,
            } => vec![
                ("operator", operator.to_string()),
                ("consensus_address", consensus_address.clone()),
                ("self_stake", self_stake.to_string()),
            ],
            StakingEvent::Delegate {
                delegator,
                validator,
                amount,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("amount", amount.to_string()),
            ],
            StakingEvent::Undelegate {
                delegator,
                validator,
                amount,
                completion_height,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("amount", amount.to_string()),
                ("completion_height", completion_height.to_string()),
            ],
            StakingEvent::UnbondingComplete {
                delegator,
                validator,
                amount,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("amount", amount.to_string()),
            ],
            StakingEvent::Redelegate {
                delegator,
                from,
                to,
                amount,
            } => vec![
                ("delegator", delegator.to_string()),
                ("from", from.to_string()),
                ("to", to.to_string()),
                ("amount", amount.to_string()),
            ],
            StakingEvent::Unjail { validator } => vec![("validator", validator.to_string())],
            StakingEvent::WithdrawRewards {
                delegator,
                validator,
                rewards,
                commission,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("rewards", rewards.to_string()),
                ("commission", commission.to_string()),
            ],
            StakingEvent::Slash {
                validator,
                reason,
                burned,
                jailed_until,
            } => vec![
                ("validator", validator.to_string()),
                ("reason", reason.to_string()),
                ("burned", burned.to_string()),
                ("jailed_until", jailed_until.to_string()),
            ],
            StakingEvent::BlockRewards { minted } => vec![("minted", minted.to_string())],
        }
    }
}
