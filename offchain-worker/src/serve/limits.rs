//! Per-caller concurrency: at most `max` generations per caller at once. Only callers with a
//! generation running are tracked, so the map is bounded by the gateway's concurrency
//! (and by [`MAX_TRACKED`] besides).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::billing::lock;

/// Most callers tracked at once.
pub const MAX_TRACKED: usize = 65_536;

/// Generations running per caller.
pub struct CallerSlots {
    max: usize,
    running: Mutex<BTreeMap<String, usize>>,
}

/// A held slot; released when dropped.
pub struct CallerSlot {
    slots: Arc<CallerSlots>,
    caller: String,
}

impl CallerSlots {
    /// At most `max` (at least 1) per caller.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// The most generations per caller.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `caller`, or `None` when it already runs `max` generations (or too many
    /// callers are running).
    pub fn try_acquire(self: &Arc<Self>, caller: &str) -> Option<CallerSlot> {
        let mut r = lock(&self.running);
        let n = r.get(caller).copied().unwrap_or(0);
        if n >= self.max || (n == 0 && r.len() >= MAX_TRACKED) {
            return None;
        }
        r.insert(caller.to_string(), n + 1);
        Some(CallerSlot {
            slots: self.clone(),
            caller: caller.to_string(),
        })
    }
}

impl Drop for CallerSlot {
    fn drop(&mut self) {
        let mut r = lock(&self.slots.running);
        if let Some(n) = r.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                r.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_each_caller_and_free_on_drop() {
        let s = Arc::new(CallerSlots::new(2));
        let a1 = s.try_acquire("a").unwrap();
        let _a2 = s.try_acquire("a").unwrap();
        assert!(s.try_acquire("a").is_none());
        let _b = s.try_acquire("b").unwrap();
        drop(a1);
        assert!(s.try_acquire("a").is_some());
        assert!(lock(&s.running).len() <= 2);
    }
}
