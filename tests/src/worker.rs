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
    if needs_build_from(&bin, &root, &["offchain-worker", "proto", "genesis"]) {
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
