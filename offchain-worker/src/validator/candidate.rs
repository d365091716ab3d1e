//! The one place a set of updates becomes the model's candidate next weights: the model's
//! aggregation rule and outer step applied to a set ([`candidate`]). Phase 2 builds the
//! round's aggregate with it, and phase 1 builds the aggregate of the round's candidate set
//! with and without each submission ([`super::contribution`]), so a submission is judged
//! by its effect on exactly what phase 2 would apply.

use std::collections::BTreeMap;

use blyan_proto::pol::{OuterOptimizer, PolParams};

use super::aggregate::{self, Aggregate};
use super::base::Base;
use super::weights::BlockWeights;
use crate::defense::{AggregationRule, Update};

/// How a round turns its updates into the next weights: the model's rule and its outer
/// optimizer ([`super::outer`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Outer {
    /// The aggregation rule.
    pub rule: AggregationRule,
    /// The outer optimizer (SGD + Nesterov momentum).
    pub optimizer: OuterOptimizer,
}

impl Outer {
    /// The chain's settings for `model`.
    pub fn of(params: &PolParams, model: &str) -> Self {
        Self {
            rule: aggregate::rule(params.rule_for(model)),
            optimizer: params.outer_for(model),
        }
    }
}

/// A set's aggregate and the weights it gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The aggregate delta `g` (before the outer step), per block.
    pub aggregate: Aggregate,
    /// Its [`crate::defense::aggregate_hash`].
    pub hash: [u8; 32],
    /// The outer step of the aggregate from the base (with each block's momentum), for
    /// every block the aggregate changes.
    pub blocks: BTreeMap<String, BlockWeights>,
}

/// The candidate of `updates` on `base` with `outer` ([`aggregate::aggregate`], then the
/// outer step block by block with [`Base::stepped`]); `fake` perturbs the
/// aggregate ([`aggregate::perturb`], phase 2's test aid). An empty set is the base
/// itself (no block changes). Deterministic: identical bytes on every validator.
pub fn candidate(
    base: &Base,
    updates: &[&Update],
    outer: &Outer,
    fake: bool,
) -> anyhow::Result<Candidate> {
    if updates.is_empty() {
        return Ok(Candidate {
            aggregate: Aggregate::new(),
            hash: crate::defense::aggregate_hash(&Aggregate::new()),
            blocks: BTreeMap::new(),
        });
    }
    let (agg, hash) = aggregate::aggregate(updates, &outer.rule, fake)?;
    let blocks = base
        .stepped(&agg, outer.optimizer)?
        .into_iter()
        .map(|(name, s)| (name, s.weights))
        .collect();
    Ok(Candidate {
        aggregate: agg,
        hash,
        blocks,
    })
}
