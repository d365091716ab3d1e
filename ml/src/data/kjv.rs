//! Reading Debian's `bible-kjv-text` data file (`/usr/lib/bible.data`).
//!
//! The package ships the King James Version in the "EC02" format of Chip Chapin's Bible
//! Retrieval System: a 0x54-byte header (magic `EC02`, a description), the uncompressed
//! block size (u32 big-endian, 65536), the block count `n` (u32 BE), `n + 1` file offsets
//! (u32 BE) of the compressed blocks, then each block compressed on its own with the LZW
//! of Unix `compress` (block mode, 9 to 16-bit codes, least significant bit first, code 256
//! clears the table, codes read in groups of `n_bits` bytes so a width change skips to the
//! next group). The decoded text is one header line, then one verse a line:
//! `Ge1:1 In the beginning God created the heaven and the earth.` — byte for byte what
//! `bible -f Gen1:1-Rev22:21` (package `bible-kjv`) prints after the header.

use std::path::Path;

use super::DataError;

/// Where Debian's `bible-kjv-text` installs the text.
pub const KJV_PATH: &str = "/usr/lib/bible.data";
/// The Debian package that ships [`KJV_PATH`].
pub const KJV_PACKAGE: &str = "bible-kjv-text";

const MAGIC: &[u8; 4] = b"EC02";
const HEADER: usize = 0x54;
const MAX_BITS: u32 = 16;
const CLEAR: usize = 256;
const FIRST: usize = 257;

/// Whether `bytes` start like an EC02 file.
pub fn is_ec02(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn be32(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(b)).ok()
}

/// The decoded text of an EC02 file's bytes.
pub fn decode_ec02(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let bad = |reason: String| DataError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if !is_ec02(bytes) {
        return Err(bad("not an EC02 file (no EC02 magic)".into()));
    }
    let block_size = be32(bytes, HEADER).ok_or_else(|| bad("truncated header".into()))?;
    let n = be32(bytes, HEADER + 4).ok_or_else(|| bad("truncated header".into()))?;
    if block_size == 0 || block_size > 1 << 20 || n == 0 || n > 1 << 16 {
        return Err(bad(format!(
            "implausible header: {n} blocks of {block_size}"
        )));
    }
    let offsets: Vec<usize> = (0..=n)
        .map(|i| be32(bytes, HEADER + 8 + 4 * i))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("truncated block index".into()))?;
    if offsets.windows(2).any(|w| w[0] > w[1]) || offsets[n] != bytes.len() {
        return Err(bad("block offsets out of order or past the end".into()));
    }
    let mut out = Vec::with_capacity(n * block_size);
    for (i, w) in offsets.windows(2).enumerate() {
        let before = out.len();
        lzw_block(&bytes[w[0]..w[1]], &mut out, block_size)
            .map_err(|e| bad(format!("block {i}: {e}")))?;
        let len = out.len() - before;
        if len != block_size && i + 1 != n {
            return Err(bad(format!(
                "block {i} decodes to {len} bytes, not {block_size}"
            )));
        }
    }
    Ok(out)
}

/// Decodes one `compress` (LZW) block into `out`, at most `limit` bytes.
fn lzw_block(input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), String> {
    let table = 1usize << MAX_BITS;
    let mut prefix = vec![0u16; table];
    let mut suffix = vec![0u8; table];
    let mut stack: Vec<u8> = Vec::new();
    let total = input.len() * 8;
    let (mut n_bits, mut free) = (9u32, FIRST);
    let (mut bitpos, mut group_start) = (0usize, 0usize);
    let mut old: Option<usize> = None;
    let start = out.len();
    // skip to the start of the next group of `n_bits` bytes
    let realign = |bitpos: usize, group_start: usize, n_bits: u32| {
        let g = n_bits as usize * 8;
        group_start + (bitpos - group_start).div_ceil(g) * g
    };
    while bitpos + n_bits as usize <= total {
        let byte = bitpos / 8;
        let mut word = 0u32;
        for k in 0..4 {
            word |= u32::from(input.get(byte + k).copied().unwrap_or(0)) << (8 * k);
        }
        let code = ((word >> (bitpos % 8)) & ((1 << n_bits) - 1)) as usize;
        bitpos += n_bits as usize;
        if code == CLEAR {
            bitpos = realign(bitpos, group_start, n_bits);
            group_start = bitpos;
            (n_bits, free, old) = (9, FIRST, None);
            continue;
        }
        // the string of `code`, built backwards on the stack
        stack.clear();
        let kwkwk = code == free;
        let mut c = match old {
            // the entry being defined: old's string plus its own first byte
            Some(o) if kwkwk => {
                stack.push(0); // patched below with that first byte
                o
            }
            _ if code < free => code,
            _ => return Err(format!("bad code {code} (next free {free})")),
        };
        while c >= FIRST {
            stack.push(suffix[c]);
            c = usize::from(prefix[c]);
        }
        let first = c as u8;
        stack.push(first);
        if kwkwk {
            stack[0] = first;
        }
        out.extend(stack.iter().rev());
        if out.len() - start > limit {
            return Err(format!("decodes past {limit} bytes"));
        }
        if let Some(o) = old {
            if free < table {
                prefix[free] = o as u16;
                suffix[free] = first;
                free += 1;
                if free > (1 << n_bits) - 1 && n_bits < MAX_BITS {
                    bitpos = realign(bitpos, group_start, n_bits);
                    group_start = bitpos;
                    n_bits += 1;
                }
            }
        }
        old = Some(code);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_files() {
        let p = Path::new("x");
        assert!(matches!(
            decode_ec02(p, b"plain text"),
            Err(DataError::Format { .. })
        ));
        let mut h = vec![0u8; HEADER + 16];
        h[..4].copy_from_slice(MAGIC);
        h[HEADER + 2] = 1; // block size 65536
        h[HEADER + 7] = 1; // one block
        h[HEADER + 11] = 200; // offset past the end
        assert!(matches!(decode_ec02(p, &h), Err(DataError::Format { .. })));
    }

    /// Codes 0x48 'H', 0x6f 'o', 0x6c 'l', 0x79 'y' at 9 bits, LSB first (the first bytes
    /// of the KJV file), then the code of the first new entry ("Ho").
    #[test]
    fn decodes_lzw_codes() {
        let codes = [0x48u32, 0x6f, 0x6c, 0x79, 257];
        let mut bits = 0u64;
        for (i, c) in codes.iter().enumerate() {
            bits |= u64::from(*c) << (9 * i);
        }
        let bytes: Vec<u8> = bits.to_le_bytes()[..6].to_vec();
        let mut out = Vec::new();
        lzw_block(&bytes, &mut out, 100).unwrap();
        assert_eq!(out, b"HolyHo");
        let mut out = Vec::new();
        // code 300 is neither known nor the next free one
        let bad = (u64::from(0x48u32) | (300 << 9)).to_le_bytes();
        assert!(lzw_block(&bad[..3], &mut out, 100).is_err());
    }
}
