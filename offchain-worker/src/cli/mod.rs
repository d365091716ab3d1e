//! The subcommands of `blyan-worker`.

pub mod chat;
pub mod chat_free;
pub mod compress;
pub mod data;
pub mod evolve;
pub mod ipfs;
pub mod miner;
pub mod model;
pub mod pol;
pub mod pretrain;
pub mod redeem;
pub mod run;
pub mod serve;
pub mod train;
pub mod validator;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};

/// Parses `cpu` or `cuda:N`.
pub fn device(spec: &str) -> Result<Device> {
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let Some(n) = spec.strip_prefix("cuda:") else {
        bail!("unknown device {spec:?}: use cpu or cuda:N");
    };
    let n: usize = n
        .parse()
        .with_context(|| format!("bad CUDA ordinal in {spec:?}"))?;
    Device::new_cuda(n)
        .with_context(|| format!("{spec} (is this build compiled with --features cuda?)"))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}
