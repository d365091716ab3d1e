//! `blyan-worker validator`: judge Proof-of-Learning rounds with a validator's operator key.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Args;

use blyan_worker::chain::{RpcClient, TxSender};
use blyan_worker::defense::DefenseParams;
use blyan_worker::ipfs::KuboClient;
use blyan_worker::validator::acceptance::HiddenCorpus;
use blyan_worker::validator::{Validator, ValidatorConfig};

use super::miner::KeyArgs;

/// Arguments of `validator`.
#[derive(Args, Debug)]
pub struct ValidatorArgs {
    /// CometBFT RPC of a node.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    chain: String,
    /// Kubo RPC API: submissions are fetched through it, new blocks are added to it.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: String,
    /// Model id on chain.
    #[arg(long)]
    model_id: String,
    /// State directory (attested phases, block and validation caches).
    #[arg(long)]
    home: PathBuf,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    ipfs_timeout: u64,
    /// Screening: absolute bound on an update's L2 norm.
    #[arg(long)]
    defense_max_l2_norm: Option<f64>,
    /// Screening: bound on a block's ‖delta‖ / ‖weights‖.
    #[arg(long)]
    defense_max_l2_distance: Option<f64>,
    /// Screening: smallest cosine to the round's other updates.
    #[arg(long)]
    defense_min_cosine: Option<f64>,
    /// Screening: Krum score bound, in units of the round's median squared norm.
    #[arg(long)]
    defense_krum_max_ratio: Option<f64>,
    /// Screening: the round-relative norm bound's k (median + k · spread).
    #[arg(long)]
    defense_norm_mad_k: Option<f64>,
    /// TEST AID ONLY: attest a deliberately perturbed aggregate (a different aggregate
    /// hash), to check that a dissenting validator is outvoted. Never use it for real.
    #[arg(long)]
    fake_aggregate: bool,
    /// Judge each round also on a hidden sample of the real-text corpus's hidden region
    /// (Debian's `bible-kjv-text` at /usr/lib/bible.data unless PATH is given; the corpus
    /// the model's validation set was cut from), seeded by the hash of the round's last
    /// submission block, so miners cannot train on the acceptance set. Attested losses then
    /// move the recorded loss by the improvement measured on that set.
    #[arg(long, value_name = "PATH", num_args = 0..=1,
          default_missing_value = blyan_worker::data::KJV_PATH)]
    hidden_corpus: Option<PathBuf>,
    /// Hidden passages added to each round's acceptance set (with `--hidden-corpus`).
    #[arg(long, default_value_t = blyan_worker::data::DEFAULT_HIDDEN_SAMPLE)]
    hidden_passages: usize,
    #[command(flatten)]
    key: KeyArgs,
}

/// Runs `validator`.
pub fn run(a: ValidatorArgs, device: &Device) -> Result<()> {
    if let Some(p) = &a.hidden_corpus {
        anyhow::ensure!(
            p.exists(),
            "{}: the hidden corpus is missing (install Debian's `{pkg}`: apt-get install {pkg}, \
             or give the path of the corpus file)",
            p.display(),
            pkg = blyan_worker::data::KJV_PACKAGE
        );
        tracing::info!(path = %p.display(), passages = a.hidden_passages,
            "hidden validation sample on");
    }
    let key = a.key.load()?;
    let rpc = RpcClient::new(&a.chain);
    let sender = TxSender::new(rpc, key).with_context(|| format!("chain at {}", a.chain))?;
    let kubo = KuboClient::new(&a.ipfs)?.with_timeout(Duration::from_secs(a.ipfs_timeout));
    let mut defense = DefenseParams::default();
    let set = |slot: &mut f64, v: Option<f64>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut defense.max_l2_norm, a.defense_max_l2_norm);
    set(&mut defense.max_l2_distance, a.defense_max_l2_distance);
    set(&mut defense.min_cosine, a.defense_min_cosine);
    set(&mut defense.krum_max_ratio, a.defense_krum_max_ratio);
    set(&mut defense.norm_mad_k, a.defense_norm_mad_k);
    if a.fake_aggregate {
        tracing::warn!("--fake-aggregate: attesting a PERTURBED aggregate on purpose (test aid)");
    }
    let cfg = ValidatorConfig {
        model_id: a.model_id,
        home: a.home,
        defense,
        fake_aggregate: a.fake_aggregate,
        hidden: a
            .hidden_corpus
            .map(|p| HiddenCorpus::new(p, a.hidden_passages)),
    };
    Validator::new(cfg, sender, kubo, device.clone())?.run()
}
