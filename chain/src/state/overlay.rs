//! Write overlays: a transaction (or a block) writes into an overlay over its base state;
//! the writes land only when the overlay is applied, so a failure drops them all.

use std::collections::BTreeMap;

use super::{StateRead, StateWrite};

/// Buffered writes: `Some(value)` sets, `None` deletes. Ordered, so applying is
/// deterministic.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A write set layered over a read-only base.
#[derive(Debug)]
pub struct Overlay<S> {
    base: S,
    writes: WriteSet,
}

impl<S: StateRead> Overlay<S> {
    /// An empty overlay over `base`.
    pub fn new(base: S) -> Self {
        Overlay {
            base,
            writes: WriteSet::new(),
        }
    }

    /// The buffered writes.
    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }

    /// The base state.
    pub fn base(&self) -> &S {
        &self.base
    }

    /// Consumes the overlay, returning its writes.
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    /// Consumes the overlay, returning base and writes.
    pub fn into_parts(self) -> (S, WriteSet) {
        (self.base, self.writes)
    }

    /// Adds a write set produced by a nested overlay.
    pub fn absorb(&mut self, writes: WriteSet) {
        self.writes.extend(writes);
    }
}

/// Applies a write set to any writable state.
pub fn apply_writes<W: StateWrite + ?Sized>(target: &mut W, writes: WriteSet) {
    for (k, v) in writes {
        match v {
            Some(v) => target.put_raw(k, v),
            None => target.delete_raw(&k),
        }
    }
}

impl<S: StateRead> StateRead for Overlay<S> {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(v) => v.clone(),
            None => self.base.get_raw(key),
        }
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.prefix_raw(prefix).into_iter().collect();
        for (k, v) in self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        merged.into_iter().collect()
    }
}

impl<S: StateRead> StateWrite for Overlay<S> {
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn delete_raw(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemState;

    #[test]
    fn overlay_reads_through_and_shadows() {
        let mut base = MemState::new();
        base.put_raw(b"a/1".to_vec(), b"x".to_vec());
        base.put_raw(b"a/2".to_vec(), b"y".to_vec());
        base.put_raw(b"b/1".to_vec(), b"z".to_vec());
        let mut o = Overlay::new(&base);
        o.put_raw(b"a/3".to_vec(), b"w".to_vec());
        o.delete_raw(b"a/1");
        assert_eq!(o.get_raw(b"a/1"), None);
        assert_eq!(o.get_raw(b"b/1"), Some(b"z".to_vec()));
        let keys: Vec<_> = o.prefix_raw(b"a/").into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        let writes = o.into_writes();
        apply_writes(&mut base, writes);
        assert_eq!(base.get_raw(b"a/1"), None);
        assert_eq!(base.get_raw(b"a/3"), Some(b"w".to_vec()));
    }

    #[test]
    fn dropped_overlay_leaves_base_untouched() {
        let mut base = MemState::new();
        base.put_raw(b"k".to_vec(), b"v".to_vec());
        {
            let mut o = Overlay::new(&base);
            o.put_raw(b"k".to_vec(), b"changed".to_vec());
        }
        assert_eq!(base.get_raw(b"k"), Some(b"v".to_vec()));
    }
}
