//! `dag`: models and their parameter blocks.
//!
//! A model is a namespace (`model_id`) with an inline meta block (the architecture) and one
//! block per expert, router, layer backbone, embedding and head; each block names the CID
//! and payload hash of a TensorBlock in IPFS (tensor bytes never enter the state). Each
//! new version of a block depends on the meta block, the previous version of the same name
//! and any further blocks it names; every dependency must already exist, so the graph is
//! acyclic by construction and insertion order is a topological order. A ParamIndex maps
//! each name to its head.
//!
//! A model with a validation set is governed by Proof-of-Learning: its heads change only
//! through accepted rounds (`pol`), so its owner's `MsgPublishModel` is refused
//! (`ModelUnderPol`); owner upgrades of such models are for governance.

mod evolve;
mod ext;
mod learned;
mod module;
mod names;
mod publish;
mod query;
mod state;

pub use blyan_proto::dag::DagParams;
pub use evolve::{check_evolution, evolve_model, replace_count, EvolutionPlan};
pub use ext::{DagRead, DagWrite};
pub use learned::record_learned_version;
pub use module::{execute, Dag};
pub use names::{block_names, check_name};
pub use publish::{publish_model, PublishOptions};
pub use query::answer as answer_query;
pub use state::*;
