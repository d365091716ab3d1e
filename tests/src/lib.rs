//! End-to-end test harness of Blyan: real `cometbft` and `blyand` processes on loopback
//! ports in temporary directories.
//!
//! - [`Localnet`]: an N-validator network (homes from [`blyan_genesis::generate`]), per-node
//!   RPC clients, dev keys, crash and restart helpers, app hashes, and the real CLI.
//! - [`Processes`]: named child processes with log files, killed on drop (their log tails
//!   are printed if the test panicked); later issues register Kubo nodes and workers here.
//! - [`TxFactory`] and the event helpers in [`txs`]: signed transactions built the way a
//!   wallet builds them, and the results CometBFT reports.
//! - [`Bins`]: where `blyand` (`$BLYAND_BIN`, else `target/debug/blyand`, built when missing
//!   or stale) and `cometbft` (`$COMETBFT_BIN`, else `.bin/cometbft`, installed by
//!   `localnet/install.sh` when missing) are.
//!
//! The tests themselves are in `tests/tests/`, one file per concern. Within one test
//! binary, multi-validator nets run one at a time (single-validator nets may overlap);
//! runners that put every test in its own process (nextest) should run this crate's tests
//! serially on small machines.

pub mod bins;
mod chain;
mod cli;
pub mod kubo;
pub mod localnet;
pub mod math;
pub mod pol;
pub mod ports;
pub mod process;
pub mod staking;
pub mod txs;
pub mod upgrade;
pub mod worker;

pub use bins::Bins;
pub use localnet::{Localnet, LocalnetOptions, DEFAULT_TIMEOUT};
pub use process::{ProcSpec, Processes};
pub use txs::{FeeTerms, TxFactory};

use std::time::{Duration, Instant};

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
