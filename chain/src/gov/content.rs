//! Proposal contents: the checks at submission and the execution when a proposal passes.
//! A parameter change is validated with the same `validate` as genesis both times, so a
//! change that became invalid meanwhile fails cleanly instead of being written. Upgrade
//! plans are checked and stored by [`crate::upgrade`].

use blyan_proto::gov::{ParamChange, ProposalContent};
use blyan_proto::pol::{AggregationRule, OuterOptimizer, PolParams};
use blyan_proto::ErrorCode;

use super::state::COMMUNITY_POOL;
use crate::error::{TxError, TxResult};
use crate::state::{StateRead, StateWrite};

/// Checks a parameter change against the current state: the genesis validation, and
/// `staking.power_reduction` unchanged (every voting power derives from it).
pub fn check_param_change<S: StateRead + ?Sized>(
    state: &S,
    change: &ParamChange,
) -> Result<(), String> {
    change.validate()?;
    if let ParamChange::Staking(p) = change {
        let current = crate::staking::params(state).map_err(|e| e.log)?;
        if p.power_reduction != current.power_reduction {
            return Err(format!(
                "staking: power_reduction is fixed after genesis ({})",
                current.power_reduction
            ));
        }
    }
    Ok(())
}

/// The PoL parameters with one model's overrides set or removed, validated.
pub fn pol_with_model<S: StateRead + ?Sized>(
    state: &S,
    model: &str,
    aggregation: Option<AggregationRule>,
    outer: Option<OuterOptimizer>,
) -> Result<PolParams, String> {
    let mut p = crate::pol::params(state).map_err(|e| e.log)?;
    p.model_aggregation.retain(|(m, _)| m != model);
    if let Some(a) = aggregation {
        a.validate()?;
        p.model_aggregation.push((model.to_string(), a));
        p.model_aggregation.sort_by(|a, b| a.0.cmp(&b.0));
    }
    p.model_outer.retain(|(m, _)| m != model);
    if let Some(o) = outer {
        o.validate()?;
        p.model_outer.push((model.to_string(), o));
        p.model_outer.sort_by(|a, b| a.0.cmp(&b.0));
    }
    p.validate()?;
    Ok(p)
}

/// Checks a content at submission; `latest_voting_end` is the last height the voting
/// period could end at, which an effective height may not precede.
pub fn check_content<S: StateRead + ?Sized>(
    state: &S,
    content: &ProposalContent,
    latest_voting_end: u64,
) -> TxResult<()> {
    if let Some(h) = content.effective_height() {
        if h < latest_voting_end {
            return Err(TxError::new(
                ErrorCode::InvalidEffectiveHeight,
                format!(
                    "effective height {h} is before {latest_voting_end}, the last height \
                     the voting period could end at"
                ),
            ));
        }
    }
    match content {
        ProposalContent::Text => Ok(()),
        ProposalContent::ParamChange { change, .. } => check_param_change(state, change)
            .map_err(|e| TxError::new(ErrorCode::InvalidParamChange, e)),
        ProposalContent::PolModel {
            model,
            aggregation,
            outer,
            ..
        } => {
            if crate::dag::model(state, model)?.is_none() {
                return Err(TxError::new(
                    ErrorCode::InvalidProposal,
                    format!("no model {model:?}"),
                ));
            }
            pol_with_model(state, model, *aggregation, *outer)
                .map(|_| ())
                .map_err(|e| TxError::new(ErrorCode::InvalidParamChange, e))
        }
        ProposalContent::ModelEvolution {
            model,
            change,
            base_meta,
            blocks,
            ..
        } => super::evolution::check_evolution(state, model, change, base_meta, blocks).map(|_| ()),
        ProposalContent::CommunityPoolSpend { recipient, amount } => {
            if *amount == 0 {
                return Err(TxError::new(
                    ErrorCode::InvalidProposal,
                    "a community pool spend of zero",
                ));
            }
            crate::bank::check_recipient(recipient)
                .map_err(|e| TxError::new(ErrorCode::InvalidProposal, e.log))
        }
        ProposalContent::SoftwareUpgrade { name, height, info } => {
            crate::upgrade::check_plan(state, &upgrade_plan(name, *height, info), latest_voting_end)
        }
        ProposalContent::CancelSoftwareUpgrade => Ok(()),
    }
}

fn upgrade_plan(name: &str, height: u64, info: &str) -> blyan_proto::upgrade::UpgradePlan {
    blyan_proto::upgrade::UpgradePlan {
        name: name.to_string(),
        height,
        info: info.to_string(),
    }
}

/// Writes a parameter change (already checked).
fn write_params<S: StateWrite + ?Sized>(state: &mut S, change: &ParamChange) {
    use crate::state::StateWriteExt;
    match change {
        ParamChange::Fees(p) => state.put_scale(crate::fees::state_key::PARAMS.to_vec(), &**p),
        ParamChange::Staking(p) => crate::staking::set_params(state, p),
        ParamChange::Dag(p) => crate::dag::set_params(state, p),
        ParamChange::Pol(p) => crate::pol::set_params(state, p),
        ParamChange::Inference(p) => crate::inference::set_params(state, p),
        ParamChange::Gov(p) => super::state::set_params(state, p),
    }
}

/// Executes a passed proposal's content at the end of block `height`. `Err` carries the
/// reason it failed; nothing is written then (every check runs before the first write,
/// and the one transfer fails before it moves anything).
pub fn execute_content<S: StateWrite + ?Sized>(
    state: &mut S,
    content: &ProposalContent,
    height: u64,
) -> Result<(), String> {
    match content {
        ProposalContent::Text => Ok(()),
        ProposalContent::ParamChange { change, .. } => {
            check_param_change(state, change)?;
            write_params(state, change);
            Ok(())
        }
        ProposalContent::PolModel {
            model,
            aggregation,
            outer,
            ..
        } => {
            let p = pol_with_model(state, model, *aggregation, *outer)?;
            crate::pol::set_params(state, &p);
            Ok(())
        }
        ProposalContent::ModelEvolution {
            model,
            change,
            base_meta,
            blocks,
            ..
        } => super::evolution::execute_evolution(state, model, change, base_meta, blocks, height)
            .map(|_| ())
            .map_err(|e| format!("{}: {}", e.code, e.log)),
        ProposalContent::CommunityPoolSpend { recipient, amount } => {
            let pool = crate::bank::balance(state, &COMMUNITY_POOL).map_err(|e| e.log)?;
            if pool < *amount {
                return Err(format!(
                    "the community pool holds {pool}, less than the {amount} to spend"
                ));
            }
            crate::bank::transfer(state, &COMMUNITY_POOL, recipient, *amount)
                .map(|_| ())
                .map_err(|e| e.log)
        }
        ProposalContent::SoftwareUpgrade { name, height, info } => {
            // The consensus module recorded the current block first thing at its end.
            let now = crate::consensus::last_block(state)
                .map_err(|e| e.log)?
                .map_or(0, |(h, _)| h);
            crate::upgrade::schedule(state, &upgrade_plan(name, *height, info), now)
        }
        ProposalContent::CancelSoftwareUpgrade => {
            crate::upgrade::cancel(state);
            Ok(())
        }
    }
}
