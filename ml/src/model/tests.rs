//! Model-level tests: init determinism, block get/set, shapes, the full sparse forward
//! against the dense reference.

use std::collections::BTreeMap;

use candle_core::{Device, Module, Tensor};

use super::*;

fn ids(b: usize, t: usize, seed: u64) -> Tensor {
    let mut r = crate::rng::SplitMix64::new(seed);
    let v: Vec<u32> = (0..b * t).map(|_| r.below(259) as u32).collect();
    Tensor::from_vec(v, (b, t), &Device::Cpu).unwrap()
}

fn bytes_of(m: &Model) -> Vec<u8> {
    let mut out = Vec::new();
    for b in Model::block_names(m.config()) {
        for t in m.block_tensors(&b).unwrap().values() {
            for x in t.flatten_all().unwrap().to_vec1::<f32>().unwrap() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    out
}

#[test]
fn init_is_deterministic_and_seed_dependent() {
    let cfg = MetaConfig::tiny();
    let a = Model::init(&cfg, 7, &Device::Cpu).unwrap();
    let b = Model::init(&cfg, 7, &Device::Cpu).unwrap();
    let c = Model::init(&cfg, 8, &Device::Cpu).unwrap();
    assert_eq!(bytes_of(&a), bytes_of(&b));
    assert_ne!(bytes_of(&a), bytes_of(&c));
    assert_eq!(bytes_of(&a).len(), cfg.n_params() * 4);
}

#[test]
fn forward_shapes_and_length_limit() {
    let cfg = MetaConfig::tiny();
    let m = Model::init(&cfg, 1, &Device::Cpu).unwrap();
    let y = m.forward(&ids(2, 10, 1)).unwrap();
    assert_eq!(y.dims(), [2, 10, cfg.vocab_size]);
    assert!(matches!(
        m.forward(&ids(1, cfg.max_seq + 1, 1)),
        Err(ModelError::SequenceTooLong { .. })
    ));
}

#[test]
fn forward_is_causal() {
    let cfg = MetaConfig::tiny();
    let m = Model::init(&cfg, 2, &Device::Cpu).unwrap();
    let a = ids(1, 12, 5);
    let mut v = a.flatten_all().unwrap().to_vec1::<u32>().unwrap();
    v[11] = (v[11] + 1) % 256;
    let b = Tensor::from_vec(v, (1, 12), &Device::Cpu).unwrap();
    let ya = m.forward(&a).unwrap().narrow(1, 0, 11).unwrap();
    let yb = m.forward(&b).unwrap().narrow(1, 0, 11).unwrap();
    let d = (ya - yb)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-6, "earlier positions changed by {d}");
}

#[test]
fn whole_model_matches_the_dense_reference() {
    for (preset, top_k) in [("tiny", 2), ("tiny", 1)] {
        let cfg = MetaConfig {
            top_k,
            ..MetaConfig::preset(preset).unwrap()
        };
        let m = Model::init(&cfg, 11, &Device::Cpu).unwrap();
        let x = ids(3, 17, 2);
        let sparse = m.forward(&x).unwrap();
        // the same layers, with every MoE replaced by the every-expert reference
        let mask = layers::causal_mask(17, &Device::Cpu).unwrap();
        let mut h = m.embed.forward(&x).unwrap();
        for l in &m.layers {
            let a = l.backbone.attend(&h, &mask, Mode::Infer).unwrap();
            let f = l.backbone.ffn_input(&a, Mode::Infer).unwrap();
            h = (&a + moe::tests::reference_forward(&l.moe, &f).unwrap()).unwrap();
        }
        let dense = m.head.forward(&h).unwrap();
        let d = (sparse - dense)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "top_k {top_k}: max diff {d}");
    }
}

#[test]
fn blocks_get_and_set() {
    let cfg = MetaConfig::tiny();
    let mut a = Model::init(&cfg, 3, &Device::Cpu).unwrap();
    let b = Model::init(&cfg, 4, &Device::Cpu).unwrap();
    let x = ids(1, 8, 3);
    let before = a
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // every block of b into a makes a equal to b
    for name in Model::block_names(&cfg) {
        a.set_block(&name, &b.block_tensors(&name).unwrap())
            .unwrap();
    }
    let after = a
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let want = b
        .forward(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_ne!(before, after);
    assert_eq!(after, want);
    // wrong tensor sets are rejected
    let e = BlockName::Expert {
        layer: 1,
        expert: 2,
    };
    let mut ts = a.block_tensors(&e).unwrap();
    ts.remove("w3.weight");
    assert!(matches!(
        a.set_block(&e, &ts),
        Err(ModelError::BlockTensors { .. })
    ));
    let mut ts = a.block_tensors(&e).unwrap();
    ts.insert(
        "w3.weight".into(),
        Tensor::zeros((3, 3), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    assert!(matches!(
        a.set_block(&e, &ts),
        Err(ModelError::BlockTensors { .. })
    ));
    assert!(a
        .set_block(
            &BlockName::Expert {
                layer: 9,
                expert: 0
            },
            &BTreeMap::new()
        )
        .is_err());
}

#[test]
fn from_blocks_names_missing_and_unknown_blocks() {
    let cfg = MetaConfig::tiny();
    let m = Model::init(&cfg, 3, &Device::Cpu).unwrap();
    let mut blocks: BTreeMap<String, BTreeMap<String, Tensor>> = Model::block_names(&cfg)
        .iter()
        .map(|b| (b.to_string(), m.block_tensors(b).unwrap()))
        .collect();
    Model::from_blocks(&cfg, &blocks, &Device::Cpu).unwrap();
    let router = blocks.remove("layer1.router").unwrap();
    assert!(
        matches!(Model::from_blocks(&cfg, &blocks, &Device::Cpu), Err(ModelError::MissingBlock(b)) if b == "layer1.router")
    );
    blocks.insert("layer1.router".into(), router.clone());
    blocks.insert("layer7.router".into(), router);
    assert!(matches!(
        Model::from_blocks(&cfg, &blocks, &Device::Cpu),
        Err(ModelError::UnknownBlock(_))
    ));
}

#[test]
fn generation_is_deterministic() {
    let cfg = MetaConfig::tiny();
    let m = Model::init(&cfg, 5, &Device::Cpu).unwrap();
    let o = GenerateOptions {
        max_tokens: 10,
        temperature: 0.7,
        seed: 9,
    };
    let (a, ia) = generate(&m, "12+7=", &o).unwrap();
    let (b, ib) = generate(&m, "12+7=", &o).unwrap();
    assert_eq!(ia, ib);
    assert_eq!(a, b);
    // a prompt longer than max_seq is windowed, not an error
    generate(
        &m,
        &"x".repeat(200),
        &GenerateOptions {
            max_tokens: 2,
            temperature: 0.0,
            seed: 0,
        },
    )
    .unwrap();
}

#[test]
fn training_forward_matches_and_gradients_reach_every_block() {
    use candle_core::Var;
    use candle_nn::{VarBuilder, VarMap};
    let cfg = MetaConfig::tiny();
    let dev = Device::Cpu;
    let init = Model::init(&cfg, 21, &dev).unwrap();
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for b in Model::block_names(&cfg) {
            for (t, v) in init.block_tensors(&b).unwrap() {
                data.insert(format!("{b}.{t}"), Var::from_tensor(&v).unwrap());
            }
        }
    }
    let m = Model::new(
        &cfg,
        VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &dev),
    )
    .unwrap();
    let x = ids(4, 32, 8);
    let fast = m.forward(&x).unwrap();
    let diff = m.forward_train(&x).unwrap();
    let d = (&fast - &diff)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5, "train/infer forward differ by {d}");
    let targets = ids(4, 32, 9).flatten_all().unwrap();
    let loss = candle_nn::loss::cross_entropy(&diff.flatten_to(1).unwrap(), &targets).unwrap();
    let grads = loss.backward().unwrap();
    let data = varmap.data().lock().unwrap();
    for b in Model::block_names(&cfg) {
        let reached = data
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{b}.")))
            .any(|(_, v)| {
                grads.get(v).is_some_and(|g| {
                    g.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                        > 0.0
                })
            });
        assert!(reached, "no gradient reaches block {b}");
    }
}
