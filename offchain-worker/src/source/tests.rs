//! Saving and loading model directories, and every way a block can be wrong.

use candle_core::{Device, Tensor};

use super::*;
use crate::model::MetaConfig;

fn saved(seed: u64) -> (tempfile::TempDir, Model, ModelManifest) {
    let d = tempfile::tempdir().unwrap();
    let m = Model::init(&MetaConfig::tiny(), seed, &Device::Cpu).unwrap();
    let man = save_model(&m, d.path(), 4096, |_, _, _| {}).unwrap();
    (d, m, man)
}

fn logits(m: &Model) -> Vec<f32> {
    let ids = Tensor::new(&[[256u32, 49, 43, 49, 61]], &Device::Cpu).unwrap();
    m.forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn save_then_load_gives_the_same_model_and_hashes_are_reproducible() {
    let (d, m, man) = saved(5);
    assert_eq!(
        man.blocks.len(),
        Model::block_names(&MetaConfig::tiny()).len()
    );
    let loaded = load_model(&DirSource::new(d.path()), &Device::Cpu, |_, _, _| {}).unwrap();
    assert_eq!(logits(&m), logits(&loaded));
    let (_d2, _, man2) = saved(5);
    assert_eq!(man, man2, "same seed, same payload hashes");
    let (_d3, _, man3) = saved(6);
    assert_ne!(man.blocks[0].payload_hash, man3.blocks[0].payload_hash);
}

fn load_err(d: &Path) -> String {
    match load_model(&DirSource::new(d), &Device::Cpu, |_, _, _| {}) {
        Ok(_) => panic!("loaded a bad model"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_flipped_byte_is_named_by_block_and_tile() {
    let (d, _, man) = saved(1);
    let e = &man.blocks[5];
    let p = d.path().join(&e.file);
    let mut b = std::fs::read(&p).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x10;
    std::fs::write(&p, &b).unwrap();
    let msg = load_err(d.path());
    assert!(msg.contains(&e.name), "{msg}");
    assert!(
        msg.contains("corrupt tile") || msg.contains("root mismatch"),
        "{msg}"
    );
}

#[test]
fn a_truncated_block_and_a_wrong_hash_are_named() {
    let (d, _, mut man) = saved(1);
    let e = man.blocks[3].clone();
    let p = d.path().join(&e.file);
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() - 100]).unwrap();
    let msg = load_err(d.path());
    assert!(msg.contains(&e.name) && msg.contains("truncated"), "{msg}");
    std::fs::write(&p, &b).unwrap();
    // the manifest (the chain) names another block's hash
    man.blocks[3].payload_hash = man.blocks[4].payload_hash;
    std::fs::write(
        d.path().join(MANIFEST_FILE),
        serde_json::to_vec(&man).unwrap(),
    )
    .unwrap();
    let msg = load_err(d.path());
    assert!(
        msg.contains(&e.name) && msg.contains("payload hash mismatch"),
        "{msg}"
    );
}

#[test]
fn manifests_must_fit_the_architecture() {
    let (d, _, mut man) = saved(1);
    man.blocks.swap(1, 2);
    assert!(check_manifest(&man).is_err());
    man.blocks.swap(1, 2);
    man.blocks.pop();
    std::fs::write(
        d.path().join(MANIFEST_FILE),
        serde_json::to_vec(&man).unwrap(),
    )
    .unwrap();
    assert!(load_err(d.path()).contains("missing"));
    let (_d, _, mut man) = saved(1);
    man.blocks[0].file = "../x.blyt".into();
    assert!(DirSource::new("/tmp").fetch(&man.blocks[0]).is_err());
}
