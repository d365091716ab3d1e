//! Events of the `dag` module: models and block versions.

use crate::address::Address;

/// Events of the `dag` module: models and block versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagEvent {
    /// A model was published, or new versions of its blocks.
    ModelPublished {
        /// Model id.
        model: String,
        /// Publisher.
        author: Address,
        /// True for a new model.
        new_model: bool,
        /// Blocks recorded by this message (meta included).
        blocks: u64,
    },
    /// A block version was recorded and became its name's head.
    BlockVersion {
        /// Model id.
        model: String,
        /// Block name.
        name: String,
        /// Block id (hex).
        id: String,
        /// Version.
        version: String,
    },
}

impl DagEvent {
    /// The ABCI event type.
    pub fn kind(&self) -> &'static str {
        match self {
            DagEvent::ModelPublished { .. } => "model_published",
            DagEvent::BlockVersion { .. } => "block_version",
        }
    }

    /// The ABCI attributes, in a fixed order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        match self {
            DagEvent::ModelPublished {
                model,
                author,
                new_model,
                blocks,
            } => vec![
                ("model", model.clone()),
                ("author", author.to_string()),
                ("new_model", new_model.to_string()),
                ("blocks", blocks.to_string()),
            ],
            DagEvent::BlockVersion {
                model,
                name,
                id,
                version,
            } => vec![
                ("model", model.clone()),
                ("name", name.clone()),
                ("id", id.clone()),
                ("version", version.clone()),
            ],
        }
    }
}
