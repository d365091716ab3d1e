//! The `blyan-worker` binary for end-to-end tests.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

use crate::bins::{cargo_build, needs_build_from, workspace_root};

/// `BLYAN_WORKER_BIN`, else `<target>/debug/blyan-worker`, built (or rebuilt when its
/// sources are newer) with cargo.
pub fn worker_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("BLYAN_WORKER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("blyan-worker");
    if needs_build_from(
        &bin,
        &root,
        &["offchain-worker", "ml", "client", "proto", "genesis"],
    ) {
        cargo_build(&root, "blyan-worker", "blyan-worker")?;
    }
    if !bin.is_file() {
        bail!("blyan-worker not found at {}", bin.display());
    }
    Ok(bin)
}

/// Runs `blyan-worker` with `args`; returns stdout, or an error with stderr.
pub fn run_worker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(worker_bin()?)
        .args(args)
        .output()
        .context("running blyan-worker")?;
    if !out.status.success() {
        bail!(
            "blyan-worker {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Builds the seeded `tiny` genesis model under `dir` (blocks and validation set added to
/// the Kubo node at `kubo_api`) with `blyan-worker model init`, `data generate` and
/// `model publish-genesis`; returns the genesis model JSON.
pub fn tiny_genesis_model(
    dir: &std::path::Path,
    kubo_api: &str,
    model_id: &str,
    seed: u64,
) -> anyhow::Result<blyan_genesis::GenesisModel> {
    let path = |p: &str| dir.join(p).to_string_lossy().to_string();
    let seed = seed.to_string();
    run_worker(&[
        "model",
        "init",
        "--preset",
        "tiny",
        "--seed",
        &seed,
        "--out",
        &path("model"),
    ])?;
    run_worker(&[
        "data",
        "generate",
        "--seed",
        &seed,
        "--out",
        &path("data"),
        "--train-lines",
        "200",
        "--val-lines",
        "120",
    ])?;
    publish_genesis(dir, kubo_api, model_id)
}

/// Publishes the model in `dir/model` with the validation set in `dir/data` to the Kubo node
/// at `kubo_api` with `blyan-worker model publish-genesis` (owner: the zero address); returns
/// the genesis model JSON, also written to `dir/genesis-model.json`.
pub fn publish_genesis(
    dir: &std::path::Path,
    kubo_api: &str,
    model_id: &str,
) -> anyhow::Result<blyan_genesis::GenesisModel> {
    let path = |p: &str| dir.join(p).to_string_lossy().to_string();
    run_worker(&[
        "model",
        "publish-genesis",
        "--model",
        &path("model"),
        "--data",
        &path("data"),
        "--ipfs",
        kubo_api,
        "--owner",
        "0x0000000000000000000000000000000000000000",
        "--model-id",
        model_id,
        "--out",
        &path("genesis-model.json"),
    ])?;
    Ok(serde_json::from_str(&std::fs::read_to_string(path(
        "genesis-model.json",
    ))?)?)
}
