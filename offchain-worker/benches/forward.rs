//! Forward-pass throughput (tokens/s) of the `tiny` and `small` presets on this CPU, for a
//! batch of full-length sequences and for one sequence, plus greedy generation speed
//! (no KV cache). Prints figures; asserts nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use blyan_worker::model::{generate, GenerateOptions, MetaConfig, Model};
use candle_core::{Device, Tensor};

/// Runs `f` until `budget` has passed (at least twice); returns runs and seconds.
fn run_for(budget: Duration, mut f: impl FnMut()) -> (usize, f64) {
    f(); // warm up
    let s = Instant::now();
    let mut n = 0;
    while n < 2 || s.elapsed() < budget {
        f();
        n += 1;
    }
    (n, s.elapsed().as_secs_f64())
}

fn main() {
    let dev = Device::Cpu;
    println!(
        "threads: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "{:<6} {:>10} {:>8} {:>14} {:>14}",
        "preset", "params", "batch", "seq", "tokens/s"
    );
    for cfg in [MetaConfig::tiny(), MetaConfig::small()] {
        let model = Model::init(&cfg, 1, &dev).unwrap();
        let mut rng = blyan_worker::rng::SplitMix64::new(3);
        for batch in [8usize, 1] {
            let t = cfg.max_seq;
            let ids: Vec<u32> = (0..batch * t).map(|_| rng.below(256) as u32).collect();
            let ids = Tensor::from_vec(ids, (batch, t), &dev).unwrap();
            let (n, secs) = run_for(Duration::from_secs(4), || {
                black_box(model.forward(&ids).unwrap());
            });
            let tps = (n * batch * t) as f64 / secs;
            println!(
                "{:<6} {:>10} {:>8} {:>14} {:>14.0}",
                cfg.preset,
                cfg.n_params(),
                batch,
                t,
                tps
            );
        }
        let opts = GenerateOptions {
            max_tokens: 32,
            temperature: 0.0,
            seed: 0,
        };
        let mut produced = 0usize;
        let (_, secs) = run_for(Duration::from_secs(3), || {
            produced += generate(&model, "12+7=", &opts).unwrap().1.len();
        });
        let produced = produced - generate(&model, "12+7=", &opts).unwrap().1.len(); // minus warm-up
        println!(
            "{:<6} generation (greedy, no KV cache): {:.0} new tokens/s",
            cfg.preset,
            produced as f64 / secs
        );
    }
}
