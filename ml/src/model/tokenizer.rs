//! Byte-level tokenizer: ids 0..=255 are the bytes, then a few specials. Nothing to download,
//! every string round-trips.

/// Beginning of a sequence.
pub const BOS: u32 = 256;
/// End of a sequence (generation stops here).
pub const EOS: u32 = 257;
/// Padding (never a training target).
pub const PAD: u32 = 258;
/// Number of ids: 256 bytes + BOS, EOS, PAD.
pub const VOCAB_SIZE: usize = 259;

/// Ids of `text`'s UTF-8 bytes, without specials.
pub fn encode(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// `BOS`, the bytes of `text`, `EOS`: one training document.
pub fn encode_document(text: &str) -> Vec<u32> {
    let mut ids = Vec::with_capacity(text.len() + 2);
    ids.push(BOS);
    ids.extend(text.bytes().map(u32::from));
    ids.push(EOS);
    ids
}

/// The text of the byte ids in `ids` (specials skipped, invalid UTF-8 replaced): what a
/// [`Utf8Stream`](super::Utf8Stream) fed these ids one by one releases, then finishes with.
pub fn decode(ids: &[u32]) -> String {
    let mut stream = super::Utf8Stream::new();
    let mut text: String = ids.iter().map(|&i| stream.push(i)).collect();
    text.push_str(&stream.finish());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_utf8_and_skips_specials() {
        let s = "12+7=19; naïve ✓";
        assert_eq!(decode(&encode(s)), s);
        let d = encode_document("ab");
        assert_eq!(d, [BOS, 97, 98, EOS]);
        assert_eq!(decode(&d), "ab");
    }
}
