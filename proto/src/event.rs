//! Typed events. The node turns each into an ABCI event whose attributes CometBFT
//! indexes, so `tx_search "transfer.recipient='0x…'"` finds transfers. Addresses appear
//! in their EIP-55 checksummed form.

use crate::address::Address;

/// Something a transaction or block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Base units moved between accounts.
    Transfer {
        /// Who paid.
        sender: Address,
        /// Who received.
        recipient: Address,
        /// Base units.
        amount: u128,
    },
    /// A transaction paid its fee.
    FeePaid {
        /// The signer.
        payer: Address,
        /// Gas charged.
        gas_used: u64,
        /// Base fee per gas in force for the block.
        base_fee_per_gas: u128,
        /// Base units burned (gas_used × base fee).
        burned: u128,
        /// Base units paid to the proposer.
        tip: u128,
        /// The proposer's operator account, if the proposer is known.
        proposer: Option<Address>,
    },
    /// Who signed a transaction and with which nonce.
    Signer {
        /// The recovered signer.
        address: Address,
        /// The nonce the transaction used.
        nonce: u64,
    },
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
    /// A model was published, or new versions of its blocks.
    ModelPublished {
        /// Model id.
        model: String,
        /// Publisher.
        author: Address,
        /// True for a new model.
        new_model: bool,
        /// Blocks recorded by this message (meta included).
        blocks: u64,
    },
    /// A block version was recorded and became its name's head.
    BlockVersion {
        /// Model id.
        model: String,
        /// Block name.
        name: String,
        /// Block id (hex).
        id: String,
        /// Version.
        version: String,
    },
    /// A Proof-of-Learning event.
    Pol(crate::pol::PolEvent),
    /// An inference payment event.
    Inference(crate::inference::InferenceEvent),
    /// A governance event.
    Gov(crate::gov::GovEvent),
    /// The base fee for the next block changed.
    BaseFee {
        /// Gas used by the block just executed.
        block_gas_used: u64,
        /// New base fee per gas.
        base_fee_per_gas: u128,
    },
}

impl Event {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Transfer { .. } => "transfer",
            Event::FeePaid { .. } => "fee",
            Event::Signer { .. } => "signer",
            Event::BaseFee { .. } => "base_fee",
            Event::CreateValidator { .. } => "create_validator",
            Event::Delegate { .. } => "delegate",
            Event::Undelegate { .. } => "undelegate",
            Event::UnbondingComplete { .. } => "unbonding_complete",
            Event::Redelegate { .. } => "redelegate",
            Event::Unjail { .. } => "unjail",
            Event::WithdrawRewards { .. } => "withdraw_rewards",
            Event::Slash { .. } => "slash",
            Event::BlockRewards { .. } => "block_rewards",
            Event::ModelPublished { .. } => "model_published",
            Event::BlockVersion { .. } => "block_version",
            Event::Pol(e) => e.kind(),
            Event::Inference(e) => e.kind(),
            Event::Gov(e) => e.kind(),
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            Event::Pol(e) => e.attributes(),
            Event::Inference(e) => e.attributes(),
            Event::Gov(e) => e.attributes(),
            Event::Transfer {
                sender,
                recipient,
                amount,
            } => vec![
                ("sender", sender.to_string()),
                ("recipient", recipient.to_string()),
                ("amount", amount.to_string()),
            ],
            Event::FeePaid {
                payer,
                gas_used,
                base_fee_per_gas,
                burned,
                tip,
                proposer,
            } => vec![
                ("payer", payer.to_string()),
                ("gas_used", gas_used.to_string()),
                ("base_fee_per_gas", base_fee_per_gas.to_string()),
                ("burned", burned.to_string()),
                ("tip", tip.to_string()),
                (
                    "proposer",
                    proposer.map(|p| p.to_string()).unwrap_or_default(),
                ),
            ],
            Event::Signer { address, nonce } => vec![
                ("address", address.to_string()),
                ("nonce", nonce.to_string()),
            ],
            Event::BaseFee {
                block_gas_used,
                base_fee_per_gas,
            } => vec![
                ("block_gas_used", block_gas_used.to_string()),
                ("base_fee_per_gas", base_fee_per_gas.to_string()),
            ],
            Event::CreateValidator {
                operator,
                consensus_address,
                self_stake,
            } => vec![
                ("operator", operator.to_string()),
                ("consensus_address", consensus_address.clone()),
                ("self_stake", self_stake.to_string()),
            ],
            Event::Delegate {
                delegator,
                validator,
                amount,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("amount", amount.to_string()),
            ],
            Event::Undelegate {
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
            Event::UnbondingComplete {
                delegator,
                validator,
                amount,
            } => vec![
                ("delegator", delegator.to_string()),
                ("validator", validator.to_string()),
                ("amount", amount.to_string()),
            ],
            Event::Redelegate {
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
            Event::Unjail { validator } => vec![("validator", validator.to_string())],
            Event::WithdrawRewards {
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
            Event::Slash {
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
            Event::BlockRewards { minted } => vec![("minted", minted.to_string())],
            Event::ModelPublished {
                model,
                author,
                new_model,
                blocks,
            } => vec![
                ("model", model.clone()),
                ("author", author.to_string()),
                ("new_model", new_model.to_string()),
                ("blocks", blocks.to_string()),
            ],
            Event::BlockVersion {
                model,
                name,
                id,
                version,
            } => vec![
                ("model", model.clone()),
                ("name", name.clone()),
                ("id", id.clone()),
                ("version", version.clone()),
            ],
        }
    }
}
