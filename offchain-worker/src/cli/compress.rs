//! `blyan-worker compress` and `blyan-worker decompress`: a miner's delta TensorBlocks
//! (`{block}.blyt`, as `train` writes them) to hashed delta containers (`{block}.delta`),
//! and a container back to its tensors and decoded hash.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use blyan_worker::compress::{
    decode_with_limit, decoded_hash, encode, inspect, tensors_to_delta, ErrorFeedback, Pipeline,
    DEFAULT_MAX_VALUES,
};
use blyan_worker::tensorblock::{TensorBlock, TensorBlockWriter};
use candle_core::Device;
use clap::Args;
use serde_json::json;

/// Arguments of `compress`.
#[derive(Args)]
pub struct CompressArgs {
    /// Directory of delta TensorBlocks, one `{block}.blyt` per block (as `train` writes).
    #[arg(long)]
    delta_dir: PathBuf,
    /// Stages, e.g. `lowrank:8,topk:0.02,int8`, `int8`, `topk:0.05`, `none`; `default`
    /// for the built-in default pipeline.
    #[arg(long, default_value = "default")]
    pipeline: String,
    /// Error-feedback state kept across rounds: read if it exists, written back after.
    #[arg(long)]
    feedback: Option<PathBuf>,
    /// Output directory for the `{block}.delta` containers.
    #[arg(long)]
    out: PathBuf,
    /// Print a JSON report instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `decompress`.
#[derive(Args)]
pub struct DecompressArgs {
    /// A `{block}.delta` container.
    file: PathBuf,
    /// Refuse containers holding more values than this.
    #[arg(long, default_value_t = DEFAULT_MAX_VALUES)]
    max_values: usize,
    /// Also write the decoded delta as a TensorBlock (f32) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The `{block}.blyt` files of `dir`, sorted by block name.
fn delta_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = e?.path();
        if path.extension().and_then(|x| x.to_str()) != Some("blyt") {
            continue;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
            out.push((stem.to_string(), path.clone()));
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("no .blyt delta files in {}", dir.display());
    }
    Ok(out)
}

/// Runs `compress`.
pub fn compress(a: CompressArgs) -> Result<()> {
    let pipeline: Pipeline = if a.pipeline == "default" {
        Pipeline::default()
    } else {
        a.pipeline.parse()?
    };
    let mut feedback = match &a.feedback {
        Some(p) if p.exists() => Some(ErrorFeedback::load(p)?),
        Some(_) => Some(ErrorFeedback::new()),
        None => None,
    };
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    let (mut raw, mut enc) = (0u64, 0u64);
    let mut blocks = Vec::new();
    for (block, path) in delta_files(&a.delta_dir)? {
        let tb = TensorBlock::open(&path).with_context(|| path.display().to_string())?;
        tb.verify_all()
            .with_context(|| format!("{}: tiles", path.display()))?;
        let tensors = tensors_to_delta(&tb.to_tensors(&Device::Cpu)?)?;
        let e = encode(&block, &tensors, &pipeline, feedback.as_mut())
            .with_context(|| format!("encoding {block}"))?;
        let file = format!("{block}.delta");
        let out = a.out.join(&file);
        std::fs::write(&out, &e.bytes).with_context(|| out.display().to_string())?;
        raw += e.stats.raw_bytes;
        enc += e.stats.encoded_bytes;
        blocks.push(json!({
            "block": block, "file": file, "hash": hex::encode(e.hash), "stats": e.stats,
        }));
    }
    if let (Some(fb), Some(path)) = (&feedback, &a.feedback) {
        fb.save(path)?;
    }
    let ratio = raw as f64 / enc.max(1) as f64;
    if a.json {
        let report = json!({
            "pipeline": pipeline.to_string(), "raw_bytes": raw, "encoded_bytes": enc,
            "ratio": ratio, "blocks": blocks,
            "feedback_l2": feedback.as_ref().map(ErrorFeedback::l2_norm),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("pipeline {pipeline}: {raw} -> {enc} bytes ({ratio:.1}x)");
    for b in &blocks {
        println!(
            "{:<18} {:>9} bytes {:>7.1}x  l2 rel {:.4}  {}",
            b["block"].as_str().unwrap_or(""),
            b["stats"]["encoded_bytes"],
            b["stats"]["ratio"].as_f64().unwrap_or(0.0),
            b["stats"]["l2_error_rel"].as_f64().unwrap_or(0.0),
            b["hash"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

/// Runs `decompress`.
pub fn decompress(a: DecompressArgs) -> Result<()> {
    let bytes = std::fs::read(&a.file).with_context(|| a.file.display().to_string())?;
    let info = inspect(&bytes, a.max_values).with_context(|| a.file.display().to_string())?;
    let d =
        decode_with_limit(&bytes, a.max_values).with_context(|| a.file.display().to_string())?;
    let hash = hex::encode(decoded_hash(&d));
    if let Some(out) = &a.out {
        let mut w = TensorBlockWriter::new();
        for t in &d.tensors {
            w.add_f32(&t.name, &t.shape, &t.values)?;
        }
        w.write(out).with_context(|| out.display().to_string())?;
    }
    if a.json {
        let report = json!({
            "block": d.block, "pipeline": info.pipeline, "values": info.values,
            "bytes": info.bytes, "container_hash": hex::encode(blyan_worker::compress::sha3(&bytes)),
            "decoded_hash": hash, "tensors": info.tensors,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "block {} ({}; {} values, {} bytes)",
        d.block, info.pipeline, info.values, info.bytes
    );
    for t in &info.tensors {
        let extra = match (t.rank, t.kept) {
            (Some(r), Some(k)) => format!(" rank {r}, {k} kept"),
            (Some(r), None) => format!(" rank {r}"),
            (None, Some(k)) => format!(" {k} kept"),
            (None, None) => String::new(),
        };
        println!("{:<24} {:?} {}{extra}", t.name, t.shape, t.encoding);
    }
    println!("decoded hash {hash}");
    Ok(())
}
