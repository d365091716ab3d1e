//! ABCI query paths and their response types.
//!
//! Parameters travel in the path (`/bank/balance/0x…`), so a query is one readable string
//! for CometBFT's `abci_query`. Values are SCALE-encoded. Paths marked *provable* map to
//! exactly one state key: with `prove=true` the response carries a Jellyfish Merkle proof of
//! that key's value against the app hash of the queried height.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Query result code: the path is not known.
pub const QUERY_UNKNOWN_PATH: u32 = 1;
/// Query result code: the height is outside the retained window.
pub const QUERY_HEIGHT_UNAVAILABLE: u32 = 2;
/// Query result code: a proof was asked for a path that has none.
pub const QUERY_NOT_PROVABLE: u32 = 3;
/// Query result code: the path's parameter is malformed.
pub const QUERY_BAD_PARAM: u32 = 4;

/// A parsed query path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPath {
    /// `/bank/balance/{address}` → `u128` (provable).
    Balance(Address),
    /// `/bank/supply` → `u128` total supply (provable).
    Supply,
    /// `/auth/nonce/{address}` → `u64` next nonce (provable).
    Nonce(Address),
    /// `/auth/account/{address}` → [`AccountInfo`].
    Account(Address),
    /// `/fees/params` → [`crate::params::FeeParams`] (provable).
    FeeParams,
    /// `/fees/base_fee` → `u128` base fee per gas for the next block (provable).
    BaseFee,
    /// `/fees/burned` → `u128` base units burned since genesis (provable).
    Burned,
    /// `/tx/params` → [`crate::params::TxParams`] (provable).
    TxParams,
    /// `/chain/id` → `String` chain id (provable).
    ChainId,
    /// `/staking/validators` → `Vec<ValidatorInfo>` (all, by operator).
    Validators,
    /// `/staking/validator/{operator}` → [`ValidatorInfo`].
    Validator(Address),
    /// `/staking/delegations/{delegator}` → `Vec<DelegationInfo>`.
    Delegations(Address),
    /// `/staking/unbonding/{delegator}` → `Vec<UnbondingInfo>`.
    Unbonding(Address),
    /// `/staking/rewards/{delegator}/{validator}` → [`RewardsInfo`].
    Rewards(Address, Address),
    /// `/staking/params` → [`crate::params::StakingParams`] (provable).
    StakingParams,
    /// `/staking/pool` → [`PoolInfo`].
    StakingPool,
    /// `/dag/models` → `Vec<ModelInfo>`.
    Models,
    /// `/dag/meta/{model}` → [`crate::dag::ModelInfo`].
    ModelMeta(String),
    /// `/dag/head/{model}/{name}` → [`crate::dag::ParamBlock`] (provable: the head id).
    Head(String, String),
    /// `/dag/block/{id hex}` → [`crate::dag::ParamBlock`] (provable).
    Block([u8; 32]),
    /// `/dag/history/{model}/{name}` → `Vec<ParamBlock>`, oldest first.
    History(String, String),
    /// `/dag/children/{id hex}` → `Vec<BlockId>` (blocks that depend on it).
    Children([u8; 32]),
    /// `/dag/topo/{model}` → `Vec<BlockId>` in a topological order (dependencies first).
    Topo(String),
    /// `/dag/params` → [`crate::dag::DagParams`] (provable).
    DagParams,
    /// `/pol/params` → [`crate::pol::PolParams`] (provable).
    PolParams,
    /// `/pol/round/{id}` → [`crate::pol::RoundInfo`] (provable).
    Round(u64),
    /// `/pol/rounds/{model}` → `Vec<RoundInfo>`, oldest first.
    Rounds(String),
    /// `/pol/current/{model}` → `Option<RoundInfo>`: the model's round in progress.
    CurrentRound(String),
    /// `/pol/submission/{id}` → [`crate::pol::SubmissionInfo`] (provable).
    Submission(u64),
    /// `/pol/submissions/{round}` → `Vec<SubmissionInfo>` in submission order.
    Submissions(u64),
    /// `/pol/trust/{address}` → [`crate::pol::TrustInfo`] (provable; default when absent).
    Trust(Address),
    /// `/pol/attestations/{round}` → `Vec<Attestation>`: phase 1, then phase 2, each by
    /// validator address.
    Attestations(u64),
    /// `/pol/voting/{round}` → `Option<`[`crate::pol::RoundVoting`]`>` (provable): the
    /// power snapshot, commit windows, commitments and deviating validators of a round
    /// (`None` before it entered phase 1).
    Voting(u64),
    /// `/inference/params` → [`crate::inference::InferenceParams`] (provable).
    InferenceParams,
    /// `/inference/provider/{address}` → [`crate::inference::ProviderInfo`] (provable).
    Provider(Address),
    /// `/inference/providers` → `Vec<ProviderInfo>`.
    Providers,
    /// `/inference/channel/{id}` → [`crate::inference::ChannelInfo`] (provable).
    Channel(u64),
    /// `/inference/channels/{user}` → `Vec<ChannelInfo>` the account opened.
    Channels(Address),
    /// `/gov/params` → [`crate::gov::GovParams`] (provable).
    GovParams,
    /// `/gov/proposals` → `Vec<ProposalInfo>`, by id.
    Proposals,
    /// `/gov/proposal/{id}` → [`crate::gov::ProposalInfo`] (provable).
    Proposal(u64),
    /// `/gov/votes/{id}` → `Vec<VoteInfo>`, by voter.
    Votes(u64),
    /// `/gov/tally/{id}` → [`crate::gov::TallyResult`]: the final tally of a counted
    /// proposal, the running one of a proposal in its voting period.
    Tally(u64),
    /// `/gov/community_pool` → `u128` (provable: the pool's balance).
    CommunityPool,
    /// `/upgrade/plan` → `Option<`[`crate::upgrade::UpgradePlan`]`>` (provable).
    UpgradePlan,
    /// `/upgrade/applied` → `Vec<`[`crate::upgrade::AppliedUpgrade`]`>`, by name.
    UpgradesApplied,
    /// `/upgrade/applied/{name}` → [`crate::upgrade::AppliedUpgrade`] (provable).
    UpgradeApplied(String),
    /// `/upgrade/app_version` → `u64`: the application version the state is at.
    AppVersion,
}

impl QueryPath {
    /// True for paths answered by scanning a key range: past heights serve point reads
    /// only (the tree is keyed by hash), so these are answered at the latest height only.
    pub fn scans(&self) -> bool {
        matches!(
            self,
            QueryPath::Validators
                | QueryPath::Delegations(_)
                | QueryPath::Unbonding(_)
                | QueryPath::Models
                | QueryPath::History(..)
                | QueryPath::Children(_)
                | QueryPath::Topo(_)
                | QueryPath::Rounds(_)
                | QueryPath::Submissions(_)
                | QueryPath::Attestations(_)
                | QueryPath::Providers
                | QueryPath::Channels(_)
                | QueryPath::Proposals
                | QueryPath::Votes(_)
                | QueryPath::Tally(_)
                | QueryPath::UpgradesApplied
        )
    }
}

fn id32(s: &str) -> Result<[u8; 32], String> {
    let b = hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("block id: {e}"))?;
    b.try_into()
        .map_err(|_| "a block id is 32 bytes of hex".to_string())
}

impl QueryPath {
    /// Parses a path string.
    pub fn parse(path: &str) -> Result<Self, String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let addr = |s: &str| s.parse::<Address>().map_err(|e| e.to_string());
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
        Ok(match parts.as_slice() {
            ["bank", "balance", a] => QueryPath::Balance(addr(a)?),
            ["bank", "supply"] => QueryPath::Supply,
            ["auth", "nonce", a] => QueryPath::Nonce(addr(a)?),
            ["auth", "account", a] => QueryPath::Account(addr(a)?),
            ["fees", "params"] => QueryPath::FeeParams,
            ["fees", "base_fee"] => QueryPath::BaseFee,
            ["fees", "burned"] => QueryPath::Burned,
            ["tx", "params"] => QueryPath::TxParams,
            ["chain", "id"] => QueryPath::ChainId,
            ["staking", "validators"] => QueryPath::Validators,
            ["staking", "validator", a] => QueryPath::Validator(addr(a)?),
            ["staking", "delegations", a] => QueryPath::Delegations(addr(a)?),
            ["staking", "unbonding", a] => QueryPath::Unbonding(addr(a)?),
            ["staking", "rewards", d, v] => QueryPath::Rewards(addr(d)?, addr(v)?),
            ["staking", "params"] => QueryPath::StakingParams,
            ["staking", "pool"] => QueryPath::StakingPool,
            ["dag", "models"] => QueryPath::Models,
            ["dag", "meta", m] => QueryPath::ModelMeta(m.to_string()),
            ["dag", "head", m, n] => QueryPath::Head(m.to_string(), n.to_string()),
            ["dag", "block", id] => QueryPath::Block(id32(id)?),
            ["dag", "history", m, n] => QueryPath::History(m.to_string(), n.to_string()),
            ["dag", "children", id] => QueryPath::Children(id32(id)?),
            ["dag", "topo", m] => QueryPath::Topo(m.to_string()),
            ["dag", "params"] => QueryPath::DagParams,
            ["pol", "params"] => QueryPath::PolParams,
            ["pol", "round", n] => QueryPath::Round(num(n)?),
            ["pol", "rounds", m] => QueryPath::Rounds(m.to_string()),
            ["pol", "current", m] => QueryPath::CurrentRound(m.to_string()),
            ["pol", "submission", n] => QueryPath::Submission(num(n)?),
            ["pol", "submissions", n] => QueryPath::Submissions(num(n)?),
            ["pol", "trust", a] => QueryPath::Trust(addr(a)?),
            ["pol", "attestations", n] => QueryPath::Attestations(num(n)?),
            ["pol", "voting", n] => QueryPath::Voting(num(n)?),
            ["inference", "params"] => QueryPath::InferenceParams,
            ["inference", "provider", a] => QueryPath::Provider(addr(a)?),
            ["inference", "providers"] => QueryPath::Providers,
            ["inference", "channel", n] => QueryPath::Channel(num(n)?),
            ["inference", "channels", a] => QueryPath::Channels(addr(a)?),
            ["gov", "params"] => QueryPath::GovParams,
            ["gov", "proposals"] => QueryPath::Proposals,
            ["gov", "proposal", n] => QueryPath::Proposal(num(n)?),
            ["gov", "votes", n] => QueryPath::Votes(num(n)?),
            ["gov", "tally", n] => QueryPath::Tally(num(n)?),
            ["gov", "community_pool"] => QueryPath::CommunityPool,
            ["upgrade", "plan"] => QueryPath::UpgradePlan,
            ["upgrade", "applied"] => QueryPath::UpgradesApplied,
            ["upgrade", "applied", name] => QueryPath::UpgradeApplied(name.to_string()),
            ["upgrade", "app_version"] => QueryPath::AppVersion,
            _ => return Err(format!("unknown query path {path:?}")),
        })
    }
}

impl std::fmt::Display for QueryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryPath::Balance(a) => write!(f, "/bank/balance/{a}"),
            QueryPath::Supply => write!(f, "/bank/supply"),
            QueryPath::Nonce(a) => write!(f, "/auth/nonce/{a}"),
            QueryPath::Account(a) => write!(f, "/auth/account/{a}"),
            QueryPath::FeeParams => write!(f, "/fees/params"),
            QueryPath::BaseFee => write!(f, "/fees/base_fee"),
            QueryPath::Burned => write!(f, "/fees/burned"),
            QueryPath::TxParams => write!(f, "/tx/params"),
            QueryPath::ChainId => write!(f, "/chain/id"),
            QueryPath::Validators => write!(f, "/staking/validators"),
            QueryPath::Validator(a) => write!(f, "/staking/validator/{a}"),
            QueryPath::Delegations(a) => write!(f, "/staking/delegations/{a}"),
            QueryPath::Unbonding(a) => write!(f, "/staking/unbonding/{a}"),
            QueryPath::Rewards(d, v) => write!(f, "/staking/rewards/{d}/{v}"),
            QueryPath::StakingParams => write!(f, "/staking/params"),
            QueryPath::StakingPool => write!(f, "/staking/pool"),
            QueryPath::Models => write!(f, "/dag/models"),
            QueryPath::ModelMeta(m) => write!(f, "/dag/meta/{m}"),
            QueryPath::Head(m, n) => write!(f, "/dag/head/{m}/{n}"),
            QueryPath::Block(id) => write!(f, "/dag/block/{}", hex::encode(id)),
            QueryPath::History(m, n) => write!(f, "/dag/history/{m}/{n}"),
            QueryPath::Children(id) => write!(f, "/dag/children/{}", hex::encode(id)),
            QueryPath::Topo(m) => write!(f, "/dag/topo/{m}"),
            QueryPath::DagParams => write!(f, "/dag/params"),
            QueryPath::PolParams => write!(f, "/pol/params"),
            QueryPath::Round(n) => write!(f, "/pol/round/{n}"),
            QueryPath::Rounds(m) => write!(f, "/pol/rounds/{m}"),
            QueryPath::CurrentRound(m) => write!(f, "/pol/current/{m}"),
            QueryPath::Submission(n) => write!(f, "/pol/submission/{n}"),
            QueryPath::Submissions(n) => write!(f, "/pol/submissions/{n}"),
            QueryPath::Trust(a) => write!(f, "/pol/trust/{a}"),
            QueryPath::Attestations(n) => write!(f, "/pol/attestations/{n}"),
            QueryPath::Voting(n) => write!(f, "/pol/voting/{n}"),
            QueryPath::InferenceParams => write!(f, "/inference/params"),
            QueryPath::Provider(a) => write!(f, "/inference/provider/{a}"),
            QueryPath::Providers => write!(f, "/inference/providers"),
            QueryPath::Channel(n) => write!(f, "/inference/channel/{n}"),
            QueryPath::Channels(a) => write!(f, "/inference/channels/{a}"),
            QueryPath::GovParams => write!(f, "/gov/params"),
            QueryPath::Proposals => write!(f, "/gov/proposals"),
            QueryPath::Proposal(n) => write!(f, "/gov/proposal/{n}"),
            QueryPath::Votes(n) => write!(f, "/gov/votes/{n}"),
            QueryPath::Tally(n) => write!(f, "/gov/tally/{n}"),
            QueryPath::CommunityPool => write!(f, "/gov/community_pool"),
            QueryPath::UpgradePlan => write!(f, "/upgrade/plan"),
            QueryPath::UpgradesApplied => write!(f, "/upgrade/applied"),
            QueryPath::UpgradeApplied(name) => write!(f, "/upgrade/applied/{name}"),
            QueryPath::AppVersion => write!(f, "/upgrade/app_version"),
        }
    }
}

/// An account as wallets want to see it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The account.
    pub address: Address,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Balance in base units.
    #[serde(with = "crate::params::u128_string")]
    pub balance: u128,
}

/// A validator as explorers show it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus public key.
    #[serde(with = "crate::msg::hex32")]
    pub consensus_key: [u8; 32],
    /// Display name.
    pub moniker: String,
    /// Commission, basis points.
    pub commission_bps: u32,
    /// Bonded tokens (self-stake plus delegations, after slashes).
    #[serde(with = "crate::params::u128_string")]
    pub tokens: u128,
    /// Delegator shares outstanding.
    #[serde(with = "crate::params::u128_string")]
    pub shares: u128,
    /// Voting power it has or would have.
    pub power: u64,
    /// In the active set sent to CometBFT.
    pub active: bool,
    /// Jailed (out of the set until unjailed).
    pub jailed: bool,
    /// Jail ends at this height.
    pub jailed_until: u64,
    /// Permanently banned for double signing.
    pub tombstoned: bool,
    /// Commission earned and not yet withdrawn.
    #[serde(with = "crate::params::u128_string")]
    pub commission_accrued: u128,
}

/// A delegation with its current token value.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DelegationInfo {
    /// Delegator.
    pub delegator: Address,
    /// Validator operator.
    pub validator: Address,
    /// Shares held.
    #[serde(with = "crate::params::u128_string")]
    pub shares: u128,
    /// Their value in tokens now.
    #[serde(with = "crate::params::u128_string")]
    pub tokens: u128,
    /// Rewards earned and not yet withdrawn.
    #[serde(with = "crate::params::u128_string")]
    pub pending_rewards: u128,
}

/// A stake on its way out.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UnbondingInfo {
    /// Delegator.
    pub delegator: Address,
    /// Validator operator.
    pub validator: Address,
    /// Base units (after any slash).
    #[serde(with = "crate::params::u128_string")]
    pub amount: u128,
    /// Paid out at the end of this height.
    pub completion_height: u64,
}

/// Rewards claimable by a delegator from one validator.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct RewardsInfo {
    /// Delegation rewards.
    #[serde(with = "crate::params::u128_string")]
    pub rewards: u128,
    /// Commission (when the delegator is the operator).
    #[serde(with = "crate::params::u128_string")]
    pub commission: u128,
}

/// Where staked and reward tokens are held.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Bonded tokens of all validators.
    #[serde(with = "crate::params::u128_string")]
    pub bonded: u128,
    /// Tokens in unbonding entries.
    #[serde(with = "crate::params::u128_string")]
    pub unbonding: u128,
    /// Minted rewards not yet withdrawn.
    #[serde(with = "crate::params::u128_string")]
    pub rewards: u128,
    /// Emission reserve not yet minted.
    #[serde(with = "crate::params::u128_string")]
    pub emission_reserve: u128,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let a = crate::keys::SecretKey::from_seed("q").address();
        for p in [
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
            QueryPath::Validator(a),
            QueryPath::Delegations(a),
            QueryPath::Unbonding(a),
            QueryPath::Rewards(a, a),
            QueryPath::StakingParams,
            QueryPath::StakingPool,
            QueryPath::Models,
            QueryPath::ModelMeta("m".into()),
            QueryPath::Head("m".into(), "layer0.expert1".into()),
            QueryPath::Block([3; 32]),
            QueryPath::History("m".into(), "embed".into()),
            QueryPath::Children([4; 32]),
            QueryPath::Topo("m".into()),
            QueryPath::DagParams,
            QueryPath::PolParams,
            QueryPath::Round(7),
            QueryPath::Rounds("m".into()),
            QueryPath::CurrentRound("m".into()),
            QueryPath::Submission(9),
            QueryPath::Submissions(7),
            QueryPath::Trust(a),
            QueryPath::Attestations(3),
            QueryPath::Voting(3),
            QueryPath::InferenceParams,
            QueryPath::Provider(a),
            QueryPath::Providers,
            QueryPath::Channel(5),
            QueryPath::Channels(a),
            QueryPath::GovParams,
            QueryPath::Proposals,
            QueryPath::Proposal(2),
            QueryPath::Votes(2),
            QueryPath::Tally(2),
            QueryPath::CommunityPool,
            QueryPath::UpgradePlan,
            QueryPath::UpgradesApplied,
            QueryPath::UpgradeApplied("v2".into()),
            QueryPath::AppVersion,
        ] {
            assert_eq!(QueryPath::parse(&p.to_string()).unwrap(), p);
        }
        assert!(QueryPath::parse("/nope").is_err());
        assert!(QueryPath::parse("/bank/balance/0x12").is_err());
    }
}
