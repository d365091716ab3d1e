//! Gateway benchmark: `cargo bench -p blyan-worker --bench serve [-- --quick]`.
//!
//! For the `tiny` and `small` presets (fresh seeded weights written as a model directory),
//! the gateway runs in-process on a loopback port and is driven over HTTP with streamed
//! requests: time to first token and tokens/s of one stream, then aggregate tokens/s with
//! 1, 8 and 64 concurrent streams. Then, each in a fresh child process so the numbers do not
//! mix, the resident memory (VmRSS / peak VmHWM) of serving `small` with the expert cache
//! capped below the experts' total size versus uncapped, with the cache's hit rate.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blyan_worker::model::{MetaConfig, Model};
use blyan_worker::serve::engine::{prompt_ids, run, SampleOptions};
use blyan_worker::serve::{
    self, ExpertCache, FreeTierConfig, Gateway, GatewayConfig, ModelOrigin, ModelVersion,
};
use blyan_worker::source;
use blyan_worker::tensorblock::DEFAULT_TILE_SIZE;
use candle_core::Device;
use serde_json::{json, Value};

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn model_dir(preset: &str) -> R<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let model = Model::init(&MetaConfig::preset(preset)?, 7, &Device::Cpu)?;
    source::save_model(&model, dir.path(), DEFAULT_TILE_SIZE, |_, _, _| {})?;
    Ok(dir)
}

/// One streamed request: (time to first token, completion tokens, total time).
fn stream(url: &str, max_tokens: u32, seed: u64) -> R<(Duration, u64, Duration)> {
    let start = Instant::now();
    let body = json!({
        "messages": [{"role": "user", "content": "12+7="}],
        "max_tokens": max_tokens, "temperature": 0.8, "seed": seed, "stream": true,
    });
    let resp = ureq::post(&format!("{url}/v1/chat/completions"))
        .set(
            "authorization",
            "Bearer 0x4444444444444444444444444444444444444444",
        )
        .send_string(&body.to_string())?;
    let mut first = None;
    let mut tokens = 0;
    for line in BufReader::new(resp.into_reader()).lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            break;
        }
        let c: Value = serde_json::from_str(data)?;
        if c["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
        {
            first.get_or_insert_with(|| start.elapsed());
        }
        if let Some(n) = c["usage"]["completion_tokens"].as_u64() {
            tokens = n;
        }
    }
    Ok((first.unwrap_or_default(), tokens, start.elapsed()))
}

fn http_bench(preset: &str, quick: bool) -> R<()> {
    let dir = model_dir(preset)?;
    let cfg = GatewayConfig {
        model_name: format!("blyan-{preset}"),
        hashcash_bits: 0,
        max_concurrency: 64,
        free_tier: FreeTierConfig {
            newbie_per_day: u32::MAX,
            ..FreeTierConfig::default()
        },
        ..GatewayConfig::default()
    };
    let gw = Gateway::load(
        ModelOrigin::Dir(dir.path().to_path_buf()),
        cfg,
        &Device::Cpu,
        None,
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    rt.spawn(serve::serve(gw.clone(), listener));
    stream(&url, 4, 0)?; // warm-up: every expert into the cache
    let (ttft, n, total) = stream(&url, 64, 1)?;
    let decode = (total - ttft).as_secs_f64();
    println!(
        "{preset:<5} one stream: time to first token {:.1} ms, {n} tokens in {:.3} s = {:.1} tokens/s (decode after the first: {:.1} tokens/s)",
        ttft.as_secs_f64() * 1e3,
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        (n.saturating_sub(1)) as f64 / decode.max(1e-9),
    );
    let levels: &[usize] = if quick { &[1, 8] } else { &[1, 8, 64] };
    for &c in levels {
        let max_tokens = 32;
        let start = Instant::now();
        let handles: Vec<_> = (0..c)
            .map(|i| {
                let url = url.clone();
                std::thread::spawn(move || stream(&url, max_tokens, i as u64 + 10))
            })
            .collect();
        let mut tokens = 0;
        let mut ttfts = Vec::new();
        for h in handles {
            let (t, n, _) = h.join().map_err(|_| "stream thread panicked")??;
            tokens += n;
            ttfts.push(t.as_secs_f64());
        }
        let secs = start.elapsed().as_secs_f64();
        ttfts.sort_by(f64::total_cmp);
        println!(
            "{preset:<5} {c:>2} concurrent streams: {tokens} tokens in {secs:.2} s = {:.1} tokens/s aggregate; median time to first token {:.0} ms",
            tokens as f64 / secs,
            ttfts[ttfts.len() / 2] * 1e3
        );
    }
    let s = gw.cache.stats();
    println!(
        "{preset:<5} expert cache (uncapped): {} experts, {} bytes, hit rate {:.3}",
        s.entries,
        s.bytes,
        s.hit_rate()
    );
    Ok(())
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The child: serve `small` from a model dir with the cache at `cap` bytes (0 = uncapped)
/// through the engine for 16 prompts, then print one JSON line.
fn memory_child(cap: usize, dir: &std::path::Path) -> R<()> {
    let before = rss_kib("VmRSS:");
    let capacity = if cap == 0 { usize::MAX } else { cap };
    let cache = Arc::new(ExpertCache::new(capacity)?);
    let snap = ModelOrigin::Dir(dir.to_path_buf()).snapshot()?;
    let v = ModelVersion::load(snap, cache, &Device::Cpu)?;
    let start = Instant::now();
    let mut tokens = 0;
    for i in 0..16u64 {
        let opts = SampleOptions {
            max_tokens: 24,
            temperature: 0.8,
            top_p: 1.0,
            seed: i,
        };
        let (out, _) = run(&v, prompt_ids(&format!("{i}+{i}=")), &opts, |_| true)?;
        tokens += out.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let s = v.cache().stats();
    println!(
        "{}",
        json!({
            "expert_bytes": v.expert_bytes, "cap": cap, "rss_before_kib": before,
            "rss_kib": rss_kib("VmRSS:"), "hwm_kib": rss_kib("VmHWM:"),
            "hits": s.hits, "misses": s.misses, "evictions": s.evictions,
            "hit_rate": s.hit_rate(), "cached_bytes": s.bytes,
            "tokens_per_s": tokens as f64 / secs,
        })
    );
    Ok(())
}

fn memory_bench() -> R<()> {
    let exe = std::env::current_exe()?;
    // written here, so the children's peak memory is serving only
    let dir = model_dir("small")?;
    let small = MetaConfig::small();
    let one_expert = 3 * small.d_model * small.d_ff * 4;
    let total = one_expert * small.n_layers * small.n_experts;
    for (label, cap) in [
        ("uncapped", 0usize),
        ("capped at 1/4 of the experts", total / 4),
        ("capped at 3 experts", 3 * one_expert),
    ] {
        let out = std::process::Command::new(&exe)
            .env("BLYAN_SERVE_BENCH_CHILD", cap.to_string())
            .env("BLYAN_SERVE_BENCH_DIR", dir.path())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.trim().lines().last().unwrap_or("null"))?;
        println!(
            "small memory, cache {label:<28}: VmRSS {:>6.1} MiB (peak {:>6.1} MiB; {:.1} MiB before loading); experts {:.1} MiB, cached {:.1} MiB; hits {} misses {} evictions {} (hit rate {:.3}); {:.1} tokens/s",
            v["rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["hwm_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["rss_before_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["expert_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
            v["cached_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
            v["hits"], v["misses"], v["evictions"],
            v["hit_rate"].as_f64().unwrap_or(0.0),
            v["tokens_per_s"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}

fn main() -> R<()> {
    if let Ok(cap) = std::env::var("BLYAN_SERVE_BENCH_CHILD") {
        let dir = std::env::var_os("BLYAN_SERVE_BENCH_DIR").ok_or("BLYAN_SERVE_BENCH_DIR")?;
        return memory_child(cap.parse()?, std::path::Path::new(&dir));
    }
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "blyan-worker serve benchmark ({} CPU threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for preset in ["tiny", "small"] {
        http_bench(preset, quick)?;
    }
    memory_bench()
}
