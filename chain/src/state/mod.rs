//! The state abstraction: ordered bytes-to-bytes storage with typed accessors on top.
//!
//! Implementations: [`MemState`] for unit tests, [`Overlay`] for per-transaction and
//! per-block write sets, and the JMT/redb store of `blyan-app` for the node. Reads are
//! infallible here: a backend that cannot read its disk must halt the node, never return
//! different data to different callers.

mod mem;
mod overlay;

pub use mem::MemState;
pub use overlay::{apply_writes, Overlay, WriteSet};

use blyan_proto::ErrorCode;
use parity_scale_codec::{Decode, Encode};

use crate::error::{TxError, TxResult};

/// Read access to state.
pub trait StateRead {
    /// The value under `key`, if any.
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>>;

    /// Every `(key, value)` whose key starts with `prefix`, in ascending key order.
    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
}

/// Write access to state.
pub trait StateWrite: StateRead {
    /// Sets `key` to `value`.
    fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>);

    /// Removes `key`.
    fn delete_raw(&mut self, key: &[u8]);
}

/// Typed reads (SCALE) on any state.
pub trait StateReadExt: StateRead {
    /// Decodes the value under `key`; a value that fails to decode is a node fault.
    fn get_scale<T: Decode>(&self, key: &[u8]) -> TxResult<Option<T>> {
        match self.get_raw(key) {
            None => Ok(None),
            Some(bytes) => T::decode(&mut bytes.as_slice()).map(Some).map_err(|e| {
                TxError::new(
                    ErrorCode::CorruptState,
                    format!("stored value under {} fails to decode: {e}", show_key(key)),
                )
            }),
        }
    }
}

impl<S: StateRead + ?Sized> StateReadExt for S {}

/// Typed writes (SCALE) on any state.
pub trait StateWriteExt: StateWrite {
    /// Encodes and stores `value` under `key`.
    fn put_scale<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.put_raw(key, value.encode());
    }
}

impl<S: StateWrite + ?Sized> StateWriteExt for S {}

impl<S: StateRead + ?Sized> StateRead for &S {
    fn get_raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        (**self).get_raw(key)
    }

    fn prefix_raw(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        (**self).prefix_raw(prefix)
    }
}

/// A key for logs: the printable prefix, then hex.
pub fn show_key(key: &[u8]) -> String {
    let printable = key.iter().take_while(|b| b.is_ascii_graphic()).count();
    let (text, rest) = key.split_at(printable);
    format!("{}{}", String::from_utf8_lossy(text), hex_lower(rest))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        s.push(char::from(
            DIGITS.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
        ));
        s.push(char::from(
            DIGITS.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'),
        ));
    }
    s
}

/// Builds `prefix || suffix` as an owned key.
pub fn key(prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len().saturating_add(suffix.len()));
    k.extend_from_slice(prefix);
    k.extend_from_slice(suffix);
    k
}
