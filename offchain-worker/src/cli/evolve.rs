//! `blyan-worker model evolve`: writes a `ModelEvolution` proposal file for
//! `blyand tx gov submit-proposal` (the new blocks derived from the chain's heads and
//! added to Kubo), or, with `--check ID`, re-derives proposal ID's blocks and compares
//! them with what it records (what a voter runs before voting).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blyan_proto::gov::{ModelChange, ProposalContent, ProposalInfo};
use blyan_proto::query::QueryPath;
use blyan_worker::chain::{ChainSource, RpcClient};
use blyan_worker::evolve::{check_blocks, derive};
use blyan_worker::ipfs::KuboClient;
use candle_core::Device;
use clap::Args;
use serde_json::json;

/// Arguments of `model evolve`.
#[derive(Args)]
pub struct EvolveArgs {
    /// CometBFT RPC of a node.
    #[arg(long, default_value = "http://127.0.0.1:26657")]
    chain: String,
    /// Model id on chain.
    #[arg(long)]
    model_id: String,
    /// Kubo RPC API.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: String,
    /// Experts added per layer.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// The expert (of each layer) the new ones start from.
    #[arg(long, default_value_t = 0)]
    source_expert: u32,
    /// Append this many layers (each starting as the identity) instead of adding
    /// experts.
    #[arg(long, conflicts_with_all = ["count", "source_expert"])]
    add_layers: Option<u32>,
    /// Working directory (block cache and the derived TensorBlocks).
    #[arg(long)]
    work: PathBuf,
    /// Where to write the proposal file (not with `--check`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Check proposal ID instead of writing one.
    #[arg(long)]
    check: Option<u64>,
    /// The proposal's title.
    #[arg(long, default_value = "Add experts")]
    title: String,
    /// The proposal's deposit (`10bly` or base units).
    #[arg(long, default_value = "10bly")]
    deposit: String,
    /// The effective height: a height or `+N` (N blocks after the voting period).
    #[arg(long, default_value = "+2")]
    effective_height: String,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Runs `model evolve`.
pub fn run(a: EvolveArgs, device: &Device) -> Result<()> {
    let kubo = KuboClient::new(&a.ipfs)?.with_timeout(Duration::from_secs(a.timeout));
    let source = ChainSource::open(&a.chain, &a.model_id, kubo.clone(), a.work.join("cache"))?;
    if let Some(id) = a.check {
        let p: ProposalInfo = RpcClient::new(&a.chain).query(&QueryPath::Proposal(id))?;
        let ProposalContent::ModelEvolution {
            model,
            change,
            base_meta,
            blocks,
            ..
        } = p.content
        else {
            bail!("proposal {id} is not a model evolution");
        };
        if model != a.model_id {
            bail!("proposal {id} evolves {model:?}, not {:?}", a.model_id);
        }
        if base_meta != source.info().meta_block {
            bail!(
                "proposal {id} applies to meta block {}, the model's is {}: it can no longer execute",
                hex::encode(base_meta),
                hex::encode(source.info().meta_block)
            );
        }
        let (_, _, derived) = derive(
            &source,
            &change,
            &a.work.join(format!("check-{id}")),
            device,
        )?;
        check_blocks(&derived, &blocks).with_context(|| format!("proposal {id}"))?;
        println!(
            "proposal {id}: all {} blocks match the recipe",
            derived.len()
        );
        return Ok(());
    }
    let Some(out) = a.out else {
        bail!("--out FILE (or --check ID)");
    };
    let (change, what) = match a.add_layers {
        Some(count) => (
            ModelChange::AddLayers { count },
            format!(
                "Append {count} layer(s) to {} (identity at first)",
                a.model_id
            ),
        ),
        None => (
            ModelChange::AddExperts {
                count: a.count,
                source_expert: a.source_expert,
            },
            format!(
                "Add {} expert(s) per layer to {} (from expert {})",
                a.count, a.model_id, a.source_expert
            ),
        ),
    };
    let (cfg, base_meta, derived) = derive(&source, &change, &a.work.join("evolved"), device)?;
    let mut blocks = Vec::with_capacity(derived.len());
    for d in derived {
        let cid = kubo
            .add_file(&d.file)
            .with_context(|| format!("adding {} to Kubo", d.file.display()))?;
        blocks.push(blyan_proto::gov::EvolvedBlock {
            cid: cid.to_string(),
            ..d.block
        });
    }
    // `"+N"` stays a string for the CLI to resolve (Rust's `u64` parser takes a `+` sign).
    let effective: serde_json::Value = match a.effective_height.parse::<u64>() {
        Ok(h) if !a.effective_height.starts_with('+') => json!(h),
        _ => json!(a.effective_height),
    };
    let file = json!({
        "title": a.title,
        "description": format!(
            "{what}: {} layers of {} experts",
            cfg.n_layers, cfg.n_experts
        ),
        "deposit": a.deposit,
        "content": {
            "type": "model_evolution",
            "model": a.model_id,
            "change": change,
            "base_meta": hex::encode(base_meta),
            "blocks": blocks,
            "effective_height": effective,
        }
    });
    std::fs::write(&out, serde_json::to_string_pretty(&file)? + "\n")
        .with_context(|| out.display().to_string())?;
    println!(
        "{}: {} blocks; {} layers of {} experts",
        out.display(),
        blocks.len(),
        cfg.n_layers,
        cfg.n_experts
    );
    Ok(())
}
