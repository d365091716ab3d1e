//! The JMT's `TreeReader` over in-memory layers and a database read view.

use std::sync::Arc;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};

use super::kv::KvSnapshot;
use super::layers::{node_key_bytes, Layer};
use super::{prefixed, P_NODE, P_VALUE};

/// Reads JMT nodes and values from a snapshot of the unwritten layers, then the database
/// (a view taken after the layers were).
pub(super) struct LayeredReader {
    db: Arc<dyn KvSnapshot>,
    layers: Vec<Arc<Layer>>,
}

impl LayeredReader {
    pub(super) fn new(db: Arc<dyn KvSnapshot>, layers: Vec<Arc<Layer>>) -> Self {
        LayeredReader { db, layers }
    }
}

impl TreeReader for LayeredReader {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        for l in self.layers.iter().rev() {
            if let Some(n) = l.node(node_key) {
                return Ok(Some(n.clone()));
            }
        }
        let k = prefixed(P_NODE, &node_key_bytes(node_key)?);
        match self.db.get(&k)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(borsh::from_slice(&bytes)?)),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        for l in self
            .layers
            .iter()
            .rev()
            .filter(|l| l.version <= max_version)
        {
            if let Some(v) = l.value(key_hash) {
                return Ok(v);
            }
        }
        let start = prefixed(P_VALUE, &key_hash.0);
        let mut end = start.clone();
        end.extend_from_slice(&max_version.to_be_bytes());
        let last = self.db.last_in(&start, &end)?;
        Ok(match last {
            None => None,
            Some((_, v)) => match v.first() {
                Some(1) => Some(v.get(1..).unwrap_or_default().to_vec()),
                _ => None,
            },
        })
    }

    /// Only needed when restoring a tree from chunks, which this store does not do.
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("get_rightmost_leaf is not supported by this store")
    }
}
