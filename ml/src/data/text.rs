//! The real English corpus: a text file (by default Debian's King James Version, see
//! [`KJV_PATH`](super::kjv::KJV_PATH)) cut into passages that fit a model's context.
//!
//! Lines of the form `Ge1:1 In the beginning …` are verses: consecutive verses of one
//! chapter are packed into a passage (joined by a space) while it stays within `max_bytes`;
//! the chapter (`Ge1`) is the passage's *group*. Any other text is read as paragraphs
//! (separated by blank lines, their lines joined by a space), each its own group. A unit
//! longer than `max_bytes` is cut between words. The split into train, validation and
//! hidden regions ([`super::split`]) is by group, so one chapter never feeds two regions.
//!
//! A missing file is an error that names the Debian package to install: there is no
//! fallback to the synthetic corpus.

use std::path::{Path, PathBuf};

use sha3::Digest;

use super::kjv::{self, KJV_PACKAGE};
use super::DataError;

/// One passage: text of at most `max_bytes` bytes, and the group it was cut from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The chapter (`Ge1`) of a verse passage, or the paragraph itself for other text.
    pub group: String,
    /// Plain UTF-8 text, no newline.
    pub text: String,
}

/// A loaded corpus.
#[derive(Debug, Clone)]
pub struct TextCorpus {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA3-256 of the file's bytes.
    pub sha3: [u8; 32],
    /// The passage size limit it was cut with.
    pub max_bytes: usize,
    /// Passages in file order.
    pub passages: Vec<Passage>,
}

/// The passage size for a model with `max_seq` positions: `BOS text EOS` then fits one
/// training window of `max_seq + 1` tokens.
pub fn passage_bytes(max_seq: usize) -> usize {
    max_seq.saturating_sub(1).max(1)
}

impl TextCorpus {
    /// Reads `path` (an EC02 file such as Debian's `/usr/lib/bible.data`, or UTF-8 text)
    /// and cuts it into passages of at most `max_bytes` bytes.
    pub fn load(path: &Path, max_bytes: usize) -> Result<Self, DataError> {
        let raw = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DataError::CorpusMissing {
                    path: path.to_path_buf(),
                    package: KJV_PACKAGE,
                }
            } else {
                DataError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let sha3: [u8; 32] = sha3::Sha3_256::digest(&raw).into();
        let (text, skip_header) = if kjv::is_ec02(&raw) {
            (kjv::decode_ec02(path, &raw)?, true)
        } else {
            (raw, false)
        };
        let text = String::from_utf8(text).map_err(|e| DataError::Format {
            path: path.to_path_buf(),
            reason: format!("not UTF-8 text: {e}"),
        })?;
        let mut lines: Vec<&str> = text
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        if skip_header && !lines.is_empty() && verse(lines[0]).is_none() {
            lines.remove(0);
        }
        let passages = passages(&units(&lines), max_bytes.max(1));
        if passages.is_empty() {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                reason: "no text".into(),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha3,
            max_bytes,
            passages,
        })
    }

    /// How training data from this corpus is named on chain:
    /// `text:sha3=<hex of the file>:bytes=<max_bytes>`.
    pub fn dataset_ref(&self) -> String {
        format!(
            "text:sha3={}:bytes={}",
            hex::encode(self.sha3),
            self.max_bytes
        )
    }
}

/// `Ge1:1 text` → `("Ge1", "text")`; `1Sa3:10 …` too.
fn verse(line: &str) -> Option<(&str, &str)> {
    let (r, text) = line.split_once(' ')?;
    let (chapter, v) = r.split_once(':')?;
    let lead = chapter.len() - chapter.trim_start_matches(['1', '2', '3']).len();
    let rest = &chapter[lead..];
    let (book, ch) = rest.split_at(rest.find(|c: char| !c.is_ascii_alphabetic())?);
    let num = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (lead <= 1 && book.len() >= 2 && num(ch) && num(v)).then_some((chapter, text.trim()))
}

/// The units of text in order: `(group, text)`.
fn units(lines: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, out: &mut Vec<(String, String)>| {
        if !para.is_empty() {
            let t = para.join(" ");
            out.push((t.clone(), t));
            para.clear();
        }
    };
    for l in lines {
        let t = l.trim();
        if t.is_empty() {
            flush(&mut para, &mut out);
        } else if let Some((chapter, text)) = verse(t) {
            flush(&mut para, &mut out);
            if !text.is_empty() {
                out.push((chapter.to_string(), text.to_string()));
            }
        } else {
            para.push(t);
        }
    }
    flush(&mut para, &mut out);
    out
}

/// `text` cut between words into pieces of at most `max` bytes (a longer word is cut at a
/// character boundary).
fn pieces(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut w = word;
        while w.len() > max {
            let mut cut = max;
            while !w.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = w.chars().next().map_or(w.len(), char::len_utf8);
            }
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(w[..cut].to_string());
            w = &w[cut..];
        }
        if w.is_empty() {
            continue;
        }
        if !cur.is_empty() && cur.len() + 1 + w.len() > max {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Packs consecutive units of one group into passages of at most `max` bytes.
fn passages(units: &[(String, String)], max: usize) -> Vec<Passage> {
    let mut out: Vec<Passage> = Vec::new();
    for (group, text) in units {
        for piece in pieces(text, max) {
            match out.last_mut() {
                Some(p) if &p.group == group && p.text.len() + 1 + piece.len() <= max => {
                    p.text.push(' ');
                    p.text.push_str(&piece);
                }
                _ => out.push(Passage {
                    group: group.clone(),
                    text: piece,
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verses_parse() {
        assert_eq!(verse("Ge1:1 In the"), Some(("Ge1", "In the")));
        assert_eq!(verse("1Sa3:10 And"), Some(("1Sa3", "And")));
        assert_eq!(verse("Rev22:21 The"), Some(("Rev22", "The")));
        assert_eq!(verse("Holy Bible, Authorized"), None);
        assert_eq!(verse("at 3:15 pm"), None);
        assert_eq!(verse("X1:1 too short a book"), None);
    }

    #[test]
    fn passages_pack_verses_of_one_chapter_and_cut_long_text() {
        let lines = [
            "Ge1:1 aaa bbb",
            "Ge1:2 ccc",
            "Ge2:1 ddd",
            "",
            "A plain paragraph",
            "over two lines.",
            "",
            "Next.",
        ];
        let u = units(&lines);
        assert_eq!(u.len(), 5);
        assert_eq!(u[3].1, "A plain paragraph over two lines.");
        let p = passages(&u, 13);
        let texts: Vec<&str> = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "aaa bbb ccc",
                "ddd",
                "A plain",
                "paragraph",
                "over two",
                "lines.",
                "Next."
            ]
        );
        assert_eq!(p[0].group, "Ge1");
        assert_eq!(p[1].group, "Ge2");
        assert!(p.iter().all(|p| p.text.len() <= 13));
        assert_eq!(pieces("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(pieces("ééé", 3), ["é", "é", "é"]);
    }
}
