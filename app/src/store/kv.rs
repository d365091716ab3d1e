//! The ordered key-value database under the store.
//!
//! The store keeps everything in one ordered byte keyspace (see the layout in the module
//! docs of [`crate::store`]) and asks the database for very little: consistent read
//! views, atomic batches, and a way to empty it. [`RedbBackend`](super::RedbBackend) is
//! the node's; benchmarks plug in other engines through these traits to compare them in
//! one run.

use super::StoreError;

/// A key and its value.
pub type KvEntry = (Vec<u8>, Vec<u8>);

/// One write of a batch: the key, and its new value or `None` to remove it.
pub type KvWrite = (Vec<u8>, Option<Vec<u8>>);

/// An ordered key-value database.
pub trait KvBackend: Send + Sync + 'static {
    /// A read view of everything committed so far. A backend with transactions returns a
    /// consistent snapshot; the store only relies on seeing every batch applied before
    /// the call.
    fn read(&self) -> Result<Box<dyn KvSnapshot>, StoreError>;

    /// Applies `writes` atomically, in order. With `durable`, the batch and every one
    /// before it are on disk when this returns; otherwise they may be lost in a crash
    /// (never partially: a crash loses a suffix of whole batches).
    fn apply(&self, writes: Vec<KvWrite>, durable: bool) -> Result<(), StoreError>;

    /// Removes everything, durably.
    fn clear(&self) -> Result<(), StoreError>;

    /// Makes every applied batch durable.
    fn flush(&self) -> Result<(), StoreError>;
}

/// A read view of a [`KvBackend`].
pub trait KvSnapshot: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entry with the greatest key in `start..=end`.
    fn last_in(&self, start: &[u8], end: &[u8]) -> Result<Option<KvEntry>, StoreError>;

    /// Calls `f` on every entry in `start..end` (`start..` without an end) in key order.
    fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError>;
}

/// The smallest key greater than every key starting with `prefix` (`None`: no bound).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Calls `f` on every entry whose key starts with `prefix`.
pub(super) fn scan_prefix(
    snap: &dyn KvSnapshot,
    prefix: &[u8],
    f: &mut dyn FnMut(&[u8], &[u8]),
) -> Result<(), StoreError> {
    snap.scan(prefix, prefix_end(prefix).as_deref(), f)
}
