//! Prometheus metrics of the node, served as text on `/metrics`.

use std::io::{Read, Write};
use std::net::TcpListener;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The node's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Last committed height.
    pub height: IntGauge,
    /// Transactions executed in blocks, by result code.
    pub block_txs: IntCounterVec,
    /// CheckTx results, by result code.
    pub check_txs: IntCounterVec,
    /// Base fee per gas for the next block (saturated to i64).
    pub base_fee: IntGauge,
    /// Gas used by the last block.
    pub block_gas: IntGauge,
    /// FinalizeBlock execution time.
    pub finalize_seconds: Histogram,
    /// Commit (persist) time.
    pub commit_seconds: Histogram,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    match r {
        Ok(v) => v,
        // Metric definitions are static; a failure is a programming error found at start.
        Err(e) => {
            eprintln!("blyand: metric definition failed: {e}");
            std::process::exit(70)
        }
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let buckets = vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        let m = Metrics {
            height: must(IntGauge::new("blyan_block_height", "Last committed height")),
            block_txs: must(IntCounterVec::new(
                Opts::new(
                    "blyan_block_txs_total",
                    "Transactions executed in blocks by result code",
                ),
                &["code"],
            )),
            check_txs: must(IntCounterVec::new(
                Opts::new("blyan_check_txs_total", "CheckTx results by result code"),
                &["code"],
            )),
            base_fee: must(IntGauge::new(
                "blyan_base_fee_per_gas",
                "Base fee per gas for the next block",
            )),
            block_gas: must(IntGauge::new(
                "blyan_block_gas_used",
                "Gas used by the last block",
            )),
            finalize_seconds: must(Histogram::with_opts(
                HistogramOpts::new(
                    "blyan_finalize_block_seconds",
                    "FinalizeBlock execution time",
                )
                .buckets(buckets.clone()),
            )),
            commit_seconds: must(Histogram::with_opts(
                HistogramOpts::new("blyan_commit_seconds", "Commit (persist) time")
                    .buckets(buckets),
            )),
            registry,
        };
        must(m.registry.register(Box::new(m.height.clone())));
        must(m.registry.register(Box::new(m.block_txs.clone())));
        must(m.registry.register(Box::new(m.check_txs.clone())));
        must(m.registry.register(Box::new(m.base_fee.clone())));
        must(m.registry.register(Box::new(m.block_gas.clone())));
        must(m.registry.register(Box::new(m.finalize_seconds.clone())));
        must(m.registry.register(Box::new(m.commit_seconds.clone())));
        m
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Serves `GET /metrics` on `addr` from a background thread.
    pub fn serve(&self, addr: &str) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr)?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let mut stream = stream;
                    let mut buf = [0u8; 1024];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let req = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                    let (status, body) = if req.starts_with("GET /metrics") {
                        ("200 OK", me.render())
                    } else {
                        ("404 Not Found", "try /metrics\n".to_string())
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            })?;
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
