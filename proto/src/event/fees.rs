//! Events of the `fees` module: fees paid and the base fee.

use crate::address::Address;

/// Events of the `fees` module: fees paid and the base fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeEvent {
    /// A transaction paid its fee: one event per transaction, naming its signer. Gas used
    /// is the ABCI result's `gas_used`; the base fee per gas is `burned / gas_used` (and the
    /// previous block's `base_fee` event).
    FeePaid {
        /// The signer.
        payer: Address,
        /// The nonce the transaction used.
        nonce: u64,
        /// Base units burned (gas used × base fee).
        burned: u128,
        /// Base units paid to the proposer.
        tip: u128,
        /// The proposer's operator account, if the proposer is known.
        proposer: Option<Address>,
    },
    /// The base fee for the next block changed.
    BaseFee {
        /// Gas used by the block just executed.
        block_gas_used: u64,
        /// New base fee per gas.
        base_fee_per_gas: u128,
    },
}

impl FeeEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            FeeEvent::FeePaid { .. } => "fee",
            FeeEvent::BaseFee { .. } => "base_fee",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            FeeEvent::FeePaid {
                payer,
                nonce,
                burned,
                tip,
                proposer,
            } => vec![
                ("payer", payer.to_string()),
                ("nonce", nonce.to_string()),
                ("burned", burned.to_string()),
                ("tip", tip.to_string()),
                (
                    "proposer",
                    proposer.map(|p| p.to_string()).unwrap_or_default(),
                ),
            ],
            FeeEvent::BaseFee {
                block_gas_used,
                base_fee_per_gas,
            } => vec![
                ("block_gas_used", block_gas_used.to_string()),
                ("base_fee_per_gas", base_fee_per_gas.to_string()),
            ],
        }
    }
}
