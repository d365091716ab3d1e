//! `fees`: the EIP-1559 fee market.
//!
//! Each block has a base fee per gas. A transaction pays `gas_used × (base fee + tip)`,
//! where the tip per gas is `min(max_priority_fee_per_gas, max_fee_per_gas − base fee)`.
//! The base-fee part is burned, the tip goes to the block proposer. After each block the
//! base fee moves toward the target gas (50% of the block gas limit) by at most
//! 1/`base_fee_change_denominator` (12.5%), as in EIP-1559, never below `min_base_fee`.

use blyan_proto::event::{Event, FeeEvent};
use blyan_proto::params::FeeParams;
use blyan_proto::{Address, ErrorCode, Msg, Tx};

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// State keys owned by `fees`.
pub mod state_key {
    /// Fee parameters.
    pub const PARAMS: &[u8] = b"fees/params";
    /// Base fee per gas for the next block.
    pub const BASE_FEE: &[u8] = b"fees/base_fee";
    /// Base units burned by fees since genesis.
    pub const BURNED: &[u8] = b"fees/burned";
}

/// Fee parameters.
pub fn params<S: StateRead + ?Sized>(state: &S) -> TxResult<FeeParams> {
    state
        .get_scale(state_key::PARAMS)?
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "fee params missing from state"))
}

/// The base fee per gas in force for the current block.
pub fn base_fee<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    state
        .get_scale(state_key::BASE_FEE)?
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "base fee missing from state"))
}

/// Base units burned by fees since genesis.
pub fn burned<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state.get_scale(state_key::BURNED)?.unwrap_or(0))
}

/// Writes the genesis fee state.
pub fn init<S: StateWrite + ?Sized>(state: &mut S, params: &FeeParams) {
    state.put_scale(state_key::PARAMS.to_vec(), params);
    state.put_scale(state_key::BASE_FEE.to_vec(), &params.initial_base_fee);
    state.put_scale(state_key::BURNED.to_vec(), &0u128);
}

/// Gas a message needs (the schedule lives with [`FeeParams`] so wallets and workers
/// price transactions exactly as the chain does).
pub fn msg_gas(params: &FeeParams, msg: &Msg) -> u64 {
    params.msg_gas(msg)
}

/// Gas a transaction of `tx_len` encoded bytes needs: see [`FeeParams::tx_gas`].
pub fn tx_gas(params: &FeeParams, tx: &Tx, tx_len: usize) -> u64 {
    params.tx_gas(tx, tx_len)
}

/// What a transaction pays for its gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeCharge {
    /// Gas charged.
    pub gas_used: u64,
    /// Base fee per gas in force.
    pub base_fee_per_gas: u128,
    /// Tip per gas paid to the proposer.
    pub tip_per_gas: u128,
    /// `gas_used × base fee`, burned.
    pub burned: u128,
    /// `gas_used × tip`, to the proposer.
    pub tip: u128,
}

impl FeeCharge {
    /// Burned plus tip.
    pub fn total(&self) -> u128 {
        self.burned.saturating_add(self.tip)
    }
}

/// Prices a transaction against the current base fee: checks the fee cap, the gas limit
/// against the gas needed and the block gas limit.
pub fn price(params: &FeeParams, base_fee: u128, tx: &Tx, tx_len: usize) -> TxResult<FeeCharge> {
    let fee = &tx.fee;
    if fee.max_priority_fee_per_gas > fee.max_fee_per_gas {
        return Err(TxError::new(
            ErrorCode::PriorityFeeAboveFeeCap,
            format!(
                "max_priority_fee_per_gas {} is above max_fee_per_gas {}",
                fee.max_priority_fee_per_gas, fee.max_fee_per_gas
            ),
        ));
    }
    if fee.gas_limit > params.block_gas_limit {
        return Err(TxError::new(
            ErrorCode::GasLimitAboveBlockLimit,
            format!(
                "gas_limit {} is above the block gas limit {}",
                fee.gas_limit, params.block_gas_limit
            ),
        ));
    }
    let gas_used = tx_gas(params, tx, tx_len);
    if fee.gas_limit < gas_used {
        return Err(TxError::new(
            ErrorCode::GasLimitTooLow,
            format!(
                "gas_limit {} is below the {gas_used} gas needed",
                fee.gas_limit
            ),
        ));
    }
    let headroom = fee.max_fee_per_gas.checked_sub(base_fee).ok_or_else(|| {
        TxError::new(
            ErrorCode::FeeCapBelowBaseFee,
            format!(
                "max_fee_per_gas {} is below the base fee {base_fee}",
                fee.max_fee_per_gas
            ),
        )
    })?;
    let tip_per_gas = fee.max_priority_fee_per_gas.min(headroom);
    let overflow = || TxError::new(ErrorCode::AmountOverflow, "fee overflows 128 bits");
    let gas = u128::from(gas_used);
    let burned = gas.checked_mul(base_fee).ok_or_else(overflow)?;
    let tip = gas.checked_mul(tip_per_gas).ok_or_else(overflow)?;
    burned.checked_add(tip).ok_or_else(overflow)?;
    Ok(FeeCharge {
        gas_used,
        base_fee_per_gas: base_fee,
        tip_per_gas,
        burned,
        tip,
    })
}

/// Charges a priced fee for the transaction with `nonce`: burns the base part, pays the tip
/// to the proposer (burned too if the proposer is unknown). The caller has checked the
/// payer's balance.
pub fn charge<S: StateWrite + ?Sized>(
    state: &mut S,
    payer: &Address,
    nonce: u64,
    charge: &FeeCharge,
    proposer: Option<&Address>,
) -> TxResult<Event> {
    let mut burn = charge.burned;
    match proposer {
        Some(p) if charge.tip > 0 => {
            crate::bank::debit(state, payer, charge.tip)?;
            crate::bank::credit(state, p, charge.tip)?;
        }
        _ => burn = burn.saturating_add(charge.tip),
    }
    crate::bank::burn(state, payer, burn)?;
    let total_burned = burned(state)?.saturating_add(burn);
    state.put_scale(state_key::BURNED.to_vec(), &total_burned);
    Ok(Event::Fees(FeeEvent::FeePaid {
        payer: *payer,
        nonce,
        burned: burn,
        tip: charge.total().saturating_sub(burn),
        proposer: proposer.copied(),
    }))
}

/// The next block's base fee given this block's gas use (EIP-1559).
pub fn next_base_fee(params: &FeeParams, base_fee: u128, gas_used: u64) -> u128 {
    let target = u128::from(params.target_gas());
    let used = u128::from(gas_used);
    let denom = u128::from(params.base_fee_change_denominator.max(1));
    let next = if used > target {
        let delta = base_fee
            .saturating_mul(used.saturating_sub(target))
            .checked_div(target)
            .and_then(|d| d.checked_div(denom))
            .unwrap_or(0)
            .max(1);
        base_fee.saturating_add(delta)
    } else {
        let delta = base_fee
            .saturating_mul(target.saturating_sub(used))
            .checked_div(target)
            .and_then(|d| d.checked_div(denom))
            .unwrap_or(0);
        base_fee.saturating_sub(delta)
    };
    next.max(params.min_base_fee)
}

/// End-block hook: sets the next base fee from the gas the block used.
pub fn end_block<S: StateWrite + ?Sized>(state: &mut S, block_gas_used: u64) -> TxResult<Event> {
    let p = params(state)?;
    let next = next_base_fee(&p, base_fee(state)?, block_gas_used);
    state.put_scale(state_key::BASE_FEE.to_vec(), &next);
    Ok(Event::Fees(FeeEvent::BaseFee {
        block_gas_used,
        base_fee_per_gas: next,
    }))
}

/// The `fees` module: the fee market's genesis state, the base fee update closing every
/// block and the fee queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fees;

impl crate::module::Module for Fees {
    fn name(&self) -> &'static str {
        "fees"
    }

    fn init_chain(
        &self,
        state: &mut dyn StateWrite,
        g: &crate::genesis::ChainGenesis,
    ) -> TxResult<()> {
        init(state, &g.fee_params);
        Ok(())
    }

    fn end_block(
        &self,
        state: &mut dyn StateWrite,
        ctx: &crate::module::EndBlockContext<'_>,
    ) -> TxResult<Vec<Event>> {
        Ok(vec![end_block(state, ctx.gas_used)?])
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &blyan_proto::query::QueryPath,
    ) -> Result<Option<crate::query::Answer>, crate::error::QueryError> {
        use crate::query::Answer;
        use blyan_proto::query::QueryPath;
        use parity_scale_codec::Encode;
        Ok(Some(match path {
            QueryPath::FeeParams => Answer::raw(state, state_key::PARAMS.to_vec(), Vec::new()),
            QueryPath::BaseFee => Answer::raw(state, state_key::BASE_FEE.to_vec(), Vec::new()),
            QueryPath::Burned => Answer::raw(state, state_key::BURNED.to_vec(), 0u128.encode()),
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_moves_at_most_one_eighth_toward_target() {
        let p = FeeParams::default();
        let target = p.target_gas();
        let base = 1_000_000_000u128;
        assert_eq!(next_base_fee(&p, base, target), base);
        assert_eq!(next_base_fee(&p, base, p.block_gas_limit), base + base / 8);
        assert_eq!(next_base_fee(&p, base, 0), base - base / 8);
        assert_eq!(next_base_fee(&p, p.min_base_fee, 0), p.min_base_fee);
        // A tiny excess still raises the fee by at least one unit.
        assert_eq!(
            next_base_fee(&p, 7, target + 1).max(p.min_base_fee),
            p.min_base_fee
        );
        let p1 = FeeParams {
            min_base_fee: 0,
            ..FeeParams::default()
        };
        assert_eq!(next_base_fee(&p1, 7, target + 1), 8);
    }
}
