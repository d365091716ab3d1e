//! Training and validation data: a seeded synthetic corpus ([`synth`]), loaders for user
//! text and JSONL files ([`load_texts`]), and batching into token-id tensors ([`batch`]).

pub mod batch;
mod loader;
pub mod synth;

use std::path::PathBuf;

pub use batch::{batch_order, make_batch, sequences, Batch};
pub use loader::load_texts;
pub use synth::{write_corpus, CorpusFiles, CorpusSpec, Example, Task};

/// Errors of the data module.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A JSONL line is not an object with a string `text`.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Building a tensor failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
