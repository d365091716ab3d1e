//! Tile verification throughput of a 64 MiB TensorBlock at several tile sizes (sha3-256 per
//! tile, single thread, from the page cache). Prints figures; asserts nothing.

use std::hint::black_box;
use std::time::Instant;

use blyan_worker::tensorblock::{TensorBlock, TensorBlockWriter};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = blyan_worker::rng::SplitMix64::new(2);
    let n = 16 * 1024 * 1024; // 64 MiB of f32
    let data: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
    println!(
        "{:>10} {:>8} {:>12} {:>14} {:>14}",
        "tile", "tiles", "open ms", "verify MB/s", "per tile us"
    );
    for tile in [4096u32, 65536, 1 << 20] {
        let mut w = TensorBlockWriter::new().tile_size(tile).unwrap();
        w.add_f32("w", &[4096, 4096], &data).unwrap();
        let path = dir.path().join(format!("b{tile}.blyt"));
        let (_, size) = w.write(&path).unwrap();
        black_box(std::fs::read(&path).unwrap());
        let s = Instant::now();
        let tb = TensorBlock::open(&path).unwrap(); // header + root from the index
        let open = s.elapsed();
        tb.verify_all().unwrap(); // warm
        let reps = 3;
        let s = Instant::now();
        for _ in 0..reps {
            tb.verify_all().unwrap();
        }
        let secs = s.elapsed().as_secs_f64() / reps as f64;
        let mb_s = size as f64 / 1e6 / secs;
        let per_tile = secs / f64::from(tb.tile_count()) * 1e6;
        println!(
            "{:>10} {:>8} {:>12.3} {:>14.1} {:>14.2}",
            tile,
            tb.tile_count(),
            open.as_secs_f64() * 1e3,
            mb_s,
            per_tile
        );
        std::fs::remove_file(&path).unwrap();
    }
}
