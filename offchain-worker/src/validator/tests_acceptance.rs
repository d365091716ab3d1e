//! The acceptance set: the hidden sample's seed, the set it gives on the real corpus, and
//! the losses attested with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use candle_core::Device;

use super::*;
use crate::compress::tensors_to_delta;
use crate::data::{synth, TextSplits, DEFAULT_HIDDEN_SAMPLE, KJV_PATH};
use crate::model::{MetaConfig, Model};
use crate::tensorblock::DEFAULT_TILE_SIZE;

const HASH_A: [u8; 32] = [0xa1; 32];
const HASH_B: [u8; 32] = [0xb2; 32];

/// The KJV split for `small`'s context, loaded once.
fn kjv() -> &'static TextSplits {
    static S: OnceLock<TextSplits> = OnceLock::new();
    S.get_or_init(|| {
        HiddenCorpus::new(KJV_PATH.into(), DEFAULT_HIDDEN_SAMPLE)
            .splits(MetaConfig::small().max_seq)
            .unwrap_or_else(|e| panic!("{KJV_PATH}: {e:#}"))
            .clone()
    })
}

fn public() -> Vec<String> {
    kjv().val_set(16)
}

fn set(model: &str, round: u64, hash: &[u8]) -> RoundSet {
    RoundSet::with_hidden(
        model,
        round,
        Vec::new(),
        hash,
        &public(),
        kjv(),
        DEFAULT_HIDDEN_SAMPLE,
    )
}

#[test]
fn the_seed_depends_on_model_round_and_block_hash_only() {
    let s = hidden_seed("blyan-small", 3, &HASH_A);
    assert_eq!(s, hidden_seed("blyan-small", 3, &HASH_A));
    assert_ne!(s, hidden_seed("blyan-small", 4, &HASH_A));
    assert_ne!(s, hidden_seed("blyan-small", 3, &HASH_B));
    assert_ne!(s, hidden_seed("blyan-tiny", 3, &HASH_A));
    // lengths are part of the hash: moving a byte from the model id to the hash differs
    assert_ne!(hidden_seed("ab", 1, b"c"), hidden_seed("a", 1, b"bc"));
}

#[test]
fn every_validator_derives_the_same_set_and_it_changes_each_round() {
    let a = set("blyan-small", 3, &HASH_A);
    assert_eq!(a, set("blyan-small", 3, &HASH_A));
    assert_eq!(a.seed, Some(hidden_seed("blyan-small", 3, &HASH_A)));
    assert_eq!(a.hidden, DEFAULT_HIDDEN_SAMPLE);
    assert_eq!(a.texts.len(), public().len() + DEFAULT_HIDDEN_SAMPLE);
    assert_eq!(a.texts[..public().len()], public()[..]);
    let hidden =
        |s: &RoundSet| -> BTreeSet<String> { s.texts[public().len()..].iter().cloned().collect() };
    assert_eq!(hidden(&a).len(), DEFAULT_HIDDEN_SAMPLE, "distinct passages");
    for other in [
        set("blyan-small", 4, &HASH_A),
        set("blyan-small", 3, &HASH_B),
    ] {
        assert_ne!(hidden(&a), hidden(&other));
        // a different sample of the same region, not a disjoint corpus
        assert_eq!(a.texts[..public().len()], other.texts[..public().len()]);
    }
}

#[test]
fn the_hidden_sample_never_touches_training_or_the_public_set() {
    let s = kjv();
    let train: BTreeSet<&str> = s.train.iter().map(String::as_str).collect();
    let region: BTreeSet<&str> = s.hidden.iter().map(String::as_str).collect();
    for round in 0..20u64 {
        let r = set("blyan-small", round, &round.to_le_bytes());
        for t in &r.texts[public().len()..] {
            assert!(
                !train.contains(t.as_str()),
                "round {round}: {t:?} is training text"
            );
            assert!(
                region.contains(t.as_str()),
                "round {round}: {t:?} not hidden"
            );
            assert!(!public().contains(t));
        }
    }
}

#[test]
fn a_hidden_passage_already_public_is_not_added_twice() {
    let splits = TextSplits {
        train: vec!["t".into()],
        val: Vec::new(),
        hidden: vec!["a".into(), "b".into(), "c".into()],
    };
    let public = vec!["b".to_string(), "v".to_string()];
    let s = acceptance_set(&public, &splits, 1, 3);
    assert_eq!(s[..2], public[..]);
    let mut tail = s[2..].to_vec();
    tail.sort();
    assert_eq!(tail, ["a", "c"]);
}

#[test]
fn the_chained_loss_moves_the_recorded_loss_by_the_measured_improvement() {
    // base 3.2 nats on this round's set, new model 3.1: 0.1 better than the recorded 3.0
    assert_eq!(chained_loss(3_000_000, 3_200_000, 3_100_000), 2_900_000);
    // worse on the set: the index goes up by as much
    assert_eq!(chained_loss(3_000_000, 3_200_000, 3_250_000), 3_050_000);
    assert_eq!(chained_loss(3_000_000, 3_200_000, 3_200_000), 3_000_000);
    // clamped to what the chain takes
    assert_eq!(chained_loss(100, 5_000_000, 1_000_000), 1);
    assert_eq!(chained_loss(MAX_LOSS_MICRO, 0, 5), MAX_LOSS_MICRO);
    assert_eq!(chained_loss(u64::MAX, 0, u64::MAX), MAX_LOSS_MICRO);
}

#[test]
fn rebasing_moves_only_losses_measured_alone() {
    let o = |submission, loss, contribution| Outcome {
        submission,
        flags: 0,
        loss,
        noise: 0,
        contribution,
        note: String::new(),
    };
    let mut outcomes = vec![
        o(1, Some(2_950_000), Some(50_000)),
        o(2, Some(3_300_000), None),
        o(3, None, None),
    ];
    rebase_alone(&mut outcomes, 3_000_000, 3_200_000);
    assert_eq!(outcomes[0].loss, Some(2_950_000));
    assert_eq!(outcomes[1].loss, Some(3_100_000));
    assert!(outcomes[1].note.contains("reported 3100000"));
    assert_eq!(outcomes[2].loss, None);
}

fn tiny_base() -> Base {
    let cfg = MetaConfig::tiny();
    let m = Model::init(&cfg, 5, &Device::Cpu).unwrap();
    let blocks = Model::block_names(&cfg)
        .iter()
        .map(|b| {
            let tensors = tensors_to_delta(&m.block_tensors(b).unwrap()).unwrap();
            let w = BlockWeights {
                block: b.to_string(),
                tensors,
                tile_size: DEFAULT_TILE_SIZE,
            };
            (b.to_string(), w)
        })
        .collect();
    Base::from_weights(&cfg, blocks, Vec::new(), &Device::Cpu).unwrap()
}

fn synth_texts(split: &str, n: usize) -> Vec<String> {
    synth::split(7, split, n)
        .into_iter()
        .map(|e| e.text)
        .collect()
}

/// The base with every value of its first block scaled by `k`.
fn scaled(base: &Base, k: f32) -> BTreeMap<String, BlockWeights> {
    let name = base.layouts().keys().next().unwrap().clone();
    let mut w = base.block(&name).unwrap().clone();
    for t in &mut w.tensors {
        t.values.iter_mut().for_each(|v| *v *= k);
    }
    BTreeMap::from([(name, w)])
}

#[test]
fn phase_two_attests_the_recorded_loss_moved_by_the_gain_on_the_round_set() {
    let mut base = tiny_base();
    let public = synth_texts("val", 6);
    let splits = TextSplits {
        train: Vec::new(),
        val: Vec::new(),
        // marked so that no hidden text equals a public one
        hidden: synth_texts("hidden", 20)
            .into_iter()
            .map(|t| format!("# {t}"))
            .collect(),
    };
    let new = scaled(&base, 0.5);
    let mut s = RoundSet::with_hidden("m", 1, Vec::new(), &HASH_A, &public, &splits, 5);
    assert_eq!((s.texts.len(), s.hidden), (11, 5));
    let base_on_set = base.loss_with(&BTreeMap::new(), &s.texts).unwrap().unwrap();
    let new_on_set = base.loss_with(&new, &s.texts).unwrap().unwrap();
    assert_ne!(base_on_set, new_on_set);
    let recorded = 4_000_000;
    let (attested, on_set) = phase2_loss(&mut s, &mut base, &new, Some(recorded), &public).unwrap();
    assert_eq!(on_set, Some(new_on_set));
    assert_eq!(
        attested,
        chained_loss(recorded, base_on_set, new_on_set),
        "recorded − (base − new) on the set"
    );
    assert_eq!(s.measured_base_loss(), Some(Some(base_on_set)), "cached");
    // the base itself keeps the recorded loss
    let (same, _) =
        phase2_loss(&mut s, &mut base, &BTreeMap::new(), Some(recorded), &public).unwrap();
    assert_eq!(same, recorded);
    // no recorded loss yet: the new model's loss on the public set
    let on_public = base.loss_with(&new, &public).unwrap().unwrap();
    let (first, _) = phase2_loss(&mut s, &mut base, &new, None, &public).unwrap();
    assert_eq!(first, on_public);
    // without a hidden corpus: the loss on the public set, as measured
    let mut p = RoundSet::public(1, Vec::new(), &public);
    let (plain, _) = phase2_loss(&mut p, &mut base, &new, Some(recorded), &public).unwrap();
    assert_eq!(plain, on_public);
    assert_eq!(p.measured_base_loss(), None, "no extra evaluation");
}

#[test]
fn phase_one_rebases_alone_losses_only_with_a_hidden_sample_and_a_recorded_loss() {
    let mut base = tiny_base();
    let public = synth_texts("val", 4);
    let splits = TextSplits {
        train: Vec::new(),
        val: Vec::new(),
        hidden: vec!["# hidden one".into(), "# hidden two".into()],
    };
    let alone = || Outcome {
        submission: 1,
        flags: 0,
        loss: Some(9_000_000),
        noise: 0,
        contribution: None,
        note: String::new(),
    };
    let by_contribution = Outcome {
        submission: 2,
        loss: Some(2_990_000),
        contribution: Some(10_000),
        ..alone()
    };
    // only contributions: the base is not measured
    let mut s = RoundSet::with_hidden("m", 2, Vec::new(), &HASH_B, &public, &splits, 2);
    let mut only = vec![by_contribution.clone()];
    rebase_phase1(&mut s, &mut base, Some(3_000_000), &mut only).unwrap();
    assert_eq!(
        (only[0].loss, s.measured_base_loss()),
        (Some(2_990_000), None)
    );
    // no recorded loss, or no hidden sample: unchanged
    let mut o = vec![alone()];
    rebase_phase1(&mut s, &mut base, None, &mut o).unwrap();
    let mut p = RoundSet::public(2, Vec::new(), &public);
    rebase_phase1(&mut p, &mut base, Some(3_000_000), &mut o).unwrap();
    assert_eq!(o[0].loss, Some(9_000_000));
    // with both: moved by the base's loss on the set
    let b = base.loss_with(&BTreeMap::new(), &s.texts).unwrap().unwrap();
    let mut o = vec![alone(), by_contribution];
    rebase_phase1(&mut s, &mut base, Some(3_000_000), &mut o).unwrap();
    assert_eq!(o[0].loss, Some(chained_loss(3_000_000, b, 9_000_000)));
    assert_eq!(o[1].loss, Some(2_990_000));
    assert_eq!(s.measured_base_loss(), Some(Some(b)));
}

#[test]
fn a_missing_corpus_is_an_error() {
    let mut h = HiddenCorpus::new(Path::new("/nonexistent/bible.data").into(), 4);
    assert!(h.splits(64).is_err());
}
