//! Staking queries.

use blyan_proto::query::{
    DelegationInfo, PoolInfo, QueryPath, RewardsInfo, UnbondingInfo, ValidatorInfo,
};
use parity_scale_codec::{Decode, Encode};

use super::rewards::{pending_rewards, settle};
use super::state::*;
use super::unbonding::unbonding_of;
use crate::error::QueryError;
use crate::query::Answer;
use crate::state::StateRead;

fn info(
    v: &Validator,
    active: &[(blyan_proto::Address, u64)],
    p: &blyan_proto::params::StakingParams,
) -> ValidatorInfo {
    ValidatorInfo {
        operator: v.operator,
        consensus_key: v.consensus_key,
        moniker: v.moniker.clone(),
        commission_bps: v.commission_bps,
        tokens: v.tokens,
        shares: v.shares,
        power: power_of(v.tokens, p),
        active: active.iter().any(|(o, _)| *o == v.operator),
        jailed: v.jailed,
        jailed_until: v.jailed_until,
        tombstoned: v.tombstoned,
        commission_accrued: v.commission_accrued,
    }
}

/// Answers a staking path, or `None` for other paths.
pub fn answer<S: StateRead + ?Sized>(
    state: &S,
    path: &QueryPath,
) -> Result<Option<Answer>, QueryError> {
    let e = QueryError::State;
    let plain = |value: Vec<u8>| {
        Some(Answer {
            value,
            proof_key: None,
        })
    };
    Ok(match path {
        QueryPath::StakingParams => Some(Answer {
            value: state.get_raw(state_key::PARAMS).unwrap_or_default(),
            proof_key: Some(state_key::PARAMS.to_vec()),
        }),
        QueryPath::Validators => {
            let p = params(state).map_err(e)?;
            let active = active_set(state).map_err(e)?;
            let list: Vec<ValidatorInfo> = all_validators(state)
                .map_err(e)?
                .iter()
                .map(|v| info(v, &active, &p))
                .collect();
            plain(list.encode())
        }
        QueryPath::Validator(op) => {
            let p = params(state).map_err(e)?;
            let active = active_set(state).map_err(e)?;
            let v = must_validator(state, op).map_err(e)?;
            plain(info(&v, &active, &p).encode())
        }
        QueryPath::Delegations(d) => {
            let mut out = Vec::new();
            for (k, raw) in state.prefix_raw(&state_key::delegations_of(d)) {
                let op_bytes: [u8; 20] = k
                    .get(k.len().saturating_sub(20)..)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| QueryError::Decode("malformed delegation key".into()))?;
                let op = blyan_proto::Address(op_bytes);
                let mut del = Delegation::decode(&mut raw.as_slice())
                    .map_err(|x| QueryError::Decode(x.to_string()))?;
                let v = must_validator(state, &op).map_err(e)?;
                settle(&v, &mut del);
                out.push(DelegationInfo {
                    delegator: *d,
                    validator: op,
                    shares: del.shares,
                    tokens: tokens_for_shares(&v, del.shares),
                    pending_rewards: del.pending,
                });
            }
            plain(out.encode())
        }
        QueryPath::Unbonding(d) => {
            let list: Vec<UnbondingInfo> = unbonding_of(state, d)
                .map_err(e)?
                .into_iter()
                .map(|u| UnbondingInfo {
                    delegator: u.delegator,
                    validator: u.validator,
                    amount: u.amount,
                    completion_height: u.completion_height,
                })
                .collect();
            plain(list.encode())
        }
        QueryPath::Rewards(d, op) => {
            let (rewards, commission) = pending_rewards(state, d, op).map_err(e)?;
            plain(
                RewardsInfo {
                    rewards,
                    commission,
                }
                .encode(),
            )
        }
        QueryPath::StakingPool => {
            let bal = |a| crate::bank::balance(state, a).map_err(e);
            plain(
                PoolInfo {
                    bonded: bal(&BONDED_POOL)?,
                    unbonding: bal(&UNBONDING_POOL)?,
                    rewards: bal(&REWARDS_POOL)?,
                    emission_reserve: crate::bank::emission_reserve(state).map_err(e)?,
                }
                .encode(),
            )
        }
        _ => None,
    })
}
