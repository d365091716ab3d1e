//! The optimizer state: equivalence with candle's AdamW, continuing runs, warmup, files.

use super::state_file::{self, StateFileError, StoredState};
use super::*;
use crate::data::synth;
use crate::model::MetaConfig;
use candle_core::Device;
use candle_nn::{Optimizer, ParamsAdamW};

fn seqs(cfg: &MetaConfig, n: usize) -> Vec<Vec<u32>> {
    let texts: Vec<String> = synth::split(5, "train", n)
        .into_iter()
        .map(|e| e.text)
        .collect();
    data::sequences(&texts, cfg.max_seq)
}

fn bits(t: &Tensor) -> Vec<u32> {
    let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v.into_iter().map(f32::to_bits).collect()
}

type Weights = BTreeMap<BlockName, BTreeMap<String, Tensor>>;

fn same_weights(a: &Weights, b: &Weights) -> bool {
    a.len() == b.len()
        && a.iter().all(|(n, ta)| {
            ta.iter()
                .all(|(k, t)| b.get(n).and_then(|m| m.get(k)).map(bits) == Some(bits(t)))
        })
}

/// The training loop as it was with `candle_nn::AdamW` (fresh moments, linear warmup).
fn candle_reference(
    model: &Model,
    blocks: &[BlockName],
    seqs: &[Vec<u32>],
    cfg: &TrainConfig,
) -> Weights {
    let meta = model.config().clone();
    let dev = model.device().clone();
    let (mut all, mut vars) = (BTreeMap::new(), BTreeMap::new());
    for name in Model::block_names(&meta) {
        let t: BTreeMap<String, Tensor> = model
            .block_tensors(&name)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, t.detach()))
            .collect();
        if blocks.contains(&name) {
            let v: BTreeMap<String, Var> = t
                .iter()
                .map(|(k, t)| (k.clone(), Var::from_tensor(t).unwrap()))
                .collect();
            all.insert(
                name.to_string(),
                v.iter()
                    .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                    .collect(),
            );
            vars.insert(name, v);
        } else {
            all.insert(name.to_string(), t);
        }
    }
    let net = Model::from_blocks(&meta, &all, &dev).unwrap();
    let params = ParamsAdamW {
        lr: cfg.lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: cfg.weight_decay,
    };
    let mut opt = candle_nn::AdamW::new(
        vars.values().flat_map(|m| m.values().cloned()).collect(),
        params,
    )
    .unwrap();
    let per_epoch = seqs.len().div_ceil(cfg.batch_size);
    for step in 0..cfg.steps {
        let epoch = (step / per_epoch) as u64;
        let order = data::batch_order(seqs.len(), cfg.batch_size, Some(cfg.seed ^ epoch));
        let batch = data::make_batch(seqs, &order[step % per_epoch], &dev).unwrap();
        if step < cfg.warmup_steps {
            opt.set_learning_rate(cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64);
        } else {
            opt.set_learning_rate(cfg.lr);
        }
        let logits = net.forward_train(&batch.inputs).unwrap();
        let loss =
            masked_cross_entropy(&logits, &batch.targets, &batch.mask, batch.tokens).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    vars.into_iter()
        .map(|(n, v)| {
            (
                n,
                v.into_iter()
                    .map(|(k, v)| (k, v.as_tensor().detach()))
                    .collect(),
            )
        })
        .collect()
}

fn setup() -> (
    MetaConfig,
    Model,
    Vec<BlockName>,
    Vec<Vec<u32>>,
    TrainConfig,
) {
    let cfg = MetaConfig::tiny();
    let model = Model::init(&cfg, 11, &Device::Cpu).unwrap();
    let blocks = parse_blocks("all", &cfg).unwrap();
    // 40 lines in batches of 4 (a few more sequences than lines): 12 steps cross an epoch
    let tc = TrainConfig {
        steps: 12,
        batch_size: 4,
        warmup_steps: 4,
        lr: 3e-3,
        seed: 3,
        ..TrainConfig::default()
    };
    (cfg.clone(), model, blocks, seqs(&cfg, 40), tc)
}

#[test]
fn a_fresh_run_gives_the_weights_of_candles_adamw_bit_for_bit() {
    let (_, model, blocks, seqs, tc) = setup();
    let ours = train(&model, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    let theirs = candle_reference(&model, &blocks, &seqs, &tc);
    assert!(
        same_weights(&ours.trained, &theirs),
        "weights differ from candle's AdamW"
    );
    assert_eq!(ours.optimizer.t, 12);
    assert_eq!(ours.start_step, 0);
    let n: usize = ours.trained.values().map(BTreeMap::len).sum();
    assert_eq!(ours.optimizer.moments.len(), n);
    assert!(ours
        .optimizer
        .moments
        .values()
        .all(|m| m.v.iter().any(|x| *x > 0.0)));
}

#[test]
fn two_runs_continuing_the_state_equal_one_run_of_twice_the_steps() {
    let (_, model, blocks, seqs, tc) = setup();
    let long = train(&model, &blocks, &seqs, &tc, &mut |_, _| {}).unwrap();
    let half = TrainConfig {
        steps: 6,
        ..tc.clone()
    };
    let first = train(&model, &blocks, &seqs, &half, &mut |_, _| {}).unwrap();
    let mut next = model.clone();
    for (b, t) in &first.trained {
        next.set_block(b, t).unwrap();
    }
    let second = train_from(
        &next,
        &blocks,
        &seqs,
        &half,
        Some(&first.optimizer),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(second.start_step, 6);
    assert_eq!(
        [first.losses.clone(), second.losses.clone()].concat(),
        long.losses
    );
    assert_eq!(
        [first.batch_hashes.clone(), second.batch_hashes.clone()].concat(),
        long.batch_hashes
    );
    assert!(
        same_weights(&second.trained, &long.trained),
        "continued weights differ"
    );
    assert_eq!(second.optimizer, long.optimizer);
    // the deltas are relative to the second run's own base
    let k = "lm_head.weight";
    let d = (&second.trained[&BlockName::Head][k] - &first.trained[&BlockName::Head][k]).unwrap();
    assert_eq!(bits(&second.deltas[&BlockName::Head][k]), bits(&d));

    // runs of 5, 5 and 2 steps: the second ends and the third starts on the epoch boundary
    assert_eq!(
        seqs.len().div_ceil(tc.batch_size),
        10,
        "10 batches an epoch"
    );
    let (mut m, mut state) = (model.clone(), AdamWState::default());
    let mut hashes = Vec::new();
    for steps in [5, 5, 2] {
        let part = TrainConfig {
            steps,
            ..tc.clone()
        };
        let out = train_from(&m, &blocks, &seqs, &part, Some(&state), &mut |_, _| {}).unwrap();
        for (b, t) in &out.trained {
            m.set_block(b, t).unwrap();
        }
        hashes.extend(out.batch_hashes);
        state = out.optimizer;
    }
    assert_eq!(hashes, long.batch_hashes);
    assert_eq!(state, long.optimizer);
    assert!(same_weights(
        &long.trained,
        &blocks
            .iter()
            .map(|b| (*b, m.block_tensors(b).unwrap()))
            .collect()
    ));
}

#[test]
fn warmup_applies_only_to_a_run_from_a_fresh_state() {
    let (_, model, blocks, seqs, tc) = setup();
    assert_eq!(lr_at(&tc, true, 0), tc.lr / 4.0);
    assert_eq!(lr_at(&tc, true, 3), tc.lr);
    assert_eq!(lr_at(&tc, false, 0), tc.lr);
    let short = TrainConfig {
        steps: 2,
        ..tc.clone()
    };
    let no_warmup = TrainConfig {
        warmup_steps: 0,
        ..short.clone()
    };
    let run = |c: &TrainConfig, s: Option<&AdamWState>| {
        train_from(&model, &blocks, &seqs, c, s, &mut |_, _| {}).unwrap()
    };
    // fresh: warmup changes the run
    assert!(!same_weights(
        &run(&short, None).trained,
        &run(&no_warmup, None).trained
    ));
    // from a state: warmup_steps is ignored
    let state = run(&short, None).optimizer;
    let a = run(&short, Some(&state));
    assert!(same_weights(
        &a.trained,
        &run(&no_warmup, Some(&state)).trained
    ));
    // an explicitly fresh state is the same as none
    assert!(same_weights(
        &run(&short, Some(&AdamWState::default())).trained,
        &run(&short, None).trained
    ));
}

#[test]
fn a_state_for_other_tensors_is_refused_by_train_from() {
    let (_, model, blocks, seqs, tc) = setup();
    let tc = TrainConfig { steps: 1, ..tc };
    let head = [BlockName::Head];
    let state = train(&model, &head, &seqs, &tc, &mut |_, _| {})
        .unwrap()
        .optimizer;
    assert_eq!(state.mismatch(&model, &head).unwrap(), None);
    assert!(state.mismatch(&model, &blocks).unwrap().is_some());
    let r = train_from(&model, &blocks, &seqs, &tc, Some(&state), &mut |_, _| {});
    assert!(matches!(r, Err(TrainError::State(_))), "{r:?}");
    let embed = [BlockName::Embed];
    let r = train_from(&model, &embed, &seqs, &tc, Some(&state), &mut |_, _| {});
    assert!(matches!(r, Err(TrainError::State(_))), "{r:?}");
    let mut bad = state.clone();
    bad.moments.values_mut().for_each(|m| m.shape.push(1));
    assert!(bad.mismatch(&model, &head).unwrap().is_some());
    let r = train_from(&model, &head, &seqs, &tc, Some(&bad), &mut |_, _| {});
    assert!(matches!(r, Err(TrainError::State(_))), "{r:?}");
}

#[test]
fn state_files_round_trip_exactly_and_mismatches_start_fresh() {
    let (cfg, model, _, seqs, tc) = setup();
    let blocks = parse_blocks("head,layer0.expert1", &cfg).unwrap();
    let tc = TrainConfig { steps: 3, ..tc };
    let state = train(&model, &blocks, &seqs, &tc, &mut |_, _| {})
        .unwrap()
        .optimizer;
    let dir = tempfile::tempdir().unwrap();
    let path = state_file::path_for(dir.path(), "tiny/v1", &blocks);
    assert!(path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("adamw-tiny_v1-"));
    assert_ne!(
        path,
        state_file::path_for(dir.path(), "tiny/v1", &blocks[..1])
    );
    // no file: fresh
    assert_eq!(
        state_file::load_for(&path, "tiny/v1", &model, &blocks).unwrap(),
        AdamWState::default()
    );
    state_file::save(&path, "tiny/v1", &cfg, &state).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let back = state_file::load_for(&path, "tiny/v1", &model, &blocks).unwrap();
    assert_eq!(back, state);
    let stored = StoredState::from_bytes(&bytes).unwrap();
    assert_eq!(stored.to_bytes(), bytes, "not deterministic");
    assert_eq!(stored.meta_hash, state_file::meta_hash(&cfg));
    assert_eq!(stored.model_id, "tiny/v1");

    // another model id, block set or architecture: fresh (with a warning)
    let fresh = AdamWState::default();
    assert_eq!(
        state_file::load_for(&path, "other", &model, &blocks).unwrap(),
        fresh
    );
    assert_eq!(
        state_file::load_for(&path, "tiny/v1", &model, &blocks[..1]).unwrap(),
        fresh
    );
    let mut wider = cfg.clone();
    wider.max_seq *= 2;
    let other = Model::init(&wider, 11, &Device::Cpu).unwrap();
    assert_eq!(
        state_file::load_for(&path, "tiny/v1", &other, &blocks).unwrap(),
        fresh
    );

    // corrupt: an error that names the file, never a panic
    for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let e = state_file::load_for(&path, "tiny/v1", &model, &blocks).unwrap_err();
        assert!(matches!(e, StateFileError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("adamw-tiny_v1-"), "{e}");
    }
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let e = state_file::load_for(&path, "tiny/v1", &model, &blocks).unwrap_err();
    assert!(e.to_string().contains("hash mismatch"), "{e}");
    // a well-hashed file of another version is refused too
    let mut v2 = bytes[..bytes.len() - 32].to_vec();
    v2[4] = 2;
    let h: [u8; 32] = sha3::Sha3_256::digest(&v2).into();
    v2.extend_from_slice(&h);
    let e = StoredState::from_bytes(&v2).unwrap_err();
    assert!(e.contains("version 2"), "{e}");
}
