//! Tests of the real-text corpus on Debian's `bible-kjv-text` (they fail, never skip, when
//! the package is missing: `run-tests.sh` installs it).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use sha3::Digest;

use super::kjv::{decode_ec02, KJV_PATH};
use super::split::texts_jsonl;
use super::*;

/// The KJV cut for the `small` preset (127-byte passages), loaded once.
fn kjv() -> &'static TextCorpus {
    static C: OnceLock<TextCorpus> = OnceLock::new();
    C.get_or_init(|| {
        TextCorpus::load(Path::new(KJV_PATH), passage_bytes(128))
            .unwrap_or_else(|e| panic!("{e} (run-tests.sh installs bible-kjv-text)"))
    })
}

fn set(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn kjv_decodes_to_the_text_the_bible_program_prints() {
    let raw = std::fs::read(KJV_PATH).unwrap_or_else(|e| panic!("{KJV_PATH}: {e}"));
    let text = decode_ec02(Path::new(KJV_PATH), &raw).unwrap();
    // 4 404 475 bytes: the header line and 31 102 verses, as `bible -f Gen1:1-Rev22:21`
    assert_eq!(text.len(), 4_404_475);
    assert_eq!(
        hex::encode(sha3::Sha3_256::digest(&text)),
        "af24576ee0774515a9071b8c3fdeb94a719608e289ab80ab17071b748d8d8085"
    );
    let s = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 31_103);
    assert_eq!(
        lines[1],
        "Ge1:1 In the beginning God created the heaven and the earth."
    );
    assert!(lines[31_102].starts_with("Rev22:21 The grace of our Lord Jesus Christ"));

    let c = kjv();
    assert_eq!(
        c.passages[0].text,
        "In the beginning God created the heaven and the earth."
    );
    assert!(c.passages[1]
        .text
        .starts_with("And the earth was without form"));
    assert!(c.passages.iter().all(|p| p.text.len() <= 127));
    assert!(c.passages.iter().all(|p| p.text.is_ascii()));
    let chapters: BTreeSet<&str> = c.passages.iter().map(|p| p.group.as_str()).collect();
    assert_eq!(chapters.len(), 1189);
    assert!(c.dataset_ref().starts_with("text:sha3=bca058fc"));
}

#[test]
fn splits_are_deterministic_disjoint_and_sized() {
    let c = kjv();
    let spec = SplitSpec::default();
    let s = c.split(&spec);
    assert_eq!(s, c.split(&spec));
    let (tr, va, hi) = (set(&s.train), set(&s.val), set(&s.hidden));
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&hi) && va.is_disjoint(&hi));
    let n = c.passages.len() as f64;
    let (fv, fh) = (s.val.len() as f64 / n, s.hidden.len() as f64 / n);
    assert!((0.01..0.04).contains(&fv), "val share {fv}");
    assert!((0.015..0.05).contains(&fh), "hidden share {fh}");
    assert!(s.train.len() + s.val.len() + s.hidden.len() <= c.passages.len());
    // each region's text comes from groups of that region only
    let mut by_region: [BTreeSet<&str>; 3] = Default::default();
    for p in &c.passages {
        by_region[spec.region(&p.group) as usize].insert(p.text.as_str());
    }
    assert!(tr.is_subset(&by_region[0]) && va.is_subset(&by_region[1]));
    assert_eq!(hi, by_region[2]);
    let other = c.split(&SplitSpec { seed: 2, ..spec });
    assert_ne!(other.val, s.val);
    // the public validation set spreads over the region, and the file holds what it says
    let v = s.val_set(100);
    assert_eq!(v.len(), 100);
    assert_eq!(
        (v[0].as_str(), s.val_set(100)),
        (s.val[0].as_str(), v.clone())
    );
    assert!(v.iter().all(|t| va.contains(t.as_str())));
    let d = tempfile::tempdir().unwrap();
    let files = write_text_splits(d.path(), &s, 100).unwrap();
    assert_eq!(std::fs::read(&files.val).unwrap(), texts_jsonl(&v));
    assert_eq!(load_texts(&files.val).unwrap(), v);
    assert_eq!(load_texts(&files.train).unwrap().len(), s.train.len());
}

#[test]
fn hidden_samples_vary_by_seed_and_never_touch_training() {
    let s = kjv().split(&SplitSpec::default());
    let (tr, hi) = (set(&s.train), set(&s.hidden));
    let a = s.hidden_sample(7, 64);
    assert_eq!(a, s.hidden_sample(7, 64));
    assert_eq!(a.len(), 64);
    assert_eq!(set(&a).len(), 64, "distinct passages");
    assert!(a
        .iter()
        .all(|t| hi.contains(t.as_str()) && !tr.contains(t.as_str())));
    let b = s.hidden_sample(8, 64);
    assert_ne!(a, b);
    assert!(set(&a).intersection(&set(&b)).count() < 32);
    assert_eq!(s.hidden_sample(1, usize::MAX).len(), s.hidden.len());
    // miners' shards come from the training region only, and differ by seed
    let m1 = s.train_shard(1, 500);
    let m2 = s.train_shard(2, 500);
    assert_eq!(m1, s.train_shard(1, 500));
    assert_ne!(m1, m2);
    assert!(m1.iter().chain(&m2).all(|t| tr.contains(t.as_str())));
    let held = set(&s.val).union(&hi).copied().collect::<BTreeSet<_>>();
    assert!(m1.iter().all(|t| !held.contains(t.as_str())));
}

#[test]
fn missing_corpus_is_an_error_naming_the_package() {
    let d = tempfile::tempdir().unwrap();
    let err = TextCorpus::load(&d.path().join("bible.data"), 127).unwrap_err();
    assert!(matches!(err, DataError::CorpusMissing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("apt-get install bible-kjv-text"), "{msg}");
    let err = TextSplits::load(&d.path().join("none"), 128, &SplitSpec::default()).unwrap_err();
    assert!(matches!(err, DataError::CorpusMissing { .. }));
    // an empty file and a truncated EC02 file are format errors
    let e = d.path().join("empty.txt");
    std::fs::write(&e, "\n\n").unwrap();
    assert!(matches!(
        TextCorpus::load(&e, 127),
        Err(DataError::Format { .. })
    ));
    let raw = std::fs::read(KJV_PATH).unwrap();
    std::fs::write(&e, &raw[..5000]).unwrap();
    assert!(matches!(
        TextCorpus::load(&e, 127),
        Err(DataError::Format { .. })
    ));
}

#[test]
fn plain_text_files_load_as_paragraphs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("book.txt");
    let mut body = String::new();
    for i in 0..400 {
        body.push_str(&format!(
            "Paragraph {i} has some words\nacross two lines.\n\n"
        ));
    }
    std::fs::write(&p, body).unwrap();
    let c = TextCorpus::load(&p, 127).unwrap();
    assert_eq!(c.passages.len(), 400);
    assert_eq!(
        c.passages[3].text,
        "Paragraph 3 has some words across two lines."
    );
    let s = c.split(&SplitSpec::default());
    assert_eq!(s.train.len() + s.val.len() + s.hidden.len(), 400);
    assert!(!s.train.is_empty() && !s.val.is_empty() && !s.hidden.is_empty());
}
