//! Content identifiers as Blyan uses them: CIDv1, sha2-256, codec `raw` (a file of one
//! chunk) or `dag-pb` (the UnixFS root of a larger file), written in base32 (`bafk…`,
//! `bafy…`). Anything else (CIDv0 `Qm…`, other hashes, other bases) is refused, so a CID
//! recorded on chain has exactly one spelling.

use std::fmt;
use std::str::FromStr;

/// Multicodec of a raw block.
pub const CODEC_RAW: u64 = 0x55;
/// Multicodec of a dag-pb (UnixFS) node.
pub const CODEC_DAG_PB: u64 = 0x70;
/// Multihash code of sha2-256.
const SHA2_256: u64 = 0x12;

/// Why a string is not a CID this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CID {text:?}: {reason}")]
pub struct CidError {
    /// The rejected text (cut to 100 characters).
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A CIDv1 with a sha2-256 multihash and codec raw or dag-pb.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid {
    codec: u64,
    digest: [u8; 32],
}

impl Cid {
    /// The CID of a raw block with this sha2-256 digest.
    pub fn raw(digest: [u8; 32]) -> Self {
        Self {
            codec: CODEC_RAW,
            digest,
        }
    }

    /// The CID of a dag-pb node with this sha2-256 digest.
    pub fn dag_pb(digest: [u8; 32]) -> Self {
        Self {
            codec: CODEC_DAG_PB,
            digest,
        }
    }

    /// The multicodec: [`CODEC_RAW`] or [`CODEC_DAG_PB`].
    pub fn codec(&self) -> u64 {
        self.codec
    }

    /// The sha2-256 digest of the block the CID names.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Binary form: `varint(1) varint(codec) 0x12 0x20 digest`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(36);
        put_varint(&mut out, 1);
        put_varint(&mut out, self.codec);
        put_varint(&mut out, SHA2_256);
        put_varint(&mut out, 32);
        out.extend_from_slice(&self.digest);
        out
    }

    /// Parses the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes;
        let version = take_varint(&mut rest).ok_or("truncated version")?;
        if version != 1 {
            return Err(format!("CID version {version}, expected 1"));
        }
        let codec = take_varint(&mut rest).ok_or("truncated codec")?;
        if codec != CODEC_RAW && codec != CODEC_DAG_PB {
            return Err(format!(
                "codec 0x{codec:x}, expected raw (0x55) or dag-pb (0x70)"
            ));
        }
        let hash = take_varint(&mut rest).ok_or("truncated multihash")?;
        if hash != SHA2_256 {
            return Err(format!("multihash 0x{hash:x}, expected sha2-256 (0x12)"));
        }
        let len = take_varint(&mut rest).ok_or("truncated digest length")?;
        if len != 32 || rest.len() != 32 {
            return Err(format!(
                "digest of {} bytes (declared {len}), expected 32",
                rest.len()
            ));
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(rest);
        Ok(Self { codec, digest })
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b")?;
        f.write_str(&base32_encode(&self.to_bytes()))
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({self})")
    }
}

impl FromStr for Cid {
    type Err = CidError;

    fn from_str(s: &str) -> Result<Self, CidError> {
        let err = |reason: String| CidError {
            text: s.chars().take(100).collect(),
            reason,
        };
        let body = s.strip_prefix('b').ok_or_else(|| {
            err(if s.starts_with("Qm") {
                "a CIDv0; Blyan records CIDv1 (base32, raw leaves)".into()
            } else {
                "not base32 multibase (must start with 'b')".into()
            })
        })?;
        let bytes = base32_decode(body).ok_or_else(|| err("bad base32 lower-case text".into()))?;
        let cid = Cid::from_bytes(&bytes).map_err(err)?;
        // One spelling only: re-encoding must give the same text.
        if cid.to_string() != s {
            return Err(err("not in canonical form".into()));
        }
        Ok(cid)
    }
}

impl serde::Serialize for Cid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Cid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Appends an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint (at most 9 bytes, minimal encoding).
fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return None; // not minimal
            }
            return Some(v);
        }
    }
    None
}

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// RFC 4648 base32, lower case, no padding.
fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = B32.iter().position(|&x| x == c)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    // Leftover bits must be padding zeros, fewer than 5 of them.
    (bits < 5 && acc == 0).then_some(out)
}
