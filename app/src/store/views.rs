//! Read views of committed state for the runtime and queries.

use std::collections::BTreeMap;
use std::sync::Arc;

use blyan_chain::StateRead;

use super::jmt_reader::LayeredReader;
use super::kv::scan_prefix;
use super::layers::Shared;
use super::{halt, key_hash, prefixed, P_LATEST};

/// The latest committed state (unwritten layers first, then the database).
#[derive(Clone)]
pub struct LatestView {
    shared: Arc<Shared>,
}

impl LatestView {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        LatestView { shared }
    }
}

impl StateRead for LatestView {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        for l in self.shared.layers().iter().rev() {
            if let Some(v) = l.writes.get(key) {
                return v.clone();
            }
        }
        match self
            .shared
            .db_view()
            .and_then(|db| db.get(&prefixed(P_LATEST, key)))
        {
            Ok(v) => v,
            Err(e) => halt(e),
        }
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (layers, db) = match self.shared.view() {
            Ok(v) => v,
            Err(e) => halt(e),
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        if let Err(e) = scan_prefix(&*db, &prefixed(P_LATEST, prefix), &mut |k, v| {
            merged.insert(k.get(1..).unwrap_or_default().to_vec(), v.to_vec());
        }) {
            halt(e)
        }
        for l in &layers {
            for (k, v) in l
                .writes
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
            {
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
        }
        merged.into_iter().collect()
    }
}

/// The state at a past version, read through the JMT value history.
pub struct VersionView {
    reader: LayeredReader,
    version: u64,
}

impl VersionView {
    pub(super) fn new(reader: LayeredReader, version: u64) -> Self {
        VersionView { reader, version }
    }
}

impl StateRead for VersionView {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        match jmt::storage::TreeReader::get_value_option(&self.reader, self.version, key_hash(key))
        {
            Ok(v) => v,
            Err(e) => halt(e),
        }
    }

    /// Past versions serve point reads only (the JMT is keyed by hash); the query
    /// handler refuses scanning paths at past heights (`QueryPath::scans`), so this is
    /// never asked.
    fn prefix_raw(&self, _prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        Vec::new()
    }
}
