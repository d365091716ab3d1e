use super::*;
use crate::data::synth;
use crate::eval::validation_loss;
use crate::model::MetaConfig;
use candle_core::Device;

fn texts(split: &str, n: usize) -> Vec<String> {
    synth::split(5, split, n)
        .into_iter()
        .map(|e| e.text)
        .collect()
}

fn train_seqs(cfg: &MetaConfig, n: usize) -> Vec<Vec<u32>> {
    data::sequences(&texts("train", n), cfg.max_seq)
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn mean(xs: &[f32]) -> f32 {
    xs.iter().sum::<f32>() / xs.len() as f32
}

/// `model` with `base + delta` for every block in `deltas`.
fn apply(model: &Model, deltas: &BTreeMap<BlockName, BTreeMap<String, Tensor>>) -> Model {
    let mut m = model.clone();
    for (b, d) in deltas {
        let base = model.block_tensors(b).unwrap();
        let new = base
            .iter()
            .map(|(k, t)| (k.clone(), (t + &d[k]).unwrap()))
            .collect();
        m.set_block(b, &new).unwrap();
    }
    m
}

#[test]
fn training_one_expert_changes_only_that_block_and_lowers_the_loss() {
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 1, &Device::Cpu).unwrap();
    let seqs = train_seqs(&cfg, 600);
    let expert = BlockName::Expert {
        layer: 0,
        expert: 1,
    };
    let tc = TrainConfig {
        steps: 50,
        lr: 1e-2,
        ..TrainConfig::default()
    };
    let mut seen = Vec::new();
    let out = train(&model, &[expert], &seqs, &tc, &mut |s, l| seen.push((s, l))).unwrap();
    assert_eq!(out.steps, 50);
    assert_eq!(out.losses.len(), 50);
    assert_eq!(out.batch_hashes.len(), 50);
    assert_eq!(seen.len(), 50);
    assert_eq!(seen[49], (49, out.losses[49]));
    assert_eq!(out.samples, 50 * 8);
    assert!(out.tokens > out.samples * 5, "{}", out.tokens);
    assert_eq!(out.deltas.keys().collect::<Vec<_>>(), [&expert]);
    assert_eq!(out.trained.keys().collect::<Vec<_>>(), [&expert]);

    // the caller's model is untouched; trained = base + delta; the delta is not zero
    let fresh = Model::init(&cfg, 1, &Device::Cpu).unwrap();
    for b in Model::block_names(&cfg) {
        let (now, orig) = (
            model.block_tensors(&b).unwrap(),
            fresh.block_tensors(&b).unwrap(),
        );
        for (k, t) in &now {
            assert_eq!(
                flat(t),
                flat(&orig[k]),
                "{b}.{k} changed in the caller's model"
            );
        }
    }
    let base = model.block_tensors(&expert).unwrap();
    for (k, d) in &out.deltas[&expert] {
        let (d, b, n) = (flat(d), flat(&base[k]), flat(&out.trained[&expert][k]));
        assert!(d.iter().any(|x| *x != 0.0), "{k}: zero delta");
        for ((d, b), n) in d.iter().zip(&b).zip(&n) {
            assert!((b + d - n).abs() <= 1e-6 * n.abs().max(1.0));
        }
    }
    let (first, last) = (mean(&out.losses[..5]), mean(&out.losses[45..]));
    assert!(last < first - 0.3, "loss {first} -> {last}");
}

#[test]
fn two_runs_give_bit_identical_deltas() {
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 2, &Device::Cpu).unwrap();
    let seqs = train_seqs(&cfg, 40);
    let blocks = parse_blocks("all", &cfg).unwrap();
    let tc = TrainConfig {
        steps: 8,
        batch_size: 4,
        seed: 9,
        ..TrainConfig::default()
    };
    let a = train(&model, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    let b = train(&model, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    assert_eq!(a.losses, b.losses);
    assert_eq!(a.batch_hashes, b.batch_hashes);
    assert_eq!((a.tokens, a.samples), (b.tokens, b.samples));
    assert_eq!(a.deltas.len(), blocks.len());
    for (name, da) in &a.deltas {
        for (k, t) in da {
            let (x, y) = (flat(t), flat(&b.deltas[name][k]));
            let same = x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same, "{name}.{k} differs between runs");
        }
    }
    // more steps than one epoch (40 lines -> 10 batches of 4 per epoch): epochs reshuffle
    let long = TrainConfig {
        steps: 12,
        ..tc.clone()
    };
    let c = train(&model, &blocks[..1], &seqs, &long, &mut |_, _| {}).unwrap();
    assert_eq!(c.batch_hashes[..8], a.batch_hashes[..]);
    let other = TrainConfig { seed: 10, ..tc };
    let d = train(&model, &blocks[..1], &seqs, &other, &mut |_, _| {}).unwrap();
    assert_ne!(d.batch_hashes, a.batch_hashes);
}

#[test]
fn block_specs_parse() {
    let cfg = MetaConfig::tiny();
    let p = |s: &str| parse_blocks(s, &cfg);
    let layer1 = p("layer1").unwrap();
    assert_eq!(layer1.len(), 2 + cfg.n_experts);
    assert_eq!(layer1[0], BlockName::Backbone { layer: 1 });
    assert_eq!(layer1[1], BlockName::Router { layer: 1 });
    assert!(layer1.iter().all(|b| b.layer() == Some(1)));
    assert_eq!(p("all").unwrap(), Model::block_names(&cfg));
    assert_eq!(p("head, all,embed").unwrap(), Model::block_names(&cfg));
    assert_eq!(
        p("head,layer0.expert1, layer0.expert1").unwrap(),
        [
            BlockName::Expert {
                layer: 0,
                expert: 1
            },
            BlockName::Head
        ]
    );
    assert_eq!(p("layer0.expert1,layer0").unwrap().len(), 2 + cfg.n_experts);
    for bad in [
        "",
        "layer2",
        "layer0.expert4",
        "layer01",
        "layer0,,head",
        "everything",
        "layer0.mlp",
    ] {
        assert!(matches!(p(bad), Err(TrainError::Blocks(_))), "{bad:?}");
    }
}

#[test]
fn label_flipping_is_an_involution_on_printable_ascii() {
    for t in 0..crate::model::tokenizer::VOCAB_SIZE as u32 {
        let f = flip(t);
        assert_eq!(flip(f), t);
        assert_eq!(TargetMode::Normal.map(t), t);
        assert_eq!(TargetMode::Flipped.map(t), f);
        if (32..=126).contains(&t) {
            assert!((32..=126).contains(&f));
        } else {
            assert_eq!(f, t);
        }
    }
    assert_eq!(flip(u32::from(b' ')), u32::from(b'~'));
    assert_eq!(flip(u32::from(b'0')), u32::from(b'n'));
    assert_ne!(flip(u32::from(b'a')), u32::from(b'a'));

    // a flipped run learns something else from the same batches
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 3, &Device::Cpu).unwrap();
    let seqs = train_seqs(&cfg, 16);
    let head = [BlockName::Head];
    let tc = TrainConfig {
        steps: 2,
        ..TrainConfig::default()
    };
    let flipped = TrainConfig {
        targets: TargetMode::Flipped,
        ..tc.clone()
    };
    let a = train(&model, &head, &seqs, &tc, &mut |_, _| {}).unwrap();
    let b = train(&model, &head, &seqs, &flipped, &mut |_, _| {}).unwrap();
    assert_eq!(a.batch_hashes, b.batch_hashes);
    let k = "lm_head.weight";
    assert_ne!(flat(&a.deltas[&head[0]][k]), flat(&b.deltas[&head[0]][k]));
}

#[test]
fn bad_inputs_are_errors() {
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 1, &Device::Cpu).unwrap();
    let seqs = train_seqs(&cfg, 4);
    let tc = TrainConfig::default();
    let head = [BlockName::Head];
    let run =
        |b: &[BlockName], s: &[Vec<u32>], c: &TrainConfig| train(&model, b, s, c, &mut |_, _| {});
    assert!(matches!(run(&[], &seqs, &tc), Err(TrainError::Blocks(_))));
    assert!(matches!(
        run(&[BlockName::Head, BlockName::Head], &seqs, &tc),
        Err(TrainError::Blocks(_))
    ));
    assert!(matches!(
        run(&[BlockName::Router { layer: 7 }], &seqs, &tc),
        Err(TrainError::Model(_))
    ));
    assert!(matches!(run(&head, &[], &tc), Err(TrainError::Config(_))));
    assert!(matches!(
        run(&head, &[vec![1]], &tc),
        Err(TrainError::Config(_))
    ));
    assert!(matches!(
        run(&head, &[vec![1; cfg.max_seq + 2]], &tc),
        Err(TrainError::Config(_))
    ));
    let zero = TrainConfig {
        batch_size: 0,
        ..tc.clone()
    };
    assert!(matches!(
        run(&head, &seqs, &zero),
        Err(TrainError::Config(_))
    ));
    let nan = TrainConfig {
        lr: f64::NAN,
        ..tc.clone()
    };
    assert!(matches!(
        run(&head, &seqs, &nan),
        Err(TrainError::Config(_))
    ));
    let none = TrainConfig { steps: 0, ..tc };
    let out = run(&head, &seqs, &none).unwrap();
    assert_eq!((out.steps, out.tokens), (0, 0));
    assert!(flat(&out.deltas[&head[0]]["norm.weight"])
        .iter()
        .all(|x| *x == 0.0));
}

#[test]
fn base_plus_delta_lowers_held_out_validation_loss() {
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 4, &Device::Cpu).unwrap();
    let seqs = train_seqs(&cfg, 2000);
    let val = texts("val", 100);
    let tc = TrainConfig {
        steps: 200,
        ..TrainConfig::default()
    };
    let blocks = parse_blocks("all", &cfg).unwrap();
    let out = train(&model, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    let before = validation_loss(&model, &val, |_, _| {}).unwrap();
    let after = validation_loss(&apply(&model, &out.deltas), &val, |_, _| {}).unwrap();
    assert!(
        after.nats() < before.nats() - 2.0,
        "validation loss {} -> {}",
        before.nats(),
        after.nats()
    );
}
