//! The expert cache: an LRU of expert weights bounded in bytes, keyed by the block's payload
//! hash (so an expert that did not change between two model versions stays cached across a
//! reload, and two versions never mix up their weights).
//!
//! A lookup that misses runs the caller's loader (which reads and verifies the block) outside
//! the lock, inserts the result and evicts until the cache fits its byte budget again. An
//! evicted expert that a forward pass still holds (an `Arc`) stays alive until that pass
//! ends; the cache only drops its own reference.
//!
//! # Eviction: LRU that survives sweeps
//!
//! Every forward pass (see [`ExpertCache::begin_pass`]) asks for the experts it needs layer
//! by layer, in the same order each time. Plain LRU thrashes on that loop as soon as one
//! pass needs more than the budget: each miss evicts exactly the expert the next pass will
//! want first, and the hit rate drops to zero. So entries are stamped with the pass that last
//! used them: the victim is the least recently used entry *from an earlier pass*; when every
//! entry was used by the current pass (the pass alone does not fit), the most recently used
//! one other than the newcomer goes instead, so the rest stay for the next pass (the optimal
//! choice for a loop). When passes fit, this is plain LRU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use prometheus::IntCounter;

use crate::model::{ExpertWeights, Result};
use crate::tensorblock::PayloadHash;

/// Counters of an [`ExpertCache`] (Prometheus counters, registered by the gateway).
#[derive(Debug, Clone)]
pub struct CacheCounters {
    /// Lookups answered from the cache.
    pub hits: IntCounter,
    /// Lookups that loaded the expert.
    pub misses: IntCounter,
    /// Experts dropped to stay within the byte budget.
    pub evictions: IntCounter,
}

impl CacheCounters {
    fn new() -> prometheus::Result<Self> {
        Ok(Self {
            hits: IntCounter::new(
                "blyan_gateway_expert_cache_hits_total",
                "Expert lookups answered from the cache",
            )?,
            misses: IntCounter::new(
                "blyan_gateway_expert_cache_misses_total",
                "Expert lookups that loaded and verified the expert's block",
            )?,
            evictions: IntCounter::new(
                "blyan_gateway_expert_cache_evictions_total",
                "Experts evicted to stay within the cache's byte budget",
            )?,
        })
    }
}

/// A snapshot of the cache's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Hits so far.
    pub hits: u64,
    /// Misses so far.
    pub misses: u64,
    /// Evictions so far.
    pub evictions: u64,
    /// Experts held.
    pub entries: usize,
    /// Bytes held.
    pub bytes: usize,
    /// The byte budget.
    pub capacity: usize,
}

impl CacheStats {
    /// Hits over lookups (0 when there were none).
    pub fn hit_rate(&self) -> f64 {
        let n = self.hits + self.misses;
        if n == 0 {
            0.0
        } else {
            self.hits as f64 / n as f64
        }
    }
}

struct Inner {
    /// Weights and the pass that last used them.
    lru: LruCache<PayloadHash, (Arc<ExpertWeights>, u64)>,
    bytes: usize,
}

/// An LRU cache of experts bounded in bytes.
pub struct ExpertCache {
    inner: Mutex<Inner>,
    capacity: usize,
    counters: CacheCounters,
    pass: AtomicU64,
}

impl std::fmt::Debug for ExpertCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExpertCache")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ExpertCache {
    /// A cache holding at most `capacity` bytes of expert weights (`usize::MAX`: unbounded).
    pub fn new(capacity: usize) -> prometheus::Result<Self> {
        Ok(Self {
            inner: Mutex::new(Inner {
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
            capacity,
            counters: CacheCounters::new()?,
            pass: AtomicU64::new(0),
        })
    }

    /// Marks the start of a forward pass (see the module docs on eviction).
    pub fn begin_pass(&self) {
        self.pass.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, for registration with a Prometheus registry.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The expert whose block has payload hash `key`, loading it with `load` on a miss.
    pub fn get_or_load(
        &self,
        key: &PayloadHash,
        load: impl FnOnce() -> Result<ExpertWeights>,
    ) -> Result<Arc<ExpertWeights>> {
        let pass = self.pass.load(Ordering::Relaxed);
        if let Some((w, at)) = self.lock().lru.get_mut(key) {
            self.counters.hits.inc();
            *at = pass;
            return Ok(w.clone());
        }
        self.counters.misses.inc();
        let loaded = Arc::new(load()?);
        let size = loaded.byte_size();
        let mut g = self.lock();
        if let Some((w, at)) = g.lru.get_mut(key) {
            // another thread loaded it meanwhile
            *at = pass;
            return Ok(w.clone());
        }
        g.lru.push(*key, (loaded.clone(), pass));
        g.bytes += size;
        while g.bytes > self.capacity {
            let victim = match g.lru.peek_lru() {
                Some((k, (_, at))) if *at < pass => Some(*k),
                // the whole cache is this pass's: keep the oldest, drop the newest but one
                _ => g
                    .lru
                    .iter()
                    .map(|(k, _)| *k)
                    .find(|k| k != key)
                    .or(Some(*key)),
            };
            let Some((w, _)) = victim.and_then(|k| g.lru.pop(&k)) else {
                break;
            };
            g.bytes = g.bytes.saturating_sub(w.byte_size());
            self.counters.evictions.inc();
        }
        Ok(loaded)
    }

    /// Current counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        let g = self.lock();
        CacheStats {
            hits: self.counters.hits.get(),
            misses: self.counters.misses.get(),
            evictions: self.counters.evictions.get(),
            entries: g.lru.len(),
            bytes: g.bytes,
            capacity: self.capacity,
        }
    }
}
