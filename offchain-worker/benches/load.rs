//! Loading a 16 MiB expert block: zero-copy TensorBlock from a memory map vs reading a file
//! and deserialising it through serde (bincode, and JSON) into candle tensors. All files are
//! read once first, so every path loads from the page cache. Prints figures; asserts nothing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use blyan_worker::tensorblock::{TensorBlock, TensorBlockWriter};
use candle_core::{Device, Tensor};

const D_MODEL: usize = 1024;
const D_FF: usize = 1365; // 3 matrices of 1024 x 1365 f32 = 16.0 MiB

type Serde = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Median wall time of `iters` runs of `f`.
fn median(iters: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = blyan_worker::rng::SplitMix64::new(1);
    let mut tensors: Serde = BTreeMap::new();
    for (name, shape) in [
        ("w1.weight", [D_FF, D_MODEL]),
        ("w2.weight", [D_MODEL, D_FF]),
        ("w3.weight", [D_FF, D_MODEL]),
    ] {
        let v: Vec<f32> = (0..shape[0] * shape[1])
            .map(|_| rng.unit_f32() - 0.5)
            .collect();
        tensors.insert(name.into(), (shape.to_vec(), v));
    }
    let mut w = TensorBlockWriter::new();
    for (n, (s, v)) in &tensors {
        w.add_f32(n, s, v).unwrap();
    }
    let tb_path = dir.path().join("expert.blyt");
    let (hash, size) = w.write(&tb_path).unwrap();
    let bin_path = dir.path().join("expert.bincode");
    std::fs::write(&bin_path, bincode::serialize(&tensors).unwrap()).unwrap();
    let json_path = dir.path().join("expert.json");
    std::fs::write(&json_path, serde_json::to_vec(&tensors).unwrap()).unwrap();
    for p in [&tb_path, &bin_path, &json_path] {
        black_box(std::fs::read(p).unwrap()); // into the page cache
    }
    let dev = Device::Cpu;
    println!("expert block: 3 x [{D_FF} x {D_MODEL}] f32, TensorBlock {:.2} MiB, bincode {:.2} MiB, JSON {:.2} MiB",
        size as f64 / 1048576.0,
        std::fs::metadata(&bin_path).unwrap().len() as f64 / 1048576.0,
        std::fs::metadata(&json_path).unwrap().len() as f64 / 1048576.0);

    let view = median(200, || {
        let tb = TensorBlock::open(&tb_path).unwrap();
        let total: usize = tb.tensors().map(|v| v.as_f32().unwrap().len()).sum();
        black_box(total);
    });
    let view_touch = median(50, || {
        let tb = TensorBlock::open(&tb_path).unwrap();
        let mut acc = 0f32;
        for v in tb.tensors() {
            acc += v.as_f32().unwrap().iter().step_by(1024).sum::<f32>(); // one f32 per 4 KiB page
        }
        black_box(acc);
    });
    let to_tensor = median(30, || {
        let tb = TensorBlock::open(&tb_path).unwrap();
        black_box(tb.to_tensors(&dev).unwrap());
    });
    let verified = median(10, || {
        let tb = TensorBlock::open_verified(&tb_path, &hash).unwrap();
        black_box(tb.to_tensors(&dev).unwrap());
    });
    let bincode_t = median(15, || {
        let bytes = std::fs::read(&bin_path).unwrap();
        let m: Serde = bincode::deserialize(&bytes).unwrap();
        let t: Vec<Tensor> = m
            .into_values()
            .map(|(s, v)| Tensor::from_vec(v, s, &dev).unwrap())
            .collect();
        black_box(t);
    });
    let json_t = median(3, || {
        let bytes = std::fs::read(&json_path).unwrap();
        let m: Serde = serde_json::from_slice(&bytes).unwrap();
        let t: Vec<Tensor> = m
            .into_values()
            .map(|(s, v)| Tensor::from_vec(v, s, &dev).unwrap())
            .collect();
        black_box(t);
    });
    println!("{:<58} {:>10}", "path (median)", "ms");
    println!(
        "{:<58} {:>10.3}",
        "TensorBlock mmap open + &[f32] views (zero-copy)",
        ms(view)
    );
    println!(
        "{:<58} {:>10.3}",
        "TensorBlock mmap open + views, touching every page",
        ms(view_touch)
    );
    println!(
        "{:<58} {:>10.3}",
        "TensorBlock mmap open + candle Tensors (one copy)",
        ms(to_tensor)
    );
    println!(
        "{:<58} {:>10.3}",
        "TensorBlock mmap open + verify all tiles + candle Tensors",
        ms(verified)
    );
    println!(
        "{:<58} {:>10.3}",
        "read file + bincode (serde) Vec<f32> + candle Tensors",
        ms(bincode_t)
    );
    println!(
        "{:<58} {:>10.3}",
        "read file + serde_json Vec<f32> + candle Tensors",
        ms(json_t)
    );
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "ratio bincode / mmap zero-copy views:      {:>8.1}x",
        r(bincode_t, view)
    );
    println!(
        "ratio bincode / mmap views touching pages: {:>8.1}x",
        r(bincode_t, view_touch)
    );
    println!(
        "ratio bincode / mmap -> candle Tensor:     {:>8.1}x",
        r(bincode_t, to_tensor)
    );
    println!(
        "ratio json    / mmap -> candle Tensor:     {:>8.1}x",
        r(json_t, to_tensor)
    );
}
