//! An in-memory state for unit tests and benchmarks.

use std::collections::BTreeMap;

use super::{StateRead, StateWrite};

/// Ordered in-memory state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.map.iter()
    }
}

impl StateRead for MemState {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.map.get(key).cloned()
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl StateWrite for MemState {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.map.insert(key, value);
    }

    fn delete_raw(&mut self, key: &[u8]) {
        self.map.remove(key);
    }
}
