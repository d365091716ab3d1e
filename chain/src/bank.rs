//! `bank`: balances, transfers and total supply.
//!
//! Every balance change goes through this module. Minting and burning move the total
//! supply with the balances; [`crate::invariants`] checks after every block that the
//! balances written in the block changed by exactly as much as the supply did.

use blyan_proto::event::{BankEvent, Event};
use blyan_proto::{Address, ErrorCode};

use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateReadExt, StateWrite, StateWriteExt};

/// State keys owned by `bank`.
pub mod state_key {
    use blyan_proto::Address;

    /// Prefix of balance entries.
    pub const BALANCE_PREFIX: &[u8] = b"bank/balance/";
    /// Total supply of minted base units.
    pub const SUPPLY: &[u8] = b"bank/supply";
    /// Base units reserved for emission and not yet minted.
    pub const EMISSION_RESERVE: &[u8] = b"bank/emission_reserve";

    /// The key of an account's balance.
    pub fn balance(addr: &Address) -> Vec<u8> {
        crate::state::key(BALANCE_PREFIX, addr.as_bytes())
    }
}

/// An account's balance (0 when absent).
pub fn balance<S: StateRead + ?Sized>(state: &S, addr: &Address) -> TxResult<u128> {
    Ok(state
        .get_scale::<u128>(&state_key::balance(addr))?
        .unwrap_or(0))
}

/// Total supply.
pub fn supply<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state.get_scale::<u128>(state_key::SUPPLY)?.unwrap_or(0))
}

fn set_balance<S: StateWrite + ?Sized>(state: &mut S, addr: &Address, amount: u128) {
    if amount == 0 {
        state.delete_raw(&state_key::balance(addr));
    } else {
        state.put_scale(state_key::balance(addr), &amount);
    }
}

fn set_supply<S: StateWrite + ?Sized>(state: &mut S, amount: u128) {
    state.put_scale(state_key::SUPPLY.to_vec(), &amount);
}

/// Takes `amount` from `addr`.
pub fn debit<S: StateWrite + ?Sized>(state: &mut S, addr: &Address, amount: u128) -> TxResult<()> {
    let have = balance(state, addr)?;
    let left = have.checked_sub(amount).ok_or_else(|| {
        TxError::new(
            ErrorCode::InsufficientBalance,
            format!("{addr} has {have} but {amount} is needed"),
        )
    })?;
    set_balance(state, addr, left);
    Ok(())
}

/// Gives `amount` to `addr`.
pub fn credit<S: StateWrite + ?Sized>(state: &mut S, addr: &Address, amount: u128) -> TxResult<()> {
    let have = balance(state, addr)?;
    let new = have.checked_add(amount).ok_or_else(|| {
        TxError::new(
            ErrorCode::BalanceOverflow,
            format!("balance of {addr} would overflow"),
        )
    })?;
    set_balance(state, addr, new);
    Ok(())
}

/// Moves `amount` from `from` to `to`.
pub fn transfer<S: StateWrite + ?Sized>(
    state: &mut S,
    from: &Address,
    to: &Address,
    amount: u128,
) -> TxResult<Event> {
    if amount == 0 {
        return Err(TxError::new(ErrorCode::ZeroAmount, "transfer of zero"));
    }
    debit(state, from, amount)?;
    credit(state, to, amount)?;
    Ok(Event::Bank(BankEvent::Transfer {
        sender: *from,
        recipient: *to,
        amount,
    }))
}

/// Destroys `amount` held by `from`, lowering the total supply.
pub fn burn<S: StateWrite + ?Sized>(state: &mut S, from: &Address, amount: u128) -> TxResult<()> {
    debit(state, from, amount)?;
    let s = supply(state)?
        .checked_sub(amount)
        .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "burn exceeds the total supply"))?;
    set_supply(state, s);
    Ok(())
}

/// Creates `amount` for `to`, raising the total supply (genesis and, later, rewards).
pub fn mint<S: StateWrite + ?Sized>(state: &mut S, to: &Address, amount: u128) -> TxResult<()> {
    let s = supply(state)?
        .checked_add(amount)
        .filter(|s| *s <= blyan_proto::SUPPLY_CAP)
        .ok_or_else(|| TxError::new(ErrorCode::AmountOverflow, "mint beyond the supply cap"))?;
    credit(state, to, amount)?;
    set_supply(state, s);
    Ok(())
}

/// Refuses a module account as the recipient of a user's transfer. Module pools are kept
/// equal to the records of their module (bonds, channels, stake) and checked after every
/// block; a user credit would break that equality on every node at once.
pub fn check_recipient(to: &Address) -> TxResult<()> {
    if to.is_module() {
        return Err(TxError::new(
            ErrorCode::ModuleAccountRecipient,
            format!(
                "{} is the module account {:?}; only the chain moves funds into it",
                to,
                String::from_utf8_lossy(to.as_bytes())
            ),
        ));
    }
    Ok(())
}

/// Executes a bank message signed by `signer`.
pub fn execute<S: StateWrite + ?Sized>(
    state: &mut S,
    signer: &Address,
    msg: &blyan_proto::BankMsg,
) -> TxResult<Vec<Event>> {
    match msg {
        blyan_proto::BankMsg::Send { to, amount } => {
            check_recipient(to)?;
            Ok(vec![transfer(state, signer, to, *amount)?])
        }
    }
}

/// Every balance in key order (tests, invariants and exports; O(accounts)).
pub fn all_balances<S: StateRead + ?Sized>(state: &S) -> TxResult<Vec<(Address, u128)>> {
    let mut out = Vec::new();
    for (k, v) in state.prefix_raw(state_key::BALANCE_PREFIX) {
        let addr_bytes: [u8; 20] = k
            .get(state_key::BALANCE_PREFIX.len()..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| TxError::new(ErrorCode::CorruptState, "malformed balance key"))?;
        let amount = <u128 as parity_scale_codec::Decode>::decode(&mut v.as_slice())
            .map_err(|_| TxError::new(ErrorCode::CorruptState, "malformed balance value"))?;
        out.push((Address(addr_bytes), amount));
    }
    Ok(out)
}

/// Base units reserved for emission and not yet minted.
pub fn emission_reserve<S: StateRead + ?Sized>(state: &S) -> TxResult<u128> {
    Ok(state
        .get_scale::<u128>(state_key::EMISSION_RESERVE)?
        .unwrap_or(0))
}

/// Mints `amount` out of the emission reserve to `to` (rewards): the reserve shrinks by
/// what the supply grows.
pub fn mint_from_reserve<S: StateWrite + ?Sized>(
    state: &mut S,
    to: &Address,
    amount: u128,
) -> TxResult<()> {
    if amount == 0 {
        return Ok(());
    }
    let reserve = emission_reserve(state)?
        .checked_sub(amount)
        .ok_or_else(|| {
            TxError::new(
                ErrorCode::AmountOverflow,
                "minting beyond the emission reserve",
            )
        })?;
    state.put_scale(state_key::EMISSION_RESERVE.to_vec(), &reserve);
    mint(state, to, amount)
}

/// The `bank` module: genesis balances, `bank.send`, balance queries and the supply
/// invariant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bank;

impl crate::module::Module for Bank {
    fn name(&self) -> &'static str {
        "bank"
    }

    /// Rejects duplicate accounts and supplies past the cap, then mints every balance.
    fn init_chain(
        &self,
        state: &mut dyn StateWrite,
        g: &crate::genesis::ChainGenesis,
    ) -> TxResult<()> {
        let mut seen = std::collections::BTreeSet::new();
        let mut total = g.emission_reserve;
        for (addr, amount) in &g.accounts {
            if !seen.insert(*addr) {
                return Err(TxError::new(
                    ErrorCode::CorruptState,
                    format!("genesis lists {addr} twice"),
                ));
            }
            total = total
                .checked_add(*amount)
                .filter(|t| *t <= blyan_proto::SUPPLY_CAP)
                .ok_or_else(|| {
                    TxError::new(ErrorCode::AmountOverflow, "genesis supply exceeds the cap")
                })?;
        }
        state.put_scale(state_key::SUPPLY.to_vec(), &0u128);
        state.put_scale(state_key::EMISSION_RESERVE.to_vec(), &g.emission_reserve);
        for (addr, amount) in &g.accounts {
            mint(state, addr, *amount)?;
        }
        Ok(())
    }

    fn execute(
        &self,
        state: &mut dyn StateWrite,
        ctx: &crate::runtime::MsgContext<'_>,
        msg: &blyan_proto::Msg,
    ) -> Option<TxResult<Vec<Event>>> {
        match msg {
            blyan_proto::Msg::Bank(m) => Some(execute(state, &ctx.signer, m)),
            _ => None,
        }
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &blyan_proto::query::QueryPath,
    ) -> Result<Option<crate::query::Answer>, crate::error::QueryError> {
        use crate::query::Answer;
        use blyan_proto::query::QueryPath;
        use parity_scale_codec::Encode;
        Ok(match path {
            QueryPath::Balance(a) => {
                Some(Answer::raw(state, state_key::balance(a), 0u128.encode()))
            }
            QueryPath::Supply => Some(Answer::raw(
                state,
                state_key::SUPPLY.to_vec(),
                0u128.encode(),
            )),
            _ => None,
        })
    }

    fn check_invariants(
        &self,
        block: &crate::module::BlockView<'_>,
    ) -> Result<(), crate::error::InvariantError> {
        crate::invariants::check_block_supply(block.base, block.writes)
    }
}
