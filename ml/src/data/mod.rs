//! Training and validation data: a seeded synthetic corpus ([`synth`]), a real English
//! corpus (Debian's King James Version, [`text`], [`kjv`]) with its train / validation /
//! hidden split ([`split`]), loaders for user text and JSONL files ([`load_texts`]), and
//! batching into token-id tensors ([`batch`]).

pub mod batch;
pub mod kjv;
mod loader;
pub mod split;
pub mod synth;
pub mod text;
#[cfg(test)]
mod text_tests;

use std::path::PathBuf;

pub use batch::{batch_order, make_batch, sequences, Batch};
pub use kjv::{KJV_PACKAGE, KJV_PATH};
pub use loader::load_texts;
pub use split::{
    write_text_splits, Region, SplitSpec, TextFiles, TextSplits, DEFAULT_HIDDEN_SAMPLE,
    DEFAULT_VAL_PASSAGES,
};
pub use synth::{write_corpus, CorpusFiles, CorpusSpec, Example, Task};
pub use text::{passage_bytes, Passage, TextCorpus};

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
    /// The real-text corpus file does not exist.
    #[error(
        "{path}: the real-text corpus is missing: install Debian's `{package}` \
         (apt-get install {package}) or give the path of a text file"
    )]
    CorpusMissing {
        /// The file looked for.
        path: PathBuf,
        /// The Debian package that ships the default corpus.
        package: &'static str,
    },
    /// A corpus file is malformed.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Building a tensor failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
