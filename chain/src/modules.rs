//! The ordered list of chain modules. Genesis, the begin- and end-block hooks, message
//! dispatch, queries and the invariant checks all walk it in this order.
//!
//! The order is behaviour: `bank` mints genesis balances before `staking` bonds from them;
//! at the end of a block `consensus` records the block first, `staking` pays out matured
//! unbondings before `pol` snapshots validator power, `gov` tallies and applies parameter
//! changes before `fees` reads its parameters, and `fees` sets the next base fee
//! last (its event closes the block's events). The validator-set update runs after every
//! end-block hook.

use crate::module::Module;

/// Every module, in hook order.
pub const MODULES: &[&dyn Module] = &[
    &crate::consensus::Consensus,
    &crate::auth::Auth,
    &crate::bank::Bank,
    &crate::staking::Staking,
    &crate::dag::Dag,
    &crate::pol::Pol,
    &crate::inference::Inference,
    &crate::gov::Gov,
    &crate::upgrade::Upgrade,
    &crate::fees::Fees,
];

#[cfg(test)]
mod tests {
    use blyan_proto::dag::{DagMsg, PublishModel};
    use blyan_proto::inference::InferenceMsg;
    use blyan_proto::query::QueryPath;
    use blyan_proto::{Address, BankMsg, Msg, StakingMsg};

    use super::MODULES;
    use crate::module::DynWrite;
    use crate::runtime::MsgContext;
    use crate::state::MemState;

    #[test]
    fn module_names_are_unique() {
        let mut names: Vec<_> = MODULES.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODULES.len());
    }

    /// Every message kind reaches exactly one module.
    #[test]
    fn every_message_has_exactly_one_handler() {
        let msgs = [
            Msg::Bank(BankMsg::Send {
                to: Address([1; 20]),
                amount: 1,
            }),
            Msg::Staking(StakingMsg::Unjail),
            Msg::Dag(DagMsg::PublishModel(PublishModel {
                model_id: "m".into(),
                arch: blyan_proto::dag::ModelArch {
                    arch: "a".into(),
                    n_layers: 1,
                    n_experts: 1,
                },
                meta_json: "{}".into(),
                blocks: Vec::new(),
                deposit: 0,
            })),
            Msg::Pol(blyan_proto::pol::PolMsg::Commit(
                blyan_proto::pol::CommitAttestation {
                    round: 0,
                    phase: 1,
                    commitment: [0; 32],
                },
            )),
            Msg::Inference(InferenceMsg::Close { channel: 0 }),
            Msg::Gov(blyan_proto::gov::GovMsg::Vote {
                proposal_id: 1,
                option: blyan_proto::gov::VoteOption::Yes,
            }),
        ];
        let ctx = MsgContext {
            signer: Address([2; 20]),
            tx_nonce: 0,
            chain_id: "c",
            height: 1,
            time_unix_ms: 0,
        };
        for msg in &msgs {
            let mut base = MemState::new();
            let mut state = DynWrite(&mut base);
            let handlers = MODULES
                .iter()
                .filter(|m| m.execute(&mut state, &ctx, msg).is_some())
                .count();
            assert_eq!(handlers, 1, "{}", msg.kind());
        }
    }

    /// Every query path is owned by exactly one module (answered, or refused by its owner
    /// for a missing record, but never by two modules).
    #[test]
    fn every_query_path_has_exactly_one_owner() {
        let a = Address([3; 20]);
        let state = MemState::new();
        for path in [
            QueryPath::Balance(a),
            QueryPath::Supply,
            QueryPath::Nonce(a),
            QueryPath::Account(a),
            QueryPath::FeeParams,
            QueryPath::BaseFee,
            QueryPath::Burned,
            QueryPath::TxParams,
            QueryPath::ChainId,
            QueryPath::Validators,
            QueryPath::StakingPool,
            QueryPath::Models,
            QueryPath::DagParams,
            QueryPath::PolParams,
            QueryPath::Trust(a),
            QueryPath::InferenceParams,
            QueryPath::Providers,
            QueryPath::GovParams,
            QueryPath::Proposals,
            QueryPath::CommunityPool,
            QueryPath::UpgradePlan,
            QueryPath::UpgradesApplied,
            QueryPath::UpgradeApplied("v2".into()),
            QueryPath::AppVersion,
        ] {
            let owners = MODULES
                .iter()
                .filter(|m| !matches!(m.query(&state, &path), Ok(None)))
                .count();
            assert_eq!(owners, 1, "{path}");
        }
    }
}
