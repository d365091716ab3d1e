//! `blyan-worker miner`: the mining loop, and the key options shared by signing roles.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use blyan_proto::SecretKey;
use candle_core::Device;
use clap::Args;

use blyan_worker::attack::Attack;
use blyan_worker::chain::{RpcClient, TxSender};
use blyan_worker::compress::Pipeline;
use blyan_worker::ipfs::KuboClient;
use blyan_worker::miner::{DataSpec, Miner, MinerConfig};
use blyan_worker::train::TrainConfig;

/// Where a signing role's key comes from.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// Secret key as 64 hex digits (prefer the environment variable to the flag).
    #[arg(long, env = "BLYAN_WORKER_KEY", hide_env_values = true)]
    key_hex: Option<String>,
    /// An Ethereum keystore (v3 JSON), as `blyand keys add` writes.
    #[arg(long, conflicts_with = "key_hex", requires = "password_file")]
    keystore: Option<PathBuf>,
    /// File holding the keystore's password.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Loads the key.
    pub fn load(&self) -> Result<SecretKey> {
        if let Some(h) = &self.key_hex {
            return SecretKey::from_hex(h.trim()).context("--key-hex");
        }
        let (Some(ks), Some(pw)) = (&self.keystore, &self.password_file) else {
            bail!("give --key-hex (or BLYAN_WORKER_KEY), or --keystore with --password-file");
        };
        let password = std::fs::read_to_string(pw).with_context(|| pw.display().to_string())?;
        blyan_client::keystore::decrypt_file(ks, password.trim_end_matches(['\n', '\r']))
            .with_context(|| ks.display().to_string())
    }
}

/// Arguments of `miner`.
#[derive(Args, Debug)]
pub struct MinerArgs {
    /// CometBFT RPC of a node.
    #[arg(long, default_value = "http://127.0.0.1:26657", env = "BLYAN_NODE")]
    chain: String,
    /// Kubo RPC API the deltas and manifests are added to.
    #[arg(long, env = "BLYAN_IPFS_API")]
    ipfs: String,
    /// Model id on chain.
    #[arg(long)]
    model_id: String,
    /// Blocks to train: `layer0.expert1` (partial mining), `layer1`, `all`, or a comma list.
    #[arg(long, default_value = "layer0.expert0")]
    blocks: String,
    /// Optimizer steps per round.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Steps of linear learning-rate warmup at the start of the first round's run (of
    /// every round's run with `--fresh-optimizer`).
    #[arg(long, default_value_t = TrainConfig::default().warmup_steps)]
    warmup_steps: usize,
    /// Start every round from a fresh AdamW (zero moments, warmup) instead of continuing
    /// the state kept in `{home}/optimizer/`.
    #[arg(long)]
    fresh_optimizer: bool,
    /// Seed of batch order (and of attack noise).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training data: a text or JSONL file (default: the synthetic corpus).
    #[arg(long, conflicts_with = "text")]
    data: Option<PathBuf>,
    /// Train on a shard of the real-text corpus's training region (Debian's
    /// `bible-kjv-text` at /usr/lib/bible.data unless PATH is given): `--passages`
    /// passages chosen by `--corpus-seed`.
    #[arg(long, value_name = "PATH", num_args = 0..=1,
          default_missing_value = blyan_worker::data::KJV_PATH)]
    text: Option<PathBuf>,
    /// Passages of the real-text shard (with `--text`).
    #[arg(long, default_value_t = 2000)]
    passages: usize,
    /// Documents of the synthetic corpus to train on.
    #[arg(long, default_value_t = 2000)]
    synthetic: usize,
    /// Seed of the synthetic corpus, or of the real-text shard with `--text`.
    #[arg(long, default_value_t = 1)]
    corpus_seed: u64,
    /// Delta compression: `default`, `none`, or stages such as `lowrank:8,topk:0.05,int8`.
    #[arg(long, default_value = "default")]
    pipeline: String,
    /// Bond per submission: base units or `10bly`.
    #[arg(long, default_value = "10bly")]
    bond: String,
    /// Behave as an attacker: gaussian[:S], sign-flip, label-flip, scale:K.
    #[arg(long)]
    attack: Option<Attack>,
    /// State directory (last height, submissions, prepared update, error feedback, AdamW
    /// state, cache).
    #[arg(long)]
    home: PathBuf,
    /// Stop after this many submissions.
    #[arg(long)]
    submissions: Option<usize>,
    /// Time limit of one Kubo call, in seconds.
    #[arg(long, default_value_t = 60)]
    ipfs_timeout: u64,
    #[command(flatten)]
    key: KeyArgs,
}

/// Parses `10bly`, `1.5bly` or base units.
pub fn parse_amount(s: &str) -> Result<u128> {
    let s = s.trim();
    let Some(b) = s.strip_suffix("bly") else {
        return s.parse().with_context(|| format!("amount {s:?}"));
    };
    let (int, frac) = b.split_once('.').unwrap_or((b, ""));
    if frac.len() > 18 {
        bail!("amount {s:?} has more than 18 decimals");
    }
    let whole: u128 = int.parse().with_context(|| format!("amount {s:?}"))?;
    let frac_units: u128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<18}")
            .parse()
            .with_context(|| format!("amount {s:?}"))?
    };
    whole
        .checked_mul(blyan_proto::BLY)
        .and_then(|w| w.checked_add(frac_units))
        .with_context(|| format!("amount {s:?} overflows"))
}

/// Parses a pipeline spec (`default` for the built-in default).
pub fn parse_pipeline(s: &str) -> Result<Pipeline> {
    if s == "default" {
        return Ok(Pipeline::default());
    }
    s.parse().map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs `miner`.
pub fn run(a: MinerArgs, device: &Device) -> Result<()> {
    let key = a.key.load()?;
    let rpc = RpcClient::new(&a.chain);
    let sender = TxSender::new(rpc, key).with_context(|| format!("chain at {}", a.chain))?;
    let kubo = KuboClient::new(&a.ipfs)?.with_timeout(Duration::from_secs(a.ipfs_timeout));
    let cfg = MinerConfig {
        model_id: a.model_id,
        blocks: a.blocks,
        train: TrainConfig {
            steps: a.steps,
            batch_size: a.batch_size,
            lr: a.lr,
            warmup_steps: a.warmup_steps,
            seed: a.seed,
            ..TrainConfig::default()
        },
        data: match (a.data, a.text) {
            (Some(p), _) => DataSpec::File(p),
            (None, Some(path)) => DataSpec::Text {
                path,
                n: a.passages,
                seed: a.corpus_seed,
            },
            (None, None) => DataSpec::Synthetic {
                n: a.synthetic,
                seed: a.corpus_seed,
            },
        },
        pipeline: parse_pipeline(&a.pipeline)?,
        bond: parse_amount(&a.bond)?,
        attack: a.attack,
        home: a.home,
        keep_optimizer: !a.fresh_optimizer,
        max_submissions: a.submissions,
    };
    if let Some(at) = &cfg.attack {
        tracing::warn!(attack = %at, "running as an ATTACKER: submissions are poisoned on purpose");
    }
    Miner::new(cfg, sender, kubo, device.clone())?.run()
}

#[cfg(test)]
mod tests {
    use super::KeyArgs;

    /// The Web3 Secret Storage PBKDF2 test vector (password "testpassword"), with the
    /// `address` field geth and `blyand keys` add, read through `--keystore`.
    #[test]
    fn keys_load_from_an_ethereum_keystore_with_an_address_field() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../client/tests/fixtures/web3-test-vector-pbkdf2.json");
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
        json["address"] = "008aeeda4d805471df9b2a5b0f38a0c3bcba786b".into();
        let dir = tempfile::tempdir().unwrap();
        let (ks, pw) = (dir.path().join("key.json"), dir.path().join("pw"));
        std::fs::write(&ks, serde_json::to_vec(&json).unwrap()).unwrap();
        std::fs::write(&pw, "testpassword\n").unwrap();
        let args = |password_file| KeyArgs {
            key_hex: None,
            keystore: Some(ks.clone()),
            password_file: Some(password_file),
        };
        let key = args(pw.clone()).load().unwrap();
        let want = blyan_proto::SecretKey::from_hex(
            "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d",
        )
        .unwrap();
        assert_eq!(key.address(), want.address());
        std::fs::write(&pw, "not-the-password").unwrap();
        let err = args(pw).load().unwrap_err().to_string();
        assert!(err.contains("key.json"), "{err}");
    }

    #[test]
    fn amounts_parse() {
        assert_eq!(super::parse_amount("10bly").unwrap(), 10 * blyan_proto::BLY);
        assert_eq!(
            super::parse_amount("1.5bly").unwrap(),
            15 * blyan_proto::BLY / 10
        );
        assert_eq!(super::parse_amount("42").unwrap(), 42);
        assert!(super::parse_amount("1.0000000000000000001bly").is_err());
        assert!(super::parse_amount("x").is_err());
    }
}
