//! Events of the `auth` module: who signed.

use crate::address::Address;

/// Events of the `auth` module: who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    /// Who signed a transaction and with which nonce.
    Signer {
        /// The recovered signer.
        address: Address,
        /// The nonce the transaction used.
        nonce: u64,
    },
}

impl AuthEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthEvent::Signer { .. } => "signer",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            AuthEvent::Signer { address, nonce } => vec![
                ("address", address.to_string()),
                ("nonce", nonce.to_string()),
            ],
        }
    }
}
