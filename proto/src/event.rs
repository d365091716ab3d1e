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
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
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
        }
    }
}
