//! A bounded cache of signers recovered in CheckTx, keyed by transaction hash, so that
//! FinalizeBlock need not recover the same signature again.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use blyan_proto::{Address, TxHash};
use lru::LruCache;

/// Thread-safe LRU of `tx hash → signer`.
pub struct SignerCache {
    inner: Mutex<LruCache<TxHash, Address>>,
}

impl SignerCache {
    /// A cache holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        SignerCache {
            inner: Mutex::new(LruCache::new(cap)),
        }
    }

    /// Remembers a recovered signer.
    pub fn insert(&self, hash: TxHash, signer: Address) {
        if let Ok(mut c) = self.inner.lock() {
            c.put(hash, signer);
        }
    }

    /// The signer recovered earlier for this hash, if still cached.
    pub fn get(&self, hash: &TxHash) -> Option<Address> {
        self.inner
            .lock()
            .ok()
            .and_then(|mut c| c.get(hash).copied())
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut c) = self.inner.lock() {
            c.clear();
        }
    }
}
