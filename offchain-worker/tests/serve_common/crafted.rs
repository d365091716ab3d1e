//! A hand-set `tiny` model whose greedy reply is known in advance: "é" (0xC3 0xA9) again
//! and again, one byte per token, so every character of the reply is split over two tokens.
//!
//! Every attention output projection and every expert's `w2` are zero, so the residual
//! stream of a position is its token's embedding (positions are zero too). The embedding
//! of 0xC3 is e1, of 0xA9 e2, of every other id e0; the head's RMSNorm maps e_k to
//! sqrt(d)·e_k, and the LM head scores 0xC3 from e0 and e2, 0xA9 from e1, and nothing
//! else. So after any ordinary byte the model says 0xC3, after 0xC3 it says 0xA9, after
//! 0xA9 0xC3 again: a reply of `n` tokens is "é" × n/2, plus a dangling 0xC3 when `n` is
//! odd.

use std::collections::BTreeMap;

use blyan_worker::model::{block_names, BlockName, MetaConfig, Model};
use blyan_worker::source;
use blyan_worker::tensorblock::DEFAULT_TILE_SIZE;
use candle_core::{Device, Tensor};
use tempfile::TempDir;

/// The two bytes of "é".
pub const E_ACUTE: [u8; 2] = [0xc3, 0xa9];

/// The crafted model (module docs) written to a temp dir.
pub fn e_acute_model_dir() -> TempDir {
    let cfg = MetaConfig::tiny();
    let d = cfg.d_model;
    let v = cfg.vocab_size;
    let mut model = Model::init(&cfg, 1, &Device::Cpu).unwrap();
    let zeros = |shape: &[usize]| Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu);
    let from = |vals: Vec<f32>, shape: &[usize]| Tensor::from_vec(vals, shape, &Device::Cpu);
    for block in block_names(&cfg) {
        let mut tensors: BTreeMap<String, Tensor> = model.block_tensors(&block).unwrap();
        match block {
            BlockName::Embed => {
                let mut tok = vec![0f32; v * d];
                for id in 0..v {
                    let k = match id {
                        0xc3 => 1,
                        0xa9 => 2,
                        _ => 0,
                    };
                    tok[id * d + k] = 1.0;
                }
                tensors.insert("tok.weight".into(), from(tok, &[v, d]).unwrap());
                tensors.insert("pos.weight".into(), zeros(&[cfg.max_seq, d]).unwrap());
            }
            BlockName::Backbone { .. } => {
                tensors.insert("attn.o_proj.weight".into(), zeros(&[d, d]).unwrap());
            }
            BlockName::Expert { .. } => {
                tensors.insert("w2.weight".into(), zeros(&[d, cfg.d_ff]).unwrap());
            }
            BlockName::Head => {
                let mut w = vec![0f32; v * d];
                w[0xc3 * d] = 1.0;
                w[0xc3 * d + 2] = 1.0;
                w[0xa9 * d + 1] = 1.0;
                tensors.insert("lm_head.weight".into(), from(w, &[v, d]).unwrap());
            }
            BlockName::Router { .. } => {}
        }
        model.set_block(&block, &tensors).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    source::save_model(&model, dir.path(), DEFAULT_TILE_SIZE, |_, _, _| {}).unwrap();
    dir
}
