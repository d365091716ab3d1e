//! Resolving a broadcast transaction by its account nonce, not only by its hash.
//!
//! A worker that broadcast a transaction remembers its hash and its nonce. Looking only for
//! the hash can wait forever: the same signed transaction may be committed under another
//! encoding (another hash), or another transaction may take the nonce. Once the account's
//! committed nonce has moved past the transaction's, no transaction with that nonce can ever
//! be committed again, so the transaction is settled either way: [`resolve`] says
//! [`Resolution::Committed`] when the hash is found (with its result) and
//! [`Resolution::Superseded`] otherwise; the caller then reads what it needs from the
//! chain's state (its attestation, its submission) rather than from one hash.

use std::time::{Duration, Instant};

use super::{ChainError, Committed, TxSender};

/// How long [`resolve`] keeps looking for the hash after the nonce moved past it: CometBFT
/// indexes a block's transactions just after it commits the state, so the hash can show up
/// a moment after the nonce.
pub const INDEX_GRACE: Duration = Duration::from_secs(2);

/// What [`resolve`] needs from the chain (a trait so the rules are tested without a node).
pub trait TxLookup {
    /// The account's next nonce in the latest committed state.
    fn committed_nonce(&self) -> Result<u64, ChainError>;
    /// A committed transaction by hash, `None` while none is indexed under it.
    fn find_tx(&self, hash: &str) -> Result<Option<Committed>, ChainError>;
}

impl TxLookup for TxSender {
    fn committed_nonce(&self) -> Result<u64, ChainError> {
        self.next_nonce()
    }

    fn find_tx(&self, hash: &str) -> Result<Option<Committed>, ChainError> {
        Ok(self.rpc().tx(hash)?.map(|t| Committed {
            height: t.height,
            code: t.code,
            log: t.log,
        }))
    }
}

/// Where a broadcast transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// In a block under its own hash, with its result.
    Committed(Committed),
    /// Not in any block under its hash, but the account's nonce moved past it: a
    /// transaction with the same nonce (this one under another encoding, or another one)
    /// was committed, and this hash never will be. Read the outcome from the chain's state.
    Superseded {
        /// The account's next nonce now.
        next_nonce: u64,
    },
    /// Neither yet: still in a mempool, or dropped from it (the nonce is still free).
    Pending {
        /// The account's next nonce now.
        next_nonce: u64,
    },
}

impl Resolution {
    /// Whether the transaction is settled (committed or superseded).
    pub fn is_settled(&self) -> bool {
        !matches!(self, Resolution::Pending { .. })
    }
}

/// Resolves the transaction `hash` that used `nonce`: by hash when it is indexed, else by
/// the account's nonce (looking for the hash up to `grace` more once the nonce moved past).
pub fn resolve(
    chain: &impl TxLookup,
    hash: &str,
    nonce: u64,
    grace: Duration,
) -> Result<Resolution, ChainError> {
    // The nonce first, then the hash: a transaction committed between the two queries is
    // then found by its hash.
    let next_nonce = chain.committed_nonce()?;
    let start = Instant::now();
    loop {
        if let Some(c) = chain.find_tx(hash)? {
            return Ok(Resolution::Committed(c));
        }
        if next_nonce <= nonce {
            return Ok(Resolution::Pending { next_nonce });
        }
        if start.elapsed() >= grace {
            return Ok(Resolution::Superseded { next_nonce });
        }
        std::thread::sleep(Duration::from_millis(200).min(grace));
    }
}

/// [`resolve`] until the transaction is settled or `timeout` passed (then the last
/// [`Resolution::Pending`]); never waits on the hash alone.
pub fn settle(
    chain: &impl TxLookup,
    hash: &str,
    nonce: u64,
    timeout: Duration,
    grace: Duration,
) -> Result<Resolution, ChainError> {
    let start = Instant::now();
    loop {
        let r = resolve(chain, hash, nonce, grace)?;
        if r.is_settled() || start.elapsed() >= timeout {
            return Ok(r);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// [`resolve`] and [`settle`] for the transactions a [`TxSender`] broadcast.
pub trait Settle {
    /// [`resolve`] for a transaction this sender broadcast.
    fn resolve(&self, hash: &str, nonce: u64) -> Result<Resolution, ChainError>;
    /// [`settle`] for a transaction this sender broadcast.
    fn settle(&self, hash: &str, nonce: u64, timeout: Duration) -> Result<Resolution, ChainError>;
}

impl Settle for TxSender {
    fn resolve(&self, hash: &str, nonce: u64) -> Result<Resolution, ChainError> {
        resolve(self, hash, nonce, INDEX_GRACE)
    }

    fn settle(&self, hash: &str, nonce: u64, timeout: Duration) -> Result<Resolution, ChainError> {
        settle(self, hash, nonce, timeout, INDEX_GRACE)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use super::*;

    /// A chain whose committed nonce and indexed hashes the test sets, counting queries.
    #[derive(Default)]
    struct FakeChain {
        nonce: Cell<u64>,
        indexed: RefCell<BTreeMap<String, Committed>>,
        /// After this many nonce queries the nonce becomes `nonce_later`.
        nonce_moves_after: Cell<Option<(u32, u64)>>,
        nonce_queries: Cell<u32>,
        tx_queries: Cell<u32>,
    }

    impl TxLookup for FakeChain {
        fn committed_nonce(&self) -> Result<u64, ChainError> {
            let q = self.nonce_queries.get() + 1;
            self.nonce_queries.set(q);
            if let Some((after, n)) = self.nonce_moves_after.get() {
                if q > after {
                    self.nonce.set(n);
                }
            }
            Ok(self.nonce.get())
        }
        fn find_tx(&self, hash: &str) -> Result<Option<Committed>, ChainError> {
            self.tx_queries.set(self.tx_queries.get() + 1);
            Ok(self.indexed.borrow().get(hash).cloned())
        }
    }

    fn committed(height: u64) -> Committed {
        Committed {
            height,
            code: 0,
            log: String::new(),
        }
    }

    #[test]
    fn a_hash_found_is_committed_with_its_result() {
        let chain = FakeChain::default();
        chain.nonce.set(6);
        chain.indexed.borrow_mut().insert("AA".into(), committed(9));
        let r = resolve(&chain, "AA", 5, Duration::ZERO).unwrap();
        assert_eq!(r, Resolution::Committed(committed(9)));
    }

    #[test]
    fn a_free_nonce_is_pending() {
        let chain = FakeChain::default();
        chain.nonce.set(5);
        let r = resolve(&chain, "AA", 5, Duration::from_secs(10)).unwrap();
        assert_eq!(r, Resolution::Pending { next_nonce: 5 });
        assert!(!r.is_settled());
        assert_eq!(chain.tx_queries.get(), 1, "no grace wait while pending");
    }

    /// Issue 11 item 12: the transaction was committed under another encoding (another
    /// hash); waiting on our hash would never end, the nonce settles it.
    #[test]
    fn a_nonce_moved_past_settles_a_hash_never_indexed() {
        let chain = FakeChain::default();
        chain.nonce.set(5);
        chain.nonce_moves_after.set(Some((2, 6)));
        chain
            .indexed
            .borrow_mut()
            .insert("OTHER".into(), committed(9));
        let start = Instant::now();
        let r = settle(
            &chain,
            "AA",
            5,
            Duration::from_secs(30),
            Duration::from_millis(300),
        )
        .unwrap();
        assert_eq!(r, Resolution::Superseded { next_nonce: 6 });
        assert!(r.is_settled());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "settled long before the timeout: {:?}",
            start.elapsed()
        );
        assert_eq!(chain.nonce_queries.get(), 3);
        assert!(
            chain.tx_queries.get() >= 2,
            "the hash was looked up during the grace"
        );
    }

    /// The hash is indexed a moment after the nonce moved: the grace finds it.
    #[test]
    fn the_grace_finds_a_hash_indexed_after_the_nonce_moved() {
        struct LateIndex(FakeChain);
        impl TxLookup for LateIndex {
            fn committed_nonce(&self) -> Result<u64, ChainError> {
                self.0.committed_nonce()
            }
            fn find_tx(&self, hash: &str) -> Result<Option<Committed>, ChainError> {
                if self.0.tx_queries.get() == 2 {
                    self.0
                        .indexed
                        .borrow_mut()
                        .insert("AA".into(), committed(12));
                }
                self.0.find_tx(hash)
            }
        }
        let chain = LateIndex(FakeChain::default());
        chain.0.nonce.set(8);
        let r = resolve(&chain, "AA", 7, Duration::from_secs(5)).unwrap();
        assert_eq!(r, Resolution::Committed(committed(12)));
    }

    #[test]
    fn settle_gives_up_at_the_timeout_while_pending() {
        let chain = FakeChain::default();
        chain.nonce.set(3);
        let start = Instant::now();
        let r = settle(&chain, "AA", 3, Duration::from_millis(700), Duration::ZERO).unwrap();
        assert_eq!(r, Resolution::Pending { next_nonce: 3 });
        assert!(start.elapsed() >= Duration::from_millis(700));
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
