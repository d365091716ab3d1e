//! Stateless transaction checks: size, decoding, the canonical signature encoding, envelope
//! limits and message sanity.
//! Run by CheckTx before anything touches state, and again for every transaction of a
//! proposal or block.

use blyan_proto::params::TxParams;
use blyan_proto::{BankMsg, ErrorCode, Msg, SignedTx};

use crate::error::{TxError, TxResult};

/// Decodes `bytes` and checks everything that needs no state and no signature recovery.
pub fn decode_and_check(bytes: &[u8], params: &TxParams) -> TxResult<SignedTx> {
    let max = usize::try_from(params.max_tx_bytes).unwrap_or(usize::MAX);
    if bytes.len() > max {
        return Err(TxError::new(
            ErrorCode::TxTooLarge,
            format!("transaction is {} bytes; the limit is {max}", bytes.len()),
        ));
    }
    let signed = SignedTx::from_bytes(bytes).map_err(|e| TxError::new(e.code(), e.to_string()))?;
    signed
        .check_recovery_id()
        .map_err(|e| TxError::new(ErrorCode::NonCanonicalSignature, e.to_string()))?;
    check_envelope(&signed, params)?;
    Ok(signed)
}

/// Envelope limits and message sanity.
pub fn check_envelope(signed: &SignedTx, params: &TxParams) -> TxResult<()> {
    let tx = &signed.tx;
    if tx.chain_id.is_empty() || !tx.chain_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TxError::new(
            ErrorCode::InvalidChainId,
            "chain id must be non-empty printable ASCII",
        ));
    }
    if tx.msgs.is_empty() {
        return Err(TxError::new(
            ErrorCode::NoMessages,
            "transaction has no message",
        ));
    }
    let max_msgs = usize::try_from(params.max_msgs_per_tx).unwrap_or(usize::MAX);
    if tx.msgs.len() > max_msgs {
        return Err(TxError::new(
            ErrorCode::TooManyMessages,
            format!("{} messages; the limit is {max_msgs}", tx.msgs.len()),
        ));
    }
    let max_memo = usize::try_from(params.max_memo_bytes).unwrap_or(usize::MAX);
    if tx.memo.len() > max_memo {
        return Err(TxError::new(
            ErrorCode::MemoTooLong,
            format!("memo is {} bytes; the limit is {max_memo}", tx.memo.len()),
        ));
    }
    if tx.fee.max_priority_fee_per_gas > tx.fee.max_fee_per_gas {
        return Err(TxError::new(
            ErrorCode::PriorityFeeAboveFeeCap,
            "max_priority_fee_per_gas is above max_fee_per_gas",
        ));
    }
    for (i, msg) in tx.msgs.iter().enumerate() {
        match msg {
            Msg::Bank(BankMsg::Send { amount: 0, .. }) => {
                return Err(TxError::new(
                    ErrorCode::ZeroAmount,
                    format!("message {i}: transfer of zero"),
                ))
            }
            Msg::Bank(BankMsg::Send { to, .. }) => crate::bank::check_recipient(to)
                .map_err(|e| TxError::new(e.code, format!("message {i}: {}", e.log)))?,
            Msg::Staking(_) | Msg::Dag(_) | Msg::Pol(_) | Msg::Inference(_) | Msg::Gov(_) => {}
        }
    }
    total_outflow(tx)?;
    Ok(())
}

/// The sum of base units the messages move out of the signer's account.
pub fn total_outflow(tx: &blyan_proto::Tx) -> TxResult<u128> {
    tx.msgs.iter().try_fold(0u128, |acc, m| {
        acc.checked_add(m.outflow()).ok_or_else(|| {
            TxError::new(
                ErrorCode::AmountOverflow,
                "the amounts of the messages overflow 128 bits",
            )
        })
    })
}
